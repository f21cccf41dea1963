"""Contact cards (SPEC 14): round trips, the text form, every malformed field refused with exactly
:class:`ContactCardError`, and the attacks a card must stop (altered fields, a changed signature, an
availability card signed by someone else, another identity's binding)."""

from __future__ import annotations

import base64

import pytest

from confide.keys.encoding import Writer
from confide.keys.identity import IdentityKeyPair
from confide.protocol.contact_card import (
    CARD_TEXT_PREFIX,
    CONTACT_CARD_LABEL,
    MAX_CARD_BYTES,
    ContactCard,
    ContactCardError,
    card_text,
    parse_card_text,
    parse_contact_card,
)
from confide.protocol.document_errors import DocumentError
from confide.protocol.documents import (
    MAX_CARD_LEN,
    MAX_CREDENTIAL_LEN,
    CredentialStatus,
    SignedDocument,
    check_credential,
)
from confide.protocol.franking_binding import FrankingBinding

from ..vectors.gen.common import NOW
from ..vectors.gen.documents import DAY, ISSUED, world

W = world()
ISSUED_AT = NOW - 60
FULL = ContactCard.sign(W.rivera, W.token, credential=W.credential, availability=W.card, issued_at=ISSUED_AT)
BARE = ContactCard.sign(W.other, bytes(32), credential=None, availability=None, issued_at=ISSUED_AT)


def assemble(
    signer: IdentityKeyPair,
    *,
    identity: IdentityKeyPair | None = None,
    binding: bytes | None = None,
    flags: tuple[int, int] = (1, 1),
    credential: bytes | None = None,
    availability: bytes | None = None,
    tail: bytes = b"",
) -> bytes:
    """A card byte by byte, signed by ``signer`` over whatever it holds."""
    named = identity or signer
    w = Writer().u8(1).raw(named.public.to_bytes()).raw(W.token)
    w.raw(binding if binding is not None else FrankingBinding.bind(named).to_bytes())
    for flag, document in zip(flags, (credential, availability), strict=True):
        w.u8(flag if document is not None else 0)
        if document is not None:
            w.var16(document)
    prefix = w.u64(ISSUED_AT).raw(tail).bytes()
    return prefix + signer.sign(CONTACT_CARD_LABEL + prefix)


def test_round_trips() -> None:
    for card in (FULL, BARE):
        data = card.to_bytes()
        parsed = parse_contact_card(data, now=NOW)
        assert parsed == card
        assert parsed.to_bytes() == data


def test_fields_and_invite() -> None:
    card = parse_contact_card(FULL.to_bytes(), now=NOW)
    assert card.identity == W.rivera.public
    assert card.address == W.rivera.address
    assert card.invite == (W.rivera.address, W.token)
    assert card.binding == FrankingBinding.bind(W.rivera)
    assert card.credential == W.credential
    assert card.availability == W.card
    assert card.issued_at == ISSUED_AT


def test_the_longest_card_bound_is_what_the_fields_allow() -> None:
    assert MAX_CARD_BYTES == 1 + 128 + 32 + 96 + 1 + 2 + MAX_CREDENTIAL_LEN + 1 + 2 + MAX_CARD_LEN + 8 + 64 == 2580


def test_a_card_is_a_document_error() -> None:
    assert issubclass(ContactCardError, DocumentError)


def test_a_credential_for_another_identity_is_accepted_and_reported_by_the_status() -> None:
    data = assemble(W.rivera, credential=W.revoked_credential.to_bytes())
    card = parse_contact_card(data, now=NOW)
    assert card.credential is not None
    status = check_credential(card.credential, W.revocations, card.identity, NOW)
    assert status == CredentialStatus.OTHER_KEY


def test_expired_nested_documents_are_kept_for_the_client_to_judge() -> None:
    later = W.card.expires_at + DAY
    card = parse_contact_card(FULL.to_bytes(), now=later)
    assert card.availability == W.card
    assert card.credential is not None
    assert check_credential(card.credential, W.revocations, card.identity, later) == CredentialStatus.EXPIRED


def test_an_availability_card_signed_by_someone_else_is_refused() -> None:
    other_card = SignedDocument.sign(W.other, W.card.body, version=1, issued_at=ISSUED, expires_at=ISSUED + DAY * 30)
    with pytest.raises(ValueError, match="signed by the card's identity"):
        ContactCard.sign(W.rivera, W.token, credential=None, availability=other_card, issued_at=ISSUED_AT)
    data = assemble(W.rivera, availability=other_card.to_bytes())
    with pytest.raises(ContactCardError):
        parse_contact_card(data, now=NOW)


