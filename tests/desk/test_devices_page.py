"""The Desk's Devices page (issue 13) over a real loopback socket, on a real relay: the list (this device marked),
renaming and removing (with the CSRF token only), a device name holding HTML or a bidi override shown as text,
refusals in one sentence and a 4xx (never a 500), and approving a real new device by the code it shows.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from confide.client import Client, LinkCodeCheckFailed
from confide.client.desk import DESK_SESSION, RunningDesk
from confide.keys.keystore import TEST_KDF
from tests.client.devices_helpers import add_device

from .conftest import DESK_PASSPHRASE, OpenDesk, StartDesk
from .test_accessibility import _scan

SCRIPT_NAME = '<script>alert("x")</script><b>phone'
"""A device name holding markup: the page must show it as text."""


@dataclass
class Desk:
    """A logged-in Desk: its URL, its HTTP session (with the cookie), its CSRF token and the Client it runs."""

    url: str
    http: aiohttp.ClientSession
    csrf: str
    client: Client

    def at(self, path: str) -> str:
        return self.url + path


@pytest.fixture
async def desk(start_desk: StartDesk) -> AsyncIterator[Desk]:
    running: RunningDesk = await start_desk("therapist", "therapist")
    client = running.app[DESK_SESSION].client
    assert client is not None
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(running.login_url) as r:
            assert r.status == 200
        yield Desk(running.url, http, running.app[DESK_SESSION].csrf, client)


@pytest.fixture
async def second(desk: Desk, tmp_path: Path, relay_url: str) -> AsyncIterator[Client]:
    """A second device of the Desk's identity (listed, registered), closed at the end."""
    other = await add_device(desk.client, tmp_path / "second", relay_url)
    yield other
    await other.close()


async def _page(desk: Desk, path: str) -> str:
    async with desk.http.get(desk.at(path), allow_redirects=False) as r:
        assert r.status == 200, path
        assert r.headers["Content-Type"].startswith("text/html")
        return await r.text()


async def _post(desk: Desk, path: str, data: dict[str, str], *, csrf: bool = True) -> tuple[int, str, str]:
    """POST a form; returns the status, the ``Location`` header (or "") and the body."""
    form = dict(data, csrf=desk.csrf) if csrf else data
    async with desk.http.post(desk.at(path), data=form, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", ""), await r.text()


# -- the list -------------------------------------------------------------------------------------------------
async def test_the_page_lists_the_devices_this_one_marked(desk: Desk, second: Client) -> None:
    page = await _page(desk, "/devices")
    mine, other = desk.client.device_id, second.device_id
    assert page.count("(this device)") == 1
    row_of_mine = page[page.index(f'value="{mine}"') - 2000 : page.index(f'value="{mine}"')]
    assert "(this device)" in row_of_mine
    assert other[:8] in page
    assert '<a href="/devices"' in await _page(desk, "/")
    # Remove is offered for the other device only.
    assert page.count('action="/devices/remove"') == 1
    removal = page[page.index('action="/devices/remove"') :]
    assert f'name="device_id" value="{other}"' in removal[: removal.index("</form>")]
    assert 'name="confirm" type="checkbox" value="yes" required' in removal[: removal.index("</form>")]


# -- rename and remove ----------------------------------------------------------------------------------------
async def test_rename_and_remove_work_with_the_token(desk: Desk, second: Client) -> None:
    status, location, _ = await _post(desk, "/devices/rename", {"device_id": second.device_id[:8], "name": "Phone"})
    assert (status, location) == (303, "/devices?done=renamed")
    assert [d.name for d in desk.client.devices()] == ["", "Phone"]
    status, location, _ = await _post(desk, "/devices/remove", {"device_id": second.device_id, "confirm": "yes"})
    assert (status, location) == (303, "/devices?done=removed")
    assert [d.device_id for d in desk.client.devices()] == [desk.client.device_id]
    assert "Removed. That device receives nothing from now on." in await _page(desk, "/devices?done=removed")


async def test_without_the_token_nothing_changes(desk: Desk, second: Client) -> None:
    before = desk.client.devices()
    status, _, _ = await _post(desk, "/devices/rename", {"device_id": second.device_id, "name": "x"}, csrf=False)
    assert status == 403
    status, _, _ = await _post(desk, "/devices/remove", {"device_id": second.device_id, "confirm": "yes"}, csrf=False)
    assert status == 403
    status, _, _ = await _post(desk, "/devices/approve", {"code": "ABCD-EFGH-JKMN"}, csrf=False)
    assert status == 403
    assert desk.client.devices() == before


async def test_a_device_name_holding_markup_shows_as_text(desk: Desk, second: Client) -> None:
    desk.client.rename_device(second.device_id, SCRIPT_NAME)
    page = await _page(desk, "/devices")
    assert "<script>alert" not in page
    assert "<b>phone" not in page
    assert html.escape(SCRIPT_NAME, quote=True).replace("&quot;", "&#34;") in page


@pytest.mark.parametrize(
    ("field", "says", "status"),
    [
        ("this", "the device you are using", 400),
        ("unknown", "None of your devices has that id", 404),
        ("short", "first 8", 400),
        ("empty", "Choose the device to remove.", 400),
        ("unconfirmed", "Tick the box to confirm", 400),
    ],
)
async def test_removal_refusals_are_one_sentence_and_a_4xx(
    desk: Desk, second: Client, field: str, says: str, status: int
) -> None:
    before = desk.client.devices()
    mine = desk.client.device_id
    given = {
        "this": mine,
        "unknown": ("0" if mine[0] != "0" else "1") * 32,
        "short": second.device_id[:5],
        "empty": "",
        "unconfirmed": second.device_id,
    }[field]
    confirm = "no" if field == "unconfirmed" else "yes"
    got, _, page = await _post(desk, "/devices/remove", {"device_id": given, "confirm": confirm})
    assert got == status
    assert says in page
    assert "Traceback" not in page
    assert desk.client.devices() == before


@pytest.mark.parametrize(
    ("name", "says"),
    [("bad\x1b[2Jname", "control"), ("x" * 65, "at most 64"), ("  ", "Give the device a name.")],
)
async def test_an_unusable_device_name_is_refused_in_one_sentence(
    desk: Desk, second: Client, name: str, says: str
) -> None:
    before = desk.client.devices()
    status, _, page = await _post(desk, "/devices/rename", {"device_id": second.device_id, "name": name})
    assert status == 400
    assert says in page
    assert "Traceback" not in page
    assert desk.client.devices() == before


# -- approve --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("ABCD-EFGH", "12 letters and digits"),
        ("A" * 65, "12 letters and digits"),
        ("", "12 letters and digits"),
    ],
)
async def test_a_malformed_code_is_refused_in_one_sentence(desk: Desk, code: str, says: str) -> None:
    before = desk.client.devices()
    status, _, page = await _post(desk, "/devices/approve", {"code": code, "history": "yes"})
    assert status == 400
    assert says in page
    assert "Traceback" not in page
    assert desk.client.devices() == before


