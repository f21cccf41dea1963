"""``confide serve``: run the relay. Every setting is a flag and a ``CONFIDE_*`` environment variable.

A flag wins over the environment, the environment over the built-in default. The client CLI mounts
:func:`add_serve_arguments` / :func:`run_serve` as its ``serve`` verb; ``python -m confide.server`` runs
:func:`main` directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from confide.keys.errors import ConfideError

from .app import create_app
from .config import RelayConfig

DEFAULT_HOST = "127.0.0.1"
"""Loopback by default: exposing the relay is a decision (put TLS in front of it)."""
DEFAULT_PORT = 8787

RELAY_UMASK = 0o077
"""``confide serve`` creates files 0600 and folders 0700: ciphertext, blob ids and the account table are
nobody else's business on a shared host."""


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError("expected true or false")


def _one_or_zero(text: str) -> bool:
    """``1`` is True, ``0`` False. Raises :class:`argparse.ArgumentTypeError` for anything else."""
    if text.strip() in ("1", "0"):
        return text.strip() == "1"
    raise argparse.ArgumentTypeError("expected 1 or 0")


# (config field, flag, type, help). The environment variable is CONFIDE_ + the field name in capitals.
_SETTINGS: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    (
        "max_lifetime_s",
        "--max-lifetime",
        int,
        "longest time (seconds) an envelope or blob stays on the relay; senders may ask for less",
    ),
    ("max_blob_bytes", "--max-blob-bytes", int, "largest attachment in bytes"),
    ("blob_quota_bytes", "--blob-quota-bytes", int, "live attachment bytes per uploading device"),
    ("mailbox_quota", "--mailbox-quota", int, "envelopes waiting per device before senders get 429"),
    (
        "sweep_interval_s",
        "--sweep-interval",
        float,
        "seconds between expiry sweeps (which also truncate the write-ahead log); 0 disables",
    ),
    (
        "bundle_budget_per_hour",
        "--bundle-budget",
        int,
        "one-time prekeys handed out per address per hour; beyond it, last-resort keys only",
    ),
    ("rate_per_s", "--rate", float, "sustained requests per second per client IP (0 disables)"),
    ("rate_burst", "--rate-burst", float, "burst size of the per-IP request limiter"),
    ("bundle_rate_per_min", "--bundle-rate", float, "prekey bundle fetches per minute per client IP (0 disables)"),
    ("max_sockets_per_device", "--max-sockets-per-device", int, "concurrent WebSockets per device"),
    ("max_connections", "--max-connections", int, "concurrent WebSockets for the whole relay"),
    ("sync_full", "--sync-full", _bool, "fsync every commit (true/false); default false: WAL synchronous=NORMAL"),
    (
        "device_rate_per_s",
        "--device-rate",
        float,
        "sustained signed requests per second per device (0 disables)",
    ),
    (
        "recipient_rate_per_s",
        "--recipient-rate",
        float,
        "sustained sealed envelopes per second to one recipient device (0 disables)",
    ),
    (
        "token_rate_per_s",
        "--token-rate",
        float,
        "sustained sealed envelopes per second under one delivery token (0 disables)",
    ),
    (
        "storage_budget_bytes",
        "--storage-budget-bytes",
        int,
        "envelope and attachment bytes the relay holds at most; beyond it new data gets 507",
    ),
    ("disk_reserve_bytes", "--disk-reserve-bytes", int, "free disk space never written into (507 below it)"),
    ("token_bytes_per_day", "--token-bytes-per-day", int, "sealed bytes per day per recipient device and token"),
    ("address_bytes_per_day", "--address-bytes-per-day", int, "bytes per day sent and uploaded per client IP"),
    ("device_upload_bytes_per_day", "--device-upload-bytes-per-day", int, "attachment bytes per day per device"),
    (
        "registration_work_bits",
        "--registration-work",
        int,
        "proof-of-work bits a registration must carry (each bit doubles the work; 0 disables)",
    ),
    ("account_ttl_s", "--account-ttl", int, "seconds an account may go unseen before it is deleted with its data"),
)


def _env_name(field: str) -> str:
    return "CONFIDE_" + field.upper()


