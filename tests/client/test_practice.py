"""The practice's own side on a real relay (issue 11): set-up, policy, issuing credentials from a therapist's
contact card, publishing (every document fetched back verifies with the practice as its signer; versions grow),
revoking (the list names it, the directory drops them), the moderation key sealed at rest, report review
(an honest report is authentic, an altered or misdirected one is not), and ``confide practice ...`` with bad
input (one readable line, a typed exit code, no traceback)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from confide.client import (
    Client,
    IssuedCredential,
    MessageReceived,
    NotAPractice,
    PolicyFields,
    PracticeNotReady,
    PracticeSummary,
    ProviderStatus,
    Published,
    RelayUnreachable,
    ReportedMessage,
    ReportReview,
    UnknownCredential,
)
from confide.client.cli import render
from confide.client.cli.exits import EXIT_NOT_FOUND, EXIT_OK, EXIT_OS, EXIT_PROFILE, EXIT_PROTOCOL, EXIT_USAGE
from confide.client.invite import Invite
from confide.client.peer_documents import PRACTICE_STATE
from confide.client.practice import (
    DIRECTORY_LIFETIME_S,
    POLICY_LIFETIME_S,
    REVOCATIONS_LIFETIME_S,
    STATE_KEY,
    PracticeAdmin,
    _decode,
)
from confide.keys.address import Address
from confide.keys.identity import IdentityKeyPair
from confide.keys.keystore import TEST_KDF
from confide.protocol.contact_card import ContactCard, ContactCardError, card_text
from confide.protocol.content import Content, Text, frank_content
from confide.protocol.document_bodies import (
    AvailabilityCard,
    Credential,
    CrisisContact,
    OfficeHours,
    PracticePolicy,
    RevocationList,
)
from confide.protocol.documents import Directory, DocumentKind, SignedDocument, parse_document
from confide.protocol.franking import FrankingKeyPair, FrankingPublicKey
from confide.protocol.franking_binding import franking_key_of
from confide.protocol.franking_report import Report
from confide.protocol.report_file import ReportFile
from confide.server import RelayConfig, start_relay

from .conftest import PASSPHRASE, MakeClient, run

DAY = 86400
NOTICE = "If you are in danger now, call the crisis line below.\nWe answer within a working day."
LICENCE = "PSY-SECRET-49217"


def _now() -> int:
    return int(time.time())


def _availability(pair: IdentityKeyPair, now: int) -> SignedDocument:
    card = AvailabilityCard("Europe/London", (OfficeHours(0, 540, 1020),), DAY)
    return SignedDocument.sign(pair, card, version=1, issued_at=now - 60, expires_at=now + 30 * DAY)


def _card(pair: IdentityKeyPair, token: bytes, *, availability: bool = True) -> bytes:
    now = _now()
    doc = _availability(pair, now) if availability else None
    return ContactCard.sign(pair, token, credential=None, availability=doc, issued_at=now - 60).to_bytes()


def _therapist_card(therapist: Client) -> tuple[bytes, bytes]:
    """The therapist's own contact card (their invite token, their availability card) and that token."""
    token = Invite.parse(therapist.invite_code()).token
    return _card(therapist._keys.identity, token), token


async def _practice(make_client: MakeClient) -> tuple[Client, PracticeAdmin]:
    practice = await make_client("practice", "practice")
    admin = practice.practice_admin()
    admin.set_up()
    admin.set_policy("Harbour Therapy", NOTICE, [("Crisis line", "988"), ("Text line", "Text HOME to 741741")])
    return practice, admin


async def _fetch(practice: Client, kind: DocumentKind) -> SignedDocument:
    raw = await practice._relay.get_document(Address.parse(practice.address), kind.name.lower())
    assert raw is not None
    return parse_document(raw, expected_signer=practice.identity, expected_kind=kind, now=_now())


