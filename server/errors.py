"""Relay-side errors: each one becomes a 4xx (or 503/507) JSON answer ``{"error": code, "message": text}``.

Handlers raise these; :mod:`confide.server.middleware` turns them (and aiohttp's own HTTP exceptions,
and the parse errors of :mod:`confide.protocol` and :mod:`confide.keys`) into JSON. Messages tell the client's
user or developer what to do; they never echo request bodies, tokens or keys.
"""

from __future__ import annotations

from confide.keys.errors import ConfideError

DEVICE_REMOVED_MESSAGE = (
    "this device was removed from its account by another of its devices; it can no longer send or receive"
)
"""What a removed device is told (410 ``device_removed``), on every route and in a WebSocket's close reason."""


class HttpError(ConfideError):
    """Base of every error the relay answers with; ``status`` and ``code`` follow docs/relay-api.md.

    The relay's side of an HTTP failure; a client sees it as :class:`confide.client.RelayError`.
    """

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides the JSON body (none unless a subclass says so)."""
        return {}


class BadRequest(HttpError):
    """The request is well-formed but asks for something not allowed (400 ``bad_request``)."""


class Malformed(HttpError):
    """The body, a field or a parameter cannot be parsed (400 ``malformed``)."""

    code = "malformed"


class Expired(HttpError):
    """A signed document is past its expiry (400 ``expired``): nobody would accept it; re-sign it with a later
    ``expires_at`` (and a higher version) and publish that."""

    code = "expired"


class Unauthorized(HttpError):
    """The device proof is missing, bad, expired or replayed (401 ``unauthorized``)."""

    status = 401
    code = "unauthorized"


class Forbidden(HttpError):
    """The caller may not do this (403 ``forbidden``), e.g. a delivery token the device did not register."""

    status = 403
    code = "forbidden"


class WorkRequired(HttpError):
    """A registration without valid proof of work over a fresh challenge of this relay (403 ``work_required``):
    fetch ``GET /v1/accounts/challenge`` and do the work it asks."""

    status = 403
    code = "work_required"


class NotFound(HttpError):
    """No such address, device, envelope or blob (404 ``not_found``)."""

    status = 404
    code = "not_found"


class Conflict(HttpError):
    """The request contradicts what is stored (409 ``conflict``)."""

    status = 409
    code = "conflict"


class DeviceRemoved(HttpError):
    """The device was removed from its account by a newer signed device list (410 ``device_removed``): its
    mailbox is gone and it can no longer send, receive or register again unless a newer list names it."""

    status = 410
    code = "device_removed"

    def __init__(self, message: str = DEVICE_REMOVED_MESSAGE) -> None:
        super().__init__(message)


class TooLarge(HttpError):
    """The body or a field is over its limit (413 ``too_large``)."""

    status = 413
    code = "too_large"


class RangeNotSatisfiable(HttpError):
    """A byte range that starts past the end of an attachment (416 ``range_not_satisfiable``), answered with
    ``Content-Range: bytes */size`` so a client can resume from the right place (RFC 9110 §15.5.17)."""

    status = 416
    code = "range_not_satisfiable"

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


class RateLimited(HttpError):
    """Too many requests from this connection or for this address (429 ``rate_limited``)."""

    status = 429
    code = "rate_limited"


class MailboxFull(HttpError):
    """The recipient device's mailbox (or blob quota) is full (429 ``mailbox_full``)."""

    status = 429
    code = "mailbox_full"


class InsufficientStorage(HttpError):
    """The relay's storage budget is used up or its disk is nearly full (507 ``insufficient_storage``): nothing
    new is stored; what it holds is kept and delivered. Retry later."""

    status = 507
    code = "insufficient_storage"


class UnsupportedMediaType(HttpError):
    """The Content-Type is not the one this endpoint takes (415 ``unsupported_media_type``)."""

    status = 415
    code = "unsupported_media_type"


class Unavailable(HttpError):
    """The relay is shutting down or cannot take more work right now (503 ``unavailable``); retry later."""

    status = 503
    code = "unavailable"


__all__ = [
    "BadRequest",
    "Conflict",
    "DeviceRemoved",
    "Expired",
    "Forbidden",
    "HttpError",
    "InsufficientStorage",
    "MailboxFull",
    "Malformed",
    "NotFound",
    "RateLimited",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "WorkRequired",
]
