"""Signed public documents on a real relay (issue 11, relay slice; SPEC section 12, docs/relay-api.md): a practice
and a therapist publish, anyone fetches; forgeries, other signers, relabelled and broken bodies, unregistered
publishers, expired documents and older versions are refused with typed JSON errors and nothing stored; a
replaced or expired document's bytes leave every relay file; the relay logs no address."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from confide.keys import IdentityKeyPair
from confide.protocol.document_bodies import (
    AvailabilityCard,
    Credential,
    CrisisContact,
    OfficeHours,
    PracticePolicy,
    Revocation,
    RevocationList,
)
from confide.protocol.documents import (
    MAX_DOCUMENT_LEN,
    Body,
    Directory,
    DirectoryEntry,
    DocumentKind,
    SignedDocument,
)
from confide.protocol.franking import FrankingKeyPair
from confide.server import describe_holdings, sweep
from confide.server.storage import HeldDocument, Holdings

from .conftest import Api, RunningRelay, User, make_user, relay_config, run_relay, stop_relay
from .memory_backend import MemoryBackend

DAY = 86400
OCTET = "application/octet-stream"
SCRUB_DEADLINE_S = 2.0
"""As tests/server/test_forensics.py: deleted bytes must leave every relay file this soon."""


def _now() -> int:
    return int(time.time())


def _sign(
    identity: IdentityKeyPair, body: Body, *, version: int = 1, issued: int | None = None, lifetime: int = 30 * DAY
) -> SignedDocument:
    issued_at = _now() - 60 if issued is None else issued
    return SignedDocument.sign(identity, body, version=version, issued_at=issued_at, expires_at=issued_at + lifetime)


def _policy(notice: str = "If you are in danger now, call the crisis line below.") -> PracticePolicy:
    moderation = FrankingKeyPair.derive(b"tests/server/test_documents moderation key").public
    return PracticePolicy("Harbour Therapy", notice, (CrisisContact("Crisis line", "988"),), moderation_key=moderation)


def _card() -> AvailabilityCard:
    return AvailabilityCard("Europe/London", (OfficeHours(0, 540, 1020), OfficeHours(2, 540, 1020)), DAY)


@dataclass
class Practice:
    """A practice account and one therapist account, both registered, and one document of each kind."""

    practice: User
    therapist: User
    credential: SignedDocument
    directory: SignedDocument
    revocations: SignedDocument
    policy: SignedDocument
    availability: SignedDocument


def _practice() -> Practice:
    practice, therapist = make_user(n_otk=0, n_kem=0), make_user(n_otk=0, n_kem=0)
    now = _now()
    credential = _sign(
        practice.identity,
        Credential(
            therapist.identity.public,
            os.urandom(16),
            "Dr. Ana Rivera",
            "PSY-12345",
            "Board of Psychology",
            "California",
            now - DAY,
            now + 300 * DAY,
        ),
    )
    availability = _sign(therapist.identity, _card())
    directory = _sign(practice.identity, Directory((DirectoryEntry(credential, therapist.token, availability),)))
    revocations = _sign(practice.identity, RevocationList((Revocation(os.urandom(16), now - DAY),)))
    return Practice(
        practice, therapist, credential, directory, revocations, _sign(practice.identity, _policy()), availability
    )


async def _put(api: Api, address: str, data: bytes) -> tuple[int, object]:
    return await api.call("PUT", f"/v1/documents/{address}", body=data, content_type=OCTET)


async def _get(api: Api, address: str, kind: str) -> tuple[int, object]:
    return await api.call("GET", f"/v1/documents/{address}/{kind}")


def _published(user: User, doc: SignedDocument) -> dict[str, object]:
    kind = doc.kind.name.lower()
    return {"address": user.address, "kind": kind, "version": doc.version, "expires_at": doc.expires_at}


async def _registered(api: Api, *users: User) -> None:
    for user in users:
        assert (await api.register(user))[0] == 201


def _disk_bytes(data_dir: Path) -> bytes:
    """Every byte the relay keeps: database, WAL, shared memory index, any journal, every blob file."""
    return b"\n".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def _traces(marker: bytes, disk: bytes) -> int:
    """Aligned 16-byte blocks of ``marker`` on disk (zero: no 32-byte slice of it survived)."""
    return sum(1 for i in range(0, len(marker) - 15, 16) if marker[i : i + 16] in disk)


async def _until(check: Callable[[], bool], deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_each_published_kind_is_stored_and_served_exactly(relay: RunningRelay) -> None:
    api, w = relay.api, _practice()
    await _registered(api, w.practice, w.therapist)
    for user, doc in (
        (w.practice, w.directory),
        (w.practice, w.revocations),
        (w.practice, w.policy),
        (w.therapist, w.availability),
    ):
        assert await _put(api, user.address, doc.to_bytes()) == (201, _published(user, doc))
        assert await _put(api, user.address, doc.to_bytes()) == (200, _published(user, doc))  # idempotent
        assert await _get(api, user.address, doc.kind.name.lower()) == (200, doc.to_bytes())
    # Nothing published under the other address, nor of another kind.
    assert (await _get(api, w.therapist.address, "directory"))[0] == 404
    assert await _get(api, w.practice.address, "availability") == (
        404,
        {"error": "not_found", "message": "no such document is published under this address on this relay"},
    )
    held = describe_holdings(relay.config)
    assert held.envelopes == ()
    assert held.blobs == ()
    assert held.documents == tuple(
        HeldDocument(int(d.kind), len(d.to_bytes()), 1000 * d.expires_at)
        for d in (w.directory, w.revocations, w.policy, w.availability)
    )


async def test_a_credential_is_not_published_alone(relay: RunningRelay) -> None:
    api, w = relay.api, _practice()
    await _registered(api, w.practice)
    assert await _put(api, w.practice.address, w.credential.to_bytes()) == (
        400,
        {"error": "bad_request", "message": "a credential is not published alone: list it in the practice's directory"},
    )
    status, body = await _get(api, w.practice.address, "credential")
    assert (status, body) == (
        400,
        {
            "error": "malformed",
            "message": "the document kind is one of: revocations, directory, availability, policy, devices",
        },
    )
    assert describe_holdings(relay.config) == Holdings((), (), ())


async def test_forged_relabelled_and_broken_documents_are_refused_and_nothing_is_stored(relay: RunningRelay) -> None:
    """Attacks: a signature that does not verify, a credential's bytes with its kind byte changed (its signature
    label no longer matches), a truncated document, garbage, an empty body, one byte over the longest document."""
    api, w = relay.api, _practice()
    await _registered(api, w.practice)
    good = w.policy.to_bytes()
    forged = good[:-1] + bytes([good[-1] ^ 1])
    status, body = await _put(api, w.practice.address, forged)
    message = "the document's signature does not verify; sign it again with the practice's key"
    assert (status, body) == (400, {"error": "malformed", "message": message})
    # A credential's signed bytes offered as each publishable kind: refused whatever the kind byte says.
    credential = w.credential.to_bytes()
    for kind in DocumentKind:
        if kind != DocumentKind.CREDENTIAL:
            relabelled = credential[:1] + bytes([kind]) + credential[2:]
            status, body = await _put(api, w.practice.address, relabelled)
            assert status == 400, (kind, body)
            assert isinstance(body, dict)
            assert body["error"] == "malformed", (kind, body)
    for broken in (good[:-10], good[: len(good) // 2], os.urandom(600), b"\x01"):
        status, body = await _put(api, w.practice.address, broken)
        assert status == 400, body
        assert isinstance(body, dict)
        assert body["error"] == "malformed", body
        assert body["message"].startswith("not a signed document: ")
    assert (await _put(api, w.practice.address, b""))[0] == 400
    assert await _put(api, w.practice.address, b"\x01" * (MAX_DOCUMENT_LEN + 1)) == (
        413,
        {"error": "too_large", "message": f"the body may be at most {MAX_DOCUMENT_LEN} bytes"},
    )
    status, body = await api.call("PUT", f"/v1/documents/{w.practice.address}", body=good, content_type="text/plain")
    assert (status, body) == (
        415,
        {"error": "unsupported_media_type", "message": "send this body as Content-Type: application/octet-stream"},
    )
    assert describe_holdings(relay.config) == Holdings((), (), ())
    assert (await _get(api, w.practice.address, "policy"))[0] == 404


async def test_only_the_signer_publishes_under_its_own_registered_address(relay: RunningRelay) -> None:
    api, w = relay.api, _practice()
    stranger = make_user(n_otk=0, n_kem=0)
    await _registered(api, w.practice, stranger)
    # The stranger's own (valid) policy under the practice's address: refused, and nothing under either.
    theirs = _sign(stranger.identity, _policy("Call us, we are the practice now.")).to_bytes()
    assert await _put(api, w.practice.address, theirs) == (
        403,
        {"error": "forbidden", "message": "a document is published only under its signer's own address"},
    )
    # The therapist is not registered here: its card is refused under its own address.
    assert await _put(api, w.therapist.address, w.availability.to_bytes()) == (
        403,
        {
            "error": "forbidden",
            "message": "documents are published only under an address registered on this relay; register first",
        },
    )
    for address in (w.practice.address, stranger.address, w.therapist.address):
        for kind in ("policy", "availability"):
            assert (await _get(api, address, kind))[0] == 404
    assert describe_holdings(relay.config) == Holdings((), (), ())


async def test_expired_and_future_documents_are_refused(relay: RunningRelay) -> None:
    api, w = relay.api, _practice()
    await _registered(api, w.practice)
    expired = _sign(w.practice.identity, _policy(), issued=_now() - 10 * DAY, lifetime=9 * DAY)
    assert await _put(api, w.practice.address, expired.to_bytes()) == (
        400,
        {"error": "expired", "message": "the document has expired; sign it with a later expiry and a higher version"},
    )
    future = _sign(w.practice.identity, _policy(), issued=_now() + 3600)
    assert await _put(api, w.practice.address, future.to_bytes()) == (
        400,
        {"error": "bad_request", "message": "the document is issued in the future; check the signing device's clock"},
    )
    assert describe_holdings(relay.config) == Holdings((), (), ())


async def test_only_a_higher_version_replaces_and_the_newest_is_still_served(relay: RunningRelay) -> None:
    """Attack: a publisher (or anyone replaying an old signed list) tries to roll the relay back to an older
    revocation list, or to swap the held version's bytes for other bytes of the same version."""
    api, w = relay.api, _practice()
    await _registered(api, w.practice)
    now = _now()
    v1, v2, v3 = (
        _sign(w.practice.identity, RevocationList(tuple(Revocation(bytes([i]) * 16, now) for i in range(n))), version=n)
        for n in (1, 2, 3)
    )
    other_v2 = _sign(w.practice.identity, RevocationList(()), version=2)
    assert (await _put(api, w.practice.address, v2.to_bytes()))[0] == 201
    conflict = (
        409,
        {
            "error": "conflict",
            "message": "the relay holds a newer version of this document, or this version with other bytes; "
            "publish a higher version",
        },
    )
    assert await _put(api, w.practice.address, v1.to_bytes()) == conflict
    assert await _put(api, w.practice.address, other_v2.to_bytes()) == conflict
    assert await _get(api, w.practice.address, "revocations") == (200, v2.to_bytes())
    assert await _put(api, w.practice.address, v3.to_bytes()) == (201, _published(w.practice, v3))
    assert await _get(api, w.practice.address, "revocations") == (200, v3.to_bytes())
    assert await _put(api, w.practice.address, v2.to_bytes()) == conflict
    assert describe_holdings(relay.config).documents == (
        HeldDocument(int(DocumentKind.REVOCATIONS), len(v3.to_bytes()), 1000 * v3.expires_at),
    )


