"""QR codes for safety-number payloads: the text inside the code, a terminal rendering and a PNG file.

The QR holds the text ``"CONFIDE-SN1:" || BASE32(payload)`` (RFC 4648 upper case, no padding). Every
character of it is in the QR alphanumeric set, so the code is denser than the raw bytes would be; the
prefix lets a scanner reject other people's QR codes before decoding anything. The payload itself is
versioned (see :mod:`confide.keys.safety`); the prefix versions only this text wrapping.
"""

from __future__ import annotations

import base64
import binascii
import os

import qrcode
import qrcode.constants
import qrcode.image.pure

from .errors import QRPayloadError

QR_TEXT_PREFIX = "CONFIDE-SN1:"
"""Marks a Confide safety-number QR (text wrapping version 1)."""
QR_TEXT_WHITESPACE = " \t\n\r"
"""What a scanned text may have around it (a scanner app's trailing newline): ASCII space, tab, LF, CR. Only
these are stripped, so every implementation accepts exactly the same texts (protocol/SPEC.md section 10.5)."""
MAX_QR_PAYLOAD_LEN = 128
"""A version-1 safety-number payload is 65 bytes; twice that leaves room for a successor while keeping the
code small enough (QR version <= 10) to scan off a phone screen, and bounds what a scan makes us decode."""
MAX_QR_TEXT_LEN = len(QR_TEXT_PREFIX) + (MAX_QR_PAYLOAD_LEN * 8 + 4) // 5
"""Longest text :func:`parse_qr_text` looks at; longer scans are refused before decoding."""
QR_BOX_SIZE = 8
"""Pixels per module in PNG files: about 3 cm wide on a 96-dpi screen, easy for any phone camera."""
QR_BORDER = 4
"""Quiet zone of the PNG, in modules: the 4 modules the QR standard (ISO/IEC 18004) asks for."""
QR_TERMINAL_BORDER = 2
"""Quiet zone in the terminal, in modules: the terminal's own margin adds to it, and space is scarce."""

_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
"""Level M (15% recovery): survives a glare spot or a scuffed screen without growing the code much."""

_FULL, _UPPER, _LOWER, _EMPTY = "\u2588", "\u2580", "\u2584", " "


def qr_text(payload: bytes) -> str:
    """The exact text put in the QR for ``payload``.

    Raises:
        ValueError: ``payload`` is empty or longer than :data:`MAX_QR_PAYLOAD_LEN` (a programming error).
    """
    if not 0 < len(payload) <= MAX_QR_PAYLOAD_LEN:
        raise ValueError("a QR payload is 1 to MAX_QR_PAYLOAD_LEN bytes")
    return QR_TEXT_PREFIX + base64.b32encode(bytes(payload)).decode("ascii").rstrip("=")


def parse_qr_text(text: str) -> bytes:
    """The payload inside a scanned QR text (surrounding :data:`QR_TEXT_WHITESPACE` and ASCII letter case are
    ignored; any non-ASCII character makes it invalid).

    Raises:
        QRPayloadError: not a Confide safety-number code, too long, or not canonical base32.
    """
    if not isinstance(text, str) or len(text) > MAX_QR_TEXT_LEN + 64:
        raise QRPayloadError("this QR code is not a Confide safety number; scan your contact's code")
    normalized = text.strip(QR_TEXT_WHITESPACE)
    if not normalized.isascii():  # upper() would map some non-ASCII letters to ASCII ones ("ß" -> "SS")
        raise QRPayloadError("this QR code is not a Confide safety number; scan your contact's code")
    normalized = normalized.upper()
    if not normalized.startswith(QR_TEXT_PREFIX) or len(normalized) > MAX_QR_TEXT_LEN:
        raise QRPayloadError("this QR code is not a Confide safety number; scan your contact's code")
    body = normalized[len(QR_TEXT_PREFIX) :]
    if not body:
        raise QRPayloadError("this QR code holds no safety number; scan your contact's code again")
    try:
        payload = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError) as exc:
        raise QRPayloadError("this QR code is damaged or not from Confide; scan it again") from exc
    if not payload or qr_text(payload) != normalized:
        raise QRPayloadError("this QR code is damaged or not from Confide; scan it again")
    return payload


def _code(payload: bytes, border: int) -> qrcode.QRCode:
    return _text_code(qr_text(payload), border)


def _text_code(text: str, border: int) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=_ERROR_CORRECTION, box_size=QR_BOX_SIZE, border=border)
    code.add_data(text, optimize=0)
    code.make(fit=True)
    return code


def qr_matrix(payload: bytes, *, border: int = QR_BORDER) -> list[list[bool]]:
    """The QR modules of ``payload`` including a quiet zone of ``border`` modules; True is dark."""
    return [[bool(cell) for cell in row] for row in _code(payload, border).get_matrix()]


def qr_terminal(payload: bytes, *, dark_background: bool = True) -> str:
    """Render the QR of ``payload`` with Unicode half blocks, two module rows per text line.

    On a dark terminal (the default) light modules are drawn as blocks so the code reads dark-on-light,
    as scanners expect; pass ``dark_background=False`` for a light terminal.
    """
    return text_qr_terminal(qr_text(payload), dark_background=dark_background)


def text_qr_terminal(text: str, *, dark_background: bool = True) -> str:
    """Render a QR holding ``text`` exactly (a link code's ``CONFIDE-LINK1:...``) as :func:`qr_terminal` does."""
    matrix = [[bool(cell) for cell in row] for row in _text_code(text, QR_TERMINAL_BORDER).get_matrix()]
    if len(matrix) % 2:
        matrix.append([dark_background] * len(matrix[0]))  # a half row of plain terminal background
    lines = []
    for top, bottom in zip(matrix[0::2], matrix[1::2], strict=True):
        chars = []
        for upper_dark, lower_dark in zip(top, bottom, strict=True):
            upper = not upper_dark if dark_background else upper_dark
            lower = not lower_dark if dark_background else lower_dark
            chars.append(_FULL if upper and lower else _UPPER if upper else _LOWER if lower else _EMPTY)
        lines.append("".join(chars))
    return "\n".join(lines) + "\n"


def write_qr_png(payload: bytes, path: str | os.PathLike[str]) -> None:
    """Write the QR of ``payload`` as a 1-bit greyscale PNG (pure PyPNG, no Pillow needed).

    Raises:
        OSError: the file cannot be written.
    """
    write_text_qr_png(qr_text(payload), path)


def write_text_qr_png(text: str, path: str | os.PathLike[str]) -> None:
    """Write a QR holding ``text`` exactly (e.g. a recovery code's, see :mod:`confide.keys.recovery`) as a PNG.

    Raises:
        OSError: the file cannot be written.
    """
    image = _text_code(text, QR_BORDER).make_image(image_factory=qrcode.image.pure.PyPNGImage)
    with open(path, "wb") as stream:
        image.save(stream)
