"""Memory stays flat for large attachments: send and receive one file through the library and a real relay.

Runs a relay on loopback in this process (``start_relay``, blob cap raised for the run), two profiles with the
test Argon2 costs, sends a file of ``--size-mib`` MiB (default 1024) with ``Client.send_file`` and has the other
side download, verify and decrypt it with ``Client.save_attachment``. A sampler reads this process's resident set
(``VmRSS``) every 5 ms; the result is the peak *increase* over the resident set before each phase, next to the file
size. Flat memory means the increase stays a few MiB whatever the size. ``--json`` prints one object.

    .venv/bin/python bench/attachment.py                # 1 GiB, about a minute
    .venv/bin/python bench/attachment.py --quick        # 64 MiB
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from confide.client import Client
from confide.keys.keystore import TEST_KDF
from confide.server import RelayConfig, start_relay

MIB = 1024 * 1024
SAMPLE_S = 0.005


def rss_mib() -> float:
    """Current resident set of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class PeakSampler:
    """Samples the resident set while a phase runs; ``increase`` is the peak over the starting value."""

    def __init__(self) -> None:
        self.start = 0.0
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mib())
            await asyncio.sleep(SAMPLE_S)

    def __enter__(self) -> PeakSampler:
        self.start = self.peak = rss_mib()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, rss_mib())

    @property
    def increase(self) -> float:
        return self.peak - self.start


def write_file(path: Path, size: int) -> str:
    """Write ``size`` pseudo-random bytes (1 MiB of urandom repeated with a counter); return its SHA-256."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(size // MIB):
            chunk = i.to_bytes(8, "big") + block[8:]
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


async def measure(size_mib: int) -> dict[str, float | int | bool]:
    size = size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="confide-bench-") as tmp_name:
        tmp = Path(tmp_name)
        config = RelayConfig(data_dir=tmp / "relay", max_blob_bytes=2 * size + MIB, blob_quota_bytes=4 * size,
                             rate_per_s=0, bundle_rate_per_min=0, sweep_interval_s=0)
        async with start_relay(config) as url:
            therapist = await Client.create(tmp / "t", "pw", url, "therapist", "therapist", kdf=TEST_KDF)
            client = await Client.create(tmp / "c", "pw", url, "client", kdf=TEST_KDF)
            try:
                therapist.add_contact("c", client.invite_code())
                client.add_contact("t", therapist.invite_code())
                source = tmp / "source.bin"
                expected = write_file(source, size)
                with PeakSampler() as send:
                    t0 = time.perf_counter()
                    sent = await therapist.send_file("c", source, mime="application/octet-stream")
                    send_s = time.perf_counter() - t0
                source.unlink()
                with PeakSampler() as receive:
                    t0 = time.perf_counter()
                    await client.sync()
                    out = await client.save_attachment(sent.message_id, tmp / "received.bin")
                    receive_s = time.perf_counter() - t0
                identical = file_sha256(out) == expected
            finally:
                await therapist.close()
                await client.close()
    return {
        "size_mib": size_mib,
        "send_s": round(send_s, 2),
        "send_mib_per_s": round(size_mib / send_s, 1),
        "send_peak_rss_increase_mib": round(send.increase, 1),
        "receive_s": round(receive_s, 2),
        "receive_mib_per_s": round(size_mib / receive_s, 1),
        "receive_peak_rss_increase_mib": round(receive.increase, 1),
        "identical": identical,
        "rss_before_mib": round(send.start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--quick", action="store_true", help="64 MiB instead of the default size")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(64 if args.quick else args.size_mib))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
