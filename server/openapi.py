"""The relay's OpenAPI 3 document, written by hand from docs/relay-api.md and exact: every id, key and hash has
its pattern and length, every body its size, every list its bound, every answer its status and JSON schema, and
the device signature its security scheme. ``tests/server/test_openapi_cli.py`` keeps it equal to the routes of
:func:`confide.server.create_app`; ``tests/server/test_contract.py`` fuzzes the relay against it (schemathesis).

The numbers come from the modules that enforce them (:mod:`confide.server.limits`, the key and envelope
layouts), so the document cannot drift from the relay's checks.
"""

from __future__ import annotations

from typing import Any

from confide.keys.device import DEVICE_CERT_LEN, DEVICE_ID_LEN
from confide.keys.identity import IDENTITY_PUBLIC_LEN
from confide.keys.prekeys import KEM_PREKEY_LEN, ONE_TIME_PREKEY_LEN, SIGNED_PREKEY_LEN
from confide.protocol.auth import (
    H_CONTENT,
    H_DEVICE,
    H_NONCE,
    H_RECOVERY,
    H_SIGNATURE,
    H_TIMESTAMP,
    MAX_WORK_BITS,
    NONCE_LEN,
    REPLAY_WINDOW_S,
)
from confide.protocol.documents import HEADER_LEN as DOCUMENT_HEADER_LEN
from confide.protocol.documents import MAX_DEVICES_DOCUMENT_LEN
from confide.protocol.documents import SIGNATURE_LEN as DOCUMENT_SIGNATURE_LEN
from confide.protocol.envelope import (
    DELIVERY_TOKEN_LEN,
    ENVELOPE_HEADER_LEN,
    ENVELOPE_ID_LEN,
    MAX_BATCH,
    MAX_ENVELOPE_LEN,
    MAX_IDS_PER_REQUEST,
)

from .config import DEFAULT_MAX_BLOB_BYTES
from .limits import (
    LINK_CHANNEL_LEN,
    LINK_CHANNEL_TTL_S,
    LINK_SLOTS,
    MAX_BATCH_BODY,
    MAX_DEVICES_PER_ACCOUNT,
    MAX_DOCUMENT_BODY,
    MAX_JSON_BODY,
    MAX_KEM_ONE_TIME_UPLOAD,
    MAX_LINK_MESSAGE,
    MAX_ONE_TIME_UPLOAD,
    MAX_TOKEN_HASHES,
    PUBLISHED_KINDS,
    WORK_CHALLENGE_TTL_S,
)
from .ranges import MAX_RANGE_HEADER_LEN

WORK_CHALLENGE_LEN = 8 + 16
"""A registration challenge: its expiry (u64 unix seconds) and 16 bytes of HMAC-SHA256 over it."""

WORK_NONCE_MAX = 16
"""Longest registration work nonce (``protocol/auth.py`` ``work_ok``); clients send 8 bytes."""

MAX_LIFETIME_PARAM = 0xFFFFFFFF
"""``?lifetime=`` is a u32 of seconds like an envelope's ``lifetime_s``; the operator maximum caps it."""

BATCH_MIN_BODY = 2 + 4 + ENVELOPE_HEADER_LEN
"""Shortest batch body: a u16 count of 1, one u32 length and one envelope with an empty ciphertext."""

DOCUMENT_MIN_BODY = DOCUMENT_HEADER_LEN + 2 + DOCUMENT_SIGNATURE_LEN
"""Shortest document a relay can store: header, the shortest published body (an empty revocation list or
directory: a u16 count of 0) and the signature (SPEC section 12)."""

_B64 = "[A-Za-z0-9+/]"
_HEX = "[0-9a-f]"
_B32 = "[a-z2-7]"
_ADDRESS_PATTERN = f"^cf1(?:-{_B32}{{4}}){{10}}$"
_BLOB_ID_PATTERN = "^[A-Za-z0-9_-]{43}$"
_SHA256_HEX = 32


def _b64_body(n: int) -> str:
    """The canonical standard base64 (with padding, zero trailing bits) of exactly ``n`` bytes, unanchored."""
    full, rest = divmod(n, 3)
    head = f"{_B64}{{{4 * full}}}" if full else ""
    if rest == 1:
        return head + f"{_B64}[AQgw]=="
    if rest == 2:
        return head + f"{_B64}{{2}}[AEIMQUYcgkosw048]="
    return head


