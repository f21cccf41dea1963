"""Abuse reports (SPEC 13.5): the encoding, its strict parser, and the judge's verdict on every alteration.

What parses re-encodes to the same bytes; everything else raises :class:`MalformedFranking` and nothing else;
every single-byte change of an honest report is refused by the parser or by the judge.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide.keys.errors import ConfideError
from confide.protocol import FrankingKeyPair, MalformedFranking, Report, frank, judge_franking
from confide.protocol.franking import FRANKING_LEN, MAX_FRANKED_MESSAGE, Franking, FrankingPublicKey, r_forge
from confide.protocol.franking_report import MAX_REPORT_LEN, REPORT_MIN_LEN
from tests.vectors.gen.drbg import SeededRng

EXAMPLES = 200
"""Hypothesis examples per property: each parse that gets past the length checks is a few group checks (µs)."""

_rng = SeededRng(b"franking-report-test")
SENDER, RECIPIENT, JUDGE, STRANGER = (FrankingKeyPair.generate(_rng) for _ in range(4))
TEXT = b"reported: a threat made in a session thread"
HONEST = Report(SENDER.public, RECIPIENT.public, TEXT, frank(SENDER, RECIPIENT.public, JUDGE.public, TEXT, _rng))
HONEST_BYTES = HONEST.to_bytes()


def test_an_honest_report_round_trips_and_the_judge_accepts_it() -> None:
    assert len(HONEST_BYTES) == REPORT_MIN_LEN + len(TEXT) == 422 + len(TEXT)
    assert HONEST_BYTES[0] == 1
    assert HONEST_BYTES[1:33] == SENDER.public.to_bytes()
    assert HONEST_BYTES[33:65] == RECIPIENT.public.to_bytes()
    assert HONEST_BYTES[65:69] == len(TEXT).to_bytes(4, "big")
    assert HONEST_BYTES[69 : 69 + len(TEXT)] == TEXT
    parsed = Report.from_bytes(HONEST_BYTES)
    assert parsed == HONEST
    assert parsed.to_bytes() == HONEST_BYTES
    assert parsed.review(JUDGE)
    assert not parsed.review(STRANGER)


def test_every_single_byte_change_of_a_report_is_refused() -> None:
    for i in range(len(HONEST_BYTES)):
        for mask in (0x01, 0x40):
            bad = HONEST_BYTES[:i] + bytes([HONEST_BYTES[i] ^ mask]) + HONEST_BYTES[i + 1 :]
            try:
                report = Report.from_bytes(bad)
            except MalformedFranking:
                continue
            assert not report.review(JUDGE), (i, mask)


def test_every_truncation_is_malformed() -> None:
    for n in range(len(HONEST_BYTES)):
        with pytest.raises(MalformedFranking):
            Report.from_bytes(HONEST_BYTES[:n])


def test_altered_text_swapped_sender_or_recipient_and_a_recipient_built_report_are_refused() -> None:
    f = HONEST.franking
    assert not Report(SENDER.public, RECIPIENT.public, TEXT + b".", f).review(JUDGE)
    assert not Report(STRANGER.public, RECIPIENT.public, TEXT, f).review(JUDGE)
    assert not Report(SENDER.public, STRANGER.public, TEXT, f).review(JUDGE)
    alone = r_forge(RECIPIENT, SENDER.public, JUDGE.public, TEXT, _rng)
    built = Report(SENDER.public, RECIPIENT.public, TEXT, alone)
    assert Report.from_bytes(built.to_bytes()) == built
    assert not built.review(JUDGE)
    assert not judge_franking(JUDGE, SENDER.public, RECIPIENT.public, TEXT, alone)


def test_the_message_bound_is_exact() -> None:
    longest = bytes(MAX_FRANKED_MESSAGE)
    f = frank(SENDER, RECIPIENT.public, JUDGE.public, longest, _rng)
    raw = Report(SENDER.public, RECIPIENT.public, longest, f).to_bytes()
    assert len(raw) == MAX_REPORT_LEN == 65_957
    assert Report.from_bytes(raw).review(JUDGE)
    with pytest.raises(MalformedFranking):
        Report.from_bytes(raw + b"\x00")
    with pytest.raises(MalformedFranking):
        Report(SENDER.public, RECIPIENT.public, longest + b"\x00", f)
    # A length field over the limit is refused whatever follows.
    over = HONEST_BYTES[:65] + (MAX_FRANKED_MESSAGE + 1).to_bytes(4, "big") + HONEST_BYTES[69:]
    with pytest.raises(MalformedFranking, match="at most"):
        Report.from_bytes(over)


def test_repr_names_no_key_and_no_text() -> None:
    text = repr(HONEST)
    assert SENDER.public.to_bytes().hex()[:8] not in text
    assert "threat" not in text
    names = f"sender={SENDER.public.fingerprint()}, recipient={RECIPIENT.public.fingerprint()}"
    assert text == f"Report({names}, {len(TEXT)} bytes)"


def _check(data: bytes) -> None:
    try:
        report = Report.from_bytes(data)
    except MalformedFranking:
        return
    except ConfideError as exc:  # another typed error would be a contract break
        raise AssertionError(f"{type(exc).__name__} is not MalformedFranking") from exc
    assert report.to_bytes() == data


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(st.binary(max_size=2 * REPORT_MIN_LEN))
def test_arbitrary_bytes_raise_only_the_typed_error(data: bytes) -> None:
    _check(data)


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(HONEST_BYTES) - 1), st.integers(1, 255)),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["keep", "truncate", "extend"]),
)
def test_mutated_reports_raise_only_the_typed_error(edits: list[tuple[int, int]], shape: str) -> None:
    raw = bytearray(HONEST_BYTES)
    for at, mask in edits:
        raw[at] ^= mask
    data = bytes(raw)
    data = {"keep": data, "truncate": data[:-1], "extend": data + b"\x00"}[shape]
    _check(data)
    if shape == "keep":
        try:
            report = Report.from_bytes(data)
        except MalformedFranking:
            return
        assert report.review(JUDGE) is (data == HONEST_BYTES)  # edits at one place may cancel out


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(st.binary(min_size=FRANKING_LEN, max_size=FRANKING_LEN) | st.binary(max_size=2 * FRANKING_LEN))
def test_arbitrary_signatures_and_keys_raise_only_the_typed_error(data: bytes) -> None:
    try:
        f = Franking.from_bytes(data)
    except MalformedFranking:
        pass
    else:
        assert f.to_bytes() == data
    try:
        key = FrankingPublicKey.from_bytes(data[:32])
    except MalformedFranking:
        pass
    else:
        assert key.to_bytes() == data[:32]
