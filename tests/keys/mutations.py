"""Hypothesis strategies that damage a valid encoding, as a buggy or hostile peer would.

Random bytes almost never get past a parser's first check (a version byte, a magic, a prefix). These start
from a valid encoding and flip, insert, delete, truncate or extend, so a property reaches the parsing (and the
authentication) of every field. Edits may cancel out: a result can equal the valid input, and a property must
then expect success.
"""

from __future__ import annotations

from hypothesis import strategies as st

EDITS = ("flip", "insert", "delete", "truncate", "extend")
"""The edits, drawn one to ``max_edits`` times."""


@st.composite
def mutated(draw: st.DrawFn, valid: bytes, *, max_edits: int = 4) -> bytes:
    """``valid`` after 1 to ``max_edits`` edits: a byte XORed with a non-zero mask, bytes inserted, bytes
    deleted, the tail cut off, or bytes appended."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, max_edits))):
        edit = draw(st.sampled_from(EDITS))
        if edit == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        elif edit == "insert":
            pos = draw(st.integers(0, len(data)))
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif edit == "delete" and data:
            pos = draw(st.integers(0, len(data) - 1))
            del data[pos : pos + draw(st.integers(1, 4))]
        elif edit == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif edit == "extend":
            data += draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@st.composite
def mutated_text(draw: st.DrawFn, valid: str, alphabet: str, *, max_edits: int = 4) -> str:
    """``valid`` after 1 to ``max_edits`` edits with characters from ``alphabet``: one replaced, some
    inserted, some deleted, the tail cut off, or some appended."""
    chars = list(valid)
    text = st.text(alphabet, min_size=1, max_size=4)
    for _ in range(draw(st.integers(1, max_edits))):
        edit = draw(st.sampled_from(EDITS))
        if edit == "flip" and chars:
            chars[draw(st.integers(0, len(chars) - 1))] = draw(st.sampled_from(alphabet))
        elif edit == "insert":
            pos = draw(st.integers(0, len(chars)))
            chars[pos:pos] = draw(text)
        elif edit == "delete" and chars:
            pos = draw(st.integers(0, len(chars) - 1))
            del chars[pos : pos + draw(st.integers(1, 4))]
        elif edit == "truncate":
            del chars[draw(st.integers(0, len(chars))) :]
        elif edit == "extend":
            chars += draw(text)
    return "".join(chars)
