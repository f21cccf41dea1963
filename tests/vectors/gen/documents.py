"""Section 12, signed practice documents: ``documents.json``.

:func:`world` builds the sample practice (identities from the DRBG, one document of each kind); the unit
tests in ``tests/protocol/test_documents*.py`` and the decoder registry reuse it. ``confide.protocol.documents``
is imported when the scenario runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confide.keys.encoding import Writer
from confide.keys.identity import IdentityKeyPair
from confide.protocol.document_bodies import (
    AvailabilityCard,
    AwayNote,
    Credential,
    CrisisContact,
    OfficeHours,
    PracticePolicy,
    RevocationList,
)
from confide.protocol.document_errors import (
    DocumentError,
    DocumentExpired,
    DocumentNotYetValid,
    DocumentSignatureError,
    DocumentStale,
)
from confide.protocol.documents import (
    MAX_CLOCK_SKEW_S,
    SIGNATURE_LABELS,
    CredentialStatus,
    Directory,
    DirectoryEntry,
    DocumentKind,
    SignedDocument,
    VersionGuard,
    check_credential,
    parse_document,
)
from confide.protocol.franking import FrankingKeyPair

from .common import NOW, Json, attempt, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng
from .franking import ORDER_8

DAY = 86400
ISSUED = NOW - DAY
"""Every sample document is issued a day before :data:`NOW` (a Tuesday, 2023-11-14 22:13:20 UTC)."""
EXPIRES = NOW + 300 * DAY
REVOCATIONS_EXPIRE = NOW + 30 * DAY

ERRORS: dict[str, type[DocumentError]] = {
    e.__name__: e for e in (DocumentError, DocumentSignatureError, DocumentExpired, DocumentNotYetValid, DocumentStale)
}


@dataclass(frozen=True)
class World:
    """The sample practice: four identities and one signed document of each kind (two credentials)."""

    practice: IdentityKeyPair
    rivera: IdentityKeyPair
    okafor: IdentityKeyPair
    other: IdentityKeyPair
    credential: SignedDocument
    revoked_credential: SignedDocument
    revocations: SignedDocument
    card: SignedDocument
    directory: SignedDocument
    policy: SignedDocument
    token: bytes
    moderation: FrankingKeyPair
    """The practice's moderation (judge) key pair, whose public half its policy publishes."""
    draws: list[str]

    @property
    def documents(self) -> dict[str, SignedDocument]:
        """The documents by name, in the file's order."""
        return {
            "credential": self.credential,
            "revoked_credential": self.revoked_credential,
            "revocations": self.revocations,
            "availability": self.card,
            "directory": self.directory,
            "policy": self.policy,
        }


