"""Processing of incoming deliveries for a :class:`~confide.client.Client`.

For each delivery: parse → skip if its envelope id was already processed → open (sealed sender + ratchet,
all-or-nothing) → decide trust (TOFU pin, or flag an identity change) → in ONE transaction: the new session
state, used prekeys deleted, the message (deduplicated by its message id) or its effect (receipt, timer,
delete), and the envelope's "seen" mark → only then is the envelope acknowledged. Follow-ups that need the
network (delivery receipts, attachment downloads) run after the batch is acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING

from confide.keys.address import Address
from confide.keys.identity import IdentityPublicKey
from confide.protocol.content import (
    AttachmentPointer,
    Content,
    Delete,
    Receipt,
    ReceiptKind,
    Text,
    TimerChange,
)
from confide.protocol.envelope import Delivery
from confide.protocol.errors import (
    DecryptionError,
    DuplicateMessage,
    ProtocolError,
    RemoteProtocolError,
    UndecryptableMessage,
)
from confide.protocol.sealed import Opened, open_sealed
from confide.protocol.session import Session

from .errors import ClientError
from .events import (
    Event,
    IdentityChanged,
    MessageDeleted,
    MessageReceived,
    MessageUndecryptable,
    ReceiptReceived,
    TimerChanged,
)
from .models import (
    DIRECTION_IN,
    DIRECTION_OUT,
    KIND_ATTACHMENT,
    KIND_TEXT,
    KIND_TIMER,
    STATUS_DELIVERED,
    STATUS_PENDING,
    STATUS_READ,
    STATUS_SENT,
    STATUS_UNREAD,
)
from .records import AttachmentRecord, ContactRecord, MessageRecord

if TYPE_CHECKING:
    from .client import Client

_log = logging.getLogger(__name__)

_STATUS_RANK = {STATUS_PENDING: 0, STATUS_SENT: 1, STATUS_DELIVERED: 2, STATUS_READ: 3}


def _now_ms() -> int:
    return int(time.time() * 1000)


class Receiver:
    """Turns delivery bytes into stored messages and events; owned by one client."""

    def __init__(self, client: Client) -> None:
        self._c = client
        self._receipts: dict[str, list[bytes]] = {}
        self._downloads: list[str] = []
        self._prekeys_used = False

    def _find_session(self, identity: IdentityPublicKey, device_id: bytes) -> Session | None:
        raw = self._c._store.get_session(identity.signing, device_id)
        if raw is None:
            return None
        session = Session.from_bytes(raw)
        return session if session.peer_identity == identity else None

    async def handle(self, raw: bytes) -> bytes | None:
        """Process one delivery; returns the envelope id to acknowledge (``None``: unparseable, skip)."""
        store = self._c._store
        try:
            delivery = Delivery.from_bytes(raw)
        except RemoteProtocolError:
            _log.warning("the relay sent a malformed delivery; ignored")
            return None
        env_id = delivery.envelope_id
        if store.envelope_seen(env_id):
            return env_id
        now = _now_ms()
        try:
            opened = open_sealed(self._c._keys.identity, delivery.ciphertext, find_session=self._find_session,
                                 prekeys=self._c._prekeys, rng=self._c._rng)
        except DuplicateMessage:
            _log.info("dropping a message that was already decrypted")
            with store.transaction():
                store.mark_envelope_seen(env_id, now)
            return env_id
        except UndecryptableMessage as exc:
            _log.warning("dropping a message that could not be decrypted (its sender is known)")
            with store.transaction():
                store.mark_envelope_seen(env_id, now)
            known = store.contact_by_address(exc.sender.identity.address.raw)
            self._c._emit(MessageUndecryptable(known.name if known else exc.sender.identity.address.text))
            return env_id
        except (DecryptionError, ProtocolError, ClientError):
            _log.warning("dropping a message that could not be decrypted")
            with store.transaction():
                store.mark_envelope_seen(env_id, now)
            return env_id
        events: list[Event] = []
        with store.transaction():
            rec, flagged = self._contact_for(opened, events)
            store.put_session(rec.contact_id, opened.sender.identity.signing, opened.sender.device_id,
                              opened.session.to_bytes())
            self._c._prekeys.consume(opened.used_one_time_prekey, opened.used_kem_prekey)
            self._prekeys_used |= opened.new_session
            store.mark_envelope_seen(env_id, now)
            store.prune_seen_envelopes(now)
            try:
                content = Content.from_bytes(opened.plaintext)
            except RemoteProtocolError:
                _log.warning("dropping a message with malformed content")
                content = None
            if content is not None:
                self._apply(rec, content, flagged, now, events)
            store.save_contact(rec)
        for event in events:
            self._c._emit(event)
        return env_id

    def _contact_for(self, opened: Opened, events: list[Event]) -> tuple[ContactRecord, bool]:
        """The sender's contact (created on first contact), and whether its identity is unaccepted."""
        store = self._c._store
        sender = opened.sender
        address = sender.identity.address
        ident = sender.identity.to_bytes()
        rec = store.contact_by_address(address.raw)
        if rec is None:
            rec = ContactRecord(store.new_contact_id(), self._auto_name(address), address.raw, sender.reply_token,
                                ident, auto_named=True)
            return rec, False
        if rec.changed and rec.pending_address == address.raw:
            if rec.pending_identity is None:
                rec.pending_identity = ident
            rec.pending_token = sender.reply_token
            return rec, rec.pending_identity != ident or True
        if rec.identity is None:
            rec.identity = ident
        if rec.identity != ident:
            old = IdentityPublicKey.from_bytes(rec.identity).fingerprint()
            rec.changed, rec.pending_address, rec.pending_identity = True, address.raw, ident
            rec.pending_token = sender.reply_token
            events.append(IdentityChanged(rec.name, old, sender.identity.fingerprint()))
            return rec, True
        rec.token = sender.reply_token
        return rec, False

    def _auto_name(self, address: Address) -> str:
        names = {c.name for c in self._c._store.contacts()}
        base = address.text
        name, n = base, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        return name

    def _apply(self, rec: ContactRecord, content: Content, flagged: bool, now: int, events: list[Event]) -> None:
        store = self._c._store
        body = content.body
        mid = content.message_id
        if isinstance(body, Text | AttachmentPointer):
            if store.has_message(mid):
                return  # the same message arrived twice: shown once
            att = None
            kind, text = KIND_TEXT, ""
            if isinstance(body, Text):
                text = body.body
            else:
                kind, text = KIND_ATTACHMENT, body.caption
                att = AttachmentRecord(body.blob_id, body.key, body.digest, body.size, body.name, body.mime,
                                       body.caption)
            msg = MessageRecord(mid, rec.contact_id, DIRECTION_IN, kind, text, content.sent_at_ms, now,
                                STATUS_UNREAD, content.expire_after_s, None, att, flagged)
            store.save_message(msg)
            events.append(MessageReceived(rec.name, self._c._public_message(msg, rec.name)))
            if not flagged:
                self._receipts.setdefault(rec.contact_id, []).append(mid)
            if att is not None:
                self._downloads.append(mid.hex())
        elif isinstance(body, Receipt):
            status = STATUS_READ if body.kind == ReceiptKind.READ else STATUS_DELIVERED
            changed = []
            for target in body.message_ids:
                m = store.message(target)
                if m is None or m.contact_id != rec.contact_id or m.direction != DIRECTION_OUT:
                    continue
                if _STATUS_RANK.get(m.status, 0) < _STATUS_RANK[status]:
                    m.status = status
                    store.save_message(m)
                changed.append(target.hex())
            if changed:
                events.append(ReceiptReceived(rec.name, status, tuple(changed)))
        elif isinstance(body, TimerChange):
            if store.has_message(mid):
                return
            rec.timer_s = body.seconds
            store.save_message(MessageRecord(mid, rec.contact_id, DIRECTION_IN, KIND_TIMER, "",
                                             content.sent_at_ms, now, STATUS_READ, 0, None, None, flagged))
            events.append(TimerChanged(rec.name, body.seconds, True))
        elif isinstance(body, Delete):
            m = store.message(body.target_id)
            if m is not None and m.contact_id == rec.contact_id and m.direction == DIRECTION_IN:
                store.delete_message(m.message_id)
                self._c._remove_attachment_file(m)
                events.append(MessageDeleted(rec.name, m.message_id.hex(), "deleted"))

    async def after_batch(self) -> None:
        """Send delivery receipts and download attachments for what was just stored (errors are logged:
        the messages themselves are safe; receipts are best effort, attachments can be fetched later)."""
        if self._prekeys_used:  # someone started a session: check the relay's one-time prekey stock
            self._prekeys_used = False
            try:
                await self._c.maintain_prekeys()
            except ClientError as exc:
                _log.info("prekey check failed: %s", type(exc).__name__)
        receipts, self._receipts = self._receipts, {}
        downloads, self._downloads = self._downloads, []
        for contact_id, ids in receipts.items():
            rec = self._c._store.contact(contact_id)
            if rec is None:
                continue
            try:
                await self._c._send_receipt(rec, ReceiptKind.DELIVERED, ids)
            except ClientError as exc:
                _log.info("delivery receipt not sent: %s", type(exc).__name__)
        if self._c.auto_download:
            for message_id in downloads:
                with contextlib.suppress(ClientError):
                    await self._c.download_attachment(message_id)
