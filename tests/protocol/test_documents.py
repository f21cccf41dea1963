"""Signed practice documents (SPEC section 12): round trips, forgeries, kinds, times, text rules, the version
guard and credential checks. The sample practice is the vectors' (``tests/vectors/gen/documents.py``)."""

from __future__ import annotations

import pytest

from confide.keys.encoding import Writer
from confide.protocol import (
    AvailabilityCard,
    AwayNote,
    Credential,
    CredentialStatus,
    CrisisContact,
    Directory,
    DirectoryEntry,
    DocumentError,
    DocumentExpired,
    DocumentKind,
    DocumentNotYetValid,
    DocumentSignatureError,
    DocumentStale,
    OfficeHours,
    PracticePolicy,
    Revocation,
    RevocationList,
    SignedDocument,
    VersionGuard,
    check_credential,
    parse_document,
    sign_document,
)
from confide.protocol.document_bodies import MAX_CRISIS_CONTACTS, MAX_DISPLAY_NAME_BYTES, MAX_REVOCATIONS
from confide.protocol.documents import (
    MAX_CLOCK_SKEW_S,
    MAX_DOCUMENT_LEN,
    MAX_DOCUMENT_LIFETIME_S,
    SIGNATURE_LABELS,
)

from ..vectors.gen.common import NOW
from ..vectors.gen.documents import DAY, EXPIRES, ISSUED, World, card_body, forge, policy_body, world

W = world()
"""The sample practice, built once (identities from the vectors' DRBG)."""


def parse(
    data: bytes, signer: SignedDocument | None = None, *, kind: DocumentKind | None, now: int = NOW
) -> SignedDocument:
    expected = None if signer is None else signer.signer
    return parse_document(data, expected_signer=expected, expected_kind=kind, now=now)


@pytest.mark.parametrize("name", list(W.documents))
def test_every_kind_round_trips(name: str) -> None:
    doc = W.documents[name]
    data = doc.to_bytes()
    parsed = parse(data, doc, kind=doc.kind)
    assert parsed == doc
    assert parsed.to_bytes() == data
    assert (
        sign_document(
            W.rivera if name == "availability" else W.practice,
            doc.body,
            version=doc.version,
            issued_at=doc.issued_at,
            expires_at=doc.expires_at,
        )
        == data
    )  # Ed25519 is deterministic: one byte string per document


def test_texts_are_stored_in_nfc() -> None:
    credential = W.credential.body
    assert isinstance(credential, Credential)
    assert credential.display_name == "Dr. Ana Mar\u00eda Rivera"
    assert "Mar\u00eda".encode() in W.credential.to_bytes()


@pytest.mark.parametrize("name", ["credential", "revocations", "availability", "policy"])
def test_every_single_byte_tamper_is_refused(name: str) -> None:
    doc = W.documents[name]
    data = doc.to_bytes()
    for offset in range(len(data)):
        for mask in (0x01, 0x80):
            tampered = bytearray(data)
            tampered[offset] ^= mask
            with pytest.raises(DocumentError):
                parse(bytes(tampered), doc, kind=doc.kind)


def test_every_byte_of_the_directory_is_covered() -> None:
    """The directory holds other signed documents: a flip anywhere, nested or not, is refused."""
    data = W.directory.to_bytes()
    for offset in range(0, len(data), 7):  # every 7th byte: ~220 parses of a 1.5 KB directory
        tampered = bytearray(data)
        tampered[offset] ^= 0x01
        with pytest.raises(DocumentError):
            parse(bytes(tampered), W.directory, kind=DocumentKind.DIRECTORY)


def test_truncations_and_trailing_bytes_are_refused() -> None:
    data = W.policy.to_bytes()
    for end in range(len(data)):
        with pytest.raises(DocumentError):
            parse(data[:end], W.policy, kind=DocumentKind.POLICY)
    with pytest.raises(DocumentError):
        parse(data + b"\x00", W.policy, kind=DocumentKind.POLICY)


def test_a_document_signed_by_another_identity_is_refused() -> None:
    forged = SignedDocument.sign(W.other, W.credential.body, version=1, issued_at=ISSUED, expires_at=EXPIRES)
    with pytest.raises(DocumentSignatureError, match="expected identity"):
        parse(forged.to_bytes(), W.credential, kind=DocumentKind.CREDENTIAL)
    # without an expected signer it verifies, as the other identity's own statement
    assert parse(forged.to_bytes(), kind=DocumentKind.CREDENTIAL).signer == W.other.public