def world(seed: bytes = seed_of("documents")) -> World:
    """Build the sample practice from the DRBG seeded with ``seed`` (draw order: four identities, two
    credential ids, one more revoked id, the delivery token, the moderation key's 64 bytes)."""
    rng = RecordingRng(SeededRng(seed))
    practice, rivera, okafor, other = (IdentityKeyPair.generate(rng) for _ in range(4))
    rivera_id, okafor_id, old_id = rng(16), rng(16), rng(16)
    token = rng(32)
    moderation = FrankingKeyPair.generate(rng)
    draws = rng.take()
    credential = SignedDocument.sign(
        practice,
        Credential(
            rivera.public,
            rivera_id,
            "Dr. Ana Mari\u0301a Rivera",  # decomposed í: stored as NFC
            "PSY 12345",
            "California Board of Psychology",
            "US-CA",
            NOW - 30 * DAY,
            NOW + 335 * DAY,
        ),
        version=1,
        issued_at=ISSUED,
        expires_at=EXPIRES,
    )
    revoked_credential = SignedDocument.sign(
        practice,
        Credential(
            okafor.public,
            okafor_id,
            "Dr. Chidi Okafor",
            "LPC 0042",
            "Texas Behavioral Health Executive Council",
            "US-TX",
            NOW - 200 * DAY,
            NOW + 165 * DAY,
        ),
        version=1,
        issued_at=ISSUED,
        expires_at=EXPIRES,
    )
    revocations = SignedDocument.sign(
        practice,
        RevocationList.of({okafor_id: NOW - 3600, old_id: NOW - 90 * DAY}),
        version=7,
        issued_at=ISSUED,
        expires_at=REVOCATIONS_EXPIRE,
    )
    week = ((9 * 60, 12 * 60), (13 * 60, 17 * 60 + 30))
    hours = (
        *(OfficeHours(day, start, end) for day in range(4) for start, end in week),
        OfficeHours(4, 9 * 60, 13 * 60),
    )
    card = SignedDocument.sign(
        rivera,
        AvailabilityCard(
            "America/Los_Angeles",
            hours,
            DAY,
            AwayNote(
                NOW + 10 * DAY, NOW + 19 * DAY, "At a conference.\nDr. Okafor\u2019s colleague covers urgent questions."
            ),
        ),
        version=3,
        issued_at=ISSUED,
        expires_at=EXPIRES,
    )
    directory = SignedDocument.sign(
        practice,
        Directory((DirectoryEntry(credential, token, card), DirectoryEntry(revoked_credential))),
        version=2,
        issued_at=ISSUED,
        expires_at=EXPIRES,
    )
    policy = SignedDocument.sign(
        practice,
        PracticePolicy(
            "Harbor Counseling Group",
            "If you are in danger or thinking about harming yourself, do not wait for a reply here.\n"
            "Call or text one of the numbers below, or your local emergency number.",
            (
                CrisisContact("988 Suicide & Crisis Lifeline", "988"),
                CrisisContact("Crisis Text Line", "Text HOME to 741741"),
                CrisisContact("Emergency services", "911"),
            ),
            moderation_key=moderation.public,
        ),
        version=1,
        issued_at=ISSUED,
        expires_at=EXPIRES,
    )
    return World(
        practice,
        rivera,
        okafor,
        other,
        credential,
        revoked_credential,
        revocations,
        card,
        directory,
        policy,
        token,
        moderation,
        draws,
    )


def forge(
    signer: IdentityKeyPair,
    kind: int,
    body: bytes,
    *,
    version: int = 1,
    issued_at: int = ISSUED,
    expires_at: int = EXPIRES,
    label: bytes | None = None,
    fmt: int = 1,
) -> bytes:
    """A document assembled byte by byte (to hold what the builders refuse), signed by ``signer`` over
    ``label`` (the kind's own label unless given) and the bytes before the signature."""
    prefix = (
        Writer()
        .u8(fmt)
        .u8(kind)
        .raw(signer.public.to_bytes())
        .u64(version)
        .u64(issued_at)
        .u64(expires_at)
        .var32(body)
        .bytes()
    )
    if label is None:
        label = SIGNATURE_LABELS[DocumentKind(kind)]
    return prefix + signer.sign(label + prefix)


MODERATION_KEY = FrankingKeyPair.derive(b"confide-vectors/documents moderation key").public
"""A valid moderation key for policies assembled byte by byte (any valid point would do)."""


def policy_body(
    name: str, notice: str, contacts: tuple[tuple[str, str], ...] = (), key: bytes = MODERATION_KEY.to_bytes()
) -> bytes:
    """A policy body from raw texts and raw key bytes (no normalisation, no checks)."""
    w = Writer().var8(name.encode()).var16(notice.encode()).u8(len(contacts))
    for label, number in contacts:
        w.var8(label.encode()).var8(number.encode())
    return w.raw(key).bytes()


def card_body(zone: str, hours: tuple[tuple[int, int, int], ...], reply: int = DAY) -> bytes:
    """An availability card body without an away note, from raw values."""
    w = Writer().var8(zone.encode()).u32(reply).u8(len(hours))
    for day, start, end in hours:
        w.u8(day).u16(start).u16(end)
    return w.u8(0).bytes()


