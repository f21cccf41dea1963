"""Documentation is checked: every public name has a docstring; docs/integrating.md runs as written."""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path

import pytest

import confide.client
import confide.client.client
from confide.client import INSECURE_TEST_KDF as TEST_KDF
from confide.client import MessageReceived
from confide.protocol.document_bodies import OfficeHours, Weekday

from .conftest import PASSPHRASE, MakeClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrating.md"


def test_every_public_name_is_documented() -> None:
    missing = []
    for name in confide.client.__all__:
        obj = getattr(confide.client, name)
        if isinstance(obj, (str, tuple)):  # constants documented in their module
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for klass in obj.__mro__:
                if not klass.__module__.startswith("confide."):
                    continue
                for attr, member in vars(klass).items():
                    if attr.startswith("_") or (not callable(member) and not isinstance(member, property)):
                        continue
                    target = member.fget if isinstance(member, property) else member
                    if isinstance(target, classmethod | staticmethod):
                        target = target.__func__
                    if not inspect.getdoc(target):
                        missing.append(f"{name}.{attr}")
    assert missing == []


async def test_integrating_guide_runs(
    make_client: MakeClient, tmp_path: Path, relay_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = "\n".join(re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S))
    namespace: dict[str, object] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    therapist = await make_client("therapist", "therapist")

    invite = await namespace["create_profile"](str(tmp_path / "sam"), PASSPHRASE, relay_url, kdf=TEST_KDF)  # type: ignore[operator]
    assert invite.startswith("cfi1:")

    async def therapist_answers() -> None:
        while True:
            events = await therapist.sync()
            for event in events:
                if isinstance(event, MessageReceived):
                    await therapist.send_text(event.peer, "Welcome. Tuesday at 10?")
                    return
            await asyncio.sleep(0.05)

    answering = asyncio.create_task(therapist_answers())
    run_inbox = namespace["run_inbox"]
    assert callable(run_inbox)
    replies = await asyncio.wait_for(run_inbox(str(tmp_path / "sam"), PASSPHRASE, therapist.invite_code()), 20)
    await answering
    assert replies == ["Welcome. Tuesday at 10?"]


async def test_integrating_guide_practice_section(make_client: MakeClient, tmp_path: Path) -> None:
    """Section 4 as written: a client pins a practice, starts from its directory, sees the verified provider, the
    availability line and the crisis notice; the therapist's franked reply is reported, and the practice's review
    finds the report authentic."""
    code = "\n".join(re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S))
    namespace: dict[str, object] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    practice = await make_client("harbour", "practice")
    therapist = await make_client("therapist", "therapist")
    sam = await make_client("sam")
    admin = practice.practice_admin()
    admin.set_up()
    admin.set_policy("Harbour Therapy", "In an emergency call 911.", [("Emergency", "911")])
    await therapist.set_availability(
        time_zone="Europe/London", hours=(OfficeHours(Weekday.MONDAY, 9 * 60, 17 * 60),), reply_within_s=86400
    )
    credential = admin.issue(therapist.contact_card(), "Dr. Ana Rivera", "PSY 1", "Board", "GB", list_in_directory=True)
    await admin.publish()
    await therapist.import_credential(credential)
    profile = sam.profile_dir
    await sam.close()

    start = namespace["start_with_a_listed_therapist"]
    assert callable(start)
    shown = await start(str(profile), PASSPHRASE, practice.address)
    assert shown[0] == "Dr. Ana Rivera, licence PSY 1"
    assert any("usually replies within" in line for line in shown)
    assert "In an emergency call 911." in shown

    events = await therapist.sync()
    peer = next(e.peer for e in events if isinstance(e, MessageReceived))
    await therapist.send_text(peer, "Stop writing to me.")
    report = namespace["report_a_message"]
    assert callable(report)
    practice_name = await report(str(profile), PASSPHRASE, "Dr. Rivera", str(tmp_path / "abuse.report"))
    assert practice_name == "Harbour Therapy"
    assert admin.review((tmp_path / "abuse.report").read_bytes()).authentic
