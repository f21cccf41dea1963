"""Section 15, linking a device: ``link.json`` (the code, SPAKE2, the six slots, provisioning, history stream)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confide.protocol import franking_group as grp
from confide.protocol import link as lk
from confide.protocol.content import AttachmentPointer, Content, Receipt, ReceiptKind, Text
from confide.protocol.errors import InvalidLinkCode, LinkCodeMismatch
from confide.protocol.history import (
    Direction,
    HistoryReader,
    HistoryRecord,
    HistoryStatus,
    encode_record,
    encode_trailer,
)
from confide.protocol.provisioning import HistoryOffer, Provisioning
from confide.protocol.spake2 import M, N, Role, Spake2, transcript

from .common import Json, attempt, expect_error, flip, h, seed_of, vector
from .drbg import RecordingRng, ReplayRng, SeededRng

DRAW_ORDER = [
    "new_link_code: rng(8) (the code is its top 60 bits)",
    "NewDeviceLink: rng(64) x (reduced modulo l)",
    "ExistingDeviceLink: rng(64) y (reduced modulo l)",
    "wrong-code run: ExistingDeviceLink with the typed code: rng(64) y' (the new device reuses x)",
    "replayed-slot run: NewDeviceLink rng(64) x'' and ExistingDeviceLink rng(64) y'' with the right code",
]
DEVICE_PUBLIC = bytes(range(32))
DEVICE_NAME = "Dr. Rivera's phone"
PEER = bytes(range(20))
AT_MS = 1_700_000_000_000


def _provisioning() -> Provisioning:
    contact = bytes(range(20)) + bytes(range(128)) + b"\x01" + b"\x06Rivera" + (86_400).to_bytes(4, "big")
    contact += b"\x01" + b"\x42" * 32 + b"\x00"
    return Provisioning(
        identity_private=bytes(range(100, 164)),
        token_key=b"\x11" * 32,
        intro_token=b"\x22" * 32,
        role=1,
        device_list=b"\x01\x06" + b"\x00" * 210,
        contacts=(contact,),
    )


OFFER = HistoryOffer(blob_id="b" * 43, key=b"\x55" * 32, digest=b"\x66" * 32, size=4096, messages=3)


def _typo(code: lk.LinkCode) -> str:
    """The code as shown with its last character replaced by the next one of the alphabet (a password bit)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    text = code.text
    return text[:-1] + alphabet[(alphabet.index(text[-1]) + 1) % 32]


def _history() -> tuple[list[HistoryRecord], bytes]:
    pointer = AttachmentPointer("b" * 43, b"\x01" * 32, b"\x02" * 32, 1234, "worksheet.pdf", "application/pdf", "")
    records = [
        HistoryRecord(
            PEER,
            Direction.IN,
            HistoryStatus.UNREAD,
            AT_MS + 2,
            Content(b"\x03" * 16, AT_MS + 2, 0, Text("See you Thursday")).to_bytes(),
        ),
        HistoryRecord(
            PEER, Direction.OUT, HistoryStatus.READ, AT_MS + 1, Content(b"\x02" * 16, AT_MS + 1, 0, pointer).to_bytes()
        ),
        HistoryRecord(
            PEER,
            Direction.OUT,
            HistoryStatus.DELIVERED,
            AT_MS,
            Content(b"\x01" * 16, AT_MS, 3600, Text("Hello")).to_bytes(),
        ),
    ]
    return records, b"".join(encode_record(r) for r in records) + encode_trailer(len(records))


def _read_history(data: bytes) -> list[Json]:
    reader = HistoryReader()
    records = reader.feed(data)
    reader.finish()
    return [_record_json(r) for r in records]


def _record_json(r: HistoryRecord) -> Json:
    return {"peer": h(r.peer), "direction": r.direction, "status": r.status, "at_ms": r.at_ms, "content": h(r.content)}


def _runs(draws: list[str], code: lk.LinkCode) -> tuple[lk.NewDeviceLink, lk.ExistingDeviceLink]:
    replay = ReplayRng(draws)
    n = lk.NewDeviceLink(code, rng=replay)
    e = lk.ExistingDeviceLink(code, rng=replay)
    return n, e


