"""The outer envelope: the only thing the relay reads of a message.

Send form (client → relay), version 1::

    version u8 (=1) || envelope_id(16) || recipient_device(16) || delivery_token(32)
    || lifetime_s u32 || ciphertext var32

Delivery form (relay → recipient device)::

    version u8 (=1) || envelope_id(16) || received_at_ms u64 || expires_at_ms u64 || ciphertext var32

``envelope_id`` is random per envelope and chosen by the sender (idempotent retries); ``ciphertext`` is a
sealed-sender message (:mod:`confide.protocol.sealed`). Nothing here names the sender.
A batch (``POST /v1/messages/batch``) is ``count u16 || (envelope var32) * count``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from confide.keys.device import DEVICE_ID_LEN
from confide.keys.encoding import Reader, Writer

from .errors import RemoteProtocolError

ENVELOPE_VERSION = 1
ENVELOPE_ID_LEN = 16
DELIVERY_TOKEN_LEN = 32
ENVELOPE_HEADER_LEN = 1 + ENVELOPE_ID_LEN + DEVICE_ID_LEN + DELIVERY_TOKEN_LEN + 4 + 4

MAX_SEALED_LEN = 72 * 1024
"""Largest sealed ciphertext: the 64 KiB plaintext bucket plus ratchet, prekey and sealing overhead
(ML-KEM ciphertext 1088 B, identities, tags) rounded up. Attachments travel as blobs, never inline."""
MAX_ENVELOPE_LEN = ENVELOPE_HEADER_LEN + MAX_SEALED_LEN
MAX_BATCH = 256
"""Envelopes per batch request: enough for a group fan-out or a receipt flush, bounded request size."""
MAX_IDS_PER_REQUEST = 500
"""Envelope ids per acknowledgement and envelopes per pull page (relay API, docs/relay-api.md): a backlog
drains in a few round trips while no single request makes the relay delete or read more than 500 rows."""

_TOKEN_LABEL = b"Confide-delivery-token-v1"


def delivery_token_hash(token: bytes) -> bytes:
    """What the relay stores for a delivery token: ``SHA-256("Confide-delivery-token-v1" || token)``."""
    return hashlib.sha256(_TOKEN_LABEL + token).digest()


@dataclass(frozen=True, slots=True)
class Envelope:
    """An envelope as a sender posts it to the relay."""

    envelope_id: bytes
    recipient_device: bytes
    delivery_token: bytes
    lifetime_s: int
    ciphertext: bytes

    def __post_init__(self) -> None:
        if len(self.envelope_id) != ENVELOPE_ID_LEN or len(self.recipient_device) != DEVICE_ID_LEN:
            raise ValueError("bad id length")
        if len(self.delivery_token) != DELIVERY_TOKEN_LEN:
            raise ValueError("a delivery token is 32 bytes")
        if not 0 <= self.lifetime_s <= 0xFFFFFFFF:
            raise ValueError("lifetime out of range")

    def to_bytes(self) -> bytes:
        return (
            Writer()
            .u8(ENVELOPE_VERSION)
            .raw(self.envelope_id)
            .raw(self.recipient_device)
            .raw(self.delivery_token)
            .u32(self.lifetime_s)
            .var32(self.ciphertext)
            .bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse. Raises :class:`RemoteProtocolError` on a wrong version, length or trailing bytes."""
        r = Reader(data, RemoteProtocolError)
        if r.u8() != ENVELOPE_VERSION:
            raise RemoteProtocolError("unknown envelope version")
        env = cls(
            r.raw(ENVELOPE_ID_LEN),
            r.raw(DEVICE_ID_LEN),
            r.raw(DELIVERY_TOKEN_LEN),
            r.u32(),
            r.var32(MAX_SEALED_LEN),
        )
        r.end()
        return env

    def __repr__(self) -> str:
        return f"Envelope(id={self.envelope_id.hex()}, {len(self.ciphertext)} bytes)"


@dataclass(frozen=True, slots=True)
class Delivery:
    """An envelope as the relay hands it to its recipient device."""

    envelope_id: bytes
    received_at_ms: int
    expires_at_ms: int
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        return (
            Writer()
            .u8(ENVELOPE_VERSION)
            .raw(self.envelope_id)
            .u64(self.received_at_ms)
            .u64(self.expires_at_ms)
            .var32(self.ciphertext)
            .bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Delivery:
        """Parse. Raises :class:`RemoteProtocolError`."""
        r = Reader(data, RemoteProtocolError)
        if r.u8() != ENVELOPE_VERSION:
            raise RemoteProtocolError("unknown delivery version")
        d = cls(r.raw(ENVELOPE_ID_LEN), r.u64(), r.u64(), r.var32(MAX_SEALED_LEN))
        r.end()
        return d

    def __repr__(self) -> str:
        return f"Delivery(id={self.envelope_id.hex()}, {len(self.ciphertext)} bytes)"


def encode_batch(envelopes: list[bytes]) -> bytes:
    """Encode envelope bytes as a batch body."""
    if len(envelopes) > MAX_BATCH:
        raise ValueError("too many envelopes in one batch")
    w = Writer().u16(len(envelopes))
    for env in envelopes:
        w.var32(env)
    return w.bytes()


def decode_batch(data: bytes) -> list[Envelope]:
    """Decode a batch body. Raises :class:`RemoteProtocolError`."""
    r = Reader(data, RemoteProtocolError)
    n = r.u16()
    if n == 0 or n > MAX_BATCH:
        raise RemoteProtocolError("a batch holds 1 to 256 envelopes")
    out = [Envelope.from_bytes(r.var32(MAX_ENVELOPE_LEN)) for _ in range(n)]
    r.end()
    return out
