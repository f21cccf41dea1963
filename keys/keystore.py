"""The passphrase-sealed key store: Argon2id stretches the passphrase, ChaCha20-Poly1305 seals the payload.

Blob layout (integers big-endian)::

    magic "CFKS"(4) || version u8 (=1) || kdf u8 (=1, Argon2id v1.3)
    || time_cost u32 || memory_kib u32 || parallelism u32 || salt(16) || nonce(12)
    || payload_len u32                                                  <- header, 50 bytes
    || ChaCha20-Poly1305(key, nonce, payload, aad = header)             <- payload_len + 16 bytes, then end

    key = Argon2id(password = UTF-8(NFKC(passphrase)), salt, t, m, p, length = 32)

The whole header is the AEAD's associated data, so changing any byte of it (costs, salt, nonce, version,
length) makes opening fail; a blob whose length is not exactly ``50 + payload_len + 16`` is corrupt.
Parsing happens before any cryptography: magic, version, KDF id, parameter sanity, lengths and the ceiling
are checked first, so a hostile blob can never make us run Argon2 with costs above :data:`MAX_KDF`. A fresh
salt and nonce are drawn for every seal, so each seal uses a fresh key.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .encoding import RNG, Reader, Writer
from .errors import CorruptKeyStore, KdfParametersTooCostly, WrongPassphrase
from .secret_keys import SecretKeys

KEYSTORE_MAGIC = b"CFKS"
"""Four ASCII bytes naming the format, so a wrong file is reported as such, not as a wrong passphrase."""
KEYSTORE_VERSION = 1
"""Layout version; a new layout gets a new number and old blobs stay readable."""
KDF_ARGON2ID = 1
"""KDF identifier for Argon2id version 1.3 (RFC 9106); room for a successor without a format change."""
SALT_LEN = 16
"""128-bit salt, the length RFC 9106 §3.1 recommends for password hashing."""
NONCE_LEN = 12
"""ChaCha20-Poly1305 (RFC 8439) nonce; random is safe because every seal also derives a fresh key."""
KEY_LEN = 32
"""ChaCha20-Poly1305 key length."""
TAG_LEN = 16
"""Poly1305 tag length."""
HEADER_LEN = len(KEYSTORE_MAGIC) + 1 + 1 + 4 + 4 + 4 + SALT_LEN + NONCE_LEN + 4
"""50 bytes of header, all of it authenticated as associated data."""
MAX_PAYLOAD_LEN = 1 << 20
"""1 MiB: a key store holds keys (129 bytes today; tens of KiB even with prekeys). A blob claiming more was
not written by Confide, and refusing it bounds the memory and work an untrusted file can cost."""

_ARGON2_MIN_MEMORY_PER_LANE_KIB = 8
"""Argon2 needs at least 8 KiB of memory per lane (RFC 9106 §3.1); fewer is a corrupt header."""


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id costs: passes over memory, memory in KiB, and lanes."""

    time_cost: int
    memory_kib: int
    parallelism: int

    def is_valid(self) -> bool:
        """Whether Argon2 accepts these costs and they fit the blob's u32 fields."""
        return (
            1 <= self.time_cost <= 0xFFFFFFFF
            and 1 <= self.parallelism <= 0xFFFFFF
            and _ARGON2_MIN_MEMORY_PER_LANE_KIB * self.parallelism <= self.memory_kib <= 0xFFFFFFFF
        )

    def exceeds(self, ceiling: KdfParams) -> bool:
        """Whether any cost is above the corresponding cost of ``ceiling``."""
        return (
            self.time_cost > ceiling.time_cost
            or self.memory_kib > ceiling.memory_kib
            or self.parallelism > ceiling.parallelism
        )


DEFAULT_KDF = KdfParams(time_cost=3, memory_kib=256 * 1024, parallelism=4)
"""Production default: Argon2id, 3 passes over 256 MiB in 4 lanes. RFC 9106 §4's second recommended option
is t=3 over 64 MiB for memory-constrained machines; Confide runs on laptops and desktops, so it spends 4x
the memory (about 0.8 s on two cores), far above OWASP's floor (t=2, 19 MiB). Unlocking happens once per
start, and the blob is exactly what a thief of the device attacks offline."""

