"""Device authentication: verify a signed request (``confide.protocol.auth``) and refuse replays.

Order of checks, cheapest and least trusting first: parse the headers, check the timestamp window, look up
the device certificate, verify the Ed25519 signature over method + raw path and query + timestamp + nonce +
body hash, compare the body hash (``hmac.compare_digest``), and only then remember the nonce in the injected
:class:`~confide.server.replay.ReplayCache`, so unauthenticated junk can never fill it. A proof stamped at or
after its device's stored replay floor raises the floor (or joins the nonces at it) and its last-seen time in
the store before the request is answered: a request captured before a restart is refused after it. When the store
cannot take that write (a full disk answers 503), a GET is answered all the same on the replay cache alone, so
what the relay holds stays fetchable while nothing new can be stored; every other method gets the 503.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from confide.protocol.auth import AuthProof
from confide.protocol.errors import AuthError

from .errors import DeviceRemoved, RateLimited, Unauthorized, Unavailable
from .ratelimit import RateLimiter
from .replay import ReplayCache
from .storage import DeviceRecord, RelayStore

_log = logging.getLogger(__name__)

MAX_CACHED_DEVICE_KEYS = 10_000
"""Loaded device public keys kept in memory (about 1 MiB): saves parsing a key on every request."""


class Authenticator:
    """Verifies device proofs against the store and the replay cache (both shared with other relay processes
    when the backend is networked; only the parsed-key cache here is this process's)."""

    def __init__(
        self,
        store: RelayStore,
        replay: ReplayCache,
        clock: Callable[[], float],
        device_limiter: RateLimiter | None = None,
    ) -> None:
        self._store = store
        self._replay = replay
        self._clock = clock
        self._device_limiter = device_limiter
        self._keys: OrderedDict[bytes, Ed25519PublicKey] = OrderedDict()

    def parse(self, request: web.Request) -> AuthProof:
        """Parse the proof headers and check the time window.

        Raises:
            Unauthorized: missing, malformed or expired proof.
        """
        try:
            proof = AuthProof.from_headers(request.headers)
            proof.check_time(int(self._clock()))
        except AuthError as exc:
            raise Unauthorized(f"device authentication failed: {exc}") from None
        return proof

    async def verify(
        self,
        request: web.Request,
        proof: AuthProof,
        device_key: Ed25519PublicKey,
        body: bytes | None,
        floor: int = 0,
        floor_nonces: bytes = b"",
    ) -> None:
        """Verify the signature (and the body hash unless ``body`` is None: a streamed body is checked by
        its handler with :func:`check_body_hash`), then record the nonce above the device's replay ``floor``
        (its :attr:`~confide.server.storage.DeviceRecord.replay_floor` and ``replay_nonces``; 0 and empty for
        a device not yet stored).

        Raises:
            Unauthorized: bad signature, body hash mismatch, or a replayed nonce.
            RateLimited: the device is over its request rate, or the replay cache cannot take more nonces.
        """
        try:
            proof.verify(device_key, request.method, request.raw_path)
        except AuthError:
            raise Unauthorized("the request signature does not verify for this device") from None
        if body is not None:
            check_body_hash(proof, hashlib.sha256(body).hexdigest())
        if self._device_limiter is not None:  # after the signature: nobody can spend another device's bucket
            try:
                await self._device_limiter.take(proof.device_id.hex(), self._clock())
            except RateLimited:
                raise RateLimited(
                    "this device is making too many requests; slow down and retry in a few seconds"
                ) from None
        await self._replay.remember(proof.device_id, proof.nonce, proof.timestamp, floor, floor_nonces, self._clock())

    async def authenticate(self, request: web.Request, body: bytes | None) -> DeviceRecord:
        """Authenticate a registered device's request; return its record.

        Raises:
            Unauthorized: no valid, fresh, unreplayed proof by a registered device.
            DeviceRemoved: the device was removed by its account's signed device list (answered before any
                signature check: the relay no longer holds its key, and that a listed device id was removed is
                no secret: the list itself is public).
            RateLimited: the replay cache cannot take more nonces right now.
        """
        return (await self.authenticate_with_proof(request, body))[0]

    async def authenticate_with_proof(self, request: web.Request, body: bytes | None) -> tuple[DeviceRecord, AuthProof]:
        """Like :meth:`authenticate`, also returning the proof (to check a streamed body's hash later).

        Raises:
            Unavailable: the store could not record the proof (e.g. a full disk) and the request is not a GET.
        """
        proof = self.parse(request)
        device = await self._store.device(proof.device_id)
        if device is None:
            if await self._store.removed_at(proof.device_id) is not None:
                raise DeviceRemoved()
            raise Unauthorized("this device is not registered with the relay; register it first")
        await self.verify(request, proof, self._device_key(device), body, device.replay_floor, device.replay_nonces)
        if proof.timestamp >= device.replay_floor:  # an older stamp cannot raise the floor
            try:
                await self._store.note_seen(device.device_id, proof.timestamp, proof.nonce, int(self._clock() * 1000))
            except Unavailable:
                # A GET stores nothing: answered on the replay cache alone (it refuses this nonce until the
                # process ends). Only a replay after a restart, inside the proof's time window, could pass,
                # and it would read ciphertext the device may read anyway.
                if request.method != "GET":
                    raise
                _log.warning("replay floor not stored (the database refused the write); a read answered")
        return device, proof

    def _device_key(self, device: DeviceRecord) -> Ed25519PublicKey:
        key = self._keys.get(device.device_id)
        if key is None:
            key = Ed25519PublicKey.from_public_bytes(device.device_cert[:32])
            self._keys[device.device_id] = key
            if len(self._keys) > MAX_CACHED_DEVICE_KEYS:
                self._keys.popitem(last=False)
        return key


def check_body_hash(proof: AuthProof, actual_hex: str) -> None:
    """Raise :class:`Unauthorized` unless the body's SHA-256 is the one the device signed."""
    if not hmac.compare_digest(actual_hex.encode(), proof.content_sha256.encode()):
        raise Unauthorized("the body does not match the signed X-Confide-Content-SHA256; sign the exact body")