async def test_a_replaced_documents_old_bytes_leave_every_relay_file(relay: RunningRelay) -> None:
    """Forensics: after a newer version replaces a policy, no 32-byte slice of the old one's text is left in
    relay.db, its -wal, -shm or any journal, with no sweep run by hand."""
    api, w, data_dir = relay.api, _practice(), relay.config.data_dir
    await _registered(api, w.practice)
    old_text, new_text = secrets.token_hex(1000), secrets.token_hex(1000)
    old = _sign(w.practice.identity, _policy(old_text), version=1)
    new = _sign(w.practice.identity, _policy(new_text), version=2)
    assert (await _put(api, w.practice.address, old.to_bytes()))[0] == 201
    old_marker, new_marker = old_text.encode(), new_text.encode()
    assert _traces(old_marker, _disk_bytes(data_dir)) > 0  # the search finds what is there
    assert (await _put(api, w.practice.address, new.to_bytes()))[0] == 201
    gone = await _until(lambda: _traces(old_marker, _disk_bytes(data_dir)) == 0, SCRUB_DEADLINE_S)
    assert gone, "the replaced document's bytes are still on disk"
    assert _traces(new_marker, _disk_bytes(data_dir)) > 0
    assert await _get(api, w.practice.address, "policy") == (200, new.to_bytes())


