"""Malformed input against every protocol decoder: envelopes, batches, content, padding, sender
certificates, prekey headers, stored sessions, ratchet and sealed messages, attachment blobs, device-auth headers.

Each decoder either parses what it is given (and what it parses re-encodes as promised: the same bytes for a
binary format, a fixed point for a text form that ignores case and spacing), or raises the typed error its
docstring names; authenticated formats open only their valid encodings and leave their state exactly as it
was when they refuse. The registry and the property live in ``tests/decoders.py``;
``bench/fuzz_decoders.py`` runs the same checks for longer.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.protocol import DecryptionError, RemoteProtocolError, Session

from ..decoders import (
    PROTOCOL,
    PROTOCOL_TEXT,
    WORLD,
    Decoder,
    Unchanged,
    arbitrary_bytes,
    arbitrary_text,
    check,
    documents_its_errors,
    mutated_bytes,
    mutated_texts,
    parses_exactly,
    prove,
    unchanged,
)

EXAMPLES = 150
"""Inputs per property and decoder in ``make test``: with its two sibling files (protocol, keys, client) this
file stays inside the 60 s the decoder properties may take; ``bench/fuzz_decoders.py`` runs for longer."""

_SKIPPED_ENTRY = 32 + 4 + 32
"""A skipped message key in a stored ratchet state: header key, counter u32, message key."""
_SIGNED_LINES = tuple(PROTOCOL_TEXT["auth headers"].valid[0].split("\n"))


@pytest.mark.parametrize("name", sorted(PROTOCOL))
def test_valid_encodings_parse_and_re_encode_exactly(name: str) -> None:
    parses_exactly(PROTOCOL[name])


@pytest.mark.parametrize("name", sorted(PROTOCOL))
def test_arbitrary_bytes_raise_only_the_documented_errors(name: str) -> None:
    prove(PROTOCOL[name], arbitrary_bytes(PROTOCOL[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(PROTOCOL))
def test_mutated_encodings_raise_the_documented_errors_or_re_encode(name: str) -> None:
    prove(PROTOCOL[name], mutated_bytes(PROTOCOL[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(PROTOCOL_TEXT))
def test_valid_texts_parse_and_re_encode(name: str) -> None:
    parses_exactly(PROTOCOL_TEXT[name])


@pytest.mark.parametrize("name", sorted(PROTOCOL_TEXT))
def test_arbitrary_text_raises_only_the_documented_errors(name: str) -> None:
    prove(PROTOCOL_TEXT[name], arbitrary_text(PROTOCOL_TEXT[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(PROTOCOL_TEXT))
def test_mutated_text_raises_the_documented_errors_or_re_encodes(name: str) -> None:
    prove(PROTOCOL_TEXT[name], mutated_texts(PROTOCOL_TEXT[name]), EXAMPLES)


@pytest.mark.parametrize("name", sorted(PROTOCOL) + sorted(PROTOCOL_TEXT))
def test_each_decoder_documents_what_it_raises(name: str) -> None:
    documents_its_errors(PROTOCOL[name] if name in PROTOCOL else PROTOCOL_TEXT[name])


def test_a_session_state_naming_a_skipped_key_twice_is_refused() -> None:
    """Two skipped-key entries with the same header key and counter once parsed into one dictionary entry, so
    the state re-encoded 68 bytes shorter than it was read (not canonical); now it is refused."""
    raw = WORLD.bob_session
    session = Session.from_bytes(raw)
    count = len(session.ratchet.skipped)
    assert count == 2  # the second and third of Alice's messages, skipped when her fourth arrived
    first, second = raw[-2 * _SKIPPED_ENTRY : -_SKIPPED_ENTRY], raw[-_SKIPPED_ENTRY:]
    repeated = raw[: -2 * _SKIPPED_ENTRY] + first + second[:32] + first[32:36] + second[36:]
    assert repeated != raw
    assert first[:32] == second[:32]  # same header key: only the counters told the entries apart
    with pytest.raises(RemoteProtocolError):
        Session.from_bytes(repeated)


@pytest.mark.parametrize("index", range(len(_SIGNED_LINES)))
@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(
    value=st.one_of(
        st.text(max_size=90),
        st.text("0123456789abcdef \t+-_=", max_size=70),
        st.text(st.sampled_from("0123456789\u00b2\u00b9\u0661\u0967\uff11"), min_size=1, max_size=12),
    )
)
def test_any_one_header_value_parses_or_is_auth_error(index: int, value: str) -> None:
    """One authentication header replaced by any text (Unicode digits included): AuthError or a proof whose
    re-encoding is a fixed point; before the fix a superscript digit in the timestamp raised ValueError."""
    lines = list(_SIGNED_LINES)
    lines[index] = value.replace("\n", " ")
    check(PROTOCOL_TEXT["auth headers"], "\n".join(lines))


def test_the_property_catches_a_decryption_that_changes_state_when_it_fails() -> None:
    """The all-or-nothing check is itself able to fail: an opener that advances its state and then refuses."""
    state = bytearray(b"chain key 1")

    def broken_open(data: bytes) -> bytes:
        def attempt() -> bytes:
            state[-1:] = b"2"  # commits before the tag is checked
            raise DecryptionError("message could not be decrypted")

        return unchanged(lambda: bytes(state), attempt)

    broken = Decoder("broken", (DecryptionError,), broken_open, (), (b"valid",), authenticated=True)
    with pytest.raises(Unchanged):
        check(broken, b"altered")
