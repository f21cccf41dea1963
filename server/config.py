"""Relay settings: one frozen dataclass, every default named and explained.

The CLI (:mod:`confide.server.cli`) builds a :class:`RelayConfig` from flags and ``CONFIDE_*`` environment
variables (a flag wins over the environment, the environment over these defaults).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

DB_SCHEMES = ("postgresql", "postgres")
"""URL schemes of ``db_url``: PostgreSQL's own (libpq and asyncpg take both)."""

BUS_SCHEMES = ("nats", "tls", "ws", "wss")
"""URL schemes of ``bus_url``: a NATS server, plain or over TLS or WebSocket."""

DEFAULT_MAX_LIFETIME_S = 30 * 24 * 3600
"""30 days: long enough for a client on holiday to come back to its messages, short enough that the relay
is never an archive. Senders may ask for less; nobody may ask for more."""

DEFAULT_MAX_BLOB_BYTES = 100 * 1024 * 1024
"""100 MiB per attachment: a long voice note or a scanned worksheet, not a video library."""

DEFAULT_BLOB_QUOTA_BYTES = 1024 * 1024 * 1024
"""1 GiB of live attachments per uploading device: ten full-size blobs; stops one device filling the disk."""

DEFAULT_MAILBOX_QUOTA = 10_000
"""Envelopes waiting per device: months of a busy therapist's traffic for an offline device, and twice
the 5,000-envelope backlog the benchmark drains; bounds the disk one spammer can consume per victim."""

DEFAULT_SWEEP_INTERVAL_S = 1.0
"""How often expired envelopes and blobs are deleted (and the WAL truncated): an expired ciphertext leaves
every relay file at most about this long after its expiry (plus one scrub interval of the writer, see
:data:`~confide.server.writer.SCRUB_INTERVAL_S`). The sweep is one indexed DELETE, nearly free when nothing
has expired. Acknowledged and deleted ciphertext does not wait for it: the writer scrubs after those commits."""

DEFAULT_BUNDLE_BUDGET_PER_HOUR = 30
"""One-time prekeys handed out per address per hour, X25519 and ML-KEM counted together (a fetch costs two per
device): 15 fetches an hour. A therapist gains a few new contacts a day; an attacker draining the stock (to
force last-resort keys) gets at most 15 keys of each kind per hour, and then only last-resort keys. Below the
client's refill thresholds (``REFILL_THRESHOLD`` and ``KEM_REFILL_THRESHOLD`` in ``keys/prekeys.py``, 20 each,
checked hourly), so the stock of either kind never runs out between two checks."""

DEFAULT_RATE_PER_S = 200.0
"""Sustained requests per second per client IP: far above any one person's use (a batch send counts once
per envelope), low enough that one host cannot starve the relay."""

DEFAULT_RATE_BURST = 400.0
"""Bucket size of the per-IP limiter: lets a reconnecting device flush a backlog of acks and receipts."""

DEFAULT_BUNDLE_RATE_PER_MIN = 30.0
"""Prekey bundle fetches per minute per client IP: starting conversations is rare; scraping is not."""

DEFAULT_MAX_SOCKETS_PER_DEVICE = 4
"""Concurrent WebSockets per device: a reconnect overlapping an old socket, with room to spare."""

DEFAULT_MAX_CONNECTIONS = 10_000
"""Concurrent WebSockets for the whole relay: at well under 50 KiB each, bounded memory (< 500 MiB)."""

DEFAULT_STORAGE_BUDGET_BYTES = 50 * 1024**3
"""50 GiB of envelopes and attachments for the whole relay: a practice's worth of waiting messages and live
attachments (a few thousand devices at well under their quotas); new data is refused with 507 beyond it, so one
abuser exhausts this budget, never the disk the database needs to keep working."""

DEFAULT_DISK_RESERVE_BYTES = 2 * 1024**3
"""Free disk space the relay never writes into (507 below it): room for SQLite's WAL, checkpoints and the
sweeper's deletions, which need space to free space, even when the budget above is set larger than the disk."""

DEFAULT_TOKEN_BYTES_PER_DAY = 256 * 1024**2
"""Sealed bytes per day to one recipient device under one delivery token (one contact): hundreds of long
messages a day; a flood from one token stops there while the recipient's other contacts still get through."""