def test_the_practice_key_substituted_in_the_header_is_refused() -> None:
    """The signer field swapped for the practice's identity, with the other identity's signature."""
    forged = SignedDocument.sign(W.other, W.policy.body, version=1, issued_at=ISSUED, expires_at=EXPIRES).to_bytes()
    swapped = forged[:2] + W.practice.public.to_bytes() + forged[130:]
    with pytest.raises(DocumentSignatureError, match="does not verify"):
        parse(swapped, W.policy, kind=DocumentKind.POLICY)


def test_a_signature_made_for_another_kind_does_not_verify() -> None:
    """The directory's exact bytes, signed over the credential label instead of the directory label."""
    unsigned = W.directory.to_bytes()[:-64]
    for kind, label in SIGNATURE_LABELS.items():
        data = unsigned + W.practice.sign(label + unsigned)
        if kind == DocumentKind.DIRECTORY:
            assert parse(data, W.directory, kind=DocumentKind.DIRECTORY) == W.directory
        else:
            with pytest.raises(DocumentSignatureError):
                parse(data, W.directory, kind=DocumentKind.DIRECTORY)


def test_a_credential_presented_as_a_directory_is_refused() -> None:
    with pytest.raises(DocumentError, match="expected a directory document, got a credential"):
        parse(W.credential.to_bytes(), W.credential, kind=DocumentKind.DIRECTORY)
    relabelled = W.credential.to_bytes()[:1] + bytes([DocumentKind.DIRECTORY]) + W.credential.to_bytes()[2:]
    with pytest.raises(DocumentError):
        parse(relabelled, W.credential, kind=None)


def test_any_kind_parses_when_none_is_expected() -> None:
    for doc in W.documents.values():
        assert parse(doc.to_bytes(), kind=None) == doc


def test_expiry_and_issue_time() -> None:
    data = W.credential.to_bytes()
    assert parse(data, W.credential, kind=DocumentKind.CREDENTIAL, now=EXPIRES - 1) == W.credential
    with pytest.raises(DocumentExpired):
        parse(data, W.credential, kind=DocumentKind.CREDENTIAL, now=EXPIRES)
    assert parse(data, W.credential, kind=DocumentKind.CREDENTIAL, now=ISSUED - MAX_CLOCK_SKEW_S) == W.credential
    with pytest.raises(DocumentNotYetValid):
        parse(data, W.credential, kind=DocumentKind.CREDENTIAL, now=ISSUED - MAX_CLOCK_SKEW_S - 1)


def test_lifetimes_are_bounded() -> None:
    body = W.policy.body
    with pytest.raises(ValueError, match="expires_at"):
        SignedDocument.sign(W.practice, body, version=1, issued_at=NOW, expires_at=NOW + MAX_DOCUMENT_LIFETIME_S + 1)
    with pytest.raises(ValueError, match="expires_at"):
        SignedDocument.sign(W.practice, body, version=1, issued_at=NOW, expires_at=NOW)
    with pytest.raises(ValueError, match="expires_at"):
        SignedDocument.sign(W.practice, W.revocations.body, version=1, issued_at=NOW, expires_at=NOW + 31 * DAY + 1)
    too_long = forge(W.practice, DocumentKind.POLICY, body.to_bytes(), expires_at=ISSUED + MAX_DOCUMENT_LIFETIME_S + 1)
    with pytest.raises(DocumentError, match="expires_at"):
        parse(too_long, W.policy, kind=DocumentKind.POLICY)


def test_overlong_input_is_refused_unread() -> None:
    with pytest.raises(DocumentError, match="longer than allowed"):
        parse(bytes(MAX_DOCUMENT_LEN + 1), kind=None)
    assert MAX_DOCUMENT_LEN == 228_524


# -- credentials and revocation lists -------------------------------------------------------------------


def status(
    w: World, credential: SignedDocument, revocations: SignedDocument | None, who: str, now: int
) -> CredentialStatus:
    identity = {"rivera": w.rivera, "okafor": w.okafor, "other": w.other}[who].public
    return check_credential(credential, revocations, identity, now)


def test_a_valid_credential() -> None:
    assert status(W, W.credential, W.revocations, "rivera", NOW) == CredentialStatus.VALID


