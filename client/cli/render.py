"""Everything a peer wrote, as it reaches the terminal: the only module that formats peer-supplied text.

Message text, captions, file names and types, contact names and addresses, message ids, the relay's reasons,
error messages (which may quote any of these): each goes through :func:`safe` before it is shown. ``safe``
turns every character that could move the cursor, erase or recolour the screen, or reorder what is shown into
a visible escape (``ESC`` becomes ``\\x1b``, a right-to-left override ``\\u202e``), so a peer can draw nothing
but plain characters. A message that spans lines keeps its line breaks, and every line after the first starts
with :data:`CONTINUATION`: no line of a message can pass for a new message from someone else. Anything shown
as one line (a name, an error) has its line breaks escaped too.

The functions return strings; the commands print them.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence

from confide.client import (
    AvailabilityInfo,
    CardAdded,
    Contact,
    CredentialInfo,
    CrisisNotice,
    DeviceInfo,
    DeviceListRefused,
    DevicesChanged,
    Direction,
    Event,
    FiledCopyKept,
    IdentityChanged,
    IssuedCredential,
    Listing,
    Message,
    MessageDeleted,
    MessageFiled,
    MessageKind,
    MessageReceived,
    MessageStatus,
    MessageSynced,
    MessageUndecryptable,
    PolicyFields,
    PracticeInfo,
    PracticeSummary,
    PracticeWarning,
    ProviderInfo,
    ProviderStatus,
    Published,
    RecordEntry,
    ReportedMessage,
    ReportReview,
    SessionReset,
    ThisDeviceRemoved,
    TimerChanged,
    Trust,
    format_duration,
)

NOTHING_REMOVED = "Nothing was removed."

CONTINUATION = "    | "
"""The prefix of every further line of a multi-line message, so that it cannot pose as a line of its own."""

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
"""Arabic letter mark, LRM/RLM, the embeddings and overrides (LRE…RLO) and the isolates (LRI…PDI): each can
reorder what the terminal shows, e.g. make ``txt.exe`` read as ``exe.txt``."""

_LINE_SEPARATORS = (0x2028, 0x2029)
"""Unicode's line and paragraph separators: some terminals and viewers break the line at them."""

_ESCAPES: dict[int, str] = {
    **{c: f"\\x{c:02x}" for c in range(0x20) if c != 0x0A},  # C0 controls (ESC, CR, BS, ...), not newline
    0x7F: "\\x7f",  # DEL
    **{c: f"\\x{c:02x}" for c in range(0x80, 0xA0)},  # C1 controls (CSI 0x9b, NEL 0x85, ...)
    **{c: f"\\u{c:04x}" for c in (*_BIDI, *_LINE_SEPARATORS)},
}


def safe(text: str) -> str:
    """``text`` with every terminal control, bidi control and line separator except ``\\n`` made visible.

    C0 controls (but newline), DEL and C1 controls become ``\\xNN``; the bidi embeddings, overrides, isolates
    and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) and U+2028/U+2029 become ``\\uNNNN``.
    Everything else, including emoji and right-to-left letters, is shown as it is.
    """
    return text.translate(_ESCAPES)


def _inline(text: str) -> str:
    """Peer text shown within one line (a name, a file name, a reason): :func:`safe`, newline escaped too."""
    return safe(text).replace("\n", "\\x0a")


def _multiline(text: str) -> str:
    """Peer text that may span lines (a message, a caption): :func:`safe`, each further line marked."""
    return safe(text.replace("\r\n", "\n")).replace("\n", "\n" + CONTINUATION)


def _time(ms: int) -> str:
    """Local date and time of a timestamp (the sender's claim: a nonsense one is shown as such, not raised)."""
    try:
        return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return "????-??-?? ??:??"


