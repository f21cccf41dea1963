"""Texts and captions hold no C0 control but tab and newline (SPEC §8): the content layer refuses them.

The attack: a peer's message carries ``ESC [ 2 K`` (erase the line), ``CR`` (back to the start of the line)
or a backspace, so that an integrator who prints it as is shows a forged line, e.g. one "from" the
therapist. Building such a content raises ``ValueError``; parsing one, as a modified sender would encode it,
raises ``RemoteProtocolError`` (and nothing else).
"""

from __future__ import annotations

import pytest

from confide.keys.encoding import Writer
from confide.protocol.content import (
    CONTENT_VERSION,
    AttachmentPointer,
    Content,
    ContentType,
    Text,
)
from confide.protocol.errors import RemoteProtocolError

MID = bytes(range(16))
FORGED = [
    "ok\x1b[2K\rDr. Rivera: please call me",
    "ok\rDr. Rivera: forged",
    "abc\x08\x08\x08xyz",
    "nul\x00byte",
    "bell\x07",
    "vt\x0bff\x0c",
    "fs\x1c",
]


def _raw_text(body: str) -> bytes:
    """A TEXT content encoded below validation, as a modified client would."""
    w = Writer().u8(CONTENT_VERSION).u8(ContentType.TEXT).raw(MID).u64(1).u32(0)
    return w.var32(body.encode("utf-8")).bytes()


def _raw_attachment(caption: str) -> bytes:
    good = Content(MID, 1, 0, AttachmentPointer("blob", b"K" * 32, b"D" * 32, 3, "a.txt", "text/plain", "x"))
    data = good.to_bytes()
    assert data.endswith(b"\x00\x00\x00\x01x")
    enc = caption.encode("utf-8")
    return data[:-5] + len(enc).to_bytes(4, "big") + enc


@pytest.mark.parametrize("text", FORGED)
def test_building_a_text_with_a_control_raises(text: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        Text(text)


@pytest.mark.parametrize("text", FORGED)
def test_building_a_caption_with_a_control_raises(text: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        AttachmentPointer("blob", b"K" * 32, b"D" * 32, 3, "a.txt", "text/plain", text)


@pytest.mark.parametrize("text", FORGED)
def test_parsing_a_text_with_a_control_is_refused(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        Content.from_bytes(_raw_text(text))


@pytest.mark.parametrize("text", FORGED)
def test_parsing_a_caption_with_a_control_is_refused(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        Content.from_bytes(_raw_attachment(text))


def test_tab_and_newline_are_text() -> None:
    """Tab and newline are how people write; C1 and bidi characters are left to the display layer."""
    body = "line one\n\tindented\nline three \u202e \u0085"
    content = Content(MID, 1, 0, Text(body))
    assert Content.from_bytes(content.to_bytes()) == content
    assert Content.from_bytes(_raw_attachment("a\tb\nc")).body == AttachmentPointer(
        "blob", b"K" * 32, b"D" * 32, 3, "a.txt", "text/plain", "a\tb\nc"
    )
