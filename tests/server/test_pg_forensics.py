"""Forensic deletion on PostgreSQL: an acknowledged envelope's ciphertext leaves the table files once the store's
sweep-time rewrite ran (``PostgresStore.checkpoint``), whether it sat in a page with newer rows, as the newest row
of its page, or out of line in TOAST chunks. Plain ``VACUUM`` is not enough for the last two: the test of it
shows what the rewrite is for. The write-ahead log's copies are the engine's (overwritten when a segment is
reused): ``pg_forensics.py`` measures them, SECURITY.md states the window.

Needs PostgreSQL on this machine with its data directory readable by the test (root, or the server's user);
skipped otherwise, with the reason.
"""

from __future__ import annotations

import os

import asyncpg
import pytest

from .backend_services import fresh_database
from .pg_forensics import Finding, measure


async def _findings() -> dict[str, Finding]:
    async with fresh_database() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            data_dir = await conn.fetchval("SHOW data_directory")
        finally:
            await conn.close()
        if not os.access(data_dir, os.R_OK | os.X_OK):
            pytest.skip(f"the PostgreSQL data directory {data_dir} is not readable by this user (run as root)")
        return {f.step: f for f in await measure(dsn, wal_mb=0)}


async def test_an_acked_ciphertext_leaves_the_table_files_after_the_rewrite() -> None:
    findings = await _findings()
    stored = findings["stored, CHECKPOINT"].found
    assert all("table" in kinds for kinds in stored.values()), "the markers must be found first to mean anything"
    acked = findings["acked, no VACUUM yet, CHECKPOINT"].found
    assert all("table" in kinds for kinds in acked.values())  # a DELETE alone leaves the bytes
    vacuumed = findings["VACUUM (the scrub), CHECKPOINT"].found
    assert "table" in vacuumed["last"] or "table" in vacuumed["large"]  # why the rewrite exists
    rewritten = findings["store.checkpoint() (VACUUM FULL), CHECKPOINT"].found
    assert {name: "table" in kinds for name, kinds in rewritten.items()} == {
        "small": False,
        "last": False,
        "large": False,
    }
