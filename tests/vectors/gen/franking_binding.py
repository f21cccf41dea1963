"""SPEC 13.8 (franking key binding) and SPEC 8 type 8 (FRANKED content): ``franking_binding.json``.

Two identities and a judge key from the DRBG; each identity's derived franking key and its binding; one text
content franked by the sender for the recipient and the judge (every draw listed); the recipient's checks of
it; malformed and refused bindings; malformed FRANKED contents.
"""

from __future__ import annotations

from confide.keys.encoding import Writer
from confide.keys.identity import IdentityKeyPair
from confide.protocol.content import (
    Content,
    ContentType,
    FrankingKeyNotice,
    Receipt,
    ReceiptKind,
    Text,
    check_franked,
    frank_content,
)
from confide.protocol.errors import FrankingBindingError, MalformedFranking, RemoteProtocolError
from confide.protocol.franking import FrankingKeyPair
from confide.protocol.franking_binding import (
    FRANKING_BINDING_LABEL,
    FrankingBinding,
    binding_message,
    franking_key_of,
)

from .common import Json, expect_error, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng
from .franking import ORDER_8

TEXT = "I will find out where you live."
"""The franked message's text."""
SENT_AT_MS = 1_700_000_000_000
NOTICE_ID = bytes(range(16))
"""The FRANKING_KEY content's message id (a fixed value: the notice adds no draws)."""
IDENTITY_POINT = b"\x01" + bytes(31)
"""The encoding of the group's identity element: never a valid franking key."""


def franked_bytes(header: bytes, judge: bytes, binding: bytes, inner: bytes, franking: bytes, kind: int = 8) -> bytes:
    """A FRANKED content assembled byte by byte: ``header`` is version, type, id, clock and expiry (the type
    byte replaced by ``kind``)."""
    w = Writer().raw(header[:1]).u8(kind).raw(header[2:]).raw(judge).raw(binding).var32(inner).raw(franking)
    return w.bytes()