TEST_KDF = KdfParams(time_cost=1, memory_kib=8 * 1024, parallelism=1)
"""Cheap costs (about 10 ms) for tests only; never used by production code paths."""

MAX_KDF = KdfParams(time_cost=10, memory_kib=1024 * 1024, parallelism=8)
"""The most a blob may ask for: 4x the default memory (1 GiB), 10 passes, 8 lanes. It leaves room to raise
the default later while keeping a hostile or foreign file from making us allocate unbounded memory or run
for minutes; a blob above it raises :class:`KdfParametersTooCostly` before Argon2 runs."""


@dataclass(frozen=True, slots=True)
class _Parsed:
    header: bytes
    params: KdfParams
    salt: bytes
    nonce: bytes
    ciphertext: bytes


def _passphrase_bytes(passphrase: str) -> bytes:
    """NFKC then UTF-8, so the same passphrase typed on different keyboards gives the same bytes."""
    return unicodedata.normalize("NFKC", passphrase).encode("utf-8")


def _header(params: KdfParams, salt: bytes, nonce: bytes, payload_len: int) -> bytes:
    return (
        Writer()
        .raw(KEYSTORE_MAGIC)
        .u8(KEYSTORE_VERSION)
        .u8(KDF_ARGON2ID)
        .u32(params.time_cost)
        .u32(params.memory_kib)
        .u32(params.parallelism)
        .raw(salt)
        .raw(nonce)
        .u32(payload_len)
        .bytes()
    )


def _parse(blob: bytes) -> _Parsed:
    r = Reader(blob, CorruptKeyStore)
    if r.remaining < len(KEYSTORE_MAGIC) or r.raw(len(KEYSTORE_MAGIC)) != KEYSTORE_MAGIC:
        raise CorruptKeyStore("this is not a Confide key store file; check that you chose the right file")
    if r.u8() != KEYSTORE_VERSION:
        raise CorruptKeyStore("this key store has an unknown format version; update Confide to open it")
    if r.u8() != KDF_ARGON2ID:
        raise CorruptKeyStore("this key store uses an unknown key derivation; update Confide to open it")
    params = KdfParams(r.u32(), r.u32(), r.u32())
    salt, nonce, payload_len = r.raw(SALT_LEN), r.raw(NONCE_LEN), r.u32()
    if not params.is_valid():
        raise CorruptKeyStore("the key store's header is damaged (impossible Argon2 costs)")
    if payload_len > MAX_PAYLOAD_LEN:
        raise CorruptKeyStore("the key store is larger than any Confide writes; check it is the right file")
    if r.remaining < payload_len + TAG_LEN:
        raise CorruptKeyStore("the key store is truncated; restore it from a backup or your recovery code")
    ciphertext = r.raw(payload_len + TAG_LEN)
    if r.remaining:
        raise CorruptKeyStore("the key store has unexpected bytes at its end; restore it from a backup")
    return _Parsed(bytes(blob[:HEADER_LEN]), params, salt, nonce, ciphertext)


def _derive(passphrase: bytes, salt: bytes, params: KdfParams) -> bytes:
    try:
        return hash_secret_raw(
            passphrase, salt, params.time_cost, params.memory_kib, params.parallelism, KEY_LEN, Type.ID
        )
    except (HashingError, MemoryError) as exc:
        raise KdfParametersTooCostly(
            "this device could not run the key derivation the key store asks for (not enough memory?); "
            "open it on a larger machine and change the passphrase with lower costs"
        ) from exc


def kdf_params_of(blob: bytes) -> KdfParams:
    """The Argon2id costs a blob was sealed with (to decide whether to re-seal with stronger ones).

    Raises:
        CorruptKeyStore: the blob is not a well-formed key store.
    """
    return _parse(blob).params


