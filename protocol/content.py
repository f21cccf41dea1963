"""Message content: what a user actually sends, in a canonical, deterministic encoding.

Version 1 layout (all integers big-endian; ``varN`` is an N-bit length prefix then the bytes)::

    content = version u8 (=1) || type u8 || message_id(16) || sent_at_ms u64 || expire_after_s u32 || body
    TEXT       (1): body_utf8 var32
    ATTACHMENT (2): blob_id var16 (base64url ASCII) || key(32) || digest(32) || size u64
                    || name var16 (UTF-8) || mime var8 (ASCII) || caption var32 (UTF-8)
    RECEIPT    (3): kind u8 || count u16 || message_id(16) * count
    TIMER      (4): seconds u32
    DELETE     (5): target_id(16)
    RESET      (6): failed u16 (1..65535)
    FILED      (7): kind u8 (1 filed, 2 kept) || target_id(16)
    FRANKED    (8): judge_key(32) || sender_binding(96) || inner var32 || franking(353)
    FRANKING_KEY (9): sender_binding(96) || judge_key(32)
    SYNC      (10): peer(20) || inner var32
    DEVICES   (11): document var32
    CONTACT   (12): peer(20) || identity(128) || flags u8 || name var8 || timer_s u32
                    || has_token u8 [token(32)] || has_inbound u8 [inbound_token(32)]

A FRANKED content wraps a TEXT or ATTACHMENT content ``inner`` (its exact canonical bytes, with the outer
message id, clock and expiry) with the sender's asymmetric franking of those bytes (SPEC 13) for the recipient
and the practice's judge, and the binding of the sender's franking key to its identity (SPEC 13.8), so that the
recipient can later report it. A FRANKING_KEY content tells a contact the sender's franking key and the judge it
reports to, so that the contact can frank what it sends back. Parsing checks every field (lengths, points,
scalars, the inner content); :func:`check_franked` runs the signature checks.

Types 10 to 12 pass only between the devices of one identity (the receiver drops them from anyone else; a
DEVICES content is also accepted from a contact, for that contact's own list): a SYNC content is the transcript
of a content the sender sent to the contact ``peer`` (sent-message sync), a DEVICES content carries a signed
device list (SPEC 12, parsed by the receiver with the expected signer), a CONTACT content a snapshot of one
contact. A SYNC content's id, clock and expiry are its inner content's.

Encoding is canonical: exactly one byte string per value, so ``Content.from_bytes(x).to_bytes() == x`` for
every accepted ``x``. Parsing rejects trailing bytes, unknown versions, types and kinds, invalid UTF-8 and
every value outside the limits below (including a C0 control other than tab and newline in a text or a
caption) with :class:`RemoteProtocolError` and nothing else. Building a value
outside them raises ``ValueError`` (a programmer mistake). The encoded content is then padded to a bucket
and encrypted by the ratchet. Content is confidential: no ``repr`` shows text, file names, captions or keys.
"""

from __future__ import annotations

import enum
import string
import unicodedata
from dataclasses import dataclass, field

from confide.keys.address import ADDRESS_LEN
from confide.keys.encoding import RNG, Reader, Writer
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityKeyPair, IdentityPublicKey

from .attachment import ATTACHMENT_KEY_LEN, DIGEST_LEN, MAX_ATTACHMENT_SIZE
from .documents import MAX_DEVICES_DOCUMENT_LEN
from .envelope import DELIVERY_TOKEN_LEN
from .errors import MalformedFranking, RemoteProtocolError
from .franking import FRANKING_LEN, Franking, FrankingKeyPair, FrankingPublicKey, frank, verify
from .franking_binding import FRANKING_BINDING_LEN, FrankingBinding, franking_key_of
from .franking_group import POINT_LEN

CONTENT_VERSION = 1
MESSAGE_ID_LEN = 16
"""128 random bits: message ids never collide by chance, so receipts and deletes can name them."""

MAX_TEXT_BYTES = 60_000
"""UTF-8 bytes of one text message: fits the 64 KiB plaintext bucket with headroom for the content header
(30 bytes) and the padding marker; a longer text is better sent as a file."""
MAX_CAPTION_BYTES = 4096
"""A caption annotates a file in a line or a paragraph; a long note belongs in its own text message. Keeps
the largest attachment pointer well inside the plaintext bucket (see :data:`MAX_CONTENT_LEN`)."""
MAX_NAME_BYTES = 255
"""File names: the limit of common file systems (ext4, APFS, NTFS), so a received name can be saved as is."""
MAX_MIME_BYTES = 255
"""Media types: RFC 6838 caps type and subtype at 127 characters each, so ``type/subtype`` fits in 255."""
MAX_BLOB_ID_BYTES = 128
"""The relay's blob ids are 43 characters (base64url of 32 bytes); 128 leaves room for other storage
backends' id formats without letting a pointer carry an arbitrary payload."""
MAX_RECEIPT_IDS = 1024
"""Message ids in one receipt: a device back online after days acknowledges its whole backlog in one
message (16 KiB of ids), well inside the plaintext bucket."""
MAX_TIMER_S = 365 * 24 * 3600
"""Longest disappearing-message timer and per-message expiry: one year. Beyond that a timer protects
nothing a user would notice, and the bound keeps timestamps arithmetic far from overflow."""

