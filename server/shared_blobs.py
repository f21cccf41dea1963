"""Blob files in a folder that several relay processes share (the networked backend's :class:`BlobStore`).

The embedded relay deletes, at start, every file of its blob folder that no row names: leftovers of a crash
between writing a file and recording it. With several processes on one folder that would delete another
process's upload in progress (its temporary file) or a blob renamed into place whose row is being written. So
here only leftovers older than :data:`ORPHAN_GRACE_S` are deleted; everything else is
:class:`~confide.server.blob_files.BlobFiles` unchanged (the folder must be one file system that every process
mounts, with ``rename`` atomic on it: a local disk shared by processes of one machine, or NFS and the like).
"""

from __future__ import annotations

import time

from .blob_files import BlobFiles, shred

ORPHAN_GRACE_S = 3600.0
"""Age (by modification time) before an unrecorded file counts as a crash's leftover: an upload in progress
writes its temporary file every few milliseconds, and a committed blob's row follows its rename within a request;
an hour is far beyond both, and a real leftover costs at most an hour of disk until the next process starts."""


class SharedBlobFiles(BlobFiles):
    """:class:`~confide.server.blob_files.BlobFiles` whose start leaves other processes' recent files alone."""

    def remove_orphans(self, known: set[str]) -> int:
        """Delete files no row refers to that are older than :data:`ORPHAN_GRACE_S`; return their count."""
        cutoff = time.time() - ORPHAN_GRACE_S
        removed = 0
        for entry in self.folder.iterdir():
            try:
                old = entry.is_file() and entry.stat().st_mtime < cutoff
            except FileNotFoundError:  # another process committed or discarded it meanwhile
                continue
            if old and entry.name not in known:
                shred(entry)
                removed += 1
        return removed
