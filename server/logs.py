"""What the relay may write to its logs: no request line, no client address, no identifier, no traceback.

aiohttp's own loggers would otherwise write, for a malformed request (an over-long URL, a bad method), "Error
handling request from <IP>" with a traceback that quotes the request line, which can hold an address or a
device id. :func:`quiet_aiohttp` puts a filter on each of aiohttp's loggers that keeps the event (its level and
the exception's type) and drops everything else; there is no access log at all (``access_log=None``). The
relay's own log lines carry only exception type names.

Also here: the ``Server`` header, which aiohttp sets to its and Python's versions (telling a scanner which
known bugs to try); the relay answers :data:`SERVER_HEADER` instead.
"""

from __future__ import annotations

import logging

from aiohttp import web, web_response

AIOHTTP_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
)
"""Every logger aiohttp writes to (``aiohttp.log``)."""

SERVER_HEADER = "confide"
"""The ``Server`` header of every answer: names the software, not its version."""


class RedactAiohttp(logging.Filter):
    """Rewrite a record to a fixed text and the exception's type name: no arguments (the client address), no
    request line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.exc_info[1] if record.exc_info else None
        record.msg = "aiohttp: request refused" if kind is None else f"aiohttp: {type(kind).__name__}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


_FILTER = RedactAiohttp()


def quiet_aiohttp() -> None:
    """Install the redacting filter on aiohttp's loggers and the version-free ``Server`` default (idempotent).

    The default also covers the answers aiohttp writes itself for requests it cannot parse, which never reach
    the application's ``on_response_prepare``.
    """
    for name in AIOHTTP_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
    web_response.SERVER_SOFTWARE = SERVER_HEADER  # type: ignore[attr-defined]


async def server_header(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: answer :data:`SERVER_HEADER` as ``Server``, whatever aiohttp would say."""
    response.headers["Server"] = SERVER_HEADER
