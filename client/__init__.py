"""Confide client library and the ``confide`` command.

Integrators import from here only::

    from confide.client import Client, MessageReceived

    async with Client.open(profile_dir, passphrase) as client:
        await client.send_text("Dr Lee", "Hello")
        async for event in client.events():
            ...

See ``docs/integrating.md``.
"""

from confide.keys.errors import CorruptKeyStore, InvalidRecoveryCode, WrongPassphrase
from confide.protocol.errors import UntrustedIdentity

from .client import ROLES, Client
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
    Event,
    IdentityChanged,
    MessageDeleted,
    MessageReceived,
    MessageUndecryptable,
    PrekeysLow,
    ReceiptReceived,
    RelayOffline,
    TimerChanged,
)
from .invite import Invite
from .models import AttachmentInfo, Contact, Message
from .relay import ProgressCallback
from .timers import format_duration, parse_duration

__all__ = [
    "ROLES",
    "AttachmentError",
    "AttachmentInfo",
    "Client",
    "ClientError",
    "Contact",
    "ContactExists",
    "CorruptKeyStore",
    "Event",
    "IdentityChanged",
    "InvalidInvite",
    "InvalidRecoveryCode",
    "Invite",
    "Message",
    "MessageDeleted",
    "MessageReceived",
    "MessageUndecryptable",
    "PrekeysLow",
    "ProfileError",
    "ProgressCallback",
    "ReceiptReceived",
    "RelayError",
    "RelayOffline",
    "RelayUnreachable",
    "StorageError",
    "TimerChanged",
    "UnknownContact",
    "UnknownMessage",
    "UntrustedIdentity",
    "VerificationFailed",
    "WrongPassphrase",
    "format_duration",
    "parse_duration",
]
