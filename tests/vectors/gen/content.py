"""Section 8, message content: ``content.json``.

``confide.protocol.content`` is imported when the scenario runs: the generator skips the file (with a note)
if that module does not import."""

from __future__ import annotations

from confide.protocol.errors import RemoteProtocolError

from .common import Json, expect_error, h, seed_of, vector
from .drbg import SeededRng


def content() -> Json:
    from confide.protocol import content as c

    seed = seed_of("content")
    rng = SeededRng(seed)
    values: list[tuple[Json, c.Content]] = []

    def add(kind: str, body_json: Json, body: c.Body, sent: int, expire: int) -> None:
        mid = rng(16)
        values.append(
            (
                {"message_id": h(mid), "sent_at_ms": sent, "expire_after_s": expire, "type": kind, "body": body_json},
                c.Content(mid, sent, expire, body),
            )
        )

    text = "I slept better this week. Merci — 谢谢 🙂"
    add("text", {"text": text}, c.Text(text), 1_700_000_000_000, 0)
    add("text", {"text": ""}, c.Text(""), 0, c.MAX_TIMER_S)
    key, digest = rng(32), rng(32)
    add(
        "attachment",
        {
            "blob_id": "Zm9vYmFyYmF6cXV4LWJsb2ItaWQtMDAwMDAwMDAwMDA",
            "key": h(key),
            "digest": h(digest),
            "size": 123456,
            "name": "worksheet.pdf",
            "mime": "application/pdf",
            "caption": "The worksheet we discussed",
        },
        c.AttachmentPointer(
            "Zm9vYmFyYmF6cXV4LWJsb2ItaWQtMDAwMDAwMDAwMDA",
            key,
            digest,
            123456,
            "worksheet.pdf",
            "application/pdf",
            "The worksheet we discussed",
        ),
        1_700_000_100_000,
        86400,
    )
    ids = (rng(16), rng(16), rng(16))
    add(
        "receipt",
        {"kind": "read", "message_ids": [h(i) for i in ids]},
        c.Receipt(c.ReceiptKind.READ, ids),
        1_700_000_200_000,
        0,
    )
    add(
        "receipt",
        {"kind": "delivered", "message_ids": [h(ids[0])]},
        c.Receipt(c.ReceiptKind.DELIVERED, ids[:1]),
        1_700_000_200_001,
        0,
    )
    add("timer", {"seconds": 604800}, c.TimerChange(604800), 1_700_000_300_000, 0)
    add("timer", {"seconds": 0}, c.TimerChange(0), 1_700_000_300_001, 0)
    target = rng(16)
    add("delete", {"target_id": h(target)}, c.Delete(target), 1_700_000_400_000, 0)
    tabbed = "Homework:\n\t1. sleep diary\n\t2. walk"
    add("text", {"text": tabbed}, c.Text(tabbed), 1_700_000_500_000, 0)
    joined = "\U0001f469\u200d\u2695\ufe0f notes \u00e9t\u00e9.txt"  # a ZWJ sequence: format characters, not controls
    add(
        "attachment",
        {
            "blob_id": "b-1",
            "key": h(key),
            "digest": h(digest),
            "size": 0,
            "name": joined,
            "mime": "",
            "caption": "",
        },
        c.AttachmentPointer("b-1", key, digest, 0, joined, "", ""),
        1_700_000_550_000,
        0,
    )
    add("reset", {"failed": 3}, c.ResetRequest(3), 1_700_000_600_000, 0)
    reset_at = len(values) - 1
    filed_target = rng(16)
    add(
        "filed",
        {"kind": "filed", "target_id": h(filed_target)},
        c.Filed(c.FiledKind.FILED, filed_target),
        1_700_000_700_000,
        0,
    )
    add(
        "filed",
        {"kind": "kept", "target_id": h(filed_target)},
        c.Filed(c.FiledKind.KEPT, filed_target),
        1_700_000_700_001,
        0,
    )
    filed_bytes = values[-2][1].to_bytes()
    encoded = [v.to_bytes() for _j, v in values]
    for data, (_j, v) in zip(encoded, values, strict=True):
        assert c.Content.from_bytes(data) == v
    text_bytes, timer_bytes, receipt_bytes = encoded[0], encoded[5], encoded[3]
    hdr = 1 + 1 + 16 + 8 + 4
    malformed = [
        ("unknown version 2", b"\x02" + text_bytes[1:]),
        ("unknown type 9", text_bytes[:1] + b"\x09" + text_bytes[2:]),
        ("trailing byte", text_bytes + b"\x00"),
        ("truncated", text_bytes[:-1]),
        ("text is not UTF-8", text_bytes[:hdr] + b"\x00\x00\x00\x02\xc3\x28"),
        (
            "expire_after_s above one year",
            text_bytes[: hdr - 4] + (c.MAX_TIMER_S + 1).to_bytes(4, "big") + text_bytes[hdr:],
        ),
        ("timer above one year", timer_bytes[:hdr] + (c.MAX_TIMER_S + 1).to_bytes(4, "big")),
        ("receipt of zero messages", receipt_bytes[: hdr + 1] + b"\x00\x00"),
        ("receipt naming a message twice", receipt_bytes[: hdr + 1] + b"\x00\x02" + ids[0] + ids[0]),
        ("unknown receipt kind 3", receipt_bytes[:hdr] + b"\x03" + receipt_bytes[hdr + 1 :]),
        ("empty", b""),
        ("text holds ESC (a C0 control)", text_bytes[:hdr] + b"\x00\x00\x00\x07ok\x1b[2Kx"),
        ("text holds CR (a C0 control)", text_bytes[:hdr] + b"\x00\x00\x00\x06ok\rDr."),
        ("reset request naming no failed message", encoded[reset_at][:hdr] + b"\x00\x00"),
        ("reset request truncated", encoded[reset_at][: hdr + 1]),
        ("filed notice of unknown kind 0", filed_bytes[:hdr] + b"\x00" + filed_bytes[hdr + 1 :]),
        ("filed notice of unknown kind 3", filed_bytes[:hdr] + b"\x03" + filed_bytes[hdr + 1 :]),
        ("filed notice truncated (15-byte message id)", filed_bytes[:-1]),
        ("filed notice with a trailing byte", filed_bytes + b"\x00"),
        ("filed notice without its kind and id", filed_bytes[:hdr]),
        *((f"file name {why}", _with_name(encoded[2], hdr, name)) for why, name in _BAD_NAMES),
    ]
    return vector(
        "content",
        "Message content encoding (canonical: one byte string per value). Each value in inputs.values encodes "
        "to the bytes at the same index of expected.encoded and parses back to an equal value. Each "
        "'malformed' input must be refused with RemoteProtocolError: among them texts holding a C0 control "
        "other than tab and newline (the text value holding tab and newline is accepted), and a reset request "
        "(type 6, SPEC §8) naming zero failed messages, filed notices (type 7, SPEC §8: kind 1 filed or 2 kept, "
        "then the 16-byte id of the message) of another kind or length, and attachment pointers whose file name "
        "holds a character of Unicode category Cc (C0, DEL, C1), a bidirectional control, a path separator, or is "
        "'.' or '..' (a name with a zero-width joiner sequence is accepted).",
        seed,
        {"values": [j for j, _v in values], "malformed": [{"why": w, "data": h(d)} for w, d in malformed]},
        {
            "result": "ok",
            "encoded": [h(e) for e in encoded],
            "malformed": [
                {"why": w, **expect_error(RemoteProtocolError, c.Content.from_bytes, d)} for w, d in malformed
            ],
        },
    )