def test_an_expired_credential() -> None:
    not_after = NOW + 335 * DAY
    long = SignedDocument.sign(
        W.practice, W.credential.body, version=2, issued_at=ISSUED, expires_at=ISSUED + MAX_DOCUMENT_LIFETIME_S
    )
    fresh = SignedDocument.sign(
        W.practice, W.revocations.body, version=8, issued_at=not_after - DAY, expires_at=not_after + DAY
    )
    assert status(W, long, fresh, "rivera", not_after - 1) == CredentialStatus.VALID
    assert status(W, long, fresh, "rivera", not_after) == CredentialStatus.EXPIRED
    assert status(W, W.credential, W.revocations, "rivera", EXPIRES - 1) == CredentialStatus.REVOCATIONS_STALE
    assert status(W, W.credential, W.revocations, "rivera", EXPIRES) == CredentialStatus.EXPIRED
    short = SignedDocument.sign(W.practice, W.credential.body, version=2, issued_at=ISSUED, expires_at=NOW + 5)
    assert status(W, short, W.revocations, "rivera", NOW + 5) == CredentialStatus.EXPIRED  # the document's own expiry


def test_a_credential_not_yet_valid() -> None:
    not_before = NOW - 30 * DAY
    assert status(W, W.credential, W.revocations, "rivera", not_before - 1) == CredentialStatus.NOT_YET_VALID
    assert status(W, W.credential, W.revocations, "rivera", not_before) == CredentialStatus.VALID


def test_a_revoked_credential() -> None:
    assert status(W, W.revoked_credential, W.revocations, "okafor", NOW) == CredentialStatus.REVOKED
    unrevoked = SignedDocument.sign(W.practice, RevocationList(()), version=8, issued_at=ISSUED, expires_at=NOW + DAY)
    assert status(W, W.revoked_credential, unrevoked, "okafor", NOW) == CredentialStatus.VALID


def test_a_credential_bound_to_another_key() -> None:
    assert status(W, W.credential, W.revocations, "other", NOW) == CredentialStatus.OTHER_KEY
    assert status(W, W.credential, W.revocations, "okafor", NOW) == CredentialStatus.OTHER_KEY


def test_a_stale_revocation_list_is_reported() -> None:
    """A relay serving an old list (past its expiry) cannot make a credential look fine."""
    old = SignedDocument.sign(W.practice, RevocationList(()), version=1, issued_at=ISSUED - 30 * DAY, expires_at=ISSUED)
    assert status(W, W.credential, old, "rivera", NOW) == CredentialStatus.REVOCATIONS_STALE
    assert status(W, W.credential, None, "rivera", NOW) == CredentialStatus.REVOCATIONS_STALE
    with pytest.raises(DocumentExpired):
        parse(old.to_bytes(), W.revocations, kind=DocumentKind.REVOCATIONS)


def test_check_credential_refuses_mixed_signers_and_kinds() -> None:
    foreign = SignedDocument.sign(W.other, RevocationList(()), version=1, issued_at=ISSUED, expires_at=NOW + DAY)
    with pytest.raises(ValueError, match="different signers"):
        check_credential(W.credential, foreign, W.rivera.public, NOW)
    with pytest.raises(ValueError, match="not a credential"):
        check_credential(W.policy, W.revocations, W.rivera.public, NOW)
    with pytest.raises(ValueError, match="not a revocation list"):
        check_credential(W.credential, W.policy, W.rivera.public, NOW)


def test_revocation_lists_are_sorted_unique_and_bounded() -> None:
    ids = [bytes([i]) * 16 for i in range(3)]
    assert [r.credential_id for r in RevocationList.of({ids[2]: 1, ids[0]: 2, ids[1]: 3}).revoked] == ids
    with pytest.raises(ValueError, match="sorted and unique"):
        RevocationList((Revocation(ids[1], 1), Revocation(ids[0], 1)))
    with pytest.raises(ValueError, match="sorted and unique"):
        RevocationList((Revocation(ids[1], 1), Revocation(ids[1], 2)))
    big = Writer().u16(MAX_REVOCATIONS + 1).bytes()
    with pytest.raises(DocumentError, match="longer than allowed"):
        parse(forge(W.practice, DocumentKind.REVOCATIONS, big, expires_at=ISSUED + DAY), kind=DocumentKind.REVOCATIONS)


# -- the directory --------------------------------------------------------------------------------------


