"""The therapist's side of the practice layer on a real relay: importing a credential, publishing an availability
card, exporting a contact card and adding it on another profile; and the attacks on each (issue 11)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from confide.client import (
    AVAILABILITY_LIFETIME_S,
    AVAILABILITY_RENEW_BEFORE_S,
    AvailabilityInfo,
    AwayInfo,
    Client,
    CredentialError,
    CredentialInfo,
    MessageReceived,
    ProviderStatus,
    RelayUnreachable,
)
from confide.client.cli import render
from confide.client.hours import away_period, hours_text, parse_office_hours, parse_reply_time
from confide.client.peer_documents import (
    PEER_AVAILABILITY,
    PEER_CREDENTIAL,
    PEER_FRANKING,
    SELF,
    SELF_AVAILABILITY,
    SELF_CREDENTIAL,
)
from confide.keys.address import Address
from confide.keys.identity import IdentityKeyPair, IdentityPublicKey
from confide.protocol.contact_card import (
    ContactCard,
    ContactCardError,
    card_text,
    parse_card_text,
    parse_contact_card,
)
from confide.protocol.document_bodies import AvailabilityCard, Credential, OfficeHours
from confide.protocol.document_errors import DocumentSignatureError
from confide.protocol.documents import CredentialStatus, DocumentKind, SignedDocument, parse_document

from .conftest import PASSPHRASE, MakeClient, run

YEAR = 365 * 24 * 3600
WEEKDAYS = parse_office_hours(["mon-fri 09:00-17:00"])


def _credential(practice: IdentityKeyPair, therapist: IdentityPublicKey, now: int, *, version: int = 1) -> bytes:
    body = Credential(
        therapist, os.urandom(16), "Dr. Ana Rivera", "PSY 12345", "State Board", "US-CA", now - 60, now + YEAR
    )
    return SignedDocument.sign(practice, body, version=version, issued_at=now - 60, expires_at=now + YEAR).to_bytes()


def _docs(client: Client, scope: str) -> list[tuple[bytes, bytes]]:
    return client._store.docs(scope)


async def test_a_therapist_imports_the_credential_a_practice_signed(make_client: MakeClient) -> None:
    therapist = await make_client("therapist", "therapist")
    practice = IdentityKeyPair.generate(os.urandom)
    now = int(time.time())
    info = await therapist.import_credential(_credential(practice, therapist.identity, now), now=now)
    assert info.practice_address == practice.address.text
    assert (info.display_name, info.licence_number, info.licensing_body, info.jurisdiction) == (
        "Dr. Ana Rivera",
        "PSY 12345",
        "State Board",
        "US-CA",
    )
    assert info.status == CredentialStatus.REVOCATIONS_STALE  # in its dates; revocations are the practices' part
    assert therapist.credential(now=now) == info
    stored = therapist._store.get_doc(SELF, SELF_CREDENTIAL)
    assert stored is not None
    assert parse_document(stored, expected_signer=practice.public, expected_kind=DocumentKind.CREDENTIAL, now=now)


async def test_a_credential_naming_another_identity_is_refused_and_nothing_is_stored(make_client: MakeClient) -> None:
    therapist = await make_client("therapist", "therapist")
    someone = IdentityKeyPair.generate(os.urandom)
    practice = IdentityKeyPair.generate(os.urandom)
    now = int(time.time())
    with pytest.raises(CredentialError):
        await therapist.import_credential(_credential(practice, someone.public, now), now=now)
    assert therapist._store.get_doc(SELF, SELF_CREDENTIAL) is None
    assert therapist.credential(now=now) is None


async def test_a_forged_credential_is_refused(make_client: MakeClient) -> None:
    therapist = await make_client("therapist", "therapist")
    practice = IdentityKeyPair.generate(os.urandom)
    now = int(time.time())
    data = bytearray(_credential(practice, therapist.identity, now))
    data[-1] ^= 1  # the signature's last byte
    with pytest.raises(DocumentSignatureError):
        await therapist.import_credential(bytes(data), now=now)
    assert therapist._store.get_doc(SELF, SELF_CREDENTIAL) is None


async def test_availability_is_published_and_the_relay_serves_it_verified(make_client: MakeClient) -> None:
    therapist = await make_client("therapist", "therapist")
    now = int(time.time())
    first = await therapist.set_availability(
        time_zone="America/New_York", hours=WEEKDAYS, reply_within_s=86400, now=now
    )
    raw = await therapist._relay.get_document(Address.parse(therapist.address), "availability")
    assert raw is not None
    assert raw == therapist._store.get_doc(SELF, SELF_AVAILABILITY)  # kept as the relay took it
    served = parse_document(raw, expected_signer=therapist.identity, expected_kind=DocumentKind.AVAILABILITY, now=now)
    assert served.body == AvailabilityCard("America/New_York", WEEKDAYS, 86400)
    assert (served.version, served.issued_at, served.expires_at) == (1, now, now + AVAILABILITY_LIFETIME_S)
    assert first == AvailabilityInfo(
        1, now, now + AVAILABILITY_LIFETIME_S, "America/New_York", tuple(hours_text(WEEKDAYS)), 86400, "one day"
    )

    second = await therapist.set_availability(reply_within_s=4 * 3600, now=now + 1)
    assert second == AvailabilityInfo(
        2, now + 1, now + 1 + AVAILABILITY_LIFETIME_S, "America/New_York", first.hours, 4 * 3600, "4 hours"
    )
    assert therapist.availability_card(now=now + 1) == second


async def test_sync_renews_an_availability_card_before_it_lapses(make_client: MakeClient) -> None:
    """A card with less than AVAILABILITY_RENEW_BEFORE_S left is re-signed by sync() (same hours and reply time,
    a higher version, a new season) and published; one with more left is not touched. Fails if a therapist's card
    can silently lapse while they keep using Confide."""
    therapist = await make_client("therapist", "therapist")
    now = int(time.time())
    fresh = await therapist.set_availability(time_zone="Europe/Berlin", hours=WEEKDAYS, reply_within_s=86400)
    await therapist.sync()
    assert therapist.availability_card() == fresh  # months left: not renewed
    issued = now - AVAILABILITY_LIFETIME_S + 7 * 86400  # a week left
    old = await therapist.set_availability(time_zone="Europe/Berlin", hours=WEEKDAYS, reply_within_s=7200, now=issued)
    assert old.expires_at - now < AVAILABILITY_RENEW_BEFORE_S
    await therapist.sync()
    renewed = therapist.availability_card()
    assert renewed is not None
    assert renewed.version == old.version + 1
    assert renewed.expires_at >= now + AVAILABILITY_LIFETIME_S
    assert (renewed.time_zone, renewed.hours, renewed.reply_within_s) == (old.time_zone, old.hours, 7200)
    raw = await therapist._relay.get_document(Address.parse(therapist.address), "availability")
    assert raw is not None
    served = parse_document(raw, expected_signer=therapist.identity, expected_kind=DocumentKind.AVAILABILITY, now=now)
    assert served.version == renewed.version


async def test_an_away_update_keeps_the_hours_and_the_rest(make_client: MakeClient) -> None:
    therapist = await make_client("therapist", "therapist")
    now = int(time.time())
    await therapist.set_availability(time_zone="Europe/Berlin", hours=WEEKDAYS, reply_within_s=86400, now=now)
    away = away_period("2026-12-01", "2026-12-03", "Europe/Berlin", "Dr. Lee covers for me.")
    card = await therapist.set_availability(away=away, now=now + 1)
    hours = tuple(hours_text(WEEKDAYS))
    assert (card.time_zone, card.hours, card.reply_within_s) == ("Europe/Berlin", hours, 86400)
    assert card.away == AwayInfo(away.starts_at, away.ends_at, "Dr. Lee covers for me.")
    assert card.version == 2
    cleared = await therapist.set_availability(away=None, now=now + 2)
    assert (cleared.time_zone, cleared.hours, cleared.reply_within_s, cleared.away) == (
        "Europe/Berlin",
        hours,
        86400,
        None,
    )
    stored = therapist._store.get_doc(SELF, SELF_AVAILABILITY)
    assert stored is not None
    kept = parse_document(stored, expected_signer=therapist.identity, expected_kind=DocumentKind.AVAILABILITY, now=now)
    assert kept.body == AvailabilityCard("Europe/Berlin", WEEKDAYS, 86400)


async def test_a_restored_store_still_publishes_a_newer_version(make_client: MakeClient) -> None:
    """The version follows the relay's copy too: a profile whose store lost its card (restored on a new device)
    does not get a 409 for publishing version 1 again."""
    therapist = await make_client("therapist", "therapist")
    now = int(time.time())
    await therapist.set_availability(time_zone="UTC", hours=WEEKDAYS, reply_within_s=3600, now=now)
    with therapist._store.transaction():
        therapist._store.delete_doc(SELF, b"availability")
    card = await therapist.set_availability(time_zone="UTC", hours=(), reply_within_s=3600, now=now + 1)
    assert card.version == 2


async def test_a_relay_refusal_keeps_nothing(make_client: MakeClient) -> None:
    therapist = await make_client("therapist", "therapist")
    now = int(time.time())
    await therapist._relay.close()
    therapist._relay.base_url = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(RelayUnreachable):
        await therapist.set_availability(time_zone="UTC", hours=WEEKDAYS, reply_within_s=3600, now=now)
    assert therapist.availability_card(now=now) is None


async def _therapist_with_card(make_client: MakeClient, now: int) -> tuple[Client, IdentityKeyPair]:
    therapist = await make_client("therapist", "therapist")
    practice = IdentityKeyPair.generate(os.urandom)
    await therapist.import_credential(_credential(practice, therapist.identity, now), now=now)
    await therapist.set_availability(time_zone="America/New_York", hours=WEEKDAYS, reply_within_s=86400, now=now)
    return therapist, practice


async def test_a_card_added_on_another_profile_makes_a_working_contact(make_client: MakeClient) -> None:
    now = int(time.time())
    therapist, practice = await _therapist_with_card(make_client, now)
    client = await make_client("client")
    card = therapist.contact_card(now=now)
    parsed = parse_contact_card(card, now=now)
    assert parsed.identity == therapist.identity
    assert parsed.credential is not None
    assert parsed.availability is not None

    contact, added = client.add_contact_card("Dr Rivera", card_text(card), now=now)
    assert contact.address == therapist.address
    assert added.availability == "stored"
    assert added.credential is not None
    assert added.credential.practice_address == practice.address.text
    assert added.credential.status == CredentialStatus.REVOCATIONS_STALE
    key = Address.parse(therapist.address).raw
    rec = client._contacts.find("Dr Rivera")
    assert client._store.get_doc(PEER_CREDENTIAL, key) == parsed.credential.to_bytes()
    assert client._store.get_doc(PEER_AVAILABILITY, key) == parsed.availability.to_bytes()
    assert client._store.get_doc(PEER_FRANKING, key) == parsed.binding.to_bytes()
    assert rec.identity == therapist.identity.to_bytes()

    sent = await client.send_text("Dr Rivera", "hello from the card")
    assert sent.status == "sent"
    received = [e for e in await therapist.sync() if isinstance(e, MessageReceived)]
    assert [e.message.text for e in received] == ["hello from the card"]

    client.remove_contact("Dr Rivera")  # the card's documents are the contact's: they go with it
    assert _docs(client, PEER_CREDENTIAL) == _docs(client, PEER_AVAILABILITY) == _docs(client, PEER_FRANKING) == []


async def test_a_card_with_an_availability_card_signed_by_another_key_is_refused(make_client: MakeClient) -> None:
    now = int(time.time())
    therapist, _practice = await _therapist_with_card(make_client, now)
    client = await make_client("client")
    mallory = IdentityKeyPair.generate(os.urandom)
    forged = SignedDocument.sign(
        mallory,
        AvailabilityCard("UTC", (OfficeHours(0, 0, 1440),), 60),
        version=99,
        issued_at=now,
        expires_at=now + 3600,
    )
    good = parse_contact_card(therapist.contact_card(now=now), now=now)
    # The card's own signature is the therapist's; only the nested availability is someone else's. ContactCard
    # refuses to build it, so splice the bytes: swap the availability document inside a genuine card.
    genuine = good.to_bytes()
    assert good.availability is not None
    spliced = genuine.replace(
        len(good.availability.to_bytes()).to_bytes(2, "big") + good.availability.to_bytes(),
        len(forged.to_bytes()).to_bytes(2, "big") + forged.to_bytes(),
    )
    assert spliced != genuine
    with pytest.raises(ContactCardError):
        client.add_contact_card("Dr Rivera", spliced, now=now)
    assert client.contacts() == []
    assert _docs(client, PEER_AVAILABILITY) == _docs(client, PEER_FRANKING) == _docs(client, PEER_CREDENTIAL) == []


async def test_a_tampered_card_text_is_refused(make_client: MakeClient) -> None:
    now = int(time.time())
    therapist, _practice = await _therapist_with_card(make_client, now)
    client = await make_client("client")
    text = card_text(therapist.contact_card(now=now))
    position = len(text) // 2
    tampered = text[:position] + ("A" if text[position] != "A" else "B") + text[position + 1 :]
    with pytest.raises(ContactCardError):
        client.add_contact_card("Dr Rivera", tampered, now=now)
    assert client.contacts() == []
    assert _docs(client, PEER_FRANKING) == []


async def test_an_older_card_does_not_replace_a_newer_availability(make_client: MakeClient) -> None:
    now = int(time.time())
    therapist, _practice = await _therapist_with_card(make_client, now)
    client = await make_client("client")
    old_card = therapist.contact_card(now=now)
    await therapist.set_availability(reply_within_s=3600, now=now + 1)
    newer = therapist._store.get_doc(SELF, SELF_AVAILABILITY)
    assert newer is not None
    new_card = therapist.contact_card(now=now + 1)
    key = Address.parse(therapist.address).raw

    _, first = client.add_contact_card("Dr Rivera", new_card, now=now + 2)
    assert first.availability == "stored"
    _, second = client.add_contact_card("Dr Rivera", old_card, now=now + 3)
    assert second.availability == "kept_newer"
    assert client._store.get_doc(PEER_AVAILABILITY, key) == newer
    assert len(client.contacts()) == 1


async def test_a_card_for_an_existing_contact_updates_its_documents(make_client: MakeClient) -> None:
    now = int(time.time())
    therapist, _practice = await _therapist_with_card(make_client, now)
    client = await make_client("client")
    before = client.add_contact("Dr Rivera", therapist.invite_code())
    row = client._contacts.find("Dr Rivera").contact_id
    contact, added = client.add_contact_card("Dr Rivera", therapist.contact_card(now=now), now=now)
    assert contact.address == before.address
    assert added.contact.contact_id == row
    assert added.availability == "stored"
    assert len(client.contacts()) == 1
    key = Address.parse(therapist.address).raw
    assert client._store.get_doc(PEER_CREDENTIAL, key) is not None
    client.remove_contact("Dr Rivera")
    assert _docs(client, PEER_CREDENTIAL) == _docs(client, PEER_AVAILABILITY) == _docs(client, PEER_FRANKING) == []


async def test_a_card_without_credential_or_availability_is_an_invite(make_client: MakeClient) -> None:
    now = int(time.time())
    therapist = await make_client("therapist", "therapist")
    client = await make_client("client")
    contact, added = client.add_contact_card("T", therapist.contact_card(now=now), now=now)
    assert (added.credential, added.availability) == (None, "none")
    assert contact.can_send


def test_a_card_is_signed_by_its_holder_only() -> None:
    """A card re-signed by another identity with the therapist's token does not name the therapist."""
    holder = IdentityKeyPair.generate(os.urandom)
    other = IdentityKeyPair.generate(os.urandom)
    card = ContactCard.sign(holder, bytes(32), credential=None, availability=None, issued_at=1)
    forged = bytearray(card.to_bytes())
    forged[1 : 1 + 128] = other.public.to_bytes()
    with pytest.raises(ContactCardError):
        parse_contact_card(bytes(forged), now=2)
    assert parse_card_text(card_text(card.to_bytes())) == card.to_bytes()


