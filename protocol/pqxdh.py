"""Post-quantum hybrid asynchronous key agreement (PQXDH-style: X3DH + ML-KEM-768).

Initiator A, responder B with bundle (IK_B, SPK_B, optional OPK_B, PQPK_B)::

    EK_A  = fresh X25519 key
    DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)   [DH4 = DH(EK_A, OPK_B)]
    (CT, SS) = ML-KEM-768.Encaps(PQPK_B)
    SK  = HKDF-SHA256(salt=0^32, ikm = 0xFF^32 || DH1 || DH2 || DH3 || [DH4] || SS,
                      info="Confide_PQXDH_X25519_SHA-256_ML-KEM-768_v1", L=32)
    AD  = "Confide-AD-v1" || IK_A(128) || IK_B(128)

SK seeds the Double Ratchet. Every prekey signature was verified when the bundle was parsed. The KEM
encapsulation draws its randomness from OpenSSL (``cryptography`` offers no injectable encapsulation); this is
the one place the protocol floor does not take ``rng`` — documented in SPEC.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from confide.keys.encoding import RNG, Reader, Writer
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityKeyPair, IdentityPublicKey
from confide.keys.prekeys import (
    KEM_CIPHERTEXT_LEN,
    KemPreKeyRecord,
    OneTimePreKeyRecord,
    PreKeyBundle,
    SignedPreKeyRecord,
)

from .errors import DecryptionError, RemoteProtocolError
from .kdf import LABEL_AD, LABEL_PQXDH, LABEL_RATCHET_INIT, hkdf

PREKEY_HEADER_VERSION = 1


@dataclass(frozen=True, slots=True)
class PreKeyHeader:
    """What the responder needs to repeat the agreement, sent with every message until the first reply.

    Layout: ``version u8 || initiator_identity(128) || ephemeral(32) || signed_prekey_id u32 ||
    has_one_time u8 || [one_time_id u32] || kem_prekey_id u32 || kem_ciphertext(1088)``.
    """

    initiator: IdentityPublicKey
    ephemeral: bytes
    signed_prekey_id: int
    one_time_prekey_id: int | None
    kem_prekey_id: int
    kem_ciphertext: bytes

    def write(self, w: Writer) -> None:
        w.u8(PREKEY_HEADER_VERSION).raw(self.initiator.to_bytes()).raw(self.ephemeral).u32(self.signed_prekey_id)
        if self.one_time_prekey_id is None:
            w.u8(0)
        else:
            w.u8(1).u32(self.one_time_prekey_id)
        w.u32(self.kem_prekey_id).raw(self.kem_ciphertext)

    def to_bytes(self) -> bytes:
        w = Writer()
        self.write(w)
        return w.bytes()

    @classmethod
    def read_from(cls, r: Reader) -> PreKeyHeader:
        """Parse. Raises :class:`RemoteProtocolError` (malformed) or a key error for a bad identity."""
        if r.u8() != PREKEY_HEADER_VERSION:
            raise RemoteProtocolError("unknown prekey message version")
        try:
            initiator = IdentityPublicKey.from_bytes(r.raw(IDENTITY_PUBLIC_LEN))
        except Exception as exc:  # MalformedKey / InvalidSignature: a forged identity
            raise RemoteProtocolError("invalid initiator identity") from exc
        ephemeral, spk_id, flag = r.raw(32), r.u32(), r.u8()
        if flag not in (0, 1):
            raise RemoteProtocolError("bad one-time prekey flag")
        otk = r.u32() if flag else None
        return cls(initiator, ephemeral, spk_id, otk, r.u32(), r.raw(KEM_CIPHERTEXT_LEN))


@dataclass(frozen=True, slots=True)
class Agreement:
    """The outcome of PQXDH on either side. ``repr`` hides the secret."""

    root_key: bytes
    header_key_a: bytes
    next_header_key_b: bytes
    associated_data: bytes

    def __repr__(self) -> str:
        return "Agreement(<secret>)"


def associated_data(initiator: IdentityPublicKey, responder: IdentityPublicKey) -> bytes:
    return LABEL_AD + initiator.to_bytes() + responder.to_bytes()


def _derive(dhs: list[bytes], kem_secret: bytes, ad: bytes) -> Agreement:
    sk = hkdf(b"\xff" * 32 + b"".join(dhs) + kem_secret, salt=bytes(32), info=LABEL_PQXDH, length=32)
    init = hkdf(sk, salt=None, info=LABEL_RATCHET_INIT, length=96)
    return Agreement(init[:32], init[32:64], init[64:], ad)


def _exchange(private: X25519PrivateKey, public: X25519PublicKey) -> bytes:
    try:
        return private.exchange(public)
    except ValueError as exc:  # all-zero output: a low-order public key
        raise DecryptionError("key agreement failed") from exc


def initiate(local: IdentityKeyPair, bundle: PreKeyBundle, rng: RNG) -> tuple[Agreement, PreKeyHeader]:
    """Run PQXDH as initiator against a verified bundle. Raises :class:`DecryptionError` on a degenerate key."""
    ek = X25519PrivateKey.from_private_bytes(rng(32))
    spk = bundle.signed_prekey.key
    dhs = [
        _exchange(local.agreement_private, spk),
        _exchange(ek, bundle.identity.agreement_key),
        _exchange(ek, spk),
    ]
    otk = bundle.one_time_prekey
    if otk is not None:
        dhs.append(_exchange(ek, otk.key))
    kem_secret, kem_ct = bundle.kem_prekey.key.encapsulate()
    agreement = _derive(dhs, kem_secret, associated_data(local.public, bundle.identity))
    header = PreKeyHeader(
        local.public,
        ek.public_key().public_bytes_raw(),
        bundle.signed_prekey.key_id,
        None if otk is None else otk.key_id,
        bundle.kem_prekey.key_id,
        kem_ct,
    )
    return agreement, header


def respond(
    local: IdentityKeyPair,
    header: PreKeyHeader,
    signed: SignedPreKeyRecord,
    one_time: OneTimePreKeyRecord | None,
    kem: KemPreKeyRecord,
) -> Agreement:
    """Run PQXDH as responder with the private prekeys the header names.

    Raises:
        DecryptionError: a degenerate public key or an undecapsulatable KEM ciphertext.
    """
    ek = X25519PublicKey.from_public_bytes(header.ephemeral)
    dhs = [
        _exchange(signed.private, header.initiator.agreement_key),
        _exchange(local.agreement_private, ek),
        _exchange(signed.private, ek),
    ]
    if one_time is not None:
        dhs.append(_exchange(one_time.private, ek))
    try:
        kem_secret = kem.private.decapsulate(header.kem_ciphertext)
    except ValueError as exc:
        raise DecryptionError("key agreement failed") from exc
    return _derive(dhs, kem_secret, associated_data(header.initiator, local.public))
