"""What an acknowledged envelope leaves in PostgreSQL's files, measured (issue 14: forensic deletion).

Stores two envelopes through :class:`~confide.server.pg_store.PostgresStore` (one small, kept in the heap page,
one large, moved to the TOAST table), each carrying a unique random marker, and then searches the server's data
directory (``SHOW data_directory``: readable by its owner or root) for each marker after every step of the
store's life: committed, acknowledged, after the store's scrub (``VACUUM``), after ``CHECKPOINT``, and after more
WAL is written. Each finding names the file kind: the database's table files (``base/``), or the write-ahead
log (``pg_wal/``).

Run it by hand for the numbers SECURITY.md states: ``.venv/bin/python -m tests.server.pg_forensics``
(``CONFIDE_TEST_PG`` names the server; it must run on the database's machine). ``test_pg_forensics.py`` runs it
and holds the store to what it measured.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from confide.server.pg_store import PostgresStore
from confide.server.storage import KeyRecord, NewEnvelope, Registration

from .backend_services import fresh_database

SMALL_LEN = 200
"""A small ciphertext (a short message): stored inline in its heap tuple."""

LARGE_LEN = 8000
"""A large ciphertext (a message with a long text): over PostgreSQL's 2 kB TOAST threshold, stored out of line
in the table's TOAST relation (never compressed: the column is ``EXTERNAL``)."""

FILLER_MB = int(os.environ.get("CONFIDE_FORENSIC_WAL_MB", "100"))
"""WAL written at most after the deletion, to see when its segments are recycled and overwritten (the server
keeps between ``min_wal_size`` and ``max_wal_size``, 80 MB and 1 GB by default, of old segments to reuse)."""

FILLER_STEP_MB = 20
"""WAL written between two searches."""


NEIGHBOURS = 10
"""Envelopes stored before and after the marked ones (of each size) that are never acknowledged."""