# -- the confide command ----------------------------------------------------------------------------------
def _init(capsys: pytest.CaptureFixture[str], url: str, profile: Path, role: str) -> None:
    code, _out, err = run(
        capsys, "init", "--profile", str(profile), "--server", url, "--name", profile.name, "--role", role
    )
    assert code == 0, err


def _therapist_and_client(capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path) -> tuple[Path, Path]:
    """Two new profiles on the relay at ``url``: a therapist's (``tmp_path/t``) and a client's (``tmp_path/c``)."""
    t, c = tmp_path / "t", tmp_path / "c"
    _init(capsys, url, t, "therapist")
    _init(capsys, url, c, "client")
    return t, c


@pytest.mark.usefixtures("env")
def test_cli_credential_availability_and_card(
    capsys: pytest.CaptureFixture[str], relay_thread: str, tmp_path: Path
) -> None:
    t, c = _therapist_and_client(capsys, relay_thread, tmp_path)
    code, out, err = run(capsys, "whoami", "--profile", str(t), "--json")
    assert code == 0, err
    me = json.loads(out)
    identity = _identity_of(t)
    practice = IdentityKeyPair.generate(os.urandom)
    now = int(time.time())
    cred = tmp_path / "cred.doc"
    cred.write_bytes(_credential(practice, identity, now))
    code, out, err = run(capsys, "credential", "import", str(cred), "--profile", str(t))
    assert code == 0, err
    assert "Dr. Ana Rivera" in out
    assert practice.address.text in out
    code, out, err = run(capsys, "credential", "show", "--json", "--profile", str(t))
    assert code == 0, err
    shown = json.loads(out)
    assert shown["licence_number"] == "PSY 12345"
    assert shown["practice_address"] == practice.address.text

    code, out, err = run(
        capsys, "availability", "set", "--tz", "America/New_York", "--hours", "mon-fri 09:00-17:00",
        "--hours", "sat 10:00-12:00", "--reply", "1d", "--profile", str(t),
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run(
        capsys, "availability", "set", "--away", "2026-12-01", "2026-12-03", "--note", "Dr. Lee covers",
        "--profile", str(t),
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run(capsys, "availability", "show", "--json", "--profile", str(t))
    assert code == 0, err
    card = json.loads(out)
    assert card["version"] == 2
    assert card["time_zone"] == "America/New_York"
    assert card["hours"] == ["mon 09:00-17:00", "tue 09:00-17:00", "wed 09:00-17:00", "thu 09:00-17:00",
                             "fri 09:00-17:00", "sat 10:00-12:00"]  # fmt: skip
    assert card["reply_within_s"] == 86400
    assert card["away"]["note"] == "Dr. Lee covers"

    out_file, qr = tmp_path / "me.card", tmp_path / "me.png"
    code, out, err = run(
        capsys, "card", "export", "--out", str(out_file), "--qr", str(qr), "--text", "--profile", str(t)
    )
    assert code == 0, err
    assert out_file.stat().st_mode & 0o777 == 0o600
    assert qr.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = next(line for line in out.splitlines() if line.startswith("CONFIDE-CARD1:"))
    assert parse_card_text(text) == out_file.read_bytes()

    code, out, err = run(capsys, "contacts", "add", "Dr Rivera", str(out_file), "--profile", str(c))
    assert code == 0, err
    assert "Dr. Ana Rivera" in out
    assert "PSY 12345" in out
    assert me["address"] in out


def _identity_of(profile: Path) -> IdentityPublicKey:
    async def read() -> IdentityPublicKey:
        async with Client.open(profile, PASSPHRASE) as client:
            return client.identity

    return asyncio.run(read())


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--tz", "Mars/Olympus", "--hours", "mon 09:00-17:00", "--reply", "1d"], "time zone"),
        (["--tz", "UTC", "--hours", "mon-xyz 09:00-17:00", "--reply", "1d"], "day"),
        (["--tz", "UTC", "--hours", "mon 17:00-09:00", "--reply", "1d"], "ends before it starts"),
        (["--tz", "UTC", "--hours", "mon 09:00-17:00", "--reply", "soon"], "reply time"),
        (
            ["--tz", "UTC", "--hours", "mon 09:00-17:00", "--reply", "1d", "--away", "2026-12-03", "2026-12-01"],
            "ends before",
        ),
        (["--away", "2026-12-01", "2026-12-03"], "no availability card yet"),
    ],
)
def test_cli_bad_availability_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], relay_thread: str, tmp_path: Path, argv: list[str], words: str
) -> None:
    t = tmp_path / "t"
    _init(capsys, relay_thread, t, "therapist")
    code, out, err = run(capsys, "availability", "set", *argv, "--profile", str(t))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("confide availability: ")
    assert words in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("env")
