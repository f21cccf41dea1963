"""Exit codes: one per class of error a person can act on (listed in ``confide --help`` and the README)."""

from __future__ import annotations

from confide.client import (
    AttachmentError,
    ConfideError,
    CredentialError,
    DeviceRemoved,
    FileExistsConflict,
    InvalidLinkCode,
    KeyStoreError,
    KeySubstitution,
    LinkCodeCheckFailed,
    NotAPractice,
    PracticeNotReady,
    PracticeUnavailable,
    ProfileError,
    ProfileWipedError,
    ProtocolError,
    QRPayloadError,
    RelayError,
    RelayUnreachable,
    StorageError,
    UnknownContact,
    UnknownCredential,
    UnknownListing,
    UnknownMessage,
    UnknownPractice,
    UntrustedIdentity,
    VerificationFailed,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PASSPHRASE = 3
EXIT_PROFILE = 4
EXIT_UNREACHABLE = 5
EXIT_RELAY = 6
EXIT_UNTRUSTED = 7
EXIT_NOT_FOUND = 8
EXIT_VERIFY = 9
EXIT_ATTACHMENT = 10
EXIT_PROTOCOL = 11
EXIT_OS = 12
EXIT_WIPED = 13
"""The profile was wiped (``confide wipe`` in another terminal) while this command had it open."""
EXIT_INTERRUPTED = 130

EXIT_CODES: list[tuple[type[BaseException], int, str]] = [
    (KeyStoreError, EXIT_PASSPHRASE, "wrong passphrase or recovery code, or a damaged key store or backup"),
    (ProfileWipedError, EXIT_WIPED, "the profile was wiped while in use ('confide wipe' elsewhere); stopped"),
    (ProfileError, EXIT_PROFILE, "no profile, profile exists or incomplete, or the local store is damaged"),
    (StorageError, EXIT_PROFILE, "the local store is damaged or belongs to another key store"),
    (DeviceRemoved, EXIT_PROFILE, "this device was removed from your devices: wipe it, or link it again"),
    (NotAPractice, EXIT_PROFILE, "this profile is not a practice's ('confide practice init' makes one)"),
    (PracticeNotReady, EXIT_PROFILE, "the practice's set-up is incomplete (init, then policy)"),
    (RelayUnreachable, EXIT_UNREACHABLE, "the relay cannot be reached (what was queued stays queued)"),
    (RelayError, EXIT_RELAY, "the relay refused the request or the message"),
    (UntrustedIdentity, EXIT_UNTRUSTED, "the contact's identity changed: verify or accept first"),
    (KeySubstitution, EXIT_UNTRUSTED, "the relay served keys that are not the contact's: nothing was sent"),
    (UnknownContact, EXIT_NOT_FOUND, "no such contact or message"),
    (UnknownMessage, EXIT_NOT_FOUND, "no such message"),
    (UnknownPractice, EXIT_NOT_FOUND, "no trusted practice of that name or address"),
    (PracticeUnavailable, EXIT_NOT_FOUND, "the relay holds no valid policy for that practice address"),
    (UnknownListing, EXIT_NOT_FOUND, "the practice's directory lists no such therapist"),
    (UnknownCredential, EXIT_NOT_FOUND, "no such credential of this practice"),
    (VerificationFailed, EXIT_VERIFY, "safety numbers do not match, or the code is not a safety number"),
    (QRPayloadError, EXIT_VERIFY, "not a safety-number code"),
    (LinkCodeCheckFailed, EXIT_VERIFY, "the link code did not match (a typo, or someone interfered): nothing changed"),
    (InvalidLinkCode, EXIT_USAGE, "not a link code (12 letters and digits, XXXX-XXXX-XXXX)"),
    (CredentialError, EXIT_VERIFY, "the credential names another identity, or there is none"),
    (
        AttachmentError,
        EXIT_ATTACHMENT,
        "an attachment could not be sent, fetched or saved (or the file to send is unreadable)",
    ),
    (ProtocolError, EXIT_PROTOCOL, "malformed data from the relay or a peer"),
    (FileExistsConflict, EXIT_OS, "a local file could not be read or written, or exists already (see --force)"),
    (ConfideError, EXIT_ERROR, "any other Confide error (invalid invite, contact exists, ...)"),
    (OSError, EXIT_OS, "a local file could not be read or written"),
]
"""Exit code per error class, first match wins. The first row of each code describes the code in
``confide --help`` and the README (``tests/client/test_cli_safety.py`` checks that the README agrees)."""


class UsageError(Exception):
    """A command-line mistake found after parsing (exit code 2, like argparse's own)."""


def exit_code(exc: BaseException) -> int:
    """The exit code for ``exc``: the first matching row of :data:`EXIT_CODES`, else :data:`EXIT_ERROR`."""
    for cls, code, _ in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_ERROR


def describe(exc: BaseException) -> str:
    """Plain words for an error that carries no message of its own (never its class name)."""
    for cls, _code, text in EXIT_CODES:
        if isinstance(exc, cls):
            return text
    return "an unexpected error"


def exit_code_table() -> list[tuple[int, str]]:
    """Every exit code with its description, in order: what ``confide --help`` and the README list."""
    rows = [(EXIT_OK, "success"), (EXIT_USAGE, "bad command line")]
    seen = {EXIT_OK, EXIT_USAGE}
    for _cls, code, text in EXIT_CODES:
        if code not in seen:
            seen.add(code)
            rows.append((code, text))
    rows.append((EXIT_INTERRUPTED, "interrupted"))
    return sorted(rows)


def exit_codes_help() -> list[str]:
    """The ``exit codes:`` section of ``confide --help``, one line per distinct code."""
    return ["exit codes:", *(f"  {code:3}  {text}" for code, text in exit_code_table())]
