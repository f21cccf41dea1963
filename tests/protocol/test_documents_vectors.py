"""Check ``tests/vectors/documents.json`` (SPEC section 12) from its own inputs, through the public API, the way
another implementation would; and that its generator reproduces it byte for byte.

``tests/test_vectors.py`` checks the other vector files; this one is kept apart so the practice documents can
be reviewed on their own (its scenario is also produced by ``tests/vectors/generate.py``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from nacl.bindings import crypto_core_ed25519_scalar_reduce

from confide.keys.errors import ConfideError
from confide.keys.identity import IdentityKeyPair, IdentityPublicKey
from confide.protocol import (
    AvailabilityCard,
    AwayNote,
    Credential,
    CrisisContact,
    Directory,
    DirectoryEntry,
    DocumentKind,
    FrankingKeyPair,
    FrankingPublicKey,
    OfficeHours,
    PracticePolicy,
    Revocation,
    RevocationList,
    SignedDocument,
    VersionGuard,
    check_credential,
    parse_document,
)

Json = dict[str, Any]
FILE = Path(__file__).resolve().parents[1] / "vectors" / "documents.json"
LABELS = {
    "credential": b"Confide-document-credential-v1",
    "revocations": b"Confide-document-revocations-v1",
    "directory": b"Confide-document-directory-v1",
    "availability": b"Confide-document-availability-v1",
    "policy": b"Confide-document-policy-v1",
}


def b(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.fixture(scope="module")
def vectors() -> Json:
    data = json.loads(FILE.read_text(encoding="utf-8"))
    assert data["scenario"] == "documents"
    assert data["expected"]["result"] == "ok"
    return data  # type: ignore[no-any-return]


def identities(d: Json) -> dict[str, IdentityKeyPair]:
    return {name: IdentityKeyPair.from_private_bytes(b(key)) for name, key in d["inputs"]["identities"].items()}


def body_of(kind: str, j: Json, now: int) -> Any:
    if kind == "credential":
        return Credential(
            IdentityPublicKey.from_bytes(b(j["therapist"])),
            b(j["credential_id"]),
            j["display_name"],
            j["licence_number"],
            j["licensing_body"],
            j["jurisdiction"],
            j["not_before"],
            j["not_after"],
        )
    if kind == "revocations":
        return RevocationList(tuple(Revocation(b(r["credential_id"]), r["revoked_at"]) for r in j["revoked"]))
    if kind == "availability":
        away = j["away"]
        return AvailabilityCard(
            j["time_zone"],
            tuple(OfficeHours(h["day"], h["start"], h["end"]) for h in j["hours"]),
            j["reply_within_s"],
            None if away is None else AwayNote(away["starts_at"], away["ends_at"], away["note"]),
        )
    if kind == "directory":
        return Directory(
            tuple(
                DirectoryEntry(
                    parse_document(
                        b(e["credential"]), expected_signer=None, expected_kind=DocumentKind.CREDENTIAL, now=now
                    ),
                    None if e["delivery_token"] is None else b(e["delivery_token"]),
                    None
                    if e["availability"] is None
                    else parse_document(
                        b(e["availability"]), expected_signer=None, expected_kind=DocumentKind.AVAILABILITY, now=now
                    ),
                )
                for e in j["entries"]
            )
        )
    assert kind == "policy"
    return PracticePolicy(
        j["practice_name"],
        j["crisis_notice"],
        tuple(CrisisContact(c["label"], c["number"]) for c in j["crisis_contacts"]),
        moderation_key=FrankingPublicKey.from_bytes(b(j["moderation_key"])),
    )


def test_draws_are_the_drbg_outputs(vectors: Json) -> None:
    seed, outputs = b(vectors["seed"]), vectors["inputs"]["rng_outputs"]
    sizes = [32] * 8 + [16, 16, 16, 32, 64]
    assert len(outputs) == len(sizes)
    for k, (out, n) in enumerate(zip(outputs, sizes, strict=True), start=1):
        assert out == hashlib.shake_256(seed + k.to_bytes(8, "big")).digest(n).hex()
    keys = identities(vectors)
    assert [keys[n].private_bytes().hex() for n in ("practice", "rivera", "okafor", "other")] == [
        outputs[i] + outputs[i + 1] for i in range(0, 8, 2)
    ]
    # the moderation key: the last draw reduced mod l, its public half in the policy
    moderation = FrankingKeyPair(crypto_core_ed25519_scalar_reduce(b(outputs[-1])))
    (policy,) = (v for v in vectors["inputs"]["values"] if v["kind"] == "policy")
    assert policy["body"]["moderation_key"] == moderation.public.to_bytes().hex()


def test_each_document_encodes_and_parses(vectors: Json) -> None:
    keys, now = identities(vectors), vectors["inputs"]["now"]
    for value, want in zip(vectors["inputs"]["values"], vectors["expected"]["encoded"], strict=True):
        signer = keys[value["signer"]]
        body = body_of(value["kind"], value["body"], now)
        doc = SignedDocument.sign(
            signer, body, version=value["version"], issued_at=value["issued_at"], expires_at=value["expires_at"]
        )
        data = b(want["document"])
        assert doc.to_bytes() == data, value["why"]
        assert hashlib.sha256(data).hexdigest() == want["digest"]
        assert data[0] == 1
        assert data[1] == DocumentKind[value["kind"].upper()]
        assert data[2:130] == signer.public.to_bytes()
        # the signature, from the primitive: Ed25519 over the kind's label and every byte before it
        signer.public.verify(data[-64:], LABELS[value["kind"]] + data[:-64], "vector")
        parsed = parse_document(data, expected_signer=signer.public, expected_kind=doc.kind, now=now)
        assert parsed == doc


def test_each_malformed_document_gets_its_outcome(vectors: Json) -> None:
    keys = identities(vectors)
    cases, outcomes = vectors["inputs"]["malformed"], vectors["expected"]["malformed"]
    assert len(cases) == len(outcomes) == 40
    for case, want in zip(cases, outcomes, strict=True):
        signer = keys[case["expected_signer"]].public if case["expected_signer"] else None
        kind = DocumentKind[case["expected_kind"].upper()] if case["expected_kind"] else None
        try:
            parse_document(b(case["document"]), expected_signer=signer, expected_kind=kind, now=case["now"])
        except ConfideError as exc:
            got = {"why": case["why"], "result": "error", "error": type(exc).__name__}
        else:
            got = {"why": case["why"], "result": "ok"}
        assert got == want


def test_credential_checks(vectors: Json) -> None:
    keys, now = identities(vectors), vectors["inputs"]["now"]
    docs = {
        v["why"]: parse_document(b(e["document"]), expected_signer=None, expected_kind=None, now=now)
        for v, e in zip(vectors["inputs"]["values"], vectors["expected"]["encoded"], strict=True)
    }
    stale = b(vectors["inputs"]["stale_revocations"])
    docs["stale_revocations"] = parse_document(stale, expected_signer=None, expected_kind=None, now=1_699_000_000)
    for case, want in zip(
        vectors["inputs"]["credential_checks"], vectors["expected"]["credential_checks"], strict=True
    ):
        revocations = docs[case["revocations"]] if case["revocations"] else None
        got = check_credential(docs[case["credential"]], revocations, keys[case["therapist"]].public, case["now"])
        assert {"why": case["why"], "status": got.value} == want


def test_replacements(vectors: Json) -> None:
    now, seen_in = vectors["inputs"]["now"], vectors["inputs"]["seen"]
    seen_doc = parse_document(
        b(seen_in["document"]), expected_signer=None, expected_kind=DocumentKind.DIRECTORY, now=now
    )
    seen = VersionGuard.of(seen_doc)
    assert (seen.version, seen.digest.hex()) == (seen_in["version"], seen_in["digest"])
    for case, want in zip(vectors["inputs"]["replacements"], vectors["expected"]["replacements"], strict=True):
        doc = parse_document(b(case["document"]), expected_signer=None, expected_kind=DocumentKind.DIRECTORY, now=now)
        try:
            seen.advance(doc)
        except ConfideError as exc:
            got = {"why": case["why"], "result": "error", "error": type(exc).__name__}
        else:
            got = {"why": case["why"], "result": "ok"}
        assert got == want


def test_the_generator_reproduces_the_file() -> None:
    from tests.vectors.gen.documents import documents
    from tests.vectors.generate import SCENARIOS, dump

    assert SCENARIOS["documents.json"] is documents
    assert dump(documents()) == FILE.read_text(encoding="utf-8")


def check_documents(d: Json, _folder: Path) -> None:
    """Every check above on a loaded ``documents.json``: the entry ``tests/test_vectors.py``'s ``CHECKS`` table
    can name (with ``"documents"`` in its ``REQUIRED`` set)."""
    for check in (
        test_draws_are_the_drbg_outputs,
        test_each_document_encodes_and_parses,
        test_each_malformed_document_gets_its_outcome,
        test_credential_checks,
        test_replacements,
    ):
        check(d)
