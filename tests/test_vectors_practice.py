"""Check ``franking_binding.json`` (SPEC 13.8 and SPEC 8 type 8), ``report_file.json`` (SPEC 13.9) and
``contact_card.json`` (SPEC 14) from their own inputs, the way another implementation would: signatures and
derived keys recomputed from the primitives (``cryptography``'s Ed25519, libsodium's scalar reduction),
layouts sliced by hand, the formats run through the public API; and that the generator reproduces each file.
The ``check_*`` functions have the shape of ``tests/test_vectors.py``'s ``CHECKS`` entries.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_core_ed25519_scalar_reduce, crypto_scalarmult_ed25519_base_noclamp

from confide.keys.errors import ConfideError
from confide.keys.identity import IdentityKeyPair
from confide.protocol import contact_card as cc
from confide.protocol import errors as protocol_errors
from confide.protocol.content import Content, Franked, FrankingKeyNotice, Text, check_franked, frank_content
from confide.protocol.documents import DocumentKind, parse_document
from confide.protocol.franking import FrankingKeyPair, FrankingPublicKey
from confide.protocol.franking_binding import FrankingBinding, franking_key_of
from confide.protocol.report_file import ReportFile, parse_report_file

from .vectors.generate import ReplayRng

Json = dict[str, Any]
VECTORS = Path(__file__).resolve().parent / "vectors"
LABEL_DERIVE = b"Confide-franking-v1-key"
BINDING_LABEL = b"Confide-franking-key-v1"
CARD_LABEL = b"Confide-contact-card-v1"
ERRORS: dict[str, type[ConfideError]] = {
    "MalformedFranking": protocol_errors.MalformedFranking,
    "FrankingBindingError": protocol_errors.FrankingBindingError,
    "RemoteProtocolError": protocol_errors.RemoteProtocolError,
    "ContactCardError": cc.ContactCardError,
}


def _b(value: str) -> bytes:
    return bytes.fromhex(value)


def _refused(want: Json, fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """``fn(*args, **kwargs)`` raises exactly the class ``want`` names."""
    assert want["result"] == "error", want
    cls = ERRORS[want["error"]]
    with pytest.raises(ConfideError) as info:
        fn(*args, **kwargs)
    assert type(info.value) is cls, (want["why"], type(info.value))


def _ed25519_ok(public: bytes, signature: bytes, message: bytes) -> None:
    Ed25519PublicKey.from_public_bytes(public).verify(signature, message)  # raises if it does not verify


def _franking_secret(identity_private: bytes) -> bytes:
    return crypto_core_ed25519_scalar_reduce(hashlib.sha512(LABEL_DERIVE + b"\x00" + identity_private).digest())


def check_franking_binding(d: Json, folder: Path) -> None:
    """Every case of ``franking_binding.json``, exactly."""
    del folder
    i, e = d["inputs"], d["expected"]
    assert i["label"] == BINDING_LABEL.decode()
    seed = _b(d["seed"])
    sizes = [32, 32, 32, 32, 64, 16]
    assert i["key_draws"] == [
        hashlib.shake_256(seed + k.to_bytes(8, "big")).digest(n).hex() for k, n in enumerate(sizes, start=1)
    ]
    people = {name: IdentityKeyPair.from_private_bytes(_b(key)) for name, key in i["identities"].items()}
    assert [i["identities"]["sender"], i["identities"]["recipient"]] == [
        i["key_draws"][0] + i["key_draws"][1],
        i["key_draws"][2] + i["key_draws"][3],
    ]
    judge = FrankingKeyPair(_b(i["judge_private"]))
    assert i["judge_private"] == crypto_core_ed25519_scalar_reduce(_b(i["key_draws"][4])).hex()
    assert judge.public.to_bytes().hex() == e["judge_public"]
    for name, who in people.items():
        want = e["keys"][name]
        secret = _franking_secret(who.private_bytes())
        assert secret.hex() == want["franking_private"] == franking_key_of(who).private_bytes().hex()
        public = crypto_scalarmult_ed25519_base_noclamp(secret)
        assert public.hex() == want["franking_public"]
        message = BINDING_LABEL + who.public.to_bytes() + public
        assert message.hex() == want["signed_message"]
        binding = _b(want["binding"])
        assert binding[:32] == public
        _ed25519_ok(who.public.signing, binding[32:], message)
        assert FrankingBinding.bind(who).to_bytes() == binding
        parsed = FrankingBinding.from_bytes(binding)
        parsed.verify(who.public)
        assert parsed.to_bytes() == binding

    sender, recipient = people["sender"], people["recipient"]
    v = i["inner"]
    inner = Content(_b(v["message_id"]), v["sent_at_ms"], v["expire_after_s"], Text(v["text"]))
    assert inner.to_bytes().hex() == e["inner"]
    rng = ReplayRng(i["frank_draws"])
    made = frank_content(
        inner, sender=sender, recipient_key=franking_key_of(recipient).public, judge=judge.public, rng=rng
    )
    assert rng.done()
    data = _b(e["franked"])
    assert made.to_bytes() == data
    # the layout, by hand: the inner header with type 8, judge, binding, var32 inner, franking
    header = inner.to_bytes()[:30]
    assert data[:30] == header[:1] + b"\x08" + header[2:]
    assert data[30:62] == judge.public.to_bytes()
    assert data[62:158] == _b(e["keys"]["sender"]["binding"])
    assert int.from_bytes(data[158:162], "big") == len(inner.to_bytes())
    assert data[162:-353] == inner.to_bytes()
    parsed_content = Content.from_bytes(data)
    assert parsed_content == made
    assert isinstance(parsed_content.body, Franked)
    assert parsed_content.body.content == inner
    for case, want in zip(i["checks"], e["checks"], strict=True):
        got = check_franked(
            parsed_content,
            recipient=franking_key_of(people[case["recipient"]]),
            sender_identity=people[case["sender_identity"]].public,
        )
        assert got is want["check_franked"], case["why"]
    assert e["checks"][0]["check_franked"] is True

    for case, want in zip(i["bad_bindings"], e["bad_bindings"], strict=True):
        _refused(want, FrankingBinding.from_bytes, _b(case["binding"]))
    for case, want in zip(i["refused"], e["refused"], strict=True):
        parsed_binding = FrankingBinding.from_bytes(_b(case["binding"]))
        _refused(want, parsed_binding.verify, people[case["identity"]].public)
    for case, want in zip(i["malformed"], e["malformed"], strict=True):
        _refused(want, Content.from_bytes, _b(case["data"]))

    # the FRANKING_KEY notice (type 9): header, the sender's binding, the judge key
    notice = _b(e["notice"])
    n = i["notice"]
    head = Content(_b(n["message_id"]), n["sent_at_ms"], 0, Text("x")).to_bytes()[:30]
    assert notice == head[:1] + b"\x09" + head[2:] + _b(e["keys"]["sender"]["binding"]) + judge.public.to_bytes()
    parsed_notice = Content.from_bytes(notice)
    assert isinstance(parsed_notice.body, FrankingKeyNotice)
    parsed_notice.body.binding.verify(sender.public)
    assert parsed_notice.body.judge == judge.public
    assert parsed_notice.to_bytes() == notice
    for case, want in zip(i["notice_malformed"], e["notice_malformed"], strict=True):
        _refused(want, Content.from_bytes, _b(case["data"]))


def check_report_file(d: Json, folder: Path) -> None:
    """Every case of ``report_file.json``, exactly."""
    del folder
    i, e = d["inputs"], d["expected"]
    base = i["base"]
    people = {name: IdentityKeyPair.from_private_bytes(_b(key)) for name, key in base["identities"].items()}
    judge = FrankingKeyPair(_b(base["judge_private"]))
    seed = _b(d["seed"])
    assert i["key_draws"] == [
        hashlib.shake_256(seed + k.to_bytes(8, "big")).digest(n).hex() for k, n in enumerate((32, 32, 64), start=1)
    ]
    stranger = IdentityKeyPair.from_private_bytes(_b(i["key_draws"][0] + i["key_draws"][1]))
    assert stranger.private_bytes().hex() == e["stranger"]
    other_judge = FrankingKeyPair(crypto_core_ed25519_scalar_reduce(_b(i["key_draws"][2])))
    assert other_judge.private_bytes().hex() == e["other_judge"]

    franked = Content.from_bytes(_b(base["franked"]))
    assert isinstance(franked.body, Franked)
    sender, recipient = people["sender"], people["recipient"]
    made = ReportFile.of_franked(franked, sender=sender.public, recipient=recipient, reported_at=i["reported_at"])
    data = _b(e["file"])
    assert made.to_bytes() == data
    # the layout, by hand
    assert data[0] == 1
    assert data[1:33] == franked.body.judge.to_bytes()
    assert data[33:161] == sender.public.to_bytes()
    assert data[161:257] == franked.body.binding.to_bytes()
    assert data[257:385] == recipient.public.to_bytes()
    assert data[385:481] == FrankingBinding.bind(recipient).to_bytes()
    assert int.from_bytes(data[481:489], "big") == i["reported_at"]
    assert int.from_bytes(data[489:493], "big") == len(data) - 493
    report = _b(e["report"])
    assert data[493:] == report
    assert report[1:33] == franked.body.binding.key.to_bytes()
    assert report[33:65] == crypto_scalarmult_ed25519_base_noclamp(_franking_secret(recipient.private_bytes()))
    assert parse_report_file(data) == made

    judges = {"practice": judge, "other": other_judge}
    for case, want in zip(i["verdicts"], e["verdicts"], strict=True):
        file = parse_report_file(_b(case["file"]))
        assert file.to_bytes().hex() == case["file"]
        v = file.review(judges[case["judge"]])
        got = {
            "why": case["why"],
            "result": "ok",
            "judge_matches": v.judge_matches,
            "sender_bound": v.sender_bound,
            "recipient_bound": v.recipient_bound,
            "franking_holds": v.franking_holds,
            "authentic": v.authentic,
            "sender_address": v.sender_address.text,
            "recipient_address": v.recipient_address.text,
            "content": None if v.content is None else v.content.to_bytes().hex(),
        }
        assert got == want
    assert [w["authentic"] for w in e["verdicts"]] == [True] + [False] * (len(e["verdicts"]) - 1)
    for case, want in zip(i["malformed"], e["malformed"], strict=True):
        _refused(want, parse_report_file, _b(case["file"]))


def check_contact_card(d: Json, folder: Path) -> None:
    """Every case of ``contact_card.json``, exactly."""
    del folder
    i, e = d["inputs"], d["expected"]
    assert i["label"] == CARD_LABEL.decode()
    people = {name: IdentityKeyPair.from_private_bytes(_b(key)) for name, key in i["identities"].items()}
    now = i["now"]
    documents = {
        "credential": parse_document(
            _b(i["documents"]["credential"]), expected_signer=None, expected_kind=DocumentKind.CREDENTIAL, now=now
        ),
        "availability": parse_document(
            _b(i["documents"]["availability"]), expected_signer=None, expected_kind=DocumentKind.AVAILABILITY, now=now
        ),
    }
    for value, want in zip(i["values"], e["encoded"], strict=True):
        who = people[value["identity"]]
        token = _b(value["delivery_token"])
        credential = documents[value["credential"]] if value["credential"] else None
        availability = documents[value["availability"]] if value["availability"] else None
        card = cc.ContactCard.sign(
            who, token, credential=credential, availability=availability, issued_at=value["issued_at"]
        )
        data = _b(want["card"])
        assert card.to_bytes() == data, value["why"]
        # the layout and the signature, by hand
        assert data[0] == 1
        assert data[1:129] == who.public.to_bytes()
        assert data[129:161] == token
        binding = _b(want["binding"])
        assert data[161:257] == binding
        key = crypto_scalarmult_ed25519_base_noclamp(_franking_secret(who.private_bytes()))
        assert binding[:32] == key
        _ed25519_ok(who.public.signing, binding[32:], BINDING_LABEL + who.public.to_bytes() + key)
        _ed25519_ok(who.public.signing, data[-64:], CARD_LABEL + data[:-64])
        assert int.from_bytes(data[-72:-64], "big") == value["issued_at"]
        parsed = cc.parse_contact_card(data, now=now)
        assert parsed == card
        assert parsed.address.text == want["address"] == who.public.address.text
        assert parsed.invite == (who.public.address, token)

    for case, want in zip(i["cases"], e["cases"], strict=True):
        if want["result"] == "ok":
            card = cc.parse_contact_card(_b(case["card"]), now=case["now"])
            assert card.to_bytes().hex() == case["card"]
        else:
            _refused(want, cc.parse_contact_card, _b(case["card"]), now=case["now"])

    first = _b(e["encoded"][0]["card"])
    assert e["text"] == "CONFIDE-CARD1:" + base64.b32encode(first).decode().rstrip("=")
    assert cc.card_text(first) == e["text"]
    for case, want in zip(i["scans"], e["scans"], strict=True):
        if want["result"] == "ok":
            assert cc.parse_card_text(case["text"]) == first
        else:
            _refused(want, cc.parse_card_text, case["text"])


def _check_policy_key_is_a_franking_key() -> None:
    """documents.json's policy publishes a valid moderation key (parsed as a franking public key)."""
    docs = json.loads((VECTORS / "documents.json").read_text(encoding="utf-8"))
    (policy,) = (v for v in docs["inputs"]["values"] if v["kind"] == "policy")
    FrankingPublicKey.from_bytes(_b(policy["body"]["moderation_key"]))


CHECKS: dict[str, Callable[[Json, Path], None]] = {
    "franking_binding": check_franking_binding,
    "report_file": check_report_file,
    "contact_card": check_contact_card,
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_vector(name: str) -> None:
    path = VECTORS / f"{name}.json"
    d = json.loads(path.read_text(encoding="utf-8"))
    assert d["scenario"] == name
    assert set(d) == {"scenario", "description", "rng", "rng_note", "seed", "inputs", "expected"}
    CHECKS[name](d, VECTORS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_generator_reproduces_the_file(name: str) -> None:
    from tests.vectors.generate import SCENARIOS, dump

    assert dump(SCENARIOS[f"{name}.json"]()) == (VECTORS / f"{name}.json").read_text(encoding="utf-8")


def test_the_policy_vector_publishes_a_moderation_key() -> None:
    _check_policy_key_is_a_franking_key()
