"""Test-only implementations of every relay interface, in memory and recording what they are asked.

They share no code with the embedded backend (``confide.server.db``, ``blob_files``, ``inprocess``): an app
built on them works only if the request handlers really speak to the interfaces alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from aiohttp import StreamReader, web

from confide.server import Backend
from confide.server.blobstore import Upload
from confide.server.errors import (
    BadRequest,
    Conflict,
    DeviceRemoved,
    Forbidden,
    InsufficientStorage,
    TooLarge,
    Unauthorized,
)
from confide.server.limits import (
    LINK_CHANNEL_TTL_S,
    MAX_DEVICES_PER_ACCOUNT,
    MAX_KEM_ONE_TIME_STOCK,
    MAX_LINK_CHANNELS,
    MAX_ONE_TIME_STOCK,
    MAX_TOKEN_HASHES,
)
from confide.server.notifier import Subscription
from confide.server.ranges import ByteRange
from confide.server.storage import (
    BlobRecord,
    BundleParts,
    DeviceListUpdate,
    DeviceRecord,
    HeldBlob,
    HeldDocument,
    HeldEnvelope,
    Holdings,
    KeyRecord,
    NewEnvelope,
    PrekeyCounts,
    PrekeyUpdate,
    Registration,
    SendResult,
    StoredDocument,
    StoredEnvelope,
    SweepResult,
)


@dataclass
class _Lifecycle:
    """Records ``start`` and ``close`` calls, in order."""

    events: list[str] = field(default_factory=list)

    async def start(self) -> None:
        self.events.append("start")

    async def close(self) -> None:
        self.events.append("close")


@dataclass
class _Device:
    address: bytes
    cert: bytes
    tokens: tuple[bytes, ...] = ()
    signed: KeyRecord | None = None
    kem_last_resort: KeyRecord | None = None
    one_time: dict[int, bytes] = field(default_factory=dict)
    kem_one_time: dict[int, bytes] = field(default_factory=dict)


@dataclass
class _Stored:
    device_id: bytes
    envelope: StoredEnvelope


class MemoryStore(_Lifecycle):
    """A :class:`~confide.server.storage.RelayStore` in dicts, with the same limits as the SQLite one."""

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[bytes, bytes] = {}
        self.devices: dict[bytes, _Device] = {}
        self.envelopes: dict[bytes, _Stored] = {}
        self.blobs: dict[str, BlobRecord] = {}
        self.floors: dict[bytes, int] = {}
        self.documents: dict[tuple[bytes, int], StoredDocument] = {}
        self.listed: dict[bytes, set[bytes]] = {}
        self.removed: dict[bytes, int] = {}
        self.links: dict[tuple[bytes, int], tuple[int, bytes]] = {}
        self.recovery_keys: dict[bytes, bytes] = {}
        self._seq = 0

    async def register(self, reg: Registration) -> bool:
        existing = self.devices.get(reg.device_id)
        if existing is not None and existing.address != reg.address:
            raise Conflict("this device key is registered to another identity")
        created = existing is None
        if reg.device_id in self.removed:
            raise DeviceRemoved()
        listed = self.listed.get(reg.address)
        if listed is not None and reg.device_id not in listed:
            raise Forbidden("approve this device from one of your devices first")
        others = sum(d.address == reg.address for d in self.devices.values())
        if created and others >= MAX_DEVICES_PER_ACCOUNT:
            raise BadRequest(f"an account may have at most {MAX_DEVICES_PER_ACCOUNT} devices")
        if created and others and listed is None:
            raise Forbidden("approve this device from one of your devices first")
        tokens = _unique_tokens(reg.token_hashes)
        fresh = _Device(reg.address, reg.device_cert, tokens)
        _put_keys(fresh, PrekeyUpdate(reg.signed_prekey, reg.kem_last_resort, reg.one_time, reg.kem_one_time))
        self.accounts.setdefault(reg.address, reg.identity)
        self.devices[reg.device_id] = fresh
        self.floors[reg.device_id] = max(self.floors.get(reg.device_id, 0), reg.proof_stamp)
        return created

    async def device(self, device_id: bytes) -> DeviceRecord | None:
        d = self.devices.get(device_id)
        if d is None:
            return None
        return DeviceRecord(device_id, d.address, self.accounts[d.address], d.cert, self.floors.get(device_id, 0))

    async def device_count(self, address: bytes) -> int:
        return sum(d.address == address for d in self.devices.values())

    async def note_seen(self, device_id: bytes, stamp: int, nonce: bytes, now_ms: int) -> None:
        self.floors[device_id] = max(self.floors.get(device_id, 0), stamp)

    async def bytes_held(self) -> int:
        return (
            sum(len(e.envelope.ciphertext) for e in self.envelopes.values())
            + sum(b.size for b in self.blobs.values())
            + sum(len(d.data) for d in self.documents.values())
            + sum(len(data) for _, data in self.links.values())
        )

    async def token_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        d = self.devices.get(device_id)
        return None if d is None else d.tokens

    async def delivery_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        d = self.devices.get(device_id)
        if d is None:
            return None
        union: dict[bytes, None] = {}
        for other in self.devices.values():
            if other.address == d.address:
                union.update(dict.fromkeys(other.tokens))
        return tuple(union)

    async def removed_at(self, device_id: bytes) -> int | None:
        return self.removed.get(device_id)

    async def replace_tokens(self, device_id: bytes, hashes: tuple[bytes, ...]) -> int:
        self.devices[device_id].tokens = _unique_tokens(hashes)
        return len(self.devices[device_id].tokens)

    async def prekey_counts(self, device_id: bytes) -> PrekeyCounts:
        return _counts(self.devices[device_id])

    async def put_prekeys(self, device_id: bytes, update: PrekeyUpdate) -> PrekeyCounts:
        d = self.devices[device_id]
        _put_keys(d, update)
        return _counts(d)

    async def take_bundles(self, address: bytes, *, consume: int) -> list[BundleParts] | None:
        if address not in self.accounts:
            return None
        out: list[BundleParts] = []
        for device_id, d in sorted(self.devices.items()):
            if d.address != address or d.signed is None or d.kem_last_resort is None:
                continue
            otk = kem = None
            if len(out) < consume:
                otk = d.one_time.pop(min(d.one_time)) if d.one_time else None
                kem = d.kem_one_time.pop(min(d.kem_one_time)) if d.kem_one_time else None
            out.append(
                BundleParts(
                    device_id,
                    self.accounts[address],
                    d.cert,
                    d.signed.record,
                    otk,
                    kem if kem is not None else d.kem_last_resort.record,
                )
            )
        return out

    async def store_envelopes(self, items: list[NewEnvelope], quota: int) -> list[SendResult]:
        if any(item.device_id in self.removed for item in items):
            kept = [item for item in items if item.device_id not in self.removed]
            done = iter(await self.store_envelopes(kept, quota))
            return [
                SendResult(item.envelope_id, "device_removed") if item.device_id in self.removed else next(done)
                for item in items
            ]
        results = []
        for env in items:
            old = self.envelopes.get(env.envelope_id)
            if old is not None:
                if old.device_id != env.device_id:
                    results.append(SendResult(env.envelope_id, "conflict"))
                else:
                    results.append(SendResult(env.envelope_id, "duplicate", old.envelope.expires_at_ms))
                continue
            if sum(s.device_id == env.device_id for s in self.envelopes.values()) >= quota:
                results.append(SendResult(env.envelope_id, "mailbox_full"))
                continue
            self._seq += 1
            stored = StoredEnvelope(self._seq, env.envelope_id, env.received_at_ms, env.expires_at_ms, env.ciphertext)
            self.envelopes[env.envelope_id] = _Stored(env.device_id, stored)
            results.append(SendResult(env.envelope_id, "stored", env.expires_at_ms, stored))
        return results

    async def fetch(self, device_id: bytes, after_seq: int, limit: int) -> list[StoredEnvelope]:
        mine = [s.envelope for s in self.envelopes.values() if s.device_id == device_id and s.envelope.seq > after_seq]
        return sorted(mine, key=lambda e: e.seq)[:limit]

    async def ack(self, device_id: bytes, envelope_ids: list[bytes]) -> int:
        deleted = 0
        for envelope_id in dict.fromkeys(envelope_ids):
            stored = self.envelopes.get(envelope_id)
            if stored is not None and stored.device_id == device_id:
                del self.envelopes[envelope_id]
                deleted += 1
        return deleted

    async def add_blob(self, blob: BlobRecord) -> None:
        self.blobs[blob.blob_id] = blob

    async def blob(self, blob_id: str) -> BlobRecord | None:
        return self.blobs.get(blob_id)

    async def blob_bytes(self, device_id: bytes) -> int:
        return sum(b.size for b in self.blobs.values() if b.device_id == device_id)

    async def delete_blob(self, blob_id: str) -> BlobRecord | None:
        return self.blobs.pop(blob_id, None)

    async def blob_names(self) -> set[str]:
        return {b.path for b in self.blobs.values()}

    async def put_document(self, document: StoredDocument) -> bool:
        key = (document.address, document.kind)
        held = self.documents.get(key)
        if held is not None:
            if held.version == document.version and held.data == document.data:
                return False
            if held.version >= document.version:
                raise Conflict("the relay holds a newer version of this document, or this version with other bytes")
            # Replacing keeps the first publication's place, as the SQLite store's row does.
        self.documents[key] = document
        return True

    async def document(self, address: bytes, kind: int) -> StoredDocument | None:
        return self.documents.get((address, kind))

    async def recovery_key(self, address: bytes) -> bytes | None:
        return self.recovery_keys.get(address)

    async def set_recovery_key(self, address: bytes, key: bytes, now_ms: int) -> None:
        self.recovery_keys[address] = key

    async def put_device_list(
        self, document: StoredDocument, listed: tuple[bytes, ...], now_ms: int
    ) -> DeviceListUpdate:
        if not await self.put_document(document):
            return DeviceListUpdate(stored=False)
        self.listed[document.address] = set(listed)
        for device_id in listed:
            self.removed.pop(device_id, None)
        removed = tuple(i for i, d in self.devices.items() if d.address == document.address and i not in listed)
        for device_id in removed:
            del self.devices[device_id]
            self.removed[device_id] = now_ms
            for key in [k for k, s in self.envelopes.items() if s.device_id == device_id]:
                del self.envelopes[key]
        return DeviceListUpdate(stored=True, removed=removed)

    async def put_link(self, channel: bytes, slot: int, data: bytes, now_ms: int) -> bool:
        ends = [end for (c, _), (end, _) in self.links.items() if c == channel]
        if ends and min(ends) <= now_ms:
            self.links = {k: v for k, v in self.links.items() if k[0] != channel}
            ends = []
        if not ends and len({c for (c, _), (end, _) in self.links.items() if end > now_ms}) >= MAX_LINK_CHANNELS:
            raise InsufficientStorage("too many devices are being linked on this relay")
        held = self.links.get((channel, slot))
        if held is not None:
            if held[1] == data:
                return False
            raise Conflict("this link slot holds another message already")
        self.links[(channel, slot)] = (min(ends) if ends else now_ms + 1000 * LINK_CHANNEL_TTL_S, data)
        return True

    async def link(self, channel: bytes, slot: int, now_ms: int) -> bytes | None:
        held = self.links.get((channel, slot))
        return None if held is None or held[0] <= now_ms else held[1]

    async def received_epochs(self, epoch_ms: int, epochs: list[int]) -> set[int]:
        held = {s.envelope.received_at_ms // epoch_ms for s in self.envelopes.values()}
        return held.intersection(epochs)

    async def holdings(self) -> Holdings:
        envelopes = sorted((s.envelope for s in self.envelopes.values()), key=lambda e: e.seq)
        return Holdings(
            tuple(HeldEnvelope(len(e.ciphertext), e.received_at_ms, e.expires_at_ms) for e in envelopes),
            tuple(HeldBlob(b.size, b.expires_at_ms) for b in self.blobs.values()),
            tuple(HeldDocument(d.kind, len(d.data), d.expires_at_ms) for d in self.documents.values()),
        )

    async def sweep(self, now_ms: int) -> SweepResult:
        gone = [k for k, s in self.envelopes.items() if s.envelope.expires_at_ms <= now_ms]
        for k in gone:
            del self.envelopes[k]
        expired = [b for b in self.blobs.values() if b.expires_at_ms <= now_ms]
        for b in expired:
            del self.blobs[b.blob_id]
        stale = [k for k, d in self.documents.items() if d.expires_at_ms <= now_ms]
        for key in stale:
            del self.documents[key]
        self.links = {k: v for k, v in self.links.items() if v[0] > now_ms}
        return SweepResult(len(gone), tuple(b.path for b in expired), len(stale))

    async def checkpoint(self) -> None:
        self.events.append("checkpoint")


def _unique_tokens(hashes: tuple[bytes, ...]) -> tuple[bytes, ...]:
    unique = tuple(dict.fromkeys(hashes))
    if len(unique) > MAX_TOKEN_HASHES:
        raise BadRequest(f"a device may register at most {MAX_TOKEN_HASHES} delivery tokens")
    return unique


def _put_keys(d: _Device, update: PrekeyUpdate) -> None:
    """Check both stock caps first, then change ``d``: a refused update changes nothing."""
    one_time = d.one_time | {k.key_id: k.record for k in update.one_time}
    kem_one_time = d.kem_one_time | {k.key_id: k.record for k in update.kem_one_time}
    for keys, cap in ((one_time, MAX_ONE_TIME_STOCK), (kem_one_time, MAX_KEM_ONE_TIME_STOCK)):
        if len(keys) > cap:
            raise BadRequest(f"the relay keeps at most {cap} keys of this kind per device; upload fewer")
    d.one_time, d.kem_one_time = one_time, kem_one_time
    d.signed = update.signed_prekey or d.signed
    d.kem_last_resort = update.kem_last_resort or d.kem_last_resort


def _counts(d: _Device) -> PrekeyCounts:
    return PrekeyCounts(
        len(d.one_time),
        len(d.kem_one_time),
        d.signed.key_id if d.signed else 0,
        d.kem_last_resort.key_id if d.kem_last_resort else 0,
    )


class MemoryBlobs:
    """A :class:`~confide.server.blobstore.BlobStore` in a dict."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.known_at_start: set[str] | None = None
        self.blobs: dict[str, bytes] = {}
        self._uploads: dict[str, bytes] = {}

    async def start(self, known: set[str]) -> int:
        self.events.append("start")
        self.known_at_start = set(known)
        orphans = [name for name in self.blobs if name not in known]
        for name in orphans:
            del self.blobs[name]
        return len(orphans)

    async def close(self) -> None:
        self.events.append("close")

    async def receive(self, stream: StreamReader, cap: int) -> Upload:
        data = bytearray()
        while chunk := await stream.read(65536):
            data += chunk
            if len(data) > cap:
                raise TooLarge(f"an attachment may be at most {cap} bytes; nothing was kept")
        temp_name = f"upload-{len(self._uploads)}"
        self._uploads[temp_name] = bytes(data)
        return Upload(temp_name, len(data), hashlib.sha256(data).hexdigest())

    async def commit(self, upload: Upload, name: str) -> None:
        self.blobs[name] = self._uploads.pop(upload.temp_name)

    async def discard(self, upload: Upload) -> None:
        self._uploads.pop(upload.temp_name, None)

    async def remove(self, name: str) -> None:
        self.blobs.pop(name, None)

    async def serve(self, name: str, byte_range: ByteRange | None = None) -> web.StreamResponse:
        if name not in self.blobs:
            raise web.HTTPNotFound()
        data = self.blobs[name]
        if byte_range is None:
            return web.Response(body=data, content_type="application/octet-stream")
        answer = web.Response(
            body=data[byte_range.start : byte_range.end], status=206, content_type="application/octet-stream"
        )
        answer.headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end - 1}/{len(data)}"
        return answer


