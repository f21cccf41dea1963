"""Disappearing-message arithmetic and durations, kept apart from I/O so tests can pass ``now``.

A thread has a timer (seconds, 0 = off) that either side may set; a message may override it. The sender's
copy expires ``expire_after_s`` after sending; the receiver's copy after it is read. The relay is asked to
keep an envelope no longer than the timer, so an unread message does not outlive its timer on the relay.
"""

from __future__ import annotations

import re

from confide.protocol.content import MAX_TIMER_S

MIN_TIMER_S = 1
"""Shortest non-zero timer; one second is enough for tests and demos, anything shorter is meaningless."""

EXPIRY_SWEEP_INTERVAL_S = 5.0
"""How often an open client deletes expired messages: short enough that a 1-minute timer is honoured to
within a few seconds, long enough to cost nothing."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)([smhdw]?)")


def parse_duration(text: str) -> int:
    """Parse ``"90"``, ``"30s"``, ``"10m"``, ``"1h30m"``, ``"2d"``, ``"1w"`` or ``"off"`` into seconds.

    Raises:
        ValueError: not a duration, or longer than :data:`MAX_TIMER_S`.
    """
    compact = text.strip().lower()
    if compact in ("off", "0", "none", "never"):
        return 0
    pos, total = 0, 0
    while pos < len(compact):
        m = _PART.match(compact, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"{text!r} is not a duration; use e.g. 30s, 10m, 1h, 2d, 1w or off")
        total += int(m.group(1)) * _UNITS[m.group(2) or "s"]
        pos = m.end()
    if total > MAX_TIMER_S:
        raise ValueError("a disappearing timer can be at most one year")
    return total


def format_duration(seconds: int) -> str:
    """Human form of a duration: ``0`` → ``"off"``, ``3600`` → ``"1h"``, ``5400`` → ``"1h30m"``."""
    if seconds <= 0:
        return "off"
    parts = []
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def check_timer(seconds: int) -> int:
    """Validate a timer value (0 = off). Raises ``ValueError`` when out of range."""
    if seconds != 0 and not MIN_TIMER_S <= seconds <= MAX_TIMER_S:
        raise ValueError("a disappearing timer is 0 (off) or between 1 second and one year")
    return seconds


def relay_lifetime(expire_after_s: int) -> int:
    """The envelope/blob lifetime to ask the relay for: the timer when set, else 0 (the operator maximum).

    The relay caps any value at its own maximum, so min(timer, relay max) is what is kept.
    """
    return expire_after_s if expire_after_s > 0 else 0


def expiry_from(start_ms: int, expire_after_s: int) -> int | None:
    """When a copy started at ``start_ms`` expires, or ``None`` when no timer applies."""
    return start_ms + expire_after_s * 1000 if expire_after_s > 0 else None
