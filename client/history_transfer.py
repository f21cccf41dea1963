"""History to a new device: recent messages, encrypted as one attachment blob, streamed both ways (SPEC 15).

The existing device (:func:`send_history`) selects its texts and files newest first, back at most
:data:`~confide.protocol.history.HISTORY_DAYS` and at most :data:`~confide.protocol.history.MAX_HISTORY_BYTES`
of records, and writes them as the record stream of :mod:`confide.protocol.history` (oldest first, so the new
device stores each thread in order as the records arrive), encrypted under a fresh attachment key
(:mod:`confide.protocol.attachment`) into a file of the profile's ``tmp`` folder, then uploads that file as a
blob. Nothing but ciphertext is ever written: the stream is made twice from the store, once to learn its exact
size (the attachment format binds it into every chunk) and once to encrypt it, a batch of messages at a time,
so memory holds a batch, never the whole history. The link exchange carries the blob's id, key, digest and
size to the new device (:class:`~confide.protocol.provisioning.HistoryOffer`); the relay sees only a blob of a
padded size, and the existing device deletes it once the new device says it is done.

The new device (:func:`receive_history`) downloads the blob into its ``tmp`` folder (never more bytes than the
offer's size allows), verifies it end to end against the offer's digest, then decrypts it a chunk at a time,
parses the records incrementally (:class:`~confide.protocol.history.HistoryReader`) and stores each batch in one
transaction: a message already here (same id) is kept as it is, a record for a contact the provisioning did not
bring is skipped. Progress is reported as ``(done_bytes, total_bytes)`` on both sides.

What is not copied: messages with a disappearing timer (they were meant not to last, and their timers ran on
the old device), timer changes, messages still waiting to be sent or refused by the relay, filed copies and
report material.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from confide.keys.address import ADDRESS_LEN
from confide.keys.encoding import RNG
from confide.protocol.attachment import (
    AttachmentDecryptor,
    AttachmentEncryptor,
    expected_blob_size,
    new_attachment_key,
)
from confide.protocol.content import AttachmentPointer, Content, Text
from confide.protocol.errors import DecryptionError, ProtocolError
from confide.protocol.history import (
    HISTORY_DAYS,
    MAX_HISTORY_BYTES,
    HistoryReader,
    HistoryRecord,
    HistoryStatus,
    encode_record,
    encode_trailer,
)
from confide.protocol.history import Direction as RecordDirection
from confide.protocol.provisioning import HistoryOffer

from .attachment_files import FILE_CHUNK, verify_blob
from .attachments import TEMP_NAME_BYTES
from .errors import AttachmentError, HistoryTransferFailed, RelayError, RelayUnreachable
from .models import Direction, MessageKind, MessageStatus
from .records import AttachmentRecord, ContactRecord, MessageRecord
from .relay import ProgressCallback, RelayClient
from .store import Store

HISTORY_BLOB_LIFETIME_S = 3600
"""How long the relay keeps a history blob at most: the link exchange itself lives 10 minutes
(``LINK_CHANNEL_TTL_S``) and the new device downloads the blob within it; an hour covers a slow download of the
largest history (64 MiB) on a poor connection. The existing device deletes it as soon as the new device is done."""

HISTORY_BATCH = 200
"""Messages read (and on the new device, stored) per step: one transaction each, and the event loop is given
back between steps, so a front end stays responsive while a large history is built or stored."""

HISTORY_BUILD_ATTEMPTS = 3
"""How often the history is built again when messages changed between its two passes (a message deleted or
expired meanwhile changes the stream's size, which the encryption fixed in advance)."""

DAY_MS = 24 * 3600 * 1000

_STATUS_CODES: dict[tuple[Direction, MessageStatus], HistoryStatus] = {
    (Direction.OUT, MessageStatus.SENT): HistoryStatus.SENT,
    (Direction.OUT, MessageStatus.DELIVERED): HistoryStatus.DELIVERED,
    (Direction.OUT, MessageStatus.READ): HistoryStatus.READ,
    (Direction.IN, MessageStatus.READ): HistoryStatus.READ,
    (Direction.IN, MessageStatus.UNREAD): HistoryStatus.UNREAD,
}
"""A stored message's direction and status as a record's (SPEC 15.5); what is missing here (a pending or failed
send) is not copied."""
_DIRECTION_CODES = {Direction.IN: RecordDirection.IN, Direction.OUT: RecordDirection.OUT}
_STATUS_OF = {(_DIRECTION_CODES[d].value, code.value): status for (d, status), code in _STATUS_CODES.items()}
_DIRECTION_OF = {code.value: direction for direction, code in _DIRECTION_CODES.items()}


@dataclass(frozen=True, slots=True)
class HistorySent:
    """An uploaded history: the offer to send to the new device, and the blob to delete once it is done."""

    offer: HistoryOffer
    blob_id: str


# -- the existing device ------------------------------------------------------------------------------
def _record_of(msg: MessageRecord, peer: bytes) -> HistoryRecord | None:
    """The history record of a stored message, or None when it is not copied (see the module docstring)."""
    if msg.kind not in (MessageKind.TEXT, MessageKind.ATTACHMENT) or msg.expire_after_s or msg.expires_at_ms:
        return None
    status = _STATUS_CODES.get((Direction(msg.direction), MessageStatus(msg.status)))
    if status is None or len(peer) != ADDRESS_LEN:
        return None
    body: Text | AttachmentPointer
    try:
        if msg.kind == MessageKind.TEXT:
            body = Text(msg.text)
        else:
            att = msg.attachment
            if att is None or not att.blob_id:  # a file never uploaded has nothing to point at
                return None
            body = AttachmentPointer(att.blob_id, att.key, att.digest, att.size, att.name, att.mime, att.caption)
        content = Content(msg.message_id, msg.sent_at_ms, 0, body).to_bytes()
    except (ValueError, TypeError):  # a row this version could not send as it is: left out
        return None
    try:
        return HistoryRecord(peer, _DIRECTION_CODES[Direction(msg.direction)], status, msg.received_at_ms, content)
    except ValueError:  # e.g. a clock far outside any real time
        return None


def _newest_first(store: Store) -> Iterator[tuple[int, MessageRecord, bytes]]:
    """Every message of every contact as ``(seq, message, peer address)``, the most recently stored first."""

    def thread(rec: ContactRecord) -> Iterator[tuple[int, MessageRecord, bytes]]:
        for row in store.thread_newest_first(rec.contact_id, HISTORY_BATCH):
            yield -row[2], row[4], rec.address

    threads = [thread(rec) for rec in store.contacts()]
    for neg_seq, msg, peer in heapq.merge(*threads, key=lambda item: item[0]):
        yield -neg_seq, msg, peer


async def _select(store: Store, since_ms: int) -> tuple[list[bytes], int]:
    """Pass one: the ids of the messages to copy, newest first, and the exact size of their record stream."""
    ids: list[bytes] = []
    total = len(encode_trailer(0))
    for n, (_, msg, peer) in enumerate(_newest_first(store), 1):
        if msg.received_at_ms < since_ms:
            break  # stored in order: everything further back is older still
        record = _record_of(msg, peer)
        if record is not None:
            size = len(encode_record(record))
            if total + size > MAX_HISTORY_BYTES:
                break
            total += size
            ids.append(msg.message_id)
        if n % HISTORY_BATCH == 0:
            await asyncio.sleep(0)
    return ids, total


class _Changed(Exception):
    """A selected message changed between the two passes: build again."""


async def _encrypt(
    store: Store, ids: list[bytes], total: int, dest: Path, key: bytes, progress: ProgressCallback | None
) -> bytes:
    """Pass two: write the record stream of ``ids`` (oldest first) encrypted under ``key`` into ``dest``;
    returns the blob's digest. Raises :class:`_Changed` when a message changed since :func:`_select`."""
    enc = AttachmentEncryptor(key, total)
    done = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(enc.header())
        oldest_first = ids[::-1]
        for start in range(0, len(oldest_first), HISTORY_BATCH):
            chunk = []
            for mid in oldest_first[start : start + HISTORY_BATCH]:
                msg = store.message(mid)
                rec = None if msg is None else store.contact(msg.contact_id)
                record = None if msg is None or rec is None else _record_of(msg, rec.address)
                if record is None:
                    raise _Changed
                chunk.append(encode_record(record))
            data = b"".join(chunk)
            if done + len(data) > total - len(encode_trailer(0)):
                raise _Changed
            out.write(enc.update(data))
            done += len(data)
            if progress is not None:
                progress(done, total)
            await asyncio.sleep(0)
        trailer = encode_trailer(len(ids))
        if done + len(trailer) != total:
            raise _Changed
        out.write(enc.update(trailer))
        for sealed in enc.finalize_chunks():
            out.write(sealed)
        out.flush()
        os.fsync(out.fileno())
    if progress is not None:
        progress(total, total)
    return enc.digest


async def send_history(
    store: Store,
    tmp_dir: Path,
    relay: RelayClient,
    *,
    rng: RNG,
    now_ms: int | None = None,
    progress: ProgressCallback | None = None,
) -> HistorySent:
    """Build, encrypt and upload the recent history (see the module docstring); returns the offer for the new
    device and the blob to delete once it is done. ``progress(done, total)`` follows the encryption, then the
    upload.

    Raises:
        HistoryTransferFailed: the messages kept changing while it was built.
        RelayUnreachable, RelayError: the upload failed (nothing is kept here or at the relay).
        StorageError: a stored message is damaged.
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    since = now - HISTORY_DAYS * DAY_MS
    for _ in range(HISTORY_BUILD_ATTEMPTS):
        ids, total = await _select(store, since)
        key = new_attachment_key(rng)
        tmp = tmp_dir / (rng(TEMP_NAME_BYTES).hex() + ".history")
        try:
            try:
                digest = await _encrypt(store, ids, total, tmp, key, progress)
            except _Changed:
                continue
            blob_id = await relay.upload_blob(tmp, digest.hex(), HISTORY_BLOB_LIFETIME_S, progress)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return HistorySent(HistoryOffer(blob_id, key, digest, total, len(ids)), blob_id)
    raise HistoryTransferFailed("the messages kept changing while the history was prepared; try again later")


# -- the new device -----------------------------------------------------------------------------------
def _message_of(record: HistoryRecord, rec: ContactRecord) -> MessageRecord:
    """The stored form of a received record.

    Raises:
        HistoryTransferFailed: the record is not a text or file with a known direction and status.
    """
    try:
        content = Content.from_bytes(record.content)
    except ProtocolError as exc:
        raise HistoryTransferFailed("the history holds a damaged message; it was not stored further") from exc
    status = _STATUS_OF.get((record.direction, record.status))
    direction = _DIRECTION_OF.get(record.direction)
    body = content.body
    if direction is None or status is None or not isinstance(body, Text | AttachmentPointer):
        raise HistoryTransferFailed("the history holds a record of an unknown kind; it was not stored further")
    if isinstance(body, Text):
        kind, text, att = MessageKind.TEXT, body.body, None
    else:
        kind, text = MessageKind.ATTACHMENT, body.caption
        att = AttachmentRecord(body.blob_id, body.key, body.digest, body.size, body.name, body.mime, body.caption)
    return MessageRecord(
        content.message_id,
        rec.contact_id,
        direction,
        kind,
        text,
        content.sent_at_ms,
        record.at_ms,
        status,
        0,
        None,
        att,
    )


def _store_batch(store: Store, records: list[HistoryRecord]) -> int:
    """Store what is new of ``records`` in one transaction; returns how many were stored."""
    stored = 0
    with store.transaction():
        for record in records:
            rec = store.contact_by_address(record.peer)
            if rec is None or rec.address != record.peer:
                continue  # a contact the provisioning did not bring
            msg = _message_of(record, rec)
            if store.has_message(msg.message_id):
                continue
            store.save_message(msg)
            stored += 1
    return stored


async def receive_history(
    store: Store,
    tmp_dir: Path,
    relay: RelayClient,
    offer: HistoryOffer,
    *,
    rng: RNG,
    progress: ProgressCallback | None = None,
) -> int:
    """Download, verify, decrypt and store the history an existing device offered; returns how many messages
    were stored (already present ones are not counted). ``progress(done, total)`` follows the download, then the
    storing, in bytes of the blob.

    Raises:
        HistoryTransferFailed: too large an offer, a blob that fails its integrity check or does not parse (what
            was stored before a parse failure stays), or a full disk.
        RelayUnreachable, RelayError: the download failed.
        StorageError.
    """
    if not 0 < offer.size <= MAX_HISTORY_BYTES:
        raise HistoryTransferFailed("the offered history is larger than any history can be; it was not fetched")
    expected = expected_blob_size(offer.size)
    tmp = tmp_dir / (rng(TEMP_NAME_BYTES).hex() + ".history")
    try:
        received = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            async with contextlib.aclosing(relay.download_blob(offer.blob_id)) as chunks:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > expected:
                        raise HistoryTransferFailed("the relay sent more bytes than the history has; nothing was kept")
                    out.write(chunk)
                    if progress is not None:
                        progress(received, expected)
        try:
            await asyncio.to_thread(verify_blob, tmp, offer.key, offer.size, offer.digest)
        except AttachmentError as exc:
            raise HistoryTransferFailed("the history failed its integrity check; nothing was stored") from exc
        return await _store_stream(store, tmp, offer, expected, progress)
    except OSError as exc:
        raise HistoryTransferFailed(f"the history could not be kept: {exc.strerror or 'a file error'}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


async def _store_stream(
    store: Store, blob: Path, offer: HistoryOffer, expected: int, progress: ProgressCallback | None
) -> int:
    """Decrypt the verified ``blob`` a chunk at a time and store its records batch by batch."""
    dec = AttachmentDecryptor(offer.key, offer.size, offer.digest)
    reader = HistoryReader(size=offer.size)
    stored, done, pending = 0, 0, []
    try:
        with blob.open("rb") as fh:
            while chunk := fh.read(FILE_CHUNK):
                done += len(chunk)
                pending += reader.feed(dec.update(chunk))
                if len(pending) >= HISTORY_BATCH:
                    stored += _store_batch(store, pending)
                    pending = []
                    if progress is not None:
                        progress(done, expected)
                    await asyncio.sleep(0)
        pending += reader.feed(dec.finalize())
        reader.finish()
    except (DecryptionError, ProtocolError) as exc:
        if pending:
            stored += _store_batch(store, pending)
        raise HistoryTransferFailed("the history is damaged; what came before the damage was stored") from exc
    stored += _store_batch(store, pending)
    if progress is not None:
        progress(expected, expected)
    return stored


async def delete_history(relay: RelayClient, sent: HistorySent) -> None:
    """Delete an uploaded history blob (best effort: it expires after :data:`HISTORY_BLOB_LIFETIME_S` anyway)."""
    with contextlib.suppress(RelayUnreachable, RelayError):
        await relay.delete_blob(sent.blob_id)


__all__ = [
    "HISTORY_BATCH",
    "HISTORY_BLOB_LIFETIME_S",
    "HISTORY_BUILD_ATTEMPTS",
    "HistorySent",
    "delete_history",
    "receive_history",
    "send_history",
]
