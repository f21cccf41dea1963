"""Confide protocol: sans-I/O wire formats, key agreement, ratchet, content and sealed sender.

Synchronous and pure: no asyncio, no sqlite, no clock and no randomness of its own. Callers pass ``rng``
(``os.urandom`` in production) and ``now``. See ``protocol/SPEC.md`` for byte layouts and labels.
"""

from .attachment import AttachmentDecryptor, AttachmentEncryptor, expected_blob_size, new_attachment_key
from .auth import AuthProof, sign_request
from .content import (
    AttachmentPointer,
    Body,
    Content,
    ContentType,
    Delete,
    Filed,
    FiledKind,
    Receipt,
    ReceiptKind,
    Text,
    TimerChange,
    new_message_id,
)
from .document_bodies import (
    AvailabilityCard,
    AwayNote,
    Credential,
    CrisisContact,
    OfficeHours,
    PracticePolicy,
    Revocation,
    RevocationList,
    Weekday,
)
from .document_errors import DocumentError, DocumentExpired, DocumentNotYetValid, DocumentSignatureError, DocumentStale
from .documents import (
    CredentialStatus,
    Directory,
    DirectoryEntry,
    DocumentKind,
    SignedDocument,
    VersionGuard,
    check_credential,
    parse_document,
    sign_document,
)
from .envelope import Delivery, Envelope, decode_batch, delivery_token_hash, encode_batch
from .errors import (
    AuthError,
    DecryptionError,
    DuplicateMessage,
    KeySubstitution,
    LocalProtocolError,
    MalformedFranking,
    ProtocolError,
    RemoteProtocolError,
    UndecryptableMessage,
    UntrustedIdentity,
)
from .franking import Franking, FrankingKeyPair, FrankingPublicKey, frank
from .franking import judge as judge_franking
from .franking import verify as verify_franking
from .franking_report import Report
from .office_hours import Availability, availability
from .padding import MAX_PLAINTEXT, pad, unpad
from .sealed import Opened, SenderCertificate, open_sealed, seal_message
from .session import PreKeyLookup, Session, initiate_session

__all__ = [
    "MAX_PLAINTEXT",
    "AttachmentDecryptor",
    "AttachmentEncryptor",
    "AttachmentPointer",
    "AuthError",
    "AuthProof",
    "Availability",
    "AvailabilityCard",
    "AwayNote",
    "Body",
    "Content",
    "ContentType",
    "Credential",
    "CredentialStatus",
    "CrisisContact",
    "DecryptionError",
    "Delete",
    "Delivery",
    "Directory",
    "DirectoryEntry",
    "DocumentError",
    "DocumentExpired",
    "DocumentKind",
    "DocumentNotYetValid",
    "DocumentSignatureError",
    "DocumentStale",
    "DuplicateMessage",
    "Envelope",
    "Filed",
    "FiledKind",
    "Franking",
    "FrankingKeyPair",
    "FrankingPublicKey",
    "KeySubstitution",
    "LocalProtocolError",
    "MalformedFranking",
    "OfficeHours",
    "Opened",
    "PracticePolicy",
    "PreKeyLookup",
    "ProtocolError",
    "Receipt",
    "ReceiptKind",
    "RemoteProtocolError",
    "Report",
    "Revocation",
    "RevocationList",
    "SenderCertificate",
    "Session",
    "SignedDocument",
    "Text",
    "TimerChange",
    "UndecryptableMessage",
    "UntrustedIdentity",
    "VersionGuard",
    "Weekday",
    "availability",
    "check_credential",
    "decode_batch",
    "delivery_token_hash",
    "encode_batch",
    "expected_blob_size",
    "frank",
    "initiate_session",
    "judge_franking",
    "new_attachment_key",
    "new_message_id",
    "open_sealed",
    "pad",
    "parse_document",
    "seal_message",
    "sign_document",
    "sign_request",
    "unpad",
    "verify_franking",
]
