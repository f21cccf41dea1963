"""Check ``link.json`` (SPEC 15: the link code, SPAKE2 per RFC 9382 on edwards25519, the six slots, provisioning
and the history stream) from its own inputs, the way another implementation would: every value recomputed from
the primitives (libsodium's edwards25519 operations, ``hashlib``, ``cryptography``'s HKDF and ChaCha20-Poly1305)
and the layouts built by hand, then the public API run on the listed draws and each refusal played at its place.
:func:`check_link` has the shape of ``tests/test_vectors.py``'s ``CHECKS`` entries.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_scalar_mul,
    crypto_core_ed25519_scalar_reduce,
    crypto_core_ed25519_sub,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)

from confide.keys.errors import ConfideError
from confide.protocol import link as lk
from confide.protocol.history import HistoryReader
from confide.protocol.provisioning import HistoryOffer, Provisioning

from .vectors.generate import ReplayRng

Json = dict[str, Any]
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _b(value: str) -> bytes:
    return bytes.fromhex(value)


def _run(want: Json, fn: Callable[..., Any], *args: Any) -> Any:
    if want["result"] == "ok":
        return fn(*args)
    with pytest.raises(ConfideError) as info:
        fn(*args)
    assert type(info.value).__name__ == want["error"], (want.get("why"), type(info.value))
    return None


def _len_prefixed(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(8, "little") + p for p in parts)


def _spake2_by_hand(inp: Json, exp: Json) -> None:
    """RFC 9382 sections 3.3 and 4, from libsodium's group operations and the hash functions."""
    w = _b(exp["w"])
    m, n = _b(inp["M"]), _b(inp["N"])
    x = crypto_core_ed25519_scalar_reduce(_b(inp["x_draw"]))
    y = crypto_core_ed25519_scalar_reduce(_b(inp["y_draw"]))
    p_a = crypto_core_ed25519_add(crypto_scalarmult_ed25519_base_noclamp(x), crypto_scalarmult_ed25519_noclamp(w, m))
    p_b = crypto_core_ed25519_add(crypto_scalarmult_ed25519_base_noclamp(y), crypto_scalarmult_ed25519_noclamp(w, n))
    assert (p_a.hex(), p_b.hex()) == (exp["pA"], exp["pB"])
    eight = (8).to_bytes(32, "little")
    k_a = crypto_scalarmult_ed25519_noclamp(
        crypto_core_ed25519_scalar_mul(eight, x), crypto_core_ed25519_sub(p_b, crypto_scalarmult_ed25519_noclamp(w, n))
    )
    k_b = crypto_scalarmult_ed25519_noclamp(
        crypto_core_ed25519_scalar_mul(eight, y), crypto_core_ed25519_sub(p_a, crypto_scalarmult_ed25519_noclamp(w, m))
    )
    assert k_a == k_b == _b(exp["K"])
    tt = _len_prefixed(inp["id_a"].encode(), inp["id_b"].encode(), p_a, p_b, k_a, w)
    assert tt == _b(exp["TT"])
    digest = hashlib.sha256(tt).digest()
    assert digest == _b(exp["TT_sha256"])
    ke, ka = digest[:16], digest[16:]
    assert ke == _b(exp["Ke"])
    kc = HKDF(hashes.SHA256(), 32, None, b"ConfirmationKeys" + inp["aad"].encode()).derive(ka)
    assert hmac.new(kc[:16], tt, hashlib.sha256).digest() == _b(exp["cA"])
    assert hmac.new(kc[16:], tt, hashlib.sha256).digest() == _b(exp["cB"])
    keys = HKDF(hashes.SHA256(), 64, None, b"Confide-link-keys-v1").derive(ke)
    assert (keys[:32], keys[32:]) == (_b(exp["k_n2e"]), _b(exp["k_e2n"]))


def _seal(key: str, counter: int, slot: int, plaintext: bytes) -> bytes:
    ad = b"Confide-link-v1" + bytes((slot,))
    return b"\x01" + ChaCha20Poly1305(_b(key)).encrypt(counter.to_bytes(12, "big"), plaintext, ad)


def _provisioning_by_hand(p: Json) -> bytes:
    out = b"\x01" + _b(p["identity_private"]) + _b(p["token_key"]) + _b(p["intro_token"]) + bytes((p["role"],))
    out += len(_b(p["device_list"])).to_bytes(4, "big") + _b(p["device_list"])
    out += len(p["contacts"]).to_bytes(2, "big")
    for contact in p["contacts"]:
        out += len(_b(contact)).to_bytes(2, "big") + _b(contact)
    return out