def time_left(ms: int) -> str:
    """A running timer in words, rounded down to its largest unit (never below one second): ``"40 s"``,
    ``"4 min"``, ``"2 h"``, ``"3 d"``."""
    seconds = max(1, ms // 1000)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def message_line(m: Message, now_ms: int | None = None) -> str:
    """One thread entry: ``[time] who: text  (flags)``; further lines of the text start with CONTINUATION.

    With ``now_ms``, a message whose timer is running says how long it has left ("disappears in 4 min")."""
    who = "you" if m.direction == Direction.OUT else _inline(m.peer)
    if m.kind == MessageKind.TIMER:
        return f"[{_time(m.sent_at_ms)}] {who} changed the disappearing timer"
    body = _multiline(m.text)
    if m.attachment is not None:
        a = m.attachment
        body = f"[file {_inline(a.name)}, {a.size} bytes, {_inline(a.mime)}; id {_inline(m.message_id)}]" + (
            f" {body}" if m.text else ""
        )
    flags = []
    if m.direction == Direction.OUT:
        flags.append(
            f"{m.status}: {_inline(m.failure)}" if m.status == MessageStatus.FAILED and m.failure else str(m.status)
        )
    if now_ms is not None and m.expires_at_ms is not None:
        flags.append(f"disappears in {time_left(m.expires_at_ms - now_ms)}")
    elif m.expire_after_s:
        flags.append(
            f"disappears {format_duration(m.expire_after_s)} after "
            f"{'sending' if m.direction == Direction.OUT else 'reading'}"
        )
    if m.unverified_identity:
        flags.append("UNVERIFIED IDENTITY")
    if m.filed_by_peer:
        flags.append(f"filed in your record by {_inline(m.peer)}")
    if m.filed_here:
        flags.append(f"filed in your record of {_inline(m.peer)}")
    tail = f"  ({', '.join(flags)})" if flags else ""
    return f"[{_time(m.sent_at_ms)}] {who}: {body}{tail}"


def record_line(r: RecordEntry) -> str:
    """One filed copy of a record: ``[time] who: text  (id ..., filed at ...)``, like a thread entry."""
    who = "you" if r.direction == Direction.OUT else _inline(r.peer)
    body = _multiline(r.text)
    if r.attachment is not None:
        a = r.attachment
        body = f"[file {_inline(a.name)}, {a.size} bytes, {_inline(a.mime)}]" + (f" {body}" if r.text else "")
    flags = [f"id {r.message_id}", f"filed {_time(r.filed_at_ms)}"]
    if r.kept_after_delete:
        flags.append("deleted for everyone by the sender; kept in the record")
    return f"[{_time(r.sent_at_ms)}] {who}: {body}  ({', '.join(flags)})"


def record_header(peer: str, count: int) -> str:
    """The line above a record: whose it is and how many copies it holds."""
    return f"Record of {_inline(peer)}: {count} filed message{'' if count == 1 else 's'}"


def records_exported(count: int, path: str) -> str:
    """What ``confide records export`` says once the file is written."""
    return (
        f"Wrote {count} filed message{'' if count == 1 else 's'} to {_inline(path)}. This copy is NOT encrypted: "
        "hand it to your records system."
    )


def filed(r: RecordEntry) -> str:
    """What ``confide file`` says once a message is filed (and the peer is being told)."""
    return f"Filed message {r.message_id} in your record of {_inline(r.peer)}; {_inline(r.peer)} is told."


def deleted_for_everyone(filed_by_peer: bool, peer: str) -> str:
    """What ``confide delete`` says: deleted, and whether a filed copy remains in the peer's record."""
    line = "Deleted here; the deletion was sent to your contact."
    if filed_by_peer:
        line += f" {_inline(peer)} filed this message: a filed copy remains in their record."
    return line


def event_line(e: Event) -> str | None:
    """What ``confide sync`` shows for an event, or None for events a person need not see (receipts, ...)."""
    if isinstance(e, MessageReceived):
        return message_line(e.message)
    if isinstance(e, TimerChanged):
        return f"{_inline(e.peer)} set the disappearing timer to {format_duration(e.seconds)}"
    if isinstance(e, IdentityChanged):
        peer = _inline(e.peer)
        return f"WARNING: {peer}'s identity changed; run 'confide verify {peer}' before trusting new messages"
    if isinstance(e, MessageUndecryptable):
        return f"a message from {_inline(e.peer)} could not be decrypted; ask them to send it again"
    if isinstance(e, MessageDeleted) and e.reason == "deleted":
        return f"{_inline(e.peer)} deleted a message"
    if isinstance(e, MessageFiled):
        return f"{_inline(e.peer)} filed a message in your record (id {_inline(e.message_id)})"
    if isinstance(e, FiledCopyKept):
        return (
            f"your deleted message (id {_inline(e.message_id)}) is gone from the thread, but a filed copy remains "
            f"in {_inline(e.peer)}'s record"
        )
    if isinstance(e, MessageSynced):
        return f"(from your other device) {message_line(e.message)}"
    if isinstance(e, DevicesChanged):
        return devices_changed_line(e)
    if isinstance(e, DeviceListRefused):
        whose = "your own" if not e.contact else f"{_inline(e.contact)}'s"
        return f"WARNING: refused a device list for {whose} identity ({_inline(e.reason)}); nothing changed"
    if isinstance(e, ThisDeviceRemoved):
        return THIS_DEVICE_REMOVED
    if isinstance(e, SessionReset):
        if e.by_peer:
            return f"{_inline(e.peer)} could not read {e.failed} of your messages: sent them again on a new session"
        return f"started a new session with {_inline(e.peer)} and asked them to send again what could not be read"
    return None


def _timer(c: Contact, prefix: str) -> str:
    return f"{prefix}{format_duration(c.timer_s)}" if c.timer_s else ""


def contact_line(c: Contact) -> str:
    """One line of ``confide contacts list``: ``name  address  [trust, timer]``, a request and a block marked."""
    request = "  (wrote to you first: 'confide contacts accept' to send receipts)" if c.request else ""
    blocked = f"  (blocked: 'confide unblock {_inline(c.name)}' to hear from them again)" if c.blocked else ""
    return f"{_inline(c.name)}  {_inline(c.address)}  [{c.trust}{_timer(c, ', timer ')}]{request}{blocked}"


def thread_header(c: Contact) -> str:
    """The first line of ``confide read``: whose thread, its trust state and timer."""
    return f"Thread with {_inline(c.name)} ({c.trust}{_timer(c, '; disappearing after ')})"


def contact_added(c: Contact, *, had_address: Contact | None = None, had_name: Contact | None = None) -> str:
    """Says what ``contacts add`` did, from the contact now and the contacts that had its address or its name
    before: added, renamed, updated, an identity change recorded, or a pending change rejected."""
    name = _inline(c.name)
    if had_address is not None and had_address.trust == Trust.CHANGED and c.trust != Trust.CHANGED:
        return f"Kept {name}'s pinned identity ({_inline(c.address)}); the pending identity change was rejected"
    if had_address is not None and had_address.name != c.name:
        return f"{_inline(had_address.name)} already had this invite: renamed to {name} and updated"
    if had_address is not None:
        return f"Updated the invite of {name} ({_inline(c.address)}); trust: {c.trust}"
    if c.trust == Trust.CHANGED:
        return (
            f"WARNING: this invite is for a different identity than the {name} you know. Sending to {name} is "
            f"blocked until you compare safety numbers ('confide verify {name}'), accept it ('confide accept "
            f"{name}') or reject it ('confide reject {name}')"
        )
    del had_name
    return f"Added {name} ({_inline(c.address)}); trust: {c.trust}"


def contact_accepted(c: Contact) -> str:
    """Confirms ``contacts accept``."""
    return f"Accepted {_inline(c.name)}: they now get delivery and read receipts"


def contact_blocked(c: Contact, new_invite: str | None) -> str:
    """Confirms ``block`` (and gives the new invite code after ``--rotate-invite``)."""
    line = f"Blocked {_inline(c.name)}: the relay refuses their messages; whatever still arrives is dropped."
    if new_invite is not None:
        line += f"\nYour invite code changed (the old one no longer works); give this one from now on:\n{new_invite}"
    return line


def contact_unblocked(c: Contact) -> str:
    """Confirms ``unblock``."""
    return f"Unblocked {_inline(c.name)}: they can write again once your next message reaches them"


def contact_removed(name: str) -> str:
    """Confirms ``contacts remove`` (``name`` as the user typed it)."""
    return f"Removed {_inline(name)} and everything of theirs from this device"


def identity_rejected(c: Contact) -> str:
    """Confirms ``reject``."""
    return f"Rejected the new identity; {_inline(c.name)} stays {_inline(c.address)} ({c.trust})"


def contact_renamed(c: Contact) -> str:
    """Confirms ``contacts rename``."""
    return f"Renamed to {_inline(c.name)}"


def safety_number_header(c: Contact) -> str:
    """The line above the digits of ``confide verify``."""
    return f"Safety number with {_inline(c.name)}:"


def verified(c: Contact) -> str:
    """Confirms a matching scanned safety number."""
    return f"Safety numbers match: {_inline(c.name)} is now verified."


def marked_verified(c: Contact) -> str:
    """Confirms ``verify --confirm``."""
    return f"{_inline(c.name)} marked verified."


def identity_accepted(c: Contact) -> str:
    """Confirms ``accept``."""
    return f"Accepted the new identity of {_inline(c.name)} (unverified: compare safety numbers soon)."


def timer_set(c: Contact) -> str:
    """Confirms ``expire``."""
    return f"Disappearing timer with {_inline(c.name)}: {format_duration(c.timer_s)}"


def report_written(path: str | os.PathLike[str], practice: str | None) -> str:
    """Confirms ``report``: where the report file is and which practice to send it to (its name is the
    practice's own words, from its signed policy)."""
    to = (
        f"send it to {_inline(practice)}, the practice it was franked for"
        if practice is not None
        else "no practice you trust now holds the key it was franked for: send it to the practice that did"
    )
    return (
        f"Wrote the report to {_inline(os.fspath(path))}: {to}. It is NOT encrypted (it holds the message): "
        "keep it private until then"
    )


def saved(path: str | os.PathLike[str]) -> str:
    """Confirms ``save`` (the path may end in the file name the sender chose)."""
    return f"Saved {_inline(os.fspath(path))}"


def sent(m: Message) -> str:
    """Confirms a send the relay accepted."""
    return f"Sent ({_inline(m.message_id)})"


def send_refused(m: Message) -> str:
    """The one stderr line for a message the relay refused for good, with the relay's reason if it gave one."""
    reason = f" ({m.failure})" if m.failure else ""
    return error_line("send", f"not sent: the relay refused it for good{reason}")


RECOVERY_CODE_SCANNED = (
    "this is a RECOVERY CODE, not a safety number: nothing was checked. Never show it, send it or read it out "
    "to anyone, your contact included: with it and your backup file, anyone can take over your address"
)
"""What ``verify --scan`` says (exit code 9) when given a recovery code instead of a contact's safety number."""


def not_sent_unreachable(peer: str) -> str:
    """Why a send that raised :class:`RelayUnreachable` kept nothing: it was the first message to ``peer``,
    whose keys must be fetched from the relay first (the library's contract: a send that raises keeps
    nothing)."""
    return (
        f"not sent: the relay is unreachable and you have never written to {_inline(peer)} before (their keys "
        "must be fetched first); nothing was kept: send it again when you are online"
    )


def _until(seconds: int) -> str:
    """A validity date (UTC) from a signed document; a nonsense one is shown as such, not raised."""
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d")
    except (ValueError, OverflowError, OSError):
        return "????-??-??"


def _credential(p: ProviderInfo) -> str:
    return (
        f"{_inline(p.display_name)}, licence {_inline(p.licence_number)}, {_inline(p.licensing_body)}, "
        f"{_inline(p.jurisdiction)}, valid until {_until(p.not_after)}"
    )


def provider_line(p: ProviderInfo) -> str:
    """What trusted practices say of a contact (``contacts list``, ``read``): a tick only for a verified
    provider, a warning for every other state (every text the practice's: escaped)."""
    practice = _inline(p.practice_name) or _inline(p.practice_address)
    name = _inline(p.display_name)
    match p.status:
        case ProviderStatus.VERIFIED:
            return f"\u2713 verified provider of {practice}: {_credential(p)}"
        case ProviderStatus.REVOCATIONS_STALE:
            return (
                f"? provider of {practice}: {_credential(p)}; BUT the practice's revocation list is missing or out of "
                "date, so a revocation may be hidden: 'confide practices refresh', and be careful until it is current"
            )
        case ProviderStatus.OTHER_KEY:
            return (
                f"WARNING: the credential shown for this contact ({name}) was issued to ANOTHER identity key: "
                "this is not that therapist"
            )
        case ProviderStatus.REVOKED:
            return f"WARNING: {practice} has REVOKED the credential of {name}: not a provider of that practice"
        case ProviderStatus.EXPIRED:
            return f"WARNING: the credential of {name} from {practice} EXPIRED on {_until(p.not_after)}"
        case ProviderStatus.NOT_YET_VALID:
            return f"WARNING: the credential of {name} from {practice} is NOT VALID YET"
        case ProviderStatus.UNTRUSTED_PRACTICE:
            return (
                f"not verified: the credential of {name} is signed by a practice you do not trust "
                f"({_inline(p.practice_address)}); it proves nothing here"
            )
    return "not verified: no practice you trust vouches for this contact"


def contact_lines(c: Contact) -> list[str]:
    """A contact of ``contacts list``: :func:`contact_line`, then what trusted practices say, indented."""
    return [contact_line(c)] + ([f"    {provider_line(c.provider)}"] if c.provider is not None else [])


def availability_line(line: str) -> str:
    """The therapist's availability (``Dr. Rivera usually replies within one day; ...``), quoting their name."""
    return _inline(line)


def crisis_notice_lines(n: CrisisNotice) -> list[str]:
    """A practice's crisis notice, its numbers one per line (the practice's words: escaped)."""
    lines = [f"Crisis notice from {_inline(n.practice_name)}:", f"    {_multiline(n.text)}"]
    lines += [f"    {_inline(c.label)}: {_inline(c.number)}" for c in n.contacts]
    return lines


def practice_warning(w: PracticeWarning) -> str:
    """One warning about a trusted practice's documents."""
    return f"WARNING ({_inline(w.practice_name)}): {_inline(w.text)}"


def practice_lines(p: PracticeInfo) -> list[str]:
    """A trusted practice (``practices list``, ``practices trust``): name and address, its documents' versions
    and expiries, then each warning."""
    directory = f"directory v{p.directory_version} ({p.listed} listed)" if p.directory_version else "no directory"
    revocations = (
        f"revocations v{p.revocations_version} until {_until(p.revocations_expires_at)}"
        if p.revocations_version
        else "no revocation list"
    )
    head = f"{_inline(p.name)}  {_inline(p.address)}  [policy v{p.policy_version}, {directory}, {revocations}]"
    return [head] + [f"    {practice_warning(w)}" for w in p.warnings]


def listing_line(entry: Listing) -> str:
    """One therapist of ``confide directory``: number, name, licence, jurisdiction, status, availability."""
    status = "\u2713 verified" if entry.status == ProviderStatus.VERIFIED else f"WARNING: {entry.status}"
    line = (
        f"{entry.number:>3}. {_inline(entry.display_name)}  licence {_inline(entry.licence_number)} "
        f"({_inline(entry.licensing_body)}, {_inline(entry.jurisdiction)})  [{status}]"
    )
    line += f"  {availability_line(entry.availability)}" if entry.availability else "  (no availability card)"
    return line if entry.can_write else line + "  (no way to write listed: ask them for their contact card)"


def _day(seconds: int) -> str:
    """A date (UTC) of a document's validity; a nonsense one is shown as such, not raised."""
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d")
    except (ValueError, OverflowError, OSError):
        return "????-??-??"


_CREDENTIAL_WARNINGS = {
    "other_key": "WARNING: this credential was issued to ANOTHER identity key: it says nothing about this one",
    "expired": "WARNING: this credential has expired",
    "not_yet_valid": "WARNING: this credential is not valid yet",
}
"""What each bad dated state of a credential says (statuses from ``CredentialStatus``)."""


def credential_lines(c: CredentialInfo) -> list[str]:
    """A credential's details (the practice's words, escaped), its validity, and a warning when it is not in its
    dates or names another identity."""
    lines = [
        f"Credential signed by the practice {_inline(c.practice_address)}:",
        f"  {_inline(c.display_name)}, licence {_inline(c.licence_number)} ({_inline(c.licensing_body)}, "
        f"{_inline(c.jurisdiction)})",
        f"  valid {_day(c.not_before)} to {_day(c.not_after)}",
    ]
    warning = _CREDENTIAL_WARNINGS.get(str(c.status))
    if warning is not None:
        lines.append(warning)
    return lines


def credential_imported(c: CredentialInfo, *, practice_trusted: bool) -> list[str]:
    """Confirms ``credential import``; says so when the issuing practice could not be trusted now."""
    lines = ["Imported your credential; it goes into your contact card ('confide card export').", *credential_lines(c)]
    if not practice_trusted:
        lines.append(
            f"The practice is not trusted yet (the relay gave no policy for it now): 'confide practices trust "
            f"{_inline(c.practice_address)}' later"
        )
    return lines


def availability_lines(card: AvailabilityInfo) -> list[str]:
    """This profile's availability card: version, expiry, office hours, reply time, the away period and its note
    (the note is the therapist's own words: escaped, its further lines marked)."""
    zone = _inline(card.time_zone)
    lines = [f"Availability card, version {card.version}, valid until {_day(card.expires_at)}:"]
    hours = card.hours
    lines.append(f"  office hours ({zone}): {'; '.join(_inline(h) for h in hours) if hours else 'none listed'}")
    lines.append(f"  usually replies within {_inline(card.reply_within)}")
    away = card.away
    if away is not None:
        lines.append(f"  away from {_time(away.starts_at * 1000)} until {_time(away.ends_at * 1000)}")
        if away.note:
            lines.append(f"  note: {_multiline(away.note)}")
    return lines


def card_exported(path: str | None, qr: str | None, *, credential: bool, availability: bool) -> list[str]:
    """Confirms ``card export``: where it went, what it carries, and that it is a capability."""
    carries = " and ".join(
        part for part, present in (("your credential", credential), ("your availability card", availability)) if present
    )
    lines = []
    if path is not None:
        lines.append(f"Wrote your contact card to {_inline(path)} (mode 0600)")
    if qr is not None:
        lines.append(f"Wrote its QR code to {_inline(qr)}")
    lines.append(f"It carries your invite and franking key{', ' + carries if carries else ''}.")
    if not credential:
        lines.append("It carries no credential: import the one your practice issued ('confide credential import').")
    lines.append("Whoever has it can write to you: give it only to those who should.")
    return lines


def card_added(
    c: Contact, added: CardAdded, *, had_address: Contact | None = None, had_name: Contact | None = None
) -> list[str]:
    """Says what ``contacts add NAME CARD`` did: the contact, the card's credential (details escaped, or a
    warning when it carries none or a bad one) with the provider state, and what became of its availability."""
    lines = [contact_added(c, had_address=had_address, had_name=had_name)]
    if added.credential is None:
        lines.append(f"WARNING: the card carries no credential: nothing shows that {_inline(c.name)} is licensed")
    else:
        lines += credential_lines(added.credential)
        provider = c.provider
        if provider is not None and provider.verified:
            lines.append(f"Verified provider of {_inline(provider.practice_name or provider.practice_address)}")
        elif provider is not None and str(provider.status) not in ("untrusted_practice", "missing"):
            lines.append(f"WARNING: NOT a verified provider ({provider.status}); see 'confide contacts list'")
        elif str(added.credential.status) not in _CREDENTIAL_WARNINGS:
            lines.append(
                "Not verified: you do not trust this practice; trust it only if you know it is your practice "
                f"('confide practices trust {_inline(added.credential.practice_address)}')"
            )
    if added.availability == "kept_newer":
        lines.append("Kept the newer availability card you already had from them")
    elif added.availability == "expired":
        lines.append("Their availability card on this card has expired: not kept")
    return lines


# -- a practice's own side (``confide practice ...``) -------------------------------------------------------
def _utc(seconds: int) -> str:
    """A moment (UTC, to the minute) of the practice's own records; a nonsense one is shown as such."""
    try:
        return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, OverflowError, OSError):
        return "????-??-?? ??:?? UTC"


