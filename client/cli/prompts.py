"""Secrets a person types: the passphrase, a new passphrase, the recovery code.

Each comes from its environment variable (for scripts) or, in a terminal, from a prompt that does not echo.
With neither, the command stops with a line that names the variable to set.
"""

from __future__ import annotations

import getpass
import os
import sys

from confide.client import MIN_PASSPHRASE_SCORE, ProfileError, passphrase_strength

from .exits import UsageError

ENV_PASSPHRASE = "CONFIDE_PASSPHRASE"  # noqa: S105 - the name of an environment variable
ENV_NEW_PASSPHRASE = "CONFIDE_NEW_PASSPHRASE"  # noqa: S105 - the name of an environment variable
ENV_RECOVERY_CODE = "CONFIDE_RECOVERY_CODE"


def _has_terminal() -> bool:
    """Whether this process has a controlling terminal (``getpass`` prompts on it even when stdin is a pipe)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def passphrase(
    *, confirm: bool = False, prompt: str = "Passphrase", use_tty: bool = False, env_name: str = ENV_PASSPHRASE
) -> str:
    """The passphrase from ``CONFIDE_PASSPHRASE`` (or the variable ``env_name``, e.g. a practice's) or the
    terminal (asked twice with ``confirm``).

    ``use_tty``: standard input is taken (e.g. it carries the message), so ask on the controlling terminal
    if there is one.
    """
    env = os.environ.get(env_name)
    if env:
        return env
    if not sys.stdin.isatty() and not (use_tty and _has_terminal()):
        raise ProfileError(f"no passphrase: set {env_name} or run in a terminal")
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise ProfileError("the two passphrases differ; nothing was created")
    if not first:
        raise ProfileError("the passphrase must not be empty")
    return first


WEAK_OK_FLAG = "--weak-passphrase-ok"
"""The option that keeps a passphrase scoring below :data:`MIN_PASSPHRASE_SCORE` (with a warning)."""


def check_strength(secret: str, *, allow_weak: bool, user_inputs: tuple[str, ...] = (), nothing: str) -> None:
    """Refuse a passphrase that is easy to guess (zxcvbn score below :data:`MIN_PASSPHRASE_SCORE`) unless
    ``allow_weak``; then warn on stderr. ``nothing`` says what was not done (e.g. "nothing was created").
    The passphrase itself is never printed."""
    strength = passphrase_strength(secret, user_inputs=user_inputs)
    if strength.acceptable:
        return
    if allow_weak:
        print(
            f"warning: this passphrase is easy to guess: {strength.describe()} (kept: {WEAK_OK_FLAG})", file=sys.stderr
        )
        return
    raise UsageError(
        f"this passphrase is easy to guess: {strength.describe()} A score of {MIN_PASSPHRASE_SCORE} is needed: use "
        f"several uncommon words, or give {WEAK_OK_FLAG} to keep it anyway; {nothing}"
    )


def new_passphrase() -> str:
    """The new passphrase for ``passwd``, from ``CONFIDE_NEW_PASSPHRASE`` or asked twice in the terminal."""
    env = os.environ.get(ENV_NEW_PASSPHRASE)
    if env:
        return env
    if not sys.stdin.isatty():
        raise ProfileError(f"no new passphrase: set {ENV_NEW_PASSPHRASE} or run in a terminal")
    first = getpass.getpass("New passphrase: ")
    if getpass.getpass("Repeat new passphrase: ") != first:
        raise ProfileError("the two new passphrases differ; the passphrase was not changed")
    if not first:
        raise ProfileError("the new passphrase must not be empty; the passphrase was not changed")
    return first


def recovery_code(given: str | None) -> str:
    """The recovery code: ``given`` (``--code``), ``CONFIDE_RECOVERY_CODE``, or asked in the terminal."""
    code = given or os.environ.get(ENV_RECOVERY_CODE)
    if code:
        return code
    if not sys.stdin.isatty():
        raise UsageError(f"no recovery code: give --code, set {ENV_RECOVERY_CODE} or run in a terminal")
    return getpass.getpass("Recovery code (it is not shown as you type): ")


def confirm(question: str) -> bool:
    """Ask a yes/no question in the terminal; True only for an explicit yes.

    Raises:
        UsageError: not a terminal (the command needs ``--yes`` there).
    """
    if not sys.stdin.isatty():
        raise UsageError("this needs --yes when not run in a terminal")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def confirm_wipe(profile: str) -> bool:
    """Ask in the terminal whether to destroy the profile; True only if the person types ``wipe``."""
    if not sys.stdin.isatty():
        raise UsageError("wipe needs --yes when not run in a terminal")
    return input(f"Destroy the profile in {profile} for good? Type 'wipe': ").strip() == "wipe"
