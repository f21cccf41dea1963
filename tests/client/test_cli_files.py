"""The command's shared file helpers (``client/cli/files.py``): a small input file is refused past its bound
without being read whole, and a QR picture that cannot be drawn leaves no file behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from confide.client.cli.exits import UsageError
from confide.client.cli.files import read_bounded, write_new_qr

LIMIT = 64


def test_read_bounded_reads_a_file_of_exactly_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "card"
    path.write_bytes(b"c" * LIMIT)
    assert read_bounded(path, LIMIT, "contact card") == b"c" * LIMIT


def test_read_bounded_refuses_one_byte_more_with_one_usage_line(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"c" * (LIMIT + 1))
    with pytest.raises(UsageError) as info:
        read_bounded(path, LIMIT, "contact card")
    assert str(info.value) == f"{path} is larger than any contact card; check that you chose the right file"


def test_write_new_qr_is_a_new_private_png_and_never_over_a_file(tmp_path: Path) -> None:
    path = tmp_path / "card.png"
    write_new_qr(path, "CONFIDE-CARD1:ABC")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_new_qr(path, "CONFIDE-CARD1:XYZ")
    assert path.read_bytes() == before


def test_write_new_qr_leaves_nothing_when_the_text_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with pytest.raises(ValueError):  # noqa: PT011  the QR code's own "too much text for one code"
        write_new_qr(path, "A" * 10_000)
    assert not path.exists()
