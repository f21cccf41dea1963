"""SPAKE2 (RFC 9382) over edwards25519's prime-order group, by libsodium (PyNaCl): a key from a short code.

Two parties who share a low-entropy password ``w`` (here: 40 bits of a link code, SPEC section 15) derive a
strong shared key over a channel an attacker controls. An active attacker learns one password guess per run
and nothing offline; a passive one learns nothing. Ciphersuite SPAKE2-edwards25519-SHA256-HKDF-HMAC
(RFC 9382 section 6, the edwards25519 row), with the RFC's parameters:

* group: the subgroup of order l of edwards25519, generator ``G`` the RFC 8032 base point, cofactor h = 8;
  every element travels as its canonical 32-byte compressed encoding (:mod:`confide.protocol.franking_group`
  explains why libsodium's ``crypto_core_ed25519_is_valid_point`` is exactly the membership test we need);
* ``M`` and ``N``: the RFC's edwards25519 constants (section 6, generated as its appendix describes: SHA-256 of
  ``"edwards25519 point generation seed (M)"`` / ``"(N)"``, hashed again until the bytes decode to a point of
  the prime-order subgroup; 21 and 7 hashes; ``tests/protocol/test_link.py`` recomputes them);
* protocol (section 3.3)::

      A: x random, pA = x·G + w·M            B: y random, pB = y·G + w·N
      A: K = h·x·(pB − w·N)                  B: K = h·y·(pA − w·M)
      TT = len(A) || A || len(B) || B || len(pA) || pA || len(pB) || pB || len(K) || K || len(w) || w

  with every ``len`` an 8-byte little-endian integer and ``w`` written as its 32-byte canonical scalar
  (little-endian, RFC 8032's convention: the RFC fixes no scalar encoding for this group);
* key schedule (section 4)::

      Ke || Ka  = SHA-256(TT)                                   16 bytes each
      KcA || KcB = HKDF-SHA-256(salt = none, ikm = Ka, info = "ConfirmationKeys" || AAD, L = 32)
      cA = HMAC-SHA-256(KcA, TT)       cB = HMAC-SHA-256(KcB, TT)

Each side sends its confirmation and MUST check the other's (constant time) before using ``Ke``; a wrong
confirmation is :class:`~confide.protocol.errors.LinkCodeMismatch`. Every received element is checked
(canonical, in the prime-order subgroup, not the identity) before use, so the cofactor multiplication is a
formality we keep to follow the RFC; ``h·x`` is computed as the scalar ``8x mod l``.

Sans-I/O: randomness comes from ``rng``. Nothing here does group arithmetic of its own: libsodium adds,
subtracts and multiplies.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass, field

import nacl.exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import crypto_core_ed25519_scalar_reduce, crypto_core_ed25519_sub

from confide.keys.encoding import RNG

from . import franking_group as group
from .errors import LinkCodeMismatch, LocalProtocolError, RemoteProtocolError

M = bytes.fromhex("d048032c6ea0b6d697ddc2e86bda85a33adac920f1bf18e1b0c6d166a5cecdaf")
"""RFC 9382 section 6, edwards25519: seed ``"edwards25519 point generation seed (M)"``. A blinds with it."""
N = bytes.fromhex("d3bfb518f44f3430f29d0c92af503865a1ed3281dc69b35dd868ba85f886c4ab")
"""RFC 9382 section 6, edwards25519: seed ``"edwards25519 point generation seed (N)"``. B blinds with it."""
COFACTOR = 8
"""edwards25519's cofactor h; RFC 9382 multiplies K by it against small-subgroup confinement."""
SHARE_LEN = group.POINT_LEN
"""``pA`` and ``pB`` are compressed points (32 bytes)."""
KEY_LEN = 16
"""``Ke`` (and ``Ka``): half of SHA-256's output (RFC 9382 section 4)."""
CONFIRMATION_LEN = 32
"""``cA`` and ``cB``: an HMAC-SHA-256 tag."""

_CONFIRMATION_INFO = b"ConfirmationKeys"
_COFACTOR_SCALAR = COFACTOR.to_bytes(group.SCALAR_LEN, "little")
_LEN = struct.Struct("<Q")


class Role(enum.Enum):
    """Which side of RFC 9382 this party plays: A blinds with M and sends first, B blinds with N."""

    A = "A"
    B = "B"


@dataclass(frozen=True, slots=True)
class Spake2Keys:
    """What both sides derive from one run: ``ke`` (the shared secret, usable only after the peer's
    confirmation verified) and both confirmations. ``transcript_hash`` is SHA-256(TT), i.e. ``Ke || Ka``
    (for vectors only). Secrets do not print."""

    ke: bytes = field(repr=False)
    confirm_a: bytes = field(repr=False)
    confirm_b: bytes = field(repr=False)
    shared_point: bytes = field(repr=False)
    transcript_hash: bytes = field(repr=False)


