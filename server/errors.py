"""Relay-side errors: each one becomes a 4xx (or 503) JSON answer ``{"error": code, "message": text}``.

Handlers raise these; :mod:`confide.server.middleware` turns them (and aiohttp's own HTTP exceptions,
and the parse errors of :mod:`confide.protocol` and :mod:`confide.keys`) into JSON. Messages tell the client's
user or developer what to do; they never echo request bodies, tokens or keys.
"""

from __future__ import annotations

from confide.keys.errors import ConfideError


class RelayError(ConfideError):
    """Base of every error the relay answers with; ``status`` and ``code`` follow docs/relay-api.md."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(RelayError):
    """The request is well-formed but asks for something not allowed (400 ``bad_request``)."""


class Malformed(RelayError):
    """The body, a field or a parameter cannot be parsed (400 ``malformed``)."""

    code = "malformed"


class Unauthorized(RelayError):
    """The device proof is missing, bad, expired or replayed (401 ``unauthorized``)."""

    status = 401
    code = "unauthorized"


class Forbidden(RelayError):
    """The caller may not do this (403 ``forbidden``), e.g. a delivery token the device did not register."""

    status = 403
    code = "forbidden"


class NotFound(RelayError):
    """No such address, device, envelope or blob (404 ``not_found``)."""

    status = 404
    code = "not_found"


class Conflict(RelayError):
    """The request contradicts what is stored (409 ``conflict``)."""

    status = 409
    code = "conflict"


class TooLarge(RelayError):
    """The body or a field is over its limit (413 ``too_large``)."""

    status = 413
    code = "too_large"


class RateLimited(RelayError):
    """Too many requests from this connection or for this address (429 ``rate_limited``)."""

    status = 429
    code = "rate_limited"


class MailboxFull(RelayError):
    """The recipient device's mailbox (or blob quota) is full (429 ``mailbox_full``)."""

    status = 429
    code = "mailbox_full"


class UnsupportedMediaType(RelayError):
    """The Content-Type is not the one this endpoint takes (415 ``unsupported_media_type``)."""

    status = 415
    code = "unsupported_media_type"


class Unavailable(RelayError):
    """The relay is shutting down or cannot take more work right now (503 ``unavailable``); retry later."""

    status = 503
    code = "unavailable"


__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "MailboxFull",
    "Malformed",
    "NotFound",
    "RateLimited",
    "RelayError",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
]