def _env_default(name: str, convert: Callable[[str], Any], fallback: Any) -> Any:
    """The environment variable ``name`` converted, or ``fallback`` when it is unset.

    Raises:
        SystemExit: (code 2, as argparse does for a bad flag) the value does not convert; one line on stderr
            names the variable, never its value (it may hold a password).
    """
    text = os.environ.get(name)
    if text is None:
        return fallback
    try:
        return convert(text)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        hint = f" ({exc})" if isinstance(exc, argparse.ArgumentTypeError) else ""
        print(f"confide serve: environment variable {name} has an invalid value{hint}", file=sys.stderr)
        raise SystemExit(2) from None


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the relay's flags (each documented with its environment variable and default) to ``parser``."""
    defaults = RelayConfig()
    parser.add_argument(
        "--host",
        default=_env_default("CONFIDE_HOST", str, DEFAULT_HOST),
        help=f"address to listen on [env CONFIDE_HOST, default {DEFAULT_HOST}]",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=_env_default("CONFIDE_PORT", int, DEFAULT_PORT),
        help=f"TCP port [env CONFIDE_PORT, default {DEFAULT_PORT}]",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=_env_default("CONFIDE_DATA", Path, defaults.data_dir),
        help="data directory (database and blob folder) [env CONFIDE_DATA, default ./data]",
    )
    parser.add_argument(
        "--db",
        dest="db_url",
        metavar="URL",
        default=_env_default("CONFIDE_DB", str, None),
        help="keep accounts, mailboxes and the shared limits in PostgreSQL (postgresql://user@host/db) instead of "
        "SQLite in the data directory; needed to run several relay processes [env CONFIDE_DB, default SQLite]",
    )
    parser.add_argument(
        "--bus",
        dest="bus_url",
        metavar="URL",
        default=_env_default("CONFIDE_BUS", str, None),
        help="push between relay processes over NATS (nats://host:4222); needs --db, and every process needs the "
        "same --data folder for attachments (docs/operating.md) [env CONFIDE_BUS, default in-process push]",
    )
    parser.add_argument(
        "--seal-at-rest",
        dest="seal_at_rest",
        action=argparse.BooleanOptionalAction,
        default=_env_default("CONFIDE_SEAL_AT_REST", _one_or_zero, None),
        help="encrypt stored envelopes under hourly keys the relay destroys, so a deleted envelope is unreadable "
        "in whatever the database still keeps [env CONFIDE_SEAL_AT_REST=1 or 0, default on with --db, off on "
        "SQLite]",
    )
    parser.add_argument(
        "--trusted-proxy",
        dest="trusted_proxies",
        action="append",
        metavar="CIDR",
        default=None,
        help="a reverse proxy (address or CIDR block) whose X-Forwarded-For names the client; repeatable. "
        "Without it every request counts against its TCP peer, so behind a proxy all clients share one bucket "
        "[env CONFIDE_TRUSTED_PROXIES, comma-separated, default none]",
    )
    for field, flag, convert, text in _SETTINGS:
        env = _env_name(field)
        fallback = getattr(defaults, field)
        parser.add_argument(
            flag,
            dest=field,
            type=convert,
            default=_env_default(env, convert, fallback),
            help=f"{text} [env {env}, default {fallback}]",
        )


def config_from_args(args: argparse.Namespace) -> RelayConfig:
    """The :class:`RelayConfig` the parsed arguments describe."""
    values = {field: getattr(args, field) for field, *_ in _SETTINGS}
    proxies = getattr(args, "trusted_proxies", None)
    if proxies is None:
        proxies = [p for p in os.environ.get("CONFIDE_TRUSTED_PROXIES", "").split(",") if p.strip()]
    values["trusted_proxies"] = tuple(p.strip() for p in proxies)
    values["db_url"] = getattr(args, "db_url", None) or None
    values["bus_url"] = getattr(args, "bus_url", None) or None
    values["seal_at_rest"] = getattr(args, "seal_at_rest", None)
    return dataclasses.replace(RelayConfig(), data_dir=Path(args.data), **values)


def run_serve(args: argparse.Namespace) -> int:
    """Run the relay until SIGINT or SIGTERM; then close sockets, checkpoint and close the database."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"confide serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Everything the relay creates (database, -wal, -shm, blobs, upload temporaries) is the relay user's alone,
    # whatever umask it was started with; the store and blob folder also set their modes explicitly.
    os.umask(RELAY_UMASK)

    # The database and bus are named by kind only: their URLs may carry passwords.
    where = f"data in {config.data_dir}"
    if config.networked:
        where = f"PostgreSQL, {'NATS push' if config.bus_url else 'in-process push'}, blobs in {config.blob_dir}"
    if config.sealed_at_rest:
        where += ", envelopes sealed at rest"

    def announce(*_: object, **__: object) -> None:
        print(f"Confide relay listening on http://{args.host}:{args.port} ({where})", flush=True)

    # access_log=None: no line per request, so no IPs, paths (addresses, device ids) or timings on disk.
    try:
        web.run_app(
            create_app(config), host=args.host, port=args.port, access_log=None, print=announce, shutdown_timeout=10.0
        )
    except (OSError, ConfideError) as exc:  # a port in use, a database or bus that does not answer
        print(f"confide serve: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m confide.server``: the same as ``confide serve``."""
    parser = argparse.ArgumentParser(
        prog="python -m confide.server",
        description="Run the Confide relay: it stores only ciphertext and public keys, and forgets on time.",
    )
    add_serve_arguments(parser)
    return run_serve(parser.parse_args(argv))