@dataclass
class Finding:
    """Where one step found each marker: file kinds (``table`` / ``wal``) by envelope (``small``: a small one
    with newer live tuples on its page; ``last``: a small one that is the newest tuple of its page; ``large``:
    a TOASTed one)."""

    step: str
    found: dict[str, set[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        return f"{self.step:<42}" + "".join(
            f" {name}: {', '.join(sorted(kinds)) or 'nowhere':<12}" for name, kinds in self.found.items()
        )


def _kind(path: Path, data_dir: Path) -> str:
    top = path.relative_to(data_dir).parts[0]
    return {"base": "table", "pg_wal": "wal", "global": "global"}.get(top, top)


def search(data_dir: Path, markers: dict[str, bytes]) -> dict[str, set[str]]:
    """The kinds of file under ``data_dir`` holding each marker (a file read whole, one at a time)."""
    found: dict[str, set[str]] = {name: set() for name in markers}
    files = (Path(top, name) for top, _, names in os.walk(data_dir) for name in names)  # skips vanished dirs
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:  # dropped meanwhile (another test's database)
            continue
        for name, marker in markers.items():
            if marker in data:
                found[name].add(_kind(path, data_dir))
    return found


def _registration() -> Registration:
    address, device_id = os.urandom(32), os.urandom(32)
    return Registration(
        address,
        b"identity",
        device_id,
        b"cert",
        (os.urandom(32),),
        KeyRecord(1, b"spk"),
        KeyRecord(2, b"klr"),
        (),
        (),
    )


async def measure(dsn: str, *, wal_mb: int = FILLER_MB) -> list[Finding]:
    """Run the steps against the (fresh) database at ``dsn``, writing up to ``wal_mb`` of WAL at the end; return
    what each step found.

    Raises:
        PermissionError: the data directory is not readable by this process.
    """
    admin = await asyncpg.connect(dsn)
    try:
        data_dir = Path(await admin.fetchval("SHOW data_directory"))
        if not os.access(data_dir, os.R_OK | os.X_OK):
            raise PermissionError(f"the PostgreSQL data directory {data_dir} is not readable here")
        # A scrub interval of an hour: the step "acknowledged, not yet vacuumed" stays observable; the store's
        # own scrub is then run by checkpoint() (its first VACUUM after the ack).
        store = PostgresStore(dsn, scrub_interval_s=3600, rewrite_interval_s=0)
        await store.start()
        try:
            return await _steps(store, admin, data_dir, wal_mb)
        finally:
            await store.close()
    finally:
        await admin.close()


async def _steps(store: PostgresStore, admin: asyncpg.Connection, data_dir: Path, wal_mb: int) -> list[Finding]:
    reg = _registration()
    await store.register(reg)
    small = b"MARK-S-" + secrets.token_hex(16).encode()
    large = b"MARK-L-" + secrets.token_hex(16).encode()
    last = b"MARK-T-" + secrets.token_hex(16).encode()
    markers = {"small": small, "last": last, "large": large}
    now = int(time.time() * 1000)

    def new(ciphertext: bytes) -> NewEnvelope:
        return NewEnvelope(os.urandom(16), reg.device_id, now, now + 86_400_000, ciphertext)

    envelopes = [new(small + os.urandom(SMALL_LEN)), new(large + os.urandom(LARGE_LEN))]
    newest = new(last + os.urandom(SMALL_LEN))
    # Neighbours that stay: the acknowledged tuples share their pages with live ones (no page becomes empty,
    # so VACUUM cannot simply cut it off the end of the file).
    await store.store_envelopes([new(os.urandom(SMALL_LEN)) for _ in range(NEIGHBOURS)], 10 * NEIGHBOURS)
    await store.store_envelopes([new(os.urandom(LARGE_LEN)) for _ in range(NEIGHBOURS)], 10 * NEIGHBOURS)
    findings: list[Finding] = []
    start = time.monotonic()

    def record(step: str) -> None:
        found = search(data_dir, markers)
        findings.append(Finding(step, found, time.monotonic() - start))

    await store.store_envelopes(envelopes, 10 * NEIGHBOURS)
    await store.store_envelopes([new(os.urandom(SMALL_LEN)) for _ in range(NEIGHBOURS)], 10 * NEIGHBOURS)
    await store.store_envelopes([new(os.urandom(LARGE_LEN)) for _ in range(NEIGHBOURS)], 10 * NEIGHBOURS)
    await store.store_envelopes([newest], 10 * NEIGHBOURS)
    envelopes.append(newest)
    record("stored (committed)")
    await admin.execute("CHECKPOINT")
    record("stored, CHECKPOINT")
    # The store's scrub would start at once: hold it off (interval of an hour, last scrub now) for one step.
    store._last_scrub = time.monotonic()  # a measurement, not a use
    await store.ack(reg.device_id, [e.envelope_id for e in envelopes])
    await admin.execute("CHECKPOINT")
    record("acked, no VACUUM yet, CHECKPOINT")
    await admin.execute("VACUUM envelopes")  # the store's scrub after an ack, alone
    await admin.execute("CHECKPOINT")
    record("VACUUM (the scrub), CHECKPOINT")
    await store.checkpoint()  # the sweeper's: VACUUM FULL of the tables deleted from
    await admin.execute("CHECKPOINT")
    record("store.checkpoint() (VACUUM FULL), CHECKPOINT")
    await admin.execute("CREATE TABLE filler (b bytea)")
    written = 0
    while written < wal_mb:
        for _ in range(FILLER_STEP_MB):
            await admin.execute(
                "INSERT INTO filler SELECT convert_to(repeat(md5(random()::text), 32), 'UTF8') "
                "FROM generate_series(1, 1024)"
            )
        written += FILLER_STEP_MB
        await admin.execute("TRUNCATE filler")
        await admin.execute("CHECKPOINT")
        await admin.execute("SELECT pg_switch_wal()")
        await admin.execute("CHECKPOINT")
        record(f"+{written} MB of WAL, CHECKPOINTs")
        if not any(findings[-1].found.values()):
            break
    await admin.execute("DROP TABLE filler")
    return findings


async def main() -> None:
    async with fresh_database() as dsn:
        for finding in await measure(dsn):
            print(f"{finding.seconds:7.2f} s  {finding.line()}")


if __name__ == "__main__":
    asyncio.run(main())
