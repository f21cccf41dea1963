"""The ``confide`` verbs of this part of the practice layer (issue 11); filled in by its owner."""

from __future__ import annotations

import argparse

from .verbs import AddVerb


def register(add: AddVerb, common: argparse.ArgumentParser) -> None:
    """Add this module's verbs to the ``confide`` parser (``add(name, func, help)`` adds one verb; give
    sub-parsers ``parents=[common]``)."""
