"""Benchmark of Confide's cryptographic core, each step beside the summed cost of the primitives it performs.

Measured in one run, on one machine, interleaved so that load from other processes hits every figure alike:

* session set-up: bundle bytes → parsed (signatures checked) → PQXDH with ML-KEM-768 → first message →
  accepted by the responder → first reply → decrypted by the initiator;
* a 200-byte message, encrypted and decrypted, in a ping-pong conversation (a DH ratchet turn on every
  message) and in a one-way burst (symmetric chain only), through :class:`~confide.protocol.Session`
  (padding included) and through ``RatchetState`` alone, with and without the sealed-sender layer.

Beside each step stands its *floor*: the same primitive operations (X25519, HKDF, HMAC, ChaCha20-Poly1305,
ML-KEM, Ed25519, ``os.urandom``), each timed alone in the same run, multiplied by how often the step performs
them, summed. ``measured / floor`` is the cost of our Python glue. The operation counts are written out below
and printed with the results, and every run checks them against the calls the code really makes (observed
with :func:`sys.setprofile`), so a change in ``protocol/`` cannot silently make the floor wrong.

Usage::

    .venv/bin/python bench/crypto.py            # full run, Markdown table
    .venv/bin/python bench/crypto.py --quick    # under 30 seconds
    .venv/bin/python bench/crypto.py --json     # one JSON object on stdout
    .venv/bin/python bench/crypto.py --peers    # also time vodozemac, python-olm, doubleratchet alike
    .venv/bin/python bench/crypto.py --best     # fastest round instead of the median (a busy machine)
    .venv/bin/python bench/crypto.py --cpu      # the thread's CPU clock instead of the wall clock (ditto)

With ``--peers``, the peer libraries of :mod:`peers` (vodozemac, python-olm, the pure-Python
``doubleratchet``; the ``.[peers]`` extra) run the same ping-pong and one-way conversations with a message of the
same size, interleaved in the same rounds, and the report gives our messages/s divided by theirs. A peer whose
library is missing is skipped with a line saying so.

Randomness comes from ``os.urandom`` (the production edge); no network, no files.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import cryptography
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from harness import (
    WARMUP_FRACTION,
    Block,
    add_common_flags,
    bench_parser,
    calibrate,
    gc_paused,
    median,
    print_json,
    time_block,
)
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from peers import PEERS, missing, peer_message

from confide.keys.device import DeviceKeyPair
from confide.keys.errors import ConfideError
from confide.keys.identity import IdentityKeyPair
from confide.keys.prekeys import KemPreKeyRecord, OneTimePreKeyRecord, PreKeyBundle, SignedPreKeyRecord
from confide.protocol.padding import pad
from confide.protocol.sealed import SenderCertificate, open_sealed, seal_message
from confide.protocol.session import Session, accept_session, initiate_session, parse_inner

MESSAGE_LEN = 200
"""Size of the benchmark message: a typical therapy chat line (it pads to the 256-byte bucket)."""

QUICK_ROUNDS = 7
"""Interleaved rounds in ``--quick`` mode: a median that ignores up to three disturbed rounds, and the
whole run stays under 30 seconds on two cores."""
FULL_ROUNDS = 21
"""Interleaved rounds in a full run: a median of 21 is stable to a few per cent on a shared machine."""
QUICK_BLOCK_NS = 5_000_000
"""Target duration of one timed block in ``--quick`` mode (5 ms): long against timer resolution and loop
overhead, short enough for the 30-second budget."""
FULL_BLOCK_NS = 20_000_000
"""Target duration of one timed block in a full run (20 ms): long enough to average scheduler noise."""
SETUP_MIN_CALLS = 3
"""Fewest session set-ups per timed block: a set-up costs milliseconds, so blocks hold few of them."""

_SHA256 = hashes.SHA256()
_AD_LEN = len(b"Confide-AD-v1") + 128 + 128
"""Length of a session's associated data (label, both identities): sizes the body AEAD's AD for the floor."""


AEAD_INIT_CALL = "ChaCha20Poly1305()"
"""Name under which :func:`observe_calls` reports cipher-object constructions (a type call raises no profiler
event, so the class is wrapped in the ``confide`` modules that use it, for the observed run only)."""


class BenchmarkError(ConfideError):
    """The benchmark found the protocol misbehaving (a wrong plaintext) - run the test suite before timing."""


# -- primitive operations ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Primitive:
    """One primitive operation timed alone; ``family`` names the library call it shows up as when profiled."""

    name: str
    family: str
    description: str
    make: Callable[[], Callable[[], object]]


def _x25519_pair() -> tuple[X25519PrivateKey, X25519PublicKey, bytes]:
    private = X25519PrivateKey.from_private_bytes(os.urandom(32))
    peer = X25519PrivateKey.from_private_bytes(os.urandom(32)).public_key()
    return private, peer, peer.public_bytes_raw()


def _aead_seal(pt_len: int, ad_len: int) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        aead, nonce, pt = ChaCha20Poly1305(os.urandom(32)), os.urandom(12), os.urandom(pt_len)
        ad = os.urandom(ad_len) if ad_len else None
        return lambda: aead.encrypt(nonce, pt, ad)

    return make


def _aead_open(pt_len: int, ad_len: int) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        aead, nonce, pt = ChaCha20Poly1305(os.urandom(32)), os.urandom(12), os.urandom(pt_len)
        ad = os.urandom(ad_len) if ad_len else None
        ct = aead.encrypt(nonce, pt, ad)
        return lambda: aead.decrypt(nonce, ct, ad)

    return make


def _make_aead_open_fail() -> Callable[[], object]:
    wrong, nonce = ChaCha20Poly1305(os.urandom(32)), os.urandom(12)
    ct = ChaCha20Poly1305(os.urandom(32)).encrypt(nonce, os.urandom(40), None)

    def trial() -> object:
        try:
            return wrong.decrypt(nonce, ct, None)
        except InvalidTag:
            return None

    return trial


def _make_hkdf(ikm_len: int, salt_len: int, info_len: int, length: int) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        ikm, info = os.urandom(ikm_len), os.urandom(info_len)
        salt = os.urandom(salt_len) if salt_len else None
        return lambda: HKDF(algorithm=_SHA256, length=length, salt=salt, info=info).derive(ikm)

    return make


def _make_aead_init() -> Callable[[], object]:
    key = os.urandom(32)
    return lambda: ChaCha20Poly1305(key)


def _make_keygen() -> Callable[[], object]:
    seed = os.urandom(32)
    return lambda: X25519PrivateKey.from_private_bytes(seed)


def _make_public_raw() -> Callable[[], object]:
    private = X25519PrivateKey.from_private_bytes(os.urandom(32))
    return lambda: private.public_key().public_bytes_raw()


def _make_private_raw() -> Callable[[], object]:
    private = _x25519_pair()[0]
    return private.private_bytes_raw


def _make_load_public() -> Callable[[], object]:
    raw = _x25519_pair()[2]
    return lambda: X25519PublicKey.from_public_bytes(raw)


def _make_exchange() -> Callable[[], object]:
    private, peer, _ = _x25519_pair()
    return lambda: private.exchange(peer)


def _make_sodium_base() -> Callable[[], object]:
    private = os.urandom(32)
    return lambda: crypto_scalarmult_base(private)


def _make_sodium_mult() -> Callable[[], object]:
    private, _, raw = _x25519_pair()
    scalar = private.private_bytes_raw()
    return lambda: crypto_scalarmult(scalar, raw)


def _make_hmac() -> Callable[[], object]:
    key = os.urandom(32)
    return lambda: hmac.digest(key, b"\x01", "sha256")


def _make_rng(n: int) -> Callable[[], Callable[[], object]]:
    return lambda: lambda: os.urandom(n)


def _make_ed_verify() -> Callable[[], object]:
    key = Ed25519PrivateKey.from_private_bytes(os.urandom(32))
    message = os.urandom(128)
    public, sig = key.public_key(), key.sign(message)
    return lambda: public.verify(sig, message)


def _make_ed_load() -> Callable[[], object]:
    raw = Ed25519PrivateKey.from_private_bytes(os.urandom(32)).public_key().public_bytes_raw()
    return lambda: Ed25519PublicKey.from_public_bytes(raw)


def _make_sha256() -> Callable[[], object]:
    data = os.urandom(52)
    return lambda: hashlib.sha256(data).digest()


def _kem_key() -> MLKEM768PrivateKey:
    return MLKEM768PrivateKey.from_seed_bytes(os.urandom(64))


def _make_kem_load() -> Callable[[], object]:
    raw = _kem_key().public_key().public_bytes_raw()
    return lambda: MLKEM768PublicKey.from_public_bytes(raw)


def _make_kem_encap() -> Callable[[], object]:
    public = _kem_key().public_key()
    return lambda: public.encapsulate()


def _make_kem_decap() -> Callable[[], object]:
    private = _kem_key()
    ct = private.public_key().encapsulate()[1]
    return lambda: private.decapsulate(ct)


_HEADER_PT = 40
_BODY_PT = 256
_BODY_AD = _AD_LEN + 68
_CERT_PT = 1 + 128 + 96 + 32
_INNER_PT = 1 + 68 + _BODY_PT + 16

PRIMITIVES: dict[str, Primitive] = {
    p.name: p
    for p in (
        Primitive(
            "x25519_keygen",
            "x25519.from_private_bytes",
            "X25519PrivateKey.from_private_bytes (OpenSSL derives the public key here)",
            _make_keygen,
        ),
        Primitive(
            "x25519_public_raw",
            "X25519PrivateKey.public_key",
            "private.public_key().public_bytes_raw()",
            _make_public_raw,
        ),
        Primitive(
            "x25519_private_raw",
            "X25519PrivateKey.private_bytes_raw",
            "a loaded private key's raw bytes (a signed prekey handed to the ratchet)",
            _make_private_raw,
        ),
        Primitive(
            "x25519_load_public", "x25519.from_public_bytes", "X25519PublicKey.from_public_bytes", _make_load_public
        ),
        Primitive(
            "x25519_exchange", "X25519PrivateKey.exchange", "X25519 exchange with a loaded public key", _make_exchange
        ),
        Primitive(
            "x25519_base_sodium",
            "Lib.crypto_scalarmult_base",
            "libsodium crypto_scalarmult_base: a fresh key's public half (ratchet keys, sealed sender's ephemeral)",
            _make_sodium_base,
        ),
        Primitive(
            "x25519_mult_sodium",
            "Lib.crypto_scalarmult",
            "libsodium crypto_scalarmult from raw key bytes (ratchet turns, sealed sender's ephemeral agreement)",
            _make_sodium_mult,
        ),
        Primitive(
            "hkdf_96",
            "HKDF.derive",
            "HKDF-SHA256 object + derive, 96-byte output (root step, ratchet init)",
            _make_hkdf(32, 32, 23, 96),
        ),
        Primitive(
            "hkdf_64",
            "HKDF.derive",
            "HKDF-SHA256 object + derive, 64 bytes (sealed static keys)",
            _make_hkdf(32, 32, 24 + 32 + 32, 64),
        ),
        Primitive(
            "hkdf_32",
            "HKDF.derive",
            "HKDF-SHA256 object + derive, 32 bytes (PQXDH secret, sealed message key)",
            _make_hkdf(224, 32, 25 + 290, 32),
        ),
        Primitive(
            "hmac_sha256", "_hashlib.hmac_digest", "hmac.digest(key, 1 byte, 'sha256'): one KDF_CK output", _make_hmac
        ),
        Primitive("aead_init", AEAD_INIT_CALL, "ChaCha20Poly1305(key): cipher object from key bytes", _make_aead_init),
        Primitive(
            "aead_seal_header", "ChaCha20Poly1305.encrypt", "encrypt 40-byte header, no AD", _aead_seal(_HEADER_PT, 0)
        ),
        Primitive("aead_open_header", "ChaCha20Poly1305.decrypt", "decrypt 40-byte header", _aead_open(_HEADER_PT, 0)),
        Primitive(
            "aead_open_header_fail",
            "ChaCha20Poly1305.decrypt!",
            "header trial under the wrong key: InvalidTag raised and caught",
            lambda: _make_aead_open_fail(),
        ),
        Primitive(
            "aead_seal_body",
            "ChaCha20Poly1305.encrypt",
            f"encrypt {_BODY_PT}-byte padded body, {_BODY_AD}-byte AD",
            _aead_seal(_BODY_PT, _BODY_AD),
        ),
        Primitive(
            "aead_open_body", "ChaCha20Poly1305.decrypt", "decrypt the padded body", _aead_open(_BODY_PT, _BODY_AD)
        ),
        Primitive(
            "aead_seal_cert",
            "ChaCha20Poly1305.encrypt",
            f"encrypt {_CERT_PT}-byte sender certificate",
            _aead_seal(_CERT_PT, 32),
        ),
        Primitive(
            "aead_open_cert", "ChaCha20Poly1305.decrypt", "decrypt the sender certificate", _aead_open(_CERT_PT, 32)
        ),
        Primitive(
            "aead_seal_inner",
            "ChaCha20Poly1305.encrypt",
            f"encrypt {_INNER_PT}-byte inner message (sealed)",
            _aead_seal(_INNER_PT, 32),
        ),
        Primitive(
            "aead_open_inner",
            "ChaCha20Poly1305.decrypt",
            "decrypt the inner message (sealed)",
            _aead_open(_INNER_PT, 32),
        ),
        Primitive("rng_12", "posix.urandom", "os.urandom(12): header nonce", _make_rng(12)),
        Primitive("rng_32", "posix.urandom", "os.urandom(32): X25519 private key", _make_rng(32)),
        Primitive("ed25519_verify", "Ed25519PublicKey.verify", "Ed25519 signature check", _make_ed_verify),
        Primitive(
            "ed25519_load_public", "ed25519.from_public_bytes", "Ed25519PublicKey.from_public_bytes", _make_ed_load
        ),
        Primitive("sha256", "_hashlib.openssl_sha256", "SHA-256 of a device key (device id)", _make_sha256),
        Primitive(
            "mlkem_load_public",
            "mlkem.from_mlkem768_public_bytes",
            "MLKEM768PublicKey.from_public_bytes",
            _make_kem_load,
        ),
        Primitive("mlkem_encapsulate", "MLKEM768PublicKey.encapsulate", "ML-KEM-768 encapsulation", _make_kem_encap),
        Primitive("mlkem_decapsulate", "MLKEM768PrivateKey.decapsulate", "ML-KEM-768 decapsulation", _make_kem_decap),
    )
}
"""Every primitive a measured path performs, timed alone with realistic sizes."""


# -- what each path performs (read from protocol/ and keys/; checked against the profiler every run) ----------


def _ops(*parts: dict[str, int]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(sorted(total.items()))


_SEND = {"hmac_sha256": 2, "rng_12": 1, "aead_init": 1, "aead_seal_header": 1, "aead_seal_body": 1}
"""RatchetState.encrypt: KDF_CK (2 HMAC), nonce, header AEAD (HKs cipher kept loaded), body AEAD (new key)."""
_SEND_NEW_HKS = _ops(_SEND, {"aead_init": 1})
"""RatchetState.encrypt, first message after a DH ratchet turn: the new HKs cipher is loaded once."""
_RECEIVE_CHAIN = {"aead_init": 1, "aead_open_header": 1, "hmac_sha256": 2, "aead_open_body": 1}
"""prepare_decrypt on the current chain: header opens under the loaded HKr cipher, KDF_CK, body."""
_RATCHET_STEP = {"x25519_mult_sodium": 2, "hkdf_96": 2, "rng_32": 1, "x25519_base_sodium": 1}
"""DH ratchet turn in prepare_decrypt: two _dh calls (libsodium, raw keys), two root steps, a new key pair (its
public half: libsodium's fixed-base multiplication)."""
_RECEIVE_NEXT = _ops(_RATCHET_STEP, {"aead_init": 2, "aead_open_header": 1, "hmac_sha256": 2, "aead_open_body": 1})
"""prepare_decrypt on the next chain, when HKr is still unset (no failed trial): the first message of a side."""
_RECEIVE_TURN = _ops(_RECEIVE_NEXT, {"aead_open_header_fail": 1})
"""prepare_decrypt on the next chain after a failed trial under the loaded HKr cipher: every ping-pong message."""

PINGPONG_OPS = _ops(_SEND_NEW_HKS, _RECEIVE_TURN)
"""One ping-pong message: encrypt, then decrypt with a DH ratchet turn."""
ONEWAY_OPS = _ops(_SEND, _RECEIVE_CHAIN)
"""One message of a one-way burst: encrypt, then decrypt on the same receiving chain."""

_SEAL = {
    "rng_32": 1,
    "x25519_base_sodium": 1,
    "x25519_mult_sodium": 1,
    "hkdf_64": 1,
    "hkdf_32": 1,
    "aead_init": 2,
    "aead_seal_cert": 1,
    "aead_seal_inner": 1,
}
"""sealed.seal: ephemeral key (libsodium), DH(e, IK_B) (libsodium, from raw bytes), static keys, certificate
AEAD, message key, AEAD. DH(IK_A, IK_B) is remembered per pair of identities (protocol/static_agreement.py): it
is computed on a pair's first message only, so a conversation's steady state performs none."""
_UNSEAL = {
    "x25519_load_public": 1,
    "x25519_exchange": 1,
    "hkdf_64": 1,
    "hkdf_32": 1,
    "aead_init": 2,
    "aead_open_cert": 1,
    "aead_open_inner": 1,
    "sha256": 1,
}
"""sealed.unseal + open_sealed: load e, DH (OpenSSL: the identity's private key stays in its key object),
static keys, certificate AEAD, certificate parse (a cache hit for a known sender: no signature check),
DH(IK_B, IK_A) (remembered: none), message key, AEAD, and the sender's device id (SHA-256)."""
SEALED_LAYER_OPS = _ops(_SEAL, _UNSEAL)
"""What the sealed-sender layer adds to one message."""
SEALED_PINGPONG_OPS = _ops(PINGPONG_OPS, SEALED_LAYER_OPS)
SEALED_ONEWAY_OPS = _ops(ONEWAY_OPS, SEALED_LAYER_OPS)

_IDENTITY_PARSE: dict[str, int] = {}
"""IdentityPublicKey.from_bytes of a known identity: nothing. A verified identity is remembered by its exact
bytes (``keys/identity.py``, ``VERIFIED_IDENTITY_CACHE_SIZE``); set-up is timed with identities already seen, as
the sealed paths are with the static agreement already remembered. A new identity costs one Ed25519 public-key
load, one verification and one X25519 public-key load on top."""
_BUNDLE_PARSE = _ops(
    _IDENTITY_PARSE,
    {"ed25519_verify": 3, "ed25519_load_public": 1, "x25519_load_public": 2, "mlkem_load_public": 1},
)
"""PreKeyBundle.from_bytes: identity, device certificate, signed prekey, one-time prekey, signed KEM prekey."""
_PQXDH_INITIATE = {
    "rng_32": 1,
    "x25519_keygen": 1,
    "x25519_exchange": 4,
    "mlkem_encapsulate": 1,
    "hkdf_32": 1,
    "hkdf_96": 1,
    "x25519_public_raw": 1,
}
_PQXDH_RESPOND = {"x25519_load_public": 1, "x25519_exchange": 4, "mlkem_decapsulate": 1, "hkdf_32": 1, "hkdf_96": 1}
_INIT_INITIATOR = {"rng_32": 1, "x25519_base_sodium": 1, "x25519_mult_sodium": 1, "hkdf_96": 1}
SETUP_OPS = _ops(
    _BUNDLE_PARSE,
    _PQXDH_INITIATE,
    _INIT_INITIATOR,
    _SEND_NEW_HKS,  # initiator: bundle → first message
    _IDENTITY_PARSE,
    _PQXDH_RESPOND,
    {"x25519_private_raw": 1},  # init_responder: the signed prekey's raw bytes
    _RECEIVE_NEXT,  # responder accepts it
    _SEND_NEW_HKS,
    _RECEIVE_NEXT,  # first reply and its decryption
    {"sha256": 1},  # the peer's device id, for the session
)
"""Bundle bytes → first message → first reply, both sides (one-time prekey present, ML-KEM included)."""


# -- observing the calls a path really makes -----------------------------------------------------------------

KNOWN_WASTE: dict[str, dict[str, int]] = {}
"""Calls the code makes that a step does not need, by step: left out of the floor, reported as waste. Empty
while the code performs only what it needs (the check then says "exact")."""


def _call_name(fn: Any) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", getattr(fn, "__name__", "?"))
    if module and "." not in qualname:
        return f"{module.rsplit('.', 1)[-1]}.{qualname}"
    return str(qualname)


@contextmanager
def _counting_aead_init(calls: Counter[str]) -> Iterator[None]:
    patched = [
        m
        for name, m in list(sys.modules.items())
        if name.startswith("confide.") and getattr(m, "ChaCha20Poly1305", None) is ChaCha20Poly1305
    ]

    def counting(key: bytes) -> ChaCha20Poly1305:
        calls[AEAD_INIT_CALL] += 1
        return ChaCha20Poly1305(key)

    for module in patched:
        module.ChaCha20Poly1305 = counting  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in patched:
            module.ChaCha20Poly1305 = ChaCha20Poly1305  # type: ignore[attr-defined]


def observe_calls(step: Callable[[], object]) -> Counter[str]:
    """Run ``step`` once and count the C-level calls it makes (a call that raised gets a trailing ``!``)."""
    calls: Counter[str] = Counter()
    pending: list[str] = []

    def profiler(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            pending.append(_call_name(arg))
        elif event in ("c_return", "c_exception") and pending:
            name = pending.pop()
            calls[name + ("!" if event == "c_exception" else "")] += 1

    with _counting_aead_init(calls):
        sys.setprofile(profiler)
        try:
            step()
        finally:
            sys.setprofile(None)
    return calls


def _families(ops: dict[str, int], per: int) -> Counter[str]:
    out: Counter[str] = Counter()
    for name, count in ops.items():
        out[PRIMITIVES[name].family] += count * per
    return out


def check_ops(declared: dict[str, int], waste: dict[str, int], observed: Counter[str], per: int) -> list[str]:
    """Compare declared counts (per message) plus known waste with the calls observed over ``per`` messages.

    Returns one text per disagreeing call family; an empty list means the counts are exact.
    """
    want = _families(declared, per) + _families(waste, per)
    families = {p.family for p in PRIMITIVES.values()}
    got = Counter({name: n for name, n in observed.items() if name in families})
    return [
        f"{family}: counted {want[family]}, observed {got[family]}"
        for family in sorted(set(want) | set(got))
        if want[family] != got[family]
    ]


# -- the parties ---------------------------------------------------------------------------------------------


class PreKeys:
    """Bob's private prekeys (the PreKeyLookup protocol). Keys are not consumed, so set-up can repeat."""

    def __init__(self, signed: SignedPreKeyRecord, one_time: OneTimePreKeyRecord, kem: KemPreKeyRecord) -> None:
        self._signed, self._one_time, self._kem = signed, one_time, kem

    def signed_prekey(self, key_id: int) -> SignedPreKeyRecord | None:
        return self._signed if key_id == self._signed.key_id else None

    def one_time_prekey(self, key_id: int) -> OneTimePreKeyRecord | None:
        return self._one_time if key_id == self._one_time.key_id else None

    def kem_prekey(self, key_id: int) -> KemPreKeyRecord | None:
        return self._kem if key_id == self._kem.key_id else None


class World:
    """Alice and Bob with identities, devices, Bob's published bundle and sender certificates."""

    def __init__(self) -> None:
        rng, now = os.urandom, int(time.time())
        self.alice, self.bob = IdentityKeyPair.generate(rng), IdentityKeyPair.generate(rng)
        alice_device, bob_device = DeviceKeyPair.generate(self.alice, rng), DeviceKeyPair.generate(self.bob, rng)
        signed = SignedPreKeyRecord.generate(self.bob, 1, rng, now)
        one_time = OneTimePreKeyRecord.generate_batch(1, 1, rng)[0]
        kem = KemPreKeyRecord.generate(self.bob, 1, rng, now, last_resort=True)
        self.prekeys = PreKeys(signed, one_time, kem)
        self.bundle_bytes = PreKeyBundle(
            self.bob.public, bob_device.certificate, signed.public, one_time.public, kem.public
        ).to_bytes()
        self.alice_device_id = alice_device.device_id
        self.alice_cert = SenderCertificate(self.alice.public, alice_device.certificate, rng(32))
        self.bob_cert = SenderCertificate(self.bob.public, bob_device.certificate, rng(32))
        self.message = rng(MESSAGE_LEN)

    def setup(self) -> tuple[Session, Session]:
        """Bundle bytes → first message → first reply. Returns (Alice's session, Bob's session)."""
        bundle = PreKeyBundle.from_bytes(self.bundle_bytes)
        alice = initiate_session(self.alice, bundle, rng=os.urandom)
        _, header, body = parse_inner(alice.encrypt(self.message, os.urandom))
        if header is None:
            raise BenchmarkError("the first message carries no prekey header: check protocol/session.py")
        bob, first, _, _ = accept_session(self.bob, header, body, self.alice_device_id, self.prekeys, os.urandom)
        reply = alice.decrypt(bob.encrypt(self.message, os.urandom), os.urandom)
        if first != self.message or reply != self.message:
            raise BenchmarkError("set-up returned a wrong plaintext: run the protocol tests")
        return alice, bob


# -- timed steps: each `block(n)` runs n units and returns how many messages that was -------------------------


def setup_block(world: World) -> Block:
    def block(n: int) -> int:
        for _ in range(n):
            world.setup()
        return n

    return block


def session_pingpong_block(world: World) -> Block:
    alice, bob = world.setup()
    msg, rng = world.message, os.urandom

    def block(n: int) -> int:
        for _ in range(n):
            bob.decrypt(alice.encrypt(msg, rng), rng)
            alice.decrypt(bob.encrypt(msg, rng), rng)
        return 2 * n

    return block


def session_oneway_block(world: World) -> Block:
    alice, bob = world.setup()
    msg, rng = world.message, os.urandom

    def block(n: int) -> int:
        burst = [alice.encrypt(msg, rng) for _ in range(n)]
        for inner in burst:
            bob.decrypt(inner, rng)
        return n

    return block


def ratchet_pingpong_block(world: World) -> Block:
    alice_s, bob_s = world.setup()
    alice, bob, ad = alice_s.ratchet, bob_s.ratchet, alice_s.ad
    padded, rng = pad(world.message), os.urandom

    def block(n: int) -> int:
        for _ in range(n):
            bob.decrypt(alice.encrypt(padded, ad, rng), ad, rng)
            alice.decrypt(bob.encrypt(padded, ad, rng), ad, rng)
        return 2 * n

    return block


def ratchet_oneway_block(world: World) -> Block:
    alice_s, bob_s = world.setup()
    alice, bob, ad = alice_s.ratchet, bob_s.ratchet, alice_s.ad
    padded, rng = pad(world.message), os.urandom

    def block(n: int) -> int:
        burst = [alice.encrypt(padded, ad, rng) for _ in range(n)]
        for message in burst:
            bob.decrypt(message, ad, rng)
        return n

    return block


def sealed_pingpong_block(world: World) -> Block:
    alice, bob = world.setup()
    msg, rng, w = world.message, os.urandom, world

    def block(n: int) -> int:
        for _ in range(n):
            sealed = seal_message(alice, msg, sender_identity=w.alice, sender=w.alice_cert, rng=rng)
            open_sealed(w.bob, sealed, find_session=lambda _i, _d: bob, prekeys=w.prekeys, rng=rng)
            sealed = seal_message(bob, msg, sender_identity=w.bob, sender=w.bob_cert, rng=rng)
            open_sealed(w.alice, sealed, find_session=lambda _i, _d: alice, prekeys=w.prekeys, rng=rng)
        return 2 * n

    return block


def sealed_oneway_block(world: World) -> Block:
    alice, bob = world.setup()
    msg, rng, w = world.message, os.urandom, world

    def block(n: int) -> int:
        burst = [seal_message(alice, msg, sender_identity=w.alice, sender=w.alice_cert, rng=rng) for _ in range(n)]
        for sealed in burst:
            open_sealed(w.bob, sealed, find_session=lambda _i, _d: bob, prekeys=w.prekeys, rng=rng)
        return n

    return block


def primitive_block(primitive: Primitive) -> Block:
    op = primitive.make()

    def block(n: int) -> int:
        for _ in range(n):
            op()
        return n

    return block


def _noop_block() -> Block:
    def op() -> None:
        return None

    def block(n: int) -> int:
        for _ in range(n):
            op()
        return n

    return block


# -- the measured paths ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """A measured path: its per-message primitive counts, and how to build its timed block."""

    key: str
    label: str
    ops: dict[str, int]
    make: Callable[[World], Block]
    minimum: int = 1


STEPS = (
    Step("setup", "session set-up (bundle → first message → first reply)", SETUP_OPS, setup_block, SETUP_MIN_CALLS),
    Step("pingpong", "ping-pong, Session (padded)", PINGPONG_OPS, session_pingpong_block),
    Step("pingpong_ratchet", "ping-pong, RatchetState alone", PINGPONG_OPS, ratchet_pingpong_block),
    Step("oneway", "one-way burst, Session (padded)", ONEWAY_OPS, session_oneway_block),
    Step("oneway_ratchet", "one-way burst, RatchetState alone", ONEWAY_OPS, ratchet_oneway_block),
    Step("sealed_pingpong", "ping-pong, sealed sender + Session", SEALED_PINGPONG_OPS, sealed_pingpong_block),
    Step("sealed_oneway", "one-way burst, sealed sender + Session", SEALED_ONEWAY_OPS, sealed_oneway_block),
)
"""Every measured path, in report order."""


def _observe_block(block: Block) -> tuple[Counter[str], int]:
    block(3)  # reach steady state: chains established, a ratchet turn behind us
    messages: list[int] = []
    observed = observe_calls(lambda: messages.append(block(1)))
    return observed, messages[0]


def verify_ops(world: World) -> dict[str, Any]:
    """Run each path once under the profiler and compare with its declared counts and known waste.

    Returns ``{"status": "exact" | "mismatch", "known_waste": {...}, "mismatches": {...}}``.
    """
    mismatches: dict[str, list[str]] = {}
    for step in STEPS:
        observed, messages = _observe_block(step.make(world))
        problems = check_ops(step.ops, KNOWN_WASTE.get(step.key, {}), observed, messages)
        if problems:
            mismatches[step.key] = problems
    return {"status": "mismatch" if mismatches else "exact", "known_waste": KNOWN_WASTE, "mismatches": mismatches}


def _peer_blocks(target: int, progress: Callable[[str], None]) -> tuple[dict[str, tuple[Block, int]], dict[str, str]]:
    """The peers' timed blocks (``peer:<key>:<pingpong|oneway>``) and, by key, why a peer was skipped."""
    message, blocks, skipped = peer_message(MESSAGE_LEN), {}, {}
    for peer in PEERS:
        reason = missing(peer)
        if reason is not None:
            progress(f"skipping {peer.label}: {reason}")
            skipped[peer.key] = reason
            continue
        for kind, make in (("pingpong", peer.pingpong), ("oneway", peer.oneway)):
            block = make(message)
            blocks[f"peer:{peer.key}:{kind}"] = (block, calibrate(block, target))
    return blocks, skipped


def _peer_fields(med: dict[str, float], ours: dict[str, Any], skipped: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for peer in PEERS:
        if peer.key in skipped:
            out[peer.key] = {"label": peer.label, "skipped": skipped[peer.key]}
            continue
        rate = {kind: 1e9 / med[f"peer:{peer.key}:{kind}"] for kind in ("pingpong", "oneway")}
        out[peer.key] = {
            "label": peer.label,
            "pingpong_msgs_per_s": round(rate["pingpong"]),
            "oneway_msgs_per_s": round(rate["oneway"]),
            "ours_over_peer": {
                key: round(ours[f"{key}_msgs_per_s"] / rate[key.removeprefix("sealed_")], 2)
                for key in ("pingpong", "oneway", "sealed_pingpong", "sealed_oneway")
            },
        }
    return out


def time_block_cpu(block: Block, n: int) -> float:
    """As :func:`harness.time_block`, on this thread's CPU clock: time spent waiting for a core (a machine
    shared with other work) is not counted."""
    with gc_paused():
        block(max(1, n // WARMUP_FRACTION))
        start = time.thread_time_ns()
        items = block(n)
        elapsed = time.thread_time_ns() - start
    return elapsed / items


def measure(
    quick: bool, progress: Callable[[str], None], peers: bool = False, best: bool = False, cpu: bool = False
) -> dict[str, Any]:
    """Run the whole benchmark (with the peer libraries if ``peers``); returns the JSON-ready result.

    Every figure is the median across rounds, or with ``best`` the fastest round; with ``cpu`` blocks are
    timed on the thread's CPU clock instead of the wall clock. Both are for a machine that is not quiet, and
    apply to primitives, paths and peers alike."""
    rounds, target = (QUICK_ROUNDS, QUICK_BLOCK_NS) if quick else (FULL_ROUNDS, FULL_BLOCK_NS)
    world = World()
    progress("checking operation counts against the code")
    ops_check = verify_ops(world)

    timed: dict[str, tuple[Block, int]] = {}
    noop = _noop_block()
    timed["_noop"] = (noop, calibrate(noop, target))
    for primitive in PRIMITIVES.values():
        block = primitive_block(primitive)
        timed["prim:" + primitive.name] = (block, calibrate(block, target))
    for step in STEPS:
        block = step.make(world)
        timed[step.key] = (block, calibrate(block, target, step.minimum))
    skipped: dict[str, str] = {}
    if peers:
        peer_blocks, skipped = _peer_blocks(target, progress)
        timed.update(peer_blocks)

    timer = time_block_cpu if cpu else time_block
    samples: dict[str, list[float]] = {name: [] for name in timed}
    for i in range(rounds):
        progress(f"round {i + 1}/{rounds}")
        for name, (block, n) in timed.items():  # interleaved: load drift hits primitives and paths alike
            samples[name].append(timer(block, n))

    statistic = min if best else median
    med = {name: float(statistic(values)) for name, values in samples.items()}
    loop_ns = med["_noop"]
    prim_us = {p: max(0.0, med["prim:" + p] - loop_ns) / 1000 for p in PRIMITIVES}

    out: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "rounds": rounds,
        "statistic": "best" if best else "median",
        "clock": "thread CPU" if cpu else "wall",
        "message_bytes": MESSAGE_LEN,
    }
    for step in STEPS:
        us = med[step.key] / 1000
        floor = sum(prim_us[op] * count for op, count in step.ops.items())
        out.update(_step_fields(step.key, us, floor, step.ops, samples[step.key]))
    out["primitives_us"] = {name: round(v, 3) for name, v in prim_us.items()}
    out["loop_overhead_ns"] = round(loop_ns, 1)
    out["ops_check"] = ops_check
    out["sealed_over_unsealed_pingpong"] = round(out["pingpong_us"] / out["sealed_pingpong_us"], 3)
    if peers:
        out["peers"] = _peer_fields(med, out, skipped)
    out["machine"] = machine_facts()
    return out


def _step_fields(key: str, us: float, floor_us: float, ops: dict[str, int], raw: list[float]) -> dict[str, Any]:
    if key == "setup":
        return {
            "setup_ms": round(us / 1000, 3),
            "setup_floor_ms": round(floor_us / 1000, 3),
            "setup_ratio": round(us / floor_us, 3),
            "setup_floor_ops": ops,
            "setup_spread_ms": [round(min(raw) / 1e6, 3), round(max(raw) / 1e6, 3)],
        }
    fields: dict[str, Any] = {
        f"{key}_us": round(us, 2),
        f"{key}_floor_us": round(floor_us, 2),
        f"{key}_ratio": round(us / floor_us, 3),
        f"{key}_msgs_per_s": round(1e6 / us),
        f"{key}_spread_us": [round(min(raw) / 1000, 2), round(max(raw) / 1000, 2)],
    }
    if not key.endswith("_ratchet"):
        fields[f"{key}_floor_ops"] = ops
    return fields


def machine_facts() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cryptography": cryptography.__version__,
        "openssl": _openssl_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _openssl_version() -> str:
    from cryptography.hazmat.backends.openssl.backend import backend

    return str(backend.openssl_version_text())


# -- output --------------------------------------------------------------------------------------------------


def markdown(result: dict[str, Any], command: str) -> str:
    """The result as the Markdown table recorded in docs/BENCHMARKS.md."""
    m = result["machine"]
    lines = [
        f"`{command}` — {m['date']}, {m['nproc']} \N{MULTIPLICATION SIGN} {m['cpu']}, Python {m['python']}, "
        f"cryptography {m['cryptography']} ({m['openssl']}); {_statistic_text(result)}, "
        f"{MESSAGE_LEN}-byte message (padded to 256).",
        "",
        "| step | measured | primitives floor | ratio | messages/s |",
        "|---|---:|---:|---:|---:|",
        f"| session set-up (bundle → first message → first reply) | {result['setup_ms']:.2f} ms "
        f"| {result['setup_floor_ms']:.2f} ms | {result['setup_ratio']:.2f} | — |",
    ]
    for step in STEPS[1:]:
        k = step.key
        lines.append(
            f"| {step.label} | {result[k + '_us']:.1f} µs | {result[k + '_floor_us']:.1f} µs "
            f"| {result[k + '_ratio']:.2f} | {result[k + '_msgs_per_s']:,} |"
        )
    p = result["primitives_us"]
    lines += [
        "",
        f"Sealed ping-pong runs at {result['sealed_over_unsealed_pingpong']:.2f} \N{MULTIPLICATION SIGN} the "
        "unsealed Session ping-pong's rate. X25519 in this run: a fresh key's public half "
        f"{p['x25519_base_sodium']:.1f} µs (libsodium) vs {p['x25519_keygen'] + p['x25519_public_raw']:.1f} µs "
        f"(OpenSSL); an agreement from raw key bytes {p['x25519_mult_sodium']:.1f} µs (libsodium) vs "
        f"{p['x25519_load_public'] + p['x25519_exchange']:.1f} µs (OpenSSL, load + exchange).",
        "",
        f"Operation counts checked against the code: {_check_text(result['ops_check'])}",
    ]
    if "peers" in result:
        lines += ["", peers_markdown(result)]
    return "\n".join(lines)


def peers_markdown(result: dict[str, Any]) -> str:
    """The peer libraries beside ours, measured in the same rounds: messages/s and our rate divided by theirs."""
    lines = [
        f"Peers in the same process and rounds, {MESSAGE_LEN}-byte message; ours: Session ping-pong "
        f"{result['pingpong_msgs_per_s']:,}/s, one-way {result['oneway_msgs_per_s']:,}/s; sealed "
        f"{result['sealed_pingpong_msgs_per_s']:,}/s and {result['sealed_oneway_msgs_per_s']:,}/s.",
        "",
        "| peer | ping-pong msgs/s | one-way msgs/s | ours ÷ peer, ping-pong (Session / sealed) "
        "| ours ÷ peer, one-way (Session / sealed) |",
        "|---|---:|---:|---:|---:|",
    ]
    for peer in result["peers"].values():
        if "skipped" in peer:
            lines.append(f"| {peer['label']} | skipped: {peer['skipped']} | | | |")
            continue
        r = peer["ours_over_peer"]
        lines.append(
            f"| {peer['label']} | {peer['pingpong_msgs_per_s']:,} | {peer['oneway_msgs_per_s']:,} "
            f"| {r['pingpong']:.2f} / {r['sealed_pingpong']:.2f} | {r['oneway']:.2f} / {r['sealed_oneway']:.2f} |"
        )
    return "\n".join(lines)


def _statistic_text(result: dict[str, Any]) -> str:
    which = "fastest" if result["statistic"] == "best" else "median"
    return f"{which} of {result['rounds']} interleaved rounds, {result['clock']} clock"


def _check_text(check: dict[str, Any]) -> str:
    if check["status"] != "exact":
        return f"**MISMATCH** {json.dumps(check['mismatches'])}"
    waste = "; ".join(
        f"{step}: " + ", ".join(f"{n} \N{MULTIPLICATION SIGN} `{op}`" for op, n in ops.items())
        for step, ops in check["known_waste"].items()
    )
    return "exact" + (f" (plus known waste, outside the floor — {waste})" if waste else "") + "."


def ops_markdown(result: dict[str, Any]) -> str:
    """Per-path primitive counts and per-primitive costs, for a reader to check the floors."""
    keys = ["setup", "pingpong", "oneway", "sealed_pingpong", "sealed_oneway"]
    header = "| primitive | µs | " + " | ".join(keys) + " |"
    lines = [header, "|---|---:|" + "---:|" * len(keys)]
    for name, primitive in PRIMITIVES.items():
        counts = [str(result[k + "_floor_ops"].get(name, "")) for k in keys]
        lines.append(
            f"| `{name}`: {primitive.description} | {result['primitives_us'][name]:.2f} | " + " | ".join(counts) + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    add_common_flags(
        parser, quick_help="fewer, shorter rounds: under 30 seconds", json_help="print one JSON object on stdout"
    )
    parser.add_argument("--ops", action="store_true", help="also print the per-path primitive counts table")
    parser.add_argument(
        "--best",
        action="store_true",
        help="report the fastest round instead of the median (a machine that is not quiet)",
    )
    parser.add_argument(
        "--cpu", action="store_true", help="time on the thread's CPU clock, not the wall clock (a busy machine)"
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also time vodozemac, python-olm and doubleratchet in the same rounds (the .[peers] extra)",
    )
    args = parser.parse_args(argv)

    def progress(text: str) -> None:
        print(f"[bench] {text}", file=sys.stderr, flush=True)

    result = measure(args.quick, progress, peers=args.peers, best=args.best, cpu=args.cpu)
    flags = [
        flag
        for flag, on in (
            ("--quick", args.quick),
            ("--best", args.best),
            ("--cpu", args.cpu),
            ("--peers", args.peers),
        )
        if on
    ]
    command = " ".join([".venv/bin/python bench/crypto.py", *flags])
    if args.json:
        print_json(result, indent=2)
    else:
        print(markdown(result, command))
        if args.ops:
            print()
            print(ops_markdown(result))
    return 0 if result["ops_check"]["status"] == "exact" else 1


if __name__ == "__main__":
    sys.exit(main())
