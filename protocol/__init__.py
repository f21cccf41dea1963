"""Confide protocol: sans-I/O wire formats, key agreement, ratchet, content and sealed sender.

Synchronous and pure: no asyncio, no sqlite, no clock and no randomness of its own. Callers pass ``rng``
(``os.urandom`` in production) and ``now``. See ``protocol/SPEC.md`` for byte layouts and labels.
"""

from .auth import AuthProof, sign_request
from .envelope import Delivery, Envelope, decode_batch, delivery_token_hash, encode_batch
from .errors import (
    AuthError,
    DecryptionError,
    DuplicateMessage,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    UntrustedIdentity,
)
from .padding import MAX_PLAINTEXT, pad, unpad
from .sealed import Opened, SenderCertificate, open_sealed, seal_message
from .session import PreKeyLookup, Session, initiate_session

__all__ = [
    "MAX_PLAINTEXT",
    "AuthError",
    "AuthProof",
    "DecryptionError",
    "Delivery",
    "DuplicateMessage",
    "Envelope",
    "LocalProtocolError",
    "Opened",
    "PreKeyLookup",
    "ProtocolError",
    "RemoteProtocolError",
    "SenderCertificate",
    "Session",
    "UntrustedIdentity",
    "decode_batch",
    "delivery_token_hash",
    "encode_batch",
    "initiate_session",
    "open_sealed",
    "pad",
    "seal_message",
    "sign_request",
    "unpad",
]