def policy_set(fields: PolicyFields) -> str:
    """Confirms ``practice policy``: the practice's name (escaped) and how many crisis numbers it gives."""
    return f"Policy of {_inline(fields.practice_name)} set: {len(fields.crisis_contacts)} crisis number(s)."


def credential_issued(c: IssuedCredential, out: str | os.PathLike[str]) -> list[str]:
    """Confirms ``practice issue``: the credential's id, holder (name escaped) and validity, and where it went."""
    lines = [
        f"Credential {c.id_text} issued to {_inline(c.display_name)} ({_inline(c.therapist)}),",
        f"valid until {_utc(c.not_after)}; written to {_inline(os.fspath(out))}.",
        "Give the file to the therapist: 'confide credential import FILE'.",
    ]
    if c.listed:
        lines.append("They are listed in the directory from the next 'confide practice publish'.")
    return lines


def credential_revoked(c: IssuedCredential) -> str:
    """Confirms one credential ``practice revoke`` revoked."""
    return f"Revoked credential {c.id_text} of {_inline(c.display_name)} ({_inline(c.therapist)})."


def published_lines(published: Sequence[Published]) -> list[str]:
    """The last publication of each kind: kind, version and expiry, one indented line each."""
    return [f"  {p.kind_text:12} version {p.version}, expires {_utc(p.expires_at)}" for p in published]


