"""SPEC 14, contact cards: ``contact_card.json``.

Built on the sample practice of ``documents.json`` (:func:`tests.vectors.gen.documents.world`): Dr. Rivera's
card with her credential and availability card, and a bare card of the 'other' identity; then cards refused
(altered, forged, malformed, an availability card signed by someone else) and accepted ones the client judges
(a credential naming another identity, an expired availability card); and the text form.
"""

from __future__ import annotations

from confide.keys.encoding import Writer
from confide.keys.identity import IdentityKeyPair
from confide.protocol.contact_card import (
    CONTACT_CARD_LABEL,
    MAX_CARD_BYTES,
    ContactCard,
    card_text,
    parse_card_text,
    parse_contact_card,
)
from confide.protocol.documents import SignedDocument
from confide.protocol.franking_binding import FrankingBinding

from .common import NOW, Json, attempt, flip, h, seed_of, vector
from .documents import DAY, ISSUED, world

CARD_ISSUED = NOW - 60
"""Every sample card is issued a minute before :data:`NOW`."""


def assemble(
    signer: IdentityKeyPair,
    *,
    identity: bytes | None = None,
    token: bytes,
    binding: bytes | None = None,
    credential: bytes | None = None,
    availability: bytes | None = None,
    issued_at: int = CARD_ISSUED,
    version: int = 1,
    flag: int = 1,
) -> bytes:
    """A card assembled byte by byte (to hold what :meth:`ContactCard.sign` refuses), signed by ``signer``
    (``identity`` and ``binding`` default to the signer's own); ``flag`` is the presence flag written for a
    document that is present."""
    w = Writer().u8(version).raw(identity if identity is not None else signer.public.to_bytes()).raw(token)
    w.raw(binding if binding is not None else FrankingBinding.bind(signer).to_bytes())
    for document in (credential, availability):
        if document is None:
            w.u8(0)
        else:
            w.u8(flag).var16(document)
    prefix = w.u64(issued_at).bytes()
    return prefix + signer.sign(CONTACT_CARD_LABEL + prefix)


