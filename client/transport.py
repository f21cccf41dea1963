"""The two channels a device talks to its relay on, kept apart so that a connection never links them.

*Signed* requests (``X-Confide-*`` device headers: registration, prekey upkeep, pulling and acknowledging the
mailbox, the live WebSocket, blob uploads and deletions) name the device anyway; they share one keep-alive
session. *Anonymous* requests (sealed sends, receipts among them; prekey-bundle fetches; blob downloads) carry
nothing that names the device, and must not be attributable to it through the TCP connection either: if they
rode the signed session's keep-alive connection, the relay (or the TLS proxy in front of it) would learn which
device sent each sealed message, fetched whose bundle and downloaded which file — who is a client of which
therapist. So the anonymous channel is its own session whose connector never reuses a connection (a fresh TCP
connection and TLS handshake per request; Python's TLS client resumes no session unless told to: two anonymous
requests are not linked to each other either), keeps no cookies, and sends only headers that every Confide
client sends alike (a constant ``User-Agent`` instead of aiohttp's versioned one, a constant ``Accept-Encoding``;
the same on both channels).

What stays visible to the relay: the IP address both channels come from and the timing (SECURITY.md question 4).
"""

from __future__ import annotations

import aiohttp

USER_AGENT = "Confide"
"""Sent on both channels instead of aiohttp's default (which names the Python and aiohttp versions): a constant
that every Confide client shares, so it distinguishes no device and no installation."""


ACCEPT_ENCODING = "identity"
"""Sent instead of aiohttp's default, which adds ``br`` or ``zstd`` when those libraries happen to be installed and
so tells installations apart. The relay's answers are small JSON or ciphertext: compressing them gains nothing."""


def _headers() -> dict[str, str]:
    return {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING}


def signed_session(timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
    """The session for requests that carry the device's signature: keep-alive, since they name the device anyway.
    Cookies are not kept (the relay sets none; a proxy's would only add a label)."""
    return aiohttp.ClientSession(timeout=timeout, headers=_headers(), cookie_jar=aiohttp.DummyCookieJar())


def anonymous_session(timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
    """The session for requests that must not be linked to the device or to one another: a new connection per
    request (``force_close``), no cookies, no identifying header."""
    connector = aiohttp.TCPConnector(force_close=True)
    return aiohttp.ClientSession(
        timeout=timeout, headers=_headers(), cookie_jar=aiohttp.DummyCookieJar(), connector=connector
    )
