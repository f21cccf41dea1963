"""What every verb shares: which profile (``--profile`` or ``CONFIDE_PROFILE``), how costly its passphrase
hashing is (``CONFIDE_KDF=test`` for throwaway profiles), and opening it."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from confide.client import DEFAULT_KDF, INSECURE_TEST_KDF, Client, KdfParams

from .prompts import passphrase

ENV_PROFILE = "CONFIDE_PROFILE"
ENV_KDF = "CONFIDE_KDF"
DEFAULT_PROFILE = "~/.confide"


def profile_dir(args: argparse.Namespace) -> Path:
    """The profile directory: ``--profile``, else ``CONFIDE_PROFILE``, else ``~/.confide``."""
    return Path(os.path.expanduser(args.profile or os.environ.get(ENV_PROFILE) or DEFAULT_PROFILE))


def kdf(args: argparse.Namespace) -> KdfParams:
    """The passphrase hashing for a new profile: the cheap test setting only when asked for explicitly."""
    return INSECURE_TEST_KDF if args.kdf_test or os.environ.get(ENV_KDF) == "test" else DEFAULT_KDF


@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace, *, stdin_is_message: bool = False) -> AsyncIterator[Client]:
    """Unlock the selected profile (passphrase from the environment or the terminal); closed on exit.

    ``stdin_is_message``: standard input carried the message, so the passphrase is asked on the terminal
    itself (``/dev/tty``) when there is one.
    """
    async with Client.open(profile_dir(args), passphrase(use_tty=stdin_is_message)) as client:
        yield client