MAX_RESET_FAILED = 0xFFFF
"""A reset request counts the failed messages in a u16; a count above it is reported as the maximum."""

_U64_MAX = 2**64 - 1
_HEADER_LEN = 1 + 1 + MESSAGE_ID_LEN + 8 + 4
MAX_FRANKABLE_LEN = _HEADER_LEN + max(
    4 + MAX_TEXT_BYTES,
    2
    + MAX_BLOB_ID_BYTES
    + ATTACHMENT_KEY_LEN
    + DIGEST_LEN
    + 8
    + 2
    + MAX_NAME_BYTES
    + 1
    + MAX_MIME_BYTES
    + 4
    + MAX_CAPTION_BYTES,
    1 + 2 + MESSAGE_ID_LEN * MAX_RECEIPT_IDS,
)
"""The longest encoded content that is not franked (60,034 bytes: a maximal text message), hence the longest
``inner`` of a FRANKED content."""
MAX_SYNCABLE_LEN = _HEADER_LEN + POINT_LEN + FRANKING_BINDING_LEN + 4 + MAX_FRANKABLE_LEN + FRANKING_LEN
"""The longest content a person sends to a contact (60,549 bytes: a franked maximal text message, i.e. 515
bytes of franking around :data:`MAX_FRANKABLE_LEN`), hence the longest ``inner`` of a SYNC content."""
MAX_CONTENT_LEN = _HEADER_LEN + ADDRESS_LEN + 4 + MAX_SYNCABLE_LEN
"""The longest encoded :class:`Content` (60,603 bytes: the SYNC transcript of a franked maximal text message,
54 bytes around :data:`MAX_SYNCABLE_LEN`); below the 64 KiB plaintext bucket (65,535 bytes), so every content
pads, and no sent message is too long to copy to the sender's other devices."""
MAX_CONTACT_NAME_BYTES = 128
"""A contact's local name in a CONTACT snapshot: a name with titles (``Dr. Ana María Rivera-Castillo, PsyD``)
fits three times over, as a document's display name (SPEC 12); it is shown on one line of a list."""