def franking_binding() -> Json:
    seed = seed_of("franking_binding")
    rng = RecordingRng(SeededRng(seed))
    sender, recipient = IdentityKeyPair.generate(rng), IdentityKeyPair.generate(rng)
    judge = FrankingKeyPair.generate(rng)
    message_id = rng(16)
    key_draws = rng.take()
    inner = Content(message_id, SENT_AT_MS, 3600, Text(TEXT))
    recipient_key = franking_key_of(recipient)
    franked = frank_content(inner, sender=sender, recipient_key=recipient_key.public, judge=judge.public, rng=rng)
    frank_draws = rng.take()
    data = franked.to_bytes()
    assert Content.from_bytes(data) == franked

    bindings = {name: FrankingBinding.bind(who) for name, who in (("sender", sender), ("recipient", recipient))}
    people = {"sender": sender, "recipient": recipient}
    keys_out = {
        name: {
            "franking_private": h(franking_key_of(who).private_bytes()),
            "franking_public": h(franking_key_of(who).public.to_bytes()),
            "signed_message": h(binding_message(who.public, franking_key_of(who).public)),
            "binding": h(bindings[name].to_bytes()),
        }
        for name, who in people.items()
    }

    checks = [
        ("the recipient checks the honest content", "recipient", "sender", True),
        ("the sender's key in place of the recipient's (a franking for another recipient)", "sender", "sender", False),
        ("the binding checked against another identity (swapped sender)", "recipient", "recipient", False),
    ]
    checks_in, checks_out = [], []
    for why, checker, claimed, want in checks:
        got = check_franked(franked, recipient=franking_key_of(people[checker]), sender_identity=people[claimed].public)
        assert got is want, why
        checks_in.append({"why": why, "recipient": checker, "sender_identity": claimed})
        checks_out.append({"why": why, "result": "ok", "check_franked": got})

    sender_binding = bindings["sender"].to_bytes()
    bad_bindings = [
        ("95 bytes", sender_binding[:-1]),
        ("97 bytes", sender_binding + b"\x00"),
        ("key is the identity point", IDENTITY_POINT + sender_binding[32:]),
        ("key is a point of order 8", ORDER_8 + sender_binding[32:]),
    ]
    refused = [
        ("the sender's binding verified for the recipient's identity", sender_binding, "recipient"),
        ("signature byte flipped", flip(sender_binding, -1), "sender"),
        (
            "key replaced by the recipient's (signature kept)",
            bindings["recipient"].to_bytes()[:32] + sender_binding[32:],
            "sender",
        ),
    ]
    refused_out = []
    for why, raw, who in refused:
        parsed = FrankingBinding.from_bytes(raw)
        refused_out.append({"why": why, **expect_error(FrankingBindingError, parsed.verify, people[who].public)})

    hdr = data[:30]
    judge_raw, binding_raw = judge.public.to_bytes(), sender_binding
    inner_raw = inner.to_bytes()
    franking_raw = data[-353:]
    other_header = Content(bytes(16), SENT_AT_MS, 3600, Text(TEXT)).to_bytes()
    receipt = Content(message_id, SENT_AT_MS, 3600, Receipt(ReceiptKind.READ, (bytes(16),))).to_bytes()
    malformed = [
        (
            "the inner content's message id differs",
            franked_bytes(hdr, judge_raw, binding_raw, other_header, franking_raw),
        ),
        (
            "the inner content's expiry differs",
            franked_bytes(
                hdr, judge_raw, binding_raw, inner_raw[:26] + (0).to_bytes(4, "big") + inner_raw[30:], franking_raw
            ),
        ),
        ("the inner content is a receipt", franked_bytes(hdr, judge_raw, binding_raw, receipt, franking_raw)),
        ("the inner content is itself franked", franked_bytes(hdr, judge_raw, binding_raw, data, franking_raw)),
        (
            "the inner content has a trailing byte",
            franked_bytes(hdr, judge_raw, binding_raw, inner_raw + b"\x00", franking_raw),
        ),
        ("judge key is the identity point", franked_bytes(hdr, IDENTITY_POINT, binding_raw, inner_raw, franking_raw)),
        (
            "binding key is a point of order 8",
            franked_bytes(hdr, judge_raw, ORDER_8 + binding_raw[32:], inner_raw, franking_raw),
        ),
        ("franking version 0", franked_bytes(hdr, judge_raw, binding_raw, inner_raw, b"\x00" + franking_raw[1:])),
        ("franking truncated by one byte", data[:-1]),
        ("one trailing byte", data + b"\x00"),
        (
            "inner length one more than present",
            data[: 30 + 128] + (len(inner_raw) + 1).to_bytes(4, "big") + data[30 + 128 + 4 :],
        ),
    ]
    assert franked.type == ContentType.FRANKED

    notice = Content(NOTICE_ID, SENT_AT_MS, 0, FrankingKeyNotice(bindings["sender"], judge.public))
    notice_raw = notice.to_bytes()
    assert Content.from_bytes(notice_raw) == notice
    notice_malformed = [
        ("judge key of order 8", notice_raw[:-32] + ORDER_8),
        ("binding key is the identity point", notice_raw[:30] + IDENTITY_POINT + notice_raw[62:]),
        ("truncated by one byte", notice_raw[:-1]),
        ("one trailing byte", notice_raw + b"\x00"),
    ]

    return vector(
        "franking_binding",
        "Franking key binding (SPEC 13.8) and the FRANKED content (SPEC 8, type 8). Each identity's franking key "
        "is derived from its 64 private bytes (SPEC 13.2); its binding is key(32) || Ed25519(identity signing "
        "key, label || identity public (128) || key). 'franked' is the inner text content franked by the sender "
        "for the recipient's franking key and the judge key; the franking's draws are listed in order (alpha, "
        "beta, then the proof's six, 64 bytes each). 'checks' run check_franked (binding verifies for the named "
        "sender identity, and Verify with the named recipient's key). 'bad_bindings' fail to parse with "
        "MalformedFranking; 'refused' parse and fail verify with FrankingBindingError; every 'malformed' content "
        "is refused with RemoteProtocolError. 'notice' is the sender's FRANKING_KEY content (SPEC 8, type 9: its "
        "binding, then the judge key), and every 'notice_malformed' is refused with RemoteProtocolError.",
        seed,
        {
            "draw_order": ["sender identity (32+32)", "recipient identity (32+32)", "judge key (64)", "message id"],
            "key_draws": key_draws,
            "label": FRANKING_BINDING_LABEL.decode(),
            "identities": {name: h(who.private_bytes()) for name, who in people.items()},
            "judge_private": h(judge.private_bytes()),
            "inner": {"message_id": h(message_id), "sent_at_ms": SENT_AT_MS, "expire_after_s": 3600, "text": TEXT},
            "frank_draws": frank_draws,
            "checks": checks_in,
            "bad_bindings": [{"why": w, "binding": h(b)} for w, b in bad_bindings],
            "refused": [{"why": w, "binding": h(b), "identity": who} for w, b, who in refused],
            "malformed": [{"why": w, "data": h(d)} for w, d in malformed],
            "notice": {"message_id": h(NOTICE_ID), "sent_at_ms": SENT_AT_MS},
            "notice_malformed": [{"why": w, "data": h(d)} for w, d in notice_malformed],
        },
        {
            "result": "ok",
            "keys": keys_out,
            "judge_public": h(judge.public.to_bytes()),
            "inner": h(inner_raw),
            "franked": h(data),
            "checks": checks_out,
            "bad_bindings": [
                {"why": w, **expect_error(MalformedFranking, FrankingBinding.from_bytes, b)} for w, b in bad_bindings
            ],
            "refused": refused_out,
            "malformed": [{"why": w, **expect_error(RemoteProtocolError, Content.from_bytes, d)} for w, d in malformed],
            "notice": h(notice_raw),
            "notice_malformed": [
                {"why": w, **expect_error(RemoteProtocolError, Content.from_bytes, d)} for w, d in notice_malformed
            ],
        },
    )
