"""Franking inside messages, and reports (issue 11, SPEC 13.6 and 13.9), on a real relay.

Sam (a client) writes to Dr Rivera (a therapist credentialed by the Harbour practice); both trust the practice.
Each test attacks one promise: a franked message is reportable and its report holds for the practice's judge,
and only in its exact form (altered text, another sender, a recipient's forgery: not authentic); a franking
that does not hold (made for someone else, another identity's binding, an untrusted judge) never makes a
message reportable and never loses it; threads without a judge stay unfranked; expiry takes the franked bytes
out of every file; the relay sees a sealed, padded envelope (and what franking costs in size is stated).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import time
from dataclasses import replace
from pathlib import Path

import pytest

from confide.client import Client, NotReportable, ReportedMessage, UnknownMessage
from confide.client.cli import render
from confide.client.cli.exits import EXIT_ERROR, EXIT_OS
from confide.client.peer_documents import FRANKED, PEER_CREDENTIAL, PEER_FRANKING, PEER_JUDGE, SELF, SELF_CREDENTIAL
from confide.keys.identity import IdentityKeyPair
from confide.keys.keystore import TEST_KDF
from confide.protocol.content import (
    Content,
    ContentType,
    Franked,
    FrankingKeyNotice,
    Text,
    frank_content,
    new_message_id,
)
from confide.protocol.document_bodies import Credential, PracticePolicy
from confide.protocol.documents import sign_document
from confide.protocol.franking import FrankingKeyPair, r_forge
from confide.protocol.franking_binding import FrankingBinding, franking_key_of
from confide.protocol.franking_report import Report
from confide.protocol.padding import FRANKED_THREAD_BUCKET, bucket_for
from confide.protocol.report_file import ReportFile, parse_report_file

from .conftest import PASSPHRASE, MakeClient, introduce, run

SECRET = "I keep thinking about the bridge on Harrow Road"
PRACTICE_NAME = "Harbour Practice"
DAY_S = 86_400


def _now() -> int:
    return int(time.time())


def _policy(practice: IdentityKeyPair, judge: FrankingKeyPair, name: str = PRACTICE_NAME) -> bytes:
    body = PracticePolicy(name, "If you are in danger, call 112.", moderation_key=judge.public)
    now = _now()
    return sign_document(practice, body, version=1, issued_at=now - 60, expires_at=now + 30 * DAY_S)


def _credential(practice: IdentityKeyPair, therapist: Client) -> bytes:
    now = _now()
    body = Credential(
        therapist._keys.identity.public,
        os.urandom(16),
        "Dr Ana Rivera",
        "PSY-4411",
        "Health and Care Professions Council",
        "UK",
        now - DAY_S,
        now + 300 * DAY_S,
    )
    return sign_document(practice, body, version=1, issued_at=now - 60, expires_at=now + 300 * DAY_S)


async def _publish_practice(practice: Client, judge: FrankingKeyPair) -> None:
    """The practice profile signs its policy (moderation key ``judge``) and publishes it on the relay."""
    policy = _policy(practice._keys.identity, judge)
    await practice._relay.put_document(practice._keys.identity.address, policy)


def _learn_binding(client: Client, peer: str, other: Client) -> None:
    """``client`` learns ``other``'s franking key binding (as from their contact card)."""
    rec = client._contacts.find(peer)
    binding = FrankingBinding.bind(other._keys.identity).to_bytes()
    client._store.put_doc(PEER_FRANKING, rec.address, binding, owner=rec.contact_id)


async def _harbour(make_client: MakeClient) -> tuple[Client, Client, FrankingKeyPair]:
    """Sam and Dr Rivera, introduced, both trusting the Harbour practice (pinned by its address, its policy
    fetched from the relay) whose judge key is returned; Rivera holds a Harbour credential (her own and, as from
    her contact card, Sam's copy); Sam knows Rivera's franking key (as from her card)."""
    sam = await make_client("sam")
    rivera = await make_client("rivera", "therapist")
    harbour = await make_client("harbour", "practice")
    judge = FrankingKeyPair.generate(os.urandom)
    await _publish_practice(harbour, judge)
    credential = _credential(harbour._keys.identity, rivera)
    await introduce(sam, rivera, "Dr Rivera", "Sam")
    for client in (sam, rivera):
        await client.trust_practice(harbour.address)
    rivera._store.put_doc(SELF, SELF_CREDENTIAL, credential)
    rec = sam._contacts.find("Dr Rivera")
    sam._store.put_doc(PEER_CREDENTIAL, rec.address, credential, owner=rec.contact_id)
    _learn_binding(sam, "Dr Rivera", rivera)
    return sam, rivera, judge