_BLOB_ID_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")
"""base64url: safe to put in a URL path as is (no ``/``, ``.``, ``%`` or ``?``)."""
_NAME_FORBIDDEN = frozenset("/\\\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Path separators, and the bidirectional controls that can make a name like ``photo<U+202E>gpj.exe`` display
as ``photoexe.jpg`` (a classic way to disguise a program as a picture)."""
_TEXT_CONTROLS = frozenset(chr(c) for c in range(0x20)) - {"\t", "\n"}
"""C0 controls a text or caption may not hold: all but tab and newline. ESC starts terminal escape sequences
(move the cursor, recolour, retitle the window), CR returns to the start of the line and BS/DEL-style
controls overwrite what was shown, so a message holding them could forge what a naive viewer displays (a
line "from" someone else). Refused at the content layer so that no integrator has to remember it."""
_NAME_CONTROLS = frozenset(chr(c) for c in range(0x20))
"""C0 controls a contact name may not hold: all of them, tab and newline too (a name is one line)."""
_MIME_ALPHABET = frozenset(chr(c) for c in range(0x21, 0x7F))
"""Printable ASCII without spaces, e.g. ``image/png`` or ``text/plain;charset=utf-8``."""


class ContentType(enum.IntEnum):
    """The ``type`` byte of a content."""

    TEXT = 1
    ATTACHMENT = 2
    RECEIPT = 3
    TIMER = 4
    DELETE = 5
    RESET = 6
    FILED = 7
    FRANKED = 8
    FRANKING_KEY = 9
    SYNC = 10
    DEVICES = 11
    CONTACT = 12


FRANKABLE_TYPES = frozenset({ContentType.TEXT, ContentType.ATTACHMENT})
"""What a FRANKED content may wrap: what a person writes (texts, files), the only contents worth reporting."""
SYNCABLE_TYPES = frozenset(
    {
        ContentType.TEXT,
        ContentType.ATTACHMENT,
        ContentType.RECEIPT,
        ContentType.TIMER,
        ContentType.DELETE,
        ContentType.FRANKED,
    }
)
"""What a SYNC content may carry: what a person does in a thread that the sender's other devices must show
(messages, read receipts, timer changes, deletes). A RECEIPT only of kind READ: delivery is per device."""
OWN_DEVICE_TYPES = frozenset({ContentType.SYNC, ContentType.CONTACT})
"""Accepted only from the receiver's own identity (another of its devices); from anyone else dropped. A
DEVICES content is accepted from the own identity and from a contact, for that contact's own list."""


class FiledKind(enum.IntEnum):
    """What a :class:`Filed` notice tells the peer about the message it names."""

    FILED = 1
    """The sender filed the message into the peer's record on its device (sent when it is filed)."""
    KEPT = 2
    """Answer to a delete-for-everyone of a filed message: the thread copy is deleted, the record copy remains."""


class ReceiptKind(enum.IntEnum):
    """What a receipt acknowledges."""

    DELIVERED = 1
    READ = 2


def new_message_id(rng: RNG) -> bytes:
    """A fresh random 16-byte message id from ``rng``.

    Raises:
        ValueError: ``rng`` returned the wrong number of bytes.
    """
    mid = rng(MESSAGE_ID_LEN)
    if not isinstance(mid, bytes) or len(mid) != MESSAGE_ID_LEN:
        raise ValueError("the random source returned the wrong number of bytes")
    return mid


def _check_int(name: str, value: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if not 0 <= value <= high:
        raise ValueError(f"{name} must be between 0 and {high}")


def _check_bytes(name: str, value: bytes, length: int) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        raise ValueError(f"{name} must be {length} bytes")


def _utf8(name: str, value: str, limit: int) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid Unicode (lone surrogate)") from None
    if len(data) > limit:
        raise ValueError(f"{name} is longer than {limit} UTF-8 bytes")
    return data


def _check_controls(name: str, value: str) -> None:
    """Refuse the C0 controls of :data:`_TEXT_CONTROLS` in a text or caption (``ValueError``)."""
    if not _TEXT_CONTROLS.isdisjoint(value):
        raise ValueError(f"the {name} holds a control character (only tab and newline are allowed)")


@dataclass(frozen=True, slots=True)
class Text:
    """A text message (UTF-8, at most :data:`MAX_TEXT_BYTES`; no C0 control but tab and newline). Its
    ``repr`` never shows the text."""

    body: str

    def __post_init__(self) -> None:
        _utf8("text", self.body, MAX_TEXT_BYTES)
        _check_controls("text", self.body)

    def __repr__(self) -> str:
        return "Text(<redacted>)"


@dataclass(frozen=True, slots=True)
class AttachmentPointer:
    """Where to fetch an encrypted file and how to open it (see :mod:`confide.protocol.attachment`).

    ``key`` opens the blob, ``digest`` is SHA-256 of the whole ciphertext blob, ``size`` the exact plaintext
    length. ``name`` is a bare file name (no path separators, control or bidi characters; may be empty),
    ``mime`` a media type in printable ASCII (may be empty: unknown), ``caption`` UTF-8 text with no C0
    control but tab and newline. ``repr`` shows only a blob id prefix
    and the size.
    """

    blob_id: str
    key: bytes
    digest: bytes
    size: int
    name: str
    mime: str
    caption: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.blob_id, str) or not 1 <= len(self.blob_id) <= MAX_BLOB_ID_BYTES:
            raise ValueError(f"a blob id is 1 to {MAX_BLOB_ID_BYTES} characters")
        if not set(self.blob_id) <= _BLOB_ID_ALPHABET:
            raise ValueError("a blob id uses only base64url characters (A-Z a-z 0-9 - _)")
        _check_bytes("attachment key", self.key, ATTACHMENT_KEY_LEN)
        _check_bytes("attachment digest", self.digest, DIGEST_LEN)
        _check_int("attachment size", self.size, MAX_ATTACHMENT_SIZE)
        _utf8("file name", self.name, MAX_NAME_BYTES)
        bad_char = any(c in _NAME_FORBIDDEN or unicodedata.category(c) == "Cc" for c in self.name)
        if bad_char or self.name in (".", ".."):
            raise ValueError("a file name has no path separators, control or text-direction characters")
        if not isinstance(self.mime, str) or len(self.mime) > MAX_MIME_BYTES:
            raise ValueError(f"a media type is at most {MAX_MIME_BYTES} characters")
        if not set(self.mime) <= _MIME_ALPHABET:
            raise ValueError("a media type is printable ASCII without spaces")
        _utf8("caption", self.caption, MAX_CAPTION_BYTES)
        _check_controls("caption", self.caption)

    def __repr__(self) -> str:
        return f"AttachmentPointer(blob={self.blob_id[:8]}…, size={self.size})"


@dataclass(frozen=True, slots=True)
class Receipt:
    """Acknowledges 1 to :data:`MAX_RECEIPT_IDS` distinct messages as delivered or read."""

    kind: ReceiptKind
    message_ids: tuple[bytes, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ReceiptKind(self.kind))
        if not isinstance(self.message_ids, tuple):
            raise TypeError("message_ids must be a tuple")
        if not 1 <= len(self.message_ids) <= MAX_RECEIPT_IDS:
            raise ValueError(f"a receipt names 1 to {MAX_RECEIPT_IDS} messages")
        for mid in self.message_ids:
            _check_bytes("message id", mid, MESSAGE_ID_LEN)
        if len(set(self.message_ids)) != len(self.message_ids):
            raise ValueError("a receipt names each message once")

    def __repr__(self) -> str:
        return f"Receipt({self.kind.name}, {len(self.message_ids)} messages)"


@dataclass(frozen=True, slots=True)
class TimerChange:
    """Sets the conversation's disappearing-message timer; ``seconds == 0`` turns it off."""

    seconds: int

    def __post_init__(self) -> None:
        _check_int("timer", self.seconds, MAX_TIMER_S)


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete-for-everyone of one of the sender's own earlier messages, named by its id."""

    target_id: bytes

    def __post_init__(self) -> None:
        _check_bytes("target message id", self.target_id, MESSAGE_ID_LEN)

    def __repr__(self) -> str:
        return f"Delete(target={self.target_id.hex()})"


@dataclass(frozen=True, slots=True)
class ResetRequest:
    """A session reset request: the sender could not decrypt ``failed`` of our messages, started a new session
    and sent this on it; resend on it what it has not confirmed. Sent automatically by a client that could not
    decrypt a message from an authenticated sender (SPEC §8: the reset rules)."""

    failed: int

    def __post_init__(self) -> None:
        _check_int("failed", self.failed, MAX_RESET_FAILED)
        if self.failed < 1:
            raise ValueError("a reset request names at least one failed message")


@dataclass(frozen=True, slots=True)
class Filed:
    """A records notice (SPEC §8, filing): the sender keeps a copy of the message ``target_id`` of this thread in
    its records folder (``kind`` :attr:`FiledKind.FILED`, sent when it files it), or, answering a
    delete-for-everyone of that message, deleted the thread copy but keeps the record copy
    (:attr:`FiledKind.KEPT`). Nothing else: who filed it is the authenticated sender, the message is named by id."""

    kind: FiledKind
    target_id: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FiledKind(self.kind))
        _check_bytes("filed message id", self.target_id, MESSAGE_ID_LEN)

    def __repr__(self) -> str:
        return f"Filed({self.kind.name}, target={self.target_id.hex()})"


