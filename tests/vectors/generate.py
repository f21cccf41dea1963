#!/usr/bin/env python3
"""Generate Confide's test vectors: one JSON file per scenario, all randomness from a seeded DRBG.

Run from the repository root with the project's venv::

    .venv/bin/python tests/vectors/generate.py [--out DIR] [--regenerate-kem]

Every file has the shape ``{"scenario", "description", "rng", "rng_note", "seed", "inputs", "expected"}``;
bytes are lowercase hex. ``expected.result`` is ``"ok"`` or ``"error"`` (then ``expected.error`` names the
:class:`~confide.keys.errors.ConfideError` subclass). Files holding several cases give each case its own
``result``/``error``. Every value drawn from the DRBG is also written out as an input, so another
implementation can check itself without implementing the DRBG or our order of draws.

All files are byte-for-byte reproducible except ``pqxdh_first_message.json``: ML-KEM encapsulation in
``cryptography`` takes no RNG, so the initiator's KEM ciphertext is fresh on every run. That file is written
only when it is missing (or with ``--regenerate-kem``); ``pqxdh_tampered.json`` is derived deterministically
from whichever ``pqxdh_first_message.json`` is in the output folder.

The scenarios live in ``tests/vectors/gen/``, one module per section of ``protocol/SPEC.md``: ``identity`` (1),
``pqxdh`` (2), ``ratchet`` (3), ``padding`` (4), ``sealed`` (5), ``envelope`` (6), ``device_auth`` (7),
``content`` (8), ``attachment`` (9), ``keystore`` (10.2), ``recovery`` (10.3), ``safety`` (10.4), ``qr``
(10.5), ``devices`` (8 types 10-12, 12 kind 6), ``link`` (15) and ``ed25519`` (the signature verification rule
of section 1); the DRBG is in ``gen/drbg.py`` and the file shape in ``gen/common.py``. This script lists the
scenarios and writes the files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

if not __package__:  # run as a script (``make vectors``) or loaded from its path: import from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.vectors.gen.attachment import attachment
from tests.vectors.gen.common import Json
from tests.vectors.gen.contact_card import contact_card
from tests.vectors.gen.content import content
from tests.vectors.gen.device_auth import device_auth
from tests.vectors.gen.devices import devices
from tests.vectors.gen.documents import documents
from tests.vectors.gen.drbg import RecordingRng, ReplayRng, SeededRng
from tests.vectors.gen.ed25519 import ed25519
from tests.vectors.gen.envelope import envelope
from tests.vectors.gen.franking import franking
from tests.vectors.gen.franking_binding import franking_binding
from tests.vectors.gen.identity import address, bundle_forged_signature, identity_and_bundle
from tests.vectors.gen.keystore import keystore
from tests.vectors.gen.link import link
from tests.vectors.gen.padding import padding
from tests.vectors.gen.pqxdh import pqxdh_first_message, pqxdh_tampered
from tests.vectors.gen.qr import qr_texts
from tests.vectors.gen.ratchet import ratchet_conversation, ratchet_duplicate, ratchet_limits, ratchet_tampered
from tests.vectors.gen.recovery import recovery
from tests.vectors.gen.report_file import report_file
from tests.vectors.gen.safety import safety_number
from tests.vectors.gen.sealed import sealed_sender, sealed_wrong_recipient

__all__ = ["OPTIONAL", "SCENARIOS", "RecordingRng", "ReplayRng", "SeededRng", "dump", "generate", "main"]

DEFAULT_OUT = Path(__file__).resolve().parent
KEM_FILE = "pqxdh_first_message.json"
"""The one file that is not reproducible (ML-KEM encapsulation takes no RNG)."""
KEM_DERIVED_FILE = "pqxdh_tampered.json"
"""Reproducible given the :data:`KEM_FILE` in the same folder."""


SCENARIOS: dict[str, Callable[[], Json]] = {
    "address.json": address,
    "identity_and_bundle.json": identity_and_bundle,
    "bundle_forged_signature.json": bundle_forged_signature,
    "ratchet_conversation.json": ratchet_conversation,
    "ratchet_tampered.json": ratchet_tampered,
    "ratchet_duplicate.json": ratchet_duplicate,
    "ratchet_limits.json": ratchet_limits,
    "sealed_sender.json": sealed_sender,
    "sealed_wrong_recipient.json": sealed_wrong_recipient,
    "padding.json": padding,
    "envelope.json": envelope,
    "device_auth.json": device_auth,
    "content.json": content,
    "keystore.json": keystore,
    "safety_number.json": safety_number,
    "attachment.json": attachment,
    "recovery.json": recovery,
    "qr_text.json": qr_texts,
    "ed25519.json": ed25519,
    "franking.json": franking,
    "documents.json": documents,
    "franking_binding.json": franking_binding,
    "report_file.json": report_file,
    "contact_card.json": contact_card,
    "devices.json": devices,
    "link.json": link,
}
"""Reproducible scenarios, by file name."""
OPTIONAL = frozenset({"content.json", "keystore.json", "safety_number.json"})
"""Scenarios of modules written in parallel: skipped (with a note) if their module does not import."""


def dump(vector_json: Json) -> str:
    """The canonical text of a vector file (stable key order, two-space indent, final newline)."""
    return json.dumps(vector_json, indent=2, ensure_ascii=True) + "\n"


def generate(out: Path, *, regenerate_kem: bool = False, log: Callable[[str], None] = print) -> list[Path]:
    """Write every vector file into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in SCENARIOS.items():
        try:
            data = make()
        except ImportError as exc:
            if name not in OPTIONAL:
                raise
            log(f"skipped {name}: {exc}")
            continue
        path = out / name
        path.write_text(dump(data), encoding="utf-8")
        written.append(path)
    kem_path = out / KEM_FILE
    if regenerate_kem or not kem_path.exists():
        kem_path.write_text(dump(pqxdh_first_message()), encoding="utf-8")
        written.append(kem_path)
    else:
        log(f"kept {KEM_FILE} (not reproducible; use --regenerate-kem to replace it)")
    first = json.loads(kem_path.read_text(encoding="utf-8"))
    if not isinstance(first, dict) or first.get("scenario") != "pqxdh_first_message":
        raise SystemExit(f"{kem_path} is not a PQXDH vector; rerun with --regenerate-kem to replace it")
    derived = out / KEM_DERIVED_FILE
    derived.write_text(dump(pqxdh_tampered(first)), encoding="utf-8")
    written.append(derived)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate Confide's test vectors.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: tests/vectors/)")
    parser.add_argument(
        "--regenerate-kem",
        action="store_true",
        help=f"also replace {KEM_FILE}, which cannot be reproduced byte for byte",
    )
    args = parser.parse_args(argv)
    for path in generate(args.out, regenerate_kem=args.regenerate_kem):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