def _sent_types(client: Client) -> list[ContentType]:
    """Spy on what ``client`` encrypts: the type of every content, in order (the real encryption still runs)."""
    seen: list[ContentType] = []
    encrypt = client._sessions.encrypt

    def spy(*args: object, **kwargs: object) -> object:
        plaintext = args[1]
        assert isinstance(plaintext, bytes)
        seen.append(Content.from_bytes(plaintext).type)
        return encrypt(*args, **kwargs)  # type: ignore[arg-type]

    client._sessions.encrypt = spy  # type: ignore[method-assign,assignment]
    return seen


def _file_bytes(profile: Path) -> list[bytes]:
    return [p.read_bytes() for p in profile.rglob("*") if p.is_file()]


async def test_a_franked_message_is_reportable_and_its_report_holds(make_client: MakeClient) -> None:
    """Sam's text reaches Rivera franked; it is shown as usual and marked reportable; the report file holds
    for the practice's judge and names Sam, Rivera and exactly the text. Rivera learnt Sam's franking key from
    it (her first message, before, went unfranked), so her reply is franked too and reportable on Sam's side.
    Receipts still name the message."""
    sam, rivera, judge = await _harbour(make_client)
    rivera_sent = _sent_types(rivera)
    await rivera.send_text("Sam", "Welcome to the practice")  # she has a judge, but no franking key for Sam yet
    assert rivera_sent == [ContentType.FRANKING_KEY, ContentType.TEXT]
    await sam.sync()
    sam_sent = _sent_types(sam)
    sent = await sam.send_text("Dr Rivera", SECRET)
    assert sam_sent == [ContentType.FRANKING_KEY, ContentType.FRANKED]
    await rivera.sync()
    (_welcome, got) = rivera.history("Sam")
    assert (got.message_id, got.text, got.reportable) == (sent.message_id, SECRET, True)

    data = rivera.report("Sam", sent.message_id)
    assert rivera.report_practice("Sam", sent.message_id) == PRACTICE_NAME
    report = parse_report_file(data)
    verdict = report.review(judge)
    assert verdict.authentic
    assert (verdict.sender_address.text, verdict.recipient_address.text) == (sam.address, rivera.address)
    assert verdict.content is not None
    assert verdict.content.body == Text(SECRET)
    assert verdict.content.message_id.hex() == sent.message_id
    assert not report.review(FrankingKeyPair.generate(os.urandom)).authentic  # another practice's key

    await sam.sync()  # the delivery receipt names the franked message's id
    (_welcome, mine) = sam.history("Dr Rivera")
    assert (mine.status, mine.reportable) == ("delivered", False)
    reply = await rivera.send_text("Sam", "Thank you for telling me. Are you safe right now?")
    assert rivera_sent[2:] == [ContentType.RECEIPT, ContentType.FRANKED]  # the notice went once
    await sam.sync()
    assert [m.reportable for m in sam.history("Dr Rivera")] == [False, False, True]
    assert parse_report_file(sam.report("Dr Rivera", reply.message_id)).review(judge).authentic


