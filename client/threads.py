"""The inbox and the search across every thread (:meth:`Client.threads`, :meth:`Client.search`), answered from an
index held in memory only.

The store seals every message, so no SQL can count a thread's unread messages or find a word. The first call
opens every message row once and keeps, per row, what the inbox and the search need: the public
:class:`~confide.client.models.Message` (never an attachment's key), its casefolded searchable text (text,
caption, file name), its thread, its place in the store's order and its fingerprint (the sealed value's
authentication tag, :meth:`Store.message_fingerprints`). Nothing of the index is ever written to a file;
closing the client drops it.

Following changes, made here or by another process on the same profile: before every answer
:meth:`Store.change_stamp` says whether anything was committed since the last look (one pragma, no row read).
Only then are the rows' fingerprints read, without opening a row, and compared with the index: a row that is new
or was written again (a receipt, a read mark, a move to another thread) is opened again, and a row that is gone
(deleted, expired and swept, its contact removed) leaves the index before the answer is given, so a search never
finds a deleted message. What is past its timer is left out of every answer by the clock, whether or not a sweep
has deleted its row yet. An inbox line is recomputed only when its thread changed or one of its messages expired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .errors import ClientError
from .models import Contact, Direction, Message, MessageKind, MessageStatus, ThreadSummary
from .records import ContactRecord, MessageRecord
from .store import Store
from .views import public_message, sender_name

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


@dataclass(slots=True)
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
    return [f.casefold() for f in fields if f]


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


class Threads:
    """The in-memory index of every message of one profile, and the inbox and search answered from it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._stamp: tuple[int, int] | None = None
        self._entries: dict[str, _Entry] = {}
        self._by_thread: dict[str, dict[str, _Entry]] = {}
        self._lines: dict[str, _Line] = {}
        self._newest_first: list[_Entry] | None = None

    def forget(self) -> None:
        """Drop the whole index (the client is closing or locking): the next answer builds it again."""
        self._stamp = None
        self._entries = {}
        self._by_thread = {}
        self._lines = {}
        self._newest_first = None

    # -- following the store ----------------------------------------------------------------------------
    def _put(self, row_id: str, seq: int, fingerprint: bytes, rec: MessageRecord) -> None:
        self._drop(row_id)
        message = public_message(rec, "")
        entry = _Entry(fingerprint, rec.contact_id, seq, message, _SEPARATOR.join(_fields(message)))
        self._entries[row_id] = entry
        self._by_thread.setdefault(rec.contact_id, {})[row_id] = entry
        self._lines.pop(rec.contact_id, None)

    def _drop(self, row_id: str) -> None:
        entry = self._entries.pop(row_id, None)
        if entry is None:
            return
        thread = self._by_thread.get(entry.contact_id)
        if thread is not None:
            thread.pop(row_id, None)
            if not thread:
                del self._by_thread[entry.contact_id]
        self._lines.pop(entry.contact_id, None)

    def _refresh(self) -> None:
        """Bring the index up to what the store holds now (see the module docstring).

        Raises:
            StorageError: a changed row does not open.
        """
        stamp = self._store.change_stamp()  # first: a write landing during the reads below is seen next time
        if stamp == self._stamp:
            return
        if self._stamp is None:
            self.forget()  # also clears the order
            for row_id, seq, fingerprint, rec in self._store.messages_at(None):
                self._put(row_id, seq, fingerprint, rec)
        else:
            present: set[str] = set()
            stale: list[str] = []
            for row_id, contact_id, fingerprint in self._store.message_fingerprints():
                present.add(row_id)
                entry = self._entries.get(row_id)
                if entry is None or entry.fingerprint != fingerprint or entry.contact_id != contact_id:
                    stale.append(row_id)
            gone = self._entries.keys() - present
            for row_id in [*gone, *stale]:
                self._drop(row_id)  # a stale row too: it may have been deleted between the two reads
            for row_id, seq, fingerprint, rec in self._store.messages_at(stale):
                self._put(row_id, seq, fingerprint, rec)
            if gone or stale:
                self._newest_first = None
        self._stamp = stamp

    # -- answers ----------------------------------------------------------------------------------------
    def summaries(self, contacts: Sequence[tuple[ContactRecord, Contact]], now: int) -> list[ThreadSummary]:
        """Every contact's inbox line at ``now``: the most recent activity first, then threads without messages
        by name.

        Raises:
            StorageError: a changed row does not open.
        """
        self._refresh()
        out = []
        for rec, contact in contacts:
            line = self._lines.get(rec.contact_id)
            if line is None or (line.valid_until is not None and line.valid_until <= now):
                thread = self._by_thread.get(rec.contact_id, {})
                line = _line(sorted(thread.values(), key=lambda e: e.seq), now)
                self._lines[rec.contact_id] = line
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
