"""Section 10.3, recovery code and backup: ``recovery.json``."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide.keys import recovery as rc
from confide.keys.secret_keys import SecretKeys

from .common import Json, attempt, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng

DRAW_ORDER = [
    "SecretKeys.generate: rng(32) identity Ed25519 seed, rng(32) identity X25519 private, "
    "rng(32) device Ed25519 seed, rng(32) store key",
    "create_recovery: rng(16) secret, rng(32) salt, rng(12) nonce",
    "a second create_recovery (its code must not open the first backup): rng(16), rng(32), rng(12)",
]


def backup_key(secret: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"Confide-recovery-backup-v1").derive(secret)


def seal_payload(secret: bytes, salt: bytes, nonce: bytes, payload: bytes) -> bytes:
    """A backup of an arbitrary payload, built from the primitives (for the not-SecretKeys case)."""
    header = b"CFRB\x01" + salt + nonce + len(payload).to_bytes(4, "big")
    return header + ChaCha20Poly1305(backup_key(secret, salt)).encrypt(nonce, payload, header)


def recovery() -> Json:
    seed = seed_of("recovery")
    rng = RecordingRng(SeededRng(seed))
    keys = SecretKeys.generate(rng)
    key_draws = rng.take()
    code, backup = rc.create_recovery(keys, rng=rng)
    secret, salt, nonce = (bytes.fromhex(x) for x in rng.take())
    other_code, _other_backup = rc.create_recovery(keys, rng=rng)
    other_draws = rng.take()
    payload = keys.to_bytes()
    checksum = hashlib.sha256(b"Confide-recovery-code-checksum-v1" + secret).digest()[:4]
    header = backup[: rc.BACKUP_HEADER_LEN]
    assert rc.restore_recovery(backup, code).to_bytes() == payload
    compact = code.replace("-", "")
    lookalike = compact.replace("0", "O").replace("1", "I") if ("0" in compact or "1" in compact) else compact
    codes = [
        ("as shown", code),
        ("lower case", code.lower()),
        ("no dashes", compact),
        (
            "spaces, a tab and a line break instead of dashes",
            " ".join(code.split("-")[:4]) + "\t\r\n" + " ".join(code.split("-")[4:]),
        ),
        ("O typed for 0 and I for 1", lookalike),
        ("l (lower-case L) typed for 1", compact.replace("1", "l")),
        ("one character short", code[:-1]),
        ("one character too many", code + "0"),
        ("U is not in the alphabet", "U" + code[1:]),
        ("checksum fails (first character changed)", ("1" if code[0] != "1" else "2") + code[1:]),
        (
            "a no-break space (U+00A0) between groups: only ASCII space, tab, CR, LF and '-' are dropped",
            code[:4] + "\u00a0" + code[5:],
        ),
        (
            "a dotless i (U+0131, upper case 'I') for a 1",
            compact.replace("1", "\u0131", 1) if "1" in compact else "\u0131" + compact[1:],
        ),
        ("another backup's (well-formed) code", other_code),
    ]
    too_big = b"CFRB\x01" + salt + nonce + (rc.BACKUP_MAX_PAYLOAD_LEN + 1).to_bytes(4, "big")
    not_keys = seal_payload(secret, salt, nonce, b"not a SecretKeys payload")
    backups = [
        ("bad magic", b"CFRX" + backup[4:]),
        ("unknown version 2", backup[:4] + b"\x02" + backup[5:]),
        ("truncated by one byte", backup[:-1]),
        ("one trailing byte", backup + b"\x00"),
        ("header only", header),
        ("payload_len above BACKUP_MAX_PAYLOAD_LEN (65,536)", too_big + bytes(rc.BACKUP_MAX_PAYLOAD_LEN + 17)),
        ("salt changed (authenticated as associated data and the HKDF salt)", flip(backup, 5)),
        ("nonce changed", flip(backup, 5 + 32)),
        ("ciphertext changed", flip(backup, 60)),
        ("tag changed", flip(backup, -1)),
        ("decrypts, but the payload is not SecretKeys", not_keys),
    ]
    code_rows, code_results = [], []
    for why, text in codes:
        res, opened = attempt(rc.restore_recovery, backup, text)
        if opened is not None:
            assert opened.to_bytes() == payload
        code_rows.append({"why": why, "code": text})
        code_results.append({"why": why, **res})
    backup_rows, backup_results = [], []
    for why, blob in backups:
        res, opened = attempt(rc.restore_recovery, blob, code)
        assert opened is None
        backup_rows.append({"why": why, **({"backup": h(blob)} if len(blob) < _LISTED else _big(blob))})
        backup_results.append({"why": why, **res})
    return vector(
        "recovery",
        "Recovery code and backup (SPEC section 10.3). From 'secret', 'salt' and 'nonce' (create_recovery's "
        "three rng draws, in that order) and the SecretKeys 'payload': checksum = SHA-256("
        "'Confide-recovery-code-checksum-v1' || secret)[:4]; code = Crockford base32 of secret || checksum in 8 "
        "groups of 4; key = HKDF-SHA256(ikm=secret, salt=salt, info='Confide-recovery-backup-v1', L=32); "
        "backup = header(53) || ChaCha20-Poly1305(key, nonce, payload, aad=header). All must match byte for "
        "byte. 'codes' open the backup as typed (ok, giving the payload) or fail with the listed error "
        "(InvalidRecoveryCode: malformed or checksum typo, nothing decrypted; WrongPassphrase: a well-formed "
        "code of another backup). 'backups' are opened with 'code': CorruptKeyStore for a malformed backup or "
        "a payload that is not SecretKeys, WrongPassphrase when the AEAD fails. A backup too long to list is "
        "given as 'backup_prefix' followed by 'zero_bytes' zero bytes.",
        seed,
        {
            "draw_order": DRAW_ORDER,
            "rng_outputs": [*key_draws, h(secret), h(salt), h(nonce), *other_draws],
            "payload": h(payload),
            "secret": h(secret),
            "salt": h(salt),
            "nonce": h(nonce),
            "codes": code_rows,
            "backups": backup_rows,
        },
        {
            "result": "ok",
            "checksum": h(checksum),
            "code": code,
            "key": h(backup_key(secret, salt)),
            "header": h(header),
            "backup": h(backup),
            "codes": code_results,
            "backups": backup_results,
        },
    )


_LISTED = 1024
"""Backups shorter than this are listed whole; the one longer case is mostly zeros."""


def _big(blob: bytes) -> Json:
    """For a backup too long to list: its non-zero prefix and how many zero bytes follow."""
    prefix = blob.rstrip(b"\x00")
    return {"backup_prefix": h(prefix), "zero_bytes": len(blob) - len(prefix)}
