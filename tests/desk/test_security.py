"""The Desk's promises as a local web app, each attacked over a real loopback socket (no browser): a real
Client on a real relay behind it.

Bound to 127.0.0.1 only; the Host header must name the Desk (DNS rebinding); the login link works once and
becomes an ``HttpOnly; SameSite=Strict`` cookie; nothing is served without that cookie; every state-changing
request needs the CSRF token and the Desk's own origin; CSP, no framing and ``no-store`` on every response;
the idle lock closes the Client and only the passphrase opens it again; panic locks, and wipes only after
the typed confirmation.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from confide.client import Client, WrongPassphrase
from confide.client.desk import (
    BACKGROUND_HEADER,
    CSRF_HEADER,
    DESK_SESSION,
    SESSION_COOKIE,
    DeskConfig,
    NotLoopback,
    RunningDesk,
    create_desk_app,
    peer,
    run_desk,
)
from confide.client.desk import session as session_module
from confide.client.desk.security import CONTENT_SECURITY_POLICY
from confide.keys.keystore import TEST_KDF

from .conftest import DESK_PASSPHRASE, StartDesk

EXPECTED_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client that keeps no cookies of its own: each test says exactly which cookie it sends."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@dataclass
class LoggedIn:
    """A Desk after its login link was used: the session cookie and the page's CSRF token."""

    desk: RunningDesk
    http: aiohttp.ClientSession
    cookie: str

    @property
    def csrf(self) -> str:
        return self.desk.app[DESK_SESSION].csrf

    @property
    def client(self) -> Client | None:
        return self.desk.app[DESK_SESSION].client

    async def get(self, path: str, **headers: str) -> aiohttp.ClientResponse:
        return await self.http.get(
            self.desk.url + path,
            headers={"Cookie": f"{_cookie_name(self.desk.url)}={self.cookie}", **headers},
            allow_redirects=False,
        )

    async def post(self, path: str, data: dict[str, str] | aiohttp.FormData, **headers: str) -> aiohttp.ClientResponse:
        return await self.http.post(
            self.desk.url + path,
            data=data,
            headers={"Cookie": f"{_cookie_name(self.desk.url)}={self.cookie}", **headers},
            allow_redirects=False,
        )


def _cookie_name(url: str) -> str:
    """The session cookie's name for the Desk at ``url`` (``http://127.0.0.1:PORT``)."""
    return f"{SESSION_COOKIE}_{url.rsplit(':', 1)[1]}"


async def _login(desk: RunningDesk, http: aiohttp.ClientSession) -> LoggedIn:
    response = await http.get(desk.login_url, allow_redirects=False)
    assert response.status == 303
    return LoggedIn(desk, http, response.cookies[_cookie_name(desk.url)].value)


