"""Franking inside messages, and reports of them (SPEC 13.6, 13.9): both sides of a thread.

**Sending.** A text or file to a contact is franked (:func:`~confide.protocol.content.frank_content`) when two
things are known: the judge (the one the contact asked for with a FRANKING_KEY notice, else the thread's own:
the moderation key of a trusted practice, :meth:`Judges.judge_for`) and the contact's franking key (their
binding, scope ``peer-franking``, checked against their pinned identity each time it is used). Otherwise it
goes unfranked, as before franking existed. Franking happens where a content is encrypted
(:meth:`~confide.client.messaging.Messaging.queue`), so a resend after a session reset, a retry and a deferred
upload are franked like a first send. A FRANKED content carries the message id, clock and expiry of the
content it wraps: receipts, deletes, filing and timers name the same message whether or not it was franked.

**Franking key notices (SPEC 8, type 9).** A thread started from an invite or a directory listing carries no
franking key, so nobody could frank. When a thread has a judge of its own, the first text or file to the
contact is preceded (in the same transaction, so queued in order) by a FRANKING_KEY notice: this profile's
binding and that judge key; sent again only when the judge changes (scope ``franking-notice`` remembers the one
sent). A notice received is kept (binding in ``peer-franking``, judge in ``peer-judge``) only from an accepted
contact (not a message request, not an identity change pending) whose identity the binding verifies for; it is
never a message of the thread.

**Receiving.** The inbox unwraps a FRANKED content and processes the inner content exactly as if it had come
alone (every receiving rule applies), and calls :meth:`Reporting.received` in the transaction that stores the
message. When :func:`~confide.protocol.content.check_franked` holds for this profile's franking key and the
sender's pinned identity, the sender's binding is remembered (so replies are franked for them), and when the
judge is the moderation key of a practice this profile trusts (:meth:`Judges.practice_of_judge`), what a report
needs is stored and the message is marked reportable (:attr:`~confide.client.models.Message.reportable`).

**A franking that fails is not shown.** The message is stored and shown exactly as an unfranked one, only not
reportable. A failed franking gives the recipient nothing less than an unfranked message would (which any
sender may send), a warning would be text a hostile sender could trigger at will, and the receiving rule of
SPEC 13.6 asks only that such a message never be offered for reporting. Messages from an identity the user has
not accepted for the contact (an identity change pending) are never reportable and teach no binding: the
franking key is learnt only for the pinned identity.

**What is stored** (sealed rows of the ``docs`` table, :mod:`confide.client.peer_documents`):

- ``peer-franking`` / the contact's address: their binding (96 bytes), owned by the contact row;
- ``franked`` / the message id: the sender's identity (128 bytes) then the FRANKED content's exact bytes,
  owned by the contact row and deleted with the message (:meth:`~confide.client.store.Store.delete_message`:
  a timer, a delete, a delete for everyone) or with the contact.

**Reports.** :meth:`Reporting.report` builds the report file (:class:`~confide.protocol.report_file.ReportFile`)
of a reportable message: the judge key, both identities with their bindings, the time, and the report (the
franked bytes and their franking). It proves something only to the practice holding the judge key.

This profile's franking key is derived from its identity once (:func:`franking_key_of`) and kept in memory only.
"""

from __future__ import annotations

import logging
from typing import Protocol

from confide.keys.encoding import RNG
from confide.keys.errors import InvalidSignature, MalformedKey
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityKeyPair, IdentityPublicKey
from confide.protocol.content import (
    FRANKABLE_TYPES,
    Content,
    Franked,
    FrankingKeyNotice,
    check_franked,
    frank_content,
    new_message_id,
)
from confide.protocol.document_bodies import MAX_TIMESTAMP
from confide.protocol.errors import MalformedFranking, RemoteProtocolError
from confide.protocol.franking import FrankingPublicKey
from confide.protocol.franking_binding import FrankingBinding, franking_key_of
from confide.protocol.report_file import ReportFile

from .contacts import Contacts
from .errors import NotReportable, StorageError, UnknownMessage
from .models import Direction
from .peer_documents import FRANKED, FRANKING_NOTICE, PEER_FRANKING, PEER_JUDGE
from .records import ContactRecord, MessageRecord
from .store import Store

_log = logging.getLogger(__name__)


class Judges(Protocol):
    """Which practice judges a thread (implemented by :class:`~confide.client.practices.Practices`)."""

    def judge_for(self, contact_address: bytes) -> FrankingPublicKey | None:
        """The moderation key messages to ``contact_address`` are franked for, or None (not franked)."""
        ...

    def practice_of_judge(self, judge: FrankingPublicKey) -> bytes | None:
        """The address of the trusted practice whose current policy has the moderation key ``judge``, or None."""
        ...


