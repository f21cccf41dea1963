"""The text rules of signed practice documents: what a practice or a therapist may put in a name or a note.

Every text is UTF-8 in Unicode normalisation form NFC (so one string has one encoding, and two documents that
look the same are the same bytes). A *line* (names, licence numbers, labels, phone numbers) holds no control
character at all (general category Cc: C0, DEL and C1), no line or paragraph separator, and no bidirectional
control; a *paragraph* (the crisis notice, an out-of-office note) may also hold LF (U+000A). The bidirectional
controls are the ones :mod:`confide.protocol.content` refuses in file names: ``Dr. <U+202E>aveR`` could display
as another name, and a crisis number could display with its digits reordered.

Building a document normalises its texts to NFC and raises ``ValueError`` for everything else; parsing
refuses a text that is not already NFC, or breaks a rule, with :class:`DocumentError`.
"""

from __future__ import annotations

import unicodedata

from .document_errors import DocumentError

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Arabic letter mark, left-to-right and right-to-left marks, embeddings, overrides and isolates: the
characters that reorder what is displayed (the same set as file names in SPEC section 8)."""
_SEPARATORS = frozenset("\u2028\u2029")
"""Line and paragraph separators: a line must display on one line, and a paragraph breaks only at LF."""


def normalise(what: str, value: str, limit: int, *, paragraph: bool = False, empty: bool = False) -> str:
    """``value`` in NFC, checked against the rules (a programmer's or user's input).

    Raises:
        TypeError: ``value`` is not a ``str``.
        ValueError: a lone surrogate, a forbidden character, empty (unless ``empty``), or longer than
            ``limit`` UTF-8 bytes once normalised.
    """
    if not isinstance(value, str):
        raise TypeError(f"the {what} must be a str")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"the {what} is not valid Unicode (lone surrogate)") from None
    text = unicodedata.normalize("NFC", value)
    problem = _problem(text, limit, paragraph=paragraph, empty=empty)
    if problem:
        raise ValueError(f"the {what} {problem}")
    return text


def decode(what: str, data: bytes, limit: int, *, paragraph: bool = False, empty: bool = False) -> str:
    """Decode a text field of a received document, refusing anything :func:`normalise` would change.

    Raises:
        DocumentError: invalid UTF-8, not NFC, a forbidden character, empty (unless ``empty``) or too long.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentError(f"the {what} is not valid UTF-8") from None
    if not unicodedata.is_normalized("NFC", text):
        raise DocumentError(f"the {what} is not in Unicode normalisation form NFC")
    problem = _problem(text, limit, paragraph=paragraph, empty=empty)
    if problem:
        raise DocumentError(f"the {what} {problem}")
    return text


def _problem(text: str, limit: int, *, paragraph: bool, empty: bool) -> str:
    """What is wrong with an NFC ``text``, or ``""``."""
    if not text and not empty:
        return "is empty"
    if len(text.encode("utf-8")) > limit:
        return f"is longer than {limit} UTF-8 bytes"
    for char in text:
        if char == "\n" and paragraph:
            continue
        if unicodedata.category(char) == "Cc" or char in _SEPARATORS:
            return "holds a control character" + (" (only newline is allowed)" if paragraph else "")
        if char in BIDI_CONTROLS:
            return "holds a text-direction control character"
    return ""
