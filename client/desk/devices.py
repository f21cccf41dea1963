"""The Desk's Devices page: this person's devices (issue 13), removing a lost one, naming one, and approving a new
device by the code it shows.

Every handler is a call on the public :class:`~confide.client.Client` (:meth:`~confide.client.Client.devices`,
:meth:`~confide.client.Client.remove_device`, :meth:`~confide.client.Client.rename_device`,
:meth:`~confide.client.Client.approve_device`), as ``confide devices`` makes them. A device's name is the person's
own text, but it may come from another device (the one that was linked), so the template escapes it like a peer's.
"""

from __future__ import annotations

from aiohttp import web

from .actions import MAX_NAME_CHARS, done, refused, refusing
from .pages import render
from .session import desk_client

MAX_CODE_CHARS = 64
"""Longest text accepted as a link code: the code is 12 characters (14 with its dashes), its QR text 28; a longer
field is not a code and is refused before the library parses it."""


async def devices(request: web.Request) -> web.Response:
    """``GET /devices``: the devices of this identity, newest last, this one marked; and the approve form."""
    client = desk_client(request)
    return render(
        request,
        "devices.html",
        {
            "devices": client.devices(),
            "done": request.query.get("done", ""),
        },
    )


def _field(form: object, name: str) -> str:
    value = form.get(name) if hasattr(form, "get") else None
    return value.strip() if isinstance(value, str) else ""


@refusing
async def remove_device(request: web.Request) -> web.Response:
    """``POST /devices/remove`` (field ``device_id``): drop a lost or old device from the signed list; the relay
    closes its mailbox and contacts stop writing to it."""
    client = desk_client(request)
    form = await request.post()
    device_id = _field(form, "device_id")
    if not device_id:
        return refused(request, "Choose the device to remove.", status=400)
    await client.remove_device(device_id)
    return done(request, "/devices?done=removed")


@refusing
async def rename_device(request: web.Request) -> web.Response:
    """``POST /devices/rename`` (fields ``device_id``, ``name``): the name this person's devices show for one of
    them (never published)."""
    client = desk_client(request)
    form = await request.post()
    device_id, name = _field(form, "device_id"), _field(form, "name")
    if not device_id or not name:
        return refused(request, "Give the device a name.", status=400)
    if len(name) > MAX_NAME_CHARS:
        return refused(request, f"A device name is at most {MAX_NAME_CHARS} characters.", status=400)
    client.rename_device(device_id, name)
    return done(request, "/devices?done=renamed")


@refusing
async def approve_device(request: web.Request) -> web.Response:
    """``POST /devices/approve`` (fields ``code``, ``history``): authorise the new device that shows this code, and
    send it recent history unless the box is unchecked. It runs while the new device waits (it started first)."""
    client = desk_client(request)
    form = await request.post()
    code = _field(form, "code")
    if not code or len(code) > MAX_CODE_CHARS:
        return refused(request, "Type the code the new device shows (12 letters and digits).", status=400)
    await client.approve_device(code, history=_field(form, "history") == "yes")
    return done(request, "/devices?done=approved")
