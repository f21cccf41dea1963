"""Malformed input against the client's own decoders: sealed store values, stored contact and message
records, invite codes and timer durations.

Each decoder either parses what it is given (and what it parses re-encodes as promised: the same bytes for a
binary format, a fixed point for a text form that ignores case and spacing), or raises the typed error its
docstring names; authenticated formats open only their valid encodings and leave their state exactly as it
was when they refuse. The registry and the property live in ``tests/decoders.py``;
``bench/fuzz_decoders.py`` runs the same checks for longer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from confide.client.errors import StorageError

from ..decoders import (
    CLIENT,
    CLIENT_TEXT,
    arbitrary_bytes,
    arbitrary_text,
    documents_its_errors,
    mutated_bytes,
    mutated_texts,
    parses_exactly,
    prove,
)

EXAMPLES = 150
"""Inputs per property and decoder in ``make test``: with its two sibling files (protocol, keys, client) this
file stays inside the 60 s the decoder properties may take; ``bench/fuzz_decoders.py`` runs for longer."""

Json = dict[str, Any]


@pytest.mark.parametrize("name", sorted(CLIENT))
def test_valid_encodings_parse_and_re_encode_exactly(name: str) -> None:
    parses_exactly(CLIENT[name])


@pytest.mark.parametrize("name", sorted(CLIENT))
def test_arbitrary_bytes_raise_only_the_documented_errors(name: str) -> None:
    prove(CLIENT[name], arbitrary_bytes(CLIENT[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(CLIENT))
def test_mutated_encodings_raise_the_documented_errors_or_re_encode(name: str) -> None:
    prove(CLIENT[name], mutated_bytes(CLIENT[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(CLIENT_TEXT))
def test_valid_texts_parse_and_re_encode(name: str) -> None:
    parses_exactly(CLIENT_TEXT[name])


@pytest.mark.parametrize("name", sorted(CLIENT_TEXT))
def test_arbitrary_text_raises_only_the_documented_errors(name: str) -> None:
    prove(CLIENT_TEXT[name], arbitrary_text(CLIENT_TEXT[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(CLIENT_TEXT))
def test_mutated_text_raises_the_documented_errors_or_re_encodes(name: str) -> None:
    prove(CLIENT_TEXT[name], mutated_texts(CLIENT_TEXT[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(CLIENT) + sorted(CLIENT_TEXT))
def test_each_decoder_documents_what_it_raises(name: str) -> None:
    documents_its_errors(CLIENT[name] if name in CLIENT else CLIENT_TEXT[name])


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        pytest.param("contact record", lambda o: {**o, "timer_s": 1e400}, id="contact-timer"),
        pytest.param("message record", lambda o: {**o, "sent_at_ms": 1e400}, id="message-sent-at"),
        pytest.param(
            "message record", lambda o: {**o, "attachment": {**o["attachment"], "size": 1e400}}, id="attachment-size"
        ),
    ],
)
def test_a_stored_number_out_of_range_is_a_storage_error(name: str, damage: Callable[[Json], Json]) -> None:
    """JSON reads ``1e400`` as infinity, and ``int(inf)`` raises OverflowError: a damaged record must still be
    StorageError (it was OverflowError before the records caught it)."""
    decoder = CLIENT[name]
    damaged = json.dumps(damage(json.loads(decoder.valid[0]))).encode()
    assert b"Infinity" in damaged
    with pytest.raises(StorageError):
        decoder.parse(damaged)


@pytest.mark.parametrize("name", ["contact record", "message record"])
def test_a_stored_record_nested_too_deep_is_a_storage_error(name: str) -> None:
    """json.loads raises RecursionError on arrays nested deeper than the interpreter's stack."""
    with pytest.raises(StorageError):
        CLIENT[name].parse(b"[" * 100_000 + b"]" * 100_000)
