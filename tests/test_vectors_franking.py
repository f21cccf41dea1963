"""Check ``tests/vectors/franking.json`` (SPEC 13) from its own inputs, and that its generator reproduces it.

The commitments and the challenge are recomputed from libsodium's primitives directly (not through
``confide.protocol.franking_group``), the way another implementation would; the algorithms run through the
public API with the listed draws replayed. :func:`check_franking` has the shape of ``tests/test_vectors.py``'s
``CHECKS`` entries, so that file can list it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_scalar_negate,
    crypto_core_ed25519_scalar_reduce,
    crypto_core_ed25519_scalar_sub,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)

from confide.keys.errors import ConfideError
from confide.protocol import errors as protocol_errors
from confide.protocol.franking import (
    Franking,
    FrankingKeyPair,
    FrankingPublicKey,
    forge,
    frank,
    j_forge,
    judge,
    proof_holds,
    r_forge,
    verify,
)
from confide.protocol.franking_report import Report

from .vectors.generate import ReplayRng

Json = dict[str, Any]
VECTOR = Path(__file__).resolve().parent / "vectors" / "franking.json"
LABEL_CHALLENGE = b"Confide-franking-v1-challenge"
LABEL_DERIVE = b"Confide-franking-v1-key"


def _b(value: str) -> bytes:
    return bytes.fromhex(value)


def _sub_mul(z: bytes, c: bytes, base: bytes | None, point: bytes) -> bytes:
    zb = crypto_scalarmult_ed25519_base_noclamp(z) if base is None else crypto_scalarmult_ed25519_noclamp(z, base)
    return crypto_core_ed25519_add(zb, crypto_scalarmult_ed25519_noclamp(crypto_core_ed25519_scalar_negate(c), point))


def _expect_error(expected: Json, fn: Callable[[bytes], object], data: bytes) -> None:
    assert expected["result"] == "error"
    cls = getattr(protocol_errors, expected["error"])
    assert issubclass(cls, ConfideError)
    with pytest.raises(cls) as info:
        fn(data)
    assert type(info.value) is cls, (expected["why"], type(info.value))


def check_franking(d: Json, folder: Path) -> None:
    """Every case of ``franking.json``, exactly."""
    del folder
    i, e = d["inputs"], d["expected"]
    assert e["result"] == "ok"
    assert i["labels"] == {"challenge": LABEL_CHALLENGE.decode(), "derive": LABEL_DERIVE.decode()}
    roles = ("sender", "recipient", "judge", "stranger")
    pairs = {}
    for role, draw in zip(roles, i["key_draws"], strict=True):
        secret = crypto_core_ed25519_scalar_reduce(_b(draw))
        assert secret.hex() == e["keys"][role]["private"]
        pairs[role] = FrankingKeyPair(secret)
        assert crypto_scalarmult_ed25519_base_noclamp(secret).hex() == e["keys"][role]["public"]
        assert pairs[role].public.to_bytes().hex() == e["keys"][role]["public"]
    derived_secret = crypto_core_ed25519_scalar_reduce(
        hashlib.sha512(LABEL_DERIVE + b"\x00" + _b(i["derive_seed"])).digest()
    )
    assert derived_secret.hex() == e["derived"]["private"]
    assert FrankingKeyPair.derive(_b(i["derive_seed"])).public.to_bytes().hex() == e["derived"]["public"]

    pub = {role: kp.public for role, kp in pairs.items()}
    s, r, j = pub["sender"], pub["recipient"], pub["judge"]
    message = _b(i["message"])
    algorithms: dict[str, Callable[[ReplayRng], Franking]] = {
        "frank": lambda rng: frank(pairs["sender"], r, j, message, rng),
        "forge": lambda rng: forge(s, r, j, message, rng),
        "r_forge": lambda rng: r_forge(pairs["recipient"], s, j, message, rng),
        "j_forge": lambda rng: j_forge(pairs["judge"], s, r, message, rng),
    }
    made = {}
    assert [c["algorithm"] for c in i["signatures"]] == list(algorithms)
    for case, want in zip(i["signatures"], e["signatures"], strict=True):
        assert len(case["rng_outputs"]) == len(case["draw_order"])
        assert case["draws_reduced"] == [crypto_core_ed25519_scalar_reduce(_b(x)).hex() for x in case["rng_outputs"]]
        rng = ReplayRng(case["rng_outputs"])
        f = algorithms[case["algorithm"]](rng)
        assert rng.done()
        made[case["algorithm"]] = f
        assert f.to_bytes().hex() == want["franking"]
        assert Franking.from_bytes(_b(want["franking"])) == f
        fl = {k: _b(v) for k, v in want["fields"].items()}
        assert b"\x01" + b"".join(fl.values()) == f.to_bytes()
        c_t = crypto_core_ed25519_scalar_sub(fl["c"], fl["c_s"])
        c_r = crypto_core_ed25519_scalar_sub(fl["c"], fl["c_j"])
        assert (c_t.hex(), c_r.hex()) == (want["c_t"], want["c_r"])
        cm = {
            "a_s": _sub_mul(fl["z_s"], fl["c_s"], None, s.to_bytes()),
            "a_t": _sub_mul(fl["z_t"], c_t, None, fl["j_tag"]),
            "a_j": _sub_mul(fl["z_j"], fl["c_j"], None, fl["e_j"]),
            "b_j": _sub_mul(fl["z_j"], fl["c_j"], j.to_bytes(), fl["j_tag"]),
            "a_r": _sub_mul(fl["z_r"], c_r, None, fl["r_tag"]),
        }
        assert {k: v.hex() for k, v in cm.items()} == want["commitments"]
        transcript = LABEL_CHALLENGE + b"\x00" + s.to_bytes() + r.to_bytes() + j.to_bytes()
        transcript += fl["j_tag"] + fl["r_tag"] + fl["e_j"] + fl["e_r"] + b"".join(cm.values())
        transcript += len(message).to_bytes(8, "big") + message
        assert transcript.hex() == want["challenge_input"]
        assert crypto_core_ed25519_scalar_reduce(hashlib.sha512(transcript).digest()) == fl["c"]
        checks = {
            "proof_holds": proof_holds(s, r, j, message, f),
            "verify": verify(pairs["recipient"], s, j, message, f),
            "judge": judge(pairs["judge"], s, r, message, f),
        }
        assert checks == want["checks"]
    assert e["signatures"][0]["checks"] == {"proof_holds": True, "verify": True, "judge": True}
    assert e["signatures"][1]["checks"] == {"proof_holds": True, "verify": False, "judge": False}
    assert e["signatures"][2]["checks"] == {"proof_holds": True, "verify": True, "judge": False}
    assert e["signatures"][3]["checks"] == {"proof_holds": True, "verify": True, "judge": True}

    for case, want in zip(i["checks"], e["checks"], strict=True):
        f = made[case["signature"]]
        m = _b(case["message"])
        got_verify = verify(pairs[case["recipient"]], pub[case["sender"]], pub[case["judge"]], m, f)
        got_judge = judge(pairs[case["judge"]], pub[case["sender"]], pub[case["recipient"]], m, f)
        assert (got_verify, got_judge) == (want["verify"], want["judge"]), case["why"]

    report = Report(s, r, message, made["frank"])
    assert report.to_bytes().hex() == e["report"]
    parsed = Report.from_bytes(_b(e["report"]))
    assert parsed == report
    assert parsed.review(pairs["judge"])
    assert not parsed.review(pairs["stranger"])

    for case, want in zip(i["bad_reports"], e["bad_reports"], strict=True):
        _expect_error(want, Report.from_bytes, _b(case["report"]))
    for case, want in zip(i["bad_frankings"], e["bad_frankings"], strict=True):
        _expect_error(want, Franking.from_bytes, _b(case["franking"]))
    for case, want in zip(i["bad_keys"], e["bad_keys"], strict=True):
        _expect_error(want, FrankingPublicKey.from_bytes, _b(case["key"]))
    for case, want in zip(i["refused"], e["refused"], strict=True):
        f = Franking.from_bytes(_b(case["franking"]))
        got = {
            "proof_holds": proof_holds(s, r, j, message, f),
            "verify": verify(pairs["recipient"], s, j, message, f),
            "judge": judge(pairs["judge"], s, r, message, f),
        }
        assert got == want["checks"] == {"proof_holds": False, "verify": False, "judge": False}


def test_franking_vector() -> None:
    d = json.loads(VECTOR.read_text(encoding="utf-8"))
    assert d["scenario"] == "franking"
    assert set(d) == {"scenario", "description", "rng", "rng_note", "seed", "inputs", "expected"}
    assert d["seed"] == b"confide-vectors/franking".hex()
    check_franking(d, VECTOR.parent)


def test_the_generator_reproduces_the_franking_vector() -> None:
    from tests.vectors.gen.franking import franking

    text = json.dumps(franking(), indent=2, ensure_ascii=True) + "\n"
    assert text == VECTOR.read_text(encoding="utf-8")