# -- the library ------------------------------------------------------------------------------------------
async def test_issue_publish_and_fetch_back(make_client: MakeClient) -> None:
    practice, admin = await _practice(make_client)
    therapist = await make_client("therapist", "therapist")
    card, token = _therapist_card(therapist)
    before = _now()
    document = admin.issue(card, "Dr Ana Rivera", LICENCE, "Board of Psychology", "US-CA", list_in_directory=True)

    credential = parse_document(
        document, expected_signer=practice.identity, expected_kind=DocumentKind.CREDENTIAL, now=_now()
    )
    body = credential.body
    assert isinstance(body, Credential)
    assert body.therapist == therapist.identity
    assert (body.display_name, body.licence_number, body.jurisdiction) == ("Dr Ana Rivera", LICENCE, "US-CA")
    assert body.not_after - body.not_before == 365 * DAY
    assert before <= body.not_before <= _now()
    assert credential.expires_at == body.not_after

    published = await admin.publish()
    assert [(p.kind, p.version) for p in published] == [
        (DocumentKind.REVOCATIONS, 1),
        (DocumentKind.DIRECTORY, 1),
        (DocumentKind.POLICY, 1),
    ]

    policy = await _fetch(practice, DocumentKind.POLICY)
    assert isinstance(policy.body, PracticePolicy)
    assert policy.body.practice_name == "Harbour Therapy"
    assert policy.body.crisis_notice == NOTICE
    assert [(c.label, c.number) for c in policy.body.crisis_contacts] == [
        ("Crisis line", "988"),
        ("Text line", "Text HOME to 741741"),
    ]
    assert policy.body.moderation_key == admin.show().moderation_key
    assert policy.expires_at - policy.issued_at == POLICY_LIFETIME_S

    directory = await _fetch(practice, DocumentKind.DIRECTORY)
    assert isinstance(directory.body, Directory)
    [entry] = directory.body.entries
    assert entry.credential.to_bytes() == document
    assert entry.delivery_token == token
    assert entry.availability is not None
    assert entry.availability.signer == therapist.identity
    assert directory.expires_at - directory.issued_at == DIRECTORY_LIFETIME_S

    revocations = await _fetch(practice, DocumentKind.REVOCATIONS)
    assert revocations.body == RevocationList(())
    assert revocations.expires_at - revocations.issued_at == REVOCATIONS_LIFETIME_S

    summary = admin.show()
    assert [(p.kind, p.version) for p in summary.published] == [(p.kind, p.version) for p in published]
    [issued] = summary.credentials
    assert issued.document == document
    assert issued.listed
    assert issued.revoked_at is None


async def test_revoke_names_the_id_unlists_and_versions_grow(make_client: MakeClient) -> None:
    practice, admin = await _practice(make_client)
    first = IdentityKeyPair.generate(os.urandom)
    second = IdentityKeyPair.generate(os.urandom)
    doc1 = admin.issue(_card(first, os.urandom(32)), "Dr One", "L-1", "Board", "UK", list_in_directory=True)
    admin.issue(_card(second, os.urandom(32)), "Dr Two", "L-2", "Board", "UK", list_in_directory=True)
    await admin.publish()
    directory = await _fetch(practice, DocumentKind.DIRECTORY)
    assert isinstance(directory.body, Directory)
    assert {e.therapist for e in directory.body.entries} == {first.public, second.public}

    cid1 = parse_document(doc1, expected_signer=None, expected_kind=DocumentKind.CREDENTIAL, now=_now()).body
    assert isinstance(cid1, Credential)
    [revoked] = await admin.revoke(cid1.credential_id.hex())
    assert revoked.credential_id == cid1.credential_id
    assert revoked.revoked_at is not None

    revocations = await _fetch(practice, DocumentKind.REVOCATIONS)
    assert isinstance(revocations.body, RevocationList)
    assert revocations.version == 2
    assert [r.credential_id for r in revocations.body.revoked] == [cid1.credential_id]
    directory = await _fetch(practice, DocumentKind.DIRECTORY)
    assert isinstance(directory.body, Directory)
    assert directory.version == 2
    assert [e.therapist for e in directory.body.entries] == [second.public]

    # By address: every live credential of that therapist.
    await admin.revoke(second.public.address.text)
    revocations = await _fetch(practice, DocumentKind.REVOCATIONS)
    assert isinstance(revocations.body, RevocationList)
    assert revocations.version == 3
    assert len(revocations.body.revoked) == 2
    directory = await _fetch(practice, DocumentKind.DIRECTORY)
    assert isinstance(directory.body, Directory)
    assert directory.body.entries == ()

    assert all(c.delivery_token is None and c.availability is None for c in admin.show().credentials)

    versions = [p.version for p in await admin.publish()]
    assert versions == [4, 4, 4]
    assert (await _fetch(practice, DocumentKind.POLICY)).version == 4


