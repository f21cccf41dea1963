"""The client's internal rows (contacts, messages) and their canonical JSON form before sealing.

These are mutable working copies used inside the library; integrators see the frozen
:class:`~confide.client.models.Contact` and :class:`~confide.client.models.Message` instead. Bytes fields
are base64 in the JSON; the JSON is sealed before it reaches the disk. ``repr`` hides names, text, keys.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from confide.protocol.content import AttachmentPointer, Text
from confide.protocol.envelope import DELIVERY_TOKEN_LEN

from .errors import StorageError
from .models import MessageKind


def _b(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _ub(text: Any) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise StorageError("a stored record is damaged")
    return base64.b64decode(text)


def _loads(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays or objects nested too deep
        raise StorageError("a stored record is damaged") from exc
    if not isinstance(obj, dict):
        raise StorageError("a stored record is damaged")
    return obj


@dataclass(slots=True)
class AttachmentRecord:
    """A received or sent attachment pointer plus where its ciphertext lives locally (if anywhere)."""

    blob_id: str
    key: bytes = field(repr=False)
    digest: bytes = field(repr=False)
    size: int
    name: str = field(repr=False)
    mime: str
    caption: str = field(default="", repr=False)
    file: str | None = None
    """File name (random) of the downloaded ciphertext under the profile's ``attachments/`` folder."""

    def to_obj(self) -> dict[str, Any]:
        return {
            "blob_id": self.blob_id,
            "key": _b(self.key),
            "digest": _b(self.digest),
            "size": self.size,
            "name": self.name,
            "mime": self.mime,
            "caption": self.caption,
            "file": self.file,
        }

    @classmethod
    def from_obj(cls, o: dict[str, Any]) -> AttachmentRecord:
        return cls(
            o["blob_id"],
            _ub(o["key"]) or b"",
            _ub(o["digest"]) or b"",
            int(o["size"]),
            o["name"],
            o["mime"],
            o.get("caption", ""),
            o.get("file"),
        )