async def test_a_thread_started_from_an_invite_becomes_reportable(make_client: MakeClient) -> None:
    """SPEC 8 type 9: Sam trusts Harbour but knows nothing of Rivera (an invite: no credential, no franking key),
    so his first text goes plain. Rivera's thread has a judge (her Harbour credential): her first text is
    preceded by a FRANKING_KEY notice, once, which Sam keeps (it is no message of the thread). From then on
    each franks for the other: both sides' messages are reportable."""
    sam = await make_client("sam")
    rivera = await make_client("rivera", "therapist")
    harbour = await make_client("harbour", "practice")
    judge = FrankingKeyPair.generate(os.urandom)
    await _publish_practice(harbour, judge)
    await introduce(sam, rivera, "Dr Rivera", "Sam")
    for client in (sam, rivera):
        await client.trust_practice(harbour.address)
    rivera._store.put_doc(SELF, SELF_CREDENTIAL, _credential(harbour._keys.identity, rivera))

    sam_sent, rivera_sent = _sent_types(sam), _sent_types(rivera)
    await sam.send_text("Dr Rivera", "hello")
    await rivera.sync()
    await rivera.send_text("Sam", "Welcome. How are you feeling this week?")
    await sam.sync()
    assert [m.text for m in sam.history("Dr Rivera")] == ["hello", "Welcome. How are you feeling this week?"]
    sent = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    reply = await rivera.send_text("Sam", "Thank you for telling me")
    await sam.sync()
    assert sam_sent == [ContentType.TEXT, ContentType.RECEIPT, ContentType.FRANKED, ContentType.RECEIPT]
    assert rivera_sent == [
        ContentType.RECEIPT,
        ContentType.FRANKING_KEY,
        ContentType.TEXT,
        ContentType.RECEIPT,
        ContentType.FRANKED,
    ]
    assert [m.reportable for m in rivera.history("Sam")] == [False, False, True, False]
    assert [m.reportable for m in sam.history("Dr Rivera")] == [False, False, False, True]
    assert parse_report_file(rivera.report("Sam", sent.message_id)).review(judge).authentic
    assert parse_report_file(sam.report("Dr Rivera", reply.message_id)).review(judge).authentic


async def test_end_to_end_with_the_practice_profile(make_client: MakeClient, tmp_path: Path) -> None:
    """The whole path through public calls only: the practice sets up its moderation key and policy, issues
    Rivera a credential from her contact card and publishes; she imports it; Sam trusts the practice and adds
    Rivera from her card. His text to her and her reply are franked; her report of his text, written by
    export_report, is authentic in the practice's own review (PracticeAdmin.review)."""
    sam = await make_client("sam")
    rivera = await make_client("rivera", "therapist")
    harbour = await make_client("harbour", "practice")
    admin = harbour.practice_admin()
    admin.set_up()
    admin.set_policy(PRACTICE_NAME, "If you are in danger, call 112.", [("Emergency", "112")])
    credential = admin.issue(rivera.contact_card(), "Dr Ana Rivera", "PSY-4411", "HCPC", "UK")
    await admin.publish()
    await rivera.import_credential(credential)
    await sam.trust_practice(harbour.address)
    sam.add_contact_card("Dr Rivera", rivera.contact_card())
    rivera.add_contact("Sam", sam.invite_code())

    sent = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    reply = await rivera.send_text("Sam", "Thank you for telling me")
    await sam.sync()
    assert [m.reportable for m in rivera.history("Sam")] == [True, False]
    assert [m.reportable for m in sam.history("Dr Rivera")] == [False, True]
    dest = tmp_path / "report.bin"
    assert rivera.export_report("Sam", sent.message_id, dest) == PRACTICE_NAME
    verdict = admin.review(dest.read_bytes())
    assert verdict.authentic
    assert (verdict.sender_address, verdict.recipient_address) == (sam.address, rivera.address)
    assert (verdict.sender_credential, verdict.recipient_credential) == (None, "Dr Ana Rivera")
    assert verdict.message == ReportedMessage("text", text=SECRET)
    assert admin.review(sam.report("Dr Rivera", reply.message_id)).authentic