class Reporting:
    """Franks outgoing texts and files, keeps what makes received ones reportable, and builds reports."""

    def __init__(
        self, store: Store, identity: IdentityKeyPair, contacts: Contacts, judges: Judges, *, rng: RNG
    ) -> None:
        self._store = store
        self._identity = identity
        self._own = franking_key_of(identity)
        self._binding = FrankingBinding.bind(identity)
        self._contacts = contacts
        self._judges = judges
        self._rng = rng

    # -- sending --------------------------------------------------------------------------------------
    def peer_binding(self, rec: ContactRecord) -> FrankingBinding | None:
        """The contact's franking key binding when one is stored and verifies for their pinned identity, else
        None (none learnt yet, an identity change pending, or one learnt for an identity since replaced).

        Raises:
            StorageError: the store cannot be read.
        """
        if rec.identity is None or rec.changed:
            return None
        raw = self._store.get_doc(PEER_FRANKING, rec.address)
        if raw is None:
            return None
        try:
            binding = FrankingBinding.from_bytes(raw)
            identity = IdentityPublicKey.from_bytes(rec.identity)
        except (MalformedFranking, MalformedKey, InvalidSignature):
            return None
        return binding if binding.holds_for(identity) else None

    def peer_judge(self, rec: ContactRecord) -> FrankingPublicKey | None:
        """The judge key the contact asked to be franked for (their FRANKING_KEY notice), or None.

        Raises:
            StorageError: the store cannot be read.
        """
        raw = self._store.get_doc(PEER_JUDGE, rec.address)
        if raw is None:
            return None
        try:
            return FrankingPublicKey.from_bytes(raw)
        except MalformedFranking:
            return None

    def notice_for(self, rec: ContactRecord, content: Content) -> Content | None:
        """The FRANKING_KEY notice to send the contact ``rec`` before ``content``: when ``content`` is a text or
        file, the thread has a judge of its own (:meth:`Judges.judge_for`) and no notice naming that judge was
        sent to them yet; else None. Call :meth:`notice_sent` in the transaction that queues it.

        Raises:
            StorageError: the store cannot be read.
        """
        if not isinstance(content, Content) or content.type not in FRANKABLE_TYPES:
            return None
        judge = self._judges.judge_for(rec.address)
        if judge is None or self._store.get_doc(FRANKING_NOTICE, rec.address) == judge.to_bytes():
            return None
        notice = FrankingKeyNotice(self._binding, judge)
        return Content(new_message_id(self._rng), content.sent_at_ms, 0, notice)

    def notice_sent(self, rec: ContactRecord, notice: Content) -> None:
        """Remember that ``notice`` (from :meth:`notice_for`) is queued to ``rec``: inside that transaction."""
        body = notice.body
        assert isinstance(body, FrankingKeyNotice)
        self._store.put_doc(FRANKING_NOTICE, rec.address, body.judge.to_bytes(), owner=rec.contact_id)

    def franks(self, rec: ContactRecord) -> bool:
        """Whether texts and files sent to ``rec`` are franked now (a judge and their franking key are known): then
        every content of the thread is padded to :data:`~confide.protocol.padding.FRANKED_THREAD_BUCKET`.

        Raises:
            StorageError: the store cannot be read.
        """
        judge = self.peer_judge(rec) or self._judges.judge_for(rec.address)
        return judge is not None and self.peer_binding(rec) is not None

    def frank(self, rec: ContactRecord, content: Content) -> Content:
        """``content`` franked for the contact ``rec`` when it is a text or file, a judge is known (the one they
        asked for, else the thread's own) and the contact's franking key is known; otherwise ``content``
        unchanged (sent unfranked).

        Raises:
            StorageError: the store cannot be read (nothing was sent).
        """
        if not isinstance(content, Content) or content.type not in FRANKABLE_TYPES:
            return content
        judge = self.peer_judge(rec) or self._judges.judge_for(rec.address)
        if judge is None:
            return content
        binding = self.peer_binding(rec)
        if binding is None:
            return content
        return frank_content(content, sender=self._identity, recipient_key=binding.key, judge=judge, rng=self._rng)

    # -- receiving ------------------------------------------------------------------------------------
    def received(self, rec: ContactRecord, content: Content, *, flagged: bool) -> bool:
        """Called by the inbox, in the transaction that stores the message ``content`` (a FRANKED content from
        the contact ``rec``): remember the sender's binding and, for a trusted judge, what a report needs.
        Returns whether the message is reportable. A franking that does not hold changes nothing (see the
        module docstring) and returns False.

        Raises:
            StorageError: the store cannot be read or written (the whole delivery is rolled back).
        """
        body = content.body
        if not isinstance(body, Franked) or flagged or rec.identity is None or rec.changed:
            return False
        sender = IdentityPublicKey.from_bytes(rec.identity)
        if not check_franked(content, recipient=self._own, sender_identity=sender):
            _log.info("a franked message did not verify: stored, not reportable")
            return False
        self._store.put_doc(PEER_FRANKING, rec.address, body.binding.to_bytes(), owner=rec.contact_id)
        if self._judges.practice_of_judge(body.judge) is None:
            return False
        stored = sender.to_bytes() + content.to_bytes()
        self._store.put_doc(FRANKED, content.message_id, stored, owner=rec.contact_id)
        return True

    def key_notice(self, rec: ContactRecord, notice: FrankingKeyNotice, *, flagged: bool) -> None:
        """A FRANKING_KEY notice from ``rec``, in the inbox's transaction: keep their binding and the judge they
        asked for, when the identity is the pinned one (not ``flagged``, no identity change pending) and the
        binding verifies for it; otherwise ignore it. A message request's notice is kept too (its identity is
        pinned on first use): it only says how to frank for them, nothing is sent back before the user replies
        or accepts, and a client starting a thread from a directory listing is always a request at first.

        Raises:
            StorageError: the store cannot be read or written (the whole delivery is rolled back).
        """
        if flagged or rec.changed or rec.identity is None:
            _log.info("ignoring a franking key notice from an identity not accepted")
            return
        if not notice.binding.holds_for(IdentityPublicKey.from_bytes(rec.identity)):
            _log.info("ignoring a franking key notice whose binding does not verify")
            return
        self._store.put_doc(PEER_FRANKING, rec.address, notice.binding.to_bytes(), owner=rec.contact_id)
        self._store.put_doc(PEER_JUDGE, rec.address, notice.judge.to_bytes(), owner=rec.contact_id)

    # -- reporting ------------------------------------------------------------------------------------
    def _franked(self, peer: str, message_id: str) -> tuple[IdentityPublicKey, Content]:
        rec = self._contacts.find(peer)
        msg = self._store.find_message(message_id)
        if msg.contact_id != rec.contact_id:
            raise UnknownMessage("no message with that id in this thread")
        if msg.direction != Direction.IN:
            raise NotReportable("you can report only a message you received, not one you sent")
        return self._stored(msg)

    def _stored(self, msg: MessageRecord) -> tuple[IdentityPublicKey, Content]:
        raw = self._store.get_doc(FRANKED, msg.message_id)
        if raw is None or not msg.reportable:
            raise NotReportable(
                "this message cannot be reported: it was not franked for the moderation key of a practice you "
                "trust (or its franking did not verify)"
            )
        try:
            sender = IdentityPublicKey.from_bytes(raw[:IDENTITY_PUBLIC_LEN])
            content = Content.from_bytes(raw[IDENTITY_PUBLIC_LEN:])
        except (MalformedKey, InvalidSignature, RemoteProtocolError) as exc:
            raise StorageError("a stored reportable message is damaged; restore the profile") from exc
        if not isinstance(content.body, Franked) or content.message_id != msg.message_id:
            raise StorageError("a stored reportable message is damaged; restore the profile")
        return sender, content

    def judge_of(self, peer: str, message_id: str) -> FrankingPublicKey:
        """The judge key a reportable message was franked for: the practice to send its report to.

        Raises:
            UnknownContact; UnknownMessage; NotReportable; StorageError: as :meth:`report`.
        """
        _sender, content = self._franked(peer, message_id)
        assert isinstance(content.body, Franked)
        return content.body.judge

    def report(self, peer: str, message_id: str, *, now_s: int) -> bytes:
        """The report file (SPEC 13.9) of the message ``message_id`` received from ``peer``, made at ``now_s``
        (unix seconds): what the user sends to the practice whose moderation key the message was franked for.

        Raises:
            UnknownContact: no such contact. UnknownMessage: no such live message in this thread.
            NotReportable: a message this profile sent, or one not franked for a trusted practice's moderation
                key (or whose franking did not verify). StorageError: the stored data is damaged.
        """
        sender, content = self._franked(peer, message_id)
        reported_at = min(max(now_s, 0), MAX_TIMESTAMP)
        return ReportFile.of_franked(
            content, sender=sender, recipient=self._identity, reported_at=reported_at
        ).to_bytes()


__all__ = ["Judges", "Reporting"]
