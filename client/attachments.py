"""Attachments of a profile: encrypting and uploading a file, downloading and verifying a received one, and
decrypting it to a path the user chose. The file work itself is in :mod:`confide.client.attachment_files`
(synchronous, run in a thread so the event loop stays free).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import mimetypes
import os
from pathlib import Path

from confide.keys.encoding import RNG
from confide.protocol.attachment import expected_blob_size, new_attachment_key
from confide.protocol.content import AttachmentPointer

from . import attachment_files as files
from .errors import AttachmentError, RelayError, RelayUnreachable, UnknownMessage
from .profile import ProfilePaths
from .records import AttachmentRecord, MessageRecord
from .relay import ProgressCallback, RelayClient
from .store import Store
from .timers import relay_lifetime

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""Write failures meaning the disk (or the user's quota) is full: a download then raises :class:`AttachmentError`
saying so, which a sync passes over (the message is kept; the file can be fetched again once there is room)."""

TEMP_NAME_BYTES = 16
"""Random bytes in a temporary or stored attachment file name: names never collide or say anything."""


PENDING_UPLOAD_SUFFIX = ".pending"
"""Suffix of an encrypted file kept in ``PROFILE/tmp`` until the relay can take it (see :mod:`.uploads`)."""


class UploadUnreachable(RelayUnreachable):
    """The relay could not be reached during an upload; the encrypted file was kept (``file``) with the
    record that describes it (its ``blob_id`` empty until it is uploaded)."""

    def __init__(self, message: str, record: AttachmentRecord, file: Path, lifetime_s: int) -> None:
        super().__init__(message)
        self.record = record
        self.file = file
        self.lifetime_s = lifetime_s


