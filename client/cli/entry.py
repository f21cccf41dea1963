"""The entry point: parse, run one verb, and turn any error into one line on stderr and an exit code."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from confide.client import ConfideError, FileExistsConflict

from . import render
from .exits import EXIT_INTERRUPTED, EXIT_USAGE, UsageError, describe, exit_code
from .parser import build_parser
from .serve import serve


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``confide`` console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        return serve(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code: int = asyncio.run(args.func(args))
        return code
    except UsageError as exc:
        print(render.error_line(args.command, str(exc)), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(render.error_line(None, "interrupted"), file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as exc:  # durations, names, passphrases: user input checked by the library
        print(render.error_line(args.command, str(exc)), file=sys.stderr)
        return EXIT_USAGE
    except (ConfideError, OSError) as exc:
        message = str(exc) or describe(exc)
        if isinstance(exc, FileExistsConflict):
            message = f"{exc.path} already exists; nothing was written (add --force to replace it)"
        if isinstance(exc, OSError) and exc.strerror:
            message = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
        print(render.error_line(args.command, message), file=sys.stderr)
        return exit_code(exc)