def b64_pattern(n: int) -> str:
    """A pattern matching the canonical base64 of exactly ``n`` bytes, and nothing else."""
    return f"^{_b64_body(n)}$"


def _b64_upto_pattern(groups: int) -> str:
    """Canonical base64 of at most ``groups`` full 4-character groups and one partial one (a simple regex:
    an alternation of every length makes generators filter nearly every draw)."""
    return f"^(?:{_B64}{{4}}){{0,{groups}}}(?:{_B64}[AQgw]==|{_B64}{{2}}[AEIMQUYcgkosw048]=)?$"


def _b64_len(n: int) -> int:
    return (n + 2) // 3 * 4


PATTERN_MAX_BYTES = 256
"""Fields up to this size carry a pattern with the exact repetition count; longer ones (ML-KEM keys, 1,253
bytes) a pattern of whole groups and the canonical tail, with ``minLength`` = ``maxLength`` fixing the count
(together just as exact): schema-driven generators filter nearly every draw of a 1,672-character exact regex."""


def _b64_groups_pattern(n: int) -> str:
    rest = n % 3
    tail = {0: "", 1: f"{_B64}[AQgw]==", 2: f"{_B64}{{2}}[AEIMQUYcgkosw048]="}[rest]
    return f"^(?:{_B64}{{4}})*{tail}$"


def b64_schema(n: int, description: str) -> dict[str, Any]:
    """The schema of a base64 field of exactly ``n`` bytes."""
    length = _b64_len(n)
    return {
        "type": "string",
        "pattern": b64_pattern(n) if n <= PATTERN_MAX_BYTES else _b64_groups_pattern(n),
        "minLength": length,
        "maxLength": length,
        "description": f"{description}: {n} bytes, standard base64 with padding",
    }


def _b64_list(n: int, max_items: int, description: str) -> dict[str, Any]:
    return {"type": "array", "maxItems": max_items, "items": b64_schema(n, description)}


def _hex(n: int, description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": f"^{_HEX}{{{2 * n}}}$",
        "minLength": 2 * n,
        "maxLength": 2 * n,
        "description": f"{description}: {n} bytes, lowercase hex",
    }


def _int(low: int, high: int, description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, "description": description}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


_U64 = 2**63 - 1
"""Largest integer in an answer (millisecond and second timestamps, counts)."""

# -- bodies ----------------------------------------------------------------------------------------

_PREKEYS = {
    "signed_prekey": b64_schema(SIGNED_PREKEY_LEN, "signed X25519 prekey (keys/prekeys.py SignedPreKeyPublic)"),
    "kem_last_resort": b64_schema(KEM_PREKEY_LEN, "last-resort ML-KEM-768 prekey (keys/prekeys.py KemPreKeyPublic)"),
    "one_time_prekeys": _b64_list(ONE_TIME_PREKEY_LEN, MAX_ONE_TIME_UPLOAD, "one-time X25519 prekey"),
    "kem_one_time_prekeys": _b64_list(KEM_PREKEY_LEN, MAX_KEM_ONE_TIME_UPLOAD, "one-time ML-KEM-768 prekey"),
}
_TOKEN_HASHES = _b64_list(DELIVERY_TOKEN_LEN, MAX_TOKEN_HASHES, "delivery_token_hash(token)")

_REGISTRATION = _object(
    {
        "identity": b64_schema(IDENTITY_PUBLIC_LEN, "public identity (keys/identity.py)"),
        "device": b64_schema(DEVICE_CERT_LEN, "device certificate signed by the identity (keys/device.py)"),
        "delivery_token_hashes": _TOKEN_HASHES,
        **_PREKEYS,
        "work_challenge": b64_schema(WORK_CHALLENGE_LEN, "a challenge of GET /v1/accounts/challenge"),
        "work_nonce": {
            "type": "string",
            "pattern": _b64_upto_pattern(WORK_NONCE_MAX // 3),
            "maxLength": _b64_len(WORK_NONCE_MAX),
            "description": f"registration work: at most {WORK_NONCE_MAX} bytes (a longer one is 403 "
            "work_required), standard base64 with padding",
        },
    },
    ["identity", "device", "delivery_token_hashes", "signed_prekey", "kem_last_resort"],
)


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": True,
        "description": f"a JSON object of at most {MAX_JSON_BODY} bytes (Content-Type may be left out)",
        "content": {"application/json": {"schema": schema}},
    }


