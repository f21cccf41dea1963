"""The one place errors become answers: every failure is ``{"error": code, "message": text}``.

Also applies the per-client-address rate limit to every request. The address is the TCP peer, or behind a
trusted reverse proxy the one the proxy names (:mod:`confide.server.clientaddr`); handlers see it as
``request.remote``. It is used only as the key of a bucket of the backend's
:class:`~confide.server.ratelimit.RateLimiter`; it is never logged or stored.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from confide.keys.errors import ConfideError, InvalidAddress, InvalidSignature, MalformedKey
from confide.protocol.errors import AuthError, RemoteProtocolError

from .clientaddr import client_address
from .errors import HttpError
from .state import RELAY

_log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

_HTTP_MESSAGES = {
    404: "no such endpoint; see /openapi.json",
    405: "this endpoint does not take this method; see /openapi.json",
    413: "the request body is too large",
}


def error_response(status: int, code: str, message: str) -> web.Response:
    """A JSON error answer."""
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def errors_and_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Rate-limit by client address, run the handler, and map every error to a JSON 4xx (or 503)."""
    relay = request.app[RELAY]
    try:
        if relay.trusted_proxies:
            client = client_address(
                request.remote, request.headers.getall("X-Forwarded-For", []), relay.trusted_proxies
            )
            if client != request.remote:
                request = request.clone(remote=client)
        await relay.limiter.take(request.remote or "", relay.clock())
        return await handler(request)
    except HttpError as exc:
        answer = error_response(exc.status, exc.code, exc.message)
        answer.headers.update(exc.headers)
        return answer
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        status = exc.status if exc.status in _HTTP_CODES else 400
        message = _HTTP_MESSAGES.get(status, exc.reason or "bad request")
        answer = error_response(status, _HTTP_CODES[status], message)
        if isinstance(exc, web.HTTPMethodNotAllowed):  # RFC 9110 15.5.6: a 405 names the methods it takes
            answer.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return answer
    except AuthError as exc:
        return error_response(401, "unauthorized", f"device authentication failed: {exc}")
    except (RemoteProtocolError, MalformedKey, InvalidAddress, InvalidSignature) as exc:
        return error_response(400, "malformed", str(exc))
    except ConfideError as exc:
        return error_response(400, "bad_request", str(exc))
    except ConnectionError:
        raise
    except Exception as exc:
        # A bug, not a client's fault: log its type only (never the request), answer without detail.
        _log.error("relay handler failed: %s", type(exc).__name__)
        return error_response(500, "internal", "the relay failed on this request; please report it")