def test_the_directory_lists_credentials_tokens_and_cards() -> None:
    directory = parse(W.directory.to_bytes(), W.directory, kind=DocumentKind.DIRECTORY).body
    assert isinstance(directory, Directory)
    first, second = directory.entries
    assert first.credential == W.credential
    assert first.availability == W.card
    assert first.delivery_token == W.token
    assert first.therapist == W.rivera.public
    assert second.credential == W.revoked_credential
    assert second.delivery_token is None
    assert second.availability is None


def test_a_directory_card_must_be_the_therapists_own() -> None:
    by_other = SignedDocument.sign(W.other, W.card.body, version=1, issued_at=ISSUED, expires_at=EXPIRES)
    with pytest.raises(ValueError, match="signed by the therapist"):
        DirectoryEntry(W.credential, None, by_other)
    body = Writer().u16(1).var16(W.credential.to_bytes()).u8(0).u8(1).var16(by_other.to_bytes()).bytes()
    with pytest.raises(DocumentError, match="signed by the therapist"):
        parse(forge(W.practice, DocumentKind.DIRECTORY, body), W.directory, kind=DocumentKind.DIRECTORY)


def test_a_directory_lists_only_its_signers_credentials() -> None:
    foreign = SignedDocument.sign(W.other, W.credential.body, version=1, issued_at=ISSUED, expires_at=EXPIRES)
    with pytest.raises(ValueError, match="its own signer"):
        SignedDocument.sign(
            W.practice, Directory((DirectoryEntry(foreign),)), version=1, issued_at=ISSUED, expires_at=EXPIRES
        )


def test_a_directory_with_a_forged_nested_card_is_refused() -> None:
    card = bytearray(W.card.to_bytes())
    card[-1] ^= 1
    body = Writer().u16(1).var16(W.credential.to_bytes()).u8(0).u8(1).var16(bytes(card)).bytes()
    with pytest.raises(DocumentSignatureError):
        parse(forge(W.practice, DocumentKind.DIRECTORY, body), W.directory, kind=DocumentKind.DIRECTORY)


def test_a_directory_names_each_therapist_once() -> None:
    again = SignedDocument.sign(W.practice, W.credential.body, version=2, issued_at=ISSUED, expires_at=EXPIRES)
    with pytest.raises(ValueError, match="once"):
        Directory((DirectoryEntry(W.credential), DirectoryEntry(again)))


# -- the version guard ----------------------------------------------------------------------------------


def test_the_version_guard() -> None:
    seen = VersionGuard.of(W.directory)
    older = SignedDocument.sign(W.practice, W.directory.body, version=1, issued_at=ISSUED, expires_at=EXPIRES)
    other_bytes = SignedDocument.sign(W.practice, W.directory.body, version=2, issued_at=ISSUED + 1, expires_at=EXPIRES)
    newer = SignedDocument.sign(W.practice, W.directory.body, version=3, issued_at=ISSUED + 2, expires_at=EXPIRES)
    assert seen.admits(W.directory) is True
    assert seen.advance(W.directory) == seen
    assert seen.admits(older) is False
    assert seen.admits(other_bytes) is False
    with pytest.raises(DocumentStale, match="version 1 does not replace version 2"):
        seen.advance(older)
    with pytest.raises(DocumentStale):
        seen.advance(other_bytes)
    assert seen.advance(newer) == VersionGuard(W.practice.public.address.raw, DocumentKind.DIRECTORY, 3, newer.digest)
    with pytest.raises(ValueError, match="another signer or kind"):
        seen.admits(W.policy)


# -- text rules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Harbor \u202eCounseling",  # right-to-left override
        "Harbor \u2066Counseling\u2069",  # isolates
        "Harbor\u200fCounseling",  # right-to-left mark
        "Harbor\x1b[31m",  # ESC
        "Harbor\nCounseling",  # a line holds no newline
        "Harbor\x85",  # C1 (NEL)
        "Harbor\x7f",  # DEL
        "Harbor\u2028Counseling",  # line separator
        "",
        "x" * (MAX_DISPLAY_NAME_BYTES + 1),
    ],
)
def test_bad_line_texts_are_refused_both_ways(name: str) -> None:
    with pytest.raises(ValueError, match=r"^the practice name (holds|is)"):
        PracticePolicy(name, "Call us.", moderation_key=W.moderation.public)
    with pytest.raises(DocumentError):
        parse(forge(W.practice, DocumentKind.POLICY, policy_body(name, "Call us.")), kind=DocumentKind.POLICY)


