"""What the Desk's buttons do: send a text, upload a file (XHR with progress, then ``send_file``), save a
received file, delete for everyone, retry a failed message, set the timer, verify a safety number, export a
thread, mark a thread read, accept or rename a message request, accept or reject a changed identity, block and
unblock, download a report file for a practice, and the notification setting.

Every action is a POST carrying the CSRF token (checked by the security middleware before a handler runs)
except the two downloads, which change nothing. A form post answers with a redirect back to its page (so a
reload never repeats it); a request from the page's script (``Accept: application/json``) gets JSON. A refusal
is one readable sentence, never a traceback.

A file crosses the disk in plaintext only inside the profile's private temporary folder (mode 0700, removed by a
panic wipe), and is overwritten and deleted as soon as the library has encrypted it or the browser has it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import urllib.parse
from pathlib import Path

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler

from confide.client import (
    AttachmentError,
    Client,
    ClientError,
    ConfideError,
    ContactExists,
    DeviceRemoved,
    Direction,
    InvalidLinkCode,
    LinkCodeCheckFailed,
    LinkFailed,
    MessageStatus,
    NotReportable,
    ProtocolError,
    QRPayloadError,
    RelayError,
    RelayUnreachable,
    TooManyDevices,
    UnknownMessage,
    UntrustedIdentity,
    VerificationFailed,
    parse_duration,
    parse_qr_text,
)
from confide.client.export import thread_document

from .live import LIVE_HUB
from .pages import error_page, thread_contact
from .session import desk_client

MAX_UPLOAD_BYTES = 4 * 1024**3
"""Largest file the Desk accepts from the browser: the library's own attachment limit (4 GiB), so a file it
would refuse is stopped before it fills the disk."""

MAX_FIELD_BYTES = 64 * 1024
"""Largest text field of an upload form (the caption): far above a caption's limit, far below memory trouble."""

MAX_FILE_NAME_CHARS = 200
"""Longest file name kept for an upload (most file systems allow 255 bytes)."""

CHUNK = 256 * 1024
"""Bytes copied at a time between the browser and a temporary file: flat memory for files of any size."""

EXPORT_NAME = "confide-thread.json"
"""File name the browser offers for an exported thread (no contact name: the name would tell whose it is)."""

MAX_NAME_CHARS = 200
"""Longest local name accepted for a contact (a rename): a name is a few words; a longer one is refused."""

REPORT_NAME_ID_CHARS = 8
"""Hex digits of the message id in a report file's download name (as ``confide report`` names it): enough to
tell a day's reports apart; the whole id is inside the file."""


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def done(request: web.Request, to: str, **data: object) -> web.Response:
    """Success: JSON for the page's script, else a redirect to ``to``."""
    if _wants_json(request):
        return web.json_response({"ok": True, **data})
    raise web.HTTPSeeOther(to)


def refused(request: web.Request, message: str, *, status: int) -> web.Response:
    """A refusal in one sentence: JSON for the page's script, else the error page."""
    if _wants_json(request):
        return web.json_response({"ok": False, "error": message}, status=status)
    return error_page(request, message, status=status)


def refusing(handler: Handler) -> Handler:
    """A handler whose library call's refusal (a :class:`ConfideError`) becomes one sentence and its HTTP status
    (:func:`_why`, :func:`refused`), nothing else of the error shown."""

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConfideError as exc:
            why, status = _why(exc)
            return refused(request, why, status=status)

    return answer


REFUSALS: tuple[tuple[type[ConfideError] | tuple[type[ConfideError], ...], str, int], ...] = (
    (
        UntrustedIdentity,
        "This contact's identity changed: compare safety numbers, then accept or reject the change before writing "
        "again.",
        409,
    ),
    (
        DeviceRemoved,
        "This device was removed from your devices: it can no longer send or receive. Lock the Desk and wipe this "
        "profile, or link this device again.",
        410,
    ),
    (TooManyDevices, "You have the most devices you may have: remove one before adding another.", 409),
    (
        LinkCodeCheckFailed,
        "The code did not match (a typo, or someone interfered): nothing was changed. Start again on the new device.",
        400,
    ),
    (LinkFailed, "The new device could not be linked: nothing was changed. Start again on the new device.", 400),
    (InvalidLinkCode, "That is not a link code: type the 12 letters and digits the new device shows.", 400),
    (RelayUnreachable, "The relay cannot be reached; try again in a moment.", 502),
    (RelayError, "The relay refused it; try again later.", 502),
    (UnknownMessage, "That message is gone (deleted or expired).", 404),
    ((VerificationFailed, QRPayloadError), "That is not this contact's safety number: do not mark them verified.", 400),
    (NotReportable, "That message cannot be reported: no practice you trust can check it.", 400),
    (ContactExists, "Another contact already has that name: choose another.", 409),
    (AttachmentError, "The file could not be handled (unreadable, too large, or failed its check).", 400),
    (ClientError, "That could not be done (the text may be too long).", 400),
    (ProtocolError, "The relay or the other device sent something malformed: nothing was changed.", 502),
)
"""The sentence and HTTP status for each library refusal, the first class that matches deciding (subclasses
before their bases); anything else is a local fault (500)."""


