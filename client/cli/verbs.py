"""The type of the function that adds one verb to the ``confide`` parser (see :func:`.parser.build_parser`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
"""A verb: takes the parsed arguments, returns the exit code."""

AddVerb = Callable[[str, Command, str], argparse.ArgumentParser]
"""``add(name, func, help)``: add the verb ``name`` running ``func``; returns its parser."""