def issued_credential_line(c: IssuedCredential) -> str:
    """One credential of ``practice show``: id, the credential's words (escaped), holder, validity, flags."""
    flags = ["listed"] if c.listed else []
    if c.revoked_at is not None:
        flags.append(f"REVOKED {_utc(c.revoked_at)}")
    extra = f"  [{', '.join(flags)}]" if flags else ""
    return (
        f"  {c.id_text}  {_inline(c.display_name)}; {_inline(c.licence_number)}, {_inline(c.licensing_body)}, "
        f"{_inline(c.jurisdiction)}; {_inline(c.therapist)}; valid until {_utc(c.not_after)}{extra}"
    )


def practice_summary_lines(s: PracticeSummary) -> list[str]:
    """``practice show``: name, address (and how clients pin it), moderation key, crisis notice and numbers
    (the practice's words: escaped), every live credential and the last publications."""
    lines = [
        f"Practice:       {_inline(s.policy.practice_name) if s.policy else '(no policy yet)'}",
        f"Address:        {_inline(s.address)}",
        f"Moderation key: {s.moderation_key.fingerprint()}",
        f"Pin it with:    confide practices trust {_inline(s.address)}",
    ]
    if s.policy is not None:
        lines.append(f"Crisis notice:  {_multiline(s.policy.crisis_notice)}")
        lines += [f"  {_inline(c.label)}: {_inline(c.number)}" for c in s.policy.crisis_contacts]
    lines.append(f"Credentials ({len(s.credentials)} live):")
    lines += [issued_credential_line(c) for c in s.credentials]
    lines.append("Published:" if s.published else "Published:      nothing yet ('confide practice publish')")
    lines += published_lines(s.published)
    return lines