def test_cli_a_tampered_card_is_one_line_and_exit_11(
    capsys: pytest.CaptureFixture[str], relay_thread: str, tmp_path: Path
) -> None:
    t, c = _therapist_and_client(capsys, relay_thread, tmp_path)
    code, out, err = run(capsys, "card", "export", "--text", "--profile", str(t))
    assert code == 0, err
    text = next(line for line in out.splitlines() if line.startswith("CONFIDE-CARD1:"))
    tampered = text[:40] + ("A" if text[40] != "A" else "B") + text[41:]
    code, out, err = run(capsys, "contacts", "add", "T", tampered, "--profile", str(c))
    assert code == 11
    assert err.count("\n") == 1
    assert err.startswith("confide contacts: ")
    code, out, err = run(capsys, "contacts", "list", "--json", "--profile", str(c))
    assert out.strip() == "[]"


async def test_end_to_end_a_practice_credential_travels_in_the_card(make_client: MakeClient) -> None:
    """The practice issues a credential from the therapist's own card; importing it trusts the practice; a client
    who trusts the practice and adds the therapist's new card sees a verified provider (issue 11)."""
    now = int(time.time())
    practice = await make_client("practice", "practice")
    admin = practice.practice_admin()
    admin.set_up()
    admin.set_policy("Harbour Therapy", "If you are in danger, call 911.", [("Crisis line", "988")])
    therapist = await make_client("therapist", "therapist")
    document = admin.issue(therapist.contact_card(now=now), "Dr Ana Rivera", "PSY 1", "Board", "US-CA", now=now)
    await admin.publish(now=now)

    info = await therapist.import_credential(document, now=now)
    assert info.practice_address == practice.address
    assert [p.address for p in therapist.practices(now=now)] == [practice.address]  # pinned by the import

    client = await make_client("client")
    stranger = await make_client("stranger")
    card = therapist.contact_card(now=now)
    untrusted, _ = stranger.add_contact_card("Dr Rivera", card, now=now)
    assert untrusted.provider is None or untrusted.provider.status != ProviderStatus.VERIFIED

    await client.trust_practice(practice.address, now=now)
    contact, added = client.add_contact_card("Dr Rivera", card, now=now)
    assert added.credential is not None
    assert added.credential.display_name == "Dr Ana Rivera"
    assert contact.provider is not None
    assert contact.provider.status == ProviderStatus.VERIFIED


