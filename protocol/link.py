"""Linking a new device to an identity (SPEC section 15): the link code and the six-message exchange.

The new device (N) shows a code; the person types it (or scans its QR) on an existing device (E). The two
run SPAKE2 (:mod:`confide.protocol.spake2`) on the code's 40 password bits through six write-once slots of a
relay channel named by its 20 channel bits, confirm the key, and E then hands N the identity
(:class:`~confide.protocol.provisioning.Provisioning`) and, if wanted, the recent history. The relay only
carries bytes: it sees a channel name, six messages and their sizes, and gets one guess of 2^40 per run if it
plays a device itself, which the confirmation exposes (:class:`~confide.protocol.errors.LinkCodeMismatch`).

Code: 60 bits = ``channel_bits`` (20) || ``password_bits`` (40), written as 12 Crockford base32 characters
``XXXX-XXXX-XXXX`` (most significant first); drawn as the top 60 bits of ``rng(8)``; QR text
``"CONFIDE-LINK1:" || code``. Parsing drops ASCII space, tab, CR, LF and dashes, refuses anything not ASCII,
ignores case and reads O as 0, I and L as 1 (as recovery codes, SPEC section 10.3)::

    channel = hex(SHA-256("Confide-link-channel-v1" || channel_bits as 3 bytes))
    w       = SHA-512("Confide-link-password-v1" || password_bits as 5 bytes) mod l

SPAKE2 parameters: A = N with identity ``"Confide-link-new-device"``, B = E with identity
``"Confide-link-existing-device"``, AAD ``"Confide-link-v1"``. Then::

    k_n2e || k_e2n = HKDF-SHA-256(ikm = Ke, salt = none, info = "Confide-link-keys-v1", L = 64)
    AEAD(k, i, m)  = ChaCha20-Poly1305(k, nonce = i as 12 bytes big-endian, m, ad = "Confide-link-v1" || slot u8)

    slot 0  N→E  0x01 || pA(32)
    slot 1  E→N  0x01 || pB(32) || cB(32)
    slot 2  N→E  0x01 || cA(32) || AEAD(k_n2e, 0, device_public(32) || name var8)     (empty: N gives up)
    slot 3  E→N  0x01 || AEAD(k_e2n, 0, provisioning)
    slot 4  E→N  0x01 || AEAD(k_e2n, 1, history_offer)
    slot 5  N→E  0x01 || AEAD(k_n2e, 1, outcome u8)

Each side checks the other's confirmation before anything else; a failed check ends the run on that side and
nothing changes: E publishes the new device list only after ``cA`` verified and the request decrypted, N
registers only after the provisioning decrypted. When N's check of ``cB`` fails it can still write slot 2
(:meth:`NewDeviceLink.abort`) so that E learns of the mismatch at once instead of waiting: ``cA`` is then
wrong for E and reveals nothing (SPAKE2's confirmation is safe to send first).

Every message is parsed (version byte, exact lengths) before any cryptography; every method runs once, in the
order above (else :class:`~confide.protocol.errors.LocalProtocolError`).
"""

from __future__ import annotations

import enum
import hashlib
import unicodedata
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide.keys.encoding import RNG, Reader, Writer

from .errors import DecryptionError, InvalidLinkCode, LinkCodeMismatch, LocalProtocolError, RemoteProtocolError
from .provisioning import MAX_HISTORY_OFFER_LEN, MAX_PROVISIONING_LEN, HistoryOffer, Provisioning
from .spake2 import CONFIRMATION_LEN, SHARE_LEN, Role, Spake2, check_confirmation, password_scalar

