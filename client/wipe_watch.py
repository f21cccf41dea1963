"""Noticing, from a process that has a profile open, that another process wiped it.

A panic wipe (:func:`confide.client.profile.wipe_profile`) first overwrites the key store in place with random
bytes, then removes it. Every process with the profile open remembers the key store's identity (device,
inode, size, modification time) when it opened it and compares it every :data:`WIPE_POLL_INTERVAL_S` (one
``stat``, no read): a missing key store, or one that changed and no longer starts with the key-store magic,
means the profile was wiped. The library then emits :class:`~confide.client.events.ProfileWiped`, stops its
background work, closes its store and ends ``events()``; the live loop also checks before handling each
delivery, so nothing that arrives after the wipe is decrypted or shown.
"""

from __future__ import annotations

import os
from pathlib import Path

from confide.keys.keystore import KEYSTORE_MAGIC

WIPE_POLL_INTERVAL_S = 0.5
"""How often an open profile checks whether it was wiped: a listener stops within about half a second (the
promise is "about a second"), at the cost of two ``stat`` calls a second."""

_Identity = tuple[int, int, int, int]


def _identity(path: Path) -> _Identity | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class WipeWatch:
    """Remembers a key store as it was when the profile was opened and tells whether it was wiped since."""

    def __init__(self, keystore: Path) -> None:
        self._path = keystore
        self._seen = _identity(keystore)

    def wiped(self) -> bool:
        """True once the key store is gone or was overwritten (it no longer starts with the magic bytes)."""
        now = _identity(self._path)
        if now is None:
            return True
        if now == self._seen:
            return False
        try:
            with self._path.open("rb") as fh:
                head = fh.read(len(KEYSTORE_MAGIC))
        except FileNotFoundError:
            return True
        if head != KEYSTORE_MAGIC:
            return True
        self._seen = now  # replaced by another valid key store (not a wipe)
        return False
