"""Trusting a practice and what it says about contacts (issue 11, the reader's side), on a real relay: pinning by
address or file, a credentialed therapist shown as a verified provider, and the attacks: a forged credential, a
revoked one, an expired one, one naming another identity, a relay replaying an older directory or revocation
list, a revocation list past its expiry, a forged availability card. The practice is a real practice profile
(``role="practice"``) whose documents the test signs with :mod:`confide.protocol.documents` and publishes to
the relay."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from confide.client import Client
from confide.client import peer_documents as docs
from confide.client.errors import PracticeUnavailable, UnknownListing, UnknownPractice
from confide.client.invite import Invite
from confide.client.models import ProviderStatus
from confide.client.practices import REFRESH_INTERVAL_S, WarningKind
from confide.client.records import ContactRecord
from confide.keys.address import Address
from confide.keys.identity import IdentityKeyPair, IdentityPublicKey
from confide.keys.keystore import TEST_KDF
from confide.protocol.document_bodies import (
    AvailabilityCard,
    Credential,
    CrisisContact,
    OfficeHours,
    PracticePolicy,
    RevocationList,
)
from confide.protocol.documents import Body, Directory, DirectoryEntry, DocumentKind, SignedDocument
from confide.protocol.franking import FrankingKeyPair

from .conftest import PASSPHRASE, MakeClient, run

DAY = 86400
NOTICE = "If you are in danger, call emergency services now."
CRISIS = (CrisisContact("Emergency", "112"),)


def _now() -> int:
    return int(time.time())


def _sign(identity: IdentityKeyPair, body: Body, *, version: int, lifetime: int = 30 * DAY) -> SignedDocument:
    issued = _now() - 60
    return SignedDocument.sign(identity, body, version=version, issued_at=issued, expires_at=issued + lifetime)


def _identity(client: Client) -> IdentityKeyPair:
    return client._keys.identity


@dataclass
class Practice:
    """A practice profile and the documents it publishes."""

    client: Client
    judge: FrankingKeyPair = field(default_factory=lambda: FrankingKeyPair.generate(os.urandom))
    versions: dict[DocumentKind, int] = field(default_factory=dict)

    @property
    def identity(self) -> IdentityKeyPair:
        return _identity(self.client)

    @property
    def address(self) -> str:
        return self.client.address

    def credential(
        self, therapist: IdentityPublicKey, *, name: str = "Dr. Ana Rivera", not_before: int | None = None,
        not_after: int | None = None, signer: IdentityKeyPair | None = None,
    ) -> SignedDocument:  # fmt: skip
        start = _now() - DAY if not_before is None else not_before
        end = _now() + 365 * DAY if not_after is None else not_after
        body = Credential(therapist, os.urandom(16), name, "PSY 12345", "State Board", "US-CA", start, end)
        return _sign(signer or self.identity, body, version=1, lifetime=390 * DAY)

    async def publish(self, body: Body, *, version: int | None = None, lifetime: int = 30 * DAY) -> SignedDocument:
        kind = {PracticePolicy: DocumentKind.POLICY, Directory: DocumentKind.DIRECTORY}.get(
            type(body), DocumentKind.REVOCATIONS
        )
        v = self.versions.get(kind, 0) + 1 if version is None else version
        self.versions[kind] = v
        document = _sign(self.identity, body, version=v, lifetime=lifetime)
        await self.client._relay.put_document(Address.parse(self.address), document.to_bytes())
        return document

    async def publish_policy(self) -> None:
        await self.publish(PracticePolicy("Harbor Therapy", NOTICE, CRISIS, moderation_key=self.judge.public))

    async def publish_directory(self, *entries: DirectoryEntry) -> SignedDocument:
        return await self.publish(Directory(entries))

    async def publish_revocations(self, *revoked: bytes, lifetime: int = 30 * DAY) -> SignedDocument:
        return await self.publish(RevocationList.of(dict.fromkeys(revoked, _now() - 10)), lifetime=lifetime)


def _entry(credential: SignedDocument, therapist: Client, card: SignedDocument | None = None) -> DirectoryEntry:
    return DirectoryEntry(credential, Invite.parse(therapist.invite_code()).token, card)


def _card(signer: IdentityKeyPair, *, version: int = 1, reply_s: int = DAY) -> SignedDocument:
    every_hour = tuple(OfficeHours(day, 0, 1440) for day in range(7))
    return _sign(signer, AvailabilityCard("UTC", every_hour, reply_s), version=version)


def _credential_id(document: SignedDocument) -> bytes:
    assert isinstance(document.body, Credential)
    return document.body.credential_id


async def _practice(make_client: MakeClient) -> Practice:
    practice = Practice(await make_client("practice", "practice"))
    await practice.publish_policy()
    return practice


def _plant_credential(client: Client, contact: ContactRecord, credential: bytes) -> None:
    """Put ``credential`` in ``client``'s store as ``contact``'s, past every check on the way in, so that what is
    tested is the check when it is read."""
    with client._store.transaction():
        client._store.put_doc(docs.PEER_CREDENTIAL, contact.address, credential, owner=contact.contact_id)


async def _listed_bob(make_client: MakeClient) -> tuple[Practice, Client, SignedDocument, Client]:
    """A practice listing therapist bob (nothing revoked), and alice trusting it with bob started from its
    directory: (practice, bob, bob's credential, alice)."""
    practice = await _practice(make_client)
    bob = await make_client("bob", "therapist")
    credential = practice.credential(_identity(bob).public)
    await practice.publish_directory(_entry(credential, bob))
    await practice.publish_revocations()
    alice = await make_client("alice")
    await alice.trust_practice(practice.address)
    alice.start_from_directory(practice.address, 1, "bob")
    return practice, bob, credential, alice


def _replay(tmp_path: Path, address: str, kind: DocumentKind, document: SignedDocument) -> None:
    """What a hostile relay does: serve an older document in place of the newest (the relay's row rewritten)."""
    with sqlite3.connect(tmp_path / "relay" / "relay.db") as db:
        changed = db.execute(
            "UPDATE documents SET version = ?, data = ? WHERE address = ? AND kind = ?",
            (document.version.to_bytes(8, "big"), document.to_bytes(), Address.parse(address).raw, int(kind)),
        ).rowcount
    assert changed == 1


# -- trusting ------------------------------------------------------------------------------------------------
async def test_trust_by_address_and_by_file(make_client: MakeClient, tmp_path: Path) -> None:
    practice = await _practice(make_client)
    await practice.publish_directory()
    await practice.publish_revocations()
    alice = await make_client("alice")

    info = await alice.trust_practice(practice.address)
    assert (info.name, info.address) == ("Harbor Therapy", practice.address)
    assert (info.policy_version, info.directory_version, info.revocations_version, info.listed) == (1, 1, 1, 0)
    assert info.warnings == ()
    assert [p.address for p in alice.practices()] == [practice.address]

    bob = await make_client("bob")
    pin = tmp_path / "practice.txt"
    pin.write_text(f"CONFIDE-PRACTICE:{practice.address}\n")
    info = await bob.trust_practice(str(pin))
    assert info.address == practice.address
    assert alice.directory("harbor therapy") == []  # by name, case-insensitive

    alice.forget_practice("Harbor Therapy")
    assert alice.practices() == []
    assert alice._store.docs(docs.PRACTICE) == []
    assert alice._store.docs(docs.GUARD) == []
    with pytest.raises(UnknownPractice):
        alice.directory(practice.address)


async def test_an_address_without_a_policy_is_refused(make_client: MakeClient) -> None:
    alice = await make_client("alice")
    nobody = await make_client("nobody")  # registered, never published anything
    with pytest.raises(PracticeUnavailable):
        await alice.trust_practice(nobody.address)
    assert alice.practices() == []


# -- provider state ------------------------------------------------------------------------------------------
async def test_a_listed_therapist_is_a_verified_provider(make_client: MakeClient) -> None:
    practice = await _practice(make_client)
    bob = await make_client("bob", "therapist")
    credential = practice.credential(_identity(bob).public)
    await practice.publish_directory(_entry(credential, bob, _card(_identity(bob))))
    await practice.publish_revocations()
    alice = await make_client("alice")
    await alice.trust_practice(practice.address)

    [listing] = alice.directory(practice.address)
    assert (listing.number, listing.display_name, listing.status, listing.can_write) == (
        1,
        "Dr. Ana Rivera",
        ProviderStatus.VERIFIED,
        True,
    )
    assert listing.availability == "Dr. Ana Rivera usually replies within one day; in office hours now"
    with pytest.raises(UnknownListing):
        alice.start_from_directory(practice.address, 2, "Dr Rivera")

    contact = alice.start_from_directory(practice.address, 1, "Dr Rivera")
    assert contact.provider is not None
    assert contact.provider.status == ProviderStatus.VERIFIED
    assert (contact.provider.practice_name, contact.provider.practice_address) == ("Harbor Therapy", practice.address)
    assert (contact.provider.licence_number, contact.provider.jurisdiction) == ("PSY 12345", "US-CA")
    [listed] = alice.contacts()
    assert listed.provider == contact.provider
    assert alice.contact("Dr Rivera").provider == contact.provider

    seen = alice.availability("Dr Rivera")
    assert seen is not None
    assert seen.in_office_hours
    notice = alice.crisis_notice("Dr Rivera")
    assert notice is not None
    assert (notice.text, notice.contacts, notice.in_office_hours) == (NOTICE, CRISIS, True)

    judge = alice._practices.judge_for(Address.parse(bob.address).raw)
    assert judge is not None
    assert judge.to_bytes() == practice.judge.public.to_bytes()
    assert alice._practices.practice_of_judge(practice.judge.public) == Address.parse(practice.address).raw

    await alice.send_text("Dr Rivera", "hello")  # the directory's token lets her write
    await bob.sync()
    assert [m.text for m in bob.history(alice.address)] == ["hello"]


async def test_a_client_trusting_a_practice_sees_an_unlisted_contact_as_missing(make_client: MakeClient) -> None:
    practice = await _practice(make_client)
    await practice.publish_revocations()
    alice, bob = await make_client("alice"), await make_client("bob", "therapist")
    alice.add_contact("bob", bob.invite_code())
    assert alice.contact("bob").provider is None  # trusts no practice: nothing to say
    await alice.trust_practice(practice.address)
    provider = alice.contact("bob").provider
    assert provider is not None
    assert provider.status == ProviderStatus.MISSING
    assert alice._practices.judge_for(Address.parse(bob.address).raw) is None
    assert alice.crisis_notice("bob") is None


async def test_a_forged_credential_is_not_verified(make_client: MakeClient) -> None:
    practice = await _practice(make_client)
    await practice.publish_revocations()
    alice, bob = await make_client("alice"), await make_client("bob", "therapist")
    await alice.trust_practice(practice.address)
    contact = alice.add_contact("bob", bob.invite_code())
    rec = alice._store.contact_by_address(Address.parse(contact.address).raw)
    assert rec is not None

    # A credential made by someone else's key, claiming to be the practice's: only the pinned key counts.
    mallory = IdentityKeyPair.generate(os.urandom)
    forged = practice.credential(_identity(bob).public, signer=mallory)
    _plant_credential(alice, rec, forged.to_bytes())
    provider = alice.contact("bob").provider
    assert provider is not None
    assert provider.status == ProviderStatus.UNTRUSTED_PRACTICE
    assert alice._practices.judge_for(rec.address) is None

    # The practice's genuine credential with one byte changed: its signature fails, it is ignored.
    genuine = bytearray(practice.credential(_identity(bob).public).to_bytes())
    genuine[-70] ^= 1
    _plant_credential(alice, rec, bytes(genuine))
    provider = alice.contact("bob").provider
    assert provider is not None
    assert provider.status == ProviderStatus.MISSING


async def test_a_credential_for_another_identity_is_other_key(make_client: MakeClient) -> None:
    practice = await _practice(make_client)
    await practice.publish_revocations()
    alice, bob, carol = await make_client("alice"), await make_client("bob"), await make_client("carol")
    await alice.trust_practice(practice.address)
    contact = alice.add_contact("bob", bob.invite_code())
    await alice.start_thread("bob")  # bob's identity is pinned now
    rec = alice._store.contact_by_address(Address.parse(contact.address).raw)
    assert rec is not None
    assert rec.identity is not None

    # Bob shows Carol's genuine credential as his own.
    carols = practice.credential(_identity(carol).public)
    _plant_credential(alice, rec, carols.to_bytes())
    provider = alice.contact("bob").provider
    assert provider is not None
    assert provider.status == ProviderStatus.OTHER_KEY
    assert alice._practices.judge_for(rec.address) is None
    assert alice.crisis_notice("bob") is None


async def test_a_revoked_credential_is_revoked_after_refresh(make_client: MakeClient) -> None:
    practice, bob, credential, alice = await _listed_bob(make_client)
    assert alice.contact("bob").provider.status == ProviderStatus.VERIFIED  # type: ignore[union-attr]

    await practice.publish_revocations(_credential_id(credential))
    assert alice.contact("bob").provider.status == ProviderStatus.VERIFIED  # type: ignore[union-attr]
    assert await alice.refresh_practices() == []
    provider = alice.contact("bob").provider
    assert provider is not None
    assert provider.status == ProviderStatus.REVOKED
    assert alice.directory(practice.address)[0].status == ProviderStatus.REVOKED
    assert alice._practices.judge_for(Address.parse(bob.address).raw) is None

    # A credential from a practice this profile does not trust does not cover the revocation up.
    rec = alice._store.contact_by_address(Address.parse(bob.address).raw)
    assert rec is not None
    elsewhere = practice.credential(_identity(bob).public, signer=IdentityKeyPair.generate(os.urandom))
    _plant_credential(alice, rec, elsewhere.to_bytes())
    assert alice.contact("bob").provider.status == ProviderStatus.REVOKED  # type: ignore[union-attr]


async def test_an_expired_credential_is_expired(make_client: MakeClient) -> None:
    practice = await _practice(make_client)
    bob = await make_client("bob", "therapist")
    lapsed = practice.credential(_identity(bob).public, not_before=_now() - 30 * DAY, not_after=_now() - DAY)
    await practice.publish_directory(_entry(lapsed, bob))
    await practice.publish_revocations()
    alice = await make_client("alice")
    await alice.trust_practice(practice.address)
    contact = alice.start_from_directory(practice.address, 1, "bob")
    assert contact.provider is not None
    assert contact.provider.status == ProviderStatus.EXPIRED
    assert contact.provider.display_name == "Dr. Ana Rivera"
    assert alice._practices.judge_for(Address.parse(bob.address).raw) is None

    # Evaluated later, a current credential is expired too (its own stored copy, dated at each look).
    rec = alice._store.contact_by_address(Address.parse(bob.address).raw)
    assert rec is not None
    carol = await make_client("carol", "therapist")
    current = practice.credential(_identity(carol).public, not_after=_now() + 3600)
    await practice.publish_directory(_entry(current, carol))
    await alice.refresh_practices()
    alice.start_from_directory(practice.address, 1, "carol")
    later = alice._store.contact_by_address(Address.parse(carol.address).raw)
    assert later is not None
    assert alice._practices.provider_of(later).status == ProviderStatus.VERIFIED  # type: ignore[union-attr]
    assert alice._practices.provider_of(later, now=_now() + 7200).status == ProviderStatus.EXPIRED  # type: ignore[union-attr]


# -- a relay replaying old documents ---------------------------------------------------------------------------
async def test_an_older_directory_or_revocation_list_is_refused(make_client: MakeClient, tmp_path: Path) -> None:
    practice = await _practice(make_client)
    bob = await make_client("bob", "therapist")
    credential = practice.credential(_identity(bob).public)
    old_directory = await practice.publish_directory()
    old_revocations = await practice.publish_revocations()
    alice = await make_client("alice")
    await alice.trust_practice(practice.address)
    await practice.publish_directory(_entry(credential, bob))
    await practice.publish_revocations(_credential_id(credential))
    await alice.refresh_practices()
    [before] = alice.directory(practice.address)
    assert before.status == ProviderStatus.REVOKED

    _replay(tmp_path, practice.address, DocumentKind.DIRECTORY, old_directory)
    _replay(tmp_path, practice.address, DocumentKind.REVOCATIONS, old_revocations)
    kept = alice._store.get_doc(docs.PRACTICE, Address.parse(practice.address).raw)
    warnings = await alice.refresh_practices()
    assert sorted((w.kind, w.text.split(" than ")[0]) for w in warnings) == [
        (WarningKind.STALE_REFUSED, "the relay served an older directory"),
        (WarningKind.STALE_REFUSED, "the relay served an older revocations"),
    ]
    assert alice._store.get_doc(docs.PRACTICE, Address.parse(practice.address).raw) is not None
    [after] = alice.directory(practice.address)
    assert after == before  # still listed, still revoked: nothing went back
    [info] = alice.practices()
    assert (info.directory_version, info.revocations_version) == (2, 2)
    assert {w.kind for w in info.warnings} == {WarningKind.STALE_REFUSED}
    assert kept is not None

    # Trusting again does not go back either.
    info = await alice.trust_practice(practice.address)
    assert (info.directory_version, info.revocations_version) == (2, 2)


async def test_a_revocation_list_past_its_expiry_warns(make_client: MakeClient) -> None:
    practice = await _practice(make_client)
    bob = await make_client("bob", "therapist")
    credential = practice.credential(_identity(bob).public)
    await practice.publish_directory(_entry(credential, bob))
    alice = await make_client("alice")
    info = await alice.trust_practice(practice.address)
    assert [w.kind for w in info.warnings] == [WarningKind.REVOCATIONS_MISSING]
    alice.start_from_directory(practice.address, 1, "bob")
    assert alice.contact("bob").provider.status == ProviderStatus.REVOCATIONS_STALE  # type: ignore[union-attr]

    await practice.publish_revocations(lifetime=62)  # issued a minute ago: expires in two seconds
    assert await alice.refresh_practices() == []
    assert alice.contact("bob").provider.status == ProviderStatus.VERIFIED  # type: ignore[union-attr]
    await asyncio.sleep(2.5)
    [warning] = await alice.refresh_practices()
    assert warning.kind == WarningKind.REVOCATIONS_STALE
    assert [w.kind for w in alice.practices()[0].warnings] == [WarningKind.REVOCATIONS_STALE]
    assert alice.contact("bob").provider.status == ProviderStatus.REVOCATIONS_STALE  # type: ignore[union-attr]


# -- availability --------------------------------------------------------------------------------------------
async def test_a_forged_availability_card_is_ignored(make_client: MakeClient, tmp_path: Path) -> None:
    practice = await _practice(make_client)
    bob = await make_client("bob", "therapist")
    await practice.publish_directory(_entry(practice.credential(_identity(bob).public), bob))
    await practice.publish_revocations()
    genuine = _card(_identity(bob), reply_s=3 * 3600)
    await bob._relay.put_document(Address.parse(bob.address), genuine.to_bytes())
    alice = await make_client("alice")
    await alice.trust_practice(practice.address)
    alice.start_from_directory(practice.address, 1, "bob")
    assert alice.availability("bob") is None
    await alice.refresh_practices()
    seen = alice.availability("bob")
    assert seen is not None
    assert seen.line == "Dr. Ana Rivera usually replies within 3 hours; in office hours now"

    # The relay serves a card signed by someone else (a newer version, promising a quick reply): ignored.
    forged = _card(IdentityKeyPair.generate(os.urandom), version=9, reply_s=60)
    _replay(tmp_path, bob.address, DocumentKind.AVAILABILITY, forged)
    await alice.refresh_practices()
    seen = alice.availability("bob")
    assert seen is not None
    assert "within 3 hours" in seen.line


# -- the command line ----------------------------------------------------------------------------------------
def test_cli_trust_directory_and_writing(
    relay_thread: str, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    addresses: dict[str, str] = {}

    async def set_up() -> None:
        async with (
            Client.create(tmp_path / "practice", PASSPHRASE, relay_thread, "p", "practice", kdf=TEST_KDF) as p,
            Client.create(tmp_path / "bob", PASSPHRASE, relay_thread, "Bob", "therapist", kdf=TEST_KDF) as bob,
        ):
            practice = Practice(p)
            await practice.publish_policy()
            no_hours = _sign(_identity(bob), AvailabilityCard("UTC", (), DAY), version=1)
            credential = practice.credential(_identity(bob).public)
            await practice.publish_directory(_entry(credential, bob, no_hours))
            await practice.publish_revocations()
            addresses.update(practice=p.address, bob=bob.address)

    asyncio.run(set_up())
    alice = ("--profile", str(tmp_path / "alice"))
    assert run(capsys, "init", *alice, "--server", relay_thread, "--name", "Alice")[0] == 0

    code, out, err = run(capsys, "practices", "trust", "not-an-address", *alice)
    assert (code, out, err.count("\n"), "Traceback" in err) == (1, "", 1, False)
    code, out, err = run(capsys, "practices", "trust", addresses["bob"], *alice)  # published no policy
    assert (code, out, err.count("\n")) == (8, "", 1)
    assert run(capsys, "directory", "Nowhere", *alice)[0] == 8

    code, out, _ = run(capsys, "practices", "trust", addresses["practice"], *alice)
    assert code == 0
    assert out.startswith(f"Trusted Harbor Therapy  {addresses['practice']}  [policy v1, directory v1 (1 listed)")
    code, out, _ = run(capsys, "practices", "list", "--json", *alice)
    assert [(p["name"], p["listed"], p["warnings"]) for p in json.loads(out)] == [("Harbor Therapy", 1, [])]

    code, out, _ = run(capsys, "directory", "Harbor Therapy", *alice)
    assert code == 0
    assert out == (
        "  1. Dr. Ana Rivera  licence PSY 12345 (State Board, US-CA)  [\u2713 verified]  "
        "Dr. Ana Rivera usually replies within one day\n"
    )
    assert run(capsys, "directory", "Harbor Therapy", "--add", "7", "Rivera", *alice)[0] == 8
    code, out, _ = run(capsys, "directory", "Harbor Therapy", "--add", "1", "Rivera", *alice)
    assert code == 0
    assert "\u2713 verified provider of Harbor Therapy: Dr. Ana Rivera, licence PSY 12345" in out

    code, out, _ = run(capsys, "contacts", "list", "--json", *alice)
    [contact] = json.loads(out)
    assert (contact["provider"]["status"], contact["provider"]["practice_name"]) == ("verified", "Harbor Therapy")
    code, out, _ = run(capsys, "contacts", "list", *alice)
    assert out.splitlines()[1].startswith("    \u2713 verified provider of Harbor Therapy: ")

    # Writing: the availability line and (first message, and outside office hours) the crisis notice on stderr.
    code, out, err = run(capsys, "send", "Rivera", "hello", *alice)
    assert code == 0
    assert out.startswith("Sent")
    assert err.splitlines() == [
        "Dr. Ana Rivera usually replies within one day",
        "Crisis notice from Harbor Therapy:",
        f"    {NOTICE}",
        "    Emergency: 112",
    ]
    code, out, _ = run(capsys, "read", "Rivera", *alice)
    assert out.splitlines()[1:3] == [
        "\u2713 verified provider of Harbor Therapy: Dr. Ana Rivera, licence PSY 12345, State Board, US-CA, "
        f"valid until {time.strftime('%Y-%m-%d', time.gmtime(_now() + 365 * DAY))}",
        "Dr. Ana Rivera usually replies within one day",
    ]
    assert out.splitlines()[3] == "Crisis notice from Harbor Therapy:"  # outside office hours: always

    code, out, _ = run(capsys, "practices", "forget", "Harbor Therapy", *alice)
    assert code == 0
    assert run(capsys, "practices", "list", *alice)[1].startswith("No trusted practice yet")


async def test_sync_refreshes_at_most_once_per_interval(make_client: MakeClient) -> None:
    practice, bob, credential, alice = await _listed_bob(make_client)

    await practice.publish_revocations(_credential_id(credential))
    await alice.sync()  # never refreshed yet: this sync does
    assert alice.contact("bob").provider.status == ProviderStatus.REVOKED  # type: ignore[union-attr]

    carol = await make_client("carol", "therapist")
    await practice.publish_directory(
        _entry(credential, bob), _entry(practice.credential(_identity(carol).public), carol)
    )
    await alice.sync()  # refreshed a moment ago: not again
    assert alice.practices()[0].listed == 1
    assert await alice._practices.refresh_due(now=_now() + REFRESH_INTERVAL_S - 60) == []
    assert alice.practices()[0].listed == 1
    await alice._practices.refresh_due(now=_now() + REFRESH_INTERVAL_S + 1)
    assert alice.practices()[0].listed == 2


async def test_documents_signed_by_another_key_are_ignored(make_client: MakeClient, tmp_path: Path) -> None:
    practice = await _practice(make_client)
    bob = await make_client("bob", "therapist")
    await practice.publish_directory(_entry(practice.credential(_identity(bob).public), bob))
    await practice.publish_revocations()
    alice = await make_client("alice")
    await alice.trust_practice(practice.address)
    before = alice.directory(practice.address)

    # The relay serves, under the practice's address, a newer policy with another moderation key and an empty
    # directory, both signed by someone else: neither replaces what the practice signed.
    mallory = IdentityKeyPair.generate(os.urandom)
    judge = FrankingKeyPair.generate(os.urandom)
    policy = _sign(mallory, PracticePolicy("Harbor Therapy", NOTICE, moderation_key=judge.public), version=9)
    _replay(tmp_path, practice.address, DocumentKind.POLICY, policy)
    _replay(tmp_path, practice.address, DocumentKind.DIRECTORY, _sign(mallory, Directory(()), version=9))
    warnings = await alice.refresh_practices()
    assert sorted((w.kind, w.text) for w in warnings) == [
        (WarningKind.INVALID, "the relay served a directory that does not verify as the practice's: ignored"),
        (WarningKind.INVALID, "the relay served a policy that does not verify as the practice's: ignored"),
    ]
    assert alice.directory(practice.address) == before
    assert alice._practices.practice_of_judge(judge.public) is None
    assert alice._practices.practice_of_judge(practice.judge.public) == Address.parse(practice.address).raw
    assert alice.practices()[0].policy_version == 1


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (
            ProviderStatus.VERIFIED,
            "\u2713 verified provider of Harbor \\u202eTherapy: Dr. A, licence L 1, Board, US-CA, valid",
        ),
        (ProviderStatus.REVOCATIONS_STALE, "? provider of Harbor \\u202eTherapy: Dr. A, licence L 1, Board, US-CA, "),
        (ProviderStatus.OTHER_KEY, "WARNING: the credential shown for this contact (Dr. A) was issued to ANOTHER"),
        (ProviderStatus.REVOKED, "WARNING: Harbor \\u202eTherapy has REVOKED the credential of Dr. A"),
        (ProviderStatus.EXPIRED, "WARNING: the credential of Dr. A from Harbor \\u202eTherapy EXPIRED on "),
        (ProviderStatus.NOT_YET_VALID, "WARNING: the credential of Dr. A from Harbor \\u202eTherapy is NOT VALID YET"),
        (ProviderStatus.UNTRUSTED_PRACTICE, "not verified: the credential of Dr. A is signed by a practice you do not"),
        (ProviderStatus.MISSING, "not verified: no practice you trust vouches for this contact"),
    ],
)
def test_every_provider_state_has_its_own_line(status: ProviderStatus, line: str) -> None:
    from confide.client.cli import render
    from confide.client.models import ProviderInfo

    info = ProviderInfo(status, "Harbor \u202eTherapy", "cf1-x", "Dr. A", "L 1", "Board", "US-CA", 0, 2_000_000_000)
    shown = render.provider_line(info)
    assert shown.startswith(line)
    assert "\u202e" not in shown
    assert ("\u2713" in shown) == (status == ProviderStatus.VERIFIED)


async def test_a_therapist_franks_for_the_practice_that_credentialed_them(make_client: MakeClient) -> None:
    practice = await _practice(make_client)
    await practice.publish_revocations()
    bob, alice = await make_client("bob", "therapist"), await make_client("alice")
    bob.add_contact("alice", alice.invite_code())
    alice_address = Address.parse(alice.address).raw
    assert bob._practices.judge_for(alice_address) is None  # no credential yet

    credential = practice.credential(_identity(bob).public)
    await bob.import_credential(credential.to_bytes())  # trusts the practice too
    assert [p.address for p in bob.practices()] == [practice.address]
    judge = bob._practices.judge_for(alice_address)
    assert judge is not None
    assert judge.to_bytes() == practice.judge.public.to_bytes()

    await practice.publish_revocations(_credential_id(credential))
    await bob.refresh_practices()
    assert bob._practices.judge_for(alice_address) is None  # revoked: no longer vouched for
