"""Safety numbers: 60 digits (and a QR payload) that two people compare to rule out a key substitution.

Each party's fingerprint is an iterated SHA-512, as in Signal's fingerprint version 1::

    h = SHA-512(version u16 (=1) || identity_signing_public(32) || address(20))
    repeat SAFETY_NUMBER_ITERATIONS - 1 times:  h = SHA-512(h || identity_signing_public)
    fingerprint = h[:32]

A party's 30 digits are the first 30 bytes of its fingerprint in six 5-byte chunks, each read as a
big-endian integer mod 100000 and written as 5 digits. The two fingerprints are put in a canonical order
(bytewise ascending), so both sides display the same 60 digits and build the same QR payload::

    qr_payload = SAFETY_QR_VERSION u8 (=1) || fingerprint_low(32) || fingerprint_high(32)

The identity signing key certifies the agreement key and every device and prekey, so covering it covers
them all. Comparisons of scanned payloads use :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass, field

from .identity import IdentityPublicKey

SAFETY_NUMBER_VERSION = 1
"""Hashed into every fingerprint, so a future scheme can never produce the same digits by accident."""
SAFETY_NUMBER_ITERATIONS = 5200
"""Signal's count: each guess at a key whose 30 digits (~100 bits) collide with a victim's costs 5200
SHA-512 runs, yet one safety number takes only about 2 x 5 ms to compute."""
SAFETY_QR_VERSION = 1
"""First byte of the QR payload; a scanner that sees another value reports WRONG_VERSION, not a mismatch."""
FINGERPRINT_LEN = 32
"""Bytes of each party's iterated hash kept for the QR payload (256 bits, as Signal's scannable form)."""
QR_PAYLOAD_LEN = 1 + 2 * FINGERPRINT_LEN
"""Exact length of a version-1 QR payload."""
DIGITS_PER_PARTY = 30
"""Six groups of five digits per person; 60 in all."""
_CHUNK_LEN = 5
_CHUNKS = DIGITS_PER_PARTY // 5


class ScanResult(enum.Enum):
    """Outcome of comparing a scanned QR payload with our own safety number.

    MATCH: same two identities; mark the contact verified. MISMATCH: a well-formed payload for other keys
    (a possible key substitution, or the wrong contact's code). WRONG_VERSION: the other app uses another
    safety-number version; compare the digits instead. MALFORMED: not a safety-number payload at all.
    """

    MATCH = "match"
    MISMATCH = "mismatch"
    WRONG_VERSION = "wrong_version"
    MALFORMED = "malformed"


def _fingerprint(identity: IdentityPublicKey) -> bytes:
    key = identity.signing
    h = hashlib.sha512(SAFETY_NUMBER_VERSION.to_bytes(2, "big") + key + identity.address.raw).digest()
    for _ in range(SAFETY_NUMBER_ITERATIONS - 1):
        h = hashlib.sha512(h + key).digest()
    return h[:FINGERPRINT_LEN]


def _digits(fingerprint: bytes) -> str:
    return "".join(
        f"{int.from_bytes(fingerprint[i * _CHUNK_LEN : (i + 1) * _CHUNK_LEN], 'big') % 100000:05d}"
        for i in range(_CHUNKS)
    )


@dataclass(frozen=True, slots=True)
class SafetyNumber:
    """The safety number of a pair of identities; identical on both sides."""

    digits: str
    fingerprints: tuple[bytes, bytes] = field(repr=False)

    def display(self) -> str:
        """12 groups of 5 digits, 3 lines of 4 groups."""
        groups = [self.digits[i : i + 5] for i in range(0, len(self.digits), 5)]
        return "\n".join(" ".join(groups[i : i + 4]) for i in range(0, len(groups), 4))

    def qr_payload(self) -> bytes:
        """The bytes to put in a QR code for the other person to scan (see the module docstring)."""
        return bytes((SAFETY_QR_VERSION,)) + self.fingerprints[0] + self.fingerprints[1]

    def verify_scan(self, payload: bytes) -> ScanResult:
        """Compare a scanned payload with ours in constant time. Never raises on garbage."""
        if not isinstance(payload, bytes | bytearray | memoryview) or len(payload) == 0:
            return ScanResult.MALFORMED
        data = bytes(payload)
        if data[0] != SAFETY_QR_VERSION:
            return ScanResult.WRONG_VERSION
        if len(data) != QR_PAYLOAD_LEN:
            return ScanResult.MALFORMED
        return ScanResult.MATCH if hmac.compare_digest(data, self.qr_payload()) else ScanResult.MISMATCH

    def __str__(self) -> str:
        return self.display()


def compute_safety_number(local: IdentityPublicKey, remote: IdentityPublicKey) -> SafetyNumber:
    """The safety number of ``local`` and ``remote``; swapping them gives the same number."""
    low, high = sorted((_fingerprint(local), _fingerprint(remote)))
    return SafetyNumber(_digits(low) + _digits(high), (low, high))
