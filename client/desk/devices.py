"""The Desk's Devices page: this person's devices (issue 13), removing a lost one, naming one, and approving a new
device by the code it shows.

Every handler is a call on the public :class:`~confide.client.Client` (:meth:`~confide.client.Client.devices`,
:meth:`~confide.client.Client.remove_device`, :meth:`~confide.client.Client.rename_device`,
:meth:`~confide.client.Client.approve_device`), as ``confide devices`` makes them. A device's name is the person's
own text, but it may come from another device (the one that was linked), so the template escapes it like a peer's.
"""

from __future__ import annotations

from aiohttp import web

from confide.client import (
    MAX_DEVICE_NAME_CHARS,
    Client,
    DeviceInfo,
    InvalidLinkCode,
    LinkCodeCheckFailed,
    LinkFailed,
    TooManyDevices,
)

from .actions import done, refused, refusing
from .pages import render
from .session import desk_client

MAX_CODE_CHARS = 64
"""Longest text accepted as a link code: the code is 12 characters (14 with its dashes), its QR text 28; a longer
field is not a code and is refused before the library parses it."""

ID_PREFIX_CHARS = 8
"""Fewest characters of a device id a form may give, as ``confide devices remove`` takes (the library refuses a
shorter prefix): the page shows the first 8, and two of an identity's devices sharing them is one chance in
~2^28."""

_HEX = frozenset("0123456789abcdef")


class _Refusal(Exception):
    """A form that names no single device of this identity: the sentence to show and its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _chosen(client: Client, given: str) -> DeviceInfo:
    """The one listed device whose id starts with ``given`` (at least :data:`ID_PREFIX_CHARS` hex digits).

    Raises:
        _Refusal: not an id (400), no device has it (404), or more than one starts with it (400).
    """
    text = given.lower()
    if not ID_PREFIX_CHARS <= len(text) <= 32 or not set(text) <= _HEX:
        raise _Refusal(
            f"Give the device's id as this page shows it (its first {ID_PREFIX_CHARS} characters are enough).", 400
        )
    matches = [d for d in client.devices() if d.device_id.startswith(text)]
    if not matches:
        raise _Refusal("None of your devices has that id: it may have been removed already.", 404)
    if len(matches) > 1:
        raise _Refusal("More than one of your devices starts with those characters: give more of its id.", 400)
    return matches[0]


async def devices(request: web.Request) -> web.Response:
    """``GET /devices``: the devices of this identity, newest last, this one marked; and the approve form."""
    client = desk_client(request)
    return render(
        request,
        "devices.html",
        {
            "devices": client.devices(),
            "done": request.query.get("done", ""),
            "max_name": MAX_DEVICE_NAME_CHARS,
            "max_code": MAX_CODE_CHARS,
        },
    )


def _field(form: object, name: str) -> str:
    value = form.get(name) if hasattr(form, "get") else None
    return value.strip() if isinstance(value, str) else ""


@refusing
async def remove_device(request: web.Request) -> web.Response:
    """``POST /devices/remove`` (fields ``device_id``, ``confirm`` = ``yes``): drop a lost or old device from the
    signed list; the relay closes its mailbox and contacts stop writing to it."""
    client = desk_client(request)
    form = await request.post()
    device_id = _field(form, "device_id")
    if not device_id:
        return refused(request, "Choose the device to remove.", status=400)
    if _field(form, "confirm") != "yes":  # removing cannot be undone from here: the box says so first
        return refused(request, "Tick the box to confirm: a removed device receives nothing more.", status=400)
    try:
        target = _chosen(client, device_id)
    except _Refusal as exc:
        return refused(request, exc.message, status=exc.status)
    if target.this_device:
        return refused(
            request,
            "That is the device you are using: remove it from another of your devices, or wipe this profile.",
            status=400,
        )
    await client.remove_device(target.device_id)
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
    if len(name) > MAX_DEVICE_NAME_CHARS:
        return refused(request, f"A device name is at most {MAX_DEVICE_NAME_CHARS} characters.", status=400)
    try:
        client.rename_device(_chosen(client, device_id).device_id, name)
    except _Refusal as exc:
        return refused(request, exc.message, status=exc.status)
    except ValueError:  # what the library refuses beyond the length: a control or formatting character
        return refused(request, "A device name must not hold control or formatting characters.", status=400)
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
    try:
        await client.approve_device(code, history=_field(form, "history") == "yes")
    except InvalidLinkCode:
        return refused(
            request, "That is not a link code: type the 12 letters and digits the new device shows.", status=400
        )
    except LinkCodeCheckFailed:
        return refused(
            request,
            "The code did not match the one the new device shows (a typing mistake, or someone interfered); "
            "nothing changed: start again on the new device for a new code.",
            status=400,
        )
    except TooManyDevices:
        return refused(request, "You have as many devices as an identity can have: remove one first.", status=409)
    except LinkFailed:
        return refused(
            request,
            "The new device did not complete the link (it gave up or timed out, or another device answered first); "
            "nothing changed: start again on the new device for a new code.",
            status=409,
        )
    return done(request, "/devices?done=approved")