async def test_refusals_keep_nothing(make_client: MakeClient) -> None:
    practice = await make_client("practice", "practice")
    admin = practice.practice_admin()
    with pytest.raises(PracticeNotReady):
        admin.show()
    admin.set_up()
    key = admin.show().moderation_key
    assert admin.set_up() == key  # once: a second init keeps the key clients pinned with the policy
    with pytest.raises(PracticeNotReady):
        await admin.publish()
    assert await practice._relay.get_document(Address.parse(practice.address), "policy") is None

    pair = IdentityKeyPair.generate(os.urandom)
    card = bytearray(_card(pair, os.urandom(32)))
    card[-1] ^= 1  # the card's own signature no longer verifies
    with pytest.raises(ContactCardError):
        admin.issue(bytes(card), "Dr Forged", "L-9", "Board", "UK")
    with pytest.raises(ValueError, match="valid for 1 to 400 days"):
        admin.issue(_card(pair, os.urandom(32)), "Dr Long", "L-9", "Board", "UK", valid_days=401)
    with pytest.raises(ValueError, match="display name"):
        admin.issue(_card(pair, os.urandom(32)), "", "L-9", "Board", "UK")
    assert admin.show().credentials == ()

    with pytest.raises(UnknownCredential):
        await admin.revoke(os.urandom(16).hex())
    with pytest.raises(UnknownCredential):
        await admin.revoke(pair.public.address.text)
    with pytest.raises(UnknownCredential, match="32 hex digits"):
        await admin.revoke("not-an-id")

    client = await make_client("someone")
    with pytest.raises(NotAPractice):
        client.practice_admin()


async def test_moderation_key_and_identity_sealed_at_rest(make_client: MakeClient) -> None:
    practice, admin = await _practice(make_client)
    admin.issue(_card(IdentityKeyPair.generate(os.urandom), os.urandom(32)), "Dr Sealed", LICENCE, "B", "UK")
    await admin.publish()
    raw_state = practice._store.get_doc(PRACTICE_STATE, STATE_KEY)
    assert raw_state is not None
    secret = _decode(raw_state).moderation_secret
    assert FrankingKeyPair(secret).public == admin.show().moderation_key
    identity = practice._keys.identity.private_bytes()
    needles = [secret, secret.hex().encode(), identity, identity.hex().encode(), LICENCE.encode()]
    root = practice.profile_dir

    def assert_absent() -> None:
        files = [p for p in root.rglob("*") if p.is_file()]
        assert any(p.name.startswith("store.db") for p in files)
        for path in files:
            data = path.read_bytes()
            for needle in needles:
                assert needle not in data, f"a secret found in {path.name}"

    assert_absent()
    await practice.close()
    assert_absent()


def _report(
    judge: FrankingPublicKey, text: str = "you will regret this"
) -> tuple[ReportFile, IdentityKeyPair, IdentityKeyPair]:
    """A therapist's franked message to a client, and the report file the client makes of it."""
    sender, recipient = IdentityKeyPair.generate(os.urandom), IdentityKeyPair.generate(os.urandom)
    inner = Content(os.urandom(16), _now() * 1000, 0, Text(text))
    franked = frank_content(
        inner, sender=sender, recipient_key=franking_key_of(recipient).public, judge=judge, rng=os.urandom
    )
    report = ReportFile.of_franked(franked, sender=sender.public, recipient=recipient, reported_at=_now())
    return report, sender, recipient


async def test_review_honest_altered_and_misdirected(make_client: MakeClient) -> None:
    _practice_client, admin = await _practice(make_client)
    judge = admin.show().moderation_key
    honest, sender, recipient = _report(judge)
    verdict = admin.review(honest.to_bytes())
    assert verdict.authentic
    assert verdict.sender_address == sender.public.address.text
    assert verdict.recipient_address == recipient.public.address.text
    assert (verdict.sender_credential, verdict.recipient_credential) == (None, None)
    assert verdict.message == ReportedMessage("text", text="you will regret this")
    assert [(c.name, c.holds) for c in verdict.checks] == [
        ("judge_matches", True),
        ("sender_bound", True),
        ("recipient_bound", True),
        ("franking_holds", True),
    ]

    altered_inner = Content(os.urandom(16), _now() * 1000, 0, Text("a message they never sent")).to_bytes()
    r = honest.report
    altered = ReportFile(
        honest.judge,
        honest.sender,
        honest.sender_binding,
        honest.recipient,
        honest.recipient_binding,
        honest.reported_at,
        Report(r.sender, r.recipient, altered_inner, r.franking),
    )
    verdict = admin.review(altered.to_bytes())
    assert not verdict.authentic
    assert not verdict.franking_holds
    assert verdict.judge_matches
    assert verdict.sender_bound
    assert verdict.recipient_bound
    assert [c.reason for c in verdict.checks if not c.holds] == [
        "the franking does not hold: the message was altered or the report forged"
    ]

    other_judge = FrankingKeyPair.generate(os.urandom).public
    elsewhere, _, _ = _report(other_judge)
    verdict = admin.review(elsewhere.to_bytes())
    assert not verdict.authentic
    assert not verdict.judge_matches