def body_json(body: Any) -> Json:
    """A body as the vector file lists it."""
    if isinstance(body, Credential):
        return {
            "therapist": h(body.therapist.to_bytes()),
            "credential_id": h(body.credential_id),
            "display_name": body.display_name,
            "licence_number": body.licence_number,
            "licensing_body": body.licensing_body,
            "jurisdiction": body.jurisdiction,
            "not_before": body.not_before,
            "not_after": body.not_after,
        }
    if isinstance(body, RevocationList):
        return {"revoked": [{"credential_id": h(r.credential_id), "revoked_at": r.revoked_at} for r in body.revoked]}
    if isinstance(body, AvailabilityCard):
        away = body.away
        return {
            "time_zone": body.time_zone,
            "hours": [{"day": int(b.day), "start": b.start, "end": b.end} for b in body.hours],
            "reply_within_s": body.reply_within_s,
            "away": None if away is None else {"starts_at": away.starts_at, "ends_at": away.ends_at, "note": away.note},
        }
    if isinstance(body, Directory):
        return {
            "entries": [
                {
                    "credential": h(e.credential.to_bytes()),
                    "delivery_token": None if e.delivery_token is None else h(e.delivery_token),
                    "availability": None if e.availability is None else h(e.availability.to_bytes()),
                }
                for e in body.entries
            ]
        }
    assert isinstance(body, PracticePolicy)
    return {
        "practice_name": body.practice_name,
        "crisis_notice": body.crisis_notice,
        "crisis_contacts": [{"label": c.label, "number": c.number} for c in body.crisis_contacts],
        "moderation_key": h(body.moderation_key.to_bytes()),
    }


def _parse(data: bytes, signer: IdentityKeyPair | None, kind: DocumentKind | None, now: int) -> SignedDocument:
    return parse_document(data, expected_signer=None if signer is None else signer.public, expected_kind=kind, now=now)


