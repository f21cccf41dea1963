"""Device authentication to the relay: every request is signed by the device key.

Headers on an authenticated request::

    X-Confide-Device:    device id, 32 hex digits
    X-Confide-Timestamp: unix seconds, decimal
    X-Confide-Nonce:     16 random bytes, 32 hex digits
    X-Confide-Content-SHA256: hex SHA-256 of the request body (of the empty string when there is none)
    X-Confide-Signature: base64url (no padding) Ed25519 signature over the canonical string

Canonical string (UTF-8)::

    "Confide-auth-v1\\n" METHOD "\\n" PATH?QUERY "\\n" TIMESTAMP "\\n" NONCE "\\n" CONTENT-SHA256

The relay refuses a timestamp more than :data:`REPLAY_WINDOW_S` away from its clock and a nonce it has seen
within the window, so a captured request cannot be replayed. No passwords, no bearer tokens to steal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from confide.keys.device import DEVICE_ID_LEN, DeviceKeyPair

from .errors import AuthError

AUTH_VERSION_LABEL = "Confide-auth-v1"
REPLAY_WINDOW_S = 300
"""Accept proofs at most five minutes from the relay clock: phones drift; a shorter window refuses honest
devices, a longer one grows the nonce cache the relay must keep to stop replays."""
NONCE_LEN = 16

H_DEVICE = "X-Confide-Device"
H_TIMESTAMP = "X-Confide-Timestamp"
H_NONCE = "X-Confide-Nonce"
H_CONTENT = "X-Confide-Content-SHA256"
H_SIGNATURE = "X-Confide-Signature"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _canonical(method: str, path: str, timestamp: int, nonce_hex: str, content_sha256: str) -> bytes:
    return "\n".join((AUTH_VERSION_LABEL, method.upper(), path, str(timestamp), nonce_hex, content_sha256)).encode()


def sign_request(
    device: DeviceKeyPair, method: str, path: str, body_sha256: str, *, now: int, nonce: bytes
) -> dict[str, str]:
    """Headers proving ``device`` made this request at ``now`` (unix seconds)."""
    if len(nonce) != NONCE_LEN:
        raise ValueError("nonce must be 16 bytes")
    nonce_hex = nonce.hex()
    sig = device.sign(_canonical(method, path, now, nonce_hex, body_sha256))
    return {
        H_DEVICE: device.device_id.hex(),
        H_TIMESTAMP: str(now),
        H_NONCE: nonce_hex,
        H_CONTENT: body_sha256,
        H_SIGNATURE: base64.urlsafe_b64encode(sig).rstrip(b"=").decode(),
    }


@dataclass(frozen=True, slots=True)
class AuthProof:
    """Parsed (not yet verified) authentication headers."""

    device_id: bytes
    timestamp: int
    nonce: bytes
    content_sha256: str
    signature: bytes

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> AuthProof:
        """Parse the headers. Raises :class:`AuthError` when one is missing or malformed."""
        try:
            device_id = bytes.fromhex(headers[H_DEVICE])
            ts_text = headers[H_TIMESTAMP]
            nonce = bytes.fromhex(headers[H_NONCE])
            content = headers[H_CONTENT].lower()
            sig_text = headers[H_SIGNATURE]
            sig = base64.urlsafe_b64decode(sig_text + "=" * (-len(sig_text) % 4))
        except (KeyError, ValueError, binascii.Error) as exc:
            raise AuthError("missing or malformed authentication headers") from exc
        if not ts_text.isdigit() or len(ts_text) > 12:
            raise AuthError("malformed timestamp")
        if len(device_id) != DEVICE_ID_LEN or len(nonce) != NONCE_LEN or len(sig) != 64:
            raise AuthError("malformed authentication headers")
        if len(content) != 64 or any(c not in "0123456789abcdef" for c in content):
            raise AuthError("malformed content hash")
        return cls(device_id, int(ts_text), nonce, content, sig)

    def check_time(self, now: int, window: int = REPLAY_WINDOW_S) -> None:
        """Raise :class:`AuthError` if the proof is outside the replay window."""
        if abs(now - self.timestamp) > window:
            raise AuthError("request timestamp outside the accepted window; check the device clock")

    def verify(self, device_public: Ed25519PublicKey, method: str, path: str) -> None:
        """Verify the signature for this method and path. Raises :class:`AuthError`."""
        msg = _canonical(method, path, self.timestamp, self.nonce.hex(), self.content_sha256)
        try:
            device_public.verify(self.signature, msg)
        except InvalidSignature as exc:
            raise AuthError("request signature does not verify") from exc


# -- registration work (proof of work over a relay-issued challenge) ----------------------------------

WORK_LABEL = b"Confide-registration-work-v1"
"""Domain separation of the registration work hash."""

MAX_WORK_BITS = 32
"""Highest difficulty a client will attempt: 2^32 hashes is hours in Python; a relay asking more is broken."""


def work_digest(challenge: bytes, device_id: bytes, nonce: bytes) -> bytes:
    """SHA-256 over the label, the relay's challenge, the registering device id and the client's nonce.

    Binding the device id means one solved challenge registers one device, not many."""
    h = hashlib.sha256(WORK_LABEL)
    for part in (challenge, device_id, nonce):
        h.update(len(part).to_bytes(2, "big"))
        h.update(part)
    return h.digest()


def leading_zero_bits(digest: bytes) -> int:
    """Leading zero bits of ``digest``."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def work_ok(challenge: bytes, device_id: bytes, nonce: bytes, bits: int) -> bool:
    """True if ``nonce`` is work of at least ``bits`` over ``challenge`` for ``device_id``."""
    return len(nonce) <= 16 and leading_zero_bits(work_digest(challenge, device_id, nonce)) >= bits


def solve_work(challenge: bytes, device_id: bytes, bits: int) -> bytes:
    """A nonce (8 bytes, counting up) whose :func:`work_digest` has ``bits`` leading zero bits: about
    ``2**bits`` hashes. Raises :class:`AuthError` for a difficulty above :data:`MAX_WORK_BITS`."""
    if not 0 <= bits <= MAX_WORK_BITS:
        raise AuthError(f"the relay asks for registration work of {bits} bits; at most {MAX_WORK_BITS} is done")
    counter = 0
    while True:
        nonce = counter.to_bytes(8, "big")
        if work_ok(challenge, device_id, nonce, bits):
            return nonce
        counter += 1