def test_office_hours_as_typed() -> None:
    hours = parse_office_hours(["mon,wed 09:00-12:00,13:00-17:00", "fri-sun 20:00-24:00"])
    assert [(int(h.day), h.start, h.end) for h in hours] == [
        (0, 540, 720),
        (0, 780, 1020),
        (2, 540, 720),
        (2, 780, 1020),
        (4, 1200, 1440),
        (5, 1200, 1440),
        (6, 1200, 1440),
    ]
    assert hours_text(hours) == [
        "mon 09:00-12:00,13:00-17:00",
        "wed 09:00-12:00,13:00-17:00",
        "fri 20:00-24:00",
        "sat 20:00-24:00",
        "sun 20:00-24:00",
    ]
    assert parse_office_hours(["Monday 09:00-10:00"]) == (OfficeHours(0, 540, 600),)
    assert parse_reply_time("1d") == 86400
    assert parse_reply_time("4h") == 4 * 3600


@pytest.mark.parametrize(
    "spec",
    [
        "fri-mon 09:00-17:00",  # backwards
        "mon 09:00-17:00,16:00-18:00",  # overlapping
        "mon 9am-5pm",
        "mon 24:00-24:00",
        "mon 09:60-10:00",
        "mon",
        "mon-fri 09:00-17:00 extra",
    ],
)
def test_office_hours_that_cannot_be_read_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_office_hours([spec])


