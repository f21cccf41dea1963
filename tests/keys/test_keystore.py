"""The passphrase-sealed key store: round trips, wrong passphrases, tampering, truncation, KDF ceilings."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import confide.keys.keystore as keystore_module
from confide.keys import (
    DEFAULT_KDF,
    MAX_KDF,
    RNG,
    TEST_KDF,
    CorruptKeyStore,
    KdfParametersTooCostly,
    KdfParams,
    KeyStoreError,
    SecretKeys,
    WrongPassphrase,
    change_passphrase,
    kdf_params_of,
    open_keys,
    seal,
    seal_keys,
    unseal,
)
from confide.keys.keystore import HEADER_LEN, KEYSTORE_MAGIC, MAX_PAYLOAD_LEN, TAG_LEN
from confide.keys.secret_keys import SECRET_KEYS_LEN

from .mutations import mutated

PASSPHRASE = "correct horse battery staple"
PAYLOAD = b"\x00secret payload\xff" * 2


def rng_for(seed: int) -> RNG:
    return random.Random(seed).randbytes


def small_blob(payload: bytes = PAYLOAD, passphrase: str = PASSPHRASE, seed: int = 1) -> bytes:
    return seal(payload, passphrase, params=TEST_KDF, rng=rng_for(seed))


def test_round_trip() -> None:
    blob = small_blob()
    assert unseal(blob, PASSPHRASE) == PAYLOAD
    assert len(blob) == HEADER_LEN + len(PAYLOAD) + TAG_LEN
    assert blob.startswith(KEYSTORE_MAGIC)
    assert PAYLOAD not in blob


def test_empty_payload_round_trips() -> None:
    assert unseal(small_blob(b""), PASSPHRASE) == b""


def test_seal_is_deterministic_given_rng_and_fresh_otherwise() -> None:
    assert small_blob(seed=7) == small_blob(seed=7)
    assert small_blob(seed=7) != small_blob(seed=8)


def test_wrong_passphrase() -> None:
    blob = small_blob()
    for wrong in ("", "correct horse battery stapl", "Correct horse battery staple", PASSPHRASE + " "):
        with pytest.raises(WrongPassphrase):
            unseal(blob, wrong)


def test_passphrase_is_nfkc_normalised() -> None:
    composed = "caf\u00e9 \ufb01sh"  # é precomposed, "fi" ligature
    decomposed = "cafe\u0301 fish"
    blob = small_blob(passphrase=composed)
    assert unseal(blob, decomposed) == PAYLOAD


def test_lone_surrogate_passphrase_is_wrong_not_a_crash() -> None:
    with pytest.raises(WrongPassphrase):
        unseal(small_blob(), "\ud800")


def expected_unseal_error(blob: bytes, ceiling: KdfParams) -> type[KeyStoreError]:
    """The error :func:`unseal` must raise for ``blob`` when it is not a sealed original, from the documented
    layout and order of checks: any structural fault is :class:`CorruptKeyStore`; costs above ``ceiling``
    are :class:`KdfParametersTooCostly`; anything else fails authentication (the whole header is associated
    data) as :class:`WrongPassphrase`."""
    if len(blob) < HEADER_LEN or blob[:4] != KEYSTORE_MAGIC or blob[4:6] != b"\x01\x01":
        return CorruptKeyStore
    params = KdfParams(*struct.unpack(">III", blob[6:18]))
    (payload_len,) = struct.unpack(">I", blob[HEADER_LEN - 4 : HEADER_LEN])
    if not params.is_valid() or payload_len > MAX_PAYLOAD_LEN or len(blob) != HEADER_LEN + payload_len + TAG_LEN:
        return CorruptKeyStore
    if params.exceeds(ceiling):
        return KdfParametersTooCostly
    return WrongPassphrase


def test_every_single_byte_tamper_is_refused() -> None:
    blob = small_blob()
    seen: set[type[KeyStoreError]] = set()
    for i in range(len(blob)):
        for flip in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[i] ^= flip
            expected = expected_unseal_error(bytes(tampered), MAX_KDF)
            seen.add(expected)
            with pytest.raises(expected):
                unseal(bytes(tampered), PASSPHRASE)
    assert seen == {CorruptKeyStore, KdfParametersTooCostly, WrongPassphrase}


def test_header_fields_map_to_the_right_error() -> None:
    blob = small_blob()

    def patched(offset: int, value: bytes) -> bytes:
        return blob[:offset] + value + blob[offset + len(value) :]

    with pytest.raises(CorruptKeyStore, match="not a Confide key store"):
        unseal(patched(0, b"XXXX"), PASSPHRASE)
    with pytest.raises(CorruptKeyStore, match="version"):
        unseal(patched(4, b"\x02"), PASSPHRASE)
    with pytest.raises(CorruptKeyStore, match="key derivation"):
        unseal(patched(5, b"\x02"), PASSPHRASE)
    with pytest.raises(CorruptKeyStore, match="Argon2 costs"):
        unseal(patched(6, struct.pack(">I", 0)), PASSPHRASE)  # time_cost 0
    with pytest.raises(CorruptKeyStore, match="Argon2 costs"):
        unseal(patched(14, struct.pack(">I", 0)), PASSPHRASE)  # parallelism 0
    with pytest.raises(CorruptKeyStore, match="Argon2 costs"):
        unseal(patched(10, struct.pack(">I", 7)), PASSPHRASE)  # under 8 KiB per lane
    with pytest.raises(CorruptKeyStore):
        unseal(patched(HEADER_LEN - 4, struct.pack(">I", MAX_PAYLOAD_LEN + 1)), PASSPHRASE)


def test_truncated_and_extended_blobs() -> None:
    blob = small_blob()
    for n in range(len(blob)):
        with pytest.raises(CorruptKeyStore):
            unseal(blob[:n], PASSPHRASE)
    with pytest.raises(CorruptKeyStore, match="unexpected bytes"):
        unseal(blob + b"\x00", PASSPHRASE)


def test_oversize_kdf_parameters_refused_before_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = small_blob()
    # 2**31 KiB = 2 TiB of memory: impossible to run, so only a ceiling check can answer.
    huge = blob[:10] + struct.pack(">I", 2**31) + blob[14:]
    assert kdf_params_of(huge).memory_kib == 2**31

    def forbidden(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("Argon2 must not run for a blob above the ceiling")

    monkeypatch.setattr(keystore_module, "hash_secret_raw", forbidden)
    with pytest.raises(KdfParametersTooCostly):
        unseal(huge, PASSPHRASE)
    for offset in (6, 14):  # time_cost, parallelism
        too_much = blob[:offset] + struct.pack(">I", 1000) + blob[offset + 4 :]
        with pytest.raises(KdfParametersTooCostly):
            unseal(too_much, PASSPHRASE)
    # A caller's own ceiling applies too, even to costs Argon2 could easily run.
    with pytest.raises(KdfParametersTooCostly):
        unseal(blob, PASSPHRASE, ceiling=KdfParams(1, 4096, 1))


def test_kdf_params_of_reads_header() -> None:
    params = KdfParams(time_cost=2, memory_kib=8 * 1024, parallelism=2)
    blob = seal(PAYLOAD, PASSPHRASE, params=params, rng=rng_for(3))
    assert kdf_params_of(blob) == params
    assert unseal(blob, PASSPHRASE) == PAYLOAD


def test_constants_are_sane() -> None:
    assert DEFAULT_KDF.is_valid()
    assert TEST_KDF.is_valid()
    assert MAX_KDF.is_valid()
    assert not DEFAULT_KDF.exceeds(MAX_KDF)
    assert DEFAULT_KDF.memory_kib >= 64 * 1024  # RFC 9106 second option
    assert DEFAULT_KDF.time_cost >= 3
    assert TEST_KDF.memory_kib < DEFAULT_KDF.memory_kib


def test_seal_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty passphrase"):
        seal(PAYLOAD, "", params=TEST_KDF, rng=rng_for(1))
    with pytest.raises(ValueError, match="above MAX_KDF"):
        seal(PAYLOAD, PASSPHRASE, params=KdfParams(1, MAX_KDF.memory_kib * 2, 1), rng=rng_for(1))
    with pytest.raises(ValueError, match="invalid"):
        seal(PAYLOAD, PASSPHRASE, params=KdfParams(0, 8192, 1), rng=rng_for(1))
    with pytest.raises(ValueError, match="MAX_PAYLOAD_LEN"):
        seal(b"\x00" * (MAX_PAYLOAD_LEN + 1), PASSPHRASE, params=TEST_KDF, rng=rng_for(1))


def test_change_passphrase() -> None:
    blob = small_blob()
    new_blob = change_passphrase(blob, PASSPHRASE, "a new and longer passphrase", rng=rng_for(9))
    assert unseal(new_blob, "a new and longer passphrase") == PAYLOAD
    with pytest.raises(WrongPassphrase):
        unseal(new_blob, PASSPHRASE)
    assert kdf_params_of(new_blob) == TEST_KDF  # params None keeps the blob's costs
    assert new_blob[HEADER_LEN - 32 : HEADER_LEN - 4] != blob[HEADER_LEN - 32 : HEADER_LEN - 4]  # fresh salt

    stronger = KdfParams(2, 16 * 1024, 1)
    upgraded = change_passphrase(new_blob, "a new and longer passphrase", "x", params=stronger, rng=rng_for(10))
    assert kdf_params_of(upgraded) == stronger
    assert unseal(upgraded, "x") == PAYLOAD


def test_change_passphrase_needs_the_old_one() -> None:
    with pytest.raises(WrongPassphrase):
        change_passphrase(small_blob(), "not it", "new", rng=rng_for(2))


def test_seal_keys_round_trip() -> None:
    keys = SecretKeys.generate(rng_for(42))
    blob = seal_keys(keys, PASSPHRASE, params=TEST_KDF, rng=rng_for(43))
    opened = open_keys(blob, PASSPHRASE)
    assert opened == keys
    assert opened.identity.public == keys.identity.public
    assert opened.device.certificate == keys.device.certificate
    assert opened.store_key == keys.store_key
    with pytest.raises(WrongPassphrase):
        open_keys(blob, "wrong")


def test_open_keys_refuses_a_foreign_payload() -> None:
    blob = small_blob(b"not secret keys")
    with pytest.raises(CorruptKeyStore):
        open_keys(blob, PASSPHRASE)


def test_secret_keys_repr_hides_secrets() -> None:
    keys = SecretKeys.generate(rng_for(5))
    text = repr(keys) + str(keys)
    assert keys.identity.address.text in text
    for secret in (keys.store_key, keys.identity.private_bytes(), keys.device.private_bytes()):
        assert secret.hex() not in text
        assert repr(secret) not in text


def test_secret_keys_canonical_form() -> None:
    keys = SecretKeys.generate(rng_for(6))
    data = keys.to_bytes()
    assert len(data) == SECRET_KEYS_LEN == 129
    assert data[0] == 1
    assert SecretKeys.from_bytes(data) == keys
    with pytest.raises(CorruptKeyStore):
        SecretKeys.from_bytes(b"\x02" + data[1:])
    with pytest.raises(CorruptKeyStore):
        SecretKeys.from_bytes(data[:-1])
    with pytest.raises(CorruptKeyStore):
        SecretKeys.from_bytes(data + b"\x00")
    with pytest.raises(ValueError, match="32 bytes"):
        SecretKeys(keys.identity, keys.device, b"short")
    other = SecretKeys.generate(rng_for(7))
    with pytest.raises(ValueError, match="not certified"):
        SecretKeys(other.identity, keys.device, keys.store_key)  # device certified by someone else


BLOB = small_blob()
KEYS_BYTES = SecretKeys.generate(rng_for(8)).to_bytes()


def check_unseal(data: bytes) -> None:
    """Only the sealed original opens (to its payload); anything else raises exactly its documented error."""
    if data == BLOB:
        assert unseal(data, PASSPHRASE, ceiling=TEST_KDF) == PAYLOAD
        return
    with pytest.raises(expected_unseal_error(data, TEST_KDF)):
        unseal(data, PASSPHRASE, ceiling=TEST_KDF)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_unseal_arbitrary_bytes_raises_the_documented_error(data: bytes) -> None:
    check_unseal(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_unseal_arbitrary_body_after_valid_magic_raises_the_documented_error(rest: bytes) -> None:
    check_unseal(KEYSTORE_MAGIC + b"\x01\x01" + rest)


@settings(max_examples=300, deadline=None)
@given(mutated(BLOB))
def test_unseal_mutated_blob_opens_only_unchanged(data: bytes) -> None:
    check_unseal(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), mutated(KEYS_BYTES)))
def test_secret_keys_from_bytes_round_trips_or_is_corrupt(data: bytes) -> None:
    """Every 129-byte string of version 1 loads (any bytes are valid key material) and re-encodes to itself;
    everything else is CorruptKeyStore."""
    if len(data) == SECRET_KEYS_LEN and data[0] == 1:
        assert SecretKeys.from_bytes(data).to_bytes() == data
        return
    with pytest.raises(CorruptKeyStore):
        SecretKeys.from_bytes(data)


def _counter_rng(start: int) -> RNG:
    state = [start]

    def rng(n: int) -> bytes:
        out = bytes((state[0] + i) % 256 for i in range(n))
        state[0] += n
        return out

    return rng


VECTOR_BLOB = bytes.fromhex(
    "43464b530101000000010000200000000001000102030405060708090a0b0c0d0e0f101112131415161718191a1b"
    "000000174465b9c16433d23de45e618664d26c28fae46fd8bc3c9d80cd7935d2b23d0225199c1a81d5a751"
)


def test_fixed_vector() -> None:
    """Locks the format: Argon2id(t=1, m=8 MiB, p=1), salt 00..0f, nonce 10..1b (see SPEC)."""
    assert seal(b"Confide keystore vector", "pass phrase", params=TEST_KDF, rng=_counter_rng(0)) == VECTOR_BLOB
    assert unseal(VECTOR_BLOB, "pass phrase") == b"Confide keystore vector"
