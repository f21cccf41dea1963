"""X25519 (RFC 7748) on raw 32-byte keys, by libsodium (PyNaCl): the ratchet's keys and sealed sender's ephemeral.

Why libsodium and raw bytes: a fresh key's public half is a fixed-base multiplication, which libsodium does in
about half the time of OpenSSL's ``X25519PrivateKey.from_private_bytes`` (``bench/crypto.py`` times both in
every run), and a key kept as bytes needs no loading when a stored session is read back (OpenSSL's key object
derives the public half again on every load: one scalar multiplication per session read). The agreement itself
costs the same in both libraries. Long-lived keys (identity, signed and one-time prekeys) stay in OpenSSL's key
objects; only keys that live for one ratchet turn or one message are handled here.

libsodium clamps the private scalar exactly as RFC 7748 does, so every result here equals OpenSSL's for the same
bytes (``tests/protocol/test_x25519.py`` checks it for arbitrary inputs). PyNaCl passes raw pointers, so the
lengths are checked here first.
"""

from __future__ import annotations

import hmac

from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base

from confide.keys.encoding import RNG

X25519_LEN = 32
"""Every X25519 private key, public key and shared secret is 32 bytes (RFC 7748 §5)."""
_ZERO = bytes(X25519_LEN)


def generate(rng: RNG) -> tuple[bytes, bytes]:
    """A fresh key pair from 32 bytes of ``rng``: ``(private, public)``.

    Raises:
        ValueError: ``rng`` did not return 32 bytes.
    """
    private = rng(X25519_LEN)
    return private, public_key(private)


def public_key(private: bytes) -> bytes:
    """The public half of a raw private key (equal to OpenSSL's for the same bytes).

    Raises:
        ValueError: ``private`` is not 32 bytes.
    """
    if len(private) != X25519_LEN:
        raise ValueError("an X25519 private key is 32 bytes")
    return crypto_scalarmult_base(private)


def agree(private: bytes, public: bytes) -> bytes:
    """``X25519(private, public)``.

    Raises:
        ValueError: a key is not 32 bytes, or ``public`` has low order (the result would be all zero), as
            OpenSSL's ``X25519PrivateKey.exchange`` raises.
    """
    if len(private) != X25519_LEN or len(public) != X25519_LEN:
        raise ValueError("X25519 keys are 32 bytes")
    try:
        shared = crypto_scalarmult(private, public)
    except RuntimeError as exc:  # libsodium refuses low-order points and an all-zero result
        raise ValueError("X25519 with a low-order public key") from exc
    if hmac.compare_digest(shared, _ZERO):  # whatever the libsodium version, never an all-zero secret
        raise ValueError("X25519 with a low-order public key")
    return shared