@pytest.mark.parametrize("text", ["0", "31d", "soon", "-1h"])
def test_reply_times_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="reply time"):
        parse_reply_time(text)


def test_away_dates_are_read_in_the_card_zone() -> None:
    away = away_period("2026-12-01", "2026-12-03", "Europe/Berlin", "")
    assert (away.starts_at, away.ends_at) == (
        1796079600,
        1796252400,
    )  # 2026-11-30 and 12-02 23:00 UTC: midnights in Berlin
    with pytest.raises(ValueError, match="ends before it starts"):
        away_period("2026-12-03", "2026-12-03", "UTC")
    with pytest.raises(ValueError, match="without an offset"):
        away_period("2026-12-01T00:00+02:00", "2026-12-03", "UTC")


def test_what_a_card_brings_is_escaped_on_the_terminal() -> None:
    info = CredentialInfo(
        "cf1-x", "Dr \x1b[2J\u202eEvil", "\x1b]0;t\x07", "B\nfake line", "J", 0, 1, 1, CredentialStatus.EXPIRED
    )
    lines = render.credential_lines(info)
    assert not any(ch in "".join(lines) for ch in ("\x1b", "\x07", "\u202e"))
    assert all("\n" not in line for line in lines)
    assert lines[-1].startswith("WARNING: this credential has expired")


