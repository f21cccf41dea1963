"""Threads: sending (text, files, timer changes, deletions, receipts), reading and marking read.

**Was this send queued?** One answer: a send either raises, and then nothing was kept, or returns the stored
:class:`Message`, whose ``status`` says what happened — ``sent`` (the relay accepted it), ``pending`` (kept
in the outbox because the relay is unreachable or busy; see :meth:`Client.queued`; it goes out on the next
sync) or ``failed`` (the relay refused it for good; ``Message.failure`` says why).

Encrypting commits the advanced session state, the message row and the queued envelope in one transaction
(:meth:`Messaging.queue`); posting happens after, through the :class:`~confide.client.outbox.Outbox`.

**Receipts owed survive a crash.** A delivery receipt becomes owed in the transaction that stores its message
(:class:`~confide.client.inbox.Inbox`), a read receipt in the one that marks the message read: both are rows of
the store (``receipts_owed``), not memory. After a random delay (:data:`RECEIPT_DELAY_MIN_S`) the rows owed to a
contact become one receipt per kind, queued in the outbox in the transaction that removes them. So a client
killed at any point sends each receipt exactly once after it is opened again (``sync()`` or the live
connection): "message stored" implies "receipt owed, queued or posted".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from confide.keys.encoding import RNG
from confide.protocol.content import (
    MAX_CAPTION_BYTES,
    MAX_RECEIPT_IDS,
    MAX_RESET_FAILED,
    MAX_TEXT_BYTES,
    AttachmentPointer,
    Body,
    Content,
    Delete,
    Filed,
    FiledKind,
    Receipt,
    ReceiptKind,
    ResetRequest,
    Text,
    TimerChange,
    new_message_id,
)
from confide.protocol.padding import FRANKED_THREAD_BUCKET, MIN_BUCKET

from .account import Account
from .attachments import Attachments, UploadUnreachable
from .bus import EventBus
from .contacts import Contacts
from .errors import ClientError, RelayError, RelayUnreachable, UnknownMessage
from .events import SessionReset, TimerChanged
from .expiry import Expiry, is_live
from .models import Contact, Direction, Message, MessageKind, MessageStatus
from .outbox import TRANSIENT_RELAY_STATUSES, Outbox
from .pinning import require_trusted
from .records import AttachmentRecord, ContactRecord, MessageRecord
from .relay import ProgressCallback
from .reporting import Reporting
from .self_sync import SelfSync
from .sessions import Sessions
from .store import Store
from .timers import check_timer, expiry_from, relay_lifetime
from .views import public_contact, public_message, sender_name

_log = logging.getLogger(__name__)

SESSION_RESET_MIN_INTERVAL_S = 60
"""A device starts at most one session reset per contact per minute, and answers at most one reset request per
contact per minute with resends. Two devices whose messages keep failing (or a relay replaying old messages to
provoke resets) thus cause at most one reset and one resend each per minute, never a loop; every message that
failed in between is covered by the next reset, because a resend covers everything not yet confirmed."""
MAX_RESEND_MESSAGES = 200
"""Messages resent for one reset request: the most recent unconfirmed ones. Covers days of a therapy thread
written while the peer could not read it, and bounds what a hostile peer's request can make us send."""
RECEIPT_DELAY_MIN_S = 1.0
RECEIPT_DELAY_MAX_S = 5.0
"""Delivery and read receipts wait a random time in this range, then go out together (one receipt per contact
and kind, covering every message owed since). A receipt posted the instant a message arrived would let the
relay link the sealed receipt to the device it just pushed to (and so to the sender it confirms); a few
seconds of jitter blur that, and batching makes one receipt cover several messages. ``Messaging.receipt_delay_s``
can shrink it (tests; ``(0, 0)`` sends each receipt at once)."""
_jitter = random.SystemRandom()
_RESET_SENT = "session-reset.sent."
_RESET_ANSWERED = "session-reset.answered."


def _now_ms() -> int:
    return int(time.time() * 1000)


