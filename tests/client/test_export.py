"""The one serializer: exact JSON forms of messages, contacts, every event type and the thread export file."""

from __future__ import annotations

import ast
import json
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from confide.client import (
    AttachmentInfo,
    Connected,
    Contact,
    DeviceListRefused,
    DevicesChanged,
    Direction,
    Event,
    FiledCopyKept,
    IdentityChanged,
    Message,
    MessageDeleted,
    MessageFiled,
    MessageKind,
    MessageReceived,
    MessageStatus,
    MessageSynced,
    MessageUndecryptable,
    PrekeysLow,
    ProfileWiped,
    ReceiptReceived,
    RelayOffline,
    SessionReset,
    ThisDeviceRemoved,
    TimerChanged,
    Trust,
)
from confide.client.export import (
    availability_to_json,
    contact_to_json,
    event_to_json,
    message_to_json,
    profile_to_json,
    review_to_json,
    thread_document,
)
from confide.client.practice_views import AvailabilityInfo, AwayInfo, ReportedMessage, ReportReview

EXPORT_PY = Path(__file__).resolve().parents[2] / "client" / "export.py"

TEXT = Message(
    "ab" * 16,
    "Dr R",
    Direction.OUT,
    MessageKind.TEXT,
    "hello\nthere",
    1_000,
    1_001,
    MessageStatus.FAILED,
    3600,
    3_601_000,
    None,
    False,
    "410 gone: token rotated",
)
FILE = Message(
    "cd" * 16,
    "Dr R",
    Direction.IN,
    MessageKind.ATTACHMENT,
    "my notes",
    2_000,
    2_002,
    MessageStatus.UNREAD,
    0,
    None,
    AttachmentInfo("notes.txt", "text/plain", 1500, True, "my notes"),
    True,
)
CONTACT = Contact("Dr R", "cfa1" + "q" * 52, Trust.CHANGED, 600, "ab12 cd34", False)

TEXT_JSON = {
    "id": "ab" * 16,
    "peer": "Dr R",
    "direction": "out",
    "kind": "text",
    "text": "hello\nthere",
    "sent_at_ms": 1_000,
    "received_at_ms": 1_001,
    "status": "failed",
    "failure": "410 gone: token rotated",
    "expire_after_s": 3600,
    "expires_at_ms": 3_601_000,
    "unverified_identity": False,
    "attachment": None,
    "filed_by_peer": False,
    "filed_here": False,
    "reportable": False,
}
FILE_JSON = {
    "id": "cd" * 16,
    "peer": "Dr R",
    "direction": "in",
    "kind": "attachment",
    "text": "my notes",
    "sent_at_ms": 2_000,
    "received_at_ms": 2_002,
    "status": "unread",
    "failure": "",
    "expire_after_s": 0,
    "expires_at_ms": None,
    "unverified_identity": True,
    "attachment": {"name": "notes.txt", "mime": "text/plain", "size": 1500, "downloaded": True, "caption": "my notes"},
    "filed_by_peer": False,
    "filed_here": False,
    "reportable": False,
}
CONTACT_JSON = {
    "name": "Dr R",
    "address": "cfa1" + "q" * 52,
    "trust": "identity-changed",
    "timer_s": 600,
    "fingerprint": "ab12 cd34",
    "can_send": False,
    "request": False,
    "blocked": False,
    "provider": None,
}