def test_a_changed_signature_is_refused() -> None:
    data = bytearray(FULL.to_bytes())
    data[-10] ^= 1
    with pytest.raises(ContactCardError):
        parse_contact_card(bytes(data), now=NOW)


@pytest.mark.parametrize(
    ("why", "offset"),
    [
        ("version", 0),
        ("identity signing key", 1),
        ("identity certificate", 100),
        ("delivery token", 129 + 3),
        ("binding key", 161),
        ("binding signature", 161 + 40),
        ("credential presence flag", 257),
        ("a credential byte", 257 + 3 + 200),
        ("issued_at", -64 - 1),
    ],
)
def test_every_altered_field_is_refused(why: str, offset: int) -> None:
    data = bytearray(FULL.to_bytes())
    data[offset] ^= 1
    with pytest.raises(ContactCardError) as info:
        parse_contact_card(bytes(data), now=NOW)
    assert type(info.value) is ContactCardError, why


def test_another_identitys_binding_is_refused() -> None:
    with pytest.raises(ContactCardError):
        parse_contact_card(assemble(W.rivera, binding=FrankingBinding.bind(W.other).to_bytes()), now=NOW)


def test_a_card_signed_by_someone_else_than_its_identity_is_refused() -> None:
    with pytest.raises(ContactCardError):
        parse_contact_card(assemble(W.other, identity=W.rivera), now=NOW)


@pytest.mark.parametrize(
    ("why", "data"),
    [
        ("empty", b""),
        ("truncated", FULL.to_bytes()[:-1]),
        ("trailing byte", FULL.to_bytes() + b"\x00"),
        ("too long", bytes(MAX_CARD_BYTES + 1)),
        ("presence flag 2", assemble(W.rivera, flags=(2, 1), credential=W.credential.to_bytes())),
        ("a card as the credential", assemble(W.rivera, credential=W.card.to_bytes())),
        ("a credential as the card", assemble(W.rivera, availability=W.credential.to_bytes())),
        ("a malformed credential", assemble(W.rivera, credential=b"\x01\x01")),
        ("a signed trailing byte", assemble(W.rivera, tail=b"\x00")),
    ],
)
def test_malformed_cards_raise_exactly_contact_card_error(why: str, data: bytes) -> None:
    with pytest.raises(ContactCardError) as info:
        parse_contact_card(data, now=NOW)
    assert type(info.value) is ContactCardError, why


def test_a_card_from_the_future_is_refused_and_the_skew_allowed() -> None:
    data = FULL.to_bytes()
    parse_contact_card(data, now=ISSUED_AT - 300)
    with pytest.raises(ContactCardError, match="future"):
        parse_contact_card(data, now=ISSUED_AT - 301)


def test_text_form_round_trip_in_the_qr_alphanumeric_set() -> None:
    data = FULL.to_bytes()
    text = card_text(data)
    assert text.startswith(CARD_TEXT_PREFIX)
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert text == CARD_TEXT_PREFIX + base64.b32encode(data).decode().rstrip("=")
    assert parse_card_text(text) == data
    assert parse_card_text("  " + text.lower() + "\r\n") == data


@pytest.mark.parametrize(
    ("why", "text"),
    [
        ("other prefix", "CONFIDE-SN1:" + card_text(BARE.to_bytes())[len(CARD_TEXT_PREFIX) :]),
        ("padding", card_text(BARE.to_bytes()) + "="),
        ("not base32", card_text(BARE.to_bytes())[:-1] + "1"),
        ("non-ASCII", card_text(BARE.to_bytes()) + "\u00df"),
        ("no-break space around", "\u00a0" + card_text(BARE.to_bytes())),
        ("prefix only", CARD_TEXT_PREFIX),
        ("far too long", CARD_TEXT_PREFIX + "A" * 10_000),
    ],
)
def test_bad_texts_raise_exactly_contact_card_error(why: str, text: str) -> None:
    with pytest.raises(ContactCardError) as info:
        parse_card_text(text)
    assert type(info.value) is ContactCardError, why


def test_repr_shows_no_token_or_signature() -> None:
    text = repr(FULL)
    assert W.token.hex() not in text
    assert FULL.signature.hex() not in text
    assert W.rivera.address.text in text