@dataclass(slots=True)
class ContactRecord:
    """A contact: pinned identity (TOFU), delivery tokens (theirs to write to them with, ours for them to write
    here with), trust state, blocking, thread timer."""

    contact_id: str
    name: str = field(repr=False)
    address: bytes
    token: bytes | None = field(default=None, repr=False)
    identity: bytes | None = field(default=None, repr=False)
    verified: bool = False
    auto_named: bool = False
    timer_s: int = 0
    changed: bool = False
    pending_address: bytes | None = None
    pending_identity: bytes | None = field(default=None, repr=False)
    pending_token: bytes | None = field(default=None, repr=False)
    request: bool = False
    """Created because a stranger wrote first: no receipts are sent until the user accepts the contact."""
    inbound_token: bytes | None = field(default=None, repr=False)
    """The delivery token this profile gave the contact to write here with (their own, one per contact; sent as
    ``reply_token`` in every sealed sender certificate to them once the relay accepts it). ``None`` in a profile
    written before per-contact tokens: one is minted at the next registration of the token set."""
    inbound_live: bool = False
    """Whether the relay accepts :attr:`inbound_token` (it was in the last set registered). Until then the
    certificates to this contact carry the introduction token of the invite code instead."""
    blocked: bool = False
    """Blocked by the user: :attr:`inbound_token` is not registered (the relay refuses it) and whatever still
    arrives from this identity is dropped unread, without receipts, events or storage."""
    token_generation: int = 0
    """Which generation of the derived token :attr:`inbound_token` is (:func:`~confide.client.account.contact_token`):
    one more on each unblock, so a blocked token is never derived again."""

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "name": self.name,
                "address": _b(self.address),
                "token": _b(self.token),
                "identity": _b(self.identity),
                "verified": self.verified,
                "auto_named": self.auto_named,
                "timer_s": self.timer_s,
                "changed": self.changed,
                "pending_address": _b(self.pending_address),
                "pending_identity": _b(self.pending_identity),
                "pending_token": _b(self.pending_token),
                "request": self.request,
                "inbound_token": _b(self.inbound_token),
                "inbound_live": self.inbound_live,
                "blocked": self.blocked,
                "token_generation": self.token_generation,
            }
        ).encode()

    @classmethod
    def from_json(cls, contact_id: str, data: bytes) -> ContactRecord:
        """Parse the JSON form. Raises :class:`StorageError` when it is not a contact record."""
        o = _loads(data)
        try:
            inbound = _ub(o.get("inbound_token"))
            if inbound is not None and len(inbound) != DELIVERY_TOKEN_LEN:
                raise ValueError("a delivery token is 32 bytes")
            return cls(
                contact_id,
                o["name"],
                _ub(o["address"]) or b"",
                _ub(o["token"]),
                _ub(o["identity"]),
                bool(o["verified"]),
                bool(o["auto_named"]),
                int(o["timer_s"]),
                bool(o["changed"]),
                _ub(o["pending_address"]),
                _ub(o["pending_identity"]),
                _ub(o["pending_token"]),
                bool(o.get("request", False)),
                inbound,
                bool(o.get("inbound_live", False)),
                bool(o.get("blocked", False)),
                int(o.get("token_generation", 0)),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: int() of 1e400
            raise StorageError("a stored contact is damaged") from exc


@dataclass(slots=True)
class MessageRecord:
    """One message of a thread, in either direction."""

    message_id: bytes
    contact_id: str
    direction: str
    kind: str
    text: str = field(repr=False)
    sent_at_ms: int
    received_at_ms: int
    status: str
    expire_after_s: int = 0
    expires_at_ms: int | None = None
    attachment: AttachmentRecord | None = None
    unverified_identity: bool = False
    failure: str = ""
    """The relay's reason when an outgoing message was refused for good (status ``failed``)."""
    filed_by_peer: bool = False
    """The peer said (a FILED notice, SPEC §8) that they filed this message into their record."""
    filed_here: bool = False
    """This profile filed the message into its record of the peer (:mod:`confide.client.filing`)."""
    reportable: bool = False
    """A received message whose franking held for a trusted practice's judge (:mod:`confide.client.reporting`)."""

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "message_id": _b(self.message_id),
                "direction": self.direction,
                "kind": self.kind,
                "text": self.text,
                "sent_at_ms": self.sent_at_ms,
                "received_at_ms": self.received_at_ms,
                "status": self.status,
                "expire_after_s": self.expire_after_s,
                "attachment": None if self.attachment is None else self.attachment.to_obj(),
                "unverified_identity": self.unverified_identity,
                "failure": self.failure,
                "filed_by_peer": self.filed_by_peer,
                "filed_here": self.filed_here,
                "reportable": self.reportable,
            }
        ).encode()

    @classmethod
    def from_json(cls, contact_id: str, expires_at_ms: int | None, data: bytes) -> MessageRecord:
        """Parse the JSON form. Raises :class:`StorageError` when it is not a message record."""
        o = _loads(data)
        try:
            att = o.get("attachment")
            return cls(
                _ub(o["message_id"]) or b"",
                contact_id,
                o["direction"],
                o["kind"],
                o["text"],
                int(o["sent_at_ms"]),
                int(o["received_at_ms"]),
                o["status"],
                int(o["expire_after_s"]),
                expires_at_ms,
                None if att is None else AttachmentRecord.from_obj(att),
                bool(o.get("unverified_identity", False)),
                str(o.get("failure", "")),
                bool(o.get("filed_by_peer", False)),
                bool(o.get("filed_here", False)),
                bool(o.get("reportable", False)),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: int() of 1e400
            raise StorageError("a stored message is damaged") from exc


@dataclass(slots=True)
class FiledFile:
    """The file of a filed attachment: re-encrypted under the record's own ``key`` into ``file`` (a random name
    under the profile's ``attachments/records/``), so that it outlives the thread's copy and its key."""

    name: str = field(repr=False)
    mime: str
    size: int
    caption: str = field(repr=False)
    file: str
    key: bytes = field(repr=False)
    digest: bytes = field(repr=False)

    def to_obj(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mime": self.mime,
            "size": self.size,
            "caption": self.caption,
            "file": self.file,
            "key": _b(self.key),
            "digest": _b(self.digest),
        }

    @classmethod
    def from_obj(cls, o: dict[str, Any]) -> FiledFile:
        return cls(
            str(o["name"]),
            str(o["mime"]),
            int(o["size"]),
            str(o["caption"]),
            str(o["file"]),
            _ub(o["key"]) or b"",
            _ub(o["digest"]) or b"",
        )


@dataclass(slots=True)
class FiledRecord:
    """A copy of one message filed into the record of the contact at ``address`` (:mod:`confide.client.filing`),
    kept apart from the thread: ``peer`` is the contact's name when it was filed, ``kept_after_delete`` says the
    sender deleted it for everyone afterwards (the copy stayed, and they were told)."""

    message_id: bytes
    address: bytes
    peer: str = field(repr=False)
    direction: str
    kind: str
    text: str = field(repr=False)
    sent_at_ms: int
    filed_at_ms: int
    attachment: FiledFile | None = None
    kept_after_delete: bool = False

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "message_id": _b(self.message_id),
                "address": _b(self.address),
                "peer": self.peer,
                "direction": self.direction,
                "kind": self.kind,
                "text": self.text,
                "sent_at_ms": self.sent_at_ms,
                "filed_at_ms": self.filed_at_ms,
                "attachment": None if self.attachment is None else self.attachment.to_obj(),
                "kept_after_delete": self.kept_after_delete,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> FiledRecord:
        """Parse the JSON form. Raises :class:`StorageError` when it is not a filed record."""
        o = _loads(data)
        try:
            att = o["attachment"]
            return cls(
                _ub(o["message_id"]) or b"",
                _ub(o["address"]) or b"",
                str(o["peer"]),
                str(o["direction"]),
                str(o["kind"]),
                str(o["text"]),
                int(o["sent_at_ms"]),
                int(o["filed_at_ms"]),
                None if att is None else FiledFile.from_obj(att),
                bool(o["kept_after_delete"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: int() of 1e400
            raise StorageError("a stored record copy is damaged") from exc


def message_fields(body: Text | AttachmentPointer) -> tuple[MessageKind, str, AttachmentRecord | None]:
    """What a stored message keeps of a text or file content: its kind, its text (a file's caption) and, for a file,
    the attachment pointer (not downloaded yet)."""
    if isinstance(body, Text):
        return MessageKind.TEXT, body.body, None
    pointer = AttachmentRecord(body.blob_id, body.key, body.digest, body.size, body.name, body.mime, body.caption)
    return MessageKind.ATTACHMENT, body.caption, pointer