async def test_a_wrong_code_fails_on_both_and_adds_nothing(desk: Desk, tmp_path: Path, relay_url: str) -> None:
    before = desk.client.devices()
    target = tmp_path / "phone"
    pending = await Client.link(target, DESK_PASSPHRASE, relay_url, "Phone", kdf=TEST_KDF)
    typo = pending.code[:-1] + ("0" if pending.code[-1] != "0" else "1")
    posted, waited = await asyncio.gather(
        _post(desk, "/devices/approve", {"code": typo, "history": "yes"}), pending.wait(), return_exceptions=True
    )
    assert isinstance(posted, tuple)
    status, _, page = posted
    assert status == 400
    assert "did not match" in page
    assert isinstance(waited, LinkCodeCheckFailed)
    assert not target.exists()
    assert desk.client.devices() == before


async def test_a_real_approval_adds_the_device(desk: Desk, tmp_path: Path, relay_url: str) -> None:
    pending = await Client.link(tmp_path / "phone", DESK_PASSPHRASE, relay_url, "Phone", kdf=TEST_KDF)
    (status, location, _), phone = await asyncio.gather(
        _post(desk, "/devices/approve", {"code": pending.code, "history": "yes"}), pending.wait()
    )
    try:
        assert (status, location) == (303, "/devices?done=approved")
        assert phone.address == desk.client.address
        assert [(d.device_id, d.name, d.origin) for d in desk.client.devices()] == [
            (desk.client.device_id, "", "first"),
            (phone.device_id, "Phone", "linked"),
        ]
        page = await _page(desk, "/devices?done=approved")
        assert "Approved. The new device is now one of yours." in page
        assert phone.device_id[:8] in page
    finally:
        await phone.close()


# -- accessibility --------------------------------------------------------------------------------------------
async def test_the_page_with_two_devices_passes_axe(open_desk: OpenDesk, tmp_path: Path, relay_url: str) -> None:
    """The page as it is once there is something to remove (``test_accessibility`` scans it with one device)."""
    tab = await open_desk("lee", "therapist")
    other = await add_device(tab.client, tmp_path / "second", relay_url)
    try:
        tab.client.rename_device(other.device_id, "Phone")
        assert await _scan(tab, ["/devices", "/devices?done=renamed"]) == {}
    finally:
        await other.close()