class RecordingNotifier(_Lifecycle):
    """A :class:`~confide.server.notifier.Notifier` that records every publish and delivers it."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[bytes, bytes]] = []
        self.disconnected: list[bytes] = []
        self._subs: list[Subscription] = []

    async def subscribe(self, device_id: bytes) -> Subscription:
        sub = Subscription(device_id)
        self._subs.append(sub)
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    async def publish(self, device_id: bytes, envelope: StoredEnvelope) -> None:
        self.published.append((device_id, envelope.envelope_id))
        for sub in self._subs:
            if sub.device_id == device_id:
                sub.push(envelope)

    async def disconnect(self, device_id: bytes) -> None:
        self.disconnected.append(device_id)
        for sub in self._subs:
            if sub.device_id == device_id:
                sub.close()

    def sockets(self, device_id: bytes) -> int:
        return sum(sub.device_id == device_id for sub in self._subs)


class RecordingReplayCache(_Lifecycle):
    """A :class:`~confide.server.replay.ReplayCache` that never forgets and records every key."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[bytes] = []

    async def remember(
        self, device_id: bytes, nonce: bytes, stamp: int, floor: int, floor_nonces: bytes, now: float
    ) -> None:
        key = device_id + nonce
        if key in self.keys:
            raise Unauthorized("this request was already used (replay refused)")
        self.keys.append(key)