async def test_an_expired_document_is_not_served_and_the_sweep_deletes_it_from_every_file(
    relay: RunningRelay,
) -> None:
    api, w, data_dir = relay.api, _practice(), relay.config.data_dir
    await _registered(api, w.practice)
    text = secrets.token_hex(1000)
    short = _sign(w.practice.identity, _policy(text), issued=_now(), lifetime=2)
    kept = _sign(w.practice.identity, RevocationList(()))
    assert (await _put(api, w.practice.address, short.to_bytes()))[0] == 201
    assert (await _put(api, w.practice.address, kept.to_bytes()))[0] == 201
    assert _traces(text.encode(), _disk_bytes(data_dir)) > 0
    await asyncio.sleep(short.expires_at - time.time() + 0.1)
    assert (await _get(api, w.practice.address, "policy"))[0] == 404  # past expiry, before any sweep
    result = await sweep(relay.relay.store, relay.relay.blobs, int(time.time() * 1000))
    assert result.documents == 1
    assert _traces(text.encode(), _disk_bytes(data_dir)) == 0
    assert describe_holdings(relay.config).documents == (
        HeldDocument(int(DocumentKind.REVOCATIONS), len(kept.to_bytes()), 1000 * kept.expires_at),
    )
    assert await _get(api, w.practice.address, "revocations") == (200, kept.to_bytes())