# -- the command ------------------------------------------------------------------------------------------
@pytest.fixture
def practice_env(env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("CONFIDE_PRACTICE_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("CONFIDE_PRACTICE", raising=False)
    return tmp_path / "practice"


def _moderation_key(practice_dir: Path) -> FrankingPublicKey:
    async def read() -> FrankingPublicKey:
        async with Client.open(practice_dir, PASSPHRASE) as client:
            return client.practice_admin().show().moderation_key

    return asyncio.run(read())


def _init_practice(
    capsys: pytest.CaptureFixture[str], practice_env: Path, url: str, name: str
) -> tuple[list[str], str]:
    """``confide practice init`` of ``practice_env`` on the relay at ``url``, which succeeds: the ``--practice``
    arguments for the next commands, and what init printed."""
    at = ["--practice", str(practice_env)]
    code, out, err = run(capsys, "practice", "init", *at, "--server", url, "--name", name)
    assert code == EXIT_OK, err
    return at, out


def _one_line(err: str) -> None:
    assert err.count("\n") == 1
    assert err.startswith("confide practice: ")
    assert "Traceback" not in err


def test_cli_practice_end_to_end(
    practice_env: Path, relay_thread: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    at, out = _init_practice(capsys, practice_env, relay_thread, "Harbour Therapy")
    address = out.split("Practice address: ")[1].split()[0]
    assert f"confide practices trust {address}" in out

    code, out, err = run(capsys, "practice", "publish", *at)
    assert code == EXIT_PROFILE
    assert "policy" in err
    _one_line(err)

    code, out, err = run(
        capsys, "practice", "policy", *at, "--crisis-notice", NOTICE, "--crisis", "Crisis line=988", "--crisis", "Text"
    )
    assert code == EXIT_USAGE
    assert "LABEL=NUMBER" in err
    _one_line(err)
    notice_file = tmp_path / "notice.txt"
    notice_file.write_text(NOTICE + "\n")
    code, out, err = run(
        capsys, "practice", "policy", *at, "--crisis-notice-file", str(notice_file), "--crisis", "Crisis line=988"
    )
    assert code == EXIT_OK, err

    pair = IdentityKeyPair.generate(os.urandom)
    card_file = tmp_path / "therapist.card"
    card_file.write_bytes(_card(pair, os.urandom(32)))
    cred_file = tmp_path / "cred.doc"
    details = ["--name", "Dr Ana Rivera", "--licence", "PSY 1", "--body", "Board", "--jurisdiction", "US-CA"]
    code, out, err = run(capsys, "practice", "issue", *at, str(card_file), *details, "--list", "--out", str(cred_file))
    assert code == EXIT_OK, err
    credential = parse_document(
        cred_file.read_bytes(), expected_signer=None, expected_kind=DocumentKind.CREDENTIAL, now=_now()
    )
    assert credential.signer.address.text == address
    assert oct(cred_file.stat().st_mode & 0o777) == "0o600"

    # The text form of a second therapist's card, on the command line; the output file exists: refused first.
    other = IdentityKeyPair.generate(os.urandom)
    text = card_text(_card(other, os.urandom(32), availability=False))
    code, out, err = run(capsys, "practice", "issue", *at, text, *details, "--out", str(cred_file))
    assert code == EXIT_OS
    _one_line(err)
    code, out, err = run(capsys, "practice", "issue", *at, text, *details, "--out", str(tmp_path / "c2.doc"))
    assert code == EXIT_OK, err

    code, out, err = run(capsys, "practice", "publish", *at)
    assert code == EXIT_OK, err
    assert "revocations  version 1" in out
    assert "policy       version 1" in out

    code, out, err = run(capsys, "practice", "show", *at, "--json", "--qr", str(tmp_path / "pin.png"))
    assert code == EXIT_OK, err
    shown = json.loads(out)
    assert shown["address"] == address
    assert shown["policy"]["crisis_notice"] == NOTICE
    assert [c["listed"] for c in shown["credentials"]] == [True, False]
    assert shown["published"]["directory"]["version"] == 1
    assert (tmp_path / "pin.png").read_bytes().startswith(b"\x89PNG")

    first_id = shown["credentials"][0]["id"]
    code, out, err = run(capsys, "practice", "revoke", *at, first_id)
    assert code == EXIT_OK, err
    assert first_id in out
    code, out, err = run(capsys, "practice", "show", *at)
    assert code == EXIT_OK
    assert "REVOKED" in out
    assert "version 2" in out

    # Bad input: one line each, a typed exit code.
    code, out, err = run(capsys, "practice", "revoke", *at, os.urandom(16).hex())
    assert code == EXIT_NOT_FOUND
    _one_line(err)
    bad_card = tmp_path / "bad.card"
    bad_card.write_bytes(b"\x01" + os.urandom(400))
    code, out, err = run(capsys, "practice", "issue", *at, str(bad_card), *details, "--out", str(tmp_path / "x.doc"))
    assert code == EXIT_PROTOCOL
    assert "contact card is not valid" in err
    _one_line(err)
    assert not (tmp_path / "x.doc").exists()
    code, out, err = run(capsys, "practice", "issue", *at, "CONFIDE-CARD1:ZZZZ", *details, "--out", str(tmp_path / "y"))
    assert code == EXIT_PROTOCOL
    _one_line(err)
    code, out, err = run(capsys, "practice", "issue", *at, text, *details, "--valid-days", "0", "--out", "z")
    assert code == EXIT_USAGE
    assert "1 to 400 days" in err
    _one_line(err)


def test_cli_review_and_escaping(
    practice_env: Path, relay_thread: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    at, _out = _init_practice(capsys, practice_env, relay_thread, "Harbour")
    judge = _moderation_key(practice_env)

    honest, sender, recipient = _report(judge, "leave now\n[12:00] practice: \u202eall is forgiven")
    report_file = tmp_path / "report.bin"
    report_file.write_bytes(honest.to_bytes())
    code, out, err = run(capsys, "practice", "review", *at, str(report_file))
    assert code == EXIT_OK, err
    assert "Verdict: AUTHENTIC" in out
    assert f"Sender:    {sender.public.address.text}" in out
    assert f"Recipient: {recipient.public.address.text}" in out
    assert "\u202e" not in out
    assert "\\u202e" in out
    assert "\n    | [12:00] practice:" in out  # a further line of the message cannot pose as a line of its own

    code, out, err = run(capsys, "practice", "review", *at, str(report_file), "--json")
    assert code == EXIT_OK
    verdict = json.loads(out)
    assert verdict["authentic"] is True
    assert verdict["message"]["text"].startswith("leave now")

    elsewhere, _, _ = _report(FrankingKeyPair.generate(os.urandom).public)
    report_file.write_bytes(elsewhere.to_bytes())
    code, out, err = run(capsys, "practice", "review", *at, str(report_file))
    assert code == EXIT_OK
    assert "NOT AUTHENTIC" in out
    assert "another moderation key" in out
    assert "(NOT proven)" in out

    report_file.write_bytes(b"\x01" + os.urandom(2000))
    code, out, err = run(capsys, "practice", "review", *at, str(report_file))
    assert code == EXIT_PROTOCOL
    assert "not a Confide report file" in err
    _one_line(err)


def test_cli_not_a_practice(practice_env: Path, relay_thread: str, capsys: pytest.CaptureFixture[str]) -> None:
    profile = practice_env.parent / "person"
    code, _out, err = run(capsys, "init", "--profile", str(profile), "--server", relay_thread, "--name", "Person")
    assert code == EXIT_OK, err
    code, _out, err = run(capsys, "practice", "show", "--practice", str(profile))
    assert code == EXIT_PROFILE
    assert "not a practice" in err
    _one_line(err)
    code, _out, err = run(capsys, "practice", "show", "--practice", str(practice_env.parent / "nowhere"))
    assert code == EXIT_PROFILE
    _one_line(err)


async def test_publish_after_restoring_an_older_state_goes_above_the_relay(make_client: MakeClient) -> None:
    practice, admin = await _practice(make_client)
    now = _now()
    await admin.publish(now=now)
    older = practice._store.get_doc(PRACTICE_STATE, STATE_KEY)
    assert older is not None
    await admin.publish(now=now + 60)
    practice._store.put_doc(PRACTICE_STATE, STATE_KEY, older)  # a copy of the profile from before version 2

    published = await admin.publish(now=now + 120)
    assert [p.version for p in published] == [3, 3, 3]
    assert [p.version for p in admin.show().published] == [3, 3, 3]
    assert (await _fetch(practice, DocumentKind.REVOCATIONS)).version == 3


async def test_a_renewed_listed_credential_takes_the_listing(make_client: MakeClient) -> None:
    practice, admin = await _practice(make_client)
    pair = IdentityKeyPair.generate(os.urandom)
    old = admin.issue(_card(pair, os.urandom(32)), "Dr Old", "L-1", "Board", "UK", list_in_directory=True)
    new = admin.issue(_card(pair, os.urandom(32)), "Dr New", "L-1", "Board", "UK", list_in_directory=True)
    await admin.publish()
    directory = await _fetch(practice, DocumentKind.DIRECTORY)
    assert isinstance(directory.body, Directory)
    assert [e.credential.to_bytes() for e in directory.body.entries] == [new]
    assert [(c.document == old, c.listed) for c in admin.show().credentials] == [(True, False), (False, True)]


async def test_a_client_trusts_what_the_practice_publishes(make_client: MakeClient) -> None:
    """End to end with the reader's side: a client pins the practice's address, sees the listed therapist as
    verified, writes to them through the directory, and sees the revocation after the practice revokes."""
    practice, admin = await _practice(make_client)
    therapist = await make_client("therapist", "therapist")
    card, _token = _therapist_card(therapist)
    admin.issue(card, "Dr Ana Rivera", LICENCE, "Board of Psychology", "US-CA", list_in_directory=True)
    await admin.publish()

    client = await make_client("client")
    info = await client.trust_practice(practice.address)
    assert info.name == "Harbour Therapy"
    assert (info.policy_version, info.directory_version, info.revocations_version) == (1, 1, 1)
    [listing] = client.directory(practice.address)
    assert listing.address == therapist.address
    assert listing.status == ProviderStatus.VERIFIED
    contact = client.start_from_directory(practice.address, 1, "Dr Rivera")
    assert contact.provider is not None
    assert contact.provider.status == ProviderStatus.VERIFIED
    await client.send_text("Dr Rivera", "hello from the directory")
    assert [e.message.text for e in await therapist.sync() if isinstance(e, MessageReceived)] == [
        "hello from the directory"
    ]

    await admin.revoke(therapist.address)
    await client.refresh_practices()
    provider = client.contact("Dr Rivera").provider
    assert provider is not None
    assert provider.status == ProviderStatus.REVOKED
    assert client.directory(practice.address) == []


async def test_a_revocation_that_could_not_be_published_is_kept(make_client: MakeClient) -> None:
    practice = await make_client("practice", "practice")
    admin = practice.practice_admin()
    admin.set_up()
    pair = IdentityKeyPair.generate(os.urandom)
    admin.issue(_card(pair, os.urandom(32)), "Dr Gone", "L-1", "Board", "UK", list_in_directory=True)
    with pytest.raises(PracticeNotReady, match="revoked on this device but not published yet"):
        await admin.revoke(pair.public.address.text)
    [kept] = admin.show().credentials
    assert kept.revoked_at is not None
    assert not kept.listed

    admin.set_policy("Harbour Therapy", NOTICE, [])
    await admin.publish()
    revocations = await _fetch(practice, DocumentKind.REVOCATIONS)
    assert isinstance(revocations.body, RevocationList)
    assert [r.credential_id for r in revocations.body.revoked] == [kept.credential_id]


async def test_publish_finishes_a_registration_an_outage_interrupted(tmp_path: Path, unused_tcp_port: int) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    with pytest.raises(RelayUnreachable):
        await Client.create(tmp_path / "practice", PASSPHRASE, url, "Harbour", "practice", kdf=TEST_KDF)
    config = RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
    async with (
        start_relay(config, host="127.0.0.1", port=unused_tcp_port),
        Client.open(tmp_path / "practice", PASSPHRASE) as practice,
    ):
        admin = practice.practice_admin()
        admin.set_up()
        admin.set_policy("Harbour Therapy", NOTICE, [])
        assert [p.version for p in await admin.publish()] == [1, 1, 1]
        assert (await _fetch(practice, DocumentKind.POLICY)).version == 1


def test_cli_card_to_credential(
    practice_env: Path, relay_thread: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The round trip by hand: the therapist exports a card, the practice issues from it, the therapist imports."""
    at = ["--practice", str(practice_env)]
    me = ["--profile", str(tmp_path / "therapist")]
    code, _out, err = run(capsys, "init", *me, "--server", relay_thread, "--name", "Ana", "--role", "therapist")
    assert code == EXIT_OK, err
    card = tmp_path / "me.card"
    code, _out, err = run(capsys, "card", "export", *me, "--out", str(card))
    assert code == EXIT_OK, err
    code, _out, err = run(capsys, "practice", "init", *at, "--server", relay_thread, "--name", "Harbour")
    assert code == EXIT_OK, err
    code, _out, err = run(capsys, "practice", "policy", *at, "--crisis-notice", NOTICE, "--crisis", "Crisis line=988")
    assert code == EXIT_OK, err
    cred = tmp_path / "cred.doc"
    details = ["--name", "Dr Ana Rivera", "--licence", "PSY 1", "--body", "Board", "--jurisdiction", "US-CA"]
    code, out, err = run(capsys, "practice", "issue", *at, str(card), *details, "--list", "--out", str(cred))
    assert code == EXIT_OK, err
    code, _out, err = run(capsys, "practice", "publish", *at)
    assert code == EXIT_OK, err
    code, out, err = run(capsys, "credential", "import", *me, str(cred))
    assert code == EXIT_OK, err
    assert "Dr Ana Rivera" in out


def test_cli_review_of_a_real_report(
    practice_env: Path, relay_thread: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A client reports a franked message from the practice's therapist with ``confide report``; ``confide
    practice review`` finds it authentic and names the therapist's credential."""

    async def exchange() -> str:
        practice = await Client.create(practice_env, PASSPHRASE, relay_thread, "Harbour", "practice", kdf=TEST_KDF)
        therapist = await Client.create(tmp_path / "t", PASSPHRASE, relay_thread, "Ana", "therapist", kdf=TEST_KDF)
        client = await Client.create(tmp_path / "c", PASSPHRASE, relay_thread, "Sam", kdf=TEST_KDF)
        async with practice, therapist, client:
            admin = practice.practice_admin()
            admin.set_up()
            admin.set_policy("Harbour Therapy", NOTICE, [])
            credential = admin.issue(
                therapist.contact_card(), "Dr Ana Rivera", "PSY 1", "Board", "US-CA", list_in_directory=True
            )
            await admin.publish()
            await therapist.import_credential(credential)
            await client.trust_practice(practice.address)
            client.start_from_directory(practice.address, 1, "Dr Rivera")
            received = []
            for text in ("first", "second"):
                await client.send_text("Dr Rivera", f"{text} from the client")
                await therapist.sync()
                await therapist.send_text(therapist.contacts()[0].name, f"{text} from the therapist")
                received += [e.message for e in await client.sync() if isinstance(e, MessageReceived)]
            assert received[-1].reportable
            return received[-1].message_id

    message_id = asyncio.run(exchange())
    report = tmp_path / "report.bin"
    code, _out, err = run(
        capsys, "report", "--profile", str(tmp_path / "c"), "Dr Rivera", message_id, "--out", str(report)
    )
    assert code == EXIT_OK, err
    code, out, err = run(capsys, "practice", "review", "--practice", str(practice_env), str(report))
    assert code == EXIT_OK, err
    assert out.startswith("Verdict: AUTHENTIC")
    assert "(credential of Dr Ana Rivera)" in out.split("Sender:")[1].splitlines()[0]
    assert "second from the therapist" in out


async def test_versions_are_recorded_only_once_the_relay_accepted(tmp_path: Path, unused_tcp_port: int) -> None:
    config = RelayConfig(data_dir=tmp_path / "relay", rate_per_s=0, bundle_rate_per_min=0, device_rate_per_s=0)
    async with start_relay(config, host="127.0.0.1", port=unused_tcp_port) as url:
        practice = await Client.create(tmp_path / "practice", PASSPHRASE, url, "Harbour", "practice", kdf=TEST_KDF)
        admin = practice.practice_admin()
        admin.set_up()
        admin.set_policy("Harbour Therapy", NOTICE, [])
        await admin.publish()
    async with practice:
        with pytest.raises(RelayUnreachable):
            await admin.publish()  # the relay is down
        assert [p.version for p in admin.show().published] == [1, 1, 1]
        async with start_relay(config, host="127.0.0.1", port=unused_tcp_port):
            assert [p.version for p in await admin.publish()] == [2, 2, 2]


# -- what reaches the terminal ----------------------------------------------------------------------------
ATTACK = "\x1b[2J\u202eevil\nVerdict: AUTHENTIC"
"""Peer-chosen text that would clear the screen, reorder the line and forge a verdict line of its own."""


def _clean(lines: list[str]) -> str:
    shown = "\n".join(lines)
    assert not any(ch in shown for ch in ("\x1b", "\u202e"))
    return shown


def test_a_review_escapes_what_the_report_and_the_practice_wrote() -> None:
    """Attack: the file name, caption and the credential names of a report cannot draw on the terminal, and no
    line of it can pass for the verdict."""
    attached = ReportedMessage("file", name=ATTACK, mime=ATTACK, size=5, caption=ATTACK)
    review = ReportReview(True, True, True, True, "cf1-s", "cf1-r", ATTACK, None, attached)
    lines = render.review_lines(review)
    shown = _clean(lines)
    assert [line for line in shown.splitlines() if line.startswith("Verdict:")] == [
        "Verdict: AUTHENTIC: the sender sent exactly this message to the recipient."
    ]
    assert lines[1] == "Sender:    cf1-s (credential of \\x1b[2J\\u202eevil\\x0aVerdict: AUTHENTIC)"
    assert lines[2] == "Recipient: cf1-r"
    assert lines[3].startswith("Reported message: a file \\x1b[2J\\u202eevil\\x0aVerdict: AUTHENTIC (")
    assert "\n    | Verdict: AUTHENTIC" in lines[3]  # a caption's further line is marked as a continuation


def test_a_review_that_fails_names_each_failed_check_and_marks_the_message_unproven() -> None:
    review = ReportReview(False, True, False, False, "cf1-s", "cf1-r", None, None, ReportedMessage("other"))
    assert render.review_lines(review) == [
        "Verdict: NOT AUTHENTIC: this report proves nothing.",
        "  - it was franked for another moderation key than this practice's",
        "  - the recipient's franking key is not bound to the named recipient",
        "  - the franking does not hold: the message was altered or the report forged",
        "Sender:    cf1-s",
        "Recipient: cf1-r",
        "Reported message (NOT proven): (not a text or a file)",
    ]
    text = ReportReview(True, True, True, True, "cf1-s", "cf1-r", None, None, ReportedMessage("text", text=ATTACK))
    assert _clean(render.review_lines(text)).endswith("\n    | Verdict: AUTHENTIC")
    unreadable = ReportReview(True, True, True, True, "cf1-s", "cf1-r", None, None, None)
    assert render.review_lines(unreadable)[-1] == "Reported message: (not a readable message)"


def test_the_practice_summary_escapes_its_texts() -> None:
    judge = FrankingKeyPair.generate(os.urandom).public
    policy = PolicyFields(ATTACK, ATTACK, (CrisisContact("Crisis line", "988"),))
    issued = IssuedCredential(bytes(16), b"", "cf1-t", ATTACK, "L", "B", "J", 0, 86400, True, revoked_at=60)
    summary = PracticeSummary("cf1-p", judge, policy, (issued,), (Published(DocumentKind.POLICY, 2, 86400),))
    lines = render.practice_summary_lines(summary)
    _clean(lines)
    assert lines[0] == "Practice:       \\x1b[2J\\u202eevil\\x0aVerdict: AUTHENTIC"
    assert lines[4] == "Crisis notice:  \\x1b[2J\\u202eevil\n    | Verdict: AUTHENTIC"
    assert lines[7] == (
        f"  {'00' * 16}  \\x1b[2J\\u202eevil\\x0aVerdict: AUTHENTIC; L, B, J; cf1-t; valid until 1970-01-02 00:00 UTC"
        "  [listed, REVOKED 1970-01-01 00:01 UTC]"
    )
    assert lines[-1] == "  policy       version 2, expires 1970-01-02 00:00 UTC"
