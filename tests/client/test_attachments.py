"""Attachments of 0 bytes, 1 byte and several MiB: streamed, verified, decrypted to a chosen path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from confide.client import AttachmentError, MessageReceived

from .conftest import MakeClient, introduce


@pytest.mark.parametrize("size", [0, 1, 5 * 1024 * 1024 + 123])
async def test_attachment_round_trip(make_client: MakeClient, tmp_path: Path, size: int) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    source = tmp_path / "worksheet.pdf"
    data = os.urandom(size)
    source.write_bytes(data)
    progress: list[tuple[int, int]] = []
    sent = await a.send_file(
        "b", source, caption="this week's worksheet", progress=lambda done, total: progress.append((done, total))
    )
    assert sent.attachment is not None
    assert sent.attachment.size == size
    if size:
        assert progress[-1][0] == progress[-1][1]

    events = await b.sync()
    got = [e.message for e in events if isinstance(e, MessageReceived)]
    assert len(got) == 1
    assert got[0].kind == "attachment"
    info = got[0].attachment
    assert info is not None
    assert info.name == "worksheet.pdf"
    assert info.mime == "application/pdf"
    assert b.history("a")[0].attachment.downloaded  # type: ignore[union-attr]
    # The stored copy is ciphertext, never the file itself.
    stored = list((b.profile_dir / "attachments").iterdir())
    assert len(stored) == 1
    if size >= 16:
        assert data[:16] not in stored[0].read_bytes()

    out = await b.save_attachment(got[0].message_id, tmp_path / "out")
    assert out.read_bytes() == data
    out_dir = tmp_path / "dir"
    out_dir.mkdir()
    written = await b.save_attachment(got[0].message_id, out_dir)
    assert written == out_dir / "worksheet.pdf"


async def test_tampered_attachment_is_refused(make_client: MakeClient, tmp_path: Path) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    source = tmp_path / "note.txt"
    source.write_bytes(b"x" * 70_000)
    await a.send_file("b", source)
    await b.sync()
    (msg,) = b.history("a")
    blob = next((b.profile_dir / "attachments").iterdir())
    raw = bytearray(blob.read_bytes())
    raw[100] ^= 1
    blob.write_bytes(bytes(raw))
    with pytest.raises(AttachmentError):
        await b.save_attachment(msg.message_id, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()
