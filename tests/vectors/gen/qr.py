"""Section 10.5, the texts inside QR codes: ``qr_text.json`` (safety numbers and recovery codes)."""

from __future__ import annotations

import base64

from confide.keys import qr
from confide.keys import recovery as rc
from confide.keys.errors import InvalidRecoveryCode, QRPayloadError
from confide.keys.secret_keys import SecretKeys

from .common import Json, attempt, expect_error, h, seed_of, vector
from .drbg import RecordingRng, SeededRng


def qr_texts() -> Json:
    seed = seed_of("qr_text")
    rng = RecordingRng(SeededRng(seed))
    payload = b"\x01" + rng(64)
    keys = SecretKeys.generate(rng)
    code, _backup = rc.create_recovery(keys, rng=rng)
    draws = rng.take()
    text = qr.qr_text(payload)
    body = text[len(qr.QR_TEXT_PREFIX) :]
    assert qr.parse_qr_text(text) == payload
    long_body = base64.b32encode(bytes(qr.MAX_QR_PAYLOAD_LEN + 1)).decode().rstrip("=")
    # 65 bytes are 520 bits = 104 characters with no spare bit; 64 bytes are 103 characters whose last holds 3
    # spare bits, zero in the canonical text (so it is A, I, Q or Y): setting one makes it non-canonical.
    short = qr.qr_text(payload[:64])
    assert short[-1] in "AIQY"
    spare = short[:-1] + chr(ord(short[-1]) + 1)
    scans = [
        ("as written", text),
        ("lower case", text.lower()),
        ("surrounding ASCII whitespace (a scanner's trailing newline)", " \t" + text + "\r\n"),
        ("a 64-byte payload (any length 1..128 is read)", short),
        ("no prefix", body),
        ("the recovery prefix CONFIDE-RC1:", "CONFIDE-RC1:" + body),
        ("empty body", qr.QR_TEXT_PREFIX),
        ("base32 padding '='", short + "="),
        ("non-zero spare bits in the last character (not canonical)", spare),
        ("a character outside the base32 alphabet (1)", text[:-1] + "1"),
        ("a space inside", text[:20] + " " + text[20:]),
        ("surrounded by no-break spaces (U+00A0): only ASCII space, tab, CR, LF are stripped", "\u00a0" + text),
        ("sharp s (U+00DF, upper case 'SS') in the body", _sharp_s(text)),
        ("payload longer than MAX_QR_PAYLOAD_LEN (128)", qr.QR_TEXT_PREFIX + long_body),
    ]
    scan_results = []
    for why, t in scans:
        res, got = attempt(qr.parse_qr_text, t)
        if got is not None:
            assert got in (payload, payload[:64])
            res["payload"] = h(got)
        elif res["error"] != QRPayloadError.__name__:
            raise AssertionError(why)
        scan_results.append({"why": why, **res})
    recovery_text = rc.recovery_qr_text(code)
    legacy = qr.qr_text(code.encode("ascii"))
    recovery_scans = [
        ("as written", recovery_text),
        ("lower case, trailing newline", recovery_text.lower() + "\n"),
        ("the code without dashes", rc.RECOVERY_QR_PREFIX + code.replace("-", "")),
        ("legacy: CONFIDE-SN1: || BASE32(ASCII code)", legacy),
        ("a safety-number QR text", text),
        ("no prefix", code),
        ("checksum typo", recovery_text[:-1] + ("0" if recovery_text[-1] != "0" else "1")),
    ]
    recovery_results = []
    for why, t in recovery_scans:
        res, got = attempt(rc.recovery_code_from_qr, t)
        if got is not None:
            assert got == code
            res["code"] = got
        else:
            assert res["error"] == InvalidRecoveryCode.__name__, why
        recovery_results.append({"why": why, **res})
    expect_error(QRPayloadError, qr.parse_qr_text, recovery_text)
    return vector(
        "qr_text",
        "The texts inside Confide's QR codes (SPEC section 10.5). Safety number: qr_text = 'CONFIDE-SN1:' || "
        "RFC 4648 base32 of the payload, upper case, no '=' padding. Each 'scans' text is parsed: ok with the "
        "listed payload, or QRPayloadError. Parsing strips only ASCII space, tab, CR and LF around the text, "
        "refuses any non-ASCII character, ignores ASCII case, and requires the re-encoding of the payload to "
        "equal the (upper-cased) text. Recovery code: recovery_qr_text = 'CONFIDE-RC1:' || code (as written, "
        "with dashes). Each 'recovery_scans' text yields the code (ok) or InvalidRecoveryCode. The payload is "
        "0x01 || rng(64); the code is create_recovery's after SecretKeys.generate (draws in 'rng_outputs').",
        seed,
        {
            "draw_order": [
                "payload: 0x01 || rng(64)",
                "SecretKeys.generate: rng(32), rng(32), rng(32), rng(32)",
                "create_recovery: rng(16) secret, rng(32) salt, rng(12) nonce",
            ],
            "rng_outputs": draws,
            "payload": h(payload),
            "code": code,
            "scans": [{"why": w, "text": t} for w, t in scans],
            "recovery_scans": [{"why": w, "text": t} for w, t in recovery_scans],
        },
        {
            "result": "ok",
            "qr_text": text,
            "recovery_qr_text": recovery_text,
            "scans": scan_results,
            "recovery_scans": recovery_results,
        },
    )


def _sharp_s(text: str) -> str:
    """``text`` with its first 'SS' (or, if none, its last two characters) written as one sharp s."""
    i = text.find("SS", len(qr.QR_TEXT_PREFIX))
    if i < 0:
        i = len(text) - 2
        text = text[:i] + "SS"
    return text[:i] + "\u00df" + text[i + 2 :]