def _checked_text(text: str, what: str, limit: int, too_long_hint: str) -> str:
    """``text`` if a content can carry it (SPEC §8), else a :class:`ClientError` saying what to change."""
    if not isinstance(text, str):
        raise TypeError(f"the {what} must be a str")
    if any(ord(c) < 0x20 and c not in "\t\n" for c in text):
        raise ClientError(
            f"the {what} holds a control character (such as ESC or a carriage return); only tab and newline "
            "are allowed, nothing was sent"
        )
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ClientError(f"the {what} is not valid Unicode; nothing was sent") from None
    if size > limit:
        raise ClientError(f"the {what} is longer than {limit} bytes; {too_long_hint}")
    return text


class Messaging:
    """Sends and reads the threads of one profile."""

    def __init__(
        self,
        store: Store,
        contacts: Contacts,
        sessions: Sessions,
        outbox: Outbox,
        account: Account,
        attachments: Attachments,
        expiry: Expiry,
        bus: EventBus,
        *,
        rng: RNG,
        reporting: Reporting | None = None,
    ) -> None:
        self._store = store
        self._contacts = contacts
        self._sessions = sessions
        self._outbox = outbox
        self._account = account
        self._attachments = attachments
        self._expiry = expiry
        self._bus = bus
        self._rng = rng
        self._reporting = reporting
        """Franks texts and files and owes franking key notices (:mod:`confide.client.reporting`); None: nothing
        is franked."""
        self.keep_upload: Callable[[MessageRecord, Path, int], None] | None = None
        """Keeps a file whose upload found the relay unreachable (set by the client: ``PendingUploads.add``);
        None: such a send raises and keeps nothing."""
        self.receipt_delay_s = (RECEIPT_DELAY_MIN_S, RECEIPT_DELAY_MAX_S)
        """Receipts owed are sent after a random delay in this range (seconds), all together."""
        self._receipt_timer: asyncio.Task[None] | None = None
        self.self_sync = SelfSync(store, sessions, outbox, account, rng=rng)
        """Copies what is sent here to this identity's other devices (:mod:`confide.client.self_sync`)."""
        contacts.on_change = self._contact_changed
        self._own_flush: asyncio.Task[None] | None = None

    # -- sending --------------------------------------------------------------------------------------
    async def _prepare(self, rec: ContactRecord) -> ContactRecord:
        """Check that ``rec`` can be written to, starting sessions if there are none yet."""
        require_trusted(rec)
        if rec.token is None:
            raise ClientError(
                "you cannot write to this contact yet: add their invite code with 'confide contacts add NAME INVITE'"
            )
        await self._account.try_register_tokens()  # so the certificate can carry their own token (account.py)
        rec = self._store.contact(rec.contact_id) or rec  # as the token upkeep left it: saved below
        if not self._sessions.of(rec):
            rec = await self._sessions.start(rec)
        rec = await self._sessions.ensure_devices(rec)  # sessions with exactly the listed devices (known list)
        await self._sessions.ensure_own()  # and with this identity's other devices, for the transcript
        return self.accept_request(rec)  # writing to someone accepts them

    async def writable(self, rec: ContactRecord) -> ContactRecord:
        """``rec`` as it can be written to now (sessions started if there were none; a request accepted), for a
        service that queues its own content with :meth:`queue` (filing: :mod:`confide.client.filing`).

        Raises:
            UntrustedIdentity; ClientError: the contact has no invite yet; RelayUnreachable, RelayError: no
                session yet and the peer's keys cannot be fetched.
        """
        return await self._prepare(rec)

    def accept_request(self, rec: ContactRecord) -> ContactRecord:
        """Accept a contact that a stranger's first message created: receipts flow from now on, starting with
        DELIVERED (and READ for what was read) for what arrived while it was a request. They are queued here
        and go out with the next flush."""
        if not rec.request:
            return rec
        rec.request = False
        incoming = [m for m in self._store.thread(rec.contact_id) if m.direction == Direction.IN]
        with self._store.transaction():
            self._store.save_contact(rec)
            if rec.token is not None and not rec.changed and self._sessions.of(rec):
                self._queue_receipts(rec, ReceiptKind.DELIVERED, [m.message_id for m in incoming])
                read = [m.message_id for m in incoming if m.status == MessageStatus.READ]
                self._queue_receipts(rec, ReceiptKind.READ, read)
        self._contacts.changed(rec)  # accepted on the other own devices too (its snapshot)
        return rec

    def queue(self, rec: ContactRecord, content: Content, record: MessageRecord | None, *, sync: bool = True) -> None:
        """Encrypt ``content`` for every device of ``rec`` (a text or file franked first, and preceded by a
        franking key notice when one is owed: :mod:`confide.client.reporting`); commit sessions, message and
        outbox together. With ``sync``, a text, file, timer change or delete for everyone is also sealed, as
        sent, to this identity's other devices in the same transaction (:meth:`SelfSync.queue_sync`; nothing
        when there are none); ``sync=False`` for a content they have had already (a resend)."""
        notice = None
        min_bucket = MIN_BUCKET
        if self._reporting is not None:
            notice = self._reporting.notice_for(rec, content)
            content = self._reporting.frank(rec, content)
            if self._reporting.franks(rec):
                min_bucket = FRANKED_THREAD_BUCKET  # a franked text must not stand out from a receipt by size
        plaintext = content.to_bytes()
        cert = self._account.sender_certificate(rec)
        lifetime = relay_lifetime(content.expire_after_s)
        mid = record.message_id if record is not None else None
        with self._store.transaction():
            if notice is not None and self._reporting is not None:
                for env in self._sessions.encrypt(
                    rec, notice.to_bytes(), cert, relay_lifetime(0), min_bucket=min_bucket
                ):
                    self._outbox.add(rec.contact_id, None, env)
                self._reporting.notice_sent(rec, notice)
            for env in self._sessions.encrypt(rec, plaintext, cert, lifetime, min_bucket=min_bucket):
                self._outbox.add(rec.contact_id, mid, env)
            if sync:
                self.self_sync.queue_sync(rec, content)
            if record is not None:
                self._store.save_message(record)

    async def _send(
        self,
        rec: ContactRecord,
        body: Body,
        *,
        expire_after_s: int,
        kind: MessageKind,
        text: str = "",
        attachment: AttachmentRecord | None = None,
    ) -> Message:
        now = _now_ms()
        content = Content(new_message_id(self._rng), now, expire_after_s, body)
        record = MessageRecord(
            content.message_id,
            rec.contact_id,
            Direction.OUT,
            kind,
            text,
            now,
            now,
            MessageStatus.PENDING,
            expire_after_s,
            expiry_from(now, expire_after_s),
            attachment,
        )
        self.queue(rec, content, record)
        await self.flush()
        fresh = self._store.message(record.message_id)
        return public_message(fresh or record, rec.name)

    async def _send_control(self, rec: ContactRecord, body: Body) -> None:
        """Send a control message (a deletion): queued like a message, with no thread entry.

        Raises:
            RelayError: the relay refused it for good (it is dropped, not retried).
        """
        self.queue(rec, Content(new_message_id(self._rng), _now_ms(), 0, body), None)
        with contextlib.suppress(RelayUnreachable):
            final = [r for r in await self._outbox.flush() if r.status not in TRANSIENT_RELAY_STATUSES]
            if final:
                raise final[0]

    async def send_device_list(self, document: bytes) -> None:
        """Send this identity's new signed device list (SPEC §12) as a DEVICES content to every contact with a
        session and to every other own device, and post it (hook it to
        :attr:`~confide.client.devices.Devices.on_own_list_changed`). An unreachable relay leaves it queued.

        Raises:
            StorageError: nothing was queued.
        """
        if self.self_sync.send_device_list(document):
            await self.flush()

    async def flush(self) -> None:
        """Post the outbox now; an unreachable relay leaves it queued for the next sync."""
        with contextlib.suppress(RelayUnreachable):
            await self._outbox.flush()

    async def send_text(self, peer: str, text: str, *, expire_after_s: int | None = None) -> Message:
        """Send a text message (see the module docstring for what the returned status means).

        Raises (nothing is kept):
            UntrustedIdentity, UnknownContact; ClientError when the text is too long, holds a control
            character other than tab and newline (SPEC §8), or the contact has no invite; RelayUnreachable,
            RelayError when there is no session yet and the peer's keys cannot be fetched.
        """
        body = Text(_checked_text(text, "message", MAX_TEXT_BYTES, "send it as a file"))
        rec = await self._prepare(self._contacts.find(peer))
        expire = rec.timer_s if expire_after_s is None else check_timer(expire_after_s)
        return await self._send(rec, body, expire_after_s=expire, kind=MessageKind.TEXT, text=text)

    async def send_file(
        self,
        peer: str,
        path: str | os.PathLike[str],
        *,
        mime: str | None = None,
        caption: str = "",
        expire_after_s: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Message:
        """Encrypt and upload a file of any size (streaming), then send its pointer.

        If the relay cannot be reached for the upload, the encrypted file is kept and the message returned
        ``pending``: the next sync uploads it and sends the pointer (:mod:`confide.client.uploads`).

        Raises (nothing is kept):
            AttachmentError: unreadable or too large a file; plus what :meth:`send_text` raises, and
            RelayError when the relay refuses the upload.
        """
        _checked_text(caption, "caption", MAX_CAPTION_BYTES, "send the note as a text message")
        rec = await self._prepare(self._contacts.find(peer))
        expire = rec.timer_s if expire_after_s is None else check_timer(expire_after_s)
        try:
            att, pointer = await self._attachments.upload(
                Path(path),
                mime=mime,
                caption=caption,
                expire_after_s=expire,
                progress=progress,
                defer=self.keep_upload is not None,
            )
        except UploadUnreachable as deferred:
            assert self.keep_upload is not None
            now = _now_ms()
            record = MessageRecord(
                new_message_id(self._rng),
                rec.contact_id,
                Direction.OUT,
                MessageKind.ATTACHMENT,
                caption,
                now,
                now,
                MessageStatus.PENDING,
                expire,
                expiry_from(now, expire),
                deferred.record,
            )
            self.keep_upload(record, deferred.file, deferred.lifetime_s)
            return public_message(record, rec.name)
        return await self._send(
            rec, pointer, expire_after_s=expire, kind=MessageKind.ATTACHMENT, text=caption, attachment=att
        )

    async def set_timer(self, peer: str, seconds: int) -> Contact:
        """Set the thread's disappearing timer (0 = off); the peer sees the change as a message too."""
        seconds = check_timer(seconds)
        rec = await self._prepare(self._contacts.find(peer))
        rec.timer_s = seconds
        with self._store.transaction():
            self._store.save_contact(rec)
        await self._send(rec, TimerChange(seconds), expire_after_s=0, kind=MessageKind.TIMER)
        self._bus.emit(TimerChanged(rec.name, seconds, False))
        return public_contact(self._store.contact(rec.contact_id) or rec)

    async def delete_for_everyone(self, peer: str, message_id: str) -> bool:
        """Delete one of your own messages here and on the peer's devices; an attachment's encrypted blob is
        deleted from the relay too (best effort: a relay that is down keeps it until it expires). Returns
        whether the peer had told us they filed it into their record: then their record copy remains (their
        client answers the deletion, :class:`~confide.client.events.FiledCopyKept`).

        Raises:
            UnknownMessage: no such message of yours in this thread.
        """
        rec = self._contacts.find(peer)
        msg = self._store.find_message(message_id)
        if msg.contact_id != rec.contact_id or msg.direction != Direction.OUT:
            raise UnknownMessage("you can delete for everyone only your own messages in this thread")
        await self._send_control(await self._prepare(rec), Delete(msg.message_id))
        if msg.attachment is not None:
            await self._attachments.delete_blob(msg.attachment.blob_id)
        self._expiry.delete(msg, "deleted")
        return msg.filed_by_peer

    async def send_kept_owed(self) -> None:
        """Answer the deletes for everyone of messages filed here (owed in the store by the inbox, in the
        transaction that applied the deletion): in ONE transaction, queue a KEPT notice per message (SPEC §8) and
        forget them, then post. Notices to a contact that is gone, cannot be written to or has no session are
        forgotten unsent. Read inside the transaction, so no notice is queued twice; a crash before it leaves
        them owed for the next batch.

        Raises:
            StorageError: nothing was queued or forgotten.
        """
        if not self._store.kept_owed():
            return
        with self._store.transaction():
            owed = self._store.kept_owed()
            for contact_id, target in owed:
                rec = self._store.contact(contact_id)
                if rec is None or rec.token is None or rec.changed or not self._sessions.of(rec):
                    continue
                notice = Content(new_message_id(self._rng), _now_ms(), 0, Filed(FiledKind.KEPT, target))
                self.queue(rec, notice, None)
            self._store.forget_kept_owed()
        await self.flush()

    def delete_message(self, message_id: str) -> None:
        """Delete a message (and its attachment file) from this device only."""
        self._expiry.delete(self._store.find_message(message_id), "deleted")

    def _receipts_allowed(self, rec: ContactRecord) -> bool:
        return rec.token is not None and not rec.changed and not rec.request and bool(self._sessions.of(rec))

    async def schedule_receipts(self) -> None:
        """Send the receipts owed (stored: see the module docstring) after a random delay
        (:data:`RECEIPT_DELAY_MIN_S`–:data:`RECEIPT_DELAY_MAX_S`), all together, so their timing does not link
        them to the deliveries they confirm. Starts the timer if any are owed and none is running; with no
        delay asked for (``receipt_delay_s`` of ``(0, 0)``, tests) sends them now. Failures are logged.

        Raises:
            StorageError: the store cannot be read.
        """
        if not self._store.has_receipts_owed():
            return
        if self.receipt_delay_s[1] <= 0:  # no delay asked for (tests): send now
            await self.send_owed_receipts()
        elif self._receipt_timer is None or self._receipt_timer.done():
            self._receipt_timer = asyncio.get_running_loop().create_task(
                self._send_receipts_later(), name="confide-receipts"
            )

    async def _send_receipts_later(self) -> None:
        low, high = self.receipt_delay_s
        await asyncio.sleep(_jitter.uniform(low, high))
        await self.send_owed_receipts()

    async def receipts_sent(self) -> None:
        """Wait until the receipts owed now have been sent (or failed to): ``sync()`` returns only then."""
        timer = self._receipt_timer
        if timer is not None and not timer.done():
            await asyncio.shield(timer)

    async def send_owed_receipts(self) -> None:
        """Queue every receipt owed (one per contact and kind, several ids each; :meth:`_queue_owed`) and post
        the outbox. Failures are logged: what could not be queued stays owed, and an unreachable relay leaves
        what was queued in the outbox, for the next flush."""
        try:
            contacts = list(dict.fromkeys(o.contact_id for o in self._store.receipts_owed()))
            queued = False
            for contact_id in contacts:
                try:
                    queued |= self._queue_owed(contact_id)
                except ClientError as exc:
                    _log.info("receipts not queued: %s", type(exc).__name__)
            if queued:
                await self._outbox.flush()
        except ClientError as exc:
            _log.info("receipts not sent: %s", type(exc).__name__)

    def _queue_owed(self, contact_id: str) -> bool:
        """In ONE transaction: read the receipts owed to ``contact_id``, queue one receipt per kind covering
        them in the outbox, and remove them. Read inside the transaction (whose write lock another process on
        the profile waits for), so no receipt is queued twice. Receipts to a contact that is gone, or to whom
        receipts are not sent now (:meth:`_receipts_allowed`: a request, an identity change not accepted, no
        session), are removed unsent. Returns whether anything was queued.

        Raises:
            StorageError: nothing was queued or removed.
        """
        with self._store.transaction():
            owed = self._store.receipts_owed(contact_id)
            rec = self._store.contact(contact_id)
            send = bool(owed) and rec is not None and self._receipts_allowed(rec)
            if send:
                assert rec is not None
                for kind in ReceiptKind:
                    ids = [o.message_id for o in owed if o.kind == kind]
                    if ids:
                        self._queue_receipts(rec, kind, ids)
            self._store.forget_receipts_owed(o.rid for o in owed)
        return send

    def _contact_changed(self, rec: ContactRecord) -> None:
        """A contact changed here: queue its snapshot to the other own devices and post it soon, in the
        background (a rename or a verification is not async; without a running loop the next sync posts it)."""
        if not self.self_sync.contact_changed(rec):
            return
        if self._own_flush is None or self._own_flush.done():
            with contextlib.suppress(RuntimeError):  # no running loop
                self._own_flush = asyncio.get_running_loop().create_task(self._flush_logged(), name="confide-own")

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except ClientError as exc:
            _log.info("contact snapshot not posted now: %s", type(exc).__name__)

    async def own_posted(self) -> None:
        """Wait until a contact snapshot queued in the background has been posted (or failed to)."""
        task = self._own_flush
        if task is not None and not task.done():
            await asyncio.shield(task)

    async def close(self, *, send_owed: bool) -> None:
        """Stop the receipt timer and a background post of contact snapshots (they stay queued for the next
        sync); ``send_owed``: send what is owed now (False after a wipe: the profile's files, receipts owed
        included, are being destroyed)."""
        timer, self._receipt_timer = self._receipt_timer, None
        if timer is not None and not timer.done():
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
        own, self._own_flush = self._own_flush, None
        if own is not None and not own.done():
            own.cancel()
            await asyncio.gather(own, return_exceptions=True)
        if send_owed:
            await self.send_owed_receipts()

    def _queue_receipts(self, rec: ContactRecord, kind: ReceiptKind, ids: list[bytes]) -> None:
        for i in range(0, len(ids), MAX_RECEIPT_IDS):
            chunk = tuple(ids[i : i + MAX_RECEIPT_IDS])
            self.queue(rec, Content(new_message_id(self._rng), _now_ms(), 0, Receipt(kind, chunk)), None)

    # -- session reset (SPEC §8) -----------------------------------------------------------------------
    def _reset_allowed(self, key: str, now: int) -> bool:
        last = self._store.get_meta_int(key, 0)
        return not 0 <= now - last < SESSION_RESET_MIN_INTERVAL_S * 1000

    async def reset_session(self, contact_id: str, device_ids: list[bytes]) -> None:
        """Messages from these devices of the contact did not decrypt (one id per message): start fresh sessions
        with them and send a :class:`ResetRequest` on them, so the peer resends what we have not confirmed.

        Skipped for strangers, unaccepted identities, contacts without a token, and within
        :data:`SESSION_RESET_MIN_INTERVAL_S` of the last reset of this contact.

        Raises:
            RelayUnreachable, RelayError: the peer's keys could not be fetched (nothing changed; the next
                undecryptable message tries again).
        """
        rec = self._store.contact(contact_id)
        now = _now_ms()
        if rec is None or rec.token is None or rec.changed or rec.request or rec.identity is None:
            return
        if not self._reset_allowed(_RESET_SENT + contact_id, now):
            _log.info("session reset skipped: one was started less than a minute ago")
            return
        if not await self._sessions.restart(rec, set(device_ids)):
            return
        failed = min(len(device_ids), MAX_RESET_FAILED)
        with self._store.transaction():
            self._store.set_meta_int(_RESET_SENT + contact_id, now)
            self.queue(rec, Content(new_message_id(self._rng), now, 0, ResetRequest(failed)), None)
        await self.flush()
        self._bus.emit(SessionReset(rec.name, False, len(device_ids)))

    async def resend_after_reset(self, contact_id: str, failed: int) -> None:
        """The contact could not decrypt ``failed`` of our messages and asked for a reset (its session is now
        current): send again, on it, every text and file of ours it has not confirmed (``sent`` or
        ``pending``), at most :data:`MAX_RESEND_MESSAGES`, under their original message ids (the peer keeps
        one copy of each). Queued envelopes of those messages, sealed on the old session, are dropped."""
        rec = self._store.contact(contact_id)
        now = _now_ms()
        if rec is None or rec.token is None or rec.changed or rec.request:
            return
        if not self._reset_allowed(_RESET_ANSWERED + contact_id, now):
            _log.info("reset request not answered: one was answered less than a minute ago")
            return
        unconfirmed = (MessageStatus.SENT, MessageStatus.PENDING)
        resend = [
            m
            for m in self._store.thread(contact_id)
            if m.direction == Direction.OUT and m.kind != MessageKind.TIMER and m.status in unconfirmed
        ][-MAX_RESEND_MESSAGES:]
        with self._store.transaction():
            self._store.set_meta_int(_RESET_ANSWERED + contact_id, now)
            self._outbox.drop(contact_id, {m.message_id for m in resend})
            for m in resend:
                self.queue(rec, Content(m.message_id, m.sent_at_ms, m.expire_after_s, _body_of(m)), m, sync=False)
        await self.flush()
        self._bus.emit(SessionReset(rec.name, True, failed, tuple(m.message_id.hex() for m in resend)))

    # -- reading --------------------------------------------------------------------------------------
    def history(self, peer: str) -> list[Message]:
        """The thread with ``peer``, oldest first, without anything past its expiry (deleted first when the
        store can be written; left out in any case)."""
        rec = self._contacts.find(peer)
        self._expiry.before_read()
        now = _now_ms()
        return [public_message(m, sender_name(rec, m)) for m in self._store.thread(rec.contact_id) if is_live(m, now)]

    async def mark_read(self, peer: str, *, now_ms: int | None = None) -> int:
        """Mark the peer's unread messages read (starting their timers) and send READ receipts; returns how
        many were marked."""
        rec = self._contacts.find(peer)
        now = _now_ms() if now_ms is None else now_ms
        unread = any(
            m.direction == Direction.IN and m.status == MessageStatus.UNREAD for m in self._store.thread(rec.contact_id)
        )
        if unread:  # sessions with the other own devices, to tell them (without: they are told when there are)
            with contextlib.suppress(RelayUnreachable, RelayError):
                await self._sessions.ensure_own()
        ids = []
        owe = self._receipts_allowed(rec)
        with self._store.transaction():
            for m in self._store.thread(rec.contact_id):
                if m.direction == Direction.IN and m.status == MessageStatus.UNREAD:
                    m.status = MessageStatus.READ
                    m.expires_at_ms = expiry_from(now, m.expire_after_s)
                    self._store.save_message(m)
                    ids.append(m.message_id)
            if ids and owe:  # owed in the transaction that marks them read (see the module docstring)
                self._store.owe_receipts(rec.contact_id, ReceiptKind.READ, ids)
            synced = self.self_sync.queue_read(rec, ids) if ids else 0  # read on the other own devices too
        if synced:
            await self.flush()
        if ids and owe:
            with contextlib.suppress(ClientError):
                await self.schedule_receipts()
        return len(ids)


def _body_of(m: MessageRecord) -> Body:
    """The content body of one of our stored texts or files, to send it again."""
    att = m.attachment
    if m.kind == MessageKind.ATTACHMENT and att is not None:
        return AttachmentPointer(att.blob_id, att.key, att.digest, att.size, att.name, att.mime, att.caption)
    return Text(m.text)