async def test_an_abandoned_accounts_documents_go_with_it(tmp_path: Path) -> None:
    config = relay_config(tmp_path, account_ttl_s=1)
    running = await run_relay(config)
    try:
        api, w = running.api, _practice()
        await _registered(api, w.practice)
        assert (await _put(api, w.practice.address, w.policy.to_bytes()))[0] == 201
        result = await sweep(running.relay.store, running.relay.blobs, int(time.time() * 1000) + 10_000)
        assert result.documents == 0  # not expired: deleted with its account
        assert (await _get(api, w.practice.address, "policy"))[0] == 404
        assert describe_holdings(config) == Holdings((), (), ())
        assert await running.relay.store.bytes_held() == 0
    finally:
        await stop_relay(running)


async def test_documents_count_toward_the_storage_budget(tmp_path: Path) -> None:
    w, now = _practice(), _now()
    revoked = tuple(Revocation(i.to_bytes(16, "big"), now) for i in range(400))
    big = _sign(w.practice.identity, RevocationList(revoked)).to_bytes()  # 9.7 KB: more than a registration
    config = relay_config(tmp_path, storage_budget_bytes=len(big) + 100)
    running = await run_relay(config)
    try:
        api = running.api
        await _registered(api, w.practice)
        assert (await _put(api, w.practice.address, big))[0] == 201
        assert await running.relay.store.bytes_held() == len(big)
        status, body = await _put(api, w.practice.address, w.policy.to_bytes())
        assert (status, body) == (
            507,
            {
                "error": "insufficient_storage",
                "message": "the relay's storage budget is used up; nothing new is stored until messages are "
                "collected or expire",
            },
        )
    finally:
        await stop_relay(running)


