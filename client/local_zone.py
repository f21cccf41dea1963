"""The IANA name of this device's time zone, for showing a therapist's office hours in the reader's own time.

Read from ``TZ`` (an IANA name, optionally with a leading ``:``), else from where ``/etc/localtime`` points
(``.../zoneinfo/Europe/Berlin``); ``UTC`` when neither names a zone this machine knows.
"""

from __future__ import annotations

import os
from pathlib import Path

from confide.protocol.document_bodies import time_zone

FALLBACK_ZONE = "UTC"
"""The zone used when the device's own cannot be named: times are then shown in UTC, never guessed."""
_LOCALTIME = Path("/etc/localtime")
_ZONEINFO_MARK = "zoneinfo/"


def _known(name: str) -> bool:
    try:
        time_zone(name)
    except ValueError:
        return False
    return True


def local_zone_name(localtime: Path = _LOCALTIME) -> str:
    """This device's IANA time zone name (see the module docstring); never raises."""
    env = os.environ.get("TZ", "").removeprefix(":")
    if env and _known(env):
        return env
    try:
        target = str(localtime.resolve(strict=True))
    except (OSError, RuntimeError):
        return FALLBACK_ZONE
    if _ZONEINFO_MARK in target:
        name = target.rsplit(_ZONEINFO_MARK, 1)[1]
        if _known(name):
            return name
    return FALLBACK_ZONE