@pytest.mark.usefixtures("env")
def test_cli_note_back_json_and_a_card_too_long_for_a_qr_code(
    capsys: pytest.CaptureFixture[str], relay_thread: str, tmp_path: Path
) -> None:
    t = tmp_path / "t"
    _init(capsys, relay_thread, t, "therapist")
    base = ["availability", "set", "--profile", str(t), "--json"]
    code, out, err = run(capsys, *base, "--tz", "UTC", "--hours", "mon-fri 09:00-17:00", "--reply", "4h")
    assert code == 0, err
    assert json.loads(out)["reply_within"] == "4 hours"
    code, out, err = run(capsys, *base, "--away", "2026-12-01", "2026-12-03", "--note", "first")
    assert code == 0, err
    away = json.loads(out)["away"]
    code, out, err = run(capsys, *base, "--note", "second")  # the dates are kept, the note replaced
    assert code == 0, err
    card = json.loads(out)
    assert card["away"] == {**away, "note": "second"}
    assert card["version"] == 3
    code, out, err = run(capsys, *base, "--back")
    assert code == 0, err
    assert json.loads(out)["away"] is None

    long_note = "\n".join(["Dr. Lee covers for me; write to the practice for anything urgent."] * 15)
    hours = ["mon-sun 06:00-07:00,08:00-09:00,10:00-11:00,12:00-13:00"]
    code, out, err = run(capsys, *base, "--hours", *hours, "--away", "2026-12-01", "2026-12-03", "--note", long_note)
    assert code == 0, err
    practice, now = IdentityKeyPair.generate(os.urandom), int(time.time())
    body = Credential(_identity_of(t), bytes(16), "N" * 128, "L" * 64, "B" * 128, "J" * 64, now - 60, now + YEAR)
    cred = tmp_path / "cred.doc"
    cred.write_bytes(SignedDocument.sign(practice, body, version=1, issued_at=now, expires_at=now + YEAR).to_bytes())
    code, out, err = run(capsys, "credential", "import", str(cred), "--profile", str(t))
    assert code == 0, err
    qr = tmp_path / "me.png"
    code, out, err = run(capsys, "card", "export", "--qr", str(qr), "--profile", str(t))
    assert code == 2
    assert err.count("\n") == 1
    assert "too long for one QR code" in err
    assert not qr.exists()
