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
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
MAX_TIMESTAMP_DIGITS = 12
"""Unix seconds fit in 11 digits until the year 5138; 12 bounds what the relay parses."""
_HEADER_FORMS = {
    H_DEVICE: re.compile(f"[0-9a-f]{{{2 * DEVICE_ID_LEN}}}", re.ASCII),
    H_TIMESTAMP: re.compile(f"0|[1-9][0-9]{{0,{MAX_TIMESTAMP_DIGITS - 1}}}", re.ASCII),
    H_NONCE: re.compile(f"[0-9a-f]{{{2 * NONCE_LEN}}}", re.ASCII),
    H_CONTENT: re.compile("[0-9a-f]{64}", re.ASCII),
    H_SIGNATURE: re.compile("[A-Za-z0-9_-]{86}", re.ASCII),
}
"""The one accepted spelling of each header (protocol/SPEC.md section 7): lowercase hex of the exact length,
decimal without a leading zero, unpadded base64url of 64 bytes. Exactly what :func:`sign_request` writes, so
two relays accept exactly the same requests and a proof has one textual form."""


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
        """Parse the headers, each in its one canonical spelling (:data:`_HEADER_FORMS`).

        Raises:
            AuthError: a header is missing or not in its canonical form (upper-case hex, a leading zero, base64
                padding or set spare bits, non-ASCII digits, wrong length).
        """
        try:
            texts = {name: headers[name] for name in _HEADER_FORMS}
        except KeyError as exc:
            raise AuthError("missing authentication headers") from exc
        for name, form in _HEADER_FORMS.items():
            if not isinstance(texts[name], str) or form.fullmatch(texts[name]) is None:
                raise AuthError(f"malformed {name} header")
        sig_text = texts[H_SIGNATURE]
        sig = base64.urlsafe_b64decode(sig_text + "==")
        if base64.urlsafe_b64encode(sig).rstrip(b"=").decode() != sig_text:  # spare bits set: not canonical
            raise AuthError(f"malformed {H_SIGNATURE} header")
        return cls(
            bytes.fromhex(texts[H_DEVICE]),
            int(texts[H_TIMESTAMP]),
            bytes.fromhex(texts[H_NONCE]),
            texts[H_CONTENT],
            sig,
        )

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


H_RECOVERY = "X-Confide-Recovery-Signature"
"""Header of a device-list publication authorised by the identity's recovery code instead of a listed device
(SPEC section 15.7): the unpadded base64url of an Ed25519 signature, 86 characters in the one spelling of
:data:`H_SIGNATURE`."""
RECOVERY_PUBLISH_LABEL = b"Confide-recovery-publish-v1"
"""What a recovery authority signs, before the SHA-256 of the published document: a signature made for anything
else never verifies here."""


def sign_recovery_publish(key: Ed25519PrivateKey, body: bytes) -> dict[str, str]:
    """The header authorising the publication of ``body`` (a signed device list) by the recovery authority ``key``
    (:func:`confide.keys.recovery.recovery_authority`). Replaying it can only publish the very same bytes again."""
    signature = key.sign(RECOVERY_PUBLISH_LABEL + hashlib.sha256(body).digest())
    return {H_RECOVERY: base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")}


def check_recovery_publish(public: bytes, header: str, body: bytes) -> None:
    """Check a recovery authority's header over ``body`` against the registered ``public`` key (32 bytes).

    Raises:
        AuthError: not the one spelling of a signature, or it does not verify.
    """
    if _HEADER_FORMS[H_SIGNATURE].fullmatch(header) is None:
        raise AuthError("the recovery signature is not 86 characters of unpadded base64url")
    signature = base64.urlsafe_b64decode(header + "==")
    if base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii") != header:
        raise AuthError("the recovery signature is not in its one spelling")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            signature, RECOVERY_PUBLISH_LABEL + hashlib.sha256(body).digest()
        )
    except (InvalidSignature, ValueError):
        raise AuthError("the recovery signature does not verify for this identity's recovery key") from None
