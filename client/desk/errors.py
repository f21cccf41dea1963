"""The Desk's own errors, under :class:`confide.client.ConfideError` (the ``confide`` command maps them to an
exit code and one line, like every other Confide error)."""

from __future__ import annotations

from confide.client import ConfideError


class DeskError(ConfideError):
    """Base of errors raised by the Desk web app."""


class NotLoopback(DeskError):
    """The Desk was asked to listen elsewhere than on 127.0.0.1: it serves plaintext to whoever can connect,
    so it refuses to bind anywhere another device (or a container's neighbour) could reach."""
