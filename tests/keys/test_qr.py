"""QR codes: the text inside, its strict parser, terminal rendering and PNG output."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import qrcode
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from confide.keys import (
    IdentityKeyPair,
    QRPayloadError,
    ScanResult,
    compute_safety_number,
    parse_qr_text,
    qr_terminal,
    qr_text,
    write_qr_png,
)
from confide.keys.qr import (
    MAX_QR_PAYLOAD_LEN,
    QR_BORDER,
    QR_BOX_SIZE,
    QR_TERMINAL_BORDER,
    QR_TEXT_PREFIX,
    qr_matrix,
)

from .mutations import mutated_text


def _payload() -> bytes:
    a = IdentityKeyPair.generate(random.Random(1).randbytes).public
    b = IdentityKeyPair.generate(random.Random(2).randbytes).public
    return compute_safety_number(a, b).qr_payload()


PAYLOAD = _payload()


def test_text_is_prefix_and_alphanumeric_base32() -> None:
    text = qr_text(PAYLOAD)
    assert text.startswith(QR_TEXT_PREFIX)
    alnum = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert set(text) <= alnum  # QR alphanumeric mode: denser than bytes
    assert "=" not in text


def test_text_round_trip_and_scan_matches() -> None:
    scanned = parse_qr_text(qr_text(PAYLOAD))
    assert scanned == PAYLOAD
    a = IdentityKeyPair.generate(random.Random(1).randbytes).public
    b = IdentityKeyPair.generate(random.Random(2).randbytes).public
    assert compute_safety_number(b, a).verify_scan(scanned) is ScanResult.MATCH


def test_parse_is_lenient_on_case_and_whitespace() -> None:
    assert parse_qr_text("  " + qr_text(PAYLOAD).lower() + "\n") == PAYLOAD


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "hello",
        "https://example.com/",
        QR_TEXT_PREFIX,
        "CONFIDE-SN2:" + qr_text(b"abc")[len(QR_TEXT_PREFIX) :],
        QR_TEXT_PREFIX + "A",  # impossible base32 length
        QR_TEXT_PREFIX + "MFRGG1",  # '1' is not base32
        QR_TEXT_PREFIX + "MFRGG===",  # padding is never written
        QR_TEXT_PREFIX + "MFRGH",  # non-zero trailing bits: not canonical
        QR_TEXT_PREFIX + "A" * 400,  # longer than any payload we accept
        "x" * 100_000,
    ],
)
def test_parse_refuses_junk(junk: str) -> None:
    with pytest.raises(QRPayloadError):
        parse_qr_text(junk)


def test_qr_text_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError, match="1 to MAX_QR_PAYLOAD_LEN"):
        qr_text(b"")
    with pytest.raises(ValueError, match="1 to MAX_QR_PAYLOAD_LEN"):
        qr_text(b"\x00" * (MAX_QR_PAYLOAD_LEN + 1))
    assert parse_qr_text(qr_text(b"\xff" * MAX_QR_PAYLOAD_LEN)) == b"\xff" * MAX_QR_PAYLOAD_LEN


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=MAX_QR_PAYLOAD_LEN))
def test_round_trip_any_payload(payload: bytes) -> None:
    assert parse_qr_text(qr_text(payload)) == payload


def check_parse(text: str) -> None:
    """Whatever parses is the canonical text of its payload, up to surrounding whitespace and letter case;
    anything else is a QRPayloadError."""
    try:
        payload = parse_qr_text(text)
    except QRPayloadError:
        return
    assert qr_text(payload) == text.strip().upper()


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_parse_arbitrary_text_is_canonical_or_refused(text: str) -> None:
    check_parse(text)


@settings(max_examples=200)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=", max_size=220))
def test_parse_prefixed_base32ish_is_canonical_or_refused(body: str) -> None:
    check_parse(QR_TEXT_PREFIX + body)


_SCANNED_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcxyz01890=-: \n\t"


@settings(max_examples=300)
@given(mutated_text(qr_text(PAYLOAD), _SCANNED_ALPHABET))
def test_parse_damaged_scan_is_canonical_or_refused(text: str) -> None:
    check_parse(text)


def _decode_terminal(text: str, dark_background: bool) -> list[list[bool]]:
    rows: list[list[bool]] = []
    for line in text.rstrip("\n").split("\n"):
        top = [ch in "\u2588\u2580" for ch in line]
        bottom = [ch in "\u2588\u2584" for ch in line]
        rows += [top, bottom]
    if dark_background:  # drawn cells are light modules
        rows = [[not cell for cell in row] for row in rows]
    return rows


@pytest.mark.parametrize("dark_background", [True, False])
def test_terminal_rendering_encodes_the_matrix(dark_background: bool) -> None:
    text = qr_terminal(PAYLOAD, dark_background=dark_background)
    assert text.strip()
    lines = text.rstrip("\n").split("\n")
    assert len({len(line) for line in lines}) == 1
    assert set("".join(lines)) <= {"\u2588", "\u2580", "\u2584", " "}
    matrix = qr_matrix(PAYLOAD, border=QR_TERMINAL_BORDER)
    decoded = _decode_terminal(text, dark_background)
    assert decoded[: len(matrix)] == matrix
    assert len(decoded) == len(matrix) + 1  # odd module count, padded with one background half row


def test_matrix_is_the_qr_of_the_text() -> None:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(qr_text(PAYLOAD), optimize=0)
    code.make(fit=True)
    assert qr_matrix(PAYLOAD, border=0) == [[bool(c) for c in row] for row in code.get_matrix()]


def test_png_is_valid_with_expected_size(tmp_path: Path) -> None:
    path = tmp_path / "safety.png"
    write_qr_png(PAYLOAD, path)
    modules = len(qr_matrix(PAYLOAD, border=0))
    expected = (modules + 2 * QR_BORDER) * QR_BOX_SIZE
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (expected, expected)
        grey = image.convert("L")
        assert grey.getpixel((0, 0)) == 255  # quiet zone is white
        corner = QR_BORDER * QR_BOX_SIZE
        assert grey.getpixel((corner, corner)) == 0  # finder pattern is black
        matrix = qr_matrix(PAYLOAD, border=0)
        for r in range(modules):
            for c in range(modules):
                x = corner + c * QR_BOX_SIZE + QR_BOX_SIZE // 2
                y = corner + r * QR_BOX_SIZE + QR_BOX_SIZE // 2
                assert (grey.getpixel((x, y)) == 0) == matrix[r][c]


def test_png_accepts_str_path(tmp_path: Path) -> None:
    path = str(tmp_path / "s.png")
    write_qr_png(PAYLOAD, path)
    assert Path(path).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