DEFAULT_ADDRESS_BYTES_PER_DAY = 2 * 1024**3
"""Bytes per day (envelopes and uploads) from one client address: a clinic behind one NAT sending and
attaching all day, not 20 MiB/s of self-addressed envelopes."""

DEFAULT_DEVICE_UPLOAD_BYTES_PER_DAY = 2 * 1024**3
"""Attachment bytes per day uploaded by one device: twenty full-size attachments; the quota of live
attachments alone would let a device upload, delete and upload again without end."""

DEFAULT_REGISTRATION_WORK_BITS = 14
"""Leading zero bits of registration work: about 16,000 SHA-256 hashes, some 15 ms of Python on a laptop,
so `confide init` and the tests stay fast; an operator under a registration flood raises it (each bit doubles
the work). 0 turns it off."""

DEFAULT_ACCOUNT_TTL_S = 365 * 24 * 3600
"""Accounts whose devices have not authenticated for a year are deleted with their mailboxes and
attachments: a client who left therapy leaves nothing on the relay, and throw-away accounts do not pile up
forever. A device that syncs at all, even yearly, keeps its account."""

DEFAULT_DEVICE_RATE_PER_S = 50.0
"""Sustained signed requests per second per device (on top of the per-IP limit, which behind a shared NAT or a
proxy is shared by many people): a device pulls, acks in batches of up to 500 and refills keys; 50 a second
is far beyond that, and one throw-away device cannot take the relay's whole capacity."""

DEFAULT_RECIPIENT_RATE_PER_S = 100.0
"""Sustained sealed envelopes per second to one recipient device, from everyone together: a therapist's
busiest hour is a few messages a minute; bounds how fast a flood can fill one victim's mailbox."""

DEFAULT_TOKEN_RATE_PER_S = 25.0
"""Sustained sealed envelopes per second under one delivery token (one contact's token): a quarter of the
recipient's rate, so one abusive contact cannot use up the recipient's whole rate and the others still get through."""

