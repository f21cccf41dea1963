"""Recovery codes and the backup they open: a way back to one's keys when the passphrase is forgotten.

Code: ``secret(16) || checksum(4)`` with ``checksum = SHA-256("Confide-recovery-code-checksum-v1" ||
secret)[:4]``, written in Crockford base32 (digits and upper-case letters without I, L, O, U) as 8 groups of
4 characters, e.g. ``7K2M-...``. On input, case, spaces and dashes are ignored and O/I/L read as 0/1/1.

Backup blob (integers big-endian)::

    magic "CFRB"(4) || version u8 (=1) || salt(32) || nonce(12) || payload_len u32   <- header, 53 bytes
    || ChaCha20-Poly1305(key, nonce, SecretKeys.to_bytes(), aad = header)      <- payload_len + 16 bytes, end

    key = HKDF-SHA256(ikm = secret, salt = salt, info = "Confide-recovery-backup-v1", length = 32)

The code carries 128 random bits, so it needs no password stretching: guessing it is 2^128 work however
fast each guess is, and HKDF is the right tool to turn uniform secret bits into a key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .encoding import RNG, Reader, Writer
from .errors import CorruptKeyStore, InvalidRecoveryCode, QRPayloadError, WrongPassphrase
from .qr import QR_TEXT_PREFIX, QR_TEXT_WHITESPACE, parse_qr_text
from .secret_keys import SecretKeys

RECOVERY_SECRET_LEN = 16
"""128 random bits: beyond brute force even with the fast (unstretched) HKDF derivation."""
RECOVERY_CHECKSUM_LEN = 4
"""32-bit checksum: a typo is reported as a typo except with probability 2^-32."""
RECOVERY_CODE_GROUPS = 8
"""(16 + 4) bytes = 160 bits = 32 base32 characters, read and typed as 8 groups of 4."""
RECOVERY_GROUP_LEN = 4
RECOVERY_CODE_CHARS = RECOVERY_CODE_GROUPS * RECOVERY_GROUP_LEN
BACKUP_MAGIC = b"CFRB"
"""Names the format, so a wrong file is reported as such and not as a wrong code."""
BACKUP_VERSION = 1
"""Layout version; a new layout gets a new number and old backups stay readable."""
BACKUP_SALT_LEN = 32
"""HKDF salt (RFC 5869 recommends a hash-length salt); fresh per backup, so no two backups share a key."""
BACKUP_NONCE_LEN = 12
"""ChaCha20-Poly1305 nonce; random is safe because the key is fresh for every backup."""
BACKUP_HEADER_LEN = len(BACKUP_MAGIC) + 1 + BACKUP_SALT_LEN + BACKUP_NONCE_LEN + 4
BACKUP_MAX_PAYLOAD_LEN = 64 * 1024
"""A backup holds SecretKeys (129 bytes today); 64 KiB leaves room for growth and bounds what a foreign
file can make us decrypt."""

RECOVERY_QR_PREFIX = "CONFIDE-RC1:"
"""Marks the QR of a recovery code (``"CONFIDE-RC1:" || code``, all in the QR alphanumeric set). Its own
prefix, never the safety-number one (``CONFIDE-SN1:``), so that a safety-number scan can tell a recovery
code apart and refuse it with a warning: it must never be shown to anyone. Codes printed before this prefix
existed hold ``"CONFIDE-SN1:" || BASE32(code)`` and are still accepted by :func:`recovery_code_from_qr`."""

_TAG_LEN = 16
_CHECKSUM_LABEL = b"Confide-recovery-code-checksum-v1"
_HKDF_INFO = b"Confide-recovery-backup-v1"
_AUTH_INFO = b"Confide-recovery-auth-v1"
"""HKDF info of the recovery *authority* key: another label than the backup key's, so the two keys are independent
(knowing one says nothing of the other)."""
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = str.maketrans(_RFC4648, _CROCKFORD)
_FROM_CROCKFORD = str.maketrans(_CROCKFORD, _RFC4648)
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
CODE_SEPARATORS = " \t\n\r-"
"""What a typed code may hold between its characters and parsing drops: ASCII space, tab, CR, LF and the group
dashes. Nothing else: a non-ASCII character (a no-break space, a dotless i whose upper case is 'I') makes the
code malformed, so every implementation accepts exactly the same texts (protocol/SPEC.md section 10.3)."""
_DROP = str.maketrans("", "", CODE_SEPARATORS)


def _checksum(secret: bytes) -> bytes:
    return hashlib.sha256(_CHECKSUM_LABEL + secret).digest()[:RECOVERY_CHECKSUM_LEN]


def _format_code(secret: bytes) -> str:
    text = base64.b32encode(secret + _checksum(secret)).decode("ascii").translate(_TO_CROCKFORD)
    return "-".join(text[i : i + RECOVERY_GROUP_LEN] for i in range(0, len(text), RECOVERY_GROUP_LEN))


def _parse_code(code: str) -> bytes:
    """The 16-byte secret of a typed code. Raises :class:`InvalidRecoveryCode`."""
    if not isinstance(code, str) or len(code) > 4 * RECOVERY_CODE_CHARS:
        raise InvalidRecoveryCode("a recovery code has 32 characters in 8 groups of 4; check what you typed")
    compact = code.translate(_DROP)
    if not compact.isascii():
        raise InvalidRecoveryCode("a recovery code uses only digits and the letters A-Z except U; check it")
    compact = compact.upper().translate(_LOOKALIKES)
    if len(compact) != RECOVERY_CODE_CHARS:
        raise InvalidRecoveryCode(
            f"a recovery code has 32 characters in 8 groups of 4, and this one has {len(compact)}; "
            "check for a missing or extra character"
        )
    if any(ch not in _CROCKFORD for ch in compact):
        raise InvalidRecoveryCode("a recovery code uses only digits and the letters A-Z except U; check it")
    try:
        raw = base64.b32decode(compact.translate(_FROM_CROCKFORD))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - 32 alphabet characters always decode
        raise InvalidRecoveryCode("this recovery code cannot be read; check what you typed") from exc
    secret, check = raw[:RECOVERY_SECRET_LEN], raw[RECOVERY_SECRET_LEN:]
    if not hmac.compare_digest(check, _checksum(secret)):
        raise InvalidRecoveryCode(
            "the recovery code has a typing mistake (its checksum does not match); check each group"
        )
    return secret


def recovery_qr_text(code: str) -> str:
    """The text to put in a recovery code's QR: :data:`RECOVERY_QR_PREFIX` and the code as written.

    Raises:
        InvalidRecoveryCode: ``code`` is not a well-formed recovery code.
    """
    return RECOVERY_QR_PREFIX + _format_code(_parse_code(code))


def _legacy_qr_code(text: str) -> str | None:
    """The recovery code inside an old ``CONFIDE-SN1:`` recovery QR text, or None if it holds none."""
    try:
        secret = _parse_code(parse_qr_text(text).decode("ascii"))
    except (QRPayloadError, UnicodeDecodeError, InvalidRecoveryCode):
        return None
    return _format_code(secret)  # as written: the payload may hold lower case, lookalikes, spaces, tabs


def recovery_code_from_qr(text: str) -> str:
    """The recovery code in a scanned QR text: ``CONFIDE-RC1:`` (current) or ``CONFIDE-SN1:`` (recovery
    QR codes written before the recovery prefix existed). ASCII letter case and surrounding ASCII space, tab,
    CR and LF do not matter; a non-ASCII character makes the text unreadable.

    Raises:
        InvalidRecoveryCode: the text holds no readable recovery code.
    """
    normalized = text.strip(QR_TEXT_WHITESPACE) if isinstance(text, str) else ""
    normalized = normalized.upper() if normalized.isascii() else ""
    if normalized.startswith(RECOVERY_QR_PREFIX):
        return _format_code(_parse_code(normalized[len(RECOVERY_QR_PREFIX) :]))
    if normalized.startswith(QR_TEXT_PREFIX):
        code = _legacy_qr_code(normalized)
        if code is not None:
            return code
    raise InvalidRecoveryCode("this scanned QR code holds no recovery code; scan it again or type the code")


def is_recovery_qr_text(text: str) -> bool:
    """Whether ``text`` is a recovery QR's text (either prefix) or a bare recovery code: what a safety-number
    scan must refuse, warning that a recovery code is never to be shown to anyone."""
    if not isinstance(text, str) or len(text.strip()) > 4 * RECOVERY_CODE_CHARS + 64:  # as the decoders strip
        return False
    try:
        recovery_code_from_qr(text)
        return True
    except InvalidRecoveryCode:
        pass
    try:
        _parse_code(text.strip())
    except InvalidRecoveryCode:
        return False
    return True


def _key(secret: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_HKDF_INFO).derive(secret)


def recovery_authority(code: str) -> Ed25519PrivateKey:
    """The recovery code's *authority* key: ``Ed25519 seed = HKDF-SHA256(ikm = secret, salt = none, info =
    "Confide-recovery-auth-v1", length = 32)`` (SPEC section 10.3). Its public half is registered at the relay when
    the code is made; a device restored from the backup signs with it the device list that adds it, so the relay
    takes that list from a device it does not know yet, and from nobody else who lacks the code. ``code`` may be
    typed (as :func:`restore_recovery` takes it).

    Raises:
        InvalidRecoveryCode: the code is malformed or fails its checksum.
    """
    secret = _parse_code(code)
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_AUTH_INFO).derive(secret)
    return Ed25519PrivateKey.from_private_bytes(seed)


def create_recovery(keys: SecretKeys, *, rng: RNG) -> tuple[str, bytes]:
    """Make a new recovery code and the backup of ``keys`` it opens.

    Returns ``(recovery_code, sealed_backup)``. Show the code once and never store it next to the backup.
    """
    secret = rng(RECOVERY_SECRET_LEN)
    salt, nonce = rng(BACKUP_SALT_LEN), rng(BACKUP_NONCE_LEN)
    if len(secret) != RECOVERY_SECRET_LEN or len(salt) != BACKUP_SALT_LEN or len(nonce) != BACKUP_NONCE_LEN:
        raise ValueError("rng returned the wrong number of bytes")
    payload = keys.to_bytes()
    header = Writer().raw(BACKUP_MAGIC).u8(BACKUP_VERSION).raw(salt).raw(nonce).u32(len(payload)).bytes()
    sealed = ChaCha20Poly1305(_key(secret, salt)).encrypt(nonce, payload, header)
    return _format_code(secret), header + sealed


def restore_recovery(backup: bytes, code: str) -> SecretKeys:
    """Open a backup made by :func:`create_recovery` with its recovery code.

    Raises:
        InvalidRecoveryCode: the code is malformed or fails its checksum (a typo): nothing was decrypted.
        CorruptKeyStore: the backup is not a Confide backup, of an unknown version, truncated or damaged.
        WrongPassphrase: a well-formed code that does not open this backup (another backup's code).
    """
    secret = _parse_code(code)
    r = Reader(backup, CorruptKeyStore)
    if r.remaining < len(BACKUP_MAGIC) or r.raw(len(BACKUP_MAGIC)) != BACKUP_MAGIC:
        raise CorruptKeyStore("this is not a Confide recovery backup; check that you chose the right file")
    if r.u8() != BACKUP_VERSION:
        raise CorruptKeyStore("this recovery backup has an unknown format version; update Confide to open it")
    salt, nonce, payload_len = r.raw(BACKUP_SALT_LEN), r.raw(BACKUP_NONCE_LEN), r.u32()
    if payload_len > BACKUP_MAX_PAYLOAD_LEN:
        raise CorruptKeyStore("the recovery backup is larger than any Confide writes; check the file")
    ciphertext = r.raw(payload_len + _TAG_LEN)
    r.end()
    header = bytes(backup[:BACKUP_HEADER_LEN])
    try:
        payload = ChaCha20Poly1305(_key(secret, salt)).decrypt(nonce, ciphertext, header)
    except InvalidTag as exc:
        raise WrongPassphrase(
            "this recovery code does not open this backup (or the backup was altered); "
            "check that code and backup belong together"
        ) from exc
    return SecretKeys.from_bytes(payload)
