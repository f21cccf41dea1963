"""Properties of the document parsers past the signature: bodies of arbitrary bytes and texts of arbitrary
Unicode, *correctly signed*, so the body parsers themselves are exercised (a mutation of a signed document
stops at the signature; ``tests/decoders.py`` covers those for every kind).

What parses re-encodes to exactly the bytes given; everything else raises :class:`DocumentError` and nothing
else; a text the builders accept is NFC and free of the refused characters.
"""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confide.protocol import DocumentError, DocumentKind, PracticePolicy, SignedDocument, parse_document
from confide.protocol.document_text import BIDI_CONTROLS

from ..vectors.gen.common import NOW
from ..vectors.gen.devices import sample_list
from ..vectors.gen.documents import ISSUED, forge, world

W = world()
SETTINGS = settings(
    max_examples=300, derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SEEDS = {kind: [d.body.to_bytes() for d in W.documents.values() if d.kind == kind] for kind in DocumentKind}
SEEDS[DocumentKind.DEVICES] = [sample_list(W.practice, n).body.to_bytes() for n in (1, 6)]  # not in documents.json
"""Valid bodies of each kind, which the mutations below start from."""


def _signed_body_parses_canonically(kind: DocumentKind, body: bytes) -> bool:
    signer = W.rivera if kind == DocumentKind.AVAILABILITY else W.practice
    expires = ISSUED + 30 * 86400
    data = forge(signer, kind, body, expires_at=expires)
    try:
        doc = parse_document(data, expected_signer=signer.public, expected_kind=kind, now=NOW)
    except DocumentError:
        return False
    assert doc.to_bytes() == data
    return True


@st.composite
def mutated_body(draw: st.DrawFn) -> tuple[DocumentKind, bytes]:
    kind = draw(st.sampled_from(list(DocumentKind)))
    body = bytearray(draw(st.sampled_from(SEEDS[kind])))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(0, len(body) - 1)))
        if op == "flip" and body:
            body[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and body:
            body[at] = draw(st.integers(0, 255))
        elif op == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and body:
            del body[at]
        elif op == "truncate":
            del body[at:]
    return kind, bytes(body)


@SETTINGS
@given(st.sampled_from(list(DocumentKind)), st.binary(max_size=300))
def test_arbitrary_signed_bodies_raise_document_error_or_re_encode(kind: DocumentKind, body: bytes) -> None:
    _signed_body_parses_canonically(kind, body)


@SETTINGS
@given(mutated_body())
def test_mutated_signed_bodies_raise_document_error_or_re_encode(case: tuple[DocumentKind, bytes]) -> None:
    _signed_body_parses_canonically(*case)


def test_the_unmutated_bodies_parse() -> None:
    for kind, bodies in SEEDS.items():
        for body in bodies:
            assert _signed_body_parses_canonically(kind, body) is True


@SETTINGS
@given(st.text(max_size=40), st.text(max_size=80))
def test_texts_either_are_refused_or_come_back_nfc_and_clean(name: str, notice: str) -> None:
    try:
        policy = PracticePolicy(name, notice, moderation_key=W.moderation.public)
    except ValueError:
        return
    assert unicodedata.is_normalized("NFC", policy.practice_name)
    assert unicodedata.is_normalized("NFC", policy.crisis_notice)
    for char in policy.practice_name + policy.crisis_notice.replace("\n", ""):
        assert unicodedata.category(char) != "Cc"
        assert char not in BIDI_CONTROLS
    assert "\n" not in policy.practice_name
    signed = SignedDocument.sign(W.practice, policy, version=1, issued_at=ISSUED, expires_at=ISSUED + 86400 * 30)
    assert parse_document(signed.to_bytes(), expected_signer=None, expected_kind=DocumentKind.POLICY, now=NOW) == signed
