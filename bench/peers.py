"""Peer double-ratchet libraries, timed by ``bench/crypto.py --peers`` in the same process and rounds as ours.

Each peer runs the same two conversations as Confide's paths, with a message of the same size: ping-pong (the
two sides alternate, so every message turns the DH ratchet) and a one-way burst (one side sends ``n``
messages, the other decrypts them: symmetric chain only). A message counts once it is encrypted *and*
decrypted. Sessions are set up outside the timed blocks; every library is used through its public Python API:

* ``vodozemac``: matrix-org's Rust Olm (``Account``, ``Session.encrypt`` / ``decrypt``);
* ``python-olm`` (``olm``): the C libolm through cffi (the same protocol, the older implementation);
* ``doubleratchet``: Syndace's pure-Python Double Ratchet with its ``recommended`` X25519, HKDF and
  AES-256-CBC + HMAC (an ``asyncio`` API: each block runs as one coroutine on one event loop).

The libraries are an optional extra (``pip install -e '.[peers]'``); a missing one is reported and skipped.
They are imported by name at run time, so type checking never depends on them being installed.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import Block

AD_LEN = 269
"""Associated data handed to ``doubleratchet`` per message: the length of a Confide session's (label and both
identities), so its HMAC covers as much as our AEAD does. The Olm libraries take no associated data."""

DR_MAX_SKIPPED = 1000
"""``doubleratchet``'s bound on stored skipped keys (its README's value); no key is skipped in these runs."""
DR_DOS_THRESHOLD = 100
"""``doubleratchet``'s bound on keys derived for one message (its README's value); never reached here."""


@dataclass(frozen=True, slots=True)
class Peer:
    """A peer library: its import name, and how to build a ping-pong and a one-way block on a fresh session."""

    key: str
    label: str
    module: str
    pingpong: Callable[[bytes], Block]
    oneway: Callable[[bytes], Block]


class PeerError(RuntimeError):
    """A peer library returned a wrong plaintext while its session was set up: its figures would mean nothing."""


def _expect(ok: bool, library: str) -> None:
    if not ok:
        raise PeerError(f"{library} returned a wrong plaintext during set-up")


def missing(peer: Peer) -> str | None:
    """Why ``peer`` cannot be measured (its library is not importable), or None."""
    try:
        importlib.import_module(peer.module)
    except ImportError as exc:
        return f"{peer.module} is not installed ({exc.msg}); pip install -e '.[peers]'"
    return None


def peer_message(length: int) -> bytes:
    """A printable message of ``length`` bytes (python-olm decodes plaintexts as UTF-8)."""
    return base64.b64encode(os.urandom(length))[:length]


# -- vodozemac ---------------------------------------------------------------------------------------------


def _vodozemac_pair() -> tuple[Any, Any]:
    """(Alice's session, Bob's session), after the prekey message and one reply."""
    vz: Any = importlib.import_module("vodozemac")
    alice, bob = vz.Account(), vz.Account()
    bob.generate_one_time_keys(1)
    one_time = next(iter(bob.one_time_keys.values()))
    bob.mark_keys_as_published()
    a = alice.create_outbound_session(bob.curve25519_key, one_time)
    first = a.encrypt(b"hello").to_pre_key()
    b, hello = bob.create_inbound_session(alice.curve25519_key, first)
    _expect(hello == b"hello" and a.decrypt(b.encrypt(b"hi")) == b"hi", "vodozemac")
    return a, b


def _vodozemac_pingpong(message: bytes) -> Block:
    a, b = _vodozemac_pair()

    def block(n: int) -> int:
        for _ in range(n):
            b.decrypt(a.encrypt(message))
            a.decrypt(b.encrypt(message))
        return 2 * n

    return block


def _vodozemac_oneway(message: bytes) -> Block:
    a, b = _vodozemac_pair()

    def block(n: int) -> int:
        burst = [a.encrypt(message) for _ in range(n)]
        for sent in burst:
            b.decrypt(sent)
        return n

    return block


# -- python-olm ----------------------------------------------------------------------------------------------


def _olm_pair() -> tuple[Any, Any]:
    olm: Any = importlib.import_module("olm")
    alice, bob = olm.Account(), olm.Account()
    bob.generate_one_time_keys(1)
    one_time = next(iter(bob.one_time_keys["curve25519"].values()))
    bob.mark_keys_as_published()
    alice_key = alice.identity_keys["curve25519"]
    a = olm.OutboundSession(alice, bob.identity_keys["curve25519"], one_time)
    first = a.encrypt("hello")
    b = olm.InboundSession(bob, first, alice_key)
    _expect(b.decrypt(first) == "hello" and a.decrypt(b.encrypt("hi")) == "hi", "python-olm")
    return a, b


def _olm_pingpong(message: bytes) -> Block:
    a, b = _olm_pair()

    def block(n: int) -> int:
        for _ in range(n):
            b.decrypt(a.encrypt(message))
            a.decrypt(b.encrypt(message))
        return 2 * n

    return block


def _olm_oneway(message: bytes) -> Block:
    a, b = _olm_pair()

    def block(n: int) -> int:
        burst = [a.encrypt(message) for _ in range(n)]
        for sent in burst:
            b.decrypt(sent)
        return n

    return block


# -- doubleratchet (pure Python) -----------------------------------------------------------------------------


def _dr_config() -> dict[str, Any]:
    """The keyword arguments both sides pass, with the library's recommended primitives (README set-up)."""
    rec: Any = importlib.import_module("doubleratchet.recommended")
    aead_mod: Any = importlib.import_module("doubleratchet.recommended.aead_aes_hmac")
    hkdf_mod: Any = importlib.import_module("doubleratchet.recommended.kdf_hkdf")
    dh_mod: Any = importlib.import_module("doubleratchet.recommended.diffie_hellman_ratchet_curve25519")
    sha256 = staticmethod(lambda: rec.HashFunction.SHA_256)
    aead = type("BenchAEAD", (aead_mod.AEAD,), {"_get_hash_function": sha256, "_get_info": _info(b"aead")})
    root = type("BenchRootKDF", (hkdf_mod.KDF,), {"_get_hash_function": sha256, "_get_info": _info(b"root")})
    chain = type("BenchChainKDF", (hkdf_mod.KDF,), {"_get_hash_function": sha256, "_get_info": _info(b"chain")})
    return {
        "diffie_hellman_ratchet_class": dh_mod.DiffieHellmanRatchet,
        "root_chain_kdf": root,
        "message_chain_kdf": chain,
        "message_chain_constant": b"\x01\x02",
        "dos_protection_threshold": DR_DOS_THRESHOLD,
        "max_num_skipped_message_keys": DR_MAX_SKIPPED,
        "aead": aead,
    }