class RecordingLimiter(_Lifecycle):
    """A :class:`~confide.server.ratelimit.RateLimiter` that never limits and records every ``take``."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: list[tuple[str, float]] = []

    async def take(self, key: str, now: float, cost: float = 1.0) -> None:
        self.taken.append((key, cost))


class RecordingBudget(_Lifecycle):
    """A :class:`~confide.server.ratelimit.Budget` that always has budget and records every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes, int]] = []

    async def available(self, key: bytes, now: float) -> bool:
        self.calls.append(("available", key, 0))
        return True

    async def spend(self, key: bytes, now: float, amount: int) -> None:
        self.calls.append(("spend", key, amount))

    async def try_spend(self, key: bytes, now: float, amount: int) -> bool:
        self.calls.append(("try_spend", key, amount))
        return True


class RecordingSequence:
    """A :class:`~confide.server.sequence.MailboxSequence` that counts from ``first`` and records calls."""

    def __init__(self, first: int) -> None:
        self.calls: list[tuple[str, int]] = []
        self._next = first

    async def start(self, floor: int) -> None:
        self.calls.append(("start", floor))
        self._next = max(self._next, floor + 1)

    async def reserve(self, count: int) -> range:
        self.calls.append(("reserve", count))
        first = self._next
        self._next += count
        return range(first, first + count)

    async def close(self) -> None:
        self.calls.append(("close", 0))


