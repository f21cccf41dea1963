"""Report files (SPEC 13.9): round trips, malformed files refused with exactly :class:`MalformedFranking`, and
the practice's verdict against the attacks it must catch (altered text, a swapped sender, a report the
recipient built alone, another judge)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from confide.keys.identity import IdentityKeyPair
from confide.protocol.content import Content, Text, frank_content
from confide.protocol.errors import MalformedFranking
from confide.protocol.franking import FrankingKeyPair, forge, j_forge, r_forge
from confide.protocol.franking_binding import FrankingBinding, franking_key_of
from confide.protocol.franking_report import MAX_REPORT_LEN, REPORT_MIN_LEN
from confide.protocol.report_file import (
    MAX_REPORT_FILE_LEN,
    REPORT_FILE_MIN_LEN,
    ReportFile,
    ReportVerdict,
    parse_report_file,
)

from ..vectors.generate import SeededRng

RNG = SeededRng(b"tests/protocol/test_report_file")
SENDER, RECIPIENT, STRANGER = (IdentityKeyPair.generate(RNG) for _ in range(3))
JUDGE, OTHER_JUDGE = FrankingKeyPair.generate(RNG), FrankingKeyPair.generate(RNG)
INNER = Content(bytes(range(16)), 1_700_000_000_000, 0, Text("I know where your office is."))
FRANKED = frank_content(
    INNER, sender=SENDER, recipient_key=franking_key_of(RECIPIENT).public, judge=JUDGE.public, rng=RNG
)
REPORTED_AT = 1_700_003_600
FILE = ReportFile.of_franked(FRANKED, sender=SENDER.public, recipient=RECIPIENT, reported_at=REPORTED_AT)
DATA = FILE.to_bytes()
HEAD = 1 + 32 + 128 + 96 + 128 + 96 + 8 + 4


def verdict(file: ReportFile, judge: FrankingKeyPair = JUDGE) -> ReportVerdict:
    return parse_report_file(file.to_bytes()).review(judge)


def test_round_trip_and_layout() -> None:
    parsed = parse_report_file(DATA)
    assert parsed == FILE
    assert parsed.to_bytes() == DATA
    assert DATA[0] == 1
    assert DATA[1:33] == JUDGE.public.to_bytes()
    assert DATA[33:161] == SENDER.public.to_bytes()
    assert DATA[257:385] == RECIPIENT.public.to_bytes()
    assert DATA[HEAD:] == FILE.report.to_bytes()
    assert FILE.report.message == INNER.to_bytes()


def test_bounds() -> None:
    assert REPORT_FILE_MIN_LEN == HEAD + REPORT_MIN_LEN == 915
    assert MAX_REPORT_FILE_LEN == HEAD + MAX_REPORT_LEN == 66_450


def test_the_honest_file_is_authentic_to_its_judge() -> None:
    v = verdict(FILE)
    assert (v.judge_matches, v.sender_bound, v.recipient_bound, v.franking_holds) == (True, True, True, True)
    assert v.authentic
    assert v.sender_address == SENDER.address
    assert v.recipient_address == RECIPIENT.address
    assert v.content == INNER


def test_another_judge_learns_nothing() -> None:
    v = verdict(FILE, OTHER_JUDGE)
    assert not v.judge_matches
    assert not v.franking_holds
    assert not v.authentic


def test_altered_text_fails() -> None:
    altered = Content(INNER.message_id, INNER.sent_at_ms, 0, Text("I know where your office was."))
    v = verdict(replace(FILE, report=replace(FILE.report, message=altered.to_bytes())))
    assert v.content == altered
    assert not v.franking_holds
    assert not v.authentic


def test_a_swapped_sender_is_not_bound() -> None:
    """Naming the stranger (with the stranger's own valid binding) as the sender of the sender's message."""
    stranger_binding = FrankingBinding.bind(STRANGER)
    v = verdict(replace(FILE, sender=STRANGER.public, sender_binding=stranger_binding))
    assert v.franking_holds  # the franking is the real one ...
    assert not v.sender_bound  # ... but its key is not the stranger's
    assert not v.authentic
    v = verdict(replace(FILE, sender=STRANGER.public))  # the sender's binding claimed for the stranger
    assert not v.sender_bound
    assert not v.authentic
    v = verdict(
        replace(
            FILE,
            sender=STRANGER.public,
            sender_binding=stranger_binding,
            report=replace(FILE.report, sender=stranger_binding.key),
        )
    )
    assert v.sender_bound
    assert not v.franking_holds
    assert not v.authentic


def test_a_swapped_recipient_is_not_bound() -> None:
    v = verdict(replace(FILE, recipient=STRANGER.public, recipient_binding=FrankingBinding.bind(STRANGER)))
    assert not v.recipient_bound
    assert not v.authentic


def test_a_report_the_recipient_built_alone_fails() -> None:
    """The recipient can make a franking its own check accepts (RForge), never one the judge accepts."""
    report = FILE.report
    forged = r_forge(franking_key_of(RECIPIENT), report.sender, JUDGE.public, b"words never sent", RNG)
    v = verdict(replace(FILE, report=replace(report, message=b"words never sent", franking=forged)))
    assert (v.sender_bound, v.recipient_bound, v.judge_matches) == (True, True, True)
    assert not v.franking_holds
    assert v.content is None  # not even a content
    assert not v.authentic


def test_a_forgery_from_public_keys_fails() -> None:
    report = FILE.report
    forged = forge(report.sender, report.recipient, JUDGE.public, report.message, RNG)
    assert not verdict(replace(FILE, report=replace(report, franking=forged))).authentic


def test_the_judge_itself_can_forge_which_is_why_a_report_convinces_only_the_judge() -> None:
    """JForge passes Judge (SPEC 13.7): the practice must keep its moderation key secret."""
    report = FILE.report
    forged = j_forge(JUDGE, report.sender, report.recipient, report.message, RNG)
    assert verdict(replace(FILE, report=replace(report, franking=forged))).authentic


def _with(offset: int, raw: bytes) -> bytes:
    return DATA[:offset] + raw + DATA[offset + len(raw) :]


@pytest.mark.parametrize(
    ("why", "data"),
    [
        ("empty", b""),
        ("version 2", _with(0, b"\x02")),
        ("truncated", DATA[:-1]),
        ("trailing byte", DATA + b"\x00"),
        ("too short", DATA[: REPORT_FILE_MIN_LEN - 1]),
        ("too long", DATA + bytes(MAX_REPORT_FILE_LEN + 1 - len(DATA))),
        ("judge key identity point", _with(1, b"\x01" + bytes(31))),
        ("sender certificate flipped", _with(33 + 100, bytes([DATA[33 + 100] ^ 1]))),
        ("sender binding key identity point", _with(161, b"\x01" + bytes(31))),
        ("recipient certificate flipped", _with(257 + 100, bytes([DATA[257 + 100] ^ 1]))),
        ("recipient binding key not canonical", _with(385, b"\xff" * 31 + b"\x7f")),
        ("reported_at out of range", _with(481, b"\xff" * 8)),
        ("report length one short", _with(489, (len(DATA) - HEAD - 1).to_bytes(4, "big"))),
        ("inner report version 2", _with(HEAD, b"\x02")),
        ("inner report message length wrong", _with(HEAD + 65, (1).to_bytes(4, "big"))),
    ],
)
def test_malformed_files_raise_exactly_malformed_franking(why: str, data: bytes) -> None:
    with pytest.raises(MalformedFranking) as info:
        parse_report_file(data)
    assert type(info.value) is MalformedFranking, why


def test_only_a_franked_content_is_reported() -> None:
    with pytest.raises(ValueError, match="franked"):
        ReportFile.of_franked(INNER, sender=SENDER.public, recipient=RECIPIENT, reported_at=REPORTED_AT)


def test_repr_shows_no_text() -> None:
    assert "office" not in repr(FILE)
    assert SENDER.address.text in repr(FILE)
