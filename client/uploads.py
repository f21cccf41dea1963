"""Files sent while the relay is unreachable: kept encrypted and uploaded on the next sync.

A text to a contact with a session is encrypted and queued when the relay is down; a file was not, because
its pointer names the blob id the relay assigns on upload. Now :meth:`Attachments.upload` keeps the
encrypted file (it never holds plaintext) in the profile's ``tmp`` folder when the relay cannot be reached;
the message is stored ``pending`` with the attachment's key, digest and size, and its id goes on the list
:data:`PENDING_META` (sealed, in the store). :meth:`PendingUploads.flush`, called by ``sync()`` before the
outbox is posted, uploads each kept file, sends the pointer under the same message id (encrypted on the
current session, like any message) and removes the file. A relay that refuses the upload for good marks the
message ``failed`` with its reason; one that is still down leaves everything as it is for the next sync. A
message deleted or expired meanwhile loses its kept file too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path

from confide.protocol.content import AttachmentPointer, Content

from .attachments import Attachments
from .errors import RelayError, RelayUnreachable
from .models import MessageStatus
from .outbox import TRANSIENT_RELAY_STATUSES
from .profile import ProfilePaths
from .records import ContactRecord, MessageRecord
from .store import Store

PENDING_META = "uploads.pending"
"""Meta key of the JSON list ``[{"message_id": hex, "file": name, "lifetime_s": n}]`` of kept uploads."""

Queue = Callable[[ContactRecord, Content, MessageRecord | None], None]
"""``Messaging.queue``: encrypt a content for a contact, commit it with its message record and the outbox."""


class PendingUploads:
    """The files of ``pending`` attachment messages, waiting for the relay."""

    def __init__(self, store: Store, paths: ProfilePaths, attachments: Attachments, queue: Queue) -> None:
        self._store = store
        self._paths = paths
        self._attachments = attachments
        self._queue = queue
        self._lock = asyncio.Lock()

    def _entries(self) -> list[dict[str, object]]:
        raw = self._store.get_meta(PENDING_META)
        if raw is None:
            return []
        entries = json.loads(raw)
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    def _save(self, entries: list[dict[str, object]]) -> None:
        self._store.set_meta(PENDING_META, json.dumps(entries).encode())

    def add(self, record: MessageRecord, file: Path, lifetime_s: int) -> None:
        """Store ``record`` (``pending``) and remember its kept encrypted ``file``, in one transaction."""
        entries = self._entries()
        entries.append({"message_id": record.message_id.hex(), "file": file.name, "lifetime_s": lifetime_s})
        with self._store.transaction():
            self._store.save_message(record)
            self._save(entries)

    def _drop(self, message_id: str, file: Path) -> None:
        with self._store.transaction():
            self._save([e for e in self._entries() if e.get("message_id") != message_id])
        with contextlib.suppress(OSError):
            file.unlink()

    async def flush(self) -> None:
        """Upload every kept file and send its pointer (oldest first).

        Raises:
            RelayUnreachable: the relay is still down; what is left stays kept for the next sync.
        """
        async with self._lock:
            for entry in self._entries():
                message_id, name, lifetime = entry.get("message_id"), entry.get("file"), entry.get("lifetime_s")
                if not isinstance(message_id, str) or not isinstance(name, str) or not isinstance(lifetime, int):
                    continue
                file = self._paths.tmp / Path(name).name
                msg = self._store.message(bytes.fromhex(message_id))
                att = msg.attachment if msg is not None else None
                rec = self._store.contact(msg.contact_id) if msg is not None else None
                if msg is None or att is None or rec is None or msg.status != MessageStatus.PENDING:
                    self._drop(message_id, file)  # deleted or expired meanwhile
                    continue
                if rec.changed:  # the identity changed meanwhile: wait until it is verified or accepted
                    continue
                try:
                    blob_id = await self._attachments.upload_kept(file, att.digest, lifetime)
                except RelayError as exc:
                    if exc.status in TRANSIENT_RELAY_STATUSES:
                        return
                    msg.status, msg.failure = MessageStatus.FAILED, exc.relay_message
                    with self._store.transaction():
                        self._store.save_message(msg)
                    self._drop(message_id, file)
                    continue
                except RelayUnreachable:
                    raise
                att.blob_id = blob_id
                pointer = AttachmentPointer(blob_id, att.key, att.digest, att.size, att.name, att.mime, att.caption)
                self._queue(rec, Content(msg.message_id, msg.sent_at_ms, msg.expire_after_s, pointer), msg)
                self._drop(message_id, file)


__all__ = ["PENDING_META", "PendingUploads"]