LINK_VERSION = 1
"""The first byte of every slot."""
LINK_CODE_CHARS = 12
"""60 bits in Crockford base32 (5 bits a character), shown as three groups of four."""
LINK_GROUP_LEN = 4
CHANNEL_BITS = 20
"""Bits naming the relay channel: a million channels, so two links running at once at one relay collide with
probability about 10^-6 (the second one's first write is then refused and it starts again with a new code)."""
PASSWORD_BITS = 40
"""Bits only the two devices know. SPAKE2 gives an attacker one online guess per run and no offline attack, and
a run aborts at the first wrong guess: 2^-40 per attempt, with no key stretching needed."""
CHANNEL_BYTES = 3
PASSWORD_BYTES = 5
LINK_QR_PREFIX = "CONFIDE-LINK1:"
"""Marks a link code's QR text, distinct from safety numbers (``CONFIDE-SN1:``) and recovery codes
(``CONFIDE-RC1:``), so that no scanner mistakes one for another."""
ID_NEW_DEVICE = b"Confide-link-new-device"
"""SPAKE2 identity A: the new device."""
ID_EXISTING_DEVICE = b"Confide-link-existing-device"
"""SPAKE2 identity B: the existing device."""
LINK_AAD = b"Confide-link-v1"
"""SPAKE2's AAD (bound into the confirmation keys) and the prefix of every slot's AEAD associated data."""
DEVICE_PUBLIC_LEN = 32
"""The new device's Ed25519 public key, which E certifies (SPEC section 1)."""
MAX_DEVICE_NAME_BYTES = 64
"""A device's name ("Office laptop", "Phone"): one line, long enough for any such label in any script."""
TAG_LEN = 16
SLOT0_LEN = 1 + SHARE_LEN
SLOT1_LEN = 1 + SHARE_LEN + CONFIRMATION_LEN
MAX_REQUEST_LEN = DEVICE_PUBLIC_LEN + 1 + MAX_DEVICE_NAME_BYTES
MIN_SLOT2_LEN = 1 + CONFIRMATION_LEN + TAG_LEN
MAX_SLOT2_LEN = MIN_SLOT2_LEN + MAX_REQUEST_LEN
MAX_SLOT3_LEN = 1 + MAX_PROVISIONING_LEN + TAG_LEN
MAX_SLOT4_LEN = 1 + MAX_HISTORY_OFFER_LEN + TAG_LEN
SLOT5_LEN = 1 + 1 + TAG_LEN
SLOT_COUNT = 6

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_DROP = str.maketrans("", "", " \t\n\r-")
_QR_WHITESPACE = " \t\r\n"
_MAX_TEXT = 64
_CHANNEL_LABEL = b"Confide-link-channel-v1"
_PASSWORD_LABEL = b"Confide-link-password-v1"
_KEYS_INFO = b"Confide-link-keys-v1"
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BAD_MESSAGE = "the other device sent a malformed link message; start again with a new code"


class LinkOutcome(enum.IntEnum):
    """What N tells E in slot 5."""

    COMPLETE = 1
    """N registered and imported the history (or none was offered)."""
    WITHOUT_HISTORY = 2
    """N registered but did not import the history (declined, or the download failed)."""


@dataclass(frozen=True, slots=True)
class LinkCode:
    """A link code: 20 channel bits and 40 password bits. Its repr shows the channel bits only.

    Raises (construction):
        ValueError: a field has the wrong length or the channel bits exceed 20 bits.
    """

    channel_bits: bytes
    password_bits: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.channel_bits, bytes) or len(self.channel_bits) != CHANNEL_BYTES:
            raise ValueError(f"channel_bits must be {CHANNEL_BYTES} bytes")
        if int.from_bytes(self.channel_bits, "big") >> CHANNEL_BITS:
            raise ValueError(f"channel_bits hold {CHANNEL_BITS} bits")
        if not isinstance(self.password_bits, bytes) or len(self.password_bits) != PASSWORD_BYTES:
            raise ValueError(f"password_bits must be {PASSWORD_BYTES} bytes")

    @property
    def text(self) -> str:
        """``XXXX-XXXX-XXXX``: what to show (and type)."""
        value = int.from_bytes(self.channel_bits + self.password_bits, "big")
        chars = "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(LINK_CODE_CHARS)))
        return "-".join(chars[i : i + LINK_GROUP_LEN] for i in range(0, LINK_CODE_CHARS, LINK_GROUP_LEN))

    @property
    def qr_text(self) -> str:
        """``CONFIDE-LINK1:XXXX-XXXX-XXXX``: what to put in the QR code."""
        return LINK_QR_PREFIX + self.text


