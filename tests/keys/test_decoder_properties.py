"""Malformed input against every key-floor decoder: public identities, device certificates, prekeys and
bundles, private prekey records, secret keys, key stores, recovery backups and codes, addresses, QR texts.

Each decoder either parses what it is given (and what it parses re-encodes as promised: the same bytes for a
binary format, a fixed point for a text form that ignores case and spacing), or raises the typed error its
docstring names; authenticated formats open only their valid encodings and leave their state exactly as it
was when they refuse. The registry and the property live in ``tests/decoders.py``;
``bench/fuzz_decoders.py`` runs the same checks for longer.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from confide.keys.qr import qr_text
from confide.keys.recovery import is_recovery_qr_text, recovery_code_from_qr
from confide.keys.safety import QR_PAYLOAD_LEN, SAFETY_QR_VERSION, ScanResult, compute_safety_number

from ..decoders import (
    KEYS,
    KEYS_TEXT,
    WORLD,
    arbitrary_bytes,
    arbitrary_text,
    check,
    documents_its_errors,
    mutated_bytes,
    mutated_texts,
    parses_exactly,
    prove,
)
from .mutations import mutated

EXAMPLES = 150
"""Inputs per property and decoder in ``make test``: with its two sibling files (protocol, keys, client) this
file stays inside the 60 s the decoder properties may take; ``bench/fuzz_decoders.py`` runs for longer."""


@pytest.mark.parametrize("name", sorted(KEYS))
def test_valid_encodings_parse_and_re_encode_exactly(name: str) -> None:
    parses_exactly(KEYS[name])


@pytest.mark.parametrize("name", sorted(KEYS))
def test_arbitrary_bytes_raise_only_the_documented_errors(name: str) -> None:
    prove(KEYS[name], arbitrary_bytes(KEYS[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(KEYS))
def test_mutated_encodings_raise_the_documented_errors_or_re_encode(name: str) -> None:
    prove(KEYS[name], mutated_bytes(KEYS[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(KEYS_TEXT))
def test_valid_texts_parse_and_re_encode(name: str) -> None:
    parses_exactly(KEYS_TEXT[name])


@pytest.mark.parametrize("name", sorted(KEYS_TEXT))
def test_arbitrary_text_raises_only_the_documented_errors(name: str) -> None:
    prove(KEYS_TEXT[name], arbitrary_text(KEYS_TEXT[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(KEYS_TEXT))
def test_mutated_text_raises_the_documented_errors_or_re_encodes(name: str) -> None:
    prove(KEYS_TEXT[name], mutated_texts(KEYS_TEXT[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(KEYS) + sorted(KEYS_TEXT))
def test_each_decoder_documents_what_it_raises(name: str) -> None:
    documents_its_errors(KEYS[name] if name in KEYS else KEYS_TEXT[name])


_SAFETY = compute_safety_number(WORLD.alice.identity.public, WORLD.bob.identity.public)
_SCANNED = _SAFETY.qr_payload()


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None)
@given(st.one_of(st.binary(max_size=200), mutated(_SCANNED)))
def test_a_scanned_safety_payload_is_classified_never_raised(data: bytes) -> None:
    """The scan decoder returns a verdict instead of raising: MATCH only for our exact payload, WRONG_VERSION
    for another first byte, MALFORMED for empty or wrong-length version-1 payloads, MISMATCH otherwise."""
    if not data:
        expected = ScanResult.MALFORMED
    elif data[0] != SAFETY_QR_VERSION:
        expected = ScanResult.WRONG_VERSION
    elif len(data) != QR_PAYLOAD_LEN:
        expected = ScanResult.MALFORMED
    else:
        expected = ScanResult.MATCH if data == _SCANNED else ScanResult.MISMATCH
    assert _SAFETY.verify_scan(data) is expected


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None)
@given(st.one_of(st.text(max_size=300), mutated_texts(KEYS_TEXT["recovery QR text"])))
@example(KEYS_TEXT["recovery QR text"].valid[0] + " " * 200)  # was "no": the length bound came before the strip
def test_recognising_a_recovery_code_never_raises(text: str) -> None:
    """A safety-number scan asks whether a text is a recovery code before refusing it: a yes or no for any
    text, and yes exactly when the recovery-code decoders accept it."""
    expected = check(KEYS_TEXT["recovery QR text"], text) or check(KEYS_TEXT["recovery code"], text.strip())
    assert is_recovery_qr_text(text) is expected


def test_a_legacy_recovery_qr_yields_the_code_as_written() -> None:
    """An old ``CONFIDE-SN1:`` recovery QR holds whatever text was encoded; the code read from it is the
    canonical one (it was returned verbatim: lower case, lookalikes and a trailing tab included)."""
    code = KEYS_TEXT["recovery code"].valid[0]
    sloppy = code.lower().replace("-", " ").replace("1", "l").replace("0", "o") + "\t"
    assert recovery_code_from_qr(qr_text(sloppy.encode("ascii"))) == code
