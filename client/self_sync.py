"""Keeping this identity's devices in step: what one device sends, reads and decides reaches the others.

**Sending** (:class:`SelfSync`). In the transaction that queues a content for a contact
(:meth:`~confide.client.messaging.Messaging.queue`), a text, file (FRANKED as it was sent), timer change or
delete for everyone is also sealed to every other device of this identity as a SYNC transcript (SPEC §8 type 10:
``peer || inner``, with the inner's id, clock and expiry); marking a thread read seals a SYNC of a READ receipt
(whether or not a receipt goes to the peer). Delivery receipts are never synced: each device confirms what it
received itself. When a contact is added, renamed, accepted, verified, blocked or unblocked, or its tokens
change, a CONTACT snapshot (type 12) of it goes to the other devices, always before the first SYNC that names it.
With no other device (no own sessions) nothing is sealed and nothing is queued. Own envelopes are queued under the
thread id :data:`OWN_THREAD` and no message id, so an own device refusing one never marks the message failed.

**Receiving** (:class:`SelfSyncApplier`, called by :class:`~confide.client.inbox.Inbox` in the transaction that
decrypted the content, only for a sealed sender whose identity is this identity and whose device is another
listed device of it). A SYNC is applied exactly once, by message id: a text or file becomes an outgoing
message (``sent``) in the peer's thread; a READ marks those incoming messages read (no receipt goes out again);
a timer change sets the thread timer; a delete deletes our own message here. A SYNC for a peer this device does
not know is dropped (the sending device sends the contact's snapshot first, so it arrives only out of order or
for a contact removed here). A CONTACT snapshot creates or updates the contact, without ever overriding a trust
decision this device took: an identity other than the one pinned here is adopted only when it is the pending
identity the other device accepted.
"""

from __future__ import annotations

import hashlib
import logging
import time

from confide.keys.address import Address
from confide.keys.encoding import RNG
from confide.keys.errors import ConfideError
from confide.keys.identity import IdentityPublicKey
from confide.protocol.content import (
    MAX_CONTACT_NAME_BYTES,
    MAX_RECEIPT_IDS,
    AttachmentPointer,
    Body,
    ContactSnapshot,
    Content,
    Delete,
    DeviceListNotice,
    Franked,
    Receipt,
    ReceiptKind,
    SentSync,
    Text,
    TimerChange,
    new_message_id,
)

from .account import Account
from .contacts import Contacts
from .errors import ClientError
from .events import Event, MessageDeleted, MessageSynced, TimerChanged
from .expiry import Expiry
from .models import Direction, MessageKind, MessageStatus
from .outbox import Outbox
from .pinning import accept_pending
from .records import ContactRecord, MessageRecord, message_fields
from .sessions import Sessions
from .store import Store
from .timers import expiry_from, relay_lifetime
from .views import public_message

_log = logging.getLogger(__name__)

OWN_THREAD = "self"
"""The outbox's thread id for envelopes to this identity's other devices (no contact has it: contact ids are
random hex)."""

SYNCED_BODIES = (Text, AttachmentPointer, Franked, TimerChange, Delete)
"""What :meth:`SelfSync.queue_sync` transcribes to the other devices when it is sent to a contact; a READ
receipt is synced when the thread is marked read (:meth:`SelfSync.queue_read`), not when it is sent (a request's
thread, read but not answered, sends none)."""
_M_TOLD = "self-sync.told."
"""``meta`` key prefix (then a contact id: random, not an address) of the digest of the contact's last snapshot
sent to the other devices: a snapshot goes out when it would say something new."""
_TOLD_LABEL = b"Confide-contact-snapshot-told-v1"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _snapshot_name(name: str, address: bytes) -> str:
    """``name`` as a CONTACT snapshot can carry it: one line (a C0 control becomes a space), at most
    :data:`MAX_CONTACT_NAME_BYTES` of UTF-8 (cut at a character), and the address when nothing is left."""
    line = "".join(" " if ord(c) < 0x20 else c for c in name).strip()
    cut = line.encode("utf-8")[:MAX_CONTACT_NAME_BYTES].decode("utf-8", "ignore").strip()
    return cut or Address(address).text