def new_link_code(rng: RNG) -> LinkCode:
    """A fresh code: the top 60 bits of ``rng(8)``, channel bits first.

    Raises:
        ValueError: ``rng`` returned the wrong number of bytes.
    """
    raw = rng(8)
    if len(raw) != 8:
        raise ValueError("the random source returned the wrong number of bytes")
    value = int.from_bytes(raw, "big") >> 4
    return _code_of(value)


def _code_of(value: int) -> LinkCode:
    channel = (value >> PASSWORD_BITS).to_bytes(CHANNEL_BYTES, "big")
    password = (value & ((1 << PASSWORD_BITS) - 1)).to_bytes(PASSWORD_BYTES, "big")
    return LinkCode(channel, password)


def parse_link_code(text: str) -> LinkCode:
    """The code in typed text (``XXXX-XXXX-XXXX``, any case, spaces and dashes anywhere, O/I/L for 0/1/1) or in
    a scanned QR text (``CONFIDE-LINK1:`` and the code).

    Raises:
        InvalidLinkCode: anything else, with a sentence saying what is wrong.
    """
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        raise InvalidLinkCode("a link code has 12 characters in 3 groups of 4; check what you typed")
    stripped = text.strip(_QR_WHITESPACE)
    if stripped.isascii() and stripped.upper().startswith(LINK_QR_PREFIX):
        stripped = stripped[len(LINK_QR_PREFIX) :]
    compact = stripped.translate(_DROP)
    if not compact.isascii():
        raise InvalidLinkCode("a link code uses only digits and the letters A-Z except U; check it")
    compact = compact.upper().translate(_LOOKALIKES)
    if len(compact) != LINK_CODE_CHARS:
        raise InvalidLinkCode(
            f"a link code has 12 characters in 3 groups of 4, and this one has {len(compact)}; "
            "check for a missing or extra character"
        )
    if any(ch not in _CROCKFORD for ch in compact):
        raise InvalidLinkCode("a link code uses only digits and the letters A-Z except U; check it")
    value = 0
    for ch in compact:
        value = (value << 5) | _CROCKFORD.index(ch)
    return _code_of(value)


def channel_of(code: LinkCode) -> str:
    """The relay channel of a code: 64 lowercase hex characters."""
    return hashlib.sha256(_CHANNEL_LABEL + code.channel_bits).hexdigest()


def password_of(code: LinkCode) -> bytes:
    """SPAKE2's ``w`` for a code: SHA-512 of the labelled password bits, reduced modulo l."""
    return password_scalar(hashlib.sha512(_PASSWORD_LABEL + code.password_bits).digest())


def check_device_name(name: str) -> bytes:
    """A device name's UTF-8 bytes: 1..64 bytes, one line, no control or bidirectional-control character.

    Raises:
        ValueError: the name breaks one of these rules (the sentence says which).
    """
    if not isinstance(name, str):
        raise ValueError("a device name is text")
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("a device name must be valid text") from exc
    if not 1 <= len(raw) <= MAX_DEVICE_NAME_BYTES:
        raise ValueError(f"a device name has 1 to {MAX_DEVICE_NAME_BYTES} bytes")
    if not name.strip():
        raise ValueError("a device name is not only spaces")
    for ch in name:
        if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} or ch in _BIDI:
            raise ValueError("a device name is one line without control characters")
    return raw


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """What N asks E to certify: its device public key and the name the person gave it."""

    device_public: bytes
    name: str


def _link_keys(ke: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_KEYS_INFO).derive(ke)
    return okm[:32], okm[32:]