@dataclass(frozen=True, slots=True)
class Franked:
    """A franked message (SPEC 8 type 8, SPEC 13.6): the practice's ``judge`` key it was franked for, the
    sender's franking key ``binding``, the exact canonical bytes ``inner`` of a TEXT or ATTACHMENT content
    (same message id, clock and expiry as the content that carries this body), and the ``franking`` of those
    bytes. :attr:`content` is ``inner`` parsed. Built by :func:`frank_content`, checked by
    :func:`check_franked`; constructing one checks only the formats. ``repr`` shows no text.

    Raises:
        TypeError, ValueError: (on construction) a field of the wrong type, or ``inner`` that is not a
            canonical TEXT or ATTACHMENT content.
    """

    judge: FrankingPublicKey
    binding: FrankingBinding
    inner: bytes = field(repr=False)
    franking: Franking = field(repr=False)
    _content: Content = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.judge, FrankingPublicKey) or not isinstance(self.binding, FrankingBinding):
            raise TypeError("a franked body names a FrankingPublicKey judge and a FrankingBinding")
        if not isinstance(self.franking, Franking):
            raise TypeError("a franked body carries a Franking")
        if not isinstance(self.inner, bytes) or len(self.inner) > MAX_FRANKABLE_LEN:
            raise ValueError(f"a franked message is bytes, at most {MAX_FRANKABLE_LEN}")
        try:
            content = Content.from_bytes(self.inner)
        except RemoteProtocolError:
            raise ValueError("a franked message is not a canonical content") from None
        if content.type not in FRANKABLE_TYPES:
            raise ValueError("only a text or attachment content is franked")
        object.__setattr__(self, "_content", content)

    @property
    def content(self) -> Content:
        """The franked content, parsed from :attr:`inner`."""
        return self._content

    def __repr__(self) -> str:
        return f"Franked({self._content.type.name}, judge={self.judge.fingerprint()})"