class SelfSync:
    """Seals SYNC transcripts, CONTACT snapshots and DEVICES notices to this identity's other devices."""

    def __init__(self, store: Store, sessions: Sessions, outbox: Outbox, account: Account, *, rng: RNG) -> None:
        self._store = store
        self._sessions = sessions
        self._outbox = outbox
        self._account = account
        self._rng = rng

    def _queue_own(self, content: Content) -> int:
        """Seal ``content`` to every other own device and queue the envelopes; returns how many. Call inside a
        transaction (the own sessions are read and advanced in it)."""
        envelopes = self._sessions.encrypt_own(
            content.to_bytes(), self._account.sender_certificate(None), relay_lifetime(content.expire_after_s)
        )
        with self._store.transaction():
            for env in envelopes:
                self._outbox.add(OWN_THREAD, None, env)
        return len(envelopes)

    def queue_sync(self, rec: ContactRecord, content: Content) -> int:
        """Transcribe ``content``, just sealed to ``rec``, to the other own devices when it is a text, file,
        timer change or delete for everyone (anything else: nothing); returns the envelopes queued. Call inside
        the transaction that queues ``content`` for ``rec``."""
        body = content.body
        if not isinstance(body, SYNCED_BODIES) and not (isinstance(body, Receipt) and body.kind == ReceiptKind.READ):
            return 0
        with self._store.transaction():
            told = self._tell(rec)  # the other devices know the contact before its first transcript
            sync = SentSync(rec.address, content)
            return told + self._queue_own(Content(content.message_id, content.sent_at_ms, content.expire_after_s, sync))

    def queue_read(self, rec: ContactRecord, message_ids: list[bytes]) -> int:
        """Tell the other own devices that these incoming messages of ``rec``'s thread were read here; returns
        the envelopes queued. Call inside the transaction that marks them read."""
        queued = 0
        for i in range(0, len(message_ids), MAX_RECEIPT_IDS):
            read = Receipt(ReceiptKind.READ, tuple(message_ids[i : i + MAX_RECEIPT_IDS]))
            queued += self.queue_sync(rec, Content(new_message_id(self._rng), _now_ms(), 0, read))
        return queued

    def snapshot_of(self, rec: ContactRecord) -> ContactSnapshot | None:
        """The CONTACT snapshot of ``rec`` as stored now, or None when it cannot be told (no identity pinned
        yet: an address added by invite that never answered; the other devices learn it from its first
        message or snapshot after that)."""
        stored = self._store.contact(rec.contact_id) or rec
        if stored.identity is None:
            return None
        return ContactSnapshot(
            peer=stored.address,
            identity=stored.identity,
            verified=stored.verified,
            blocked=stored.blocked,
            request=stored.request,
            name=_snapshot_name(stored.name, stored.address),
            timer_s=stored.timer_s,
            token=stored.token,
            inbound_token=stored.inbound_token,
        )

    def _tell(self, rec: ContactRecord) -> int:
        """Queue ``rec``'s snapshot to the other own devices unless the last one sent says the same (or there is
        nothing to tell yet); returns the envelopes queued. Call inside a transaction."""
        snapshot = self.snapshot_of(rec)
        if snapshot is None:
            return 0
        digest = hashlib.sha256(_TOLD_LABEL + Content(bytes(16), 0, 0, snapshot).to_bytes()).digest()
        key = _M_TOLD + rec.contact_id
        if self._store.get_meta(key) == digest:
            return 0
        queued = self._queue_own(Content(new_message_id(self._rng), _now_ms(), 0, snapshot))
        if queued:
            self._store.set_meta(key, digest)
        return queued

    def contact_changed(self, rec: ContactRecord) -> int:
        """Queue ``rec``'s snapshot to the other own devices when it says something new; returns the envelopes
        queued (0: no other device, or nothing new). Failures are logged: the next change or send repeats a
        snapshot, and it is never a reason to undo what the user did here."""
        try:
            with self._store.transaction():
                return self._tell(rec)
        except ClientError as exc:
            _log.info("contact snapshot not queued: %s", type(exc).__name__)
            return 0

    def send_device_list(self, document: bytes) -> int:
        """Queue a DEVICES notice carrying ``document`` (this identity's signed device list, SPEC §12) to every
        contact with a session and to every other own device, in one transaction; returns the envelopes
        queued. Contacts that cannot be written to now (an identity change not accepted, no token, blocked) are
        skipped: they find the list in the next bundle they fetch."""
        notice = DeviceListNotice(document)
        queued = 0
        with self._store.transaction():
            queued += self._queue_own(Content(new_message_id(self._rng), _now_ms(), 0, notice))
            for rec in self._store.contacts():
                if rec.token is None or rec.changed or rec.blocked or not self._sessions.of(rec):
                    continue
                content = Content(new_message_id(self._rng), _now_ms(), 0, notice)
                cert = self._account.sender_certificate(rec)
                for env in self._sessions.encrypt(rec, content.to_bytes(), cert, relay_lifetime(0)):
                    self._outbox.add(rec.contact_id, None, env)
                    queued += 1
        return queued