def _nonce(counter: int) -> bytes:
    return counter.to_bytes(12, "big")


def _seal(key: bytes, counter: int, slot: int, plaintext: bytes) -> bytes:
    return ChaCha20Poly1305(key).encrypt(_nonce(counter), plaintext, LINK_AAD + bytes((slot,)))


def _open(key: bytes, counter: int, slot: int, sealed: bytes) -> bytes:
    try:
        return ChaCha20Poly1305(key).decrypt(_nonce(counter), sealed, LINK_AAD + bytes((slot,)))
    except InvalidTag as exc:
        raise DecryptionError("a link message did not decrypt; start again with a new code") from exc


def _body(data: bytes, slot: int, low: int, high: int) -> bytes:
    """Check a slot's version byte and length (before any crypto); return what follows the version."""
    if not isinstance(data, bytes) or not low <= len(data) <= high:
        raise RemoteProtocolError(f"{_BAD_MESSAGE} (slot {slot} has the wrong length)")
    if data[0] != LINK_VERSION:
        raise RemoteProtocolError(f"{_BAD_MESSAGE} (slot {slot} has an unknown version)")
    return data[1:]


class _Steps:
    """One call of each step, in order; a terminal failure ends the run."""

    __slots__ = ("_done", "_failed", "_order")

    def __init__(self, order: tuple[str, ...]) -> None:
        self._order, self._done, self._failed = order, 0, False

    def expect(self, step: str) -> None:
        if self._failed:
            raise LocalProtocolError("this link run failed; start again with a new code")
        if self._done >= len(self._order) or self._order[self._done] != step:
            raise LocalProtocolError(f"{step} is not the next step of this link run")

    def advance(self) -> None:
        self._done += 1

    def fail(self) -> None:
        self._failed = True

    @property
    def failed(self) -> bool:
        return self._failed