EVENTS: list[tuple[Any, dict[str, Any]]] = [
    (MessageReceived("Dr R", FILE), {"type": "message_received", "peer": "Dr R", "message": FILE_JSON}),
    (
        ReceiptReceived("Dr R", MessageStatus.DELIVERED, ("ab" * 16, "cd" * 16)),
        {"type": "receipt_received", "peer": "Dr R", "kind": "delivered", "message_ids": ["ab" * 16, "cd" * 16]},
    ),
    (TimerChanged("Dr R", 600, True), {"type": "timer_changed", "peer": "Dr R", "seconds": 600, "by_peer": True}),
    (
        MessageDeleted("Dr R", "ab" * 16, "expired"),
        {"type": "message_deleted", "peer": "Dr R", "message_id": "ab" * 16, "reason": "expired"},
    ),
    (
        MessageFiled("Dr R", "ab" * 16),
        {"type": "message_filed", "peer": "Dr R", "message_id": "ab" * 16},
    ),
    (
        FiledCopyKept("Dr R", "ab" * 16),
        {"type": "filed_copy_kept", "peer": "Dr R", "message_id": "ab" * 16},
    ),
    (
        IdentityChanged("Dr R", "old fp", "new fp"),
        {"type": "identity_changed", "peer": "Dr R", "old_fingerprint": "old fp", "new_fingerprint": "new fp"},
    ),
    (MessageUndecryptable("Dr R"), {"type": "message_undecryptable", "peer": "Dr R", "reason": ""}),
    (MessageSynced("Dr R", FILE), {"type": "message_synced", "peer": "Dr R", "message": FILE_JSON}),
    (
        SessionReset("Dr R", True, 2, ("ab" * 16,)),
        {"type": "session_reset", "peer": "Dr R", "by_peer": True, "failed": 2, "resent": ["ab" * 16]},
    ),
    (PrekeysLow(3, 4, 100), {"type": "prekeys_low", "one_time_left": 3, "kem_one_time_left": 4, "uploaded": 100}),
    (
        RelayOffline("connection refused", 2.5),
        {"type": "relay_offline", "reason": "connection refused", "retry_in_s": 2.5},
    ),
    (Connected(7), {"type": "connected", "backlog": 7}),
    (ProfileWiped(), {"type": "profile_wiped"}),
    (
        DevicesChanged("Dr R", 1, 0, True),
        {"type": "devices_changed", "contact": "Dr R", "added": 1, "removed": 0, "restored": True},
    ),
    (
        DeviceListRefused("Dr R", "an older list"),
        {"type": "device_list_refused", "contact": "Dr R", "reason": "an older list"},
    ),
    (ThisDeviceRemoved(), {"type": "this_device_removed"}),
]


def _plain(value: Any) -> None:
    """Only plain JSON types, exactly (no StrEnum, no tuple): what ``json.loads`` would give back."""
    if isinstance(value, dict):
        assert all(type(k) is str for k in value)
        for v in value.values():
            _plain(v)
    elif isinstance(value, list):
        for v in value:
            _plain(v)
    else:
        assert value is None or type(value) in (str, int, float, bool), (value, type(value))


def test_message_forms() -> None:
    assert message_to_json(TEXT) == TEXT_JSON
    assert message_to_json(FILE) == FILE_JSON
    _plain(message_to_json(TEXT))
    _plain(message_to_json(FILE))
    assert json.loads(json.dumps(message_to_json(FILE))) == FILE_JSON


def test_message_form_keeps_every_key_of_both_old_forms() -> None:
    old_cli = {
        "id",
        "peer",
        "direction",
        "kind",
        "text",
        "sent_at_ms",
        "received_at_ms",
        "status",
        "expire_after_s",
        "expires_at_ms",
        "unverified_identity",
        "attachment",
    }
    old_export = {"id", "direction", "kind", "text", "sent_at_ms", "received_at_ms", "status", "attachment"}
    assert set(message_to_json(TEXT)) == old_cli | old_export | {"failure", "filed_by_peer", "filed_here", "reportable"}
    assert set(message_to_json(FILE)["attachment"]) == {"name", "mime", "size", "downloaded", "caption"}


def test_contact_form() -> None:
    assert contact_to_json(CONTACT) == CONTACT_JSON
    _plain(contact_to_json(CONTACT))


@pytest.mark.parametrize(("event", "expected"), EVENTS, ids=[type(e).__name__ for e, _ in EVENTS])
def test_event_forms(event: Event, expected: dict[str, Any]) -> None:
    assert event_to_json(event) == expected
    _plain(event_to_json(event))