def _offer_by_hand(o: Json) -> bytes:
    blob_id = o["blob_id"].encode()
    out: bytes = b"\x01" + len(blob_id).to_bytes(2, "big") + blob_id + _b(o["key"]) + _b(o["digest"])
    size, messages = int(o["size"]), int(o["messages"])
    return out + size.to_bytes(8, "big") + messages.to_bytes(4, "big")


def _slots_by_hand(inp: Json, exp: Json) -> None:
    slots = [_b(s) for s in exp["slots"]]
    assert slots[0] == b"\x01" + _b(exp["pA"])
    assert slots[1] == b"\x01" + _b(exp["pB"]) + _b(exp["cB"])
    name = inp["device_name"].encode()
    request = _b(inp["device_public"]) + bytes((len(name),)) + name
    assert slots[2] == b"\x01" + _b(exp["cA"]) + _seal(exp["k_n2e"], 0, 2, request)[1:]
    provisioning = _provisioning_by_hand(inp["provisioning"])
    assert provisioning == _b(exp["provisioning"])
    assert slots[3] == _seal(exp["k_e2n"], 0, 3, provisioning)
    offer = _offer_by_hand(inp["history_offer"])
    assert offer == _b(exp["history_offer"])
    assert exp["no_history_offer"] == "00"
    assert slots[4] == _seal(exp["k_e2n"], 1, 4, offer)
    assert slots[5] == _seal(exp["k_n2e"], 1, 5, bytes((inp["outcome"],)))


def _code_by_hand(inp: Json, exp: Json) -> None:
    value = int.from_bytes(_b(inp["code_draw"]), "big") >> 4
    text = "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(12)))
    assert exp["code"] == f"{text[:4]}-{text[4:8]}-{text[8:]}"
    assert exp["qr_text"] == "CONFIDE-LINK1:" + exp["code"]
    channel_bits, password_bits = (value >> 40).to_bytes(3, "big"), (value & (2**40 - 1)).to_bytes(5, "big")
    assert (channel_bits.hex(), password_bits.hex()) == (exp["channel_bits"], exp["password_bits"])
    assert hashlib.sha256(b"Confide-link-channel-v1" + channel_bits).hexdigest() == exp["channel"]
    w = crypto_core_ed25519_scalar_reduce(hashlib.sha512(b"Confide-link-password-v1" + password_bits).digest())
    assert w.hex() == exp["w"]


def _api_run(inp: Json, exp: Json, code: lk.LinkCode) -> tuple[lk.NewDeviceLink, lk.ExistingDeviceLink]:
    rng = ReplayRng([inp["x_draw"], inp["y_draw"]])
    return lk.NewDeviceLink(code, rng=rng), lk.ExistingDeviceLink(code, rng=rng)


def _provisioning(inp: Json) -> Provisioning:
    p = inp["provisioning"]
    return Provisioning(
        _b(p["identity_private"]),
        _b(p["token_key"]),
        _b(p["intro_token"]),
        p["role"],
        _b(p["device_list"]),
        tuple(_b(c) for c in p["contacts"]),
    )


def _offer(inp: Json) -> HistoryOffer:
    o = inp["history_offer"]
    return HistoryOffer(o["blob_id"], _b(o["key"]), _b(o["digest"]), o["size"], o["messages"])


def _take_slot(inp: Json, exp: Json, code: lk.LinkCode, slot: int, data: bytes, want: Json) -> None:
    """Replay the full run up to ``slot`` and hand its taker ``data`` instead of the honest bytes."""
    n, e = _api_run(inp, exp, code)
    honest = [_b(s) for s in exp["slots"]]
    name = inp["device_name"]
    prelude: list[Callable[[], Any]] = [
        n.start,
        lambda: e.answer(honest[0]),
        lambda: n.receive_existing(honest[1]),
        lambda: n.request(_b(inp["device_public"]), name),
        lambda: e.open_request(honest[2]),
        lambda: e.provisioning(_provisioning(inp)),
        lambda: n.open_provisioning(honest[3]),
        lambda: e.history_offer(_offer(inp)),
        lambda: n.open_history_offer(honest[4]),
        n.done,
    ]
    for step in prelude[: {0: 1, 1: 2, 2: 4, 3: 6, 4: 8, 5: 10}[slot]]:
        step()
    takers: list[Callable[[bytes], Any]] = [
        e.answer,
        n.receive_existing,
        e.open_request,
        n.open_provisioning,
        n.open_history_offer,
        e.open_done,
    ]
    _run(want, takers[slot], data)