class NewDeviceLink:
    """Party A (the new device): ``start``, ``receive_existing``, ``request``, ``open_provisioning``,
    ``open_history_offer``, ``done``, each once and in that order. ``rng`` draws 64 bytes (SPAKE2's x)."""

    __slots__ = ("_k_e2n", "_k_n2e", "_keys", "_spake", "_steps")

    def __init__(self, code: LinkCode, *, rng: RNG) -> None:
        self._spake = Spake2(
            Role.A, password_of(code), id_a=ID_NEW_DEVICE, id_b=ID_EXISTING_DEVICE, aad=LINK_AAD, rng=rng
        )
        self._steps = _Steps(
            ("start", "receive_existing", "request", "open_provisioning", "open_history_offer", "done")
        )
        self._keys: tuple[bytes, bytes] | None = None
        self._k_n2e = self._k_e2n = b""

    def start(self) -> bytes:
        """Slot 0: ``0x01 || pA``."""
        self._steps.expect("start")
        self._steps.advance()
        return bytes((LINK_VERSION,)) + self._spake.share

    def receive_existing(self, slot1: bytes) -> None:
        """Take slot 1 and check E's confirmation. Any failure ends the run.

        Raises:
            RemoteProtocolError: slot 1 is malformed or ``pB`` is not a valid group element.
            LinkCodeMismatch: E's confirmation is wrong: a different code was typed, or someone interfered.
            LocalProtocolError: out of order.
        """
        self._steps.expect("receive_existing")
        try:
            body = _body(slot1, 1, SLOT1_LEN, SLOT1_LEN)
            keys = self._spake.finish(body[:SHARE_LEN])
            self._keys = (keys.confirm_a, keys.ke)
            check_confirmation(keys.confirm_b, body[SHARE_LEN:])
        except (RemoteProtocolError, LinkCodeMismatch):
            self._steps.fail()
            raise
        self._k_n2e, self._k_e2n = _link_keys(keys.ke)
        self._steps.advance()

    def abort(self) -> bytes:
        """Slot 2 after a :class:`LinkCodeMismatch`: N's confirmation and an empty request, so that E reports
        the mismatch at once. Reveals nothing about the code (the confirmation is for N's own key).

        Raises:
            LocalProtocolError: no confirmation failed in this run.
        """
        if not self._steps.failed or self._keys is None:
            raise LocalProtocolError("abort() follows a failed confirmation only")
        confirm_a, ke = self._keys
        k_n2e, _ = _link_keys(ke)
        self._keys = None
        return bytes((LINK_VERSION,)) + confirm_a + _seal(k_n2e, 0, 2, b"")

    def request(self, device_public: bytes, name: str) -> bytes:
        """Slot 2: N's confirmation and its sealed request.

        Raises:
            ValueError: ``device_public`` is not 32 bytes, or ``name`` breaks :func:`check_device_name`.
            LocalProtocolError: out of order.
        """
        self._steps.expect("request")
        if not isinstance(device_public, bytes) or len(device_public) != DEVICE_PUBLIC_LEN:
            raise ValueError(f"device_public must be {DEVICE_PUBLIC_LEN} bytes")
        request = Writer().raw(device_public).var8(check_device_name(name)).bytes()
        assert self._keys is not None
        self._steps.advance()
        return bytes((LINK_VERSION,)) + self._keys[0] + _seal(self._k_n2e, 0, 2, request)

    def open_provisioning(self, slot3: bytes) -> Provisioning:
        """Slot 3: the identity, tokens, device list and contacts. A failure leaves the run where it was.

        Raises:
            RemoteProtocolError: malformed slot or provisioning.
            DecryptionError: the slot does not decrypt (altered on the way).
            LocalProtocolError: out of order.
        """
        self._steps.expect("open_provisioning")
        body = _body(slot3, 3, 1 + TAG_LEN, MAX_SLOT3_LEN)
        provisioning = Provisioning.from_bytes(_open(self._k_e2n, 0, 3, body))
        self._steps.advance()
        return provisioning

    def open_history_offer(self, slot4: bytes) -> HistoryOffer | None:
        """Slot 4: where the history waits, or None (start empty). A failure leaves the run where it was.

        Raises:
            RemoteProtocolError: malformed slot or offer.
            DecryptionError: the slot does not decrypt.
            LocalProtocolError: out of order.
        """
        self._steps.expect("open_history_offer")
        body = _body(slot4, 4, 1 + 1 + TAG_LEN, MAX_SLOT4_LEN)
        offer = HistoryOffer.decode(_open(self._k_e2n, 1, 4, body))
        self._steps.advance()
        return offer

    def done(self, outcome: LinkOutcome = LinkOutcome.COMPLETE) -> bytes:
        """Slot 5: tell E how it ended.

        Raises:
            LocalProtocolError: out of order.
        """
        self._steps.expect("done")
        self._steps.advance()
        return bytes((LINK_VERSION,)) + _seal(self._k_n2e, 1, 5, bytes((LinkOutcome(outcome).value,)))


