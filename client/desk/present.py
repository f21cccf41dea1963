"""What the Desk's templates show: the rows of the inbox, and the filters that turn library values into words.

Peer text reaches a page only through Jinja2 with autoescape on (HTML cannot get through); the ``peer`` and
``peer_line`` filters also make visible the controls that could reorder or break what a person reads (bidi
overrides and isolates, C0/C1 controls, line separators), as the command line does.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confide.client import (
    Client,
    Contact,
    Direction,
    MessageKind,
    MessageStatus,
    ProviderInfo,
    ProviderStatus,
    Role,
    ThreadSummary,
    Trust,
    format_duration,
)

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
"""Arabic letter mark, LRM/RLM, the embeddings and overrides and the isolates: each can reorder what a page
shows (``txt.exe`` reading as ``exe.txt``)."""

_ESCAPES: dict[int, str] = {
    **{c: f"\\x{c:02x}" for c in range(0x20) if c != 0x0A},
    0x7F: "\\x7f",
    **{c: f"\\x{c:02x}" for c in range(0x80, 0xA0)},
    **{c: f"\\u{c:04x}" for c in (*_BIDI, 0x2028, 0x2029)},
}

PREVIEW_CHARS = 80
"""Characters of a thread's last message shown in the inbox: one line of a list row."""


def peer_text(text: str) -> str:
    """Peer text that may span lines: controls (but newline), bidi controls and line separators made visible
    as ``\\xNN``/``\\uNNNN``. HTML escaping is left to the template's autoescape."""
    return text.replace("\r\n", "\n").translate(_ESCAPES)


def peer_line(text: str) -> str:
    """Peer text within one line (a name, a file name): :func:`peer_text` with newlines made visible too."""
    return peer_text(text).replace("\n", "\\x0a")


def when(ms: int | None) -> str:
    """Local date and time of a timestamp in milliseconds; a nonsense one is shown as such, never raised."""
    if ms is None:
        return ""
    try:
        return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return "????-??-?? ??:??"


def iso(ms: int | None) -> str:
    """A timestamp for a ``<time datetime>`` attribute (UTC, ISO 8601); empty for a nonsense one."""
    if ms is None:
        return ""
    try:
        return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return ""


def size(n: int) -> str:
    """A byte count in words: ``"512 bytes"``, ``"3.2 KB"``, ``"1.5 MB"``."""
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            return f"{value:.1f} {unit}"
    return f"{n} bytes"  # pragma: no cover


def duration(seconds: int) -> str:
    """A timer in words (``"off"`` for 0)."""
    return format_duration(seconds) if seconds else "off"


TRUST_WORDS: dict[Trust, str] = {
    Trust.VERIFIED: "Verified",
    Trust.UNVERIFIED: "Not verified",
    Trust.CHANGED: "Identity changed",
}
"""How a contact's trust state reads on a page."""

PROVIDER_WORDS: dict[ProviderStatus, str] = {
    ProviderStatus.VERIFIED: "Verified provider",
    ProviderStatus.OTHER_KEY: "Credential issued to someone else",
    ProviderStatus.REVOKED: "Credential revoked",
    ProviderStatus.EXPIRED: "Credential expired",
    ProviderStatus.NOT_YET_VALID: "Credential not yet valid",
    ProviderStatus.UNTRUSTED_PRACTICE: "Credential from a practice you do not trust",
    ProviderStatus.MISSING: "No credential",
    ProviderStatus.REVOCATIONS_STALE: "Credential unchecked (revocation list out of date)",
}
"""How a contact's provider state reads on a page."""

STATUS_WORDS: dict[MessageStatus, str] = {
    MessageStatus.PENDING: "Waiting to send",
    MessageStatus.SENT: "Sent",
    MessageStatus.FAILED: "Not sent",
    MessageStatus.DELIVERED: "Delivered",
    MessageStatus.READ: "Read",
    MessageStatus.UNREAD: "Unread",
}
"""How a message's status reads on a page."""


def trust_word(trust: Trust) -> str:
    """A contact's trust state in words."""
    return TRUST_WORDS.get(trust, str(trust))


def provider_word(provider: ProviderInfo | None) -> str:
    """A contact's provider state in words (empty when there is nothing to say)."""
    return "" if provider is None else PROVIDER_WORDS.get(provider.status, str(provider.status))


def status_word(status: MessageStatus) -> str:
    """A message's status in words."""
    return STATUS_WORDS.get(status, str(status))


FILTERS: dict[str, Callable[..., Any]] = {
    "peer": peer_text,
    "peer_line": peer_line,
    "when": when,
    "iso": iso,
    "size": size,
    "duration": duration,
    "trust_word": trust_word,
    "provider_word": provider_word,
    "status_word": status_word,
}
"""The Jinja2 filters the Desk's templates use."""

GLOBALS: dict[str, Any] = {
    "Direction": Direction,
    "MessageKind": MessageKind,
    "MessageStatus": MessageStatus,
    "Trust": Trust,
    "ProviderStatus": ProviderStatus,
}
"""Names the templates compare against."""


@dataclass(frozen=True, slots=True)
class ThreadRow:
    """One row of the inbox: the contact, when the thread last moved, a preview of its last message (plaintext,
    so hidden from ``repr``), unread count, since when an incoming message waits for a reply (None: nothing
    waits), and whether the contact shows as a provider (:func:`is_provider`)."""

    contact: Contact = field(repr=False)
    last_ms: int
    preview: str = field(repr=False)
    unread: int
    waiting_since_ms: int | None
    provider: bool


def _preview(kind: MessageKind, text: str, file_name: str | None) -> str:
    if kind == MessageKind.TIMER:
        return "Disappearing timer changed"
    if file_name is not None:
        return f"File: {file_name}" + (f" — {text}" if text else "")
    return text[:PREVIEW_CHARS]


def is_provider(contact: Contact) -> bool:
    """Whether a contact shows as a provider (a therapist): some practice this profile trusts has a credential
    naming them, good or not (a revoked or expired one is shown as such, never hidden)."""
    return contact.provider is not None and contact.provider.status != ProviderStatus.MISSING


def _row(summary: ThreadSummary) -> ThreadRow:
    last = summary.last_message
    preview = ""
    if last is not None:
        preview = _preview(last.kind, last.text, last.attachment.name if last.attachment else None)
    return ThreadRow(
        contact=summary.contact,
        last_ms=summary.last_activity_ms or 0,
        preview=preview,
        unread=summary.unread,
        waiting_since_ms=summary.waiting_since_ms,
        provider=is_provider(summary.contact),
    )


def inbox_rows(client: Client) -> list[ThreadRow]:
    """Every thread, most recent activity first; for a client's profile their therapists come first.

    Raises:
        StorageError: the profile's store failed.
    """
    rows = [_row(summary) for summary in client.threads()]
    rows.sort(key=lambda r: r.last_ms, reverse=True)
    if client.role == Role.CLIENT:
        rows.sort(key=lambda r: not r.provider)
    return rows
