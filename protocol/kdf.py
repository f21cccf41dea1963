"""Key-derivation helpers and labels shared by the agreement, ratchet and sealed-sender layers.

All labels are listed in SPEC.md; each is used in exactly one place so derived keys never collide.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABEL_PQXDH = b"Confide_PQXDH_X25519_SHA-256_ML-KEM-768_v1"
LABEL_RATCHET_INIT = b"Confide-ratchet-init-v1"
LABEL_RATCHET_ROOT = b"Confide-ratchet-root-v1"
LABEL_AD = b"Confide-AD-v1"
LABEL_SEALED_STATIC = b"Confide-sealed-static-v1"
LABEL_SEALED_MESSAGE = b"Confide-sealed-message-v1"

_SHA256 = hashes.SHA256()
ZERO_NONCE = bytes(12)
"""AEAD nonce for keys that encrypt exactly one message (message keys, sealed-sender keys)."""


def hkdf(ikm: bytes, *, salt: bytes | None, info: bytes, length: int) -> bytes:
    """HKDF-SHA-256 (RFC 5869)."""
    return HKDF(algorithm=_SHA256, length=length, salt=salt, info=info).derive(ikm)


def kdf_chain(chain_key: bytes) -> tuple[bytes, bytes]:
    """Symmetric-key ratchet step: ``(next_chain_key, message_key)``.

    ``message_key = HMAC-SHA256(ck, 0x01)``, ``next_chain_key = HMAC-SHA256(ck, 0x02)`` (Signal's KDF_CK).
    """
    return hmac.digest(chain_key, b"\x02", "sha256"), hmac.digest(chain_key, b"\x01", "sha256")


def kdf_root(root_key: bytes, dh_out: bytes) -> tuple[bytes, bytes, bytes]:
    """Root-key ratchet step with header encryption: ``(root_key, chain_key, next_header_key)``."""
    out = hkdf(dh_out, salt=root_key, info=LABEL_RATCHET_ROOT, length=96)
    return out[:32], out[32:64], out[64:]