async def test_the_relay_logs_no_address(relay: RunningRelay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api, w = relay.api, _practice()
    await _registered(api, w.practice, w.therapist)
    stranger = make_user(n_otk=0, n_kem=0)
    await _put(api, w.practice.address, w.directory.to_bytes())
    await _put(api, w.practice.address, w.directory.to_bytes()[:-1])
    await _put(api, stranger.address, w.policy.to_bytes())
    await _put(api, w.therapist.address, w.availability.to_bytes())
    await _get(api, w.practice.address, "directory")
    await _get(api, stranger.address, "policy")
    text = caplog.text
    for user in (w.practice, w.therapist, stranger):
        assert user.address not in text
        assert user.identity.public.address.raw.hex() not in text


async def test_an_app_on_the_test_backend_stores_documents_through_the_interface_and_charges_the_budgets(
    tmp_path: Path,
) -> None:
    parts = MemoryBackend()
    running = await run_relay(relay_config(tmp_path), backend=parts.backend())
    try:
        api, w = running.api, _practice()
        await _registered(api, w.practice)
        data = w.policy.to_bytes()
        raw = w.practice.identity.public.address.raw
        assert (await _put(api, w.practice.address, data))[0] == 201
        assert await _get(api, w.practice.address, "policy") == (200, data)
        held = parts.store.documents[(raw, int(DocumentKind.POLICY))]
        assert (held.version, held.data, held.expires_at_ms) == (1, data, 1000 * w.policy.expires_at)
        assert parts.address_bytes.calls == [("try_spend", b"127.0.0.1", len(data))]
        assert parts.upload_bytes.calls == [("try_spend", b"confide-document-publisher:" + raw, len(data))]
        # challenge, register, publish, fetch: each counted against the client address.
        assert parts.limiter.taken == [("127.0.0.1", 1.0)] * 4
    finally:
        await stop_relay(running)


async def test_documents_and_their_versions_survive_a_restart(tmp_path: Path) -> None:
    config = relay_config(tmp_path)
    w = _practice()
    v2 = _sign(w.practice.identity, _policy("Version two of the notice."), version=2)
    v1 = _sign(w.practice.identity, _policy("Version one of the notice."), version=1)
    running = await run_relay(config)
    try:
        await _registered(running.api, w.practice)
        assert (await _put(running.api, w.practice.address, v2.to_bytes()))[0] == 201
    finally:
        await stop_relay(running)
    running = await run_relay(config)
    try:
        assert await _get(running.api, w.practice.address, "policy") == (200, v2.to_bytes())
        assert (await _put(running.api, w.practice.address, v1.to_bytes()))[0] == 409
        assert await running.relay.store.bytes_held() == len(v2.to_bytes())
    finally:
        await stop_relay(running)


async def test_versions_beyond_sqlites_signed_range_order_as_numbers(relay: RunningRelay) -> None:
    """A version is a u64: 2**63 and 2**64 - 1 do not fit SQLite's signed integers and must still compare."""
    api, w = relay.api, _practice()
    await _registered(api, w.practice)
    low, high, top = (_sign(w.practice.identity, RevocationList(()), version=v) for v in (255, 2**63, 2**64 - 1))
    assert await _put(api, w.practice.address, high.to_bytes()) == (201, _published(w.practice, high))
    assert (await _put(api, w.practice.address, low.to_bytes()))[0] == 409
    assert await _put(api, w.practice.address, top.to_bytes()) == (201, _published(w.practice, top))
    assert (await _put(api, w.practice.address, high.to_bytes()))[0] == 409
    assert await _get(api, w.practice.address, "revocations") == (200, top.to_bytes())
