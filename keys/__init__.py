"""Confide keys: identities, devices, prekeys, sealed key stores, safety numbers, QR codes, recovery."""

from .address import Address
from .device import DeviceCertificate, DeviceKeyPair
from .encoding import RNG
from .errors import (
    AddressMismatch,
    ConfideError,
    CorruptKeyStore,
    InvalidAddress,
    InvalidRecoveryCode,
    InvalidSignature,
    KdfParametersTooCostly,
    KeyStoreError,
    MalformedKey,
    QRPayloadError,
    WrongPassphrase,
)
from .identity import IdentityKeyPair, IdentityPublicKey
from .keystore import (
    DEFAULT_KDF,
    MAX_KDF,
    TEST_KDF,
    KdfParams,
    change_passphrase,
    kdf_params_of,
    open_keys,
    seal,
    seal_keys,
    unseal,
)
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
from .qr import parse_qr_text, qr_terminal, qr_text, write_qr_png
from .recovery import create_recovery, restore_recovery
from .safety import SAFETY_NUMBER_ITERATIONS, SafetyNumber, ScanResult, compute_safety_number
from .secret_keys import SecretKeys

__all__ = [
    "DEFAULT_KDF",
    "MAX_KDF",
    "RNG",
    "SAFETY_NUMBER_ITERATIONS",
    "TEST_KDF",
    "Address",
    "AddressMismatch",
    "ConfideError",
    "CorruptKeyStore",
    "DeviceCertificate",
    "DeviceKeyPair",
    "IdentityKeyPair",
    "IdentityPublicKey",
    "InvalidAddress",
    "InvalidRecoveryCode",
    "InvalidSignature",
    "KdfParametersTooCostly",
    "KdfParams",
    "KemPreKeyPublic",
    "KemPreKeyRecord",
    "KeyStoreError",
    "MalformedKey",
    "OneTimePreKeyPublic",
    "OneTimePreKeyRecord",
    "PreKeyBundle",
    "QRPayloadError",
    "RefillPlan",
    "SafetyNumber",
    "ScanResult",
    "SecretKeys",
    "SignedPreKeyPublic",
    "SignedPreKeyRecord",
    "WrongPassphrase",
    "change_passphrase",
    "compute_safety_number",
    "create_recovery",
    "kdf_params_of",
    "open_keys",
    "parse_qr_text",
    "plan_refill",
    "qr_terminal",
    "qr_text",
    "restore_recovery",
    "seal",
    "seal_keys",
    "unseal",
    "write_qr_png",
]