class SelfSyncApplier:
    """Applies SYNC transcripts and CONTACT snapshots from this identity's other devices (see the module
    docstring); the caller has checked that they come from one."""

    def __init__(self, store: Store, contacts: Contacts, expiry: Expiry) -> None:
        self._store = store
        self._contacts = contacts
        self._expiry = expiry

    def apply_sync(self, sync: SentSync, now: int, events: list[Event]) -> str | None:
        """Apply one SYNC (inside the transaction that decrypted it); returns the message id (hex) of a synced
        file to download, if any."""
        store = self._store
        rec = store.contact_by_address(sync.peer)
        if rec is None:
            _log.info("dropping a sent-message transcript for a contact this device does not know")
            return None
        content = sync.inner
        body: Body = content.body
        if isinstance(body, Franked):
            body = body.content.body
        mid = content.message_id
        if isinstance(body, Text | AttachmentPointer):
            if store.has_message(mid):
                return None  # applied before (or sent from here): once
            kind, text, att = message_fields(body)
            msg = MessageRecord(
                mid,
                rec.contact_id,
                Direction.OUT,
                kind,
                text,
                content.sent_at_ms,
                now,
                MessageStatus.SENT,
                content.expire_after_s,
                expiry_from(content.sent_at_ms, content.expire_after_s),
                att,
            )
            store.save_message(msg)
            events.append(MessageSynced(rec.name, public_message(msg, rec.name)))
            return mid.hex() if att is not None else None
        if isinstance(body, Receipt):
            if body.kind == ReceiptKind.READ:
                self._mark_read(rec, body.message_ids, now)
        elif isinstance(body, TimerChange):
            if store.has_message(mid):
                return None
            rec.timer_s = body.seconds
            store.save_contact(rec)
            timer = MessageRecord(
                mid, rec.contact_id, Direction.OUT, MessageKind.TIMER, "", content.sent_at_ms, now, MessageStatus.SENT
            )
            store.save_message(timer)
            events.append(TimerChanged(rec.name, body.seconds, False))
        elif isinstance(body, Delete):
            m = store.message(body.target_id)
            if m is not None and m.contact_id == rec.contact_id and m.direction == Direction.OUT:
                store.delete_message(m.message_id)
                self._expiry.remove_attachment_file(m)
                events.append(MessageDeleted(rec.name, m.message_id.hex(), "deleted"))
        return None

    def _mark_read(self, rec: ContactRecord, message_ids: tuple[bytes, ...], now: int) -> None:
        """Mark these incoming messages of ``rec``'s thread read here, as on the device that read them (their
        timers start now); no receipt is owed: that device sent it."""
        for target in message_ids:
            m = self._store.message(target)
            if m is None or m.contact_id != rec.contact_id or m.direction != Direction.IN:
                continue
            if m.status == MessageStatus.UNREAD:
                m.status = MessageStatus.READ
                m.expires_at_ms = expiry_from(now, m.expire_after_s)
                self._store.save_message(m)

    def apply_snapshot(self, snap: ContactSnapshot) -> None:
        """Create or update the contact ``snap`` describes (inside the transaction that decrypted it)."""
        store = self._store
        ident = snap.identity
        try:
            identity = IdentityPublicKey.from_bytes(ident)  # parsed before anything is kept
        except ConfideError:
            _log.warning("dropping a contact snapshot with an unusable identity")
            return
        if identity.address.raw != snap.peer:
            _log.warning("dropping a contact snapshot whose identity is not the address's")
            return
        rec = store.contact_by_address(snap.peer)
        if rec is None:
            name = self._free_name(snap.name, None)
            rec = ContactRecord(store.new_contact_id(), name, snap.peer, identity=ident, request=snap.request)
        elif rec.changed and rec.pending_identity == ident:
            accept_pending(rec)  # the other device accepted the identity change this one holds pending
        elif rec.identity is None:
            rec.identity = ident
        elif rec.identity != ident:
            _log.info("ignoring a contact snapshot for another identity than the one pinned here")
            return
        if rec.name != snap.name:
            rec.name = self._free_name(snap.name, rec.contact_id)
        rec.auto_named = False
        rec.verified = snap.verified and not rec.changed
        rec.timer_s = snap.timer_s
        rec.request = rec.request and snap.request  # accepted on either device: accepted
        if snap.token is not None:
            rec.token = snap.token
        tokens = snap.blocked != rec.blocked or (
            snap.inbound_token is not None and snap.inbound_token != rec.inbound_token
        )
        if tokens:
            rec.blocked = snap.blocked
            if snap.inbound_token is not None and snap.inbound_token != rec.inbound_token:
                rec.inbound_token = snap.inbound_token
            rec.inbound_live = False  # registered by this device's next token upkeep
        store.save_contact(rec, tokens=tokens)

    def _free_name(self, wanted: str, contact_id: str | None) -> str:
        """``wanted`` when no other contact has it here, else a numbered variant."""
        names = {c.name for c in self._store.contacts() if c.contact_id != contact_id}
        name, n = wanted, 2
        while name in names:
            name, n = f"{wanted} ({n})", n + 1
        return name