async def _eventually(condition: object, timeout_s: float = 5.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


# -- bound to 127.0.0.1 only ---------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "localhost", "192.168.1.10", "127.0.0.2", ""])
def test_the_desk_refuses_to_listen_anywhere_but_127_0_0_1(host: str, tmp_path: Path) -> None:
    with pytest.raises(NotLoopback):
        DeskConfig(tmp_path, host=host)


async def test_the_desk_listens_on_127_0_0_1(start_desk: StartDesk) -> None:
    desk = await start_desk()
    assert desk.url.startswith("http://127.0.0.1:")
    assert desk.login_url.startswith(desk.url + "/login?token=")


async def test_a_desk_app_served_on_another_address_serves_nothing(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    """Even if someone mounts the app on another socket (here 127.0.0.2), it answers 421 to everything,
    the login link included, which stays unused."""
    desk = await start_desk()
    runner = web.AppRunner(desk.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.2", 0)
    try:
        await site.start()
        port = runner.addresses[0][1]
        token_path = desk.login_url.removeprefix(desk.url)
        for host in (f"127.0.0.2:{port}", f"127.0.0.1:{port}", f"localhost:{port}"):
            response = await http.get(f"http://127.0.0.2:{port}{token_path}", headers={"Host": host})
            assert response.status == 421
            assert len(response.cookies) == 0
    finally:
        await site.stop()
    assert desk.app[DESK_SESSION].login_token is not None
    assert (await http.get(desk.login_url, allow_redirects=False)).status == 303


# -- the Host header (DNS rebinding) -------------------------------------------------------------------
async def test_a_wrong_host_gets_421_and_nothing_else(start_desk: StartDesk, http: aiohttp.ClientSession) -> None:
    desk = await start_desk()
    port = desk.url.rsplit(":", 1)[1]
    logged_in = await _login(desk, http)
    other_port = str(int(port) + 1 if int(port) < 65535 else 1024)
    for host in (
        "attacker.example",
        f"attacker.example:{port}",
        f"127.0.0.1:{other_port}",
        "127.0.0.1",
        f"[::1]:{port}",
    ):
        response = await logged_in.get("/", Host=host)
        assert response.status == 421, host
        assert (await response.text()).startswith("Misdirected request")
        assert response.headers["Cache-Control"] == "no-store"
        # A rebinding page cannot change anything either, even with the cookie and the CSRF token.
        response = await logged_in.post("/lock", {"csrf": logged_in.csrf}, Host=host)
        assert response.status == 421, host
    assert logged_in.client is not None


async def test_the_desks_own_names_are_served(start_desk: StartDesk, http: aiohttp.ClientSession) -> None:
    desk = await start_desk()
    port = desk.url.rsplit(":", 1)[1]
    logged_in = await _login(desk, http)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        response = await logged_in.get("/static/desk.css", Host=host)
        assert response.status == 200, host


async def test_a_login_link_through_a_wrong_host_is_not_used_up(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk()
    response = await http.get(desk.login_url, headers={"Host": "attacker.example"}, allow_redirects=False)
    assert response.status == 421
    assert len(response.cookies) == 0
    assert (await http.get(desk.login_url, allow_redirects=False)).status == 303


# -- the login link and the session cookie -------------------------------------------------------------
async def test_the_login_link_becomes_an_httponly_samesite_strict_cookie(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk()
    response = await http.get(desk.login_url, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/"
    assert list(response.cookies) == [_cookie_name(desk.url)]
    morsel = response.cookies[_cookie_name(desk.url)]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert len(morsel.value) == 64
    assert morsel.value not in desk.login_url  # the cookie is not the token from the link


async def test_two_desks_in_one_browser_keep_their_own_sessions(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    """Browsers keep cookies per host, not per port: the cookie's name carries the port, so logging in to a
    second Desk (the demo's client beside its therapist) does not replace the first one's session, and neither
    session opens the other Desk."""
    first, second = await start_desk("therapist"), await start_desk("client", "client")
    a, b = await _login(first, http), await _login(second, http)
    assert _cookie_name(first.url) != _cookie_name(second.url)
    both = f"{_cookie_name(first.url)}={a.cookie}; {_cookie_name(second.url)}={b.cookie}"
    for desk in (first, second):
        response = await http.get(desk.url + "/", headers={"Cookie": both}, allow_redirects=False)
        assert response.status == 200
    crossed = f"{_cookie_name(second.url)}={a.cookie}"
    response = await http.get(second.url + "/", headers={"Cookie": crossed}, allow_redirects=False)
    assert response.status == 401


async def test_a_reused_login_token_is_refused(start_desk: StartDesk, http: aiohttp.ClientSession) -> None:
    desk = await start_desk()
    assert (await http.get(desk.login_url, allow_redirects=False)).status == 303
    again = await http.get(desk.login_url, allow_redirects=False)
    assert again.status == 403
    assert len(again.cookies) == 0
    assert "used already" in await again.text()


async def test_a_wrong_login_token_is_refused_and_does_not_burn_the_real_one(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk()
    token = desk.login_url.rsplit("=", 1)[1]
    for wrong in ("", "0" * 64, token[:-1], token + "0", token.upper()):
        response = await http.get(f"{desk.url}/login?token={wrong}", allow_redirects=False)
        assert response.status == 403, wrong
        assert len(response.cookies) == 0
    assert (await http.get(f"{desk.url}/login", allow_redirects=False)).status == 403
    assert (await http.get(desk.login_url, allow_redirects=False)).status == 303


async def test_nothing_is_served_without_the_session_cookie(start_desk: StartDesk, http: aiohttp.ClientSession) -> None:
    desk = await start_desk()
    logged_in = await _login(desk, http)
    for path in ("/", "/locked", "/static/desk.js", "/static/desk.css", "/events", "/no-such-page"):
        response = await http.get(desk.url + path, allow_redirects=False)
        assert response.status == 401, path
        assert (await response.text()).startswith("Not logged in")
    forged = await http.get(
        desk.url + "/", headers={"Cookie": f"{_cookie_name(desk.url)}={'0' * 64}"}, allow_redirects=False
    )
    assert forged.status == 401
    # Without the cookie nothing changes state, even with the right CSRF token.
    for path in ("/lock", "/panic"):
        response = await http.post(desk.url + path, data={"csrf": logged_in.csrf, "confirm": "WIPE"})
        assert response.status == 401, path
    assert logged_in.client is not None
    assert (desk.app[DESK_SESSION].wiped, (await logged_in.get("/")).status) == (False, 200)


# -- CSRF and origin -----------------------------------------------------------------------------------
async def test_a_cross_site_post_without_the_csrf_token_is_refused(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk()
    logged_in = await _login(desk, http)
    own_origin = desk.url
    attempts: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {}),
        ({"csrf": ""}, {}),
        ({"csrf": "0" * 64}, {}),
        ({"csrf": logged_in.csrf[:-1]}, {}),
        ({}, {CSRF_HEADER: "0" * 64}),
        ({"csrf": logged_in.csrf}, {"Origin": "http://attacker.example"}),
        ({"csrf": logged_in.csrf}, {"Origin": "null"}),
        ({"csrf": logged_in.csrf}, {"Sec-Fetch-Site": "cross-site"}),
        ({"csrf": logged_in.csrf}, {"Sec-Fetch-Site": "same-site"}),
    ]
    for data, headers in attempts:
        for path in ("/lock", "/panic"):
            response = await logged_in.post(path, {**data, "confirm": "WIPE"}, **headers)
            assert response.status == 403, (path, data, headers)
    assert logged_in.client is not None
    assert desk.app[DESK_SESSION].wiped is False
    # The same request from the Desk's own page goes through.
    response = await logged_in.post(
        "/lock", {"csrf": logged_in.csrf}, Origin=own_origin, **{"Sec-Fetch-Site": "same-origin"}
    )
    assert (response.status, response.headers["Location"]) == (303, "/locked")
    assert logged_in.client is None


async def test_a_multipart_post_needs_the_csrf_header(start_desk: StartDesk, http: aiohttp.ClientSession) -> None:
    """A multipart body is streamed by its handler, so its ``csrf`` field is not read: only the header counts."""
    desk = await start_desk()
    logged_in = await _login(desk, http)
    form = aiohttp.FormData()
    form.add_field("csrf", logged_in.csrf)
    form.add_field("file", b"x" * 10, filename="a.txt")
    response = await logged_in.post("/lock", form)
    assert response.status == 403
    assert logged_in.client is not None


async def test_a_head_request_does_not_use_up_the_login_link(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk()
    response = await http.head(desk.login_url, allow_redirects=False)
    assert response.status == 405
    assert len(response.cookies) == 0
    assert (await http.get(desk.login_url, allow_redirects=False)).status == 303


async def test_the_csrf_token_may_come_in_the_header(start_desk: StartDesk, http: aiohttp.ClientSession) -> None:
    desk = await start_desk()
    logged_in = await _login(desk, http)
    response = await logged_in.post("/lock", {}, **{CSRF_HEADER: logged_in.csrf})
    assert response.status == 303
    assert logged_in.client is None


# -- headers on every response -------------------------------------------------------------------------
async def test_csp_and_no_store_on_every_response(start_desk: StartDesk, http: aiohttp.ClientSession) -> None:
    assert EXPECTED_HEADERS["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    desk = await start_desk()
    responses = [
        await http.get(desk.url + "/", allow_redirects=False),  # 401
        await http.get(desk.url + "/", headers={"Host": "attacker.example"}, allow_redirects=False),  # 421
        await http.get(desk.url + "/login?token=wrong", allow_redirects=False),  # 403
        await http.get(desk.login_url, allow_redirects=False),  # 303 with the cookie
    ]
    logged_in = LoggedIn(desk, http, responses[-1].cookies[_cookie_name(desk.url)].value)
    responses += [
        await logged_in.get("/"),  # a page
        await logged_in.get("/static/desk.css"),
        await logged_in.get("/static/desk.js"),
        await logged_in.get("/static/no-such-file"),  # 404
        await logged_in.post("/lock", {}),  # 403
        await logged_in.get("/locked"),  # 303 back to the inbox
        await logged_in.post("/lock", {"csrf": logged_in.csrf}),  # 303
        await logged_in.get("/"),  # 303 to /locked
        await logged_in.get("/locked"),  # the locked page
        await logged_in.post("/unlock", {"csrf": logged_in.csrf, "passphrase": "wrong"}),  # 403 page
    ]
    statuses = [r.status for r in responses]
    assert statuses == [401, 421, 403, 303, 200, 200, 200, 404, 403, 303, 303, 303, 200, 403]
    for response in responses:
        for name, value in EXPECTED_HEADERS.items():
            assert response.headers.get(name) == value, (response.status, response.url, name)


async def test_pages_load_no_third_party_asset_and_no_inline_script_or_style(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk()
    logged_in = await _login(desk, http)
    for path in ("/", "/locked"):
        if path == "/locked":
            await logged_in.post("/lock", {"csrf": logged_in.csrf})
        response = await logged_in.get(path)
        assert response.status == 200, path
        text = await response.text()
        links = re.findall(r"""(?:src|href|action)\s*=\s*["']([^"']*)["']""", text)
        assert links, path
        assert [link for link in links if not link.startswith(("/", "#")) or link.startswith("//")] == [], path
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", text) == [], path
        assert re.findall(r"""\sstyle\s*=|<style|\son[a-z]+\s*=""", text, flags=re.IGNORECASE) == [], path


# -- idle lock and unlock ------------------------------------------------------------------------------
async def test_idle_lock_drops_the_client_and_the_passphrase_unlocks_it(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk(lock_after_s=0.6)
    logged_in = await _login(desk, http)
    first = logged_in.client
    assert first is not None
    seen: list[Client | None] = []
    desk.app[DESK_SESSION].add_listener(seen.append)
    # No request at all: the Desk locks by itself, and the Client is closed (its event stream ends at once).
    await _eventually(lambda: logged_in.client is None)
    assert seen == [None]
    assert [event async for event in first.events(listen=False)] == []
    response = await logged_in.get("/")
    assert (response.status, response.headers["Location"]) == (303, "/locked")
    page = await logged_in.get("/locked")
    assert "Confide Desk is locked" in await page.text()
    # The passphrase opens a new Client.
    response = await logged_in.post("/unlock", {"csrf": logged_in.csrf, "passphrase": DESK_PASSPHRASE})
    assert (response.status, response.headers["Location"]) == (303, "/")
    second = logged_in.client
    assert second is not None
    assert second is not first
    assert seen == [None, second]
    assert (await logged_in.get("/")).status == 200


async def test_a_wrong_passphrase_leaves_the_desk_locked(
    start_desk: StartDesk, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "UNLOCK_FAILURE_DELAY_S", 0.0)
    desk = await start_desk()
    logged_in = await _login(desk, http)
    await logged_in.post("/lock", {"csrf": logged_in.csrf})
    assert logged_in.client is None
    for wrong in ("wrong", DESK_PASSPHRASE + " ", DESK_PASSPHRASE.upper()):
        response = await logged_in.post("/unlock", {"csrf": logged_in.csrf, "passphrase": wrong})
        assert response.status == 403
        assert "Wrong passphrase" in await response.text()
        assert logged_in.client is None
    for missing in ({}, {"passphrase": ""}, {"passphrase": "x" * 5000}):
        response = await logged_in.post("/unlock", {"csrf": logged_in.csrf, **missing})
        assert response.status == 400
        assert logged_in.client is None
    # Without the CSRF token even the right passphrase is refused.
    response = await logged_in.post("/unlock", {"passphrase": DESK_PASSPHRASE})
    assert response.status == 403
    assert logged_in.client is None
    response = await logged_in.get("/")
    assert (response.status, response.headers["Location"]) == (303, "/locked")


async def test_requests_keep_the_desk_awake_but_the_live_stream_does_not(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk(lock_after_s=0.8)
    logged_in = await _login(desk, http)
    loop = asyncio.get_running_loop()
    end = loop.time() + 2.0
    while loop.time() < end:
        assert (await logged_in.get("/")).status == 200
        await asyncio.sleep(0.1)
    assert logged_in.client is not None
    end = loop.time() + 2.0
    while loop.time() < end and logged_in.client is not None:
        (await logged_in.get("/events")).close()
        await asyncio.sleep(0.1)
    assert logged_in.client is None


async def test_the_pages_own_background_requests_do_not_keep_the_desk_awake(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk(lock_after_s=0.8)
    logged_in = await _login(desk, http)
    loop = asyncio.get_running_loop()
    end = loop.time() + 3.0
    while loop.time() < end and logged_in.client is not None:
        (await logged_in.get("/", **{BACKGROUND_HEADER: "1"})).close()
        (await logged_in.get("/static/desk.js")).close()
        await asyncio.sleep(0.1)
    assert logged_in.client is None


async def test_wrong_passphrases_are_answered_one_a_second_at_most(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    """Guesses sent all at once still wait behind each other: four take at least four seconds."""
    desk = await start_desk()
    logged_in = await _login(desk, http)
    await logged_in.post("/lock", {"csrf": logged_in.csrf})
    loop = asyncio.get_running_loop()
    start = loop.time()
    responses = await asyncio.gather(
        *(logged_in.post("/unlock", {"csrf": logged_in.csrf, "passphrase": f"guess {i}"}) for i in range(4))
    )
    assert [r.status for r in responses] == [403] * 4
    assert loop.time() - start >= 4 * session_module.UNLOCK_FAILURE_DELAY_S
    assert logged_in.client is None


async def test_queued_guesses_do_not_hold_up_a_panic_wipe(start_desk: StartDesk, http: aiohttp.ClientSession) -> None:
    desk = await start_desk()
    logged_in = await _login(desk, http)
    client = logged_in.client
    assert client is not None
    profile_dir = client.profile_dir
    await logged_in.post("/lock", {"csrf": logged_in.csrf})
    guesses = [
        asyncio.create_task(logged_in.post("/unlock", {"csrf": logged_in.csrf, "passphrase": f"guess {i}"}))
        for i in range(5)
    ]
    await asyncio.sleep(0.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    response = await logged_in.post("/panic", {"csrf": logged_in.csrf, "confirm": "WIPE"})
    assert response.status == 303
    assert loop.time() - start < 2 * session_module.UNLOCK_FAILURE_DELAY_S
    assert not profile_dir.exists()
    statuses = sorted(r.status for r in await asyncio.gather(*guesses))
    assert statuses[0] == 403  # the one that was trying when the wipe came
    assert set(statuses[1:]) <= {403, 410}
    assert logged_in.client is None


# -- panic ---------------------------------------------------------------------------------------------
async def test_panic_locks_and_wipes_only_after_the_typed_confirmation(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    desk = await start_desk()
    logged_in = await _login(desk, http)
    profile = desk.app[DESK_SESSION].client
    assert profile is not None
    profile_dir = profile.profile_dir
    for confirm in (None, "", "wipe", "WIPE ", "yes"):
        response = await logged_in.post(
            "/panic", {"csrf": logged_in.csrf, **({} if confirm is None else {"confirm": confirm})}
        )
        assert (response.status, response.headers["Location"]) == (303, "/locked"), confirm
        assert logged_in.client is None
        assert profile_dir.exists()
        assert any(profile_dir.iterdir())
        response = await logged_in.post("/unlock", {"csrf": logged_in.csrf, "passphrase": DESK_PASSPHRASE})
        assert response.status == 303
    response = await logged_in.post("/panic", {"csrf": logged_in.csrf, "confirm": "WIPE"})
    assert (response.status, response.headers["Location"]) == (303, "/locked")
    assert logged_in.client is None
    assert not profile_dir.exists()
    page = await logged_in.get("/locked")
    assert "The profile was wiped" in await page.text()
    response = await logged_in.post("/unlock", {"csrf": logged_in.csrf, "passphrase": DESK_PASSPHRASE})
    assert response.status == 410
    assert logged_in.client is None


async def test_panic_wipes_a_locked_desk_too(start_desk: StartDesk, http: aiohttp.ClientSession) -> None:
    desk = await start_desk()
    logged_in = await _login(desk, http)
    client = logged_in.client
    assert client is not None
    profile_dir = client.profile_dir
    await logged_in.post("/lock", {"csrf": logged_in.csrf})
    response = await logged_in.post("/panic", {"csrf": logged_in.csrf, "confirm": "WIPE"})
    assert response.status == 303
    assert not profile_dir.exists()
    assert desk.app[DESK_SESSION].wiped


# -- run_desk and the confide desk command -------------------------------------------------------------
async def test_run_desk_prints_a_working_login_link(
    tmp_path: Path, relay_url: str, http: aiohttp.ClientSession
) -> None:
    profile = tmp_path / "me"
    await (await Client.create(profile, DESK_PASSPHRASE, relay_url, "me", "therapist", kdf=TEST_KDF)).close()
    lines: list[str] = []
    stop = asyncio.Event()
    config = DeskConfig(profile, open_browser=False)
    task = asyncio.create_task(
        run_desk(lambda secret: Client.open(profile, secret), DESK_PASSPHRASE, config, announce=lines.append, stop=stop)
    )
    await _eventually(lambda: bool(lines))
    url = lines[0].split("open ", 1)[1]
    assert url.startswith("http://127.0.0.1:")
    assert "/login?token=" in url
    response = await http.get(url, allow_redirects=False)
    assert response.status == 303
    stop.set()
    await task


async def test_run_desk_with_a_wrong_passphrase_listens_nowhere(tmp_path: Path, relay_url: str) -> None:
    profile = tmp_path / "me"
    await (await Client.create(profile, DESK_PASSPHRASE, relay_url, "me", "therapist", kdf=TEST_KDF)).close()
    lines: list[str] = []
    with pytest.raises(WrongPassphrase):
        await run_desk(
            lambda secret: Client.open(profile, secret),
            "wrong",
            DeskConfig(profile, open_browser=False),
            announce=lines.append,
        )
    assert lines == []


def test_create_desk_app_is_typed_for_the_cli(tmp_path: Path) -> None:
    async def opener(secret: str) -> Client:
        raise AssertionError("not called")

    app = create_desk_app(opener, DeskConfig(tmp_path, open_browser=False))
    assert app[DESK_SESSION].locked


async def test_confide_desk_refuses_an_idle_lock_of_off(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from confide.client.cli import main

    monkeypatch.setenv("CONFIDE_PASSPHRASE", DESK_PASSPHRASE)
    code = await asyncio.to_thread(main, ["desk", "--profile", str(tmp_path), "--no-open", "--lock-after", "off"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "the Desk always locks" in err


async def test_confide_desk_with_a_wrong_passphrase_stops_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, relay_url: str
) -> None:
    from confide.client.cli import main

    profile = tmp_path / "me"
    await (await Client.create(profile, DESK_PASSPHRASE, relay_url, "me", "therapist", kdf=TEST_KDF)).close()
    monkeypatch.setenv("CONFIDE_PASSPHRASE", "wrong")
    code = await asyncio.to_thread(main, ["desk", "--profile", str(profile), "--no-open"])
    out, err = capsys.readouterr()
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1
    assert "Traceback" not in err


async def test_confide_desk_demo_serves_a_therapist_and_a_client_and_leaves_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """``make desk``: two logged-in-able Desks on one local relay, the client's first message in the
    therapist's Desk; on Ctrl-C the throwaway profiles are gone."""
    import tempfile

    from confide.client.cli.parser import build_parser

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    args = build_parser().parse_args(["desk", "--demo", "--no-open"])
    task = asyncio.create_task(args.func(args))
    out = ""
    while out.count("/login?token=") < 2:
        assert not task.done()
        await asyncio.sleep(0.05)
        out += capsys.readouterr().out
    links = [line.split(": ", 1)[1] for line in out.splitlines() if "/login?token=" in line]
    assert len(links) == 2
    assert "Dr Lee (therapist)" in out
    assert "Sam (client)" in out
    assert [p.name.startswith("confide-desk-demo-") for p in tmp_path.iterdir()] == [True]
    for link in links:
        response = await http.get(link, allow_redirects=False)
        assert response.status == 303
        base = link.split("/login", 1)[0]
        cookie = response.cookies[_cookie_name(base)].value
        page = await http.get(base + "/", headers={"Cookie": f"{_cookie_name(base)}={cookie}"}, allow_redirects=False)
        assert page.status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(tmp_path.iterdir()) == []


# -- another user's program holding the cookie ---------------------------------------------------------
def test_the_owner_of_a_loopback_connection_is_read_from_the_kernels_table(tmp_path: Path) -> None:
    """``/proc/net/tcp`` rows name both ends in little-endian hex and the owning uid in column 8."""
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 1 1\n"
        "   1: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
    )
    assert peer.client_uid(("127.0.0.1", 0xA1B2), ("127.0.0.1", 8080), table) == 1000
    assert peer.client_uid(("127.0.0.1", 8080), ("127.0.0.1", 0xA1B2), table) == 0
    assert peer.client_uid(("127.0.0.1", 1), ("127.0.0.1", 8080), table) is None
    assert peer.client_uid(("127.0.0.1", 1), ("127.0.0.1", 8080), tmp_path / "missing") is None
    assert not peer.can_check(tmp_path / "missing")


def _get_as(uid: int | None, port: int, path: str, cookie: str) -> str:
    """The status line and start of the body of ``GET path`` with ``cookie`` from a forked process running as
    ``uid`` (None: this user), over a plain socket (nothing to exec, so no interpreter the other user can run)."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child only
        try:
            os.close(reader)
            if uid is not None:
                os.setgid(uid)
                os.setuid(uid)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
                )
                sock.sendall(request.encode())
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            os.write(writer, answer[:4096])
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(child, 0)
    return answer.decode(errors="replace")


@pytest.mark.skipif(not peer.can_check(), reason="this system's kernel does not say who owns a loopback connection")
@pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user of the computer needs root")
async def test_another_users_program_with_the_stolen_cookie_is_refused(
    start_desk: StartDesk, http: aiohttp.ClientSession
) -> None:
    """Attack: a browser hands the session cookie to any port of 127.0.0.1, so a program of another user may hold
    it. The same request with the same cookie is served to the Desk's own user and refused (403, nothing of the
    page) to a process of another user (uid 65534, nobody). Fails if the cookie alone opens the Desk."""
    desk = await start_desk()
    logged_in = await _login(desk, http)
    cookie = f"{_cookie_name(desk.url)}={logged_in.cookie}"
    port = int(desk.url.rsplit(":", 1)[1])
    own = await asyncio.to_thread(_get_as, None, port, "/settings", cookie)
    assert own.startswith("HTTP/1.1 200 "), own[:200]
    other = await asyncio.to_thread(_get_as, 65534, port, "/settings", cookie)
    assert other.startswith("HTTP/1.1 403 "), other[:200]
    assert "csrf" not in other.lower()
