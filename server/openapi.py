"""The relay's OpenAPI 3 document, written by hand from docs/relay-api.md; a test keeps it equal to the
routes of :func:`confide.server.create_app`."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/responses/Error"}
_FULL = {"507": {"$ref": "#/components/responses/Error"}}
"""Routes that store new data answer 507 ``insufficient_storage`` when the relay's storage budget or its disk
reserve is reached (nothing is stored; what is held stays)."""
_AUTH: list[dict[str, list[str]]] = [{"deviceSignature": []}]
_JSON_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
_OCTET_BODY = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


def _json_ok(description: str, status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    auth: bool = False,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, "4XX": _ERROR}}
    op["security"] = _AUTH if auth else []
    if body is not None:
        op["requestBody"] = body
    if parameters:
        op["parameters"] = parameters
    return op


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _query_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of relay API v1."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Confide relay",
            "version": version,
            "description": "Stores only ciphertext and public keys, and forgets on time.",
        },
        "paths": {
            "/v1/accounts": {
                "post": _op(
                    "Register an identity and a device (signed by that device), with proof of work: fields "
                    "work_challenge (from /v1/accounts/challenge) and work_nonce (base64); 403 work_required "
                    "without valid work",
                    {
                        **_json_ok("same identity and device again: keys replaced"),
                        **_json_ok("registered: {address, device_id}", "201"),
                        **_FULL,
                    },
                    auth=True,
                    body=_JSON_BODY,
                )
            },
            "/v1/accounts/challenge": {
                "get": _op(
                    "A registration challenge: SHA-256(label, challenge, device id, nonce) must have `bits` "
                    "leading zero bits (protocol/auth.py work_digest)",
                    _json_ok("{challenge (base64), bits, expires_at}"),
                )
            },
            "/v1/accounts/{address}/bundle": {
                "get": _op(
                    "Fetch a prekey bundle per device, consuming one-time keys within budget",
                    _json_ok("{address, devices: [{device_id, bundle}]}"),
                    parameters=[_path_param("address", "text form cf1-...")],
                )
            },
            "/v1/prekeys": {
                "get": _op("Prekey counts of the calling device", _json_ok("counts"), auth=True),
                "put": _op("Refill or rotate prekeys", _json_ok("counts"), auth=True, body=_JSON_BODY),
            },
            "/v1/delivery-tokens": {
                "put": _op(
                    "Replace the calling device's delivery-token hashes",
                    _json_ok("{count}"),
                    auth=True,
                    body=_JSON_BODY,
                )
            },
            "/v1/messages": {
                "post": _op(
                    "Send one sealed-sender envelope (idempotent by envelope id)",
                    {
                        **_json_ok("duplicate: {envelope_id, expires_at_ms}"),
                        **_json_ok("stored: {envelope_id, expires_at_ms}", "201"),
                        **_FULL,
                    },
                    body=_OCTET_BODY,
                ),
                "get": _op(
                    "Pull the oldest envelopes of the caller's mailbox",
                    _json_ok("{messages: [base64 Delivery], more}"),
                    auth=True,
                    parameters=[_query_param("limit", "1..500, default 100")],
                ),
            },
            "/v1/messages/batch": {
                "post": _op(
                    "Send up to 256 envelopes in one transaction",
                    {**_json_ok("{results: [{envelope_id, status}]}"), **_FULL},
                    body=_OCTET_BODY,
                )
            },
            "/v1/messages/ack": {
                "post": _op(
                    "Delete envelopes from the caller's mailbox", _json_ok("{deleted}"), auth=True, body=_JSON_BODY
                )
            },
            "/v1/ws": {
                "get": _op(
                    "WebSocket: binary Delivery frames (backlog, then live); text frames {ack: [ids]}",
                    {"101": {"description": "switching protocols"}},
                    auth=True,
                )
            },
            "/v1/blobs": {
                "post": _op(
                    "Upload an encrypted attachment (streamed, capped)",
                    {**_json_ok("{blob_id, size, expires_at_ms}", "201"), **_FULL},
                    auth=True,
                    body=_OCTET_BODY,
                    parameters=[_query_param("lifetime", "seconds; 0 or absent = operator maximum")],
                )
            },
            "/v1/blobs/{blob_id}": {
                "get": _op(
                    "Download an attachment (streamed)",
                    {
                        "200": {
                            "description": "the blob",
                            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                        }
                    },
                    parameters=[_path_param("blob_id", "43 base64url characters")],
                ),
                "delete": _op(
                    "Delete an attachment (uploader only)",
                    {"204": {"description": "deleted"}},
                    auth=True,
                    parameters=[_path_param("blob_id", "43 base64url characters")],
                ),
            },
            "/v1/health": {"get": _op("Liveness and version", _json_ok("{status, version}"))},
            "/openapi.json": {"get": _op("This document", _json_ok("OpenAPI 3 document"))},
        },
        "components": {
            "securitySchemes": {
                "deviceSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Confide-Signature",
                    "description": "Ed25519 signature by the device key over method, raw path and query, "
                    "X-Confide-Timestamp, X-Confide-Nonce and X-Confide-Content-SHA256; "
                    "X-Confide-Device names the device (see protocol/auth.py).",
                }
            },
            "responses": {
                "Error": {
                    "description": "error",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["error", "message"],
                                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                            }
                        }
                    },
                }
            },
        },
    }
