"""The inbox and the search across every thread (:meth:`Client.threads`, :meth:`Client.search`), answered from an
index held in memory only.

The store seals every message, so no SQL can count a thread's unread messages or find a word. The first call
opens every message row once and keeps, per row, what the inbox and the search need: the public
:class:`~confide.client.models.Message` (never an attachment's key), its casefolded searchable text (text,
caption, file name), its thread, its place in the store's order and its fingerprint (the sealed value's
authentication tag, :meth:`Store.message_fingerprints`). Nothing of the index is ever written to a file;
closing the client drops it.

Following changes, made here or by another process on the same profile: before every answer
:meth:`Store.change_stamp` says whether anything was written since the last look (one pragma, no row read). When
only this connection wrote, the rows it wrote are opened again (:meth:`Store.take_message_changes`). When another
connection did, each thread's fingerprints joined (:meth:`Store.thread_fingerprints`, one pass in SQLite) tell
which threads changed, and in those the rows' fingerprints, read without opening a row, are compared with the
index. Either way a row that is new or was written again (a receipt, a read mark, a move to another thread) is
opened again, and a row that is gone (deleted, expired and swept, its contact removed) leaves the index before the
answer is given, so a search never finds a deleted message. What is past its timer is left out of every answer by
the clock, whether or not a sweep has deleted its row yet. An inbox line is recomputed only when its thread changed
or one of its messages expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace

from .errors import ClientError
from .models import Contact, Direction, Message, MessageKind, MessageStatus, ThreadSummary
from .records import ContactRecord, MessageRecord
from .store import Store
from .views import public_message, sender_name

INDEX_PAGE_ROWS = 500
"""Message rows opened at a time while the index is built: a few tens of milliseconds of work, so a build in the
background (:meth:`Threads.prepare`) never holds the event loop longer, and only one page of sealed rows is in
memory at once."""

MAX_SEARCH_QUERY_CHARS = 256
"""The longest search query: enough for any phrase a person looks for, and it bounds the work one query can ask
of every message in the profile (a substring test is linear in the query's length)."""

DEFAULT_SEARCH_LIMIT = 100
"""How many matches :meth:`Client.search` returns unless told otherwise: a screenful of results; a person
narrows a query rather than reading further."""

_REPLIES = frozenset({MessageKind.TEXT, MessageKind.ATTACHMENT})
"""The entries that are a message a person wrote (a timer change is neither a reply nor something to answer)."""

_SEPARATOR = "\x00"
"""Between the searchable fields of one message in its haystack; a query holding it is checked field by field,
so it never matches across two of them."""


@dataclass(slots=True, eq=False)
class _Entry:
    """One indexed message row: ``message`` is its public form with an empty ``peer`` (named at answer time)."""

    fingerprint: bytes
    contact_id: str
    seq: int
    message: Message
    haystack: str

    def live(self, now: int) -> bool:
        expires = self.message.expires_at_ms
        return expires is None or expires > now


@dataclass(frozen=True, slots=True)
class _Line:
    """A thread's inbox line as computed at some time, valid until ``valid_until`` (its next expiry) or a change."""

    last: Message | None
    unread: int
    waiting_since_ms: int | None
    valid_until: int | None


def _fields(m: Message) -> list[str]:
    """What a search looks in, casefolded: the text (a file's caption), the caption and the file name."""
    fields = [m.text]
    if m.attachment is not None:
        if m.attachment.caption != m.text:
            fields.append(m.attachment.caption)
        fields.append(m.attachment.name)
    folded = [(f, f.casefold()) for f in fields if f]
    return [f if f == c else c for f, c in folded]  # already casefolded: share the message's own string


def _line(entries: Sequence[_Entry], now: int) -> _Line:
    """The inbox line of one thread's entries (in thread order) at ``now``."""
    live = [e for e in entries if e.live(now)]
    unread = 0
    waiting: int | None = None
    for e in live:
        m = e.message
        if m.direction == Direction.OUT:
            if m.kind in _REPLIES:
                waiting = None  # answered: only what came after this can be waiting
        elif m.status == MessageStatus.UNREAD:
            unread += 1
            if waiting is None and m.kind in _REPLIES:
                waiting = m.received_at_ms
    expiries = [e.message.expires_at_ms for e in live if e.message.expires_at_ms is not None]
    return _Line(live[-1].message if live else None, unread, waiting, min(expiries) if expiries else None)


TAIL_BATCH_ROWS = 16
"""Rows opened at a time from a thread's newest end for a quick inbox line (:meth:`Threads.summaries` while the
index is being built): a thread's line usually needs only its last few messages."""


def _tail_line(rows: Iterator[tuple[int, str, int, bytes, MessageRecord]], now: int) -> _Line:
    """A thread's inbox line from its newest rows back, read only until an incoming message already read: the
    person reads a thread as a whole (:meth:`Client.mark_read` marks every unread message of it), so whatever is
    older is read too and changes neither the unread count nor since when they have been waiting."""
    newest_first: list[_Entry] = []
    for _, _row_id, seq, fingerprint, rec in rows:
        entry = _Entry(fingerprint, rec.contact_id, seq, public_message(rec, ""), "")
        newest_first.append(entry)
        m = entry.message
        if entry.live(now) and m.direction == Direction.IN and m.status == MessageStatus.READ:
            break
    return _line(newest_first[::-1], now)


class Threads:
    """The in-memory index of every message of one profile, and the inbox and search answered from it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._stamp: tuple[int, int] | None = None
        self._entries: dict[str, _Entry] = {}
        self._by_thread: dict[str, dict[str, _Entry]] = {}
        self._lines: dict[str, _Line] = {}
        self._newest_first: list[_Entry] | None = None
        self._thread_ids: dict[str, str] = {}
        self._thread_summaries: dict[str, str] = {}
        """Each thread's :meth:`Store.thread_fingerprints` when its rows were last compared with the index (it may
        be older than the index, never newer: a thread that differs is compared row by row)."""
        self._pending: tuple[tuple[int, int], int] | None = None
        """A build under way (:meth:`prepare`): the stamp it started at and the position of its next page."""

    async def prepare(self) -> None:
        """Build the index a page of :data:`INDEX_PAGE_ROWS` rows at a time, letting the event loop run between
        pages, so that a front end starting up stays responsive while it is built. An answer asked for meanwhile
        builds it at once itself (and this stops); what is written meanwhile is read again by the next answer.

        Raises:
            StorageError: a row does not open.
        """
        stamp = self._store.change_stamp()
        if self._stamp is not None or self._pending is not None or stamp[1] < 0:
            return  # built or under way already, or inside a transaction: the first answer builds it
        self.forget()
        self._store.take_message_changes()  # from now on, what this connection writes is read again afterwards
        self._thread_summaries = self._store.thread_fingerprints()  # before any row is read
        self._pending = (stamp, 0)
        while self._pending is not None:
            started, position = self._pending
            after = self._index_page(position)
            if after is None:
                self._pending, self._stamp = None, started  # what was written since: compared or read again next
                return
            self._pending = (started, after)
            await asyncio.sleep(0)  # meanwhile an answer may finish the build, or the client close

    def forget(self) -> None:
        """Drop the whole index (the client is closing or locking): the next answer builds it again."""
        self._pending = None
        self._stamp = None
        self._entries = {}
        self._by_thread = {}
        self._lines = {}
        self._newest_first = None
        self._thread_ids = {}
        self._thread_summaries = {}

    # -- following the store ----------------------------------------------------------------------------
    def _put(self, row_id: str, seq: int, fingerprint: bytes, rec: MessageRecord) -> None:
        """Index a row as opened (new, or written again)."""
        message = public_message(rec, "")
        fields = _fields(message)
        haystack = fields[0] if len(fields) == 1 else _SEPARATOR.join(fields)  # one field: shares its string
        contact_id = self._thread_ids.setdefault(rec.contact_id, rec.contact_id)  # one string per thread
        entry = self._entries.get(row_id)
        if entry is not None and entry.seq == seq:  # written again in place: it keeps its place in the order
            self._lines.pop(entry.contact_id, None)
            if entry.contact_id != contact_id:  # moved to another thread
                old = self._by_thread[entry.contact_id]
                old.pop(row_id, None)
                if not old:
                    del self._by_thread[entry.contact_id]
                self._by_thread.setdefault(contact_id, {})[row_id] = entry
            entry.fingerprint, entry.contact_id, entry.message, entry.haystack = (
                fingerprint,
                contact_id,
                message,
                haystack,
            )
            self._lines.pop(contact_id, None)
            return
        self._drop(row_id)
        entry = _Entry(fingerprint, contact_id, seq, message, haystack)
        self._entries[row_id] = entry
        self._by_thread.setdefault(contact_id, {})[row_id] = entry
        self._lines.pop(contact_id, None)
        order = self._newest_first
        if order is not None and (not order or order[0].seq < seq):
            order.insert(0, entry)  # the newest message: it goes first
        else:
            self._newest_first = None  # sorted again by the next search

    def _drop(self, row_id: str) -> None:
        """Take a row out of the index (deleted, or gone with its thread)."""
        entry = self._entries.pop(row_id, None)
        if entry is None:
            return
        thread = self._by_thread.get(entry.contact_id)
        if thread is not None:
            thread.pop(row_id, None)
            if not thread:
                del self._by_thread[entry.contact_id]
        self._lines.pop(entry.contact_id, None)
        if self._newest_first is not None:
            self._newest_first.remove(entry)  # by identity: entries never compare equal

    def _refresh(self) -> None:
        """Bring the index up to what the store holds now (see the module docstring).

        Raises:
            StorageError: a changed row does not open.
        """
        if self._pending is not None:  # finish the build under way first
            started, position = self._pending
            self._pending = None
            self._index_from(position)
            self._stamp = started
        stamp = self._store.change_stamp()  # before the reads below: a write landing during them is seen next time
        if stamp == self._stamp:
            return
        last, self._stamp = self._stamp, stamp
        in_transaction = stamp[1] < 0  # what it wrote may be rolled back: those rows are read again afterwards
        if last is None:
            self.forget()
            self._stamp = stamp
            if not in_transaction:
                self._store.take_message_changes()  # every row is read now
                self._thread_summaries = self._store.thread_fingerprints()  # before any row is read
            self._index_from(0)
        elif last[0] == stamp[0] and not in_transaction and last[1] >= 0:
            changes = self._store.take_message_changes()  # only this connection wrote: read what it wrote
            if changes is None:
                self._compare()  # too many to remember
                return
            rows, threads = changes
            for contact_id in threads:
                for row_id in list(self._by_thread.get(contact_id, {})):
                    self._drop(row_id)
            self._reread(rows)
        else:
            if not in_transaction:
                self._store.take_message_changes()  # the comparison below sees them
            self._compare()

    def _compare(self) -> None:
        """Another connection wrote: find the threads whose rows differ from when they were last compared (one
        summary per thread), and in those the rows whose fingerprints differ from the index's; open those again.

        Raises:
            StorageError: a changed row does not open.
        """
        summaries = self._store.thread_fingerprints()  # before the rows are read: a later write shows next time
        for contact_id in self._by_thread.keys() - summaries.keys():
            self._reread(list(self._by_thread.get(contact_id, {})))  # every row gone (or moved: read where it is now)
        for contact_id, summary in summaries.items():
            if self._thread_summaries.get(contact_id) == summary:
                continue
            present: set[str] = set()
            stale: list[str] = []
            for row_id, fingerprint in self._store.message_fingerprints(contact_id):
                present.add(row_id)
                entry = self._entries.get(row_id)
                if entry is None or entry.fingerprint != fingerprint or entry.contact_id != contact_id:
                    stale.append(row_id)
            gone = [row_id for row_id in self._by_thread.get(contact_id, {}) if row_id not in present]
            self._reread(stale + gone)  # a row gone from this thread may have moved to another one
            self._thread_summaries[contact_id] = summary
        for contact_id in self._thread_summaries.keys() - summaries.keys():
            del self._thread_summaries[contact_id]

    def _index_page(self, position: int) -> int | None:
        """Open and index the :data:`INDEX_PAGE_ROWS` rows after ``position``; where the next page starts, or None
        after the last.

        Raises:
            StorageError: a row does not open.
        """
        page = self._store.messages_after(position, INDEX_PAGE_ROWS)
        for _, row_id, seq, fingerprint, rec in page:
            self._put(row_id, seq, fingerprint, rec)
        return page[-1][0] if page else None

    def _index_from(self, position: int | None) -> None:
        """Open and index every row after ``position``, a page at a time.

        Raises:
            StorageError: a row does not open.
        """
        while position is not None:
            position = self._index_page(position)

    def _reread(self, row_ids: Collection[str]) -> None:
        """Open these rows again: a row gone from the store leaves the index.

        Raises:
            StorageError: a row does not open.
        """
        if not row_ids:
            return
        found = set()
        for row_id, seq, fingerprint, rec in self._store.messages_at(row_ids):
            found.add(row_id)
            self._put(row_id, seq, fingerprint, rec)
        for row_id in row_ids:
            if row_id not in found:
                self._drop(row_id)

    # -- answers ----------------------------------------------------------------------------------------
    def summaries(self, contacts: Sequence[tuple[ContactRecord, Contact]], now: int) -> list[ThreadSummary]:
        """Every contact's inbox line at ``now``: the most recent activity first, then threads without messages
        by name. While a build started by :meth:`prepare` is under way, each line is read from its thread's
        newest rows instead (:func:`_tail_line`), so a front end's first inbox does not wait for every message of
        the profile to be opened; the index answers once built.

        Raises:
            StorageError: a changed row does not open.
        """
        building = self._pending is not None
        if not building:
            self._refresh()
        out = []
        for rec, contact in contacts:
            if building:  # the background build goes on: answer from each thread's newest rows meanwhile
                line = _tail_line(self._store.thread_newest_first(rec.contact_id, TAIL_BATCH_ROWS), now)
            else:
                cached = self._lines.get(rec.contact_id)
                if cached is None or (cached.valid_until is not None and cached.valid_until <= now):
                    thread = self._by_thread.get(rec.contact_id, {})
                    cached = _line(sorted(thread.values(), key=lambda e: e.seq), now)
                    self._lines[rec.contact_id] = cached
                line = cached
            last = None if line.last is None else replace(line.last, peer=sender_name(rec, line.last))
            activity = None if last is None else last.received_at_ms
            out.append(ThreadSummary(contact, activity, last, line.unread, line.waiting_since_ms))
        out.sort(key=lambda t: (t.last_activity_ms is None, -(t.last_activity_ms or 0), t.contact.name.casefold()))
        return out

    def search(self, query: str, contacts: Sequence[ContactRecord], now: int, *, limit: int) -> list[Message]:
        """The live messages of these contacts' threads whose text, caption or file name contains ``query``
        (case-insensitive), newest first (the order the store holds them in), at most ``limit``; none for a
        blank query.

        Raises:
            ClientError: the query is longer than :data:`MAX_SEARCH_QUERY_CHARS`.
            ValueError: ``limit`` is below 1.
            StorageError: a changed row does not open.
        """
        if limit < 1:
            raise ValueError("the limit must be at least 1")
        if len(query) > MAX_SEARCH_QUERY_CHARS:
            raise ClientError(f"a search is at most {MAX_SEARCH_QUERY_CHARS} characters; shorten it")
        needle = query.casefold()
        if not needle.strip():
            return []
        self._refresh()
        if self._newest_first is None:
            self._newest_first = sorted(self._entries.values(), key=lambda e: e.seq, reverse=True)
        owners = {rec.contact_id: rec for rec in contacts}
        across = _SEPARATOR in needle  # could span two fields of the haystack: check each field alone
        found: list[Message] = []
        for entry in self._newest_first:
            if needle not in entry.haystack or not entry.live(now):
                continue
            if across and not any(needle in f for f in _fields(entry.message)):
                continue
            rec = owners.get(entry.contact_id)
            if rec is None:
                continue
            found.append(replace(entry.message, peer=sender_name(rec, entry.message)))
            if len(found) == limit:
                break
        return found