async def test_a_franking_key_notice_is_kept_only_with_a_valid_binding_for_the_pinned_identity(
    make_client: MakeClient,
) -> None:
    """Attack: a notice carrying a third person's binding (from Sam) is ignored: no franking key, no judge kept.
    A stranger who wrote with Rivera's invite (a message request, the way every thread from a directory listing
    starts) has their own valid notice kept, so Rivera's reply can be franked; nothing is sent back for it."""
    sam, rivera, judge = await _harbour(make_client)
    eve = await make_client("eve")
    eve.add_contact("Rivera", rivera.invite_code())
    stranger = IdentityKeyPair.generate(os.urandom)

    def notice(binding: FrankingBinding) -> Content:
        return Content(new_message_id(os.urandom), int(time.time() * 1000), 0, FrankingKeyNotice(binding, judge.public))

    await _send_content(sam, "Dr Rivera", notice(FrankingBinding.bind(stranger)))
    await _send_content(eve, "Rivera", notice(FrankingBinding.bind(eve._keys.identity)))
    await eve.send_text("Rivera", "hi")
    await rivera.sync()
    sam_rec, eve_rec = rivera._contacts.find("Sam"), rivera._contacts.find(eve.address)
    assert rivera._store.get_doc(PEER_FRANKING, sam_rec.address) is None
    assert rivera._store.get_doc(PEER_JUDGE, sam_rec.address) is None
    assert rivera._store.get_doc(PEER_FRANKING, eve_rec.address) == FrankingBinding.bind(eve._keys.identity).to_bytes()
    assert rivera._store.get_doc(PEER_JUDGE, eve_rec.address) == judge.public.to_bytes()
    assert eve_rec.request
    assert rivera.queued() == []  # nothing goes back to a request for it
    assert [m.text for m in rivera.history(eve.address)] == ["hi"]
    assert rivera.history("Sam") == []


async def test_an_altered_or_misattributed_or_forged_report_does_not_hold(make_client: MakeClient) -> None:
    """Attack by the reporter: the judge must refuse the report when its text is altered, when it names
    another sender (identity and binding of a third person), and when the recipient franks the text herself
    with r_forge (receiver binding); the honest one holds."""
    sam, rivera, judge = await _harbour(make_client)
    mallory = IdentityKeyPair.generate(os.urandom)
    sent = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    honest = parse_report_file(rivera.report("Sam", sent.message_id))
    assert honest.review(judge).authentic
    original = honest.report

    inner = Content.from_bytes(original.message)
    altered_inner = Content(inner.message_id, inner.sent_at_ms, inner.expire_after_s, Text(SECRET + " tonight"))
    altered = replace(honest, report=replace(original, message=altered_inner.to_bytes()))
    assert not altered.review(judge).authentic

    mallory_binding = FrankingBinding.bind(mallory)
    other_sender = replace(
        honest,
        sender=mallory.public,
        sender_binding=mallory_binding,
        report=replace(original, sender=mallory_binding.key),
    )
    assert other_sender.review(judge).sender_bound
    assert not other_sender.review(judge).authentic

    rivera_key = franking_key_of(rivera._keys.identity)
    forged_franking = r_forge(rivera_key, original.sender, judge.public, altered_inner.to_bytes(), os.urandom)
    forged = replace(
        honest, report=Report(original.sender, original.recipient, altered_inner.to_bytes(), forged_franking)
    )
    assert not forged.review(judge).authentic
    assert parse_report_file(forged.to_bytes()) == forged  # a well-formed file, refused on its merits


async def _send_content(sender: Client, peer: str, content: Content) -> None:
    """Queue ``content`` exactly as given (a hostile client's own making) and post it."""
    rec = await sender._messaging.writable(sender._contacts.find(peer))
    sender._messaging.queue(rec, content, None)
    await sender._messaging.flush()


