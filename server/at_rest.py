"""Envelopes sealed at rest under relay epoch keys the relay destroys: deleted means unreadable, whatever the engine.

A database engine decides when a deleted row's bytes leave its files: PostgreSQL keeps dead tuples until VACUUM
and old pages in WAL segments until they are recycled (unbounded on an idle server), SQLite until its scrub.
:class:`SealedAtRest` wraps any :class:`~confide.server.storage.RelayStore` and encrypts each envelope's sealed
bytes before they reach the store, under a key of the epoch the envelope arrived in (:class:`EpochKeys`: one
32-byte key file per ``epoch_s`` in a directory every relay process shares). Once no envelope of an epoch can be
fetched any more (all expired, or none left in the store), the wrapper destroys that epoch's key file (overwritten
in place, flushed, unlinked, the directory flushed). Whatever copies of the at-rest ciphertext the engine still
keeps are then unreadable.

At-rest form of an envelope's ``ciphertext``: ``AT_REST_MARK (0xC5) || epoch (u32 big-endian) || nonce (12) ||
ChaCha20-Poly1305 ciphertext + tag``, with the associated data ``envelope id || recipient device id`` (a stored
ciphertext moved to another envelope or mailbox fails to decrypt). An envelope that fails to decrypt (its key
destroyed, or its bytes altered on disk) is left out of :meth:`SealedAtRest.fetch` like an expired one; the sweep
removes it in time.

The marker makes every stored row say how it was stored, so relay processes on one database may differ in the
setting and the setting may change while envelopes wait, without losing one: a row that starts with
:data:`AT_REST_MARK` was sealed at rest and is opened (while its epoch's key exists), any other row was stored as
sent and is handed out unchanged. Every process wraps its store (:class:`SealedAtRest` with ``seal=False`` only
reads), whether it seals new envelopes or not. The sealed-sender ciphertext a client sends always starts with its
version byte 0x01 (:data:`~confide.protocol.sealed.SEALED_VERSION`), so an honest envelope stored as sent starts
with no marker; the marker is not 0x01 for exactly that reason. A ciphertext that starts with 0xC5 anyway (a
crafted one) is sealed like any other by a sealing process; one that does not seal stores it escaped,
``AT_REST_MARK || AS_SENT_EPOCH (0xFFFFFFFF) || ciphertext``, which every reader hands out as the rest, unchanged.
So no envelope, crafted or not, is ever left out for its first byte: one left out (which its recipient could
neither read nor acknowledge, and so would fill its mailbox until it expired) would be a way to block a mailbox.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .config import DEFAULT_MAX_LIFETIME_S
from .storage import (
    BlobRecord,
    BundleParts,
    DeviceListUpdate,
    DeviceRecord,
    Holdings,
    NewEnvelope,
    PrekeyCounts,
    PrekeyUpdate,
    Registration,
    RelayStore,
    SendResult,
    StoredDocument,
    StoredEnvelope,
    SweepResult,
)

__all__ = [
    "AT_REST_MARK",
    "AT_REST_OVERHEAD",
    "CLOSE_GRACE_S",
    "EMPTY_CHECK_S",
    "EPOCH_S",
    "KEY_DIR_NAME",
    "EpochKeys",
    "SealedAtRest",
]

_log = logging.getLogger(__name__)

EPOCH_S = 3600
"""One hour per epoch key: an acknowledged envelope stays decryptable from the relay's disk at most about this
long after it arrived once the rest of its epoch is gone too (its key is destroyed when the epoch has closed and
emptied), while a relay keeps at most ``max_lifetime / EPOCH_S`` (720 for 30 days) small key files."""

KEY_DIR_NAME = "keys"
"""The key directory's name, beside the blob directory (``data_dir/keys``): on the same path every relay process
shares, so every process reads the same key of an epoch."""

CLOSE_GRACE_S = 60
"""How long after an epoch ends its key is still kept even if its store looks empty: an envelope received just
before the end may still be on its way to the store (a queued write, another process's clock a little behind)."""

EMPTY_CHECK_S = 60
"""How often (at most) the wrapper asks the store whether a closed epoch still holds an envelope: the store scans
the index of receipt times once per epoch asked about (:meth:`RelayStore.received_epochs`, one short answer;
measured before it existed: reading every waiting envelope's times into the relay cost 7.5 s and 550 MiB per
minute per process at 1.4 million waiting envelopes, docs/SCALING.md), so once a minute, not at every sweep."""

KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
AT_REST_MARK = 0xC5
"""The first byte of every envelope sealed at rest. Not 0x01, the version byte every sealed-sender ciphertext a
client sends starts with (:data:`~confide.protocol.sealed.SEALED_VERSION`): a row stored as sent is never taken for
a sealed one."""
_HEADER = struct.Struct(">BI")  # marker, epoch
AS_SENT_EPOCH = 0xFFFFFFFF
"""The epoch of an escaped row: a ciphertext stored as sent that happened to start with :data:`AT_REST_MARK`.
Never a real epoch (hours since 1970 reach it in about 490,000 years)."""
AT_REST_OVERHEAD = _HEADER.size + NONCE_LEN + TAG_LEN
"""Bytes an envelope grows by at rest (33): marker, epoch, nonce and tag."""

_KEY_SUFFIX = ".key"


class EpochKeys:
    """One random 32-byte key per epoch of ``epoch_s`` seconds, one file each (``<epoch>.key``, mode 0600) in
    ``directory`` (created mode 0700), shared by every relay process on it.

    The first process that needs an epoch's key creates it atomically (written to a private file, then linked
    to its name, which fails if another process won: that process's key is read instead). Keys read are kept in
    memory, but a key whose file is gone (destroyed by any process) is forgotten at its next use.

    Only :meth:`open` and :meth:`key_for_sealing` create anything (the directory, a key file), and only a process
    that seals calls them; reading (:meth:`key`, :meth:`epochs`) and :meth:`destroy` without the directory simply
    find no key.
    """

    def __init__(self, directory: Path, epoch_s: int = EPOCH_S, *, rng: Callable[[int], bytes] = os.urandom) -> None:
        """Raises:
        ValueError: ``epoch_s`` is below 1."""
        if epoch_s < 1:
            raise ValueError("epoch_s must be at least 1")
        self.directory = directory
        self.epoch_s = epoch_s
        self._rng = rng
        self._keys: dict[int, bytes] = {}

    def __repr__(self) -> str:
        return f"EpochKeys({self.epoch_s} s, {len(self._keys)} in memory)"

    def epoch_of(self, at_ms: int) -> int:
        """The epoch that the instant ``at_ms`` (unix milliseconds) falls in."""
        return at_ms // (self.epoch_s * 1000)

    def end_ms(self, epoch: int) -> int:
        """When ``epoch`` ends (unix milliseconds)."""
        return (epoch + 1) * self.epoch_s * 1000

    def open(self) -> None:
        """Create the directory (mode 0700) if it is missing.

        Raises:
            OSError: the directory cannot be created.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    def _path(self, epoch: int) -> Path:
        return self.directory / f"{epoch:010d}{_KEY_SUFFIX}"

    def key(self, epoch: int) -> bytes | None:
        """The key of ``epoch``, or None if it does not exist (never created, or destroyed).

        Raises:
            OSError: the key file exists but cannot be read or is not 32 bytes.
        """
        path = self._path(epoch)
        if not path.exists():
            self._keys.pop(epoch, None)
            return None
        cached = self._keys.get(epoch)
        if cached is not None:
            return cached
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) != KEY_LEN:
            raise OSError(f"epoch key file {path.name} is damaged")
        self._keys[epoch] = data
        return data

    def key_for_sealing(self, epoch: int) -> bytes:
        """The key of ``epoch``, created if it does not exist yet (by this process or, in a race, another).

        Raises:
            OSError: the directory cannot be written.
        """
        existing = self.key(epoch)
        if existing is not None:
            return existing
        fresh = self._rng(KEY_LEN)
        tmp = self.directory / f".{epoch:010d}.{self._rng(8).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, fresh)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, self._path(epoch))  # atomic: fails if another process created this epoch's key first
        except FileExistsError:
            _overwrite(tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        _fsync_dir(self.directory)
        won = self.key(epoch)
        if won is None:
            raise OSError("an epoch key vanished while it was created")
        return won

    def epochs(self) -> list[int]:
        """Every epoch whose key exists now, oldest first."""
        found = []
        for path in self.directory.glob(f"*{_KEY_SUFFIX}"):
            with contextlib.suppress(ValueError):
                found.append(int(path.name[: -len(_KEY_SUFFIX)]))
        return sorted(found)

    def destroy(self, epoch: int) -> None:
        """Destroy the key of ``epoch``: its file overwritten with zeros in place and flushed, unlinked, the
        directory flushed, and this process's copy forgotten. Missing (the key or the directory) is fine.

        Raises:
            OSError: the key file exists but cannot be overwritten or removed.
        """
        self._keys.pop(epoch, None)
        path = self._path(epoch)
        _overwrite(path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            _fsync_dir(self.directory)


def _overwrite(path: Path) -> None:
    """Zero ``path`` in place and flush it to the device (missing is fine)."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        os.write(fd, bytes(os.fstat(fd).st_size))
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _associated(envelope_id: bytes, device_id: bytes) -> bytes:
    return envelope_id + device_id


class SealedAtRest:
    """A :class:`~confide.server.storage.RelayStore` that keeps each new envelope's ciphertext encrypted under its
    arrival epoch's key in ``inner`` when ``seal`` (else stores it as sent), opens every marked row it reads
    whatever ``seal`` is (rows stored as sent pass unchanged), and destroys an epoch's key once none of its
    envelopes can be fetched: at a sweep after its last possible expiry (the epoch's end + ``max_lifetime_s``), or
    earlier when the epoch has ended (+ :data:`CLOSE_GRACE_S`) and ``inner`` holds no envelope that arrived in it
    (asked at most every ``check_interval_s``). Everything else is delegated unchanged.

    With ``seal`` False nothing is created on disk (no key directory, no key); the keys other processes, or this
    relay before its setting changed, created are still read and destroyed in time.
    """

    def __init__(
        self,
        inner: RelayStore,
        keys: EpochKeys,
        *,
        max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S,
        grace_s: float = CLOSE_GRACE_S,
        check_interval_s: float = EMPTY_CHECK_S,
        rng: Callable[[int], bytes] = os.urandom,
        seal: bool = True,
    ) -> None:
        self._inner = inner
        self._seal_new = seal
        self._keys = keys
        self._max_lifetime_ms = max_lifetime_s * 1000
        self._grace_ms = int(grace_s * 1000)
        self._check_ms = int(check_interval_s * 1000)
        self._rng = rng
        self._next_check_ms = 0

    def __repr__(self) -> str:
        return f"SealedAtRest({self._inner!r}, seal={self._seal_new})"

    @property
    def inner(self) -> RelayStore:
        """The wrapped store: its envelopes as stored (sealed rows still sealed)."""
        return self._inner

    @property
    def sealing(self) -> bool:
        """Whether new envelopes are sealed at rest (reading opens sealed rows either way)."""
        return self._seal_new

    # -- sealing ---------------------------------------------------------------------------------------

    def _seal(self, item: NewEnvelope) -> NewEnvelope:
        epoch = self._keys.epoch_of(item.received_at_ms)
        nonce = self._rng(NONCE_LEN)
        sealed = ChaCha20Poly1305(self._keys.key_for_sealing(epoch)).encrypt(
            nonce, item.ciphertext, _associated(item.envelope_id, item.device_id)
        )
        return NewEnvelope(
            item.envelope_id,
            item.device_id,
            item.received_at_ms,
            item.expires_at_ms,
            _HEADER.pack(AT_REST_MARK, epoch) + nonce + sealed,
        )

    @staticmethod
    def _escape(item: NewEnvelope) -> NewEnvelope:
        """``item`` to store as sent: unchanged, or escaped if its ciphertext starts with the marker."""
        if not item.ciphertext or item.ciphertext[0] != AT_REST_MARK:
            return item
        escaped = _HEADER.pack(AT_REST_MARK, AS_SENT_EPOCH) + item.ciphertext
        return NewEnvelope(item.envelope_id, item.device_id, item.received_at_ms, item.expires_at_ms, escaped)

    def _open(self, device_id: bytes, env: StoredEnvelope) -> StoredEnvelope | None:
        """The envelope as its sender sent it: a row stored as sent unchanged (an escaped one unescaped), a marked
        row decrypted, or None if a marked row cannot be read (key destroyed, bytes altered)."""
        data = env.ciphertext
        if not data or data[0] != AT_REST_MARK:
            return env
        if len(data) < _HEADER.size:
            return None
        (_mark, epoch) = _HEADER.unpack_from(data)
        if epoch == AS_SENT_EPOCH:
            return StoredEnvelope(env.seq, env.envelope_id, env.received_at_ms, env.expires_at_ms, data[_HEADER.size :])
        if len(data) < AT_REST_OVERHEAD:
            return None
        key = self._keys.key(epoch)
        if key is None:
            return None
        nonce = data[_HEADER.size : _HEADER.size + NONCE_LEN]
        try:
            plain = ChaCha20Poly1305(key).decrypt(
                nonce, data[_HEADER.size + NONCE_LEN :], _associated(env.envelope_id, device_id)
            )
        except InvalidTag:
            return None
        return StoredEnvelope(env.seq, env.envelope_id, env.received_at_ms, env.expires_at_ms, plain)

    async def store_envelopes(self, items: list[NewEnvelope], quota: int) -> list[SendResult]:
        """As :meth:`RelayStore.store_envelopes`, with each ciphertext sealed at rest when sealing (else stored as
        sent, escaped if it starts with the marker); a stored envelope in the results carries the ciphertext as
        sent (for live push).

        Raises:
            OSError: sealing, and the epoch key cannot be created (the key directory is not writable).
        """
        stored_forms = [self._seal(item) if self._seal_new else self._escape(item) for item in items]
        results = await self._inner.store_envelopes(stored_forms, quota)
        if stored_forms == items:  # all stored as sent
            return results
        sent = {item.envelope_id: item.ciphertext for item in items}
        as_sent = []
        for r in results:
            if r.stored is not None:
                s = r.stored
                stored = StoredEnvelope(s.seq, s.envelope_id, s.received_at_ms, s.expires_at_ms, sent[r.envelope_id])
                r = SendResult(r.envelope_id, r.status, r.expires_at_ms, stored)
            as_sent.append(r)
        return as_sent

    async def fetch(self, device_id: bytes, after_seq: int, limit: int) -> list[StoredEnvelope]:
        """As :meth:`RelayStore.fetch`, sealed rows decrypted and rows stored as sent unchanged; a sealed envelope
        that cannot be decrypted is left out (and the next ones fetched in its place), as if it had expired."""
        found: list[StoredEnvelope] = []
        unreadable = 0
        while len(found) < limit:
            wanted = limit - len(found)
            batch = await self._inner.fetch(device_id, after_seq, wanted)
            for env in batch:
                readable = self._open(device_id, env)
                if readable is None:
                    unreadable += 1
                else:
                    found.append(readable)
            if len(batch) < wanted:
                break
            after_seq = batch[-1].seq
        if unreadable:
            _log.warning("left out %d envelopes that cannot be decrypted at rest", unreadable)
        return found

    # -- destroying epochs -----------------------------------------------------------------------------

    async def sweep(self, now_ms: int) -> SweepResult:
        """As :meth:`RelayStore.sweep`, then destroy every epoch key none of whose envelopes can be fetched."""
        result = await self._inner.sweep(now_ms)
        await self._destroy_spent(now_ms)
        return result

    async def _destroy_spent(self, now_ms: int) -> None:
        closed = [e for e in self._keys.epochs() if self._keys.end_ms(e) + self._grace_ms <= now_ms]
        for epoch in closed:
            if self._keys.end_ms(epoch) + self._max_lifetime_ms <= now_ms:
                self._keys.destroy(epoch)
        remaining = [e for e in closed if self._keys.key(e) is not None]
        if not remaining or now_ms < self._next_check_ms:
            return
        self._next_check_ms = now_ms + self._check_ms
        held = await self._inner.received_epochs(self._keys.epoch_s * 1000, remaining)
        for epoch in remaining:
            if epoch not in held:
                self._keys.destroy(epoch)

    # -- delegated -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the key directory when sealing (never otherwise), then start the inner store.

        Raises:
            OSError: sealing, and the key directory cannot be created.
        """
        if self._seal_new:
            self._keys.open()
        await self._inner.start()

    async def received_epochs(self, epoch_ms: int, epochs: list[int]) -> set[int]:
        return await self._inner.received_epochs(epoch_ms, epochs)

    async def register(self, reg: Registration) -> bool:
        return await self._inner.register(reg)

    async def device_count(self, address: bytes) -> int:
        return await self._inner.device_count(address)

    async def note_seen(self, device_id: bytes, stamp: int, nonce: bytes, now_ms: int) -> None:
        await self._inner.note_seen(device_id, stamp, nonce, now_ms)

    async def bytes_held(self) -> int:
        return await self._inner.bytes_held()

    async def device(self, device_id: bytes) -> DeviceRecord | None:
        return await self._inner.device(device_id)

    async def token_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        return await self._inner.token_hashes(device_id)

    async def delivery_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        return await self._inner.delivery_hashes(device_id)

    async def removed_at(self, device_id: bytes) -> int | None:
        return await self._inner.removed_at(device_id)

    async def replace_tokens(self, device_id: bytes, hashes: tuple[bytes, ...]) -> int:
        return await self._inner.replace_tokens(device_id, hashes)

    async def prekey_counts(self, device_id: bytes) -> PrekeyCounts:
        return await self._inner.prekey_counts(device_id)

    async def put_prekeys(self, device_id: bytes, update: PrekeyUpdate) -> PrekeyCounts:
        return await self._inner.put_prekeys(device_id, update)

    async def take_bundles(self, address: bytes, *, consume: int) -> list[BundleParts] | None:
        return await self._inner.take_bundles(address, consume=consume)

    async def ack(self, device_id: bytes, envelope_ids: list[bytes]) -> int:
        return await self._inner.ack(device_id, envelope_ids)

    async def add_blob(self, blob: BlobRecord) -> None:
        await self._inner.add_blob(blob)

    async def blob(self, blob_id: str) -> BlobRecord | None:
        return await self._inner.blob(blob_id)

    async def blob_bytes(self, device_id: bytes) -> int:
        return await self._inner.blob_bytes(device_id)

    async def delete_blob(self, blob_id: str) -> BlobRecord | None:
        return await self._inner.delete_blob(blob_id)

    async def blob_names(self) -> set[str]:
        return await self._inner.blob_names()

    async def put_document(self, document: StoredDocument) -> bool:
        return await self._inner.put_document(document)

    async def document(self, address: bytes, kind: int) -> StoredDocument | None:
        return await self._inner.document(address, kind)

    async def put_device_list(
        self, document: StoredDocument, listed: tuple[bytes, ...], now_ms: int
    ) -> DeviceListUpdate:
        return await self._inner.put_device_list(document, listed, now_ms)

    async def recovery_key(self, address: bytes) -> bytes | None:
        return await self._inner.recovery_key(address)

    async def set_recovery_key(self, address: bytes, key: bytes, now_ms: int) -> None:
        await self._inner.set_recovery_key(address, key, now_ms)

    async def put_link(self, channel: bytes, slot: int, data: bytes, now_ms: int) -> bool:
        return await self._inner.put_link(channel, slot, data, now_ms)

    async def link(self, channel: bytes, slot: int, now_ms: int) -> bytes | None:
        return await self._inner.link(channel, slot, now_ms)

    async def holdings(self) -> Holdings:
        return await self._inner.holdings()

    async def checkpoint(self) -> None:
        await self._inner.checkpoint()

    async def close(self) -> None:
        await self._inner.close()