def _reported_lines(m: ReportedMessage | None, proven: bool) -> list[str]:
    head = "Reported message" + ("" if proven else " (NOT proven)")
    if m is None:
        return [f"{head}: (not a readable message)"]
    if m.kind == "text":
        return [f"{head}:", f"  {_multiline(m.text)}"]
    if m.kind == "file":
        caption = f"; caption: {_multiline(m.caption)}" if m.caption else ""
        return [f"{head}: a file {_inline(m.name)} ({_inline(m.mime)}, {m.size} bytes){caption}"]
    return [f"{head}: (not a text or a file)"]


def _party(address: str, credential: str | None) -> str:
    """An address in a verdict, with the name of the practice's credential it holds (if any)."""
    return _inline(address) + (f" (credential of {_inline(credential)})" if credential is not None else "")


def review_lines(r: ReportReview) -> list[str]:
    """``practice review``: the verdict (with what each failed check means), the parties (named by the
    practice's credentials) and the reported message (the sender's words, or anyone's when not proven: escaped,
    its further lines marked)."""
    if r.authentic:
        lines = ["Verdict: AUTHENTIC: the sender sent exactly this message to the recipient."]
    else:
        lines = ["Verdict: NOT AUTHENTIC: this report proves nothing."]
        lines += [f"  - {c.reason}" for c in r.checks if not c.holds]
    lines.append(f"Sender:    {_party(r.sender_address, r.sender_credential)}")
    lines.append(f"Recipient: {_party(r.recipient_address, r.recipient_credential)}")
    return lines + _reported_lines(r.message, r.authentic)