class Attachments:
    """Uploads, downloads and saves attachments for one profile."""

    def __init__(self, store: Store, paths: ProfilePaths, relay: RelayClient, *, rng: RNG) -> None:
        self._store = store
        self._paths = paths
        self._relay = relay
        self._rng = rng

    async def upload(
        self,
        source: Path,
        *,
        mime: str | None,
        caption: str,
        expire_after_s: int,
        progress: ProgressCallback | None,
        defer: bool = False,
    ) -> tuple[AttachmentRecord, AttachmentPointer]:
        """Encrypt ``source`` (streaming) and upload it; returns its record and the pointer to send.

        Raises:
            AttachmentError: unreadable or too large a file, or a pointer that cannot describe it.
            UploadUnreachable: with ``defer``, the relay was unreachable: the encrypted file was kept.
            RelayUnreachable, RelayError: the upload failed (nothing is kept).
        """
        key = new_attachment_key(self._rng)
        tmp = self._paths.tmp / (self._rng(TEMP_NAME_BYTES).hex() + ".up")
        name = files.safe_file_name(source.name)
        mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        lifetime = relay_lifetime(expire_after_s)
        try:
            size, digest = await asyncio.to_thread(files.encrypt_file, source, tmp, key, progress)
            try:
                AttachmentPointer("pending", key, digest, size, name, mime, caption)  # describable at all?
            except ValueError as exc:
                raise AttachmentError(f"cannot describe this attachment: {exc}") from exc
            try:
                blob_id = await self._relay.upload_blob(tmp, digest.hex(), lifetime, progress)
            except RelayUnreachable as exc:
                if not defer:
                    raise
                kept = tmp.with_suffix(PENDING_UPLOAD_SUFFIX)
                await asyncio.to_thread(os.replace, tmp, kept)
                record = AttachmentRecord("", key, digest, size, name, mime, caption)
                raise UploadUnreachable(str(exc), record, kept, lifetime) from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        try:
            pointer = AttachmentPointer(blob_id, key, digest, size, name, mime, caption)
        except ValueError as exc:
            raise AttachmentError(f"cannot describe this attachment: {exc}") from exc
        return AttachmentRecord(blob_id, key, digest, size, name, mime, caption), pointer

    async def upload_kept(self, file: Path, digest: bytes, lifetime_s: int) -> str:
        """Upload an encrypted file kept by a :class:`UploadUnreachable`; returns the relay's blob id.

        Raises:
            RelayUnreachable, RelayError.
        """
        return await self._relay.upload_blob(file, digest.hex(), lifetime_s)

    async def download(self, message_id: str) -> MessageRecord:
        """Download, verify and keep (encrypted) the attachment of a received message; returns the message.

        Raises:
            UnknownMessage: no such message, or it was deleted meanwhile.
            AttachmentError: the message has no attachment, it failed verification, or the disk is full.
            RelayUnreachable, RelayError.
        """
        msg = self._store.find_message(message_id)
        att = msg.attachment
        if att is None:
            raise AttachmentError("that message has no attachment")
        if att.file is not None:
            return msg
        tmp = self._paths.tmp / (self._rng(TEMP_NAME_BYTES).hex() + ".down")
        name = self._rng(TEMP_NAME_BYTES).hex() + ".blob"
        expected = expected_blob_size(att.size)  # the pointer fixes the exact blob length in advance
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                received = 0
                # aclosing: a refused download closes its connection now, not when the generator is collected
                async with contextlib.aclosing(self._relay.download_blob(att.blob_id)) as chunks:
                    async for chunk in chunks:
                        received += len(chunk)
                        if received > expected:
                            raise AttachmentError(
                                "the relay sent more bytes than this attachment can have; it was not kept"
                            )
                        out.write(chunk)
            await asyncio.to_thread(files.verify_blob, tmp, att.key, att.size, att.digest)
            os.replace(tmp, self._paths.attachments / name)
        except OSError as exc:
            if exc.errno not in DISK_FULL_ERRNOS:
                raise
            raise AttachmentError(
                "the attachment could not be kept: the disk holding the profile is full; free some space, then "
                "download it again"
            ) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        fresh = self._store.message(msg.message_id)
        if fresh is None or fresh.attachment is None:  # expired or deleted meanwhile
            with contextlib.suppress(OSError):
                (self._paths.attachments / name).unlink()
            raise UnknownMessage("the message was deleted while its attachment was downloading")
        fresh.attachment.file = name
        with self._store.transaction():
            self._store.save_message(fresh)
        return fresh

    async def delete_blob(self, blob_id: str) -> None:
        """Delete an uploaded blob from the relay (best effort: an unreachable relay or a blob already gone
        is not an error; the relay deletes it when it expires anyway)."""
        with contextlib.suppress(RelayUnreachable, RelayError):
            await self._relay.delete_blob(blob_id)

    async def save(self, message_id: str, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Decrypt an attachment to ``path`` (a file, or a directory to put it in under its name), downloading it
        first if needed; returns the path written. One of your own works too (sent from here, or from another of
        your devices and synced here), as long as the relay still holds it. The file is created 0600 through a
        temporary file and a rename (:func:`~confide.client.attachment_files.write_private`); an existing
        file is replaced only with ``overwrite``, and a symlink at ``path`` is never followed.

        Raises:
            FileExistsConflict: something is at the destination and ``overwrite`` is False.
            UnknownMessage; AttachmentError (no attachment, failed verification, or the
            destination cannot be written); RelayUnreachable, RelayError.
        """
        msg = self._store.find_message(message_id)
        if msg.attachment is None:
            raise AttachmentError("that message has no attachment")
        if msg.attachment.file is None:
            msg = await self.download(message_id)
        att = msg.attachment
        assert att is not None
        assert att.file is not None
        dest = Path(path)
        if await asyncio.to_thread(dest.is_dir):  # a folder the user named (a symlink to one is fine)
            dest = dest / files.safe_file_name(att.name)
        await asyncio.to_thread(
            files.decrypt_file,
            self._paths.attachments / att.file,
            dest,
            att.key,
            att.size,
            att.digest,
            overwrite=overwrite,
        )
        return dest
