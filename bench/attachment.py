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

import asyncio
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from harness import MIB, Stopwatch, add_common_flags, bench_parser, print_result, rss_mib

from confide.client import Client
from confide.keys.keystore import TEST_KDF
from confide.server import RelayConfig, start_relay

SAMPLE_S = 0.005


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
        config = RelayConfig(
            data_dir=tmp / "relay",
            max_blob_bytes=2 * size + MIB,
            blob_quota_bytes=4 * size,
            rate_per_s=0,
            bundle_rate_per_min=0,
            sweep_interval_s=0,
        )
        async with start_relay(config) as url:
            therapist = await Client.create(tmp / "t", "pw", url, "therapist", "therapist", kdf=TEST_KDF)
            client = await Client.create(tmp / "c", "pw", url, "client", kdf=TEST_KDF)
            try:
                therapist.add_contact("c", client.invite_code())
                client.add_contact("t", therapist.invite_code())
                source = tmp / "source.bin"
                expected = write_file(source, size)
                with PeakSampler() as send, Stopwatch() as send_clock:
                    sent = await therapist.send_file("c", source, mime="application/octet-stream")
                source.unlink()
                with PeakSampler() as receive, Stopwatch() as receive_clock:
                    await client.sync()
                    out = await client.save_attachment(sent.message_id, tmp / "received.bin")
                identical = file_sha256(out) == expected
            finally:
                await therapist.close()
                await client.close()
    send_s, receive_s = send_clock.seconds, receive_clock.seconds
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
    parser = bench_parser(__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB (default 1024)")
    add_common_flags(parser, quick_help="64 MiB instead of the default size")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(64 if args.quick else args.size_mib))
    print_result(result, as_json=args.json, width=32, gap=" ")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