def _octet_body(min_len: int, max_len: int, description: str) -> dict[str, Any]:
    schema = {"type": "string", "format": "binary", "minLength": min_len, "maxLength": max_len}
    return {"required": True, "description": description, "content": {"application/octet-stream": {"schema": schema}}}


# -- answers ---------------------------------------------------------------------------------------

_ERROR_CODES = [
    "bad_request",
    "malformed",
    "unauthorized",
    "forbidden",
    "work_required",
    "not_found",
    "method_not_allowed",
    "conflict",
    "device_removed",
    "expired",
    "too_large",
    "unsupported_media_type",
    "range_not_satisfiable",
    "rate_limited",
    "mailbox_full",
    "unavailable",
    "insufficient_storage",
]

_ERROR_DESCRIPTIONS = {
    "400": "malformed request, body, field or parameter (`malformed`, `bad_request`), or a document past its "
    "expiry (`expired`)",
    "401": "missing, malformed, expired, replayed or wrong device signature (`unauthorized`)",
    "403": "not allowed (`forbidden`: e.g. a device its account's device list does not name), or registration "
    "without valid work (`work_required`)",
    "404": "no such address, device, attachment or document (`not_found`)",
    "409": "the envelope id is already used for another device, or the relay holds a newer version of the document "
    "(`conflict`)",
    "410": "the device was removed from its account by a newer signed device list (`device_removed`); it can no "
    "longer send, receive or register again unless a newer list names it",
    "413": "the body is over its limit (`too_large`)",
    "415": "the body is declared as another media type (`unsupported_media_type`)",
    "416": "the byte range starts at or past the end of the attachment (`range_not_satisfiable`); "
    "`Content-Range: bytes */size` gives its size",
    "429": "over a rate limit, byte budget, quota or mailbox (`rate_limited`, `mailbox_full`)",
    "503": "shutting down or too many open sockets (`unavailable`); retry later",
    "507": "storage budget or disk reserve reached (`insufficient_storage`); nothing stored, retry later",
}


def _errors(*statuses: int) -> dict[str, Any]:
    """Error answers: every operation may answer 400 (aiohttp refuses a malformed request), 429 (the per-address
    rate limit) and 503 (shutting down), plus ``statuses``."""
    codes = sorted({400, 429, 503, *statuses})
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in codes}


def _ok(description: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}}


_COUNTS = _object(
    {
        "one_time": _int(0, _U64, "one-time X25519 prekeys held"),
        "kem_one_time": _int(0, _U64, "one-time ML-KEM prekeys held"),
        "signed_prekey_id": _int(0, 2**32 - 1, "id of the current signed prekey"),
        "kem_last_resort_id": _int(0, 2**32 - 1, "id of the current last-resort ML-KEM prekey"),
    },
    ["one_time", "kem_one_time", "signed_prekey_id", "kem_last_resort_id"],
)
_ADDRESS = {"type": "string", "pattern": _ADDRESS_PATTERN, "description": "text form cf1-xxxx-...-xxxx"}
_STORED = _object(
    {
        "envelope_id": _hex(ENVELOPE_ID_LEN, "envelope id"),
        "expires_at_ms": _int(0, _U64, "when the relay forgets it (unix milliseconds)"),
    },
    ["envelope_id", "expires_at_ms"],
)
_BATCH_RESULT = _object(
    {
        "envelope_id": _hex(ENVELOPE_ID_LEN, "envelope id"),
        "status": {
            "type": "string",
            "enum": [
                "stored",
                "duplicate",
                "not_found",
                "device_removed",
                "forbidden",
                "conflict",
                "mailbox_full",
                "rate_limited",
            ],
        },
        "expires_at_ms": _int(0, _U64, "when the relay forgets it (stored or duplicate only)"),
    },
    ["envelope_id", "status"],
)
_BLOB_ID = {"type": "string", "pattern": _BLOB_ID_PATTERN, "description": "base64url (no padding) of 32 bytes"}


