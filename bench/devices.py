"""What several devices cost: the relay's delivery-token check and the sender's fan-out, as ratios in one run.

Issue 13 made two costs grow with the number of devices, and this measures both on the code itself:

- **The relay's token check** (``server/routes_messages.py::_check_token``'s comparison): an envelope's token
  hash is compared, in constant time and with no early exit, with every hash registered by any device of the
  recipient's identity. ``token_1dev_ms`` times one device's full set (1,024 hashes), ``token_6dev_ms`` the worst
  case (``MAX_DEVICES`` x 1,024 = 6,144), each for the relay's way (``map`` of ``hmac.compare_digest`` in C) and
  the per-hash Python loop it replaced (``..._loop_ms``); ``token_6_over_1`` is the worst case's cost as a
  multiple of one device's.
- **The sender's fan-out** (``protocol/sealed.py::seal_message``): one 200-byte message sealed to k devices,
  each through its own established session: k = 1 (one device each), 2 (a therapist's laptop and phone), 3 (and
  the sender's own other device: sent-message sync) and 11 (six devices on the recipient's side, five more of the
  sender's own: the most ``MAX_DEVICES`` allows). ``seal_k_ms`` per message; ``seal_11_over_1`` the ratio.

Rounds are interleaved so the machine's noise hits every variant alike; the median of the rounds is reported.
Randomness from ``os.urandom``; no network, no files.

    .venv/bin/python bench/devices.py            # 15 rounds
    .venv/bin/python bench/devices.py --quick    # 5 rounds
"""

from __future__ import annotations

import hashlib
import hmac
import os
import statistics
import time
from collections.abc import Callable
from itertools import repeat

from crypto import PreKeys
from harness import add_common_flags, bench_parser, print_result

from confide.keys import (
    DeviceKeyPair,
    IdentityKeyPair,
    KemPreKeyRecord,
    OneTimePreKeyRecord,
    PreKeyBundle,
    SignedPreKeyRecord,
)
from confide.protocol.device_list import MAX_DEVICES
from confide.protocol.envelope import delivery_token_hash
from confide.protocol.sealed import SenderCertificate, seal_message
from confide.protocol.session import Session, accept_session, initiate_session, parse_inner

TOKENS_PER_DEVICE = 1024
"""Delivery-token hashes one device may register (``MAX_TOKEN_HASHES``): the worst case per device."""
TOKEN_CHECKS = 200
"""Envelopes checked per timed block: enough for a block of several milliseconds."""
MESSAGE_LEN = 200
"""A short text's content, as in bench/crypto.py."""
FANOUTS = (1, 2, 3, 2 * MAX_DEVICES - 1)
"""Devices one message is sealed to: one each side; a therapist's two devices; and the sender's own other device;
the most MAX_DEVICES allows (six of the recipient's, five more of the sender's)."""
SEALS = 20
"""Messages sealed per timed block for each fan-out."""


def _by_map(hashes: list[bytes], wanted: bytes) -> bool:
    """The relay's comparison: every hash, constant time, no early exit (as server/routes_messages.py)."""
    return bool(sum(map(hmac.compare_digest, hashes, repeat(wanted, len(hashes)))))


def _by_loop(hashes: list[bytes], wanted: bytes) -> bool:
    """The per-hash Python loop the relay used before (the same comparisons, no early exit)."""
    found = False
    for h in hashes:
        found |= hmac.compare_digest(h, wanted)
    return found


def _token_block(check: Callable[[list[bytes], bytes], bool], hashes: list[bytes], wanted: bytes) -> float:
    start = time.perf_counter()
    for _ in range(TOKEN_CHECKS):
        if check(hashes, wanted):
            raise AssertionError("a token that no device registered was accepted")
    return (time.perf_counter() - start) * 1000 / TOKEN_CHECKS


def _sessions(sender: IdentityKeyPair, k: int) -> list[Session]:
    """``k`` established sessions of ``sender`` with devices of one recipient identity."""
    now = int(time.time())
    rng = os.urandom
    recipient = IdentityKeyPair.generate(rng)
    sender_device = DeviceKeyPair.generate(sender, rng)
    out = []
    for _ in range(k):
        device = DeviceKeyPair.generate(recipient, rng)
        signed = SignedPreKeyRecord.generate(recipient, 1, rng, now)
        one_time = OneTimePreKeyRecord.generate_batch(1, 1, rng)[0]
        kem = KemPreKeyRecord.generate(recipient, 1, rng, now, last_resort=True)
        bundle = PreKeyBundle(recipient.public, device.certificate, signed.public, one_time.public, kem.public)
        alice = initiate_session(sender, PreKeyBundle.from_bytes(bundle.to_bytes()), rng=rng)
        _, header, body = parse_inner(alice.encrypt(b"hello", rng))
        assert header is not None
        prekeys = PreKeys(signed, one_time, kem)
        bob, _, _, _ = accept_session(recipient, header, body, sender_device.device_id, prekeys, rng)
        alice.decrypt(bob.encrypt(b"reply", rng), rng)  # established: no prekey header from now on
        out.append(alice)
    return out


def _seal_block(sender: IdentityKeyPair, cert: SenderCertificate, sessions: list[Session], message: bytes) -> float:
    start = time.perf_counter()
    for _ in range(SEALS):
        for session in sessions:
            seal_message(session, message, sender_identity=sender, sender=cert, rng=os.urandom)
    return (time.perf_counter() - start) * 1000 / SEALS


def main() -> None:
    parser = bench_parser(__doc__)
    add_common_flags(parser, quick_help="5 rounds instead of 15")
    args = parser.parse_args()
    rounds = 5 if args.quick else 15
    one = [delivery_token_hash(os.urandom(32)) for _ in range(TOKENS_PER_DEVICE)]
    six = one + [delivery_token_hash(os.urandom(32)) for _ in range(TOKENS_PER_DEVICE * (MAX_DEVICES - 1))]
    wanted = hashlib.sha256(b"a stranger's token").digest()
    sender = IdentityKeyPair.generate(os.urandom)
    cert = SenderCertificate(sender.public, DeviceKeyPair.generate(sender, os.urandom).certificate, os.urandom(32))
    fanouts = {k: _sessions(sender, k) for k in FANOUTS}
    message = os.urandom(MESSAGE_LEN)
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, check, hashes in (
            ("token_1dev_ms", _by_map, one),
            ("token_6dev_ms", _by_map, six),
            ("token_1dev_loop_ms", _by_loop, one),
            ("token_6dev_loop_ms", _by_loop, six),
        ):
            times.setdefault(name, []).append(_token_block(check, hashes, wanted))
        for k, sessions in fanouts.items():
            times.setdefault(f"seal_{k}_ms", []).append(_seal_block(sender, cert, sessions, message))
    result: dict[str, float | int] = {"rounds": rounds}
    for name, values in times.items():
        result[name] = round(statistics.median(values), 3)
    result["token_6_over_1"] = round(float(result["token_6dev_ms"]) / float(result["token_1dev_ms"]), 2)
    result["token_loop_over_map_6dev"] = round(float(result["token_6dev_loop_ms"]) / float(result["token_6dev_ms"]), 2)
    last = FANOUTS[-1]
    result[f"seal_{last}_over_1"] = round(float(result[f"seal_{last}_ms"]) / float(result["seal_1_ms"]), 2)
    print_result(result, as_json=args.json)


if __name__ == "__main__":
    main()