def seal(payload: bytes, passphrase: str, *, params: KdfParams = DEFAULT_KDF, rng: RNG) -> bytes:
    """Seal ``payload`` under ``passphrase``; ``rng`` supplies the salt and nonce (``os.urandom``).

    Raises:
        ValueError: empty passphrase, payload over :data:`MAX_PAYLOAD_LEN`, or ``params`` invalid or above
            :data:`MAX_KDF` (we would refuse to open such a blob ourselves).
    """
    if not passphrase:
        raise ValueError("refusing to seal a key store under an empty passphrase")
    if len(payload) > MAX_PAYLOAD_LEN:
        raise ValueError("payload larger than MAX_PAYLOAD_LEN")
    if not params.is_valid() or params.exceeds(MAX_KDF):
        raise ValueError("Argon2 parameters are invalid or above MAX_KDF")
    salt, nonce = rng(SALT_LEN), rng(NONCE_LEN)
    if len(salt) != SALT_LEN or len(nonce) != NONCE_LEN:
        raise ValueError("rng returned the wrong number of bytes")
    header = _header(params, salt, nonce, len(payload))
    key = _derive(_passphrase_bytes(passphrase), salt, params)
    return header + ChaCha20Poly1305(key).encrypt(nonce, bytes(payload), header)


def unseal(blob: bytes, passphrase: str, *, ceiling: KdfParams = MAX_KDF) -> bytes:
    """Open a blob made by :func:`seal`.

    Raises:
        CorruptKeyStore: bad magic, version, KDF id, costs, lengths (before any cryptography).
        KdfParametersTooCostly: the blob asks for costs above ``ceiling`` (checked before Argon2 runs), or
            this device cannot run them.
        WrongPassphrase: the passphrase does not open the blob (or its authenticated bytes were altered).
    """
    parsed = _parse(blob)
    if parsed.params.exceeds(ceiling):
        raise KdfParametersTooCostly(
            "this key store asks for more key-derivation work than Confide allows; it was not written by "
            "this version of Confide, so check where the file came from"
        )
    try:
        secret = _passphrase_bytes(passphrase)
    except UnicodeEncodeError as exc:  # lone surrogates: cannot be what the blob was sealed with
        raise WrongPassphrase("the passphrase is wrong; check it and try again") from exc
    key = _derive(secret, parsed.salt, parsed.params)
    try:
        return ChaCha20Poly1305(key).decrypt(parsed.nonce, parsed.ciphertext, parsed.header)
    except InvalidTag as exc:
        raise WrongPassphrase(
            "the passphrase is wrong (or the key store file was altered); check it and try again"
        ) from exc


def change_passphrase(blob: bytes, old: str, new: str, *, params: KdfParams | None = None, rng: RNG) -> bytes:
    """Re-seal the same payload under ``new`` (no re-keying); ``params`` None keeps the blob's costs.

    Raises:
        everything :func:`unseal` raises (for ``old``), and ``ValueError`` as :func:`seal` does.
    """
    payload = unseal(blob, old)
    return seal(payload, new, params=params if params is not None else _parse(blob).params, rng=rng)


def seal_keys(keys: SecretKeys, passphrase: str, *, params: KdfParams = DEFAULT_KDF, rng: RNG) -> bytes:
    """Seal a profile's :class:`SecretKeys` under ``passphrase`` (see :func:`seal`)."""
    return seal(keys.to_bytes(), passphrase, params=params, rng=rng)


def open_keys(blob: bytes, passphrase: str, *, ceiling: KdfParams = MAX_KDF) -> SecretKeys:
    """Open a blob made by :func:`seal_keys`.

    Raises:
        CorruptKeyStore, KdfParametersTooCostly, WrongPassphrase: as :func:`unseal`; CorruptKeyStore also
            when the opened payload is not a valid :class:`SecretKeys`.
    """
    return SecretKeys.from_bytes(unseal(blob, passphrase, ceiling=ceiling))