@dataclass
class MemoryBackend:
    """One of each test implementation, and the :class:`Backend` made of them."""

    store: MemoryStore = field(default_factory=MemoryStore)
    blobs: MemoryBlobs = field(default_factory=MemoryBlobs)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    replay: RecordingReplayCache = field(default_factory=RecordingReplayCache)
    limiter: RecordingLimiter = field(default_factory=RecordingLimiter)
    bundle_limiter: RecordingLimiter = field(default_factory=RecordingLimiter)
    bundle_budget: RecordingBudget = field(default_factory=RecordingBudget)
    device_limiter: RecordingLimiter = field(default_factory=RecordingLimiter)
    recipient_limiter: RecordingLimiter = field(default_factory=RecordingLimiter)
    token_limiter: RecordingLimiter = field(default_factory=RecordingLimiter)
    token_bytes: RecordingBudget = field(default_factory=RecordingBudget)
    address_bytes: RecordingBudget = field(default_factory=RecordingBudget)
    upload_bytes: RecordingBudget = field(default_factory=RecordingBudget)

    def backend(self) -> Backend:
        return Backend(
            self.store,
            self.blobs,
            self.notifier,
            self.replay,
            self.limiter,
            self.bundle_limiter,
            self.bundle_budget,
            self.device_limiter,
            self.recipient_limiter,
            self.token_limiter,
            self.token_bytes,
            self.address_bytes,
            self.upload_bytes,
        )