def documents() -> Json:
    """The vector file: the sample documents, refused documents, credential checks and replacements."""
    seed = seed_of("documents")
    w = world(seed)
    who = {"practice": w.practice, "rivera": w.rivera, "okafor": w.okafor, "other": w.other}
    signer_name = {w.practice.public: "practice", w.rivera.public: "rivera"}
    values, encoded = [], []
    for name, doc in w.documents.items():
        values.append(
            {
                "why": name,
                "kind": doc.kind.name.lower(),
                "signer": signer_name[doc.signer],
                "version": doc.version,
                "issued_at": doc.issued_at,
                "expires_at": doc.expires_at,
                "body": body_json(doc.body),
            }
        )
        encoded.append({"result": "ok", "document": h(doc.to_bytes()), "digest": h(doc.digest)})
        assert _parse(doc.to_bytes(), w.rivera if name == "availability" else w.practice, doc.kind, NOW) == doc

    cred = w.credential.to_bytes()
    directory_doc = w.directory
    card_prefix_kind = 1  # offset of the kind byte
    dir_unsigned = directory_doc.to_bytes()[:-64]
    cases: list[Json] = []

    wants: list[str] = []

    def case(
        why: str, data: bytes, signer: str | None, kind: str | None, now: int = NOW, want: str = "DocumentError"
    ) -> None:
        cases.append({"why": why, "document": h(data), "expected_signer": signer, "expected_kind": kind, "now": now})
        wants.append(want)

    case("flipped signature byte", flip(cred, -1), "practice", "credential", want="DocumentSignatureError")
    case(
        "flipped version byte (signed field)",
        flip(cred, 130 + 7),
        "practice",
        "credential",
        want="DocumentSignatureError",
    )
    case(
        "flipped byte in the licence number (signed text)",
        flip(cred, cred.index(b"PSY 12345") + 2),
        "practice",
        "credential",
        want="DocumentSignatureError",
    )
    case(
        "flipped byte in the signer's identity certificate",
        flip(cred, 2 + 100),
        None,
        "credential",
        want="DocumentSignatureError",
    )
    case(
        "a credential signed by another identity, expected from the practice",
        SignedDocument.sign(w.other, w.credential.body, version=1, issued_at=ISSUED, expires_at=EXPIRES).to_bytes(),
        "practice",
        "credential",
        want="DocumentSignatureError",
    )
    case(
        "the practice's directory signed over the credential label",
        dir_unsigned + w.practice.sign(SIGNATURE_LABELS[DocumentKind.CREDENTIAL] + dir_unsigned),
        "practice",
        "directory",
        want="DocumentSignatureError",
    )
    case("a credential presented as a directory", cred, "practice", "directory")
    case(
        "a credential's kind byte changed to directory",
        cred[:card_prefix_kind] + bytes([3]) + cred[card_prefix_kind + 1 :],
        "practice",
        None,
    )
    case("format version 2", b"\x02" + cred[1:], "practice", "credential")
    case("unknown kind 9", cred[:1] + b"\x09" + cred[2:], "practice", None)
    case("one trailing byte", cred + b"\x00", "practice", "credential")
    case("truncated by one byte", cred[:-1], "practice", "credential")
    case("expired (now = expires_at)", cred, "practice", "credential", EXPIRES, want="DocumentExpired")
    case(
        "issued more than the clock skew in the future",
        cred,
        "practice",
        "credential",
        ISSUED - MAX_CLOCK_SKEW_S - 1,
        want="DocumentNotYetValid",
    )
    case(
        "issued exactly the clock skew in the future",
        cred,
        "practice",
        "credential",
        ISSUED - MAX_CLOCK_SKEW_S,
        want="ok",
    )
    notice = "Call us."
    case(
        "policy name not NFC (decomposed accent)",
        forge(w.practice, 5, policy_body("Cafe\u0301 Clinic", notice)),
        "practice",
        "policy",
    )
    case(
        "policy name with a right-to-left override",
        forge(w.practice, 5, policy_body("Harbor \u202eCounseling", notice)),
        "practice",
        "policy",
    )
    case(
        "crisis number with a left-to-right isolate",
        forge(w.practice, 5, policy_body("Harbor", notice, (("Line", "\u2066988\u2069"),))),
        "practice",
        "policy",
    )
    case("crisis notice with ESC", forge(w.practice, 5, policy_body("Harbor", "Call \x1b[2Jus.")), "practice", "policy")
    case("crisis notice with CR", forge(w.practice, 5, policy_body("Harbor", "Call\rus.")), "practice", "policy")
    case(
        "crisis notice with a C1 control (NEL)",
        forge(w.practice, 5, policy_body("Harbor", "Call\x85us.")),
        "practice",
        "policy",
    )
    case(
        "crisis notice with a newline (allowed)",
        forge(w.practice, 5, policy_body("Harbor", "Call\nus.")),
        "practice",
        "policy",
        want="ok",
    )
    case(
        "practice name with a newline",
        forge(w.practice, 5, policy_body("Harbor\nClinic", notice)),
        "practice",
        "policy",
    )
    case("empty crisis notice", forge(w.practice, 5, policy_body("Harbor", "")), "practice", "policy")
    case(
        "moderation key is the identity point",
        forge(w.practice, 5, policy_body("Harbor", notice, key=b"\x01" + bytes(31))),
        "practice",
        "policy",
    )
    case(
        "moderation key is a point of order 8",
        forge(w.practice, 5, policy_body("Harbor", notice, key=ORDER_8)),
        "practice",
        "policy",
    )
    case(
        "moderation key truncated to 31 bytes",
        forge(w.practice, 5, policy_body("Harbor", notice, key=MODERATION_KEY.to_bytes()[:31])),
        "practice",
        "policy",
    )
    case("unknown time zone", forge(w.rivera, 4, card_body("Mars/Olympus_Mons", ())), "rivera", "availability")
    case("time zone given as a path", forge(w.rivera, 4, card_body("../zoneinfo/UTC", ())), "rivera", "availability")
    case(
        "overlapping office hours",
        forge(w.rivera, 4, card_body("Europe/Berlin", ((0, 540, 720), (0, 700, 800)))),
        "rivera",
        "availability",
    )
    case(
        "office hours ending after midnight",
        forge(w.rivera, 4, card_body("UTC", ((6, 1380, 1441),))),
        "rivera",
        "availability",
    )
    case("reply time zero", forge(w.rivera, 4, card_body("UTC", (), reply=0)), "rivera", "availability")
    ids = sorted(r.credential_id for r in w.revocations.body.revoked)  # type: ignore[union-attr]
    unsorted = Writer().u16(2).raw(ids[1]).u64(NOW).raw(ids[0]).u64(NOW).bytes()
    case(
        "revocation ids out of order",
        forge(w.practice, 2, unsorted, expires_at=ISSUED + 30 * DAY),
        "practice",
        "revocations",
    )
    repeated = Writer().u16(2).raw(ids[0]).u64(NOW).raw(ids[0]).u64(NOW).bytes()
    case(
        "revocation id repeated",
        forge(w.practice, 2, repeated, expires_at=ISSUED + 30 * DAY),
        "practice",
        "revocations",
    )
    case(
        "revocation list living 32 days",
        forge(w.practice, 2, w.revocations.body.to_bytes(), expires_at=ISSUED + 32 * DAY),
        "practice",
        "revocations",
    )
    other_card = SignedDocument.sign(w.other, w.card.body, version=1, issued_at=ISSUED, expires_at=EXPIRES)
    bad_entry = Writer().u16(1).var16(cred).u8(0).u8(1).var16(other_card.to_bytes()).bytes()
    case(
        "directory card signed by someone else than the therapist",
        forge(w.practice, 3, bad_entry),
        "practice",
        "directory",
    )
    foreign = SignedDocument.sign(w.other, w.credential.body, version=1, issued_at=ISSUED, expires_at=EXPIRES)
    foreign_entry = Writer().u16(1).var16(foreign.to_bytes()).u8(0).u8(0).bytes()
    case("directory listing another signer's credential", forge(w.practice, 3, foreign_entry), "practice", "directory")
    broken_entry = Writer().u16(1).var16(flip(cred, -1)).u8(0).u8(0).bytes()
    case(
        "directory holding a credential with a broken signature",
        forge(w.practice, 3, broken_entry),
        "practice",
        "directory",
        want="DocumentSignatureError",
    )
    twice = Writer().u16(2)
    for _ in range(2):
        twice.var16(cred).u8(0).u8(0)
    case("directory listing one credential twice", forge(w.practice, 3, twice.bytes()), "practice", "directory")
    case(
        "directory presence flag 2",
        forge(w.practice, 3, Writer().u16(1).var16(cred).u8(2).u8(0).bytes()),
        "practice",
        "directory",
    )

    outcomes = []
    for c in cases:
        signer = who[c["expected_signer"]] if c["expected_signer"] else None
        kind = DocumentKind[c["expected_kind"].upper()] if c["expected_kind"] else None
        result, _ = attempt(_parse, bytes.fromhex(c["document"]), signer, kind, c["now"])
        outcomes.append({"why": c["why"], **result})
    got = [o.get("error", "ok") for o in outcomes]
    if got != wants:
        raise AssertionError(
            f"unexpected outcomes: {[(c['why'], g) for c, g, x in zip(cases, got, wants, strict=True) if g != x]}"
        )

    checks_in: list[Json] = []
    checks_out: list[Json] = []
    stale_list = SignedDocument.sign(
        w.practice, w.revocations.body, version=6, issued_at=ISSUED - 40 * DAY, expires_at=ISSUED - 10 * DAY
    )
    for why, credential, revocations, person, now in (
        ("valid", "credential", "revocations", "rivera", NOW),
        ("revoked", "revoked_credential", "revocations", "okafor", NOW),
        ("bound to another key", "credential", "revocations", "other", NOW),
        ("past not_after", "credential", "revocations", "rivera", NOW + 335 * DAY),
        ("before not_before", "credential", "revocations", "rivera", NOW - 30 * DAY - 1),
        ("revocation list past its expiry", "credential", "stale_revocations", "rivera", NOW),
        ("no revocation list", "credential", None, "rivera", NOW),
        ("revoked, with a stale list", "revoked_credential", "stale_revocations", "okafor", NOW),
    ):
        docs = {**w.documents, "stale_revocations": stale_list}
        status = check_credential(docs[credential], docs[revocations] if revocations else None, who[person].public, now)
        checks_in.append(
            {"why": why, "credential": credential, "revocations": revocations, "therapist": person, "now": now}
        )
        checks_out.append({"why": why, "status": str(status)})
    assert [c["status"] for c in checks_out] == [
        s.value
        for s in (
            CredentialStatus.VALID,
            CredentialStatus.REVOKED,
            CredentialStatus.OTHER_KEY,
            CredentialStatus.EXPIRED,
            CredentialStatus.NOT_YET_VALID,
            CredentialStatus.REVOCATIONS_STALE,
            CredentialStatus.REVOCATIONS_STALE,
            CredentialStatus.REVOKED,
        )
    ]

    seen = VersionGuard.of(w.directory)
    older = SignedDocument.sign(w.practice, w.directory.body, version=1, issued_at=ISSUED, expires_at=EXPIRES)
    same_other = SignedDocument.sign(w.practice, w.directory.body, version=2, issued_at=ISSUED + 1, expires_at=EXPIRES)
    newer = SignedDocument.sign(w.practice, w.directory.body, version=3, issued_at=ISSUED + 2, expires_at=EXPIRES)
    replace_in, replace_out = [], []
    for why, doc in (
        ("older version", older),
        ("same version, same bytes", w.directory),
        ("same version, other bytes", same_other),
        ("newer version", newer),
    ):
        replace_in.append({"why": why, "document": h(doc.to_bytes())})
        result, _ = attempt(seen.advance, doc)
        replace_out.append({"why": why, **result})

    inputs = {
        "draw_order": [
            "practice identity (32+32)",
            "rivera identity (32+32)",
            "okafor identity (32+32)",
            "other identity (32+32)",
            "rivera credential id",
            "okafor credential id",
            "older revoked credential id",
            "rivera delivery token",
            "practice moderation key (64, reduced mod l)",
        ],
        "rng_outputs": w.draws,
        "identities": {name: h(k.private_bytes()) for name, k in who.items()},
        "now": NOW,
        "values": values,
        "malformed": cases,
        "credential_checks": checks_in,
        "stale_revocations": h(stale_list.to_bytes()),
        "seen": {"document": h(w.directory.to_bytes()), "version": seen.version, "digest": h(seen.digest)},
        "replacements": replace_in,
    }
    expected = {
        "result": "ok",
        "encoded": encoded,
        "malformed": outcomes,
        "credential_checks": checks_out,
        "replacements": replace_out,
    }
    return vector(
        "documents",
        "Signed practice documents (SPEC section 12). Each of inputs.values, signed by the identity named in "
        "'signer' (private forms in inputs.identities), encodes to expected.encoded's 'document' at the same "
        "index (Ed25519 is deterministic) and parses back with that signer and kind expected at inputs.now. Each "
        "'malformed' document is parsed with its expected_signer (a name or null), expected_kind (or null) and "
        "now, and must give the listed result: forged, tampered, wrong-label, wrong-kind, expired and future "
        "documents; texts not in NFC or holding a control or a bidirectional control (a newline in the crisis "
        "notice is accepted); policies whose moderation key is not a valid franking public key; bad time zones "
        "and office hours; unsorted revocations; bad directory entries. "
        "credential_checks give check_credential's status for a credential (a name in values, with "
        "'stale_revocations' the extra list given), a revocation list (or null), the contact's identity and "
        "now. replacements: each document against what was seen (inputs.seen), with the version guard.",
        seed,
        inputs,
        expected,
    )