_BAD_NAMES = [
    ("holding NUL", "a\x00.txt"),
    ("holding ESC", "a\x1b[2K.txt"),
    ("holding DEL (U+007F)", "a\x7f.txt"),
    ("holding NEL (U+0085, a C1 control)", "a\x85.txt"),
    ("holding CSI (U+009B, a C1 control)", "a\x9b2K.txt"),
    ("holding RIGHT-TO-LEFT OVERRIDE (U+202E)", "photo\u202egpj.exe"),
    ("holding ARABIC LETTER MARK (U+061C)", "a\u061c.txt"),
    ("holding FIRST STRONG ISOLATE (U+2068)", "a\u2068.txt"),
    ("holding '/'", "../etc/passwd"),
    ("holding a backslash", "a\\b.txt"),
    ("'.'", "."),
    ("'..'", ".."),
]
"""File names a receiver must refuse (SPEC section 8: no Cc character, bidi control, separator, '.' or '..')."""


def _with_name(attachment: bytes, hdr: int, name: str) -> bytes:
    """The encoded attachment content with its file name replaced (lengths adjusted)."""
    at = hdr + 2 + int.from_bytes(attachment[hdr : hdr + 2], "big") + 32 + 32 + 8
    old_len = int.from_bytes(attachment[at : at + 2], "big")
    raw = name.encode()
    return attachment[:at] + len(raw).to_bytes(2, "big") + raw + attachment[at + 2 + old_len :]
