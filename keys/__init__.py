"""Confide keys: identities, devices, prekeys, sealed key stores, safety numbers, QR codes, recovery."""

from .address import Address
from .device import DeviceCertificate, DeviceKeyPair
from .encoding import RNG
from .errors import (
    AddressMismatch,
    ConfideError,
    CorruptKeyStore,
    InvalidAddress,
    InvalidSignature,
    KdfParametersTooCostly,
    KeyStoreError,
    MalformedKey,
    QRPayloadError,
    WrongPassphrase,
)
from .identity import IdentityKeyPair, IdentityPublicKey
from .prekeys import (
    KemPreKeyPublic,
    KemPreKeyRecord,
    OneTimePreKeyPublic,
    OneTimePreKeyRecord,
    PreKeyBundle,
    RefillPlan,
    SignedPreKeyPublic,
    SignedPreKeyRecord,
    plan_refill,
)

__all__ = [
    "RNG",
    "Address",
    "AddressMismatch",
    "ConfideError",
    "CorruptKeyStore",
    "DeviceCertificate",
    "DeviceKeyPair",
    "IdentityKeyPair",
    "IdentityPublicKey",
    "InvalidAddress",
    "InvalidSignature",
    "KdfParametersTooCostly",
    "KemPreKeyPublic",
    "KemPreKeyRecord",
    "KeyStoreError",
    "MalformedKey",
    "OneTimePreKeyPublic",
    "OneTimePreKeyRecord",
    "PreKeyBundle",
    "QRPayloadError",
    "RefillPlan",
    "SignedPreKeyPublic",
    "SignedPreKeyRecord",
    "WrongPassphrase",
    "plan_refill",
]
