"""SPEC 13.9, report files: ``report_file.json``.

The sender and recipient of ``franking_binding.json`` (same identities, judge and FRANKED content), plus a
stranger from this scenario's DRBG: the recipient's report file of the franked content, the practice's
verdicts (with its judge key, another judge's, and on altered files), and malformed files.
"""

from __future__ import annotations

from dataclasses import replace

from confide.keys.identity import IdentityKeyPair
from confide.protocol.content import Content
from confide.protocol.errors import MalformedFranking
from confide.protocol.franking import FrankingKeyPair, r_forge
from confide.protocol.franking_binding import FrankingBinding, franking_key_of
from confide.protocol.report_file import ReportFile, ReportVerdict, parse_report_file

from .common import NOW, Json, expect_error, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng
from .franking import ORDER_8
from .franking_binding import franking_binding

REPORTED_AT = NOW + 3600
"""The recipient reports the message an hour after :data:`NOW`."""


def verdict_json(v: ReportVerdict) -> Json:
    """A verdict as the vector file lists it."""
    return {
        "judge_matches": v.judge_matches,
        "sender_bound": v.sender_bound,
        "recipient_bound": v.recipient_bound,
        "franking_holds": v.franking_holds,
        "authentic": v.authentic,
        "sender_address": v.sender_address.text,
        "recipient_address": v.recipient_address.text,
        "content": None if v.content is None else h(v.content.to_bytes()),
    }


def report_file() -> Json:
    base = franking_binding()
    ids = {k: IdentityKeyPair.from_private_bytes(bytes.fromhex(v)) for k, v in base["inputs"]["identities"].items()}
    sender, recipient = ids["sender"], ids["recipient"]
    judge = FrankingKeyPair(bytes.fromhex(base["inputs"]["judge_private"]))
    franked = Content.from_bytes(bytes.fromhex(base["expected"]["franked"]))

    seed = seed_of("report_file")
    rng = RecordingRng(SeededRng(seed))
    stranger = IdentityKeyPair.generate(rng)
    other_judge = FrankingKeyPair.generate(rng)
    key_draws = rng.take()
    honest = ReportFile.of_franked(franked, sender=sender.public, recipient=recipient, reported_at=REPORTED_AT)
    data = honest.to_bytes()
    assert parse_report_file(data) == honest

    report = honest.report
    forged = r_forge(franking_key_of(recipient), report.sender, judge.public, report.message, rng)
    forge_draws = rng.take()
    altered_message = report.message[:-1] + bytes([report.message[-1] ^ 1])
    stranger_binding = FrankingBinding.bind(stranger)
    variants: list[tuple[str, ReportFile, FrankingKeyPair]] = [
        ("the honest file, with the practice's judge key", honest, judge),
        ("the honest file, with another judge's key", honest, other_judge),
        (
            "altered text (last byte of the reported message)",
            replace(honest, report=replace(report, message=altered_message)),
            judge,
        ),
        (
            "swapped sender: the stranger's identity and binding named, the franking unchanged",
            replace(honest, sender=stranger.public, sender_binding=stranger_binding),
            judge,
        ),
        (
            "swapped sender: the stranger's identity, binding and franking key named",
            replace(
                honest,
                sender=stranger.public,
                sender_binding=stranger_binding,
                report=replace(report, sender=stranger_binding.key),
            ),
            judge,
        ),
        (
            "the sender's binding claimed for the stranger's identity",
            replace(honest, sender=stranger.public),
            judge,
        ),
        (
            "a report the recipient built alone (RForge)",
            replace(honest, report=replace(report, franking=forged)),
            judge,
        ),
    ]
    verdicts_in, verdicts_out = [], []
    for why, file, judge_key in variants:
        parsed = parse_report_file(file.to_bytes())
        assert parsed == file
        verdict = parsed.review(judge_key)
        assert verdict.authentic is (why == variants[0][0]), why
        verdicts_in.append(
            {"why": why, "file": h(file.to_bytes()), "judge": "practice" if judge_key is judge else "other"}
        )
        verdicts_out.append({"why": why, "result": "ok", **verdict_json(verdict)})

    head = 1 + 32 + 128 + 96 + 128 + 96 + 8
    malformed = [
        ("version 2", b"\x02" + data[1:]),
        ("truncated by one byte", data[:-1]),
        ("one trailing byte", data + b"\x00"),
        (
            "report length one less than present",
            data[:head] + (len(data) - head - 4 - 1).to_bytes(4, "big") + data[head + 4 :],
        ),
        ("judge key is a point of order 8", data[:1] + ORDER_8 + data[33:]),
        ("sender identity certificate byte flipped", flip(data, 1 + 32 + 100)),
        (
            "recipient binding key is the identity point",
            data[: 1 + 32 + 128 + 96 + 128] + b"\x01" + bytes(31) + data[1 + 32 + 128 + 96 + 128 + 32 :],
        ),
        ("reported_at after year 9999", data[: head - 8] + (2**64 - 1).to_bytes(8, "big") + data[head:]),
        ("the inner report's version is 2", data[: head + 4] + b"\x02" + data[head + 5 :]),
        ("empty", b""),
    ]

    return vector(
        "report_file",
        "Report files (SPEC 13.9). The identities, judge key and FRANKED content are franking_binding.json's "
        "(inputs.base: the private forms and the content); the stranger and another judge key come from this "
        "scenario's DRBG (key_draws: stranger identity 32+32, other judge 64), the RForge draws after them. "
        "'file' is the recipient's report file of the franked content, reported at inputs.reported_at. Each "
        "'verdicts' file is parsed (and re-encodes to the same bytes) and reviewed with the named judge key "
        "('practice': franking_binding.json's judge; 'other'); only the first is authentic. Each 'malformed' file "
        "is refused with MalformedFranking.",
        seed,
        {
            "base": {
                "identities": base["inputs"]["identities"],
                "judge_private": base["inputs"]["judge_private"],
                "franked": base["expected"]["franked"],
            },
            "key_draws": key_draws,
            "forge_draws": forge_draws,
            "reported_at": REPORTED_AT,
            "verdicts": verdicts_in,
            "malformed": [{"why": w, "file": h(d)} for w, d in malformed],
        },
        {
            "result": "ok",
            "stranger": h(stranger.private_bytes()),
            "other_judge": h(other_judge.private_bytes()),
            "file": h(data),
            "report": h(report.to_bytes()),
            "verdicts": verdicts_out,
            "malformed": [{"why": w, **expect_error(MalformedFranking, parse_report_file, d)} for w, d in malformed],
        },
    )