_REGISTERED = _object({"address": _ADDRESS, "device_id": _hex(DEVICE_ID_LEN, "device id")}, ["address", "device_id"])
_CHALLENGE = _object(
    {
        "challenge": b64_schema(WORK_CHALLENGE_LEN, "challenge"),
        "bits": _int(0, MAX_WORK_BITS, "leading zero bits asked (0 = none)"),
        "expires_at": _int(0, _U64, f"unix seconds, {WORK_CHALLENGE_TTL_S} s from now"),
    },
    ["challenge", "bits", "expires_at"],
)
_BUNDLES = _object(
    {
        "address": _ADDRESS,
        "devices": {
            "type": "array",
            "minItems": 1,
            "items": _object(
                {
                    "device_id": _hex(DEVICE_ID_LEN, "device id"),
                    "bundle": {
                        "type": "string",
                        "pattern": f"^(?:{_B64}{{4}})*(?:{_B64}{{2}}==|{_B64}{{3}}=)?$",
                        "description": "PreKeyBundle.to_bytes(), standard base64",
                    },
                },
                ["device_id", "bundle"],
            ),
        },
        "device_list": {
            "type": "string",
            "pattern": f"^(?:{_B64}{{4}})*(?:{_B64}{{2}}==|{_B64}{{3}}=)?$",
            "maxLength": _b64_len(MAX_DEVICES_DOCUMENT_LEN),
            "description": "the address's signed device list (SPEC section 12, kind 6), standard base64; absent when "
            "it has none. The devices above are the ones it names.",
        },
    },
    ["address", "devices"],
)
_PAGE = _object(
    {
        "messages": {
            "type": "array",
            "maxItems": MAX_IDS_PER_REQUEST,
            "items": {"type": "string", "description": "Delivery bytes (protocol/envelope.py), standard base64"},
        },
        "more": {"type": "boolean"},
    },
    ["messages", "more"],
)
_BATCH = _object(
    {"results": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": _BATCH_RESULT}}, ["results"]
)
_UPLOADED = _object(
    {
        "blob_id": _BLOB_ID,
        "size": _int(0, _U64, "bytes stored"),
        "expires_at_ms": _int(0, _U64, "when the relay forgets it (unix milliseconds)"),
    },
    ["blob_id", "size", "expires_at_ms"],
)
_DOCUMENT_KIND = {
    "type": "string",
    "enum": list(PUBLISHED_KINDS),
    "pattern": f"^(?:{'|'.join(PUBLISHED_KINDS)})$",
    "description": "a published document kind (SPEC section 12; a credential is never published alone)",
}
_PUBLISHED = _object(
    {
        "address": _ADDRESS,
        "kind": {"type": "string", "enum": list(PUBLISHED_KINDS)},
        "version": _int(0, 2**64 - 1, "the document's version"),
        "expires_at": _int(0, _U64, "the document's expiry (unix seconds); the relay forgets it then"),
    },
    ["address", "kind", "version", "expires_at"],
)
_LINK_CHANNEL = _hex(LINK_CHANNEL_LEN, "a link channel, SHA-256 of the link code's channel bits")
_LINK_SLOT = {
    "type": "string",
    "pattern": f"^[0-{LINK_SLOTS - 1}]$",
    "description": f"a slot of the channel, 0 to {LINK_SLOTS - 1}",
}
_LINK_MESSAGE = {"type": "string", "format": "binary", "minLength": 1, "maxLength": MAX_LINK_MESSAGE}
_LINK_WRITTEN = _object({"slot": _int(0, LINK_SLOTS - 1, "the slot written")}, ["slot"])
_HEALTH = _object({"status": {"type": "string", "enum": ["ok"]}, "version": {"type": "string"}}, ["status", "version"])


def _link(operation_id: str, parameter: str, expression: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": {parameter: expression}}


# -- operations ------------------------------------------------------------------------------------

_DEVICE_SIGNATURE = ["deviceId", "timestamp", "nonce", "contentSha256", "signature"]
_AUTH: list[dict[str, list[str]]] = [{name: [] for name in _DEVICE_SIGNATURE}]
"""One security requirement naming all five headers: a device proof is all of them together."""


def _op(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    auth: bool = False,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if auth:  # a device its account's list removed is told so on every signed request
        responses = {**responses, "410": {"$ref": "#/components/responses/E410"}}
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "responses": responses}
    op["security"] = _AUTH if auth else []
    if body is not None:
        op["requestBody"] = body
    if parameters:
        op["parameters"] = parameters
    return op


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": schema["description"], "schema": schema}


def _query_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": schema["description"], "schema": schema}


_RANGE = {
    "name": "Range",
    "in": "header",
    "required": False,
    "description": "resume a download: one byte range, `bytes=first-last`, `bytes=first-` or `bytes=-suffix` "
    f"(at most {MAX_RANGE_HEADER_LEN} characters); any other value is accepted and ignored: the whole "
    "attachment is sent",
    "schema": {"type": "string"},
}


def _security_schemes() -> dict[str, Any]:
    def header(name: str, text: str) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": name, "description": text}

    return {
        "deviceId": header(H_DEVICE, f"the signing device's id: {DEVICE_ID_LEN} bytes, {2 * DEVICE_ID_LEN} hex digits"),
        "timestamp": header(
            H_TIMESTAMP,
            f"unix seconds, decimal (at most 12 digits), within {REPLAY_WINDOW_S} s of the relay's clock",
        ),
        "nonce": header(
            H_NONCE, f"{NONCE_LEN} fresh random bytes, {2 * NONCE_LEN} hex digits, never reused by the device"
        ),
        "contentSha256": header(
            H_CONTENT,
            f"SHA-256 of the exact request body, {2 * _SHA256_HEX} lowercase hex digits (of the empty string "
            "when there is no body)",
        ),
        "signature": header(
            H_SIGNATURE,
            "Ed25519 signature by the device key, base64url without padding (86 characters), over the UTF-8 "
            'string "Confide-auth-v1\\n" METHOD "\\n" PATH?QUERY "\\n" TIMESTAMP "\\n" NONCE "\\n" CONTENT-SHA256, '
            "where PATH?QUERY is the raw request target as sent (protocol/auth.py sign_request). The five "
            "headers are one proof: all are required together.",
        ),
    }


def _responses() -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    out: dict[str, Any] = {}
    for status, text in _ERROR_DESCRIPTIONS.items():
        out[f"E{status}"] = {"description": text, "content": {"application/json": {"schema": error}}}
    return out


def openapi_document(version: str, *, max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES) -> dict[str, Any]:
    """The OpenAPI 3.0 document of relay API v1 (``max_blob_bytes``: this relay's attachment cap)."""
    limit = _query_param(
        "limit", _int(1, MAX_IDS_PER_REQUEST, f"envelopes per page, 1..{MAX_IDS_PER_REQUEST} (default 100)")
    )
    lifetime = _query_param(
        "lifetime", _int(0, MAX_LIFETIME_PARAM, "seconds to keep it; 0 or absent = the operator maximum")
    )
    blob_id = _path_param("blob_id", _BLOB_ID)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Confide relay",
            "version": version,
            "description": "Stores only ciphertext and public keys, and forgets on time. Operations with a "
            "`security` requirement are signed by a registered device (docs/relay-api.md).",
        },
        "paths": {
            "/v1/accounts": {
                "post": _op(
                    "register",
                    "Register an identity and a device, signed by that device, with proof of work over a challenge "
                    "of GET /v1/accounts/challenge (work fields may be left out when it asks 0 bits)",
                    {
                        **_ok("same identity and device again: keys and tokens replaced", _REGISTERED),
                        **_ok("registered", _REGISTERED, "201"),
                        **_errors(401, 403, 413, 415, 507),
                    },
                    auth=True,
                    body=_json_body(_REGISTRATION),
                )
            },
            "/v1/accounts/challenge": {
                "get": _op(
                    "challenge",
                    "A registration challenge: SHA-256(label, challenge, device id, nonce) must have `bits` "
                    "leading zero bits (protocol/auth.py work_digest); nothing is stored",
                    {**_ok("a challenge", _CHALLENGE), **_errors()},
                )
            },
            "/v1/accounts/{address}/bundle": {
                "get": _op(
                    "bundle",
                    "Fetch a prekey bundle per device (only those its signed device list names, with the list), "
                    "consuming one-time keys within the address's budget",
                    {**_ok("one bundle per device", _BUNDLES), **_errors(404)},
                    parameters=[_path_param("address", _ADDRESS)],
                )
            },
            "/v1/prekeys": {
                "get": _op(
                    "prekeyCounts",
                    "Prekey counts of the calling device",
                    {**_ok("counts", _COUNTS), **_errors(401, 413)},
                    auth=True,
                ),
                "put": _op(
                    "putPrekeys",
                    "Refill one-time prekeys and/or rotate the signed and last-resort prekeys",
                    {**_ok("counts", _COUNTS), **_errors(401, 413, 415)},
                    auth=True,
                    body=_json_body(_object(_PREKEYS, [])),
                ),
            },
            "/v1/delivery-tokens": {
                "put": _op(
                    "putDeliveryTokens",
                    "Replace the calling device's delivery-token hashes",
                    {
                        **_ok("hashes held", _object({"count": _int(0, MAX_TOKEN_HASHES, "hashes held")}, ["count"])),
                        **_errors(401, 413, 415),
                    },
                    auth=True,
                    body=_json_body(_object({"token_hashes": _TOKEN_HASHES}, ["token_hashes"])),
                )
            },
            "/v1/recovery-key": {
                "put": _op(
                    "putRecoveryKey",
                    "Register or replace the calling identity's recovery authority key (an Ed25519 public key): a "
                    "device list signed with it is kept from a device the relay does not know yet (a restore)",
                    {
                        **_ok("registered", _object({"address": _ADDRESS}, ["address"])),
                        **_errors(401, 413, 415),
                    },
                    auth=True,
                    body=_json_body(_object({"key": b64_schema(32, "the recovery authority's public key")}, ["key"])),
                )
            },
            "/v1/messages": {
                "post": _op(
                    "send",
                    "Send one sealed-sender envelope (idempotent by envelope id)",
                    {
                        **_ok("duplicate: already stored", _STORED),
                        **_ok("stored", _STORED, "201"),
                        **_errors(403, 404, 409, 410, 413, 415, 507),
                    },
                    body=_octet_body(
                        ENVELOPE_HEADER_LEN, MAX_ENVELOPE_LEN, "one Envelope (protocol/envelope.py Envelope.to_bytes)"
                    ),
                ),
                "get": _op(
                    "pull",
                    "Pull the oldest envelopes of the caller's mailbox",
                    {**_ok("a page", _PAGE), **_errors(401, 413)},
                    auth=True,
                    parameters=[limit],
                ),
            },
            "/v1/messages/batch": {
                "post": _op(
                    "sendBatch",
                    f"Send 1 to {MAX_BATCH} envelopes in one transaction; a status per envelope",
                    {**_ok("a result per envelope, in order", _BATCH), **_errors(413, 415, 507)},
                    body=_octet_body(BATCH_MIN_BODY, MAX_BATCH_BODY, "a batch (protocol/envelope.py encode_batch)"),
                )
            },
            "/v1/messages/ack": {
                "post": _op(
                    "ack",
                    "Delete envelopes from the caller's own mailbox (other ids are ignored)",
                    {
                        **_ok(
                            "envelopes deleted",
                            _object({"deleted": _int(0, MAX_IDS_PER_REQUEST, "deleted")}, ["deleted"]),
                        ),
                        **_errors(401, 413, 415),
                    },
                    auth=True,
                    body=_json_body(
                        _object(
                            {
                                "ids": {
                                    "type": "array",
                                    "maxItems": MAX_IDS_PER_REQUEST,
                                    "items": _hex(ENVELOPE_ID_LEN, "envelope id"),
                                }
                            },
                            ["ids"],
                        )
                    ),
                )
            },
            "/v1/ws": {
                "get": _op(
                    "websocket",
                    "WebSocket (on an Upgrade request): binary Delivery frames (backlog, then live); text frames "
                    '{"ack": [ids]}; without an Upgrade the signed request is refused with 400',
                    {"101": {"description": "switching protocols"}, **_errors(401, 413)},
                    auth=True,
                )
            },
            "/v1/blobs": {
                "post": _op(
                    "upload",
                    "Upload an encrypted attachment (streamed, capped; the signed body hash is checked at the end)",
                    {
                        "201": {
                            "description": "stored",
                            "content": {"application/json": {"schema": _UPLOADED}},
                            "links": {
                                "download": _link("download", "blob_id", "$response.body#/blob_id"),
                                "delete": _link("deleteBlob", "blob_id", "$response.body#/blob_id"),
                            },
                        },
                        **_errors(401, 413, 415, 507),
                    },
                    auth=True,
                    body=_octet_body(0, max_blob_bytes, f"the encrypted attachment, at most {max_blob_bytes} bytes"),
                    parameters=[lifetime],
                )
            },
            "/v1/blobs/{blob_id}": {
                "get": _op(
                    "download",
                    "Download an attachment (streamed) by its unguessable id",
                    {
                        "200": {
                            "description": "the whole attachment (no Range header, or one the relay ignores: another "
                            "unit, several ranges, not a byte range)",
                            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        "206": {
                            "description": "the bytes of the one range asked for",
                            "headers": {
                                "Content-Range": {
                                    "description": "which bytes: `bytes first-last/size`",
                                    "schema": {"type": "string", "pattern": r"^bytes \d+-\d+/\d+$"},
                                }
                            },
                            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        **_errors(404, 416),
                    },
                    parameters=[blob_id, _RANGE],
                ),
                "delete": _op(
                    "deleteBlob",
                    "Delete an attachment (uploader only)",
                    {"204": {"description": "deleted"}, **_errors(401, 403, 404, 413)},
                    auth=True,
                    parameters=[blob_id],
                ),
            },
            "/v1/documents/{address}": {
                "put": _op(
                    "publishDocument",
                    "Publish a signed document (directory, revocations, availability, policy, devices) under its "
                    "signer's address, which must be registered here; kept only if newer than the one held. A "
                    f"device list names at most {MAX_DEVICES_PER_ACCOUNT} devices; storing a newer one removes "
                    "every registered device of the address it does not name. A device list is taken only from "
                    "a registered device of that identity (a signed request) or with the identity's recovery "
                    f"authority (header {H_RECOVERY}); other documents sign themselves and need neither",
                    {
                        **_ok("this exact document is already held", _PUBLISHED),
                        **_ok("stored as the newest of its kind", _PUBLISHED, "201"),
                        **_errors(401, 403, 409, 410, 413, 415, 507),
                    },
                    body=_octet_body(
                        DOCUMENT_MIN_BODY,
                        MAX_DOCUMENT_BODY,
                        "one signed document (protocol/documents.py SignedDocument.to_bytes)",
                    ),
                    parameters=[_path_param("address", _ADDRESS)],
                )
            },
            "/v1/documents/{address}/{kind}": {
                "get": _op(
                    "fetchDocument",
                    "Fetch the newest unexpired document of a kind published under an address (unsigned request)",
                    {
                        "200": {
                            "description": "the signed document's bytes, to verify with protocol/documents.py "
                            "parse_document",
                            "content": {
                                "application/octet-stream": {
                                    "schema": {
                                        "type": "string",
                                        "format": "binary",
                                        "minLength": DOCUMENT_MIN_BODY,
                                        "maxLength": MAX_DOCUMENT_BODY,
                                    }
                                }
                            },
                        },
                        **_errors(404),
                    },
                    parameters=[_path_param("address", _ADDRESS), _path_param("kind", _DOCUMENT_KIND)],
                )
            },
            "/v1/links/{channel}/{slot}": {
                "put": _op(
                    "putLinkMessage",
                    "Write a device-link message into a slot, once (unsigned: the link exchange is authenticated "
                    f"end to end by its code); the channel lives {LINK_CHANNEL_TTL_S} s from its first write",
                    {
                        **_ok("these exact bytes are already in the slot", _LINK_WRITTEN),
                        **_ok("written", _LINK_WRITTEN, "201"),
                        **_errors(409, 413, 415, 507),
                    },
                    body={
                        "required": True,
                        "description": f"one link message (protocol/link.py), 1 to {MAX_LINK_MESSAGE} bytes",
                        "content": {"application/octet-stream": {"schema": _LINK_MESSAGE}},
                    },
                    parameters=[_path_param("channel", _LINK_CHANNEL), _path_param("slot", _LINK_SLOT)],
                ),
                "get": _op(
                    "getLinkMessage",
                    "Read a device-link message (404 until it is written and after the channel expired)",
                    {
                        "200": {
                            "description": "the message's bytes",
                            "content": {"application/octet-stream": {"schema": _LINK_MESSAGE}},
                        },
                        **_errors(404),
                    },
                    parameters=[_path_param("channel", _LINK_CHANNEL), _path_param("slot", _LINK_SLOT)],
                ),
            },
            "/v1/health": {"get": _op("health", "Liveness and version", {**_ok("alive", _HEALTH), **_errors()})},
            "/openapi.json": {
                "get": _op("openapi", "This document", {**_ok("OpenAPI 3 document", {"type": "object"}), **_errors()})
            },
        },
        "components": {
            "securitySchemes": _security_schemes(),
            "schemas": {
                "Error": _object(
                    {"error": {"type": "string", "enum": _ERROR_CODES}, "message": {"type": "string"}},
                    ["error", "message"],
                )
            },
            "responses": _responses(),
        },
    }