def contact_card() -> Json:
    seed = seed_of("documents")
    w = world(seed)
    who = {"practice": w.practice, "rivera": w.rivera, "okafor": w.okafor, "other": w.other}
    full = ContactCard.sign(w.rivera, w.token, credential=w.credential, availability=w.card, issued_at=CARD_ISSUED)
    other_token = bytes(range(32))
    bare = ContactCard.sign(w.other, other_token, credential=None, availability=None, issued_at=CARD_ISSUED)
    values = [
        ("a therapist's card with credential and availability", "rivera", w.token, "credential", "availability", full),
        ("a bare card (no credential, no availability)", "other", other_token, None, None, bare),
    ]
    for _why, _name, _token, _cred, _avail, card in values:
        assert parse_contact_card(card.to_bytes(), now=NOW) == card

    cred, card_doc = w.credential.to_bytes(), w.card.to_bytes()
    full_bytes = full.to_bytes()
    other_card = SignedDocument.sign(w.other, w.card.body, version=1, issued_at=ISSUED, expires_at=ISSUED + 30 * DAY)
    cases: list[tuple[str, bytes, int, str]] = [
        ("signature byte flipped", flip(full_bytes, -1), NOW, "ContactCardError"),
        ("delivery token byte flipped (a signed field)", flip(full_bytes, 1 + 128 + 5), NOW, "ContactCardError"),
        ("issued_at byte flipped (a signed field)", flip(full_bytes, -64 - 1), NOW, "ContactCardError"),
        (
            "identity certificate byte flipped",
            flip(full_bytes, 1 + 100),
            NOW,
            "ContactCardError",
        ),
        (
            "availability card signed by someone else than the card's identity",
            assemble(w.rivera, token=w.token, credential=cred, availability=other_card.to_bytes()),
            NOW,
            "ContactCardError",
        ),
        (
            "franking binding of another identity",
            assemble(w.rivera, token=w.token, binding=FrankingBinding.bind(w.other).to_bytes()),
            NOW,
            "ContactCardError",
        ),
        (
            "card signed by another identity than the one it names",
            assemble(
                w.other,
                identity=w.rivera.public.to_bytes(),
                token=w.token,
                binding=FrankingBinding.bind(w.rivera).to_bytes(),
            ),
            NOW,
            "ContactCardError",
        ),
        (
            "credential with a broken signature",
            assemble(w.rivera, token=w.token, credential=flip(cred, -1)),
            NOW,
            "ContactCardError",
        ),
        (
            "availability card in the credential's place",
            assemble(w.rivera, token=w.token, credential=card_doc),
            NOW,
            "ContactCardError",
        ),
        ("presence flag 2", assemble(w.rivera, token=w.token, credential=cred, flag=2), NOW, "ContactCardError"),
        ("version 2", assemble(w.rivera, token=w.token, version=2), NOW, "ContactCardError"),
        ("truncated by one byte", full_bytes[:-1], NOW, "ContactCardError"),
        ("one trailing byte", full_bytes + b"\x00", NOW, "ContactCardError"),
        (
            "longer than MAX_CARD_BYTES",
            full_bytes + bytes(MAX_CARD_BYTES + 1 - len(full_bytes)),
            NOW,
            "ContactCardError",
        ),
        ("empty", b"", NOW, "ContactCardError"),
        ("issued more than the clock skew in the future", full_bytes, CARD_ISSUED - 301, "ContactCardError"),
        (
            "a credential naming another identity (accepted: the client shows other_key)",
            assemble(w.rivera, token=w.token, credential=w.revoked_credential.to_bytes()),
            NOW,
            "ok",
        ),
        (
            "an expired credential and availability card (accepted: the client judges them)",
            full_bytes,
            w.card.expires_at + DAY,
            "ok",
        ),
    ]
    outcomes = []
    for why, data, now, want in cases:
        result, _ = attempt(lambda d, n: parse_contact_card(d, now=n), data, now)
        assert result.get("error", "ok") == want, (why, result)
        outcomes.append({"why": why, **result})

    text = card_text(full_bytes)
    scans = [
        ("as written", text, "ok"),
        ("lower case, with a trailing newline", text.lower() + "\n", "ok"),
        ("with base32 padding", text + "=" * (-len(text[len("CONFIDE-CARD1:") :]) % 8), "ContactCardError"),
        ("a safety-number QR", "CONFIDE-SN1:" + text[len("CONFIDE-CARD1:") :], "ContactCardError"),
        ("a non-ASCII letter in it", text[:-1] + "\u00df", "ContactCardError"),
        ("a space inside", text[:30] + " " + text[30:], "ContactCardError"),
        ("the prefix alone", "CONFIDE-CARD1:", "ContactCardError"),
    ]
    scans_out = []
    for why, scanned, want in scans:
        result, got = attempt(parse_card_text, scanned)
        assert result.get("error", "ok") == want, (why, result)
        if got is not None:
            assert got == full_bytes
        scans_out.append({"why": why, **result})

    return vector(
        "contact_card",
        "Contact cards (SPEC 14), built on documents.json's sample practice (same seed and draws; private forms in "
        "inputs.identities). Each of inputs.values, signed by the named identity with the listed token and documents "
        "(documents.json's credential and availability card) and issued_at, encodes to expected.encoded at the same "
        "index (Ed25519 is deterministic) and parses at inputs.now. Each 'cases' card is parsed at its 'now' and "
        "must give the listed result (cards naming another identity's credential, or expired documents, are "
        "accepted: the client judges them). 'text' is the first card's text form; each 'scans' text gives the "
        "card's bytes or ContactCardError.",
        seed,
        {
            "identities": {name: h(k.private_bytes()) for name, k in who.items()},
            "label": CONTACT_CARD_LABEL.decode(),
            "now": NOW,
            "documents": {"credential": h(cred), "availability": h(card_doc)},
            "values": [
                {
                    "why": why,
                    "identity": name,
                    "delivery_token": h(token),
                    "credential": c,
                    "availability": a,
                    "issued_at": card.issued_at,
                }
                for why, name, token, c, a, card in values
            ],
            "cases": [{"why": why, "card": h(data), "now": now} for why, data, now, _ in cases],
            "scans": [{"why": why, "text": scanned} for why, scanned, _ in scans],
        },
        {
            "result": "ok",
            "encoded": [
                {"card": h(card.to_bytes()), "binding": h(card.binding.to_bytes()), "address": card.address.text}
                for *_rest, card in values
            ],
            "cases": outcomes,
            "text": text,
            "scans": scans_out,
        },
    )
