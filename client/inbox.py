"""The inbox: turning delivered envelopes into stored messages and events.

For each delivery: parse → skip if its envelope id or its sealed bytes were already processed → open the
sealed-sender layer (stateless) → in ONE ``BEGIN IMMEDIATE`` transaction: check the "seen" marks again, read the
sender's sessions, decrypt (ratchet, all-or-nothing), decide trust (TOFU pin, or flag an identity change), store
the session state (and settle which session is current), delete used prekeys, store the message (deduplicated by
its message id, and marked "not yet reported") or its effect (receipt, timer, delete, reset request), and the
envelope's "seen" marks → only then may the envelope be acknowledged. Reading the session inside the transaction
that writes it back means another process on the same profile (a ``send`` in another terminal) cannot advance it
in between: its work waits for ours, then reads what we wrote.

A message from a known contact that does not decrypt starts a session reset after the batch (a fresh session
and a :class:`~confide.protocol.content.ResetRequest` on it); a reset request received makes its session
current and has the unconfirmed messages resent (see :class:`~confide.client.messaging.Messaging`).

A FRANKED content (SPEC 13.6) is unwrapped and its inner text or file processed exactly as if it had come
alone; :class:`~confide.client.reporting.Reporting` checks its franking in the transaction that stores the
message, which is marked reportable when the franking holds for a trusted practice's judge. A franking that
fails never drops or flags the message: it is stored, only not reportable.

A message whose sealed sender is this identity comes from another of its devices: a SYNC transcript or CONTACT
snapshot is applied only when that device is on this identity's signed list, a DEVICES list from any of them
(it is signed and version-guarded); see :mod:`~confide.client.self_sync`. A SYNC or CONTACT from anyone else is
dropped. A message from a contact's device that the contact's signed list no longer names is dropped before its
ratchet is touched (:data:`UNLISTED_DEVICE`).

A message whose sealed sender is a blocked contact (:meth:`Client.block`) is acknowledged and dropped right
after the sealed layer is opened: never decrypted further, stored, marked seen, receipted or reported.

What is acknowledged, and what is not:

- a message stored (or recognised as already stored): acknowledged;
- a message that truly cannot be decrypted (tampered, or for a session this device no longer has):
  acknowledged and surfaced (:class:`MessageUndecryptable` when the sender is authenticated), because
  keeping it would block the mailbox forever;
- a local fault (the store cannot be read or written, a stored session or prekey is damaged): NOT
  acknowledged. :class:`StorageError` propagates, the relay keeps the envelope, and it is processed again
  once the fault is fixed.

Follow-ups that need the network (attachment downloads, a prekey check, session resets) are collected and
run by :class:`~confide.client.sync.Sync` after the batch is acknowledged. A delivery receipt is owed in the
store, in the transaction that stores its message, so a crash before it is sent does not lose it; ``Sync``
has it sent (after its random delay) once the batch is acknowledged.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass, field

from confide.keys.encoding import RNG
from confide.keys.identity import IdentityPublicKey
from confide.keys.secret_keys import SecretKeys
from confide.protocol.content import (
    AttachmentPointer,
    ContactSnapshot,
    Content,
    Delete,
    DeviceListNotice,
    Filed,
    FiledKind,
    Franked,
    FrankingKeyNotice,
    Receipt,
    ReceiptKind,
    ResetRequest,
    SentSync,
    Text,
    TimerChange,
)
from confide.protocol.device_list import device_ids
from confide.protocol.envelope import ENVELOPE_ID_LEN, Delivery
from confide.protocol.errors import (
    DecryptionError,
    DuplicateMessage,
    ProtocolError,
    RemoteProtocolError,
    UndecryptableMessage,
)
from confide.protocol.sealed import Opened, open_inner, unseal

from .account import contact_token
from .bus import EventBus
from .contacts import Contacts
from .devices import Devices
from .errors import DeviceListRejected
from .events import (
    Event,
    FiledCopyKept,
    IdentityChanged,
    MessageDeleted,
    MessageFiled,
    MessageReceived,
    MessageUndecryptable,
    ReceiptReceived,
    ThisDeviceRemoved,
    TimerChanged,
)
from .expiry import Expiry, is_live
from .models import OUTGOING_RANK, Direction, MessageKind, MessageStatus
from .prekey_store import PreKeyStore
from .records import ContactRecord, FiledRecord, MessageRecord, message_fields
from .reporting import Reporting
from .self_sync import OWN_THREAD, SelfSyncApplier
from .sessions import SELF, Sessions
from .store import Store
from .views import public_message, sender_name

_log = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


_SEALED_SEEN_LABEL = b"Confide-sealed-seen-v1"
LIST_RECHECK_S = 600.0
"""A message from a device that the sender's list kept here does not name is first left at the relay (not
acknowledged) while the list is fetched again: the device may be newly linked, and its first message may arrive
before the list that names it. Only if the fetched list still does not name it, or the list was fetched for that
device less than this long ago, is the message dropped; so a removed device costs at most one list fetch per ten
minutes, and a new one loses nothing."""
MAX_LIST_RECHECKS = 256
"""Devices remembered for :data:`LIST_RECHECK_S` (the oldest forgotten first): bounds the memory a flood of
messages from unlisted devices can take; a forgotten one only costs one more list fetch."""
UNLISTED_DEVICE = "from a device no longer on the sender's list"
"""The reason of a :class:`MessageUndecryptable` for a message from a device its identity's signed list no longer
names (a removed device: refused whatever keys it holds)."""


def _sealed_id(ciphertext: bytes) -> bytes:
    """The "seen" mark of a sealed ciphertext itself, kept beside its envelope id's: the relay chooses envelope
    ids, so an old envelope replayed under a fresh id is recognised by its bytes, before its ratchet header (whose
    key may be long gone) would make it look undecryptable and start a needless session reset."""
    return hashlib.sha256(_SEALED_SEEN_LABEL + ciphertext).digest()[:ENVELOPE_ID_LEN]


@dataclass(slots=True)
class FollowUps:
    """Network work owed for what the inbox stored: downloads, a prekey check, session resets (contact id →
    the peer device ids of the messages that did not decrypt, one per message) and resends asked for by a reset
    request (contact id → the number of failed messages it reports). Delivery receipts and KEPT notices are not
    here: they are owed in the store, in the transaction that stores their message or applies the deletion
    (``Store.owe_receipts``, ``Store.owe_kept``)."""

    downloads: list[str] = field(default_factory=list)
    prekeys_used: bool = False
    resets: dict[str, list[bytes]] = field(default_factory=dict)
    resends: dict[str, int] = field(default_factory=dict)
    lists: set[str] = field(default_factory=set)
    """Contact ids (``"self"`` for this identity) whose device list to fetch again: a message came from a device
    not on the list kept here, and was left at the relay until the list is fetched (:data:`LIST_RECHECK_S`)."""
    baselines: set[str] = field(default_factory=set)
    """Contact ids whose device list to fetch for the first time (they wrote first): nothing waits for it."""


class Inbox:
    """Processes deliveries for one profile; owns the ``seen_envelopes`` table."""

    def __init__(
        self,
        store: Store,
        keys: SecretKeys,
        prekeys: PreKeyStore,
        sessions: Sessions,
        contacts: Contacts,
        expiry: Expiry,
        bus: EventBus,
        *,
        rng: RNG,
        reporting: Reporting | None = None,
    ) -> None:
        self._store = store
        self._keys = keys
        self._reporting = reporting
        self._prekeys = prekeys
        self._sessions = sessions
        self._contacts = contacts
        self._expiry = expiry
        self._bus = bus
        self._rng = rng
        self._follow_ups = FollowUps()
        self._rechecked: dict[bytes, float] = {}
        self._own = SelfSyncApplier(store, contacts, expiry)
        self.devices: Devices | None = None
        """Takes the device lists that arrive as DEVICES contents (set by the client); None: they are ignored."""

    def _recheck(self, identity: IdentityPublicKey, device_id: bytes, own: bool) -> bool:
        """Whether to leave a message from an unlisted device at the relay and fetch its identity's list again
        first (:data:`LIST_RECHECK_S`); False: drop it now (fetched recently, or the sender is no contact)."""
        key = identity.signing + device_id
        now = time.monotonic()
        checked = self._rechecked.get(key)
        if checked is not None and now - checked < LIST_RECHECK_S:
            return False
        known = None if own else self._store.contact_by_address(identity.address.raw)
        if not own and known is None:
            return False
        self._rechecked[key] = now
        while len(self._rechecked) > MAX_LIST_RECHECKS:
            del self._rechecked[next(iter(self._rechecked))]
        self._follow_ups.lists.add(SELF if known is None else known.contact_id)
        return True

    def take_follow_ups(self) -> FollowUps:
        """What is owed since the last call (and forget it)."""
        owed, self._follow_ups = self._follow_ups, FollowUps()
        return owed

    def _drop(self, env_id: bytes, now: int) -> bytes:
        with self._store.transaction():
            self._store.mark_envelope_seen(env_id, now)
        return env_id

    def handle(self, raw: bytes) -> bytes | None:
        """Process one delivery; returns the envelope id to acknowledge (``None``: unparseable, skip).

        Raises:
            StorageError: a local fault; the envelope must NOT be acknowledged (nothing was changed).
        """
        store = self._store
        try:
            delivery = Delivery.from_bytes(raw)
        except RemoteProtocolError:
            _log.warning("the relay sent a malformed delivery; ignored")
            return None
        env_id = delivery.envelope_id
        sealed_id = _sealed_id(delivery.ciphertext)
        if store.envelope_seen(env_id) or store.envelope_seen(sealed_id):
            return env_id
        now = _now_ms()
        try:  # the sealed layer holds no state: opened before taking the store's write lock
            sender, inner = unseal(self._keys.identity, delivery.ciphertext)
        except (DecryptionError, ProtocolError):
            _log.warning("dropping a message that could not be decrypted")
            return self._drop(env_id, now)
        if self._blocked(sender.identity.address.raw):
            _log.info("dropping a message from a blocked contact")
            return env_id  # acknowledged: nothing decrypted, stored, marked, owed or emitted
        own = sender.identity == self._keys.identity.public
        listed = self._sessions.device_listed(sender.identity, sender.device_id)
        if own and sender.device_id == self._keys.device.device_id:
            _log.warning("dropping a message that claims to come from this very device")
            return self._drop(env_id, now)
        if listed is False and self._recheck(sender.identity, sender.device_id, own):
            return None  # left at the relay: read again once the list was fetched (after this batch)
        if listed is False and not own:  # a removed device: refused before its ratchet is touched, whatever it holds
            _log.warning("dropping a message from a device not on its identity's list")
            known = self._store.contact_by_address(sender.identity.address.raw)
            self._bus.emit(MessageUndecryptable(known.name if known else sender.identity.address.text, UNLISTED_DEVICE))
            return self._drop(env_id, now)
        events: list[Event] = []
        with store.transaction():
            if store.envelope_seen(env_id) or store.envelope_seen(sealed_id):  # another process handled it meanwhile
                return env_id
            if self._blocked(sender.identity.address.raw):  # blocked meanwhile (by another process)
                return env_id
            store.mark_envelope_seen(env_id, now)
            store.mark_envelope_seen(sealed_id, now)
            store.prune_seen_envelopes(now)
            try:
                opened = open_inner(
                    self._keys.identity,
                    sender,
                    inner,
                    find_session=self._sessions.find,
                    find_archived=self._sessions.archived,
                    base_key_seen=self._sessions.base_key_seen,
                    prekeys=self._prekeys,
                    rng=self._rng,
                )
            except DuplicateMessage:
                _log.info("dropping a message that was already decrypted")
            except UndecryptableMessage as exc:
                _log.warning("dropping a message that could not be decrypted (its sender is known)")
                self._owe_reset(exc, events)
            else:
                if own:
                    self._store_own(opened, now, events, listed=listed is True)
                else:
                    self._store_opened(opened, now, events)
        if listed is None and not own:
            self._baseline(sender.identity)
        for event in events:
            self._bus.emit(event)
        return env_id

    def _baseline(self, identity: IdentityPublicKey) -> None:
        """A contact whose device list is not known here yet (they wrote first; their bundle was never fetched):
        fetch it after this batch, so that a device they add or remove later is told to the user
        (:class:`DevicesChanged` is never emitted for the first list seen). At most once per
        :data:`LIST_RECHECK_S` per identity (a relay that holds no list, an older client's)."""
        rec = self._store.contact_by_address(identity.address.raw)
        if rec is None:
            return
        key = identity.signing
        now = time.monotonic()
        checked = self._rechecked.get(key)
        if checked is not None and now - checked < LIST_RECHECK_S:
            return
        self._rechecked[key] = now
        while len(self._rechecked) > MAX_LIST_RECHECKS:
            del self._rechecked[next(iter(self._rechecked))]
        self._follow_ups.baselines.add(rec.contact_id)

    def _blocked(self, address: bytes) -> bool:
        """Whether ``address`` (authenticated by sealed sender) is a contact the user blocked. Their envelopes
        can still arrive: sent with the introduction token of an invite they kept, or by a relay that ignores
        the block. Dropped before the ratchet: their session, the thread and the store stay as they were."""
        rec = self._store.contact_by_address(address)
        return rec is not None and rec.blocked

    def _owe_reset(self, exc: UndecryptableMessage, events: list[Event]) -> None:
        """Surface an undecryptable message; owe a session reset when it came from a trusted contact.

        A contact added by address whose identity is not pinned yet is pinned here (trust on first use, as a
        decrypted message would): the address commits to the identity and sealed sender authenticated it, and
        without it no reset could start, so a first message sealed on a stale bundle would be lost for good.
        """
        sender = exc.sender
        known = self._store.contact_by_address(sender.identity.address.raw)
        events.append(MessageUndecryptable(known.name if known else sender.identity.address.text))
        if known is not None and known.identity is None and not known.changed:
            known.identity = sender.identity.to_bytes()
            self._store.save_contact(known)
        if known is not None and not known.changed and known.identity == sender.identity.to_bytes():
            self._follow_ups.resets.setdefault(known.contact_id, []).append(sender.device_id)

    def _store_opened(self, opened: Opened, now: int, events: list[Event]) -> None:
        """Everything a decrypted message changes (inside :meth:`handle`'s transaction)."""
        store = self._store
        rec, flagged = self._contact_for(opened, events)
        self._sessions.commit(rec.contact_id, opened)
        self._prekeys.consume(opened.used_one_time_prekey, opened.used_kem_prekey)
        self._follow_ups.prekeys_used |= opened.new_session
        try:
            content = Content.from_bytes(opened.plaintext)
        except RemoteProtocolError:
            _log.warning("dropping a message with malformed content")
            content = None
        if content is not None and isinstance(content.body, ResetRequest):
            if not flagged:  # the peer could not decrypt us: it asks to continue on this session
                self._sessions.adopt(rec.contact_id, opened.session)
                owed = self._follow_ups.resends
                owed[rec.contact_id] = owed.get(rec.contact_id, 0) + content.body.failed
        elif content is not None and isinstance(content.body, Franked):
            self._apply(rec, content.body.content, flagged, now, events, franked=content)
        elif content is not None:
            self._apply(rec, content, flagged, now, events)
        store.save_contact(rec)

    def _store_own(self, opened: Opened, now: int, events: list[Event], *, listed: bool) -> None:
        """What a message from another device of this identity changes (inside :meth:`handle`'s transaction):
        a SYNC transcript or a CONTACT snapshot only from a device on this identity's list (``listed``); this
        identity's device list (signed by the identity, and taken only when newer) from any device of it, so a
        device just linked or restored can tell the others before they know it; anything else is dropped (a
        device does not write to its own identity)."""
        self._sessions.commit(OWN_THREAD, opened)
        self._prekeys.consume(opened.used_one_time_prekey, opened.used_kem_prekey)
        self._follow_ups.prekeys_used |= opened.new_session
        try:
            body = Content.from_bytes(opened.plaintext).body
        except RemoteProtocolError:
            _log.warning("dropping a message with malformed content")
            return
        if isinstance(body, DeviceListNotice):
            self._own_list(body.document, events)
        elif not listed:
            _log.warning("dropping a message from a device of this identity that is not on its list")
        elif isinstance(body, SentSync):
            download = self._own.apply_sync(body, now, events)
            if download is not None:
                self._follow_ups.downloads.append(download)
        elif isinstance(body, ContactSnapshot):
            self._own.apply_snapshot(body)
        else:
            _log.info("dropping a content of this identity that only goes to contacts")

    def _own_list(self, document: bytes, events: list[Event]) -> None:
        """This identity's device list, from another of its devices: kept when newer; when it no longer names
        this device, this device was removed (:class:`ThisDeviceRemoved`)."""
        if self.devices is None:
            return
        try:
            self.devices.accept_own(document, source="message")
        except DeviceListRejected:
            return  # an event says so; nothing changed
        own = self.devices.own_list()
        if own is not None and self._keys.device.device_id not in device_ids(own):
            events.append(ThisDeviceRemoved())

    def _contact_for(self, opened: Opened, events: list[Event]) -> tuple[ContactRecord, bool]:
        """The sender's contact (created on first contact), and whether its identity is unaccepted."""
        store = self._store
        sender = opened.sender
        address = sender.identity.address
        ident = sender.identity.to_bytes()
        rec = store.contact_by_address(address.raw)
        if rec is None:
            rec = ContactRecord(
                store.new_contact_id(),
                self._contacts.auto_name(address),
                address.raw,
                sender.reply_token,
                ident,
                auto_named=True,
                request=True,  # a stranger: no receipts until the user accepts them
                inbound_token=contact_token(store, self._rng, address.raw),  # registered by the next token upkeep
            )
            return rec, False
        if rec.changed and rec.pending_address == address.raw:
            if rec.pending_identity is None:
                rec.pending_identity = ident
            rec.pending_token = sender.reply_token
            return rec, True
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

    def _apply(
        self,
        rec: ContactRecord,
        content: Content,
        flagged: bool,
        now: int,
        events: list[Event],
        *,
        franked: Content | None = None,
    ) -> None:
        """Store a message, or apply a receipt, timer change or deletion.

        ``flagged``: the sender is an identity the user has not accepted for this contact. Its messages are
        stored (marked, and named by the sender's own address), but it cannot act on the thread: its receipts,
        timer changes and deletions are ignored. ``franked``: the FRANKED content ``content`` came in (a text
        or file), checked when the message is stored.
        """
        store = self._store
        body = content.body
        mid = content.message_id
        if flagged and not isinstance(body, Text | AttachmentPointer):
            _log.warning("ignoring a control message from an identity that is not accepted")
            return
        if isinstance(body, SentSync | ContactSnapshot):
            _log.warning("dropping a content only this identity's own devices may send")  # never planted
            return
        if isinstance(body, DeviceListNotice):
            if self.devices is not None and not rec.request:
                with contextlib.suppress(DeviceListRejected):  # an event says so; nothing changed
                    self.devices.accept(rec, body.document, source="contact")
            return
        if isinstance(body, Text | AttachmentPointer):
            if store.has_message(mid):
                return  # the same message arrived twice: shown once
            kind, text, att = message_fields(body)
            msg = MessageRecord(
                mid,
                rec.contact_id,
                Direction.IN,
                kind,
                text,
                content.sent_at_ms,
                now,
                MessageStatus.UNREAD,
                content.expire_after_s,
                None,
                att,
                flagged,
            )
            if franked is not None and self._reporting is not None:
                msg.reportable = self._reporting.received(rec, franked, flagged=flagged)
            store.save_message(msg)
            store.mark_unreported(mid)
            shown_as = sender_name(rec, msg)
            events.append(MessageReceived(shown_as, public_message(msg, shown_as)))
            if not flagged and not rec.request and not rec.changed:  # owed with the message: survives a crash
                store.owe_receipts(rec.contact_id, ReceiptKind.DELIVERED, [mid])
            if att is not None:
                self._follow_ups.downloads.append(mid.hex())
        elif isinstance(body, Receipt):
            status = MessageStatus.READ if body.kind == ReceiptKind.READ else MessageStatus.DELIVERED
            changed = []
            for target in body.message_ids:
                m = store.message(target)
                if m is None or m.contact_id != rec.contact_id or m.direction != Direction.OUT:
                    continue
                if OUTGOING_RANK.get(MessageStatus(m.status), 0) < OUTGOING_RANK[status]:
                    m.status = status
                    store.save_message(m)
                changed.append(target.hex())
            if changed:
                events.append(ReceiptReceived(rec.name, status, tuple(changed)))
        elif isinstance(body, TimerChange):
            if store.has_message(mid):
                return
            rec.timer_s = body.seconds
            store.save_message(
                MessageRecord(
                    mid,
                    rec.contact_id,
                    Direction.IN,
                    MessageKind.TIMER,
                    "",
                    content.sent_at_ms,
                    now,
                    MessageStatus.READ,
                    0,
                    None,
                    None,
                    flagged,
                )
            )
            events.append(TimerChanged(rec.name, body.seconds, True))
        elif isinstance(body, Delete):
            m = store.message(body.target_id)
            if m is not None and m.contact_id == rec.contact_id and m.direction == Direction.IN:
                store.delete_message(m.message_id)
                self._expiry.remove_attachment_file(m)
                events.append(MessageDeleted(rec.name, m.message_id.hex(), "deleted"))
            self._keep_filed(rec, body.target_id)
        elif isinstance(body, Filed):
            self._apply_filed(rec, body, now, events)
        elif isinstance(body, FrankingKeyNotice) and self._reporting is not None:
            self._reporting.key_notice(rec, body, flagged=flagged)

    def _keep_filed(self, rec: ContactRecord, target: bytes) -> None:
        """A delete for everyone from ``rec`` named ``target``: when it is one of their messages filed in their
        record here, the record copy stays (untouched by the deletion), is marked kept, and a KEPT notice is
        owed to them (SPEC §8, filing)."""
        row = self._store.filed(target)
        if row is None or row[0] != self._store.record_owner(rec.address):
            return
        copy = FiledRecord.from_json(row[1])
        if copy.direction != Direction.IN:
            return  # only its sender may delete a message for everyone
        if not copy.kept_after_delete:
            copy.kept_after_delete = True
            self._store.save_filed(row[0], target, copy.to_json())
        self._store.owe_kept(rec.contact_id, target)  # owed with the deletion: survives a crash

    def _apply_filed(self, rec: ContactRecord, body: Filed, now: int, events: list[Event]) -> None:
        """A records notice from ``rec`` (SPEC §8, filing). FILED marks the message it names, when that is a live
        text or file of this thread; any other id (never received, gone, another thread's) is ignored: no
        marker, no event. KEPT answers our delete for everyone: the message is gone from our thread already, so
        it is reported as the peer's statement about their own record."""
        if body.kind == FiledKind.KEPT:
            events.append(FiledCopyKept(rec.name, body.target_id.hex()))
            return
        m = self._store.message(body.target_id)
        if m is None or m.contact_id != rec.contact_id or not is_live(m, now):
            _log.info("ignoring a filed notice for a message not in this thread")
            return
        if m.kind not in (MessageKind.TEXT, MessageKind.ATTACHMENT) or m.filed_by_peer:
            return
        m.filed_by_peer = True
        self._store.save_message(m)
        events.append(MessageFiled(rec.name, m.message_id.hex()))
