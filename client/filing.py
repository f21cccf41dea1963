"""Record keeping in the open: filing a message of a thread into the contact's record (issue 11).

A therapist owes clients a clinical record kept for years, while the thread runs under disappearing timers
and delete-for-everyone. :meth:`Filing.file` copies one text or file of a thread into the records folder: the
``filed`` table of the store (sealed like every row, under a blind index of the message id, filed under a
blind index of the contact's *address* so the record outlives the contact row), and for a file its bytes,
re-encrypted under the record's own random key into ``attachments/records/``. No timer
(:mod:`confide.client.expiry`), delete for everyone or thread deletion touches that table or folder; removing
the contact keeps the record unless the removal asks otherwise; a panic wipe destroys it with everything else.

Nothing is filed silently: the copy is stored in the transaction that queues a FILED notice to the peer (SPEC
§8), and a contact that cannot be written to (no invite yet, a changed identity not accepted) cannot have
messages filed. The peer's client marks the message "filed in your record by NAME"
(:class:`~confide.client.events.MessageFiled`). When the peer later deletes for everyone a message of theirs
that was filed, the thread copy goes as usual, the record copy stays, and the inbox has a KEPT notice answer
the deletion (:meth:`~confide.client.messaging.Messaging.send_kept`).

What filing cannot do: stop anyone from copying what they read. It makes keeping visible, nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path

from confide.keys.address import Address
from confide.keys.encoding import RNG
from confide.keys.errors import InvalidAddress
from confide.protocol.attachment import AttachmentDecryptor, AttachmentEncryptor, new_attachment_key
from confide.protocol.content import Content, Filed, FiledKind, new_message_id
from confide.protocol.errors import DecryptionError

from .attachment_files import FILE_CHUNK, decrypt_file, safe_file_name, write_private
from .attachments import Attachments
from .contacts import Contacts
from .errors import AttachmentError, ClientError, UnknownContact, UnknownMessage
from .export import records_document
from .messaging import Messaging
from .models import AttachmentInfo, Direction, MessageKind, RecordEntry
from .profile import ProfilePaths
from .records import FiledFile, FiledRecord, MessageRecord
from .shred import shred_file
from .store import Store

RECORDS_DIR = "records"
"""The folder under the profile's ``attachments/`` holding filed files: inside it, so that a panic wipe (which
shreds everything under ``attachments/``) destroys the records too, and no new folder needs its own rules."""
RECORD_FILE_NAME_BYTES = 16
"""Random bytes in a filed file's name (hex): says nothing about the file, never collides."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _reencrypt(source: Path, key: bytes, size: int, digest: bytes, dest: Path, new_key: bytes) -> bytes:
    """Decrypt the attachment blob ``source`` and encrypt it again under ``new_key`` into ``dest`` (created 0600
    through a temporary name, renamed only once the source verified); returns the new blob's digest.

    Raises:
        AttachmentError: ``source`` failed its integrity check (nothing is left at ``dest``).
        OSError: a file could not be read or written.
    """
    dec = AttachmentDecryptor(key, size, digest)
    enc = AttachmentEncryptor(new_key, size)
    tmp = dest.with_name(dest.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            out.write(enc.header())
            while chunk := src.read(FILE_CHUNK):
                out.write(enc.update(dec.update(chunk)))
            out.write(enc.update(dec.finalize()))
            for sealed in enc.finalize_chunks():
                out.write(sealed)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except DecryptionError as exc:
        raise AttachmentError(
            "the attachment failed its integrity check (damaged or altered); nothing was filed"
        ) from exc
    finally:
        if tmp.exists():
            shred_file(tmp)
    return enc.digest


def public_record(r: FiledRecord) -> RecordEntry:
    """``r`` as the :class:`RecordEntry` integrators see."""
    att = None
    if r.attachment is not None:
        a = r.attachment
        att = AttachmentInfo(a.name, a.mime, a.size, True, a.caption)
    return RecordEntry(
        r.message_id.hex(),
        r.peer,
        Address(r.address).text,
        Direction(r.direction),
        MessageKind(r.kind),
        r.text,
        r.sent_at_ms,
        r.filed_at_ms,
        att,
        r.kept_after_delete,
    )


class Filing:
    """Files messages into contacts' records, lists, exports and removes records; owns the ``filed`` table and
    the ``attachments/records/`` folder."""

    def __init__(
        self,
        store: Store,
        paths: ProfilePaths,
        contacts: Contacts,
        messaging: Messaging,
        attachments: Attachments,
        *,
        rng: RNG,
    ) -> None:
        self._store = store
        self._files = paths.attachments
        self._dir = paths.attachments / RECORDS_DIR
        self._contacts = contacts
        self._messaging = messaging
        self._attachments = attachments
        self._rng = rng

    async def file(self, peer: str, message_id: str) -> RecordEntry:
        """File the text or file ``message_id`` of the thread with ``peer`` into their record, and tell them
        (a FILED notice, queued in the same transaction; see the module docstring). Filing a message already
        filed returns its record and sends nothing.

        Raises:
            UnknownContact; UnknownMessage: no such live message in this thread (mistyped, expired, deleted).
            ClientError: not a text or file (a timer change), or the contact cannot be written to (no invite).
            UntrustedIdentity: the contact's identity changed and was not accepted (the notice could not go).
            AttachmentError: a file that failed its integrity check. RelayUnreachable, RelayError: a file not
                downloaded yet could not be, or no session exists and the peer's keys could not be fetched.
            In every case nothing was filed and nothing was sent.
        """
        rec = self._contacts.find(peer)
        msg = self._in_thread(rec.contact_id, message_id)
        existing = self._store.filed(msg.message_id)
        if existing is not None:
            return public_record(FiledRecord.from_json(existing[1]))
        rec = await self._messaging.writable(rec)
        filed_file = None
        if msg.attachment is not None:
            if msg.attachment.file is None:
                msg = await self._attachments.download(message_id)
            filed_file = await self._copy_file(msg)
        record = FiledRecord(
            msg.message_id,
            rec.address,
            rec.name,
            msg.direction,
            msg.kind,
            msg.text,
            msg.sent_at_ms,
            _now_ms(),
            filed_file,
        )
        try:
            with self._store.transaction():
                fresh = self._store.message(msg.message_id)
                if fresh is None:  # expired or deleted for everyone while the file was copied
                    raise UnknownMessage("the message was deleted while it was being filed; nothing was filed")
                self._store.save_filed(self._store.record_owner(rec.address), msg.message_id, record.to_json())
                fresh.filed_here = True
                self._store.save_message(fresh)
                notice = Content(
                    new_message_id(self._rng), record.filed_at_ms, 0, Filed(FiledKind.FILED, msg.message_id)
                )
                self._messaging.queue(rec, notice, None)
        except BaseException:
            if filed_file is not None:
                shred_file(self._dir / filed_file.file)
            raise
        await self._messaging.flush()
        return public_record(record)

    def _in_thread(self, contact_id: str, message_id: str) -> MessageRecord:
        msg = self._store.find_message(message_id)
        if msg.contact_id != contact_id:
            raise UnknownMessage("no message with that id in this thread")
        if msg.kind not in (MessageKind.TEXT, MessageKind.ATTACHMENT):
            raise ClientError("only a text message or a file can be filed")
        return msg

    async def _copy_file(self, msg: MessageRecord) -> FiledFile:
        """The message's downloaded attachment, re-encrypted under a fresh key into the records folder."""
        att = msg.attachment
        assert att is not None
        assert att.file is not None
        await asyncio.to_thread(self._dir.mkdir, mode=0o700, parents=True, exist_ok=True)
        key = new_attachment_key(self._rng)
        name = self._rng(RECORD_FILE_NAME_BYTES).hex() + ".rec"
        try:
            digest = await asyncio.to_thread(
                _reencrypt, self._files / att.file, att.key, att.size, att.digest, self._dir / name, key
            )
        except OSError as exc:
            raise AttachmentError(
                f"the file could not be copied into the record ({exc.strerror}); nothing was filed"
            ) from exc
        return FiledFile(att.name, att.mime, att.size, att.caption, name, key, digest)

    # -- reading the records ----------------------------------------------------------------------------
    def _owner(self, peer: str) -> tuple[str, str, str]:
        """``(owner index, name, address text)`` of the record of ``peer``: a contact's name or address, or
        the address of a removed contact whose record was kept.

        Raises:
            UnknownContact: no contact and no kept record matches.
        """
        try:
            rec = self._contacts.find(peer)
        except UnknownContact:
            try:
                address = Address.parse(peer)
            except InvalidAddress:
                raise UnknownContact("no contact or kept record has this name or address") from None
            owner = self._store.record_owner(address.raw)
            rows = self._store.filed_of(owner)
            if not rows:
                raise UnknownContact("no contact or kept record has this name or address") from None
            return owner, FiledRecord.from_json(rows[-1]).peer, address.text
        return self._store.record_owner(rec.address), rec.name, Address(rec.address).text

    def _records(self, owner: str) -> list[FiledRecord]:
        return [FiledRecord.from_json(data) for data in self._store.filed_of(owner)]

    def records(self, peer: str) -> list[RecordEntry]:
        """The record of ``peer`` (a contact, or the address of a removed contact whose record was kept), in
        the order the messages were filed.

        Raises:
            UnknownContact; StorageError: a stored copy is damaged.
        """
        owner, _name, _address = self._owner(peer)
        return [public_record(r) for r in self._records(owner)]

    def is_filed_from(self, address: bytes, message_id: bytes) -> FiledRecord | None:
        """The filed copy of ``message_id`` when it is in the record of the contact at ``address``."""
        row = self._store.filed(message_id)
        if row is None or row[0] != self._store.record_owner(address):
            return None
        return FiledRecord.from_json(row[1])

    def export(self, me: str, peer: str, path: str | os.PathLike[str], *, overwrite: bool = False) -> int:
        """Write the record of ``peer`` as JSON (:func:`~confide.client.export.records_document`) to ``path``:
        a new 0600 file written whole or not at all, never through a symlink; returns the number of copies.
        This file is NOT encrypted: it is for the practice's records system.

        Raises:
            UnknownContact; FileExistsConflict: something is at ``path`` and ``overwrite`` is False (nothing was
            written); OSError: the file cannot be written.
        """
        owner, name, address = self._owner(peer)
        entries = [public_record(r) for r in self._records(owner)]
        doc = records_document(me, name, address, entries, _now_ms())
        data = json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")
        write_private(Path(path), lambda fh: fh.write(data), overwrite=overwrite)
        return len(entries)

    async def save_file(
        self, peer: str, message_id: str, path: str | os.PathLike[str], *, overwrite: bool = False
    ) -> Path:
        """Decrypt the filed file ``message_id`` of the record of ``peer`` to ``path`` (a file, or a folder to put
        it in under its name): 0600, verified first, never over an existing file unless ``overwrite``.

        Raises:
            UnknownContact; UnknownMessage: no filed file with that id in this record. FileExistsConflict;
            AttachmentError: failed its integrity check, or the destination cannot be written.
        """
        owner, _name, _address = self._owner(peer)
        try:
            raw = bytes.fromhex(message_id)
        except ValueError:
            raw = b""
        row = self._store.filed(raw) if raw else None
        if row is None or row[0] != owner:
            raise UnknownMessage("no filed message with that id in this record")
        att = FiledRecord.from_json(row[1]).attachment
        if att is None:
            raise AttachmentError("that filed message has no file")
        dest = Path(path)
        if await asyncio.to_thread(dest.is_dir):
            dest = dest / safe_file_name(att.name)
        await asyncio.to_thread(
            decrypt_file, self._dir / att.file, dest, att.key, att.size, att.digest, overwrite=overwrite
        )
        return dest

    def delete_record_of(self, address: bytes) -> int:
        """Delete the record of the contact at ``address`` (rows and files; the sealed rows leave every file of
        the store, the files are overwritten in place); returns how many copies were deleted.

        Raises:
            StorageError: the store could not be written (nothing was deleted).
        """
        owner = self._store.record_owner(address)
        records = self._records(owner)
        with self._store.transaction():
            self._store.delete_filed_of(owner)
        for r in records:
            if r.attachment is not None:
                with contextlib.suppress(OSError):
                    shred_file(self._dir / r.attachment.file)
        return len(records)


__all__ = ["RECORDS_DIR", "Filing", "public_record"]
