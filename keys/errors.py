"""The root of Confide's exception hierarchy and the key-layer errors.

Every error Confide raises on purpose is a :class:`ConfideError`. Branches let callers act on the kind of
failure: keys (this module), protocol (:mod:`confide.protocol.errors`), relay and storage
(:mod:`confide.client.errors`). Messages tell a person what to do and never contain secret material.
Programmer mistakes (wrong argument types, impossible values) stay ``TypeError``/``ValueError``.
"""

from __future__ import annotations


class ConfideError(Exception):
    """Base of every error Confide raises deliberately."""


class KeyMaterialError(ConfideError):
    """Base of errors about keys, key material and sealed key stores."""


class MalformedKey(KeyMaterialError):
    """Bytes that should hold a key, bundle or key record are malformed (length, version or field)."""


class InvalidSignature(KeyMaterialError):
    """A signature over a key, certificate or prekey does not verify."""


class AddressMismatch(KeyMaterialError):
    """Keys do not belong to the address they were fetched for (possible key substitution)."""


class InvalidAddress(KeyMaterialError):
    """Text is not a valid Confide address (wrong prefix, length, alphabet or checksum)."""


class KeyStoreError(KeyMaterialError):
    """Base of errors opening or writing a passphrase-sealed key store."""


class WrongPassphrase(KeyStoreError):
    """The passphrase (or recovery code) does not open this key store or backup."""


class InvalidRecoveryCode(KeyStoreError):
    """Text is not a well-formed recovery code (wrong length, alphabet or checksum): most likely a typo."""


class CorruptKeyStore(KeyStoreError):
    """The key store or backup blob is damaged, truncated or of an unknown version."""


class KdfParametersTooCostly(KeyStoreError):
    """The blob asks for Argon2 costs above the ceiling this build accepts (a hostile or foreign file)."""


class QRPayloadError(KeyMaterialError):
    """A scanned safety-number payload is not one Confide understands."""


__all__ = [
    "AddressMismatch",
    "ConfideError",
    "CorruptKeyStore",
    "InvalidAddress",
    "InvalidRecoveryCode",
    "InvalidSignature",
    "KdfParametersTooCostly",
    "KeyMaterialError",
    "KeyStoreError",
    "MalformedKey",
    "QRPayloadError",
    "WrongPassphrase",
]