@dataclass(frozen=True, slots=True)
class FrankingKeyNotice:
    """A sender's franking key and the moderation key it asks to be franked for (SPEC 8 type 9, SPEC 13.6): sent
    once to a contact whose franking key the sender lacks, so that the contact can frank what it sends back (a
    FRANKED content needs the recipient's key). ``binding`` is the sender's franking key binding (SPEC 13.8),
    ``judge`` the moderation key of the practice the sender reports to. Never stored as a message.

    Raises:
        TypeError: (on construction) a field of the wrong type.
    """

    binding: FrankingBinding
    judge: FrankingPublicKey

    def __post_init__(self) -> None:
        if not isinstance(self.binding, FrankingBinding) or not isinstance(self.judge, FrankingPublicKey):
            raise TypeError("a franking key notice holds a FrankingBinding and a FrankingPublicKey judge")

    def __repr__(self) -> str:
        return f"FrankingKeyNotice(judge={self.judge.fingerprint()})"


@dataclass(frozen=True, slots=True)
class SentSync:
    """Sent-message sync (SPEC 8 type 10): ``inner``, a whole content this identity sent to the contact whose
    address is ``peer`` (20 bytes), copied to the sender's other devices. ``inner`` is a TEXT, ATTACHMENT,
    READ RECEIPT, TIMER, DELETE or FRANKED content (:data:`SYNCABLE_TYPES`) with the outer content's id, clock
    and expiry. ``repr`` shows only the inner type.

    Raises:
        TypeError, ValueError: (on construction) a field of the wrong type or length, or an inner content of
            another type or a receipt of another kind.
    """

    peer: bytes = field(repr=False)
    inner: Content = field(repr=False)

    def __post_init__(self) -> None:
        _check_bytes("peer address", self.peer, ADDRESS_LEN)
        if not isinstance(self.inner, Content):
            raise TypeError("a sync transcript carries a Content")
        if self.inner.type not in SYNCABLE_TYPES:
            raise ValueError("a sync transcript carries a text, file, read receipt, timer, delete or franked content")
        if isinstance(self.inner.body, Receipt) and self.inner.body.kind != ReceiptKind.READ:
            raise ValueError("a sync transcript carries only read receipts")

    def __repr__(self) -> str:
        return f"SentSync({self.inner.type.name})"


@dataclass(frozen=True, slots=True)
class DeviceListNotice:
    """A signed device list (SPEC 8 type 11, SPEC 12 kind 6 DEVICES), sent to every contact and own device when
    the list changes. Only its length is checked here (1 to :data:`MAX_DEVICES_DOCUMENT_LEN` bytes): the receiver
    parses it with the expected signer (``parse_device_list``)."""

    document: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.document, bytes) or not 1 <= len(self.document) <= MAX_DEVICES_DOCUMENT_LEN:
            raise ValueError(f"a device list document is 1 to {MAX_DEVICES_DOCUMENT_LEN} bytes")

    def __repr__(self) -> str:
        return f"DeviceListNotice({len(self.document)} bytes)"


@dataclass(frozen=True, slots=True)
class ContactSnapshot:
    """One contact as the sender's device holds it (SPEC 8 type 12), for the identity's other devices: the
    contact's ``peer`` address (20 bytes) and public ``identity`` (128 bytes, not verified here: the receiver
    does), the flags, the local ``name`` (UTF-8, 1 to :data:`MAX_CONTACT_NAME_BYTES` bytes, no C0 control at all:
    one line), the thread's disappearing timer, the delivery ``token`` to write to them with and the
    ``inbound_token`` given to them (each 32 bytes or ``None``). ``repr`` shows nothing of it.

    Raises:
        TypeError, ValueError: (on construction) a field of the wrong type, length or range.
    """

    peer: bytes
    identity: bytes
    verified: bool
    blocked: bool
    request: bool
    name: str
    timer_s: int
    token: bytes | None
    inbound_token: bytes | None

    def __post_init__(self) -> None:
        _check_bytes("peer address", self.peer, ADDRESS_LEN)
        _check_bytes("identity", self.identity, IDENTITY_PUBLIC_LEN)
        for flag in (self.verified, self.blocked, self.request):
            if not isinstance(flag, bool):
                raise TypeError("a contact's flags are bools")
        if not _utf8("contact name", self.name, MAX_CONTACT_NAME_BYTES):
            raise ValueError("a contact name is not empty")
        if not _NAME_CONTROLS.isdisjoint(self.name):
            raise ValueError("a contact name holds a control character (it is one line)")
        _check_int("timer", self.timer_s, MAX_TIMER_S)
        for token in (self.token, self.inbound_token):
            if token is not None:
                _check_bytes("delivery token", token, DELIVERY_TOKEN_LEN)

    @property
    def flags(self) -> int:
        """The ``flags`` byte: bit 0 verified, bit 1 blocked, bit 2 request."""
        return int(self.verified) | int(self.blocked) << 1 | int(self.request) << 2

    def __repr__(self) -> str:
        return "ContactSnapshot(<redacted>)"