async def test_a_franking_that_does_not_hold_is_stored_but_never_reportable(make_client: MakeClient) -> None:
    """Attack by a hostile sender: a message franked for another recipient's key, one carrying a third
    person's binding, and one franked for a judge Rivera does not trust. Each is stored and shown, none is
    reportable (report refused), and no bad binding is learnt (only Sam's own, from the one that held)."""
    sam, rivera, judge = await _harbour(make_client)
    stranger = IdentityKeyPair.generate(os.urandom)
    texts = ["for someone else", "with a stolen binding", "for a judge nobody trusts"]

    def inner(text: str) -> Content:
        return Content(new_message_id(os.urandom), int(time.time() * 1000), 0, Text(text))

    someone_else = franking_key_of(stranger).public
    wrong_recipient = frank_content(
        inner(texts[0]), sender=sam._keys.identity, recipient_key=someone_else, judge=judge.public, rng=os.urandom
    )
    rivera_key = franking_key_of(rivera._keys.identity).public
    honest = frank_content(
        inner(texts[1]), sender=sam._keys.identity, recipient_key=rivera_key, judge=judge.public, rng=os.urandom
    )
    assert isinstance(honest.body, Franked)
    stolen = replace(honest.body, binding=FrankingBinding.bind(stranger))
    stolen_binding = Content(honest.message_id, honest.sent_at_ms, honest.expire_after_s, stolen)
    untrusted = frank_content(
        inner(texts[2]),
        sender=sam._keys.identity,
        recipient_key=rivera_key,
        judge=FrankingKeyPair.generate(os.urandom).public,
        rng=os.urandom,
    )
    for content in (wrong_recipient, stolen_binding):
        await _send_content(sam, "Dr Rivera", content)
    await rivera.sync()
    assert rivera._store.get_doc(PEER_FRANKING, rivera._contacts.find("Sam").address) is None
    await _send_content(sam, "Dr Rivera", untrusted)  # holds, but for a judge Rivera does not trust
    await rivera.sync()

    got = rivera.history("Sam")
    assert [(m.text, m.reportable) for m in got] == [(t, False) for t in texts]
    for m in got:
        with pytest.raises(NotReportable):
            rivera.report("Sam", m.message_id)
    assert rivera._store.docs(FRANKED) == []
    # the untrusted-judge franking held: its binding (Sam's own) was learnt, the only one
    learnt = rivera._store.get_doc(PEER_FRANKING, rivera._contacts.find("Sam").address)
    assert learnt == FrankingBinding.bind(sam._keys.identity).to_bytes()


async def test_threads_without_a_judge_stay_unfranked(make_client: MakeClient) -> None:
    """Two profiles that trust no practice: texts and files go as they always did (no FRANKED content), even
    when each knows the other's franking key; the messages are not reportable."""
    sam = await make_client("sam")
    alex = await make_client("alex")
    await introduce(sam, alex, "Alex", "Sam")
    _learn_binding(sam, "Alex", alex)
    seen = _sent_types(sam)
    sent = await sam.send_text("Alex", SECRET)
    await alex.sync()
    assert seen == [ContentType.TEXT]
    (got,) = alex.history("Sam")
    assert (got.text, got.reportable) == (SECRET, False)
    with pytest.raises(NotReportable):
        alex.report("Sam", sent.message_id)


async def test_a_franked_file_is_reportable_and_still_downloads(make_client: MakeClient, tmp_path: Path) -> None:
    """A file's pointer is franked like a text: Rivera downloads and saves the exact bytes under the same
    message id, and the report names the pointer (caption, digest), not the file's bytes."""
    sam, rivera, judge = await _harbour(make_client)
    source = tmp_path / "diary.txt"
    source.write_bytes(SECRET.encode() * 5)
    sent = await sam.send_file("Dr Rivera", source, caption="my diary")
    await rivera.sync()
    (got,) = rivera.history("Sam")
    assert (got.message_id, got.text, got.reportable) == (sent.message_id, "my diary", True)
    saved = await rivera.save_attachment(sent.message_id, tmp_path / "saved.txt")
    assert saved.read_bytes() == source.read_bytes()
    verdict = parse_report_file(rivera.report("Sam", sent.message_id)).review(judge)
    assert verdict.authentic
    assert verdict.content is not None
    assert verdict.content.type == ContentType.ATTACHMENT


async def test_refusals(make_client: MakeClient) -> None:
    """Only a received, reportable message of this thread can be reported: your own message, an unknown id and
    a message of another thread are refused with typed errors."""
    sam, rivera, _judge = await _harbour(make_client)
    sent = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    with pytest.raises(NotReportable):
        sam.report("Dr Rivera", sent.message_id)  # his own
    with pytest.raises(UnknownMessage):
        rivera.report("Sam", "00" * 16)
    with pytest.raises(UnknownMessage):
        rivera.report("Sam", "not hex")
    other = await make_client("other")
    rivera.add_contact("Other", other.invite_code())
    with pytest.raises(UnknownMessage):
        rivera.report("Other", sent.message_id)


