"""The OpenAPI document matches the routes; health; the CLI's settings; clean shutdown on SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from confide.server import RelayConfig, add_serve_arguments, create_app
from confide.server.cli import config_from_args
from confide.server.openapi import openapi_document

from .conftest import Api


def test_openapi_paths_and_methods_equal_the_routes(tmp_path: Path) -> None:
    app = create_app(RelayConfig(data_dir=tmp_path))
    routes = {
        (r.resource.canonical, r.method.lower())
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    doc = openapi_document("test")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == routes
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"]
            assert op["responses"]


async def test_openapi_and_health_are_served(api: Api) -> None:
    status, doc = await api.call("GET", "/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    status, health = await api.call("GET", "/v1/health")
    assert status == 200
    assert health["status"] == "ok"
    assert health["version"]


def test_every_setting_has_a_flag_an_env_variable_and_help(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    monkeypatch.setenv("CONFIDE_MAILBOX_QUOTA", "77")
    monkeypatch.setenv("CONFIDE_MAX_LIFETIME_S", "3600")
    add_serve_arguments(parser)
    text = parser.format_help()
    for name in (
        "CONFIDE_HOST",
        "CONFIDE_PORT",
        "CONFIDE_DATA",
        "CONFIDE_MAX_BLOB_BYTES",
        "CONFIDE_RATE_PER_S",
        "CONFIDE_SWEEP_INTERVAL_S",
        "CONFIDE_BUNDLE_BUDGET_PER_HOUR",
    ):
        assert name in text
    config = config_from_args(parser.parse_args(["--max-lifetime", "60", "--data", "/tmp/x"]))
    assert config.mailbox_quota == 77  # from the environment
    assert config.max_lifetime_s == 60  # the flag wins over the environment
    assert config.data_dir == Path("/tmp/x")
    assert config.max_blob_bytes == 100 * 1024 * 1024  # the default


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_and_shuts_down_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "confide.server", "--port", str(port), "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CONFIDE_SWEEP_INTERVAL_S": "0"},
    )
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1) as resp:
                    assert json.load(resp)["status"] == "ok"
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("relay did not start")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert (data / "relay.db").exists()
    wal = data / "relay.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed on the way out
    assert b"127.0.0.1" not in err  # no access log lines


async def test_start_relay_serves_on_loopback(tmp_path: Path) -> None:
    import aiohttp

    from confide.server import start_relay

    async with start_relay(RelayConfig(data_dir=tmp_path / "d", sweep_interval_s=0)) as url:
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session, session.get(url + "/v1/health") as resp:
            assert resp.status == 200
    assert (tmp_path / "d" / "relay.db").exists()