def _info(label: bytes) -> staticmethod[[], bytes]:
    return staticmethod(lambda: b"Confide bench " + label)


def _dr_associated_data(associated_data: bytes, header: Any) -> bytes:
    """The library leaves the header's encoding to the application: ours, as its README does it."""
    ratchet_pub: bytes = header.ratchet_pub
    sent: int = header.sending_chain_length
    previous: int = header.previous_sending_chain_length
    return associated_data + ratchet_pub + sent.to_bytes(8, "big") + previous.to_bytes(8, "big")


def _dr_pair(loop: asyncio.AbstractEventLoop, ad: bytes) -> tuple[Any, Any]:
    dr: Any = importlib.import_module("doubleratchet")
    ratchet: Any = type(
        "BenchDoubleRatchet", (dr.DoubleRatchet,), {"_build_associated_data": staticmethod(_dr_associated_data)}
    )
    dh_mod: Any = importlib.import_module("doubleratchet.recommended.diffie_hellman_ratchet_curve25519")
    config, secret = _dr_config(), os.urandom(32)
    bob_priv = dh_mod.DiffieHellmanRatchet._generate_priv()
    bob_pub = dh_mod.DiffieHellmanRatchet._derive_pub(bob_priv)

    async def pair() -> tuple[Any, Any]:
        a, first = await ratchet.encrypt_initial_message(
            shared_secret=secret, recipient_ratchet_pub=bob_pub, message=b"hello", associated_data=ad, **config
        )
        b, hello = await ratchet.decrypt_initial_message(
            shared_secret=secret, own_ratchet_priv=bob_priv, message=first, associated_data=ad, **config
        )
        hi = await a.decrypt_message(await b.encrypt_message(b"hi", ad), ad)
        _expect(hello == b"hello" and hi == b"hi", "doubleratchet")
        return a, b

    return loop.run_until_complete(pair())


def _dr_pingpong(message: bytes) -> Block:
    loop, ad = asyncio.new_event_loop(), os.urandom(AD_LEN)
    a, b = _dr_pair(loop, ad)

    async def run(n: int) -> None:
        for _ in range(n):
            await b.decrypt_message(await a.encrypt_message(message, ad), ad)
            await a.decrypt_message(await b.encrypt_message(message, ad), ad)

    def block(n: int) -> int:
        loop.run_until_complete(run(n))
        return 2 * n

    return block


def _dr_oneway(message: bytes) -> Block:
    loop, ad = asyncio.new_event_loop(), os.urandom(AD_LEN)
    a, b = _dr_pair(loop, ad)

    async def run(n: int) -> None:
        burst = [await a.encrypt_message(message, ad) for _ in range(n)]
        for sent in burst:
            await b.decrypt_message(sent, ad)

    def block(n: int) -> int:
        loop.run_until_complete(run(n))
        return n

    return block


PEERS = (
    Peer("vodozemac", "vodozemac (Rust, Olm)", "vodozemac", _vodozemac_pingpong, _vodozemac_oneway),
    Peer("olm", "python-olm (C libolm)", "olm", _olm_pingpong, _olm_oneway),
    Peer("doubleratchet", "doubleratchet (pure Python)", "doubleratchet", _dr_pingpong, _dr_oneway),
)
"""The peers, in report order."""