Body = (
    Text
    | AttachmentPointer
    | Receipt
    | TimerChange
    | Delete
    | ResetRequest
    | Filed
    | Franked
    | FrankingKeyNotice
    | SentSync
    | DeviceListNotice
    | ContactSnapshot
)

_TYPE_OF: dict[type, ContentType] = {
    Text: ContentType.TEXT,
    AttachmentPointer: ContentType.ATTACHMENT,
    Receipt: ContentType.RECEIPT,
    TimerChange: ContentType.TIMER,
    Delete: ContentType.DELETE,
    ResetRequest: ContentType.RESET,
    Filed: ContentType.FILED,
    Franked: ContentType.FRANKED,
    FrankingKeyNotice: ContentType.FRANKING_KEY,
    SentSync: ContentType.SYNC,
    DeviceListNotice: ContentType.DEVICES,
    ContactSnapshot: ContentType.CONTACT,
}


@dataclass(frozen=True, slots=True)
class Content:
    """One message's content: an id, the sender's clock, an optional expiry, and a body.

    ``sent_at_ms`` is the sender's claim (milliseconds since the Unix epoch), for display and ordering only.
    ``expire_after_s`` is the per-message disappearing time (0: none), at most :data:`MAX_TIMER_S`.
    """

    message_id: bytes
    sent_at_ms: int
    expire_after_s: int
    body: Body

    def __post_init__(self) -> None:
        _check_bytes("message id", self.message_id, MESSAGE_ID_LEN)
        _check_int("sent_at_ms", self.sent_at_ms, _U64_MAX)
        _check_int("expire_after_s", self.expire_after_s, MAX_TIMER_S)
        if type(self.body) not in _TYPE_OF:
            raise TypeError(
                "body must be Text, AttachmentPointer, Receipt, TimerChange, Delete, ResetRequest, Filed, Franked, "
                "FrankingKeyNotice, SentSync, DeviceListNotice or ContactSnapshot"
            )
        if isinstance(self.body, Franked | SentSync):
            inner = self.body.content if isinstance(self.body, Franked) else self.body.inner
            same = (inner.message_id, inner.sent_at_ms, inner.expire_after_s)
            if same != (self.message_id, self.sent_at_ms, self.expire_after_s):
                what = "franked" if isinstance(self.body, Franked) else "sync"
                raise ValueError(f"a {what} content's id, clock and expiry are those of the content it carries")

    @property
    def type(self) -> ContentType:
        """The :class:`ContentType` of the body."""
        return _TYPE_OF[type(self.body)]

    def __repr__(self) -> str:
        return f"Content(id={self.message_id.hex()}, {self.type.name}, body={self.body!r})"

    def to_bytes(self) -> bytes:
        """The canonical encoding (see the module docstring); at most :data:`MAX_CONTENT_LEN` bytes."""
        w = (
            Writer()
            .u8(CONTENT_VERSION)
            .u8(self.type)
            .raw(self.message_id)
            .u64(self.sent_at_ms)
            .u32(self.expire_after_s)
        )
        body = self.body
        if isinstance(body, Text):
            w.var32(body.body.encode("utf-8"))
        elif isinstance(body, AttachmentPointer):
            (
                w.var16(body.blob_id.encode("ascii"))
                .raw(body.key)
                .raw(body.digest)
                .u64(body.size)
                .var16(body.name.encode("utf-8"))
                .var8(body.mime.encode("ascii"))
                .var32(body.caption.encode("utf-8"))
            )
        elif isinstance(body, Receipt):
            w.u8(body.kind).u16(len(body.message_ids))
            for mid in body.message_ids:
                w.raw(mid)
        elif isinstance(body, TimerChange):
            w.u32(body.seconds)
        elif isinstance(body, ResetRequest):
            w.u16(body.failed)
        elif isinstance(body, Filed):
            w.u8(body.kind).raw(body.target_id)
        elif isinstance(body, Franked):
            w.raw(body.judge.to_bytes()).raw(body.binding.to_bytes()).var32(body.inner).raw(body.franking.to_bytes())
        elif isinstance(body, FrankingKeyNotice):
            w.raw(body.binding.to_bytes()).raw(body.judge.to_bytes())
        elif isinstance(body, SentSync):
            w.raw(body.peer).var32(body.inner.to_bytes())
        elif isinstance(body, DeviceListNotice):
            w.var32(body.document)
        elif isinstance(body, ContactSnapshot):
            w.raw(body.peer).raw(body.identity).u8(body.flags).var8(body.name.encode("utf-8")).u32(body.timer_s)
            for token in (body.token, body.inbound_token):
                if token is None:
                    w.u8(0)
                else:
                    w.u8(1).raw(token)
        else:
            w.raw(body.target_id)
        return w.bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Content:
        """Parse canonical bytes.

        Raises:
            RemoteProtocolError: wrong version, unknown type or kind, truncated or trailing bytes, invalid
                UTF-8, or any value outside its limit; for a FRANKED content also a key, binding or franking
                that does not parse, or an inner content that is not a canonical text or attachment with the
                outer id, clock and expiry; for a SYNC content an inner content that is malformed, of a type not
                in :data:`SYNCABLE_TYPES`, a receipt not of kind READ, or with another id, clock or expiry; for a
                CONTACT content flags other than bits 0 to 2, a presence byte neither 0 nor 1, or a name that is
                empty or holds a C0 control. Never any other exception (not even a subclass), whatever the input.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise RemoteProtocolError("content must be bytes")
        if len(data) > MAX_CONTENT_LEN:
            raise RemoteProtocolError("the content is longer than any valid message")
        r = Reader(bytes(data), RemoteProtocolError)
        try:
            if r.u8() != CONTENT_VERSION:
                raise RemoteProtocolError("unknown content version: the sender may need to update Confide")
            kind = r.u8()
            message_id, sent_at_ms, expire_after_s = r.raw(MESSAGE_ID_LEN), r.u64(), r.u32()
            body = _parse_body(kind, r)
            r.end()
            return cls(message_id, sent_at_ms, expire_after_s, body)
        except (ValueError, TypeError, MalformedFranking) as exc:  # UnicodeDecodeError is a ValueError
            raise RemoteProtocolError("the message content is malformed") from exc


def _parse_body(kind: int, r: Reader) -> Body:
    if kind == ContentType.TEXT:
        return Text(r.var32(MAX_TEXT_BYTES).decode("utf-8"))
    if kind == ContentType.ATTACHMENT:
        blob_id = r.var16(MAX_BLOB_ID_BYTES).decode("ascii")
        key, digest, size = r.raw(ATTACHMENT_KEY_LEN), r.raw(DIGEST_LEN), r.u64()
        name = r.var16(MAX_NAME_BYTES).decode("utf-8")
        mime = r.var8(MAX_MIME_BYTES).decode("ascii")
        caption = r.var32(MAX_CAPTION_BYTES).decode("utf-8")
        return AttachmentPointer(blob_id, key, digest, size, name, mime, caption)
    if kind == ContentType.RECEIPT:
        receipt_kind = ReceiptKind(r.u8())
        count = r.u16()
        if not 1 <= count <= MAX_RECEIPT_IDS:
            raise RemoteProtocolError(f"a receipt names 1 to {MAX_RECEIPT_IDS} messages")
        return Receipt(receipt_kind, tuple(r.raw(MESSAGE_ID_LEN) for _ in range(count)))
    if kind == ContentType.TIMER:
        return TimerChange(r.u32())
    if kind == ContentType.DELETE:
        return Delete(r.raw(MESSAGE_ID_LEN))
    if kind == ContentType.RESET:
        return ResetRequest(r.u16())
    if kind == ContentType.FILED:
        filed_kind = FiledKind(r.u8())
        return Filed(filed_kind, r.raw(MESSAGE_ID_LEN))
    if kind == ContentType.FRANKED:
        judge_key, binding = r.raw(POINT_LEN), r.raw(FRANKING_BINDING_LEN)
        inner, franking = r.var32(MAX_FRANKABLE_LEN), r.raw(FRANKING_LEN)
        return Franked(
            FrankingPublicKey.from_bytes(judge_key),
            FrankingBinding.from_bytes(binding),
            inner,
            Franking.from_bytes(franking),
        )
    if kind == ContentType.FRANKING_KEY:
        binding, judge_key = r.raw(FRANKING_BINDING_LEN), r.raw(POINT_LEN)
        return FrankingKeyNotice(FrankingBinding.from_bytes(binding), FrankingPublicKey.from_bytes(judge_key))
    if kind == ContentType.SYNC:
        peer, inner = r.raw(ADDRESS_LEN), r.var32(MAX_SYNCABLE_LEN)
        if len(inner) < 2 or inner[1] not in SYNCABLE_TYPES:  # before parsing it: no SYNC nests in a SYNC
            raise RemoteProtocolError("a sync transcript carries a text, file, read receipt, timer, delete or franked")
        return SentSync(peer, Content.from_bytes(inner))
    if kind == ContentType.DEVICES:
        return DeviceListNotice(r.var32(MAX_DEVICES_DOCUMENT_LEN))
    if kind == ContentType.CONTACT:
        return _parse_contact(r)
    raise RemoteProtocolError("unknown content type: the sender may need to update Confide")


def _flagged_token(r: Reader) -> bytes | None:
    flag = r.u8()
    if flag == 0:
        return None
    if flag != 1:
        raise RemoteProtocolError("a presence flag is neither 0 nor 1")
    return r.raw(DELIVERY_TOKEN_LEN)


def _parse_contact(r: Reader) -> ContactSnapshot:
    peer, identity, flags = r.raw(ADDRESS_LEN), r.raw(IDENTITY_PUBLIC_LEN), r.u8()
    if flags > 0b111:
        raise RemoteProtocolError("unknown contact flags")
    name = r.var8(MAX_CONTACT_NAME_BYTES).decode("utf-8")
    timer_s = r.u32()
    token = _flagged_token(r)
    inbound_token = _flagged_token(r)
    return ContactSnapshot(
        peer, identity, bool(flags & 1), bool(flags & 2), bool(flags & 4), name, timer_s, token, inbound_token
    )


def sync_of(peer: bytes, inner: Content) -> Content:
    """The SYNC content (type 10) that copies ``inner``, sent to the contact whose address is ``peer``, to the
    sender's other devices: same id, clock and expiry as ``inner``.

    Raises:
        TypeError, ValueError: ``peer`` is not 20 bytes, or ``inner`` is not of :data:`SYNCABLE_TYPES` (a
            receipt not of kind READ).
    """
    return Content(inner.message_id, inner.sent_at_ms, inner.expire_after_s, SentSync(peer, inner))


def frank_content(
    inner: Content,
    *,
    sender: IdentityKeyPair,
    recipient_key: FrankingPublicKey,
    judge: FrankingPublicKey,
    rng: RNG,
) -> Content:
    """``inner`` franked by ``sender`` for the recipient whose franking key is ``recipient_key`` and the
    practice's moderation key ``judge``: a FRANKED content with ``inner``'s id, clock and expiry, carrying the
    sender's franking key binding. Draws what :func:`~confide.protocol.franking.frank` draws.

    Raises:
        ValueError: ``inner`` is not a TEXT or ATTACHMENT content (a programmer mistake).
    """
    if not isinstance(inner, Content) or inner.type not in FRANKABLE_TYPES:
        raise ValueError("only a text or attachment content is franked")
    message = inner.to_bytes()
    signed = frank(franking_key_of(sender), recipient_key, judge, message, rng)
    body = Franked(judge, FrankingBinding.bind(sender), message, signed)
    return Content(inner.message_id, inner.sent_at_ms, inner.expire_after_s, body)


def check_franked(content: Content, *, recipient: FrankingKeyPair, sender_identity: IdentityPublicKey) -> bool:
    """The recipient's check on receipt (SPEC 13.6): ``content`` is FRANKED, its binding verifies for
    ``sender_identity`` (the authenticated sender) and its franking passes Verify with ``recipient``'s key,
    the bound key and the named judge, over exactly the inner bytes. ``True`` means a report of it will hold
    for that judge; whether the judge is the practice's moderation key is the caller's to check. Never raises
    on a parsed content.
    """
    body = content.body
    if not isinstance(body, Franked):
        return False
    if not body.binding.holds_for(sender_identity):
        return False
    return verify(recipient, body.binding.key, body.judge, body.inner, body.franking)


__all__ = [
    "CONTENT_VERSION",
    "FRANKABLE_TYPES",
    "MAX_BLOB_ID_BYTES",
    "MAX_CAPTION_BYTES",
    "MAX_CONTACT_NAME_BYTES",
    "MAX_CONTENT_LEN",
    "MAX_FRANKABLE_LEN",
    "MAX_MIME_BYTES",
    "MAX_NAME_BYTES",
    "MAX_RECEIPT_IDS",
    "MAX_SYNCABLE_LEN",
    "MAX_TEXT_BYTES",
    "MAX_TIMER_S",
    "MESSAGE_ID_LEN",
    "OWN_DEVICE_TYPES",
    "SYNCABLE_TYPES",
    "AttachmentPointer",
    "Body",
    "ContactSnapshot",
    "Content",
    "ContentType",
    "Delete",
    "DeviceListNotice",
    "Filed",
    "FiledKind",
    "Franked",
    "FrankingKeyNotice",
    "Receipt",
    "ReceiptKind",
    "ResetRequest",
    "SentSync",
    "Text",
    "TimerChange",
    "check_franked",
    "frank_content",
    "new_message_id",
    "sync_of",
]