def link() -> Json:
    seed = seed_of("link")
    rng = RecordingRng(SeededRng(seed))
    code = lk.new_link_code(rng)
    code_draw = rng.take()
    n = lk.NewDeviceLink(code, rng=rng)
    x_draw = rng.take()
    e = lk.ExistingDeviceLink(code, rng=rng)
    y_draw = rng.take()
    w = lk.password_of(code)

    # The same SPAKE2 run through the module's own pieces, for the intermediate values.
    a = Spake2(Role.A, w, id_a=lk.ID_NEW_DEVICE, id_b=lk.ID_EXISTING_DEVICE, aad=lk.LINK_AAD, rng=ReplayRng(x_draw))
    b = Spake2(Role.B, w, id_a=lk.ID_NEW_DEVICE, id_b=lk.ID_EXISTING_DEVICE, aad=lk.LINK_AAD, rng=ReplayRng(y_draw))
    keys = a.finish(b.share)
    assert keys == b.finish(a.share)
    tt = transcript(lk.ID_NEW_DEVICE, lk.ID_EXISTING_DEVICE, a.share, b.share, keys.shared_point, w)
    k_n2e, k_e2n = lk._link_keys(keys.ke)

    provisioning = _provisioning()
    slot0 = n.start()
    slot1 = e.answer(slot0)
    n.receive_existing(slot1)
    slot2 = n.request(DEVICE_PUBLIC, DEVICE_NAME)
    assert e.open_request(slot2) == lk.DeviceRequest(DEVICE_PUBLIC, DEVICE_NAME)
    slot3 = e.provisioning(provisioning)
    assert n.open_provisioning(slot3) == provisioning
    slot4 = e.history_offer(OFFER)
    assert n.open_history_offer(slot4) == OFFER
    slot5 = n.done(lk.LinkOutcome.COMPLETE)
    assert e.open_done(slot5) is lk.LinkOutcome.COMPLETE
    assert slot0[1:] == a.share
    assert slot1[1:33] == b.share

    # A wrong code: E typed the last character wrong.
    typed = _typo(code)
    wrong_e = lk.ExistingDeviceLink(lk.parse_link_code(typed), rng=rng)
    wrong_draw = rng.take()
    wrong_n = lk.NewDeviceLink(code, rng=ReplayRng(x_draw))
    wrong_slot1 = wrong_e.answer(wrong_n.start())
    new_side = expect_error(LinkCodeMismatch, wrong_n.receive_existing, wrong_slot1)
    abort_slot2 = wrong_n.abort()
    existing_side = expect_error(LinkCodeMismatch, wrong_e.open_request, abort_slot2)

    # Another run with the right code: its slot 1 replayed into the first run's new device.
    other_n = lk.NewDeviceLink(code, rng=rng)
    other_e = lk.ExistingDeviceLink(code, rng=rng)
    replay_draws = rng.take()
    replayed_slot1 = other_e.answer(other_n.start())

    def take(slot: int, data: bytes) -> Json:
        nn, ee = _runs(x_draw + y_draw, code)
        ops: list[Callable[[bytes], Any]] = [
            ee.answer,
            nn.receive_existing,
            ee.open_request,
            nn.open_provisioning,
            nn.open_history_offer,
            ee.open_done,
        ]
        # Play the honest run up to this slot.
        honest = [slot0, slot1, slot2, slot3, slot4, slot5]
        builders: list[Callable[[], Any]] = [
            nn.start,
            lambda: ee.answer(slot0),
            lambda: nn.receive_existing(slot1),
            lambda: nn.request(DEVICE_PUBLIC, DEVICE_NAME),
            lambda: ee.open_request(slot2),
            lambda: ee.provisioning(provisioning),
            lambda: nn.open_provisioning(slot3),
            lambda: ee.history_offer(OFFER),
            lambda: nn.open_history_offer(slot4),
        ]
        plan = {0: 1, 1: 2, 2: 4, 3: 6, 4: 8, 5: 9}[slot]
        for build in builders[:plan]:
            build()
        if slot == 5:
            assert nn.done() == honest[5]
        return attempt(ops[slot], data)[0]

    malformed = [
        (0, "version 2", b"\x02" + slot0[1:]),
        (0, "32 bytes (no version)", slot0[1:]),
        (0, "one trailing byte", slot0 + b"\x00"),
        (0, "pA the identity", b"\x01\x01" + bytes(31)),
        (
            0,
            "pA of order 8",
            b"\x01" + bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        ),
        (
            0,
            "pA not canonical (y = p + 1)",
            b"\x01" + bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        ),
        (0, "pA = w*M (K would be the identity)", b"\x01" + grp.mul(w, M)),
        (1, "version 0", b"\x00" + slot1[1:]),
        (1, "truncated", slot1[:-1]),
        (
            1,
            "pB of order 8",
            b"\x01" + bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05") + slot1[33:],
        ),
        (1, "cB flipped", flip(slot1, -1)),
        (1, "the first byte of pB flipped", flip(slot1, 1)),
        (1, "slot 1 of another run with the same code", replayed_slot1),
        (2, "cA flipped", flip(slot2, 1)),
        (2, "request ciphertext flipped", flip(slot2, -1)),
        (2, "shorter than a confirmation and a tag", slot2[:48]),
        (2, "the wrong-code run's abort", abort_slot2),
        (3, "version 2", b"\x02" + slot3[1:]),
        (3, "tag flipped", flip(slot3, -1)),
        (3, "slot 4 in slot 3's place", slot4),
        (4, "ciphertext flipped", flip(slot4, 1)),
        (4, "empty", b""),
        (5, "outcome flipped", flip(slot5, 1)),
        (5, "slot 5 without its version", slot5[1:]),
    ]
    malformed_expected = [{"why": why, **take(slot, data)} for slot, why, data in malformed]
    for case in malformed_expected:
        assert case["result"] == "error", case

    texts = [
        ("as shown", code.text, True),
        ("lower case", code.text.lower(), True),
        ("spaces and a tab instead of dashes", code.text.replace("-", " \t"), True),
        ("the QR text", code.qr_text, True),
        ("the QR text, lower case, with a line break", code.qr_text.lower() + "\r\n", True),
        ("O for 0, I and L for 1", code.text.replace("0", "O").replace("1", "L"), True),
        ("eleven characters", code.text[:-1], False),
        ("thirteen characters", code.text + "0", False),
        ("U is not in the alphabet", "U" + code.text[1:], False),
        ("a no-break space", code.text.replace("-", "\u00a0", 1), False),
        ("a safety-number QR prefix", "CONFIDE-SN1:" + code.text, False),
    ]
    code_cases = []
    for why, text, ok in texts:
        result, parsed = attempt(lk.parse_link_code, text)
        if ok:
            assert parsed == code, why
        else:
            assert result == {"result": "error", "error": InvalidLinkCode.__name__}, why
        code_cases.append({"why": why, **result})

    records, stream = _history()
    assert _read_history(stream) == [_record_json(r) for r in records]
    receipt = Content(b"\x05" * 16, AT_MS, 0, Receipt(ReceiptKind.READ, (b"\x01" * 16,))).to_bytes()
    receipt_body = PEER + b"\x01\x03" + AT_MS.to_bytes(8, "big") + len(receipt).to_bytes(4, "big") + receipt
    bad_streams = [
        ("no trailer", stream[:-8]),
        ("a byte after the trailer", stream + b"\x00"),
        ("the trailer counts 2", stream[:-8] + encode_trailer(2)),
        ("a record announcing 60,069 bytes (refused before they arrive)", (60_069).to_bytes(4, "big") + bytes(16)),
        ("direction 3", stream[:24] + b"\x03" + stream[25:]),
        ("an incoming message with status SENT", stream[:24] + b"\x01\x01" + stream[26:]),
        ("a READ receipt as a record", len(receipt_body).to_bytes(4, "big") + receipt_body + encode_trailer(1)),
    ]
    stream_cases = [{"why": why, **attempt(_read_history, data)[0]} for why, data in bad_streams]
    for case in stream_cases:
        assert case["result"] == "error", case

    prov_bytes = provisioning.to_bytes()
    bad_provisioning = [
        ("version 2", b"\x02" + prov_bytes[1:]),
        ("role 3", prov_bytes[:129] + b"\x03" + prov_bytes[130:]),
        ("truncated", prov_bytes[:-1]),
        ("trailing", prov_bytes + b"\x00"),
        ("a device list of 1,025 bytes", prov_bytes[:130] + (1025).to_bytes(4, "big") + prov_bytes[134:]),
    ]
    prov_cases = [{"why": why, **attempt(Provisioning.from_bytes, data)[0]} for why, data in bad_provisioning]

    inputs: Json = {
        "draw_order": DRAW_ORDER,
        "rng_outputs": code_draw + x_draw + y_draw + wrong_draw + replay_draws,
        "code_draw": code_draw[0],
        "x_draw": x_draw[0],
        "y_draw": y_draw[0],
        "id_a": lk.ID_NEW_DEVICE.decode(),
        "id_b": lk.ID_EXISTING_DEVICE.decode(),
        "aad": lk.LINK_AAD.decode(),
        "M": h(M),
        "N": h(N),
        "device_public": h(DEVICE_PUBLIC),
        "device_name": DEVICE_NAME,
        "provisioning": {
            "identity_private": h(provisioning.identity_private),
            "token_key": h(provisioning.token_key),
            "intro_token": h(provisioning.intro_token),
            "role": provisioning.role,
            "device_list": h(provisioning.device_list),
            "contacts": [h(c) for c in provisioning.contacts],
        },
        "history_offer": {
            "blob_id": OFFER.blob_id,
            "key": h(OFFER.key),
            "digest": h(OFFER.digest),
            "size": OFFER.size,
            "messages": OFFER.messages,
        },
        "outcome": int(lk.LinkOutcome.COMPLETE),
        "wrong_code": {"typed": typed, "y_draw": wrong_draw[0]},
        "malformed_slots": [{"why": why, "slot": slot, "data": h(data)} for slot, why, data in malformed],
        "codes": [{"why": why, "text": text} for why, text, _ in texts],
        "history_records": [_record_json(r) for r in records],
        "malformed_streams": [{"why": why, "data": h(data)} for why, data in bad_streams],
        "malformed_provisioning": [{"why": why, "data": h(data)} for why, data in bad_provisioning],
    }
    expected: Json = {
        "result": "ok",
        "code": code.text,
        "qr_text": code.qr_text,
        "channel_bits": h(code.channel_bits),
        "password_bits": h(code.password_bits),
        "channel": lk.channel_of(code),
        "w": h(w),
        "pA": h(a.share),
        "pB": h(b.share),
        "K": h(keys.shared_point),
        "TT": h(tt),
        "TT_sha256": h(keys.transcript_hash),
        "Ke": h(keys.ke),
        "cA": h(keys.confirm_a),
        "cB": h(keys.confirm_b),
        "k_n2e": h(k_n2e),
        "k_e2n": h(k_e2n),
        "slots": [h(s) for s in (slot0, slot1, slot2, slot3, slot4, slot5)],
        "provisioning": h(prov_bytes),
        "history_offer": h(HistoryOffer.encode(OFFER)),
        "no_history_offer": h(HistoryOffer.encode(None)),
        "wrong_code": {
            "slot1": h(wrong_slot1),
            "new_device": new_side,
            "abort_slot2": h(abort_slot2),
            "existing_device": existing_side,
        },
        "malformed_slots": malformed_expected,
        "codes": code_cases,
        "history_stream": h(stream),
        "malformed_streams": stream_cases,
        "malformed_provisioning": prov_cases,
    }
    description = (
        "SPEC section 15: a link code from the DRBG (top 60 bits of rng(8)) and its texts, channel and SPAKE2 "
        "password scalar w; a full SPAKE2 run (RFC 9382, edwards25519, x and y each reduced from rng(64)) with "
        "pA, pB, K, TT (8-byte little-endian lengths, w as its 32-byte little-endian scalar), SHA-256(TT) = Ke || "
        "Ka, both confirmations, the link keys and the six slots byte for byte (AEAD nonces are counters, so "
        "nothing else is drawn); a run where the existing device typed the last character wrong "
        "(LinkCodeMismatch on both sides, the new device's abort slot 2 included); malformed slots, each "
        "taken at its place in a replay of the full run (slot 1 cases by the new device after slot 0, and so "
        "on); typed and scanned codes; a history stream of three records and malformed streams; malformed "
        "provisionings."
    )
    return vector("link", description, seed, inputs, expected)