class ExistingDeviceLink:
    """Party B (the existing device): ``answer``, ``open_request``, ``provisioning``, ``history_offer``,
    ``open_done``, each once and in that order. ``rng`` draws 64 bytes (SPAKE2's y)."""

    __slots__ = ("_confirm_a", "_k_e2n", "_k_n2e", "_spake", "_steps")

    def __init__(self, code: LinkCode, *, rng: RNG) -> None:
        self._spake = Spake2(
            Role.B, password_of(code), id_a=ID_NEW_DEVICE, id_b=ID_EXISTING_DEVICE, aad=LINK_AAD, rng=rng
        )
        self._steps = _Steps(("answer", "open_request", "provisioning", "history_offer", "open_done"))
        self._confirm_a = self._k_n2e = self._k_e2n = b""

    def answer(self, slot0: bytes) -> bytes:
        """Take slot 0; return slot 1 (``0x01 || pB || cB``). Any failure ends the run.

        Raises:
            RemoteProtocolError: slot 0 is malformed or ``pA`` is not a valid group element.
            LocalProtocolError: out of order.
        """
        self._steps.expect("answer")
        try:
            body = _body(slot0, 0, SLOT0_LEN, SLOT0_LEN)
            keys = self._spake.finish(body)
        except RemoteProtocolError:
            self._steps.fail()
            raise
        self._confirm_a = keys.confirm_a
        self._k_n2e, self._k_e2n = _link_keys(keys.ke)
        self._steps.advance()
        return bytes((LINK_VERSION,)) + self._spake.share + keys.confirm_b

    def open_request(self, slot2: bytes) -> DeviceRequest:
        """Take slot 2: check N's confirmation, then open its request. A wrong confirmation ends the run.

        Raises:
            RemoteProtocolError: malformed slot or request, or N gave up (an empty request).
            LinkCodeMismatch: N's confirmation is wrong: a different code, or someone interfered.
            DecryptionError: the request does not decrypt (altered on the way).
            LocalProtocolError: out of order.
        """
        self._steps.expect("open_request")
        try:
            body = _body(slot2, 2, MIN_SLOT2_LEN, MAX_SLOT2_LEN)
            check_confirmation(self._confirm_a, body[:CONFIRMATION_LEN])
        except (RemoteProtocolError, LinkCodeMismatch):
            self._steps.fail()
            raise
        plaintext = _open(self._k_n2e, 0, 2, body[CONFIRMATION_LEN:])
        if not plaintext:
            self._steps.fail()
            raise RemoteProtocolError("the new device gave up the link; start again with a new code")
        r = Reader(plaintext, RemoteProtocolError)
        device_public, raw_name = r.raw(DEVICE_PUBLIC_LEN), r.var8(MAX_DEVICE_NAME_BYTES)
        r.end()
        try:
            name = raw_name.decode("utf-8")
            check_device_name(name)
        except (UnicodeDecodeError, ValueError) as exc:
            raise RemoteProtocolError(f"the new device's name is refused: {exc}") from exc
        self._steps.advance()
        return DeviceRequest(device_public, name)

    def provisioning(self, p: Provisioning) -> bytes:
        """Slot 3: the sealed provisioning.

        Raises:
            LocalProtocolError: out of order.
        """
        self._steps.expect("provisioning")
        self._steps.advance()
        return bytes((LINK_VERSION,)) + _seal(self._k_e2n, 0, 3, p.to_bytes())

    def history_offer(self, offer: HistoryOffer | None) -> bytes:
        """Slot 4: the sealed history offer (None: the new device starts empty).

        Raises:
            LocalProtocolError: out of order.
        """
        self._steps.expect("history_offer")
        self._steps.advance()
        return bytes((LINK_VERSION,)) + _seal(self._k_e2n, 1, 4, HistoryOffer.encode(offer))

    def open_done(self, slot5: bytes) -> LinkOutcome:
        """Slot 5: how the link ended on the new device.

        Raises:
            RemoteProtocolError: malformed slot or unknown outcome.
            DecryptionError: the slot does not decrypt.
            LocalProtocolError: out of order.
        """
        self._steps.expect("open_done")
        body = _body(slot5, 5, SLOT5_LEN, SLOT5_LEN)
        plaintext = _open(self._k_n2e, 1, 5, body)
        if plaintext[0] not in {o.value for o in LinkOutcome}:
            raise RemoteProtocolError("the new device sent an unknown outcome")
        self._steps.advance()
        return LinkOutcome(plaintext[0])


__all__ = [
    "LINK_QR_PREFIX",
    "MAX_DEVICE_NAME_BYTES",
    "DeviceRequest",
    "ExistingDeviceLink",
    "LinkCode",
    "LinkOutcome",
    "NewDeviceLink",
    "channel_of",
    "check_device_name",
    "new_link_code",
    "parse_link_code",
    "password_of",
]