LIMIT_BURST_S = 4.0
"""Bucket size of the per-device, per-recipient and per-token limiters, in seconds of their rate: room for a
reconnecting device's backlog of receipts and acks."""


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Every relay setting, with the defaults of an embedded single-machine relay.

    ``rate_per_s``, ``bundle_rate_per_min``, ``device_rate_per_s``, ``recipient_rate_per_s`` or
    ``token_rate_per_s`` of 0 disables that limiter (benchmarks only). ``trusted_proxies`` (CIDR blocks) are the
    reverse proxies whose ``X-Forwarded-For`` names the client (see :mod:`confide.server.clientaddr`); from any
    other peer the header is ignored.
    ``db_url`` (a ``postgresql://`` URL) puts accounts, mailboxes and the shared limits in PostgreSQL instead of
    SQLite in ``data_dir``; ``bus_url`` (a ``nats://`` URL) carries live push between relay processes. Several
    processes need both, and one ``data_dir`` shared by all of them for the blob files (docs/operating.md); one
    process may use PostgreSQL with in-process push (no ``bus_url``). A bus without PostgreSQL is refused: processes
    sharing pushes must share the mailboxes the pushes come from.
    ``sync_full`` makes every commit fsync (``synchronous=FULL``); the default ``NORMAL`` in WAL mode keeps
    every committed envelope across a crash of the relay process, and may lose the last commits on a power
    failure or kernel crash.
    """

    data_dir: Path = Path("data")
    max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES
    blob_quota_bytes: int = DEFAULT_BLOB_QUOTA_BYTES
    mailbox_quota: int = DEFAULT_MAILBOX_QUOTA
    sweep_interval_s: float = DEFAULT_SWEEP_INTERVAL_S
    bundle_budget_per_hour: int = DEFAULT_BUNDLE_BUDGET_PER_HOUR
    rate_per_s: float = DEFAULT_RATE_PER_S
    rate_burst: float = DEFAULT_RATE_BURST
    bundle_rate_per_min: float = DEFAULT_BUNDLE_RATE_PER_MIN
    max_sockets_per_device: int = DEFAULT_MAX_SOCKETS_PER_DEVICE
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    sync_full: bool = False
    storage_budget_bytes: int = DEFAULT_STORAGE_BUDGET_BYTES
    disk_reserve_bytes: int = DEFAULT_DISK_RESERVE_BYTES
    token_bytes_per_day: int = DEFAULT_TOKEN_BYTES_PER_DAY
    address_bytes_per_day: int = DEFAULT_ADDRESS_BYTES_PER_DAY
    device_upload_bytes_per_day: int = DEFAULT_DEVICE_UPLOAD_BYTES_PER_DAY
    registration_work_bits: int = DEFAULT_REGISTRATION_WORK_BITS
    account_ttl_s: int = DEFAULT_ACCOUNT_TTL_S
    trusted_proxies: tuple[str, ...] = ()
    device_rate_per_s: float = DEFAULT_DEVICE_RATE_PER_S
    recipient_rate_per_s: float = DEFAULT_RECIPIENT_RATE_PER_S
    token_rate_per_s: float = DEFAULT_TOKEN_RATE_PER_S
    db_url: str | None = None
    bus_url: str | None = None
    seal_at_rest: bool | None = None
    """Encrypt envelopes at rest under epoch keys the relay destroys (:mod:`confide.server.at_rest`), so a
    deleted envelope is unreadable whatever the database engine keeps. None (the default) means on with
    PostgreSQL (``db_url``) and off on SQLite: PostgreSQL leaves a deleted row's bytes in its WAL segments until
    they are recycled (unbounded on an idle server), while SQLite's own scrub removes them from every relay file
    within about a second, so there the keys would only add work. :attr:`sealed_at_rest` is the value in effect."""

    def __repr__(self) -> str:
        # The database and bus URLs may carry passwords: say only whether they are set.
        shown = ", ".join(
            f"{name}={'<set>' if name in ('db_url', 'bus_url') and value is not None else value!r}"
            for name, value in ((f.name, getattr(self, f.name)) for f in fields(self))
        )
        return f"RelayConfig({shown})"

    def __post_init__(self) -> None:
        _check_urls(self.db_url, self.bus_url)
        for name in (
            "max_lifetime_s",
            "max_blob_bytes",
            "blob_quota_bytes",
            "mailbox_quota",
            "max_sockets_per_device",
            "max_connections",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in (
            "sweep_interval_s",
            "rate_per_s",
            "rate_burst",
            "bundle_rate_per_min",
            "device_rate_per_s",
            "recipient_rate_per_s",
            "token_rate_per_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.bundle_budget_per_hour < 0:
            raise ValueError("bundle_budget_per_hour must not be negative")
        for name in ("storage_budget_bytes", "token_bytes_per_day", "address_bytes_per_day", "account_ttl_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.device_upload_bytes_per_day < 1 or self.disk_reserve_bytes < 0:
            raise ValueError("device_upload_bytes_per_day must be at least 1, disk_reserve_bytes not negative")
        if not 0 <= self.registration_work_bits <= 32:
            raise ValueError("registration_work_bits must be between 0 and 32")
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"trusted proxy {cidr!r} is not an IP address or CIDR block") from None

    @property
    def networked(self) -> bool:
        """True when the relay keeps its state in PostgreSQL (``db_url``), so several processes may share it."""
        return self.db_url is not None

    @property
    def sealed_at_rest(self) -> bool:
        """Whether envelopes are sealed at rest: ``seal_at_rest`` when set, else True exactly on PostgreSQL."""
        return self.networked if self.seal_at_rest is None else self.seal_at_rest

    @property
    def db_path(self) -> Path:
        return self.data_dir / "relay.db"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


def _check_urls(db_url: str | None, bus_url: str | None) -> None:
    """Raises :class:`ValueError` (one sentence that never repeats the URL: it may hold a password) unless
    ``db_url`` is a PostgreSQL URL or None, ``bus_url`` a NATS URL or None, and a bus comes with a database."""
    if db_url is not None and urlsplit(db_url).scheme not in DB_SCHEMES:
        raise ValueError("the database must be a postgresql:// URL (leave it out for SQLite in the data directory)")
    if bus_url is not None:
        parts = urlsplit(bus_url)
        if parts.scheme not in BUS_SCHEMES or not parts.hostname:
            raise ValueError("the bus must be a nats:// (or tls://) URL (leave it out for in-process push)")
        if db_url is None:
            raise ValueError(
                "a NATS bus needs a PostgreSQL database too (--db postgresql://...): relay processes that share "
                "pushes must share the mailboxes"
            )