def fields(info: Mapping[str, object]) -> list[str]:
    """``key:  value`` lines (``confide whoami``), values aligned."""
    return [f"{key + ':':13}{_inline(str(value))}" for key, value in info.items()]


def error_line(command: str | None, message: str) -> str:
    """The one line an error prints on stderr: ``confide COMMAND: message`` (the message may quote anything)."""
    where = f"confide {command}" if command else "confide"
    return f"{where}: {_inline(message)}"


THIS_DEVICE_REMOVED = (
    "this device was removed from your devices (from another of them): it receives nothing more. "
    "Wipe it with 'confide wipe', or link it again with 'confide devices link'"
)
"""What the CLI says once it learns that this device was removed."""


def _count(n: int, what: str) -> str:
    return f"a {what}" if n == 1 else f"{n} {what}s"


def devices_changed_line(e: DevicesChanged) -> str:
    """ "Dr. Rivera added a device", or for this identity a warning when a device appeared (a link or restore made
    here is expected; one you did not make means someone else holds your identity)."""
    parts = []
    if e.added:
        how = "restored their identity on" if e.restored else "added"
        parts.append(f"{how} {_count(e.added, 'new device' if e.restored else 'device')}")
    if e.removed:
        parts.append(f"removed {_count(e.removed, 'device')}")
    what = " and ".join(parts) or "changed their devices"
    if e.contact:
        return f"{_inline(e.contact)} {what} (safety numbers are unchanged)"
    own = []
    if e.added:
        own.append(
            f"it was restored on {_count(e.added, 'new device')}"
            if e.restored
            else f"{_count(e.added, 'device')} added"
        )
    if e.removed:
        own.append(f"{_count(e.removed, 'device')} removed")
    line = f"your identity's devices changed: {' and '.join(own) or 'the list was renewed'}"
    if e.added:
        line += (
            ". If you did not link or restore a device just now, someone else holds your identity: "
            "remove it ('confide devices list', 'confide devices remove ID') and make a new recovery code"
        )
    return line


