"""``confide serve``: the relay, whose own parser (:mod:`confide.server.cli`) takes the rest of the line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def serve(argv: Sequence[str]) -> int:
    """Parse ``argv`` with the relay's options and run it until stopped; returns the exit code."""
    from confide.server.cli import add_serve_arguments, run_serve  # lazily: the client does not need the relay

    parser = argparse.ArgumentParser(prog="confide serve", description="Run the Confide relay.")
    add_serve_arguments(parser)
    code: int = run_serve(parser.parse_args(list(argv)))
    return code