def _history(inp: Json, exp: Json) -> None:
    stream = b""
    for r in inp["history_records"]:
        content = _b(r["content"])
        body = _b(r["peer"]) + bytes((r["direction"], r["status"])) + r["at_ms"].to_bytes(8, "big")
        body += len(content).to_bytes(4, "big") + content
        stream += len(body).to_bytes(4, "big") + body
    stream += bytes(4) + len(inp["history_records"]).to_bytes(4, "big")
    assert stream == _b(exp["history_stream"])
    reader = HistoryReader(size=len(stream))
    records = reader.feed(stream)
    assert reader.finish() == len(records)
    got = [
        {
            "peer": r.peer.hex(),
            "direction": r.direction,
            "status": r.status,
            "at_ms": r.at_ms,
            "content": r.content.hex(),
        }
        for r in records
    ]
    assert got == inp["history_records"]

    def read(data: bytes) -> None:
        rd = HistoryReader()
        rd.feed(data)
        rd.finish()

    for case, want in zip(inp["malformed_streams"], exp["malformed_streams"], strict=True):
        assert want["result"] == "error"
        _run(want, read, _b(case["data"]))


def check_link(d: Json, folder: Path) -> None:
    inp, exp = d["inputs"], d["expected"]
    rng = ReplayRng(inp["rng_outputs"])
    assert [rng(8).hex(), rng(64).hex(), rng(64).hex()] == [inp["code_draw"], inp["x_draw"], inp["y_draw"]]
    assert rng(64).hex() == inp["wrong_code"]["y_draw"]
    assert len(inp["rng_outputs"]) == 6
    _code_by_hand(inp, exp)
    _spake2_by_hand(inp, exp)
    _slots_by_hand(inp, exp)

    code = lk.new_link_code(ReplayRng([inp["code_draw"]]))
    assert (code.text, lk.channel_of(code), lk.password_of(code).hex()) == (exp["code"], exp["channel"], exp["w"])
    n, e = _api_run(inp, exp, code)
    slots = [n.start()]
    slots.append(e.answer(slots[0]))
    n.receive_existing(slots[1])
    slots.append(n.request(_b(inp["device_public"]), inp["device_name"]))
    assert e.open_request(slots[2]) == lk.DeviceRequest(_b(inp["device_public"]), inp["device_name"])
    slots.append(e.provisioning(_provisioning(inp)))
    assert n.open_provisioning(slots[3]) == _provisioning(inp)
    slots.append(e.history_offer(_offer(inp)))
    assert n.open_history_offer(slots[4]) == _offer(inp)
    slots.append(n.done(lk.LinkOutcome(inp["outcome"])))
    assert e.open_done(slots[5]) == inp["outcome"]
    assert [s.hex() for s in slots] == exp["slots"]

    wrong, got_wrong = inp["wrong_code"], exp["wrong_code"]
    wrong_n = lk.NewDeviceLink(code, rng=ReplayRng([inp["x_draw"]]))
    wrong_e = lk.ExistingDeviceLink(lk.parse_link_code(wrong["typed"]), rng=ReplayRng([wrong["y_draw"]]))
    slot1 = wrong_e.answer(wrong_n.start())
    assert slot1.hex() == got_wrong["slot1"]
    _run(got_wrong["new_device"], wrong_n.receive_existing, slot1)
    abort = wrong_n.abort()
    assert abort.hex() == got_wrong["abort_slot2"]
    _run(got_wrong["existing_device"], wrong_e.open_request, abort)

    for case, want in zip(inp["malformed_slots"], exp["malformed_slots"], strict=True):
        assert want["result"] == "error"
        _take_slot(inp, exp, code, case["slot"], _b(case["data"]), want)
    for case, want in zip(inp["codes"], exp["codes"], strict=True):
        parsed = _run(want, lk.parse_link_code, case["text"])
        if want["result"] == "ok":
            assert parsed == code
    _history(inp, exp)
    for case, want in zip(inp["malformed_provisioning"], exp["malformed_provisioning"], strict=True):
        assert want["result"] == "error"
        _run(want, Provisioning.from_bytes, _b(case["data"]))
