"""Section 7, device authentication to the relay: ``device_auth.json``."""

from __future__ import annotations

import hashlib

from confide.keys.device import DeviceKeyPair
from confide.keys.identity import IdentityKeyPair
from confide.protocol.auth import AuthProof, sign_request
from confide.protocol.errors import AuthError

from .common import NOW, Json, expect_error, h, seed_of, vector
from .drbg import SeededRng


def device_auth() -> Json:
    seed = seed_of("device_auth")
    rng = SeededRng(seed)
    identity = IdentityKeyPair.generate(rng)
    device = DeviceKeyPair.generate(identity, rng)
    requests = [
        ("POST", "/v1/messages", b'{"example": "request body"}', rng(16)),
        ("GET", "/v1/messages?after=0&limit=50", b"", rng(16)),
    ]
    out_requests = []
    for method, path, body, nonce in requests:
        body_hash = hashlib.sha256(body).hexdigest()
        headers = sign_request(device, method, path, body_hash, now=NOW, nonce=nonce)
        proof = AuthProof.from_headers(headers)
        proof.check_time(NOW)
        proof.verify(device.certificate.public_key, method, path)
        canonical = "\n".join(("Confide-auth-v1", method, path, str(NOW), nonce.hex(), body_hash))
        device.certificate.public_key.verify(proof.signature, canonical.encode())
        out_requests.append((method, path, body, nonce, body_hash, canonical, headers))
    method, path, _body, _nonce, _bh, _c, headers = out_requests[0]
    pub = device.certificate.public_key
    bad_sig = dict(headers, **{"X-Confide-Signature": headers["X-Confide-Signature"][:-2] + "AA"})
    missing = {k: v for k, v in headers.items() if k != "X-Confide-Nonce"}
    short_nonce = dict(headers, **{"X-Confide-Nonce": headers["X-Confide-Nonce"][:-2]})
    failures: list[tuple[str, Json, str, str, int]] = [
        ("verified for another path", headers, method, "/v1/keys", NOW),
        ("verified for another method", headers, "PUT", path, NOW),
        ("signature changed", bad_sig, method, path, NOW),
        ("timestamp 301 s behind the relay clock", headers, method, path, NOW + 301),
        ("timestamp 301 s ahead of the relay clock", headers, method, path, NOW - 301),
        ("nonce header missing", missing, method, path, NOW),
        ("nonce of 15 bytes", short_nonce, method, path, NOW),
        *(
            (f"non-canonical header: {w}", _respell(headers, k, v), method, path, NOW)
            for w, k, v in _respellings(headers)
        ),
    ]

    def check(hdrs: Json, m: str, p: str, now: int) -> None:
        proof = AuthProof.from_headers(hdrs)
        proof.check_time(now)
        proof.verify(pub, m, p)

    for _w, k, v in _respellings(headers):  # the signed content is unchanged: only the spelling is refused
        assert _respell(headers, k, v) != headers
    return vector(
        "device_auth",
        "Device authentication: each request is signed with the device's Ed25519 key (deterministic) over "
        "canonical = 'Confide-auth-v1\\n' METHOD '\\n' PATH?QUERY '\\n' TIMESTAMP '\\n' NONCE_HEX '\\n' "
        "SHA256_HEX(body); the headers carry the device id, timestamp, nonce, body hash and the base64url "
        "signature without padding. Each 'failures' case (headers, method, path as verified, relay clock) "
        "must be refused with AuthError; the replay window is 300 s either way. Each header has one accepted "
        "spelling (lowercase hex of the exact length, decimal without a leading zero in ASCII digits, unpadded "
        "canonical base64url): the 'non-canonical header' cases respell a valid proof (same values, same "
        "signature) and must be refused too.",
        seed,
        {
            "identity_private": h(identity.private_bytes()),
            "device_private": h(device.private_bytes()),
            "device_public": h(device.certificate.public),
            "timestamp": NOW,
            "requests": [{"method": m, "path": p, "body": h(b), "nonce": h(n)} for m, p, b, n, *_ in out_requests],
            "failures": [
                {"why": w, "headers": hd, "method": m, "path": p, "relay_now": t} for w, hd, m, p, t in failures
            ],
        },
        {
            "result": "ok",
            "requests": [
                {"content_sha256": bh, "canonical": c, "headers": hd} for _m, _p, _b, _n, bh, c, hd in out_requests
            ],
            "failures": [{"why": w, **expect_error(AuthError, check, hd, m, p, t)} for w, hd, m, p, t in failures],
        },
    )


def _respell(headers: Json, name: str, value: str) -> Json:
    return dict(headers, **{name: value})


def _respellings(headers: Json) -> list[tuple[str, str, str]]:
    """Other spellings of the same values: each must be refused (SPEC section 7, canonical header forms)."""
    sig = headers["X-Confide-Signature"]
    spare = sig[:-1] + _B64URL[_B64URL.index(sig[-1]) ^ 1]  # the last character's 4 spare bits must be zero
    assert spare != sig
    ts = headers["X-Confide-Timestamp"]
    return [
        ("device id in upper-case hex", "X-Confide-Device", headers["X-Confide-Device"].upper()),
        ("nonce in upper-case hex", "X-Confide-Nonce", headers["X-Confide-Nonce"].upper()),
        ("content hash in upper-case hex", "X-Confide-Content-SHA256", headers["X-Confide-Content-SHA256"].upper()),
        (
            "a space inside the device id hex",
            "X-Confide-Device",
            headers["X-Confide-Device"][:2] + " " + headers["X-Confide-Device"][2:],
        ),
        ("timestamp with a leading zero", "X-Confide-Timestamp", "0" + ts),
        ("timestamp with a leading '+'", "X-Confide-Timestamp", "+" + ts),
        ("timestamp in Arabic-Indic digits", "X-Confide-Timestamp", ts.translate(_ARABIC_INDIC)),
        ("signature with '==' padding", "X-Confide-Signature", sig + "=="),
        ("signature in standard base64 ('+/' for '-_')", "X-Confide-Signature", _standard(sig)),
        ("signature with a spare bit set in its last character", "X-Confide-Signature", spare),
        ("signature with a space appended", "X-Confide-Signature", sig + " "),
    ]


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ARABIC_INDIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


def _standard(sig: str) -> str:
    """``sig`` in the standard base64 alphabet; if it holds neither '-' nor '_', with a '+' forced in."""
    out = sig.replace("-", "+").replace("_", "/")
    return out if out != sig else "+" + sig[1:]