def password_scalar(wide: bytes) -> bytes:
    """``w``: 64 bytes (a hash of the password) reduced modulo l.

    Raises:
        ValueError: ``wide`` is not 64 bytes long.
    """
    if len(wide) != group.WIDE_LEN:
        raise ValueError(f"a password scalar is reduced from {group.WIDE_LEN} bytes")
    return crypto_core_ed25519_scalar_reduce(wide)


def transcript(id_a: bytes, id_b: bytes, p_a: bytes, p_b: bytes, k: bytes, w: bytes) -> bytes:
    """RFC 9382's TT: each part preceded by its length as 8 bytes little-endian."""
    return b"".join(_LEN.pack(len(part)) + part for part in (id_a, id_b, p_a, p_b, k, w))


class Spake2:
    """One party of one SPAKE2 run. :attr:`share` is what to send; :meth:`finish` takes the peer's share once.

    ``w`` is the reduced password scalar (:func:`password_scalar`), ``id_a``/``id_b`` the two parties'
    identities (the same on both sides) and ``aad`` the associated data bound into the confirmation keys.
    """

    __slots__ = ("_aad", "_finished", "_id_a", "_id_b", "_role", "_w", "_x", "share")

    def __init__(self, role: Role, w: bytes, *, id_a: bytes, id_b: bytes, aad: bytes, rng: RNG) -> None:
        """Draw the secret scalar (64 bytes of ``rng``) and compute the share.

        Raises:
            ValueError: ``w`` is not a non-zero reduced scalar, or ``rng`` returned the wrong length.
        """
        if not group.is_scalar(w) or group.is_zero(w):
            raise ValueError("w must be a non-zero scalar reduced modulo l")
        self._role, self._w, self._id_a, self._id_b, self._aad = role, w, id_a, id_b, aad
        self._x = group.random_scalar(rng)
        blind = M if role is Role.A else N
        try:
            self.share: bytes = group.add(group.base_mul(self._x), group.mul(w, blind))
        except group.GroupFailure as exc:  # pragma: no cover - a zero draw: probability 2^-252
            raise ValueError("the random source drew a zero scalar") from exc
        self._finished = False

    def __repr__(self) -> str:
        return f"Spake2(role={self._role.value}, share={self.share.hex()[:16]}…)"

    def finish(self, peer_share: bytes) -> Spake2Keys:
        """Compute K, TT and the keys from the peer's share.

        Raises:
            LocalProtocolError: called twice (a run takes one share, else it would give a second guess).
            RemoteProtocolError: ``peer_share`` is not the canonical encoding of a non-identity element of the
                prime-order subgroup, or it cancels the peer's blinding exactly (K would be the identity).
        """
        if self._finished:
            raise LocalProtocolError("this SPAKE2 run already took the other side's share")
        self._finished = True
        if not group.is_point(peer_share):
            raise RemoteProtocolError("the other device's share is not a valid group element")
        peer_blind = N if self._role is Role.A else M
        try:
            unblinded = crypto_core_ed25519_sub(peer_share, group.mul(self._w, peer_blind))
            k = group.mul(group.scalar_mul(_COFACTOR_SCALAR, self._x), unblinded)
        except (group.GroupFailure, nacl.exceptions.RuntimeError) as exc:
            raise RemoteProtocolError("the other device's share is refused") from exc
        p_a, p_b = (self.share, peer_share) if self._role is Role.A else (peer_share, self.share)
        tt = transcript(self._id_a, self._id_b, p_a, p_b, k, self._w)
        digest = hashlib.sha256(tt).digest()
        ke, ka = digest[:KEY_LEN], digest[KEY_LEN:]
        kc = HKDF(algorithm=hashes.SHA256(), length=2 * KEY_LEN, salt=None, info=_CONFIRMATION_INFO + self._aad)
        kc_bytes = kc.derive(ka)
        confirm_a = hmac.new(kc_bytes[:KEY_LEN], tt, hashlib.sha256).digest()
        confirm_b = hmac.new(kc_bytes[KEY_LEN:], tt, hashlib.sha256).digest()
        return Spake2Keys(ke=ke, confirm_a=confirm_a, confirm_b=confirm_b, shared_point=k, transcript_hash=digest)


def check_confirmation(expected: bytes, received: bytes) -> None:
    """Compare a received confirmation with the expected one in constant time.

    Raises:
        LinkCodeMismatch: they differ: the two sides did not use the same password, or someone interfered.
    """
    if len(received) != CONFIRMATION_LEN or not hmac.compare_digest(expected, received):
        raise LinkCodeMismatch(
            "the code did not match on both devices (a typing mistake, or someone interfered); start again "
            "with a new code"
        )


__all__ = [
    "COFACTOR",
    "CONFIRMATION_LEN",
    "KEY_LEN",
    "SHARE_LEN",
    "M",
    "N",
    "Role",
    "Spake2",
    "Spake2Keys",
    "check_confirmation",
    "password_scalar",
    "transcript",
]
