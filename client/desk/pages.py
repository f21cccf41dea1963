"""The Desk's pages: the inbox, a thread, search, a contact's safety number (with its QR), and settings; plus
the fragments a page re-fetches when the live stream says something changed.

Every handler is a call on the public :class:`~confide.client.Client` and a template render (autoescape on:
peer text is never marked safe). A thread is named in URLs by its contact's address, never by the local name.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from confide.client import (
    Client,
    ConfideError,
    Contact,
    RelayError,
    RelayUnreachable,
    Role,
    UnknownContact,
    write_qr_png,
)

from .present import inbox_rows
from .session import desk_client

MAX_QUERY_CHARS = 200
"""Longest search text accepted: a person types words, not documents; longer queries are cut."""

SEARCH_LIMIT = 100
"""Search results shown at most (newest first): one readable page."""

TIMER_CHOICES: tuple[tuple[int, str], ...] = (
    (0, "Off"),
    (300, "5 minutes"),
    (3600, "1 hour"),
    (86400, "1 day"),
    (7 * 86400, "1 week"),
    (28 * 86400, "4 weeks"),
)
"""The disappearing timers offered in a thread's timer control (any other is typed, e.g. ``"90m"``)."""


@dataclass(frozen=True, slots=True)
class Availability:
    """What a thread shows of a therapist's availability card: the sentence (the therapist's name in it: escaped
    by the template) and whether they are in office hours now."""

    line: str
    in_office_hours: bool


def peer_of(request: web.Request) -> str:
    """The thread's contact address from the URL (``/t/{address}``)."""
    return request.match_info["address"]


def render(request: web.Request, template: str, context: dict[str, Any], *, status: int = 200) -> web.Response:
    """Render ``template`` for ``request`` (the context processor adds ``csrf`` and ``now_ms``)."""
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def error_page(request: web.Request, message: str, *, status: int) -> web.Response:
    """A page saying what went wrong in one sentence (our words, never a traceback)."""
    return render(request, "error.html", {"message": message}, status=status)


def thread_contact(request: web.Request, client: Client) -> Contact:
    """The contact of a thread URL (``/t/{address}``).

    Raises:
        web.HTTPNotFound: no contact has that address (an old link after a removal), with the error page.
    """
    try:
        return client.contact(peer_of(request))
    except UnknownContact:
        page = aiohttp_jinja2.render_string("error.html", request, {"message": "There is no such conversation."})
        raise web.HTTPNotFound(text=page, content_type="text/html") from None


def _availability(client: Client, address: str) -> Availability | None:
    with contextlib.suppress(ConfideError):
        card = client.availability(address)
        if card is not None:
            return Availability(card.line, card.in_office_hours)
    return None


def thread_context(client: Client, contact: Contact) -> dict[str, Any]:
    """What the thread page and its messages fragment show: the contact, its messages oldest first, the
    therapist's availability line, the practice's crisis notice when it is due (on a thread's first
    message, and whenever the therapist is outside office hours), and for each reportable message the practice
    its report goes to (``reports``: message id to the practice's name; a message no trusted practice can check
    now has none, and shows no report button).

    Raises:
        StorageError: the profile's store failed.
    """
    messages = client.history(contact.address)
    availability = _availability(client, contact.address)
    crisis = None
    with contextlib.suppress(ConfideError):
        notice = client.crisis_notice(contact.address)
        if notice is not None and (not notice.in_office_hours or len(messages) <= 1):
            crisis = notice
    reports: dict[str, str] = {}
    for message in messages:
        if message.reportable:
            with contextlib.suppress(ConfideError):
                practice = client.report_practice(contact.address, message.message_id)
                if practice is not None:
                    reports[message.message_id] = practice
    return {
        "contact": contact,
        "messages": messages,
        "reports": reports,
        "availability": availability,
        "crisis": crisis,
        "timer_choices": TIMER_CHOICES,
        "role": client.role,
    }