def _why(exc: ConfideError) -> tuple[str, int]:
    """The sentence and HTTP status for a library refusal (:data:`REFUSALS`)."""
    for kinds, sentence, status in REFUSALS:
        if isinstance(exc, kinds):
            return sentence, status
    return "That could not be done; the profile's files may be damaged.", 500


async def sandbox_downloads(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` (after the security headers): a download (``Content-Disposition: attachment``) is
    also sandboxed, so even a browser that rendered it could run nothing in the Desk's origin."""
    if response.headers.get("Content-Disposition", "").startswith("attachment"):
        policy = response.headers.get("Content-Security-Policy")
        response.headers["Content-Security-Policy"] = f"{policy}; sandbox" if policy else "sandbox"


def _thread_url(address: str) -> str:
    return "/t/" + urllib.parse.quote(address, safe="")


@refusing
async def send_text(request: web.Request) -> web.Response:
    """``POST /t/{address}/send`` (field ``text``): send a text message."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    form = await request.post()
    text = form.get("text")
    if not isinstance(text, str) or not text.strip():
        return refused(request, "Write something to send.", status=400)
    message = await client.send_text(contact.address, text.replace("\r\n", "\n"))
    return done(request, _thread_url(contact.address), status=str(message.status))


def _upload_name(raw: str | None) -> str:
    base = urllib.parse.unquote(raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    cleaned = "".join(ch for ch in base if ch.isprintable())[:MAX_FILE_NAME_CHARS]
    return cleaned or "attachment"


def scrub(path: Path) -> None:
    """Overwrite a temporary plaintext file through its own inode, then delete it (best effort on the
    overwrite: a file system that copies on write may keep old blocks, see SECURITY.md)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
        try:
            left = os.fstat(fd).st_size
            while left > 0:
                step = min(left, CHUNK)
                os.write(fd, bytes(step))
                left -= step
            os.fsync(fd)
        finally:
            os.close(fd)
    path.unlink(missing_ok=True)


def _private_folder(client: Client) -> Path:
    """A fresh folder for one file, inside the profile's private temporary folder."""
    root = Client.temp_dir_of(client.profile_dir)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root / f"desk-{os.urandom(8).hex()}"
    folder.mkdir(mode=0o700)
    return folder


async def _read_field(part: BodyPartReader) -> str:
    data = await part.read_chunk(MAX_FIELD_BYTES + 1)
    if len(data) > MAX_FIELD_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FIELD_BYTES, actual_size=len(data))
    return data.decode("utf-8", "replace")


async def _receive_file(part: BodyPartReader, dest: Path) -> int:
    total = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := await part.read_chunk(CHUNK):
            total += len(chunk)
            if total > MAX_UPLOAD_BYTES:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD_BYTES, actual_size=total)
            out.write(chunk)
    return total


async def upload(request: web.Request) -> web.Response:
    """``POST /t/{address}/upload`` (multipart: ``caption``, then ``file``), sent by the page's script with
    the ``X-CSRF-Token`` header: the file is streamed to the profile's private temporary folder, encrypted and
    sent (:meth:`Client.send_file`), then overwritten and deleted."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    try:
        reader = await request.multipart()
    except (AssertionError, KeyError, ValueError):
        return refused(request, "Choose a file to send.", status=400)
    caption = ""
    folder = _private_folder(client)
    path: Path | None = None
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "caption":
                caption = (await _read_field(part)).strip()
            elif part.name == "file" and path is None:
                path = folder / _upload_name(part.filename)
                await _receive_file(part, path)
        if path is None:
            return refused(request, "Choose a file to send.", status=400)
        try:
            progress = request.app[LIVE_HUB].progress(contact.address)
            message = await client.send_file(contact.address, path, caption=caption, progress=progress)
        except ConfideError as exc:
            why, status = _why(exc)
            return refused(request, why, status=status)
        return done(request, _thread_url(contact.address), status=str(message.status))
    finally:
        if path is not None:
            scrub(path)
        with contextlib.suppress(OSError):
            folder.rmdir()


def _disposition(name: str) -> str:
    ascii_name = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "._-" else "_" for ch in name) or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


async def download(request: web.Request) -> web.StreamResponse:
    """``GET /t/{address}/files/{message_id}``: a received file's bytes, decrypted, as a download
    (``Content-Disposition: attachment``, ``application/octet-stream``, sandboxed, never cached): a file a peer
    sent is never shown as a page of the Desk."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    message_id = request.match_info["message_id"]
    found = next((m for m in client.history(contact.address) if m.message_id == message_id), None)
    if found is None or found.attachment is None or found.direction != Direction.IN:
        return error_page(request, "That file is gone (deleted or expired), or it is not one you received.", status=404)
    folder = _private_folder(client)
    try:
        try:
            path = await client.save_attachment(message_id, folder)
        except ConfideError as exc:
            why, status = _why(exc)
            return error_page(request, why, status=status)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": _disposition(path.name),
                "Cache-Control": "no-store",
            }
        )
        response.content_length = path.stat().st_size
        await response.prepare(request)
        with path.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        for leftover in folder.iterdir():
            scrub(leftover)
        with contextlib.suppress(OSError):
            folder.rmdir()


@refusing
async def delete_for_everyone(request: web.Request) -> web.Response:
    """``POST /t/{address}/delete`` (field ``message_id``): delete one of your messages here and for the peer.
    When the peer had filed it into their record, the thread page says that a filed copy remains there."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    form = await request.post()
    message_id = form.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        return refused(request, "Choose a message to delete.", status=400)
    filed = await client.delete_for_everyone(contact.address, message_id)
    return done(request, _thread_url(contact.address) + ("?kept=1" if filed else ""), filed_by_peer=filed)


def parse_timer(choice: str | None, typed: str | None) -> int:
    """The timer a form asks for: the typed duration (``"90m"``, ``"2d"``) when given, else the chosen seconds.

    Raises:
        ValueError: neither is a duration.
    """
    if typed and typed.strip():
        return parse_duration(typed.strip())
    if choice is None or not choice.isdigit():
        raise ValueError("no timer chosen")
    return int(choice)


@refusing
async def set_timer(request: web.Request) -> web.Response:
    """``POST /t/{address}/timer`` (fields ``seconds``, or ``custom`` like ``"90m"``): set the thread's timer."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    form = await request.post()
    choice, typed = form.get("seconds"), form.get("custom")
    try:
        seconds = parse_timer(choice if isinstance(choice, str) else None, typed if isinstance(typed, str) else None)
    except ValueError:
        return refused(request, "Give the timer as a duration such as 30m, 12h or 7d (or choose Off).", status=400)
    updated = await client.set_timer(contact.address, seconds)
    return done(request, _thread_url(contact.address), timer_s=updated.timer_s)


@refusing
async def verify(request: web.Request) -> web.Response:
    """``POST /t/{address}/verify``: mark the contact verified, either after comparing the digits (field
    ``confirm`` = ``yes``) or by the text a scanner read from their QR (field ``scanned``, checked)."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    form = await request.post()
    scanned, confirm = form.get("scanned"), form.get("confirm")
    if isinstance(scanned, str) and scanned.strip():
        await client.verify(contact.address, parse_qr_text(scanned.strip()))
    elif confirm == "yes":
        client.mark_verified(contact.address)
    else:
        return refused(request, "Tick the box once the numbers match, or paste the scanned text.", status=400)
    return done(request, _thread_url(contact.address) + "/safety")


@refusing
async def export(request: web.Request) -> web.Response:
    """``POST /t/{address}/export``: the thread as JSON (``confide-thread-export``), as a download. NOT
    encrypted: the page says so next to the button."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    messages = client.history(contact.address)
    doc = thread_document(client.address, contact, messages, int(time.time() * 1000))
    return web.Response(
        body=json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8"),
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{EXPORT_NAME}"',
            "Cache-Control": "no-store",
        },
    )


async def mark_read(request: web.Request) -> web.Response:
    """``POST /t/{address}/read``: the page shows the thread and is visible: mark the peer's messages read."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    with contextlib.suppress(RelayUnreachable, RelayError):
        marked = await client.mark_read(contact.address)
        return done(request, _thread_url(contact.address), marked=marked)
    return done(request, _thread_url(contact.address), marked=0)


async def save_settings(request: web.Request) -> web.Response:
    """``POST /settings`` (checkbox ``notify_text``): whether desktop notifications may show message text."""
    client = desk_client(request)
    form = await request.post()
    client.notify_text = form.get("notify_text") == "yes"
    return done(request, "/settings?saved=1")


def _own_failed(client: Client, address: str, message_id: str) -> bool:
    return any(
        m.message_id == message_id and m.direction == Direction.OUT and m.status == MessageStatus.FAILED
        for m in client.history(address)
    )


@refusing
async def retry(request: web.Request) -> web.Response:
    """``POST /t/{address}/retry`` (field ``message_id``): send again one of your messages of this thread that the
    relay refused (status ``failed``; :meth:`Client.retry`). Any other message is a 404."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    form = await request.post()
    message_id = form.get("message_id")
    if not isinstance(message_id, str) or not _own_failed(client, contact.address, message_id):
        return refused(request, "That message is not one of yours that failed to send.", status=404)
    message = await client.retry(message_id)
    return done(request, _thread_url(contact.address), status=str(message.status))


@refusing
async def accept_contact(request: web.Request) -> web.Response:
    """``POST /t/{address}/accept``: accept a message request (:meth:`Client.accept_contact`): from now on the
    stranger gets delivery and read receipts."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    client.accept_contact(contact.address)
    return done(request, _thread_url(contact.address))


@refusing
async def rename_contact(request: web.Request) -> web.Response:
    """``POST /t/{address}/rename`` (field ``name``): give the contact another local name (which also accepts a
    request; :meth:`Client.rename_contact`). An empty, too long or taken name is refused and nothing changes."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    form = await request.post()
    name = form.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        return refused(request, f"Give a name of 1 to {MAX_NAME_CHARS} printable characters.", status=400)
    client.rename_contact(contact.address, name)
    return done(request, _thread_url(contact.address))


@refusing
async def accept_identity(request: web.Request) -> web.Response:
    """``POST /t/{address}/identity/accept``: accept the contact's changed identity (as unverified;
    :meth:`Client.accept_identity`), so sending works again. The contact's address becomes the new identity's,
    so this answers with the thread's new URL (``address`` in JSON)."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    accepted = client.accept_identity(contact.address)
    return done(request, _thread_url(accepted.address), address=accepted.address)


@refusing
async def reject_identity(request: web.Request) -> web.Response:
    """``POST /t/{address}/identity/reject``: reject the pending identity change and keep the identity pinned
    before it (:meth:`Client.reject_identity`); what the new identity wrote moves to a contact of its own."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    client.reject_identity(contact.address)
    return done(request, _thread_url(contact.address))


@refusing
async def block(request: web.Request) -> web.Response:
    """``POST /t/{address}/block``: block the contact (:meth:`Client.block`). Blocked on this device at once; when
    the relay cannot be reached now it is told by the next sync, so that is no refusal."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    with contextlib.suppress(RelayUnreachable, RelayError):  # blocked here already; the next sync tells the relay
        await client.block(contact.address)
    return done(request, _thread_url(contact.address))


@refusing
async def unblock(request: web.Request) -> web.Response:
    """``POST /t/{address}/unblock``: unblock the contact (:meth:`Client.unblock`); as with blocking, a relay out
    of reach is told by the next sync."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    with contextlib.suppress(RelayUnreachable, RelayError):  # unblocked here already; the next sync tells the relay
        await client.unblock(contact.address)
    return done(request, _thread_url(contact.address))


def report_name(message_id: str) -> str:
    """The file name a report downloads as: ``confide-report-<first id digits>.cfr``."""
    digits = "".join(c for c in message_id.lower() if c in "0123456789abcdef")[:REPORT_NAME_ID_CHARS]
    return f"confide-report-{digits or 'message'}.cfr"


@refusing
async def report(request: web.Request) -> web.Response:
    """``POST /t/{address}/report`` (field ``message_id``): the report file of a reportable message you received
    (:meth:`Client.report`), as a download (``application/octet-stream``, attachment, sandboxed, never cached),
    to send to the practice the thread names. NOT encrypted: the page says so next to the button."""
    client = desk_client(request)
    contact = thread_contact(request, client)
    form = await request.post()
    message_id = form.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        return refused(request, "Choose a message to report.", status=400)
    data = client.report(contact.address, message_id)
    return web.Response(
        body=data,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{report_name(message_id)}"',
            "Cache-Control": "no-store",
        },
    )
