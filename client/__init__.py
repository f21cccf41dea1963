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
from confide.keys.qr import parse_qr_text, qr_terminal, qr_text, write_qr_png, write_text_qr_png
from confide.keys.recovery import RECOVERY_QR_PREFIX, is_recovery_qr_text, recovery_qr_text
from confide.keys.safety import SafetyNumber, ScanResult
from confide.protocol.contact_card import (
    CARD_TEXT_PREFIX,
    MAX_CARD_BYTES,
    MAX_CARD_TEXT_LEN,
    ContactCardError,
    card_text,
    parse_card_text,
)
from confide.protocol.content import MAX_TEXT_BYTES
from confide.protocol.document_bodies import MAX_CRISIS_NOTICE_BYTES, MAX_DEVICES
from confide.protocol.errors import KeySubstitution, MalformedFranking, ProtocolError, UntrustedIdentity
from confide.protocol.report_file import MAX_REPORT_FILE_LEN

from .account import check_server_url
from .card import AVAILABILITY_LIFETIME_S, AVAILABILITY_RENEW_BEFORE_S, KEEP_AWAY, CardAdded
from .client import Client
from .devices import MAX_DEVICE_NAME_CHARS, DeviceInfo
from .errors import (
    AttachmentError,
    ClientError,
    ContactExists,
    CredentialError,
    DeviceListRejected,
    DeviceRemoved,
    FileExistsConflict,
    InvalidInvite,
    NotAPractice,
    NotReportable,
    PracticeError,
    PracticeNotReady,
    PracticeUnavailable,
    ProfileError,
    ProfileWipedError,
    RelayError,
    RelayUnreachable,
    StorageError,
    TooManyDevices,
    UnknownContact,
    UnknownCredential,
    UnknownListing,
    UnknownMessage,
    UnknownPractice,
    VerificationFailed,
)
from .events import (
    Connected,
    DeviceListRefused,
    DevicesChanged,
    Event,
    FiledCopyKept,
    IdentityChanged,
    MessageDeleted,
    MessageFiled,
    MessageReceived,
    MessageSynced,
    MessageUndecryptable,
    PrekeysLow,
    ProfileWiped,
    ReceiptReceived,
    RelayOffline,
    SessionReset,
    ThisDeviceRemoved,
    TimerChanged,
)
from .hours import away_period, parse_office_hours, parse_reply_time
from .invite import Invite
from .models import (
    ROLES,
    AttachmentInfo,
    Contact,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    ProviderInfo,
    ProviderStatus,
    QueuedItem,
    RecordEntry,
    Role,
    ThreadSummary,
    Trust,
)
from .passphrase import MIN_PASSPHRASE_SCORE, PassphraseStrength, passphrase_strength
from .practice import DEFAULT_VALID_DAYS, PracticeAdmin
from .practice_views import (
    AvailabilityInfo,
    AwayInfo,
    CredentialInfo,
    IssuedCredential,
    PolicyFields,
    PracticeSummary,
    Published,
    ReportCheck,
    ReportedMessage,
    ReportReview,
)
from .practices import REFRESH_INTERVAL_S, CrisisNotice, Listing, PracticeInfo, PracticeWarning, WarningKind
from .profile import INSECURE_TEST_KDF, MAX_RECOVERY_BACKUP_BYTES
from .relay import ProgressCallback
from .threads import MAX_SEARCH_QUERY_CHARS
from .timers import format_duration, parse_duration

__all__ = [
    "AVAILABILITY_LIFETIME_S",
    "AVAILABILITY_RENEW_BEFORE_S",
    "CARD_TEXT_PREFIX",
    "DEFAULT_KDF",
    "DEFAULT_VALID_DAYS",
    "INSECURE_TEST_KDF",
    "KEEP_AWAY",
    "MAX_CARD_BYTES",
    "MAX_CARD_TEXT_LEN",
    "MAX_CRISIS_NOTICE_BYTES",
    "MAX_DEVICES",
    "MAX_DEVICE_NAME_CHARS",
    "MAX_RECOVERY_BACKUP_BYTES",
    "MAX_REPORT_FILE_LEN",
    "MAX_SEARCH_QUERY_CHARS",
    "MAX_TEXT_BYTES",
    "MIN_PASSPHRASE_SCORE",
    "RECOVERY_QR_PREFIX",
    "REFRESH_INTERVAL_S",
    "ROLES",
    "AttachmentError",
    "AttachmentInfo",
    "AvailabilityInfo",
    "AwayInfo",
    "CardAdded",
    "Client",
    "ClientError",
    "ConfideError",
    "Connected",
    "Contact",
    "ContactCardError",
    "ContactExists",
    "CorruptKeyStore",
    "CredentialError",
    "CredentialInfo",
    "CrisisNotice",
    "DeviceInfo",
    "DeviceListRefused",
    "DeviceListRejected",
    "DeviceRemoved",
    "DevicesChanged",
    "Direction",
    "Event",
    "FileExistsConflict",
    "FiledCopyKept",
    "IdentityChanged",
    "InvalidAddress",
    "InvalidInvite",
    "InvalidRecoveryCode",
    "Invite",
    "IssuedCredential",
    "KdfParams",
    "KeyStoreError",
    "KeySubstitution",
    "Listing",
    "MalformedFranking",
    "Message",
    "MessageDeleted",
    "MessageFiled",
    "MessageKind",
    "MessageReceived",
    "MessageStatus",
    "MessageSynced",
    "MessageUndecryptable",
    "NotAPractice",
    "NotReportable",
    "PassphraseStrength",
    "PolicyFields",
    "PracticeAdmin",
    "PracticeError",
    "PracticeInfo",
    "PracticeNotReady",
    "PracticeSummary",
    "PracticeUnavailable",
    "PracticeWarning",
    "PrekeysLow",
    "ProfileError",
    "ProfileWiped",
    "ProfileWipedError",
    "ProgressCallback",
    "ProtocolError",
    "ProviderInfo",
    "ProviderStatus",
    "Published",
    "QRPayloadError",
    "QueuedItem",
    "ReceiptReceived",
    "RecordEntry",
    "RelayError",
    "RelayOffline",
    "RelayUnreachable",
    "ReportCheck",
    "ReportReview",
    "ReportedMessage",
    "Role",
    "SafetyNumber",
    "ScanResult",
    "SessionReset",
    "StorageError",
    "ThisDeviceRemoved",
    "ThreadSummary",
    "TimerChanged",
    "TooManyDevices",
    "Trust",
    "UnknownContact",
    "UnknownCredential",
    "UnknownListing",
    "UnknownMessage",
    "UnknownPractice",
    "UntrustedIdentity",
    "VerificationFailed",
    "WarningKind",
    "WrongPassphrase",
    "away_period",
    "card_text",
    "check_server_url",
    "format_duration",
    "is_recovery_qr_text",
    "parse_card_text",
    "parse_duration",
    "parse_office_hours",
    "parse_qr_text",
    "parse_reply_time",
    "passphrase_strength",
    "qr_terminal",
    "qr_text",
    "recovery_qr_text",
    "write_qr_png",
    "write_text_qr_png",
]