# -- pages ----------------------------------------------------------------------------------------------------
async def inbox(request: web.Request) -> web.Response:
    """``GET /``: every thread (for a client's profile, their therapists first, with availability)."""
    client = desk_client(request)
    return render(request, "inbox.html", _inbox_context(client))


async def inbox_fragment(request: web.Request) -> web.Response:
    """``GET /inbox/list``: the inbox's list alone, re-fetched by the page on a live event."""
    client = desk_client(request)
    return render(request, "_inbox_list.html", _inbox_context(client))


def _inbox_context(client: Client) -> dict[str, Any]:
    rows = inbox_rows(client)
    availability = {}
    if client.role == Role.CLIENT:
        for row in rows:
            if row.provider:
                found = _availability(client, row.contact.address)
                if found is not None:
                    availability[row.contact.address] = found
    if client.role == Role.CLIENT:
        groups = [
            ("Your therapists", [r for r in rows if r.provider]),
            ("Other conversations", [r for r in rows if not r.provider]),
        ]
        groups = [(heading, part) for heading, part in groups if part]
        if len(groups) == 1:
            groups = [("", groups[0][1])]
    else:
        groups = [("", rows)] if rows else []
    return {"groups": groups, "availability": availability, "role": client.role, "me": client.name}


async def thread(request: web.Request) -> web.Response:
    """``GET /t/{address}``: one thread. Opening it marks the peer's messages read (their timers start and
    read receipts go out)."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    with contextlib.suppress(RelayUnreachable, RelayError):  # receipts wait in the outbox meanwhile
        await client.mark_read(contact.address)
    context = thread_context(client, contact)
    context["kept"] = request.query.get("kept") == "1"
    return render(request, "thread.html", context)


async def thread_fragment(request: web.Request) -> web.Response:
    """``GET /t/{address}/messages``: the thread's messages alone (the page marks them read with a POST when it
    is visible)."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    return render(request, "_messages.html", thread_context(client, contact))


async def search(request: web.Request) -> web.Response:
    """``GET /search?q=``: messages across every thread whose text, caption or file name holds the words."""
    client = desk_client(request)
    query = request.query.get("q", "").strip()[:MAX_QUERY_CHARS]
    results = client.search(query, limit=SEARCH_LIMIT) if query else []
    addresses = {c.name: c.address for c in client.contacts()}
    return render(
        request,
        "search.html",
        {"query": query, "results": results, "addresses": addresses},
    )


async def safety(request: web.Request) -> web.Response:
    """``GET /t/{address}/safety``: the safety number's digits and QR, and the ways to mark it verified."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    try:
        number = await client.safety_number(contact.address)
    except (RelayUnreachable, RelayError):
        return error_page(request, "The relay cannot be reached to fetch this contact's keys; try again.", status=502)
    return render(request, "safety.html", {"contact": contact, "digits": number.display()})


async def safety_qr(request: web.Request) -> web.Response:
    """``GET /t/{address}/safety.png``: the safety number's QR (public key fingerprints, nothing secret)."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    try:
        number = await client.safety_number(contact.address)
    except (RelayUnreachable, RelayError):
        raise web.HTTPBadGateway(text="The relay cannot be reached.") from None
    return web.Response(body=qr_png(client, number.qr_payload()), content_type="image/png")


def qr_png(client: Client, payload: bytes) -> bytes:
    """The PNG of a QR holding ``payload``, made in the profile's private temporary folder and removed at once."""
    folder = Client.temp_dir_of(client.profile_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"qr-{os.urandom(8).hex()}.png"
    try:
        write_qr_png(payload, path)
        return Path(path).read_bytes()
    finally:
        path.unlink(missing_ok=True)


async def settings(request: web.Request) -> web.Response:
    """``GET /settings``: the profile (name, role, address) and the notification setting."""
    client = desk_client(request)
    return render(
        request,
        "settings.html",
        {
            "me": client.name,
            "role": client.role,
            "address": client.address,
            "notify_text": client.notify_text,
            "saved": request.query.get("saved") == "1",
        },
    )
