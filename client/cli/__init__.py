"""The ``confide`` command: a thin layer over :class:`confide.client.Client`.

Every verb is one library call an integrator could make too, plus rendering: what a peer wrote reaches the
terminal only through :mod:`.render`, which escapes it, and every ``--json`` output is
:mod:`confide.client.export`'s form. Errors print one readable line on stderr and exit with a code per error
class (:data:`EXIT_CODES`, listed in ``confide --help`` and the README); never a traceback.

Modules: :mod:`.entry` (``main``), :mod:`.parser`, :mod:`.exits`, :mod:`.options` (profile selection),
:mod:`.prompts`, :mod:`.files`, :mod:`.progress`, :mod:`.render`, and the verbs by group: :mod:`.profile`,
:mod:`.contacts`, :mod:`.messages`, :mod:`.trust`, :mod:`.serve`, :mod:`.demo`.
"""

from .entry import main
from .exits import (
    EXIT_ATTACHMENT,
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_OS,
    EXIT_PASSPHRASE,
    EXIT_PROFILE,
    EXIT_PROTOCOL,
    EXIT_RELAY,
    EXIT_UNREACHABLE,
    EXIT_UNTRUSTED,
    EXIT_USAGE,
    EXIT_VERIFY,
)
from .parser import build_parser

__all__ = [
    "EXIT_ATTACHMENT",
    "EXIT_CODES",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_OS",
    "EXIT_PASSPHRASE",
    "EXIT_PROFILE",
    "EXIT_PROTOCOL",
    "EXIT_RELAY",
    "EXIT_UNREACHABLE",
    "EXIT_UNTRUSTED",
    "EXIT_USAGE",
    "EXIT_VERIFY",
    "build_parser",
    "main",
]