def test_every_event_type_is_covered_with_a_distinct_type_name() -> None:
    assert {type(e) for e, _ in EVENTS} == set(typing.get_args(Event))
    assert len({j["type"] for _, j in EVENTS}) == len(EVENTS)


def test_thread_document() -> None:
    doc = thread_document("cfa1me", CONTACT, [TEXT, FILE], 123_456)
    assert doc == {
        "format": "confide-thread-export-v1",
        "exported_at_ms": 123_456,
        "me": "cfa1me",
        "peer": {"name": "Dr R", "address": "cfa1" + "q" * 52, "trust": "identity-changed"},
        "messages": [TEXT_JSON, FILE_JSON],
    }
    _plain(doc)
    assert thread_document("cfa1me", CONTACT, [], 1)["messages"] == []


def test_profile_form() -> None:
    assert profile_to_json(
        name="Sam",
        role="client",
        address="cfa1x",
        invite="cfi1:y",
        fingerprint="ab12",
        server="http://relay",
        profile="/home/sam/.confide",
    ) == {
        "name": "Sam",
        "role": "client",
        "address": "cfa1x",
        "invite": "cfi1:y",
        "fingerprint": "ab12",
        "server": "http://relay",
        "profile": "/home/sam/.confide",
    }


def test_export_depends_on_models_and_events_only() -> None:
    """So that the client itself can use it (``Client.export_thread``) without an import cycle."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(EXPORT_PY.read_text())):
        if isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert {m for m in imported if m.split(".")[0] not in sys.stdlib_module_names} == {
        ".models",
        ".events",
        ".practice_views",  # frozen values over .models only
    }


def _review(message: ReportedMessage | None, *, franking_holds: bool = True) -> ReportReview:
    return ReportReview(True, True, True, franking_holds, "cf1-s", "cf1-r", None, "Dr R", message)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (ReportedMessage("text", text="leave now"), {"type": "text", "text": "leave now"}),
        (
            ReportedMessage("file", name="a.pdf", mime="application/pdf", size=7, caption="see"),
            {"type": "file", "name": "a.pdf", "mime": "application/pdf", "size": 7, "caption": "see"},
        ),
        (ReportedMessage("other"), {"type": "other"}),
        (None, None),
    ],
)
def test_review_form(message: ReportedMessage | None, expected: dict[str, Any] | None) -> None:
    """``confide practice review --json``: the verdict, each check by name, both addresses, the message; the
    practice's credential names are for the terminal only (the form is the one it always was)."""
    assert review_to_json(_review(message, franking_holds=False)) == {
        "authentic": False,
        "checks": {"judge_matches": True, "sender_bound": True, "recipient_bound": True, "franking_holds": False},
        "sender": "cf1-s",
        "recipient": "cf1-r",
        "message": expected,
    }


def test_availability_form() -> None:
    card = AvailabilityInfo(3, 10, 20, "Europe/Berlin", ("mon 09:00-17:00",), 3600, "one hour", AwayInfo(11, 12, "n"))
    assert availability_to_json(card) == {
        "version": 3,
        "issued_at": 10,
        "expires_at": 20,
        "time_zone": "Europe/Berlin",
        "hours": ["mon 09:00-17:00"],
        "reply_within_s": 3600,
        "reply_within": "one hour",
        "away": {"from": 11, "until": 12, "note": "n"},
    }
    assert availability_to_json(AvailabilityInfo(1, 2, 3, "UTC", (), 60, "one minute"))["away"] is None


def test_practice_views_show_no_peer_text_in_repr() -> None:
    """A review holds what the sender wrote and the practice's names; an away period the therapist's note."""
    secret = "SECRET-\u00e9"
    review = ReportReview(
        True, True, True, True, "cf1-s", "cf1-r", secret, secret, ReportedMessage("text", text=secret)
    )
    file = ReportedMessage("file", name=secret, mime=secret, size=1, caption=secret)
    for value in (review, file, AwayInfo(1, 2, secret)):
        assert secret not in repr(value)