@pytest.mark.parametrize("notice", ["Call\rus", "Call\x1b]0;title\x07", "Call\tus", "Call\u202eus", "Call\x9bus"])
def test_bad_paragraph_texts_are_refused_both_ways(notice: str) -> None:
    with pytest.raises(ValueError, match=r"^the crisis notice holds a (control|text-direction)"):
        PracticePolicy("Harbor", notice, moderation_key=W.moderation.public)
    with pytest.raises(DocumentError):
        parse(forge(W.practice, DocumentKind.POLICY, policy_body("Harbor", notice)), kind=DocumentKind.POLICY)


def test_newlines_are_allowed_in_paragraphs_and_texts_are_normalised() -> None:
    policy = PracticePolicy(
        "Cafe\u0301 Clinic", "Line one.\nLine two.", (CrisisContact("Line", "988"),), moderation_key=W.moderation.public
    )
    assert policy.practice_name == "Caf\u00e9 Clinic"
    signed = SignedDocument.sign(W.practice, policy, version=1, issued_at=ISSUED, expires_at=EXPIRES)
    assert parse(signed.to_bytes(), kind=DocumentKind.POLICY).body == policy


def test_non_nfc_text_is_refused_on_parse() -> None:
    with pytest.raises(DocumentError, match="NFC"):
        parse(forge(W.practice, DocumentKind.POLICY, policy_body("Cafe\u0301", "Call us.")), kind=DocumentKind.POLICY)


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(DocumentError, match="UTF-8"):
        parse(
            forge(W.practice, DocumentKind.POLICY, b"\x02\xc0\xaf" + policy_body("x", "y")[2:]),
            kind=DocumentKind.POLICY,
        )


def test_crisis_contacts_are_bounded() -> None:
    many = tuple(CrisisContact(f"Line {i}", "988") for i in range(MAX_CRISIS_CONTACTS + 1))
    with pytest.raises(ValueError, match="at most 16"):
        PracticePolicy("Harbor", "Call us.", many, moderation_key=W.moderation.public)


# -- availability cards ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "../../etc/passwd", "/usr/share/zoneinfo/UTC", "Europe/", "", "Europe/Berlin\x00"]
)
def test_unknown_time_zones_are_refused(zone: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        AvailabilityCard(zone, (), 3600)
    with pytest.raises(DocumentError):
        parse(forge(W.rivera, DocumentKind.AVAILABILITY, card_body(zone, ())), kind=DocumentKind.AVAILABILITY)


@pytest.mark.parametrize(
    "hours",
    [
        ((0, 540, 720), (0, 700, 800)),  # overlapping
        ((1, 540, 720), (0, 540, 720)),  # out of order
        ((0, 540, 720), (0, 540, 720)),  # repeated
        ((0, 720, 540),),  # ends before it starts
        ((7, 540, 720),),  # no day 7
        ((0, 0, 1441),),  # past midnight
    ],
)
def test_bad_office_hours_are_refused(hours: tuple[tuple[int, int, int], ...]) -> None:
    with pytest.raises(DocumentError):
        parse(forge(W.rivera, DocumentKind.AVAILABILITY, card_body("UTC", hours)), kind=DocumentKind.AVAILABILITY)


def test_away_periods_are_bounded() -> None:
    with pytest.raises(ValueError, match="away end"):
        AwayNote(NOW, NOW)
    with pytest.raises(ValueError, match="away end"):
        AwayNote(NOW, NOW + 367 * DAY)
    assert AwayNote(NOW, NOW + 366 * DAY).note == ""
    with pytest.raises(ValueError, match="away note holds a control"):
        AwayNote(NOW, NOW + DAY, "Back soon\x1b[2J")


def test_a_full_week_of_office_hours_fits() -> None:
    hours = tuple(OfficeHours(day, start, start + 300) for day in range(7) for start in (0, 360, 720, 1080))
    card = AvailabilityCard("Asia/Kolkata", hours, 3600, AwayNote(NOW, NOW + DAY, "n" * 1024))
    signed = SignedDocument.sign(W.rivera, card, version=1, issued_at=ISSUED, expires_at=EXPIRES)
    assert parse(signed.to_bytes(), kind=DocumentKind.AVAILABILITY).body == card
    with pytest.raises(ValueError, match="at most 28"):
        AvailabilityCard("UTC", (*hours, OfficeHours(6, 1380, 1440)), 3600)