def device_lines(devices: Sequence[DeviceInfo]) -> list[str]:
    """``confide devices list``: one line per device, this one marked; names are escaped (another device chose
    them)."""
    lines = []
    for d in devices:
        name = _inline(d.name) if d.name else "(no name)"
        mark = "  <- this device" if d.this_device else ""
        added = _time(d.added_at * 1000)
        lines.append(f"{d.device_id[:8]}  {name:<20}  {d.origin:<8}  added {added}{mark}")
    lines.append("Remove a lost device with 'confide devices remove ID' (the first 8 characters are enough).")
    return lines


def device_approved(d: DeviceInfo, *, history: bool) -> str:
    """``confide devices approve``: what happened."""
    name = _inline(d.name) if d.name else d.device_id[:8]
    sent = "and sent it your recent messages" if history else "(it starts with no messages)"
    return f"Approved {name} as one of your devices {sent}. Your contacts will see that you added a device."


def device_removed(device_id: str) -> str:
    """``confide devices remove``: what happened."""
    return (
        f"Removed device {_inline(device_id[:8])}: the relay closed its mailbox and your contacts stop writing to it. "
        "If it was lost or stolen while unlocked, also make a new recovery code ('confide recovery create')."
    )


def link_code_lines(code: str, qr: str | None) -> list[str]:
    """``confide devices link``: the code to type on the existing device."""
    lines = [
        "On one of your devices that already has Confide, run:",
        "",
        f"    confide devices approve {code}",
        "",
    ]
    if qr is not None:
        lines.append(f"(or give it the QR code in {qr})")
    lines.append("The code works once, for ten minutes. Waiting for the approval...")
    return lines


def history_received(error: str | None, *, wanted: bool) -> str:
    """``confide devices link``: whether the recent messages arrived."""
    if not wanted:
        return "This device starts with no messages (you chose --no-history)."
    if error is None:
        return "Your recent messages arrived from the other device."
    return f"Linked, but the recent messages did not arrive: {_inline(error)}. New messages arrive as usual."
