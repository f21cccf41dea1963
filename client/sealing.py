"""Sealing values of the local store under keys derived from the profile's store key.

Each (table, column) has its own ChaCha20-Poly1305 key, ``HKDF-SHA256(store_key, info="Confide-store-v1|"
+ table + "|" + column)``. A sealed value is ``0x01 || nonce(12) || ciphertext+tag`` with a random nonce;
the row id is the associated data, so a value moved to another row (or column) fails to open. Searchable
lookups (a contact's address, a message id) use blind indexes: ``HMAC-SHA256(index_key(label), value)``,
never the value itself.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide.keys.encoding import RNG

from .errors import StorageError

SEAL_VERSION = 1
_NONCE_LEN = 12
_SEAL_LABEL = b"Confide-store-v1|"
_INDEX_LABEL = b"Confide-store-index-v1|"
STORE_KEY_LEN = 32
"""The store key is a 256-bit secret held only in the passphrase-sealed key store."""


def _derive(store_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(store_key)


class Sealer:
    """Seals and opens store values and computes blind indexes. ``repr`` never shows key material."""

    __slots__ = ("_aeads", "_index_keys", "_rng", "_store_key")

    def __init__(self, store_key: bytes, rng: RNG) -> None:
        if len(store_key) != STORE_KEY_LEN:
            raise ValueError("the store key is 32 bytes")
        self._store_key = store_key
        self._rng = rng
        self._aeads: dict[tuple[str, str], ChaCha20Poly1305] = {}
        self._index_keys: dict[str, bytes] = {}

    def _aead(self, table: str, column: str) -> ChaCha20Poly1305:
        key = (table, column)
        aead = self._aeads.get(key)
        if aead is None:
            info = _SEAL_LABEL + table.encode() + b"|" + column.encode()
            aead = ChaCha20Poly1305(_derive(self._store_key, info))
            self._aeads[key] = aead
        return aead

    def seal(self, table: str, column: str, row_id: str, plaintext: bytes) -> bytes:
        """Seal ``plaintext`` for ``table.column`` of row ``row_id``."""
        nonce = self._rng(_NONCE_LEN)
        return bytes((SEAL_VERSION,)) + nonce + self._aead(table, column).encrypt(nonce, plaintext, row_id.encode())

    def open(self, table: str, column: str, row_id: str, sealed: bytes) -> bytes:
        """Open a sealed value.

        Raises:
            StorageError: wrong version, truncated, tampered, moved from another row, or another key.
        """
        if len(sealed) < 1 + _NONCE_LEN + 16 or sealed[0] != SEAL_VERSION:
            raise StorageError("a value in the local store is damaged; restore the profile from a backup")
        try:
            return self._aead(table, column).decrypt(
                sealed[1 : 1 + _NONCE_LEN], sealed[1 + _NONCE_LEN :], row_id.encode()
            )
        except InvalidTag as exc:
            raise StorageError(
                "a value in the local store does not open with this profile's key; the store is damaged"
            ) from exc

    def index(self, label: str, value: bytes) -> str:
        """Blind index of ``value`` under ``label``: hex HMAC, usable as a lookup key without the value."""
        key = self._index_keys.get(label)
        if key is None:
            key = _derive(self._store_key, _INDEX_LABEL + label.encode())
            self._index_keys[label] = key
        return hmac.new(key, value, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "Sealer()"