async def test_expiry_takes_the_franked_bytes_out_of_every_file(make_client: MakeClient, tmp_path: Path) -> None:
    """Attack on deletion: a reportable message on a 2 s timer. While it lives, its franked row is in the
    store; once it expired, its row is gone and the sealed bytes it had are in no file of the profile (the WAL
    included), and a report of it is refused."""
    sam, rivera, _judge = await _harbour(make_client)
    sent = await sam.send_text("Dr Rivera", SECRET, expire_after_s=2)
    await rivera.sync()
    await rivera.mark_read("Sam")
    assert rivera.history("Sam")[0].reportable
    con = sqlite3.connect(rivera._store.path)
    try:
        rows = [bytes(r[0]) for r in con.execute("SELECT data FROM docs WHERE scope = ?", (FRANKED,))]
    finally:
        con.close()
    (sealed,) = rows
    assert any(sealed in data for data in _file_bytes(tmp_path / "rivera"))

    await asyncio.sleep(2.1)
    assert rivera.expire_now() == [sent.message_id]
    assert rivera._store.docs(FRANKED) == []
    for data in _file_bytes(tmp_path / "rivera"):
        assert sealed not in data
        assert sealed[-32:] not in data
    with pytest.raises(UnknownMessage):
        rivera.report("Sam", sent.message_id)


async def test_delete_for_everyone_of_a_franked_message(make_client: MakeClient, tmp_path: Path) -> None:
    """A franked message deleted for everyone by its sender: the delete names the same id, so it goes from
    Rivera's thread with its franked row."""
    sam, rivera, _judge = await _harbour(make_client)
    sent = await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    assert len(rivera._store.docs(FRANKED)) == 1
    await sam.delete_for_everyone("Dr Rivera", sent.message_id)
    await rivera.sync()
    assert rivera.history("Sam") == []
    assert rivera._store.docs(FRANKED) == []


async def test_removing_the_contact_removes_what_made_their_messages_reportable(make_client: MakeClient) -> None:
    """Removing Sam removes his franking key binding and every franked row of his messages with the thread."""
    sam, rivera, _judge = await _harbour(make_client)
    await sam.send_text("Dr Rivera", SECRET)
    await rivera.sync()
    address = rivera._contacts.find("Sam").address
    assert len(rivera._store.docs(FRANKED)) == 1
    assert rivera._store.get_doc(PEER_FRANKING, address) is not None
    rivera.remove_contact("Sam")
    assert rivera._store.docs(FRANKED) == []
    assert rivera._store.get_doc(PEER_FRANKING, address) is None


