"""The one JSON form of what the library hands out: messages, contacts, events and the thread export file.

Every JSON the product emits goes through here (``confide ... --json``, the file ``confide export`` writes, the
web app), so a message looks the same wherever it appears. Values are plain JSON types: ``StrEnum`` members
become their strings, tuples become lists. This module depends on :mod:`.models`, :mod:`.events` and
:mod:`.practice_views` only, so the client itself can use it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, assert_never

from .events import (
    Connected,
    DeviceListRefused,
    DevicesChanged,
    Event,
    FiledCopyKept,
    IdentityChanged,
    MessageDeleted,
    MessageFiled,
    MessageReceived,
    MessageSynced,
    MessageUndecryptable,
    PrekeysLow,
    ProfileWiped,
    ReceiptReceived,
    RelayOffline,
    SessionReset,
    ThisDeviceRemoved,
    TimerChanged,
)
from .models import AttachmentInfo, Contact, DeviceInfo, Message, ProviderInfo, RecordEntry, ThreadSummary
from .practice_views import (
    AvailabilityInfo,
    CredentialInfo,
    Listing,
    PracticeInfo,
    PracticeSummary,
    PracticeWarning,
    ReportedMessage,
    ReportReview,
)

THREAD_EXPORT_FORMAT = "confide-thread-export-v1"
"""The ``"format"`` of the file :func:`thread_document` describes; a reader checks it before anything else."""
RECORDS_EXPORT_FORMAT = "confide-records-export-v1"
"""The ``"format"`` of the file :func:`records_document` describes (a contact's record, for a records system)."""


def attachment_to_json(a: AttachmentInfo) -> dict[str, Any]:
    """An attachment's name, type, size, caption and whether its file is held on this device."""
    return {"name": a.name, "mime": a.mime, "size": a.size, "downloaded": a.downloaded, "caption": a.caption}


def message_to_json(m: Message) -> dict[str, Any]:
    """One thread entry; ``attachment`` is ``None`` or :func:`attachment_to_json`'s form; ``failure`` is the
    relay's reason when ``status`` is ``"failed"`` (else empty); ``filed_by_peer`` / ``filed_here``: the peer
    filed it into their record / you filed it into yours; ``reportable``: it can be reported (:meth:`Client.report`)."""
    return {
        "id": m.message_id,
        "peer": m.peer,
        "direction": str(m.direction),
        "kind": str(m.kind),
        "text": m.text,
        "sent_at_ms": m.sent_at_ms,
        "received_at_ms": m.received_at_ms,
        "status": str(m.status),
        "failure": m.failure,
        "expire_after_s": m.expire_after_s,
        "expires_at_ms": m.expires_at_ms,
        "unverified_identity": m.unverified_identity,
        "attachment": None if m.attachment is None else attachment_to_json(m.attachment),
        "filed_by_peer": m.filed_by_peer,
        "filed_here": m.filed_here,
        "reportable": m.reportable,
    }


def record_to_json(r: RecordEntry) -> dict[str, Any]:
    """One filed copy of a contact's record (:class:`RecordEntry`); ``attachment`` as in :func:`message_to_json`."""
    return {
        "id": r.message_id,
        "peer": r.peer,
        "address": r.address,
        "direction": str(r.direction),
        "kind": str(r.kind),
        "text": r.text,
        "sent_at_ms": r.sent_at_ms,
        "filed_at_ms": r.filed_at_ms,
        "kept_after_delete": r.kept_after_delete,
        "attachment": None if r.attachment is None else attachment_to_json(r.attachment),
    }


def records_document(
    me: str, peer: str, address: str, records: Sequence[RecordEntry], exported_at_ms: int
) -> dict[str, Any]:
    """The records export file (``"format": "confide-records-export-v1"``): who exported it (``me``, an address)
    and when, the contact's name and address, and every filed copy in :func:`record_to_json`'s form, in the
    order they were filed. Attachments are described, not included (``confide records save`` writes one)."""
    return {
        "format": RECORDS_EXPORT_FORMAT,
        "exported_at_ms": exported_at_ms,
        "me": me,
        "peer": {"name": peer, "address": address},
        "records": [record_to_json(r) for r in records],
    }


def provider_to_json(p: ProviderInfo | None) -> dict[str, Any] | None:
    """What trusted practices say of a contact (:class:`ProviderInfo`): ``status`` (a
    :class:`~confide.client.models.ProviderStatus` string), the signing practice's name and address, the
    credential's words (name, licence, body, jurisdiction) and validity (unix seconds); None: nothing to say."""
    if p is None:
        return None
    return {
        "status": str(p.status),
        "verified": p.verified,
        "practice_name": p.practice_name,
        "practice_address": p.practice_address,
        "display_name": p.display_name,
        "licence_number": p.licence_number,
        "licensing_body": p.licensing_body,
        "jurisdiction": p.jurisdiction,
        "not_before": p.not_before,
        "not_after": p.not_after,
    }


def contact_to_json(c: Contact) -> dict[str, Any]:
    """A contact: local name, address, trust state, thread timer, fingerprint, whether sending is allowed,
    whether it is a request (someone who wrote first, not yet accepted), whether it is blocked, and
    ``provider`` (:func:`provider_to_json`)."""
    return {
        "name": c.name,
        "address": c.address,
        "trust": str(c.trust),
        "timer_s": c.timer_s,
        "fingerprint": c.fingerprint,
        "can_send": c.can_send,
        "request": c.request,
        "blocked": c.blocked,
        "provider": provider_to_json(c.provider),
    }


def thread_summary_to_json(t: ThreadSummary) -> dict[str, Any]:
    """One inbox line (:class:`ThreadSummary`): ``contact`` in :func:`contact_to_json`'s form, ``last_activity_ms``,
    ``last_message`` in :func:`message_to_json`'s form (or None), ``unread`` and ``waiting_since_ms``."""
    return {
        "contact": contact_to_json(t.contact),
        "last_activity_ms": t.last_activity_ms,
        "last_message": None if t.last_message is None else message_to_json(t.last_message),
        "unread": t.unread,
        "waiting_since_ms": t.waiting_since_ms,
    }


def practice_warning_to_json(w: PracticeWarning) -> dict[str, Any]:
    """A warning about a trusted practice's documents: its ``kind`` (a
    :class:`~confide.client.practices.WarningKind` string), the practice and a plain sentence."""
    return {
        "kind": str(w.kind),
        "practice_name": w.practice_name,
        "practice_address": w.practice_address,
        "text": w.text,
    }


def practice_to_json(p: PracticeInfo) -> dict[str, Any]:
    """A trusted practice (``confide practices list --json``): name (its own words), address, each document's
    version and expiry (unix seconds; 0 when none was seen), how many therapists it lists, and its warnings."""
    return {
        "name": p.name,
        "address": p.address,
        "policy": {"version": p.policy_version, "expires_at": p.policy_expires_at},
        "directory": {"version": p.directory_version, "expires_at": p.directory_expires_at},
        "revocations": {"version": p.revocations_version, "expires_at": p.revocations_expires_at},
        "listed": p.listed,
        "warnings": [practice_warning_to_json(w) for w in p.warnings],
    }


def listing_to_json(entry: Listing) -> dict[str, Any]:
    """A therapist of a practice's directory (``confide directory PRACTICE --json``): number, credential id,
    address, the credential's words, validity end, ``status`` (a :class:`ProviderStatus` string), whether the
    directory gives a way to write to them, and the availability line (None without a current card)."""
    return {
        "number": entry.number,
        "credential_id": entry.credential_id,
        "address": entry.address,
        "display_name": entry.display_name,
        "licence_number": entry.licence_number,
        "licensing_body": entry.licensing_body,
        "jurisdiction": entry.jurisdiction,
        "not_after": entry.not_after,
        "status": str(entry.status),
        "can_write": entry.can_write,
        "availability": entry.availability,
    }


def event_to_json(e: Event) -> dict[str, Any]:
    """Any event, as ``{"type": ..., <its fields>}``; a received message is nested in :func:`message_to_json`'s
    form. The ``type`` names are stable: ``message_received``, ``message_synced``, ``receipt_received``,
    ``timer_changed``, ``message_deleted``, ``message_filed``, ``filed_copy_kept``, ``identity_changed``,
    ``message_undecryptable``, ``session_reset``, ``prekeys_low``,
    ``relay_offline``, ``connected``, ``profile_wiped``, ``devices_changed``, ``device_list_refused``,
    ``this_device_removed``."""
    match e:
        case MessageReceived():
            return {"type": "message_received", "peer": e.peer, "message": message_to_json(e.message)}
        case ReceiptReceived():
            return {"type": "receipt_received", "peer": e.peer, "kind": str(e.kind), "message_ids": list(e.message_ids)}
        case TimerChanged():
            return {"type": "timer_changed", "peer": e.peer, "seconds": e.seconds, "by_peer": e.by_peer}
        case MessageDeleted():
            return {"type": "message_deleted", "peer": e.peer, "message_id": e.message_id, "reason": e.reason}
        case MessageFiled():
            return {"type": "message_filed", "peer": e.peer, "message_id": e.message_id}
        case FiledCopyKept():
            return {"type": "filed_copy_kept", "peer": e.peer, "message_id": e.message_id}
        case IdentityChanged():
            return {
                "type": "identity_changed",
                "peer": e.peer,
                "old_fingerprint": e.old_fingerprint,
                "new_fingerprint": e.new_fingerprint,
            }
        case MessageUndecryptable():
            return {"type": "message_undecryptable", "peer": e.peer, "reason": e.reason}
        case MessageSynced():
            return {"type": "message_synced", "peer": e.peer, "message": message_to_json(e.message)}
        case SessionReset():
            return {
                "type": "session_reset",
                "peer": e.peer,
                "by_peer": e.by_peer,
                "failed": e.failed,
                "resent": list(e.resent),
            }
        case PrekeysLow():
            return {
                "type": "prekeys_low",
                "one_time_left": e.one_time_left,
                "kem_one_time_left": e.kem_one_time_left,
                "uploaded": e.uploaded,
            }
        case RelayOffline():
            return {"type": "relay_offline", "reason": e.reason, "retry_in_s": e.retry_in_s}
        case Connected():
            return {"type": "connected", "backlog": e.backlog}
        case ProfileWiped():
            return {"type": "profile_wiped"}
        case DevicesChanged():
            return {
                "type": "devices_changed",
                "contact": e.contact,
                "added": e.added,
                "removed": e.removed,
                "restored": e.restored,
            }
        case DeviceListRefused():
            return {"type": "device_list_refused", "contact": e.contact, "reason": e.reason}
        case ThisDeviceRemoved():
            return {"type": "this_device_removed"}
        case _:
            assert_never(e)


def thread_document(me: str, contact: Contact, messages: Sequence[Message], exported_at_ms: int) -> dict[str, Any]:
    """The thread export file (``"format": "confide-thread-export-v1"``): who exported it (``me``, an address)
    and when, the peer's name, address and trust, and every message in :func:`message_to_json`'s form."""
    return {
        "format": THREAD_EXPORT_FORMAT,
        "exported_at_ms": exported_at_ms,
        "me": me,
        "peer": {"name": contact.name, "address": contact.address, "trust": str(contact.trust)},
        "messages": [message_to_json(m) for m in messages],
    }


def profile_to_json(
    *, name: str, role: str, address: str, invite: str, fingerprint: str, server: str, profile: str
) -> dict[str, Any]:
    """This profile as ``confide whoami --json`` shows it: own name and role, address, invite code, identity
    fingerprint, relay URL and profile directory (the keys are in this order)."""
    return {
        "name": name,
        "role": str(role),
        "address": address,
        "invite": invite,
        "fingerprint": fingerprint,
        "server": server,
        "profile": profile,
    }


def credential_to_json(c: CredentialInfo) -> dict[str, Any]:
    """A credential (``confide credential show --json``): the signing practice's address, the practice's words
    (name, licence, body, jurisdiction), validity (unix seconds), the document's expiry and the ``status``
    (a :class:`~confide.protocol.documents.CredentialStatus` string)."""
    return {
        "practice_address": c.practice_address,
        "display_name": c.display_name,
        "licence_number": c.licence_number,
        "licensing_body": c.licensing_body,
        "jurisdiction": c.jurisdiction,
        "not_before": c.not_before,
        "not_after": c.not_after,
        "expires_at": c.expires_at,
        "status": str(c.status),
    }


def availability_to_json(card: AvailabilityInfo) -> dict[str, Any]:
    """An availability card (``confide availability show --json``): version, issue and expiry times (unix
    seconds), the IANA ``time_zone``, ``hours`` as typed (``"mon 09:00-17:00"``, in that zone), the reply time in
    seconds and in words, and ``away`` (``{"from", "until", "note"}``, unix seconds, or None)."""
    away = None
    if card.away is not None:
        away = {"from": card.away.starts_at, "until": card.away.ends_at, "note": card.away.note}
    return {
        "version": card.version,
        "issued_at": card.issued_at,
        "expires_at": card.expires_at,
        "time_zone": card.time_zone,
        "hours": list(card.hours),
        "reply_within_s": card.reply_within_s,
        "reply_within": card.reply_within,
        "away": away,
    }


def summary_to_json(summary: PracticeSummary) -> dict[str, Any]:
    """The JSON of ``confide practice show --json`` (no token, no secret): address, moderation key fingerprint,
    policy (None until set), live credentials and the last publication of each kind."""
    policy = summary.policy
    return {
        "address": summary.address,
        "moderation_key": summary.moderation_key.fingerprint(),
        "policy": None
        if policy is None
        else {
            "name": policy.practice_name,
            "crisis_notice": policy.crisis_notice,
            "crisis_contacts": [{"label": c.label, "number": c.number} for c in policy.crisis_contacts],
        },
        "credentials": [
            {
                "id": c.id_text,
                "therapist": c.therapist,
                "name": c.display_name,
                "licence_number": c.licence_number,
                "licensing_body": c.licensing_body,
                "jurisdiction": c.jurisdiction,
                "not_before": c.not_before,
                "not_after": c.not_after,
                "listed": c.listed,
                "revoked_at": c.revoked_at,
            }
            for c in summary.credentials
        ],
        "published": {p.kind_text: {"version": p.version, "expires_at": p.expires_at} for p in summary.published},
    }


def reported_message_to_json(m: ReportedMessage | None) -> dict[str, Any] | None:
    """A reported message: ``{"type": "text", "text"}``, ``{"type": "file", "name", "mime", "size",
    "caption"}``, ``{"type": "other"}``, or None (not a readable message)."""
    if m is None:
        return None
    if m.kind == "text":
        return {"type": "text", "text": m.text}
    if m.kind == "file":
        return {"type": "file", "name": m.name, "mime": m.mime, "size": m.size, "caption": m.caption}
    return {"type": "other"}


def review_to_json(r: ReportReview) -> dict[str, Any]:
    """The verdict on a report file (``confide practice review --json``): ``authentic``, each check's outcome
    by name, the sender's and recipient's addresses and the message (:func:`reported_message_to_json`)."""
    return {
        "authentic": r.authentic,
        "checks": {c.name: c.holds for c in r.checks},
        "sender": r.sender_address,
        "recipient": r.recipient_address,
        "message": reported_message_to_json(r.message),
    }


__all__ = [
    "RECORDS_EXPORT_FORMAT",
    "THREAD_EXPORT_FORMAT",
    "attachment_to_json",
    "availability_to_json",
    "contact_to_json",
    "credential_to_json",
    "event_to_json",
    "listing_to_json",
    "message_to_json",
    "practice_to_json",
    "practice_warning_to_json",
    "profile_to_json",
    "provider_to_json",
    "record_to_json",
    "records_document",
    "reported_message_to_json",
    "review_to_json",
    "summary_to_json",
    "thread_document",
]


def devices_to_json(devices: Sequence[DeviceInfo]) -> list[dict[str, Any]]:
    """This identity's devices (``confide devices list --json``, the Desk): id (hex), local name, whether it is the
    device asking, when it was added (unix seconds) and how (``first``, ``linked``, ``restored``)."""
    return [
        {
            "device_id": d.device_id,
            "name": d.name,
            "this_device": d.this_device,
            "added_at": d.added_at,
            "origin": d.origin,
        }
        for d in devices
    ]
