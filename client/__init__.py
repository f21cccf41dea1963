"""Confide client library and the ``confide`` command.

Integrators import from here only::

    from confide.client import Client, MessageReceived

    async with Client.open(profile_dir, passphrase) as client:
        await client.send_text("Dr Lee", "Hello")
        async for event in client.events():
            ...

Front ends (the ``confide`` command, the Desk web app) import only the names listed here, too. See
``docs/integrating.md``.
"""

from confide.keys.errors import (
    ConfideError,
    CorruptKeyStore,
    InvalidAddress,
    InvalidRecoveryCode,
    KeyStoreError,
    QRPayloadError,
    WrongPassphrase,
)
from confide.keys.keystore import DEFAULT_KDF, KdfParams
from confide.keys.qr import parse_qr_text, qr_terminal, qr_text, write_qr_png
from confide.keys.safety import SafetyNumber, ScanResult
from confide.protocol.errors import ProtocolError, UntrustedIdentity

from .client import Client
from .errors import (
    AttachmentError,
    ClientError,
    ContactExists,
    InvalidInvite,
    ProfileError,
    RelayError,
    RelayUnreachable,
    StorageError,
    UnknownContact,
    UnknownMessage,
    VerificationFailed,
)
from .events import (
    Connected,
    Event,
    IdentityChanged,
    MessageDeleted,
    MessageReceived,
    MessageUndecryptable,
    PrekeysLow,
    ReceiptReceived,
    RelayOffline,
    SessionReset,
    TimerChanged,
)
from .invite import Invite
from .models import (
    ROLES,
    AttachmentInfo,
    Contact,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    QueuedItem,
    Role,
    Trust,
)
from .profile import INSECURE_TEST_KDF, MAX_RECOVERY_BACKUP_BYTES
from .relay import ProgressCallback
from .timers import format_duration, parse_duration

__all__ = [
    "DEFAULT_KDF",
    "INSECURE_TEST_KDF",
    "MAX_RECOVERY_BACKUP_BYTES",
    "ROLES",
    "AttachmentError",
    "AttachmentInfo",
    "Client",
    "ClientError",
    "ConfideError",
    "Connected",
    "Contact",
    "ContactExists",
    "CorruptKeyStore",
    "Direction",
    "Event",
    "IdentityChanged",
    "InvalidAddress",
    "InvalidInvite",
    "InvalidRecoveryCode",
    "Invite",
    "KdfParams",
    "KeyStoreError",
    "Message",
    "MessageDeleted",
    "MessageKind",
    "MessageReceived",
    "MessageStatus",
    "MessageUndecryptable",
    "PrekeysLow",
    "ProfileError",
    "ProgressCallback",
    "ProtocolError",
    "QRPayloadError",
    "QueuedItem",
    "ReceiptReceived",
    "RelayError",
    "RelayOffline",
    "RelayUnreachable",
    "Role",
    "SafetyNumber",
    "ScanResult",
    "SessionReset",
    "StorageError",
    "TimerChanged",
    "Trust",
    "UnknownContact",
    "UnknownMessage",
    "UntrustedIdentity",
    "VerificationFailed",
    "WrongPassphrase",
    "format_duration",
    "parse_duration",
    "parse_qr_text",
    "qr_terminal",
    "qr_text",
    "write_qr_png",
]