async def test_in_a_franked_thread_a_text_and_a_receipt_look_alike_to_the_relay(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """What the relay can tell: a franked text's franking (515 bytes with the judge key and binding) moves a short
    text from the 256-byte bucket to the 1,024-byte one. So that an envelope's size does not say "a franked text"
    where a short text used to look like a receipt or a timer change, every content of a franked thread is padded
    to FRANKED_THREAD_BUCKET: the relay holds envelopes of one size for the text and the control message. (It can
    tell a franked thread from an unfranked one by that size; stated in SECURITY.md.) Fails if control messages go
    back to the smallest bucket."""
    sam, rivera, _judge = await _harbour(make_client)
    relay_db = tmp_path / "relay" / "relay.db"

    def held() -> list[int]:
        con = sqlite3.connect(relay_db)
        try:
            rows = con.execute(
                "SELECT ciphertext FROM envelopes WHERE device_id = ? ORDER BY seq", (rivera._keys.device.device_id,)
            )
            return [len(bytes(r[0])) for r in rows]
        finally:
            con.close()

    plain = Content(new_message_id(os.urandom), int(time.time() * 1000), 0, Text("ok"))
    franked = frank_content(
        plain,
        sender=sam._keys.identity,
        recipient_key=franking_key_of(rivera._keys.identity).public,
        judge=_judge.public,
        rng=os.urandom,
    )
    assert (bucket_for(len(plain.to_bytes())), bucket_for(len(franked.to_bytes()))) == (256, FRANKED_THREAD_BUCKET)
    await sam.send_text("Dr Rivera", "ok")  # the first envelope carries the session set-up too
    await rivera.sync()
    await sam.sync()
    assert sam.history("Dr Rivera")[-1].status == "delivered"  # Rivera's receipt: the session is confirmed
    await sam.send_text("Dr Rivera", "ok")
    await sam.set_timer("Dr Rivera", 3600)  # a control message: never franked
    franked_len, control_len = held()
    assert franked_len == control_len
    await rivera.sync()
    assert all(m.reportable for m in rivera.history("Sam") if m.kind == "text")  # both texts were franked


def test_cli_report(
    tmp_path: Path, relay_thread: str, capsys: pytest.CaptureFixture[str], env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``confide report NAME MESSAGE_ID [--out FILE]``: a 0600 file the judge accepts (by default named after the
    message, in the current folder), never over an existing file without --force, the practice's name shown
    escaped; a message that cannot be reported is one line and an exit code."""
    sam_dir, rivera_dir = tmp_path / "sam", tmp_path / "rivera"
    assert run(capsys, "init", "--profile", str(sam_dir), "--server", relay_thread, "--name", "Sam")[0] == 0
    argv = ["init", "--profile", str(rivera_dir), "--server", relay_thread, "--name", "R", "--role", "therapist"]
    assert run(capsys, *argv)[0] == 0
    judge = FrankingKeyPair.generate(os.urandom)

    async def set_up() -> tuple[str, str]:
        harbour = await Client.create(
            tmp_path / "harbour", PASSPHRASE, relay_thread, "Harbour", "practice", kdf=TEST_KDF
        )
        async with harbour, Client.open(sam_dir, PASSPHRASE) as sam, Client.open(rivera_dir, PASSPHRASE) as rivera:
            await _publish_practice(harbour, judge)
            await introduce(sam, rivera, "Dr Rivera", "Sam")
            for client in (sam, rivera):
                await client.trust_practice(harbour.address)
            credential = _credential(harbour._keys.identity, rivera)
            rec = sam._contacts.find("Dr Rivera")
            sam._store.put_doc(PEER_CREDENTIAL, rec.address, credential, owner=rec.contact_id)
            _learn_binding(sam, "Dr Rivera", rivera)
            franked = await sam.send_text("Dr Rivera", SECRET)
            await rivera.sync()
            mine = await rivera.send_text("Sam", "hello")
            return franked.message_id, mine.message_id

    franked_id, own_id = asyncio.run(set_up())
    out_file = tmp_path / "report.bin"
    code, out, err = run(capsys, "report", "--profile", str(rivera_dir), "Sam", franked_id, "--out", str(out_file))
    assert (code, err) == (0, "")
    assert f"send it to {PRACTICE_NAME}," in out
    assert "\x1b" not in render.report_written(out_file, "Harbour\x1b[2J")  # a policy refuses one; escaped anyway
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    first = out_file.read_bytes()
    assert parse_report_file(first).review(judge).authentic

    code, out, err = run(capsys, "report", "--profile", str(rivera_dir), "Sam", franked_id, "--out", str(out_file))
    assert code == EXIT_OS
    assert out == ""
    assert len(err.splitlines()) == 1
    assert out_file.read_bytes() == first
    argv = ["report", "--profile", str(rivera_dir), "Sam", franked_id, "--out", str(out_file), "--force"]
    assert run(capsys, *argv)[0] == 0
    assert isinstance(parse_report_file(out_file.read_bytes()), ReportFile)

    code, out, _err = run(capsys, "read", "--profile", str(rivera_dir), "Sam", "--json")
    assert code == 0
    assert [m["reportable"] for m in json.loads(out)["messages"]] == [True, False]

    other = tmp_path / "own.bin"
    code, out, err = run(capsys, "report", "--profile", str(rivera_dir), "Sam", own_id, "--out", str(other))
    assert code == EXIT_ERROR
    assert out == ""
    assert err == "confide report: you can report only a message you received, not one you sent\n"
    assert not other.exists()

    # Without --out: a new file named after the message, in the current folder.
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "report", "--profile", str(rivera_dir), "Sam", franked_id)
    assert code == 0, err
    default = tmp_path / f"confide-report-{franked_id[:8]}.cfr"
    assert default.stat().st_mode & 0o777 == 0o600
    assert parse_report_file(default.read_bytes()).report == parse_report_file(out_file.read_bytes()).report
    assert str(default.name) in out
