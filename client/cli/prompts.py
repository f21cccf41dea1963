"""Secrets a person types: the passphrase, a new passphrase, the recovery code.

Each comes from its environment variable (for scripts) or, in a terminal, from a prompt that does not echo.
With neither, the command stops with a line that names the variable to set.
"""

from __future__ import annotations

import getpass
import os
import sys

from confide.client import ProfileError

from .exits import UsageError

ENV_PASSPHRASE = "CONFIDE_PASSPHRASE"  # noqa: S105 - the name of an environment variable
ENV_NEW_PASSPHRASE = "CONFIDE_NEW_PASSPHRASE"  # noqa: S105 - the name of an environment variable
ENV_RECOVERY_CODE = "CONFIDE_RECOVERY_CODE"


def passphrase(*, confirm: bool = False, prompt: str = "Passphrase") -> str:
    """The passphrase from ``CONFIDE_PASSPHRASE`` or the terminal (asked twice with ``confirm``)."""
    env = os.environ.get(ENV_PASSPHRASE)
    if env:
        return env
    if not sys.stdin.isatty():
        raise ProfileError(f"no passphrase: set {ENV_PASSPHRASE} or run in a terminal")
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise ProfileError("the two passphrases differ; nothing was created")
    if not first:
        raise ProfileError("the passphrase must not be empty")
    return first


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


def confirm_wipe(profile: str) -> bool:
    """Ask in the terminal whether to destroy the profile; True only if the person types ``wipe``."""
    if not sys.stdin.isatty():
        raise UsageError("wipe needs --yes when not run in a terminal")
    return input(f"Destroy the profile in {profile} for good? Type 'wipe': ").strip() == "wipe"
