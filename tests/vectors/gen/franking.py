"""Section 13, abuse reports by asymmetric message franking: ``franking.json``.

Four key pairs from the DRBG (sender, recipient, judge, stranger), one derived key pair, then one signature by
each algorithm (Frank, Forge, RForge, JForge) with every intermediate value (the four points, the commitments,
the challenge's input and value, the split challenges), which checks accept each signature, checks with the
wrong text, sender, recipient or judge, a report's encoding, and malformed keys, signatures and reports.
"""

from __future__ import annotations

from collections.abc import Callable

from nacl.bindings import crypto_core_ed25519_scalar_reduce

from confide.protocol import franking_group as grp
from confide.protocol.errors import MalformedFranking
from confide.protocol.franking import (
    LABEL_CHALLENGE,
    LABEL_DERIVE,
    Franking,
    FrankingKeyPair,
    FrankingPublicKey,
    commitments,
    forge,
    frank,
    j_forge,
    judge,
    proof_holds,
    r_forge,
    verify,
)
from confide.protocol.franking_report import Report

from .common import Json, expect_error, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng

MESSAGE = b"You are worthless and everyone knows it."
"""The franked message (in Confide, a content plaintext of SPEC 8; any bytes here)."""
OTHER_MESSAGE = b"You are worthless and everyone knows it!"
ORDER_L = bytes.fromhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
"""l, the group order, little-endian: the smallest unreduced scalar."""
ORDER_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
"""A point of order 8 of edwards25519."""
DRAWS = {
    "frank": ["alpha", "beta", "k1", "e1", "z1", "k2", "e2", "z2"],
    "forge": ["alpha", "beta", "gamma", "delta", "k1", "e1", "z1", "k2", "e2", "z2"],
    "r_forge": ["alpha", "beta", "gamma", "k1", "e1", "z1", "k2", "e2", "z2"],
    "j_forge": ["alpha", "beta", "k1", "e1", "z1", "k2", "e2", "z2"],
}
"""What each algorithm draws, in order (64 bytes each, reduced modulo l)."""


def _fields(f: Franking) -> Json:
    return {name: h(value) for name, value in vars(f).items()}


def _challenge_input(s: bytes, r: bytes, j: bytes, f: Franking, cm: Json, message: bytes) -> bytes:
    parts = [s, r, j, f.j_tag, f.r_tag, f.e_j, f.e_r]
    parts += [bytes.fromhex(cm[k]) for k in ("a_s", "a_t", "a_j", "b_j", "a_r")]
    return LABEL_CHALLENGE + b"\x00" + b"".join(parts) + len(message).to_bytes(8, "big") + message


def franking() -> Json:
    seed = seed_of("franking")
    rng = RecordingRng(SeededRng(seed))
    roles = ("sender", "recipient", "judge", "stranger")
    pairs = {role: FrankingKeyPair.generate(rng) for role in roles}
    key_draws = rng.take()
    pub = {role: kp.public for role, kp in pairs.items()}
    derive_seed = bytes(range(64))
    derived = FrankingKeyPair.derive(derive_seed)

    s, r, j = pub["sender"], pub["recipient"], pub["judge"]
    makers: dict[str, Callable[[], Franking]] = {
        "frank": lambda: frank(pairs["sender"], r, j, MESSAGE, rng),
        "forge": lambda: forge(s, r, j, MESSAGE, rng),
        "r_forge": lambda: r_forge(pairs["recipient"], s, j, MESSAGE, rng),
        "j_forge": lambda: j_forge(pairs["judge"], s, r, MESSAGE, rng),
    }
    why = {
        "frank": "the sender franks the message (the paper's Frank)",
        "forge": "anyone forges from public keys (Forge): the proof holds, the recipient and the judge refuse",
        "r_forge": "the recipient forges alone (RForge): its own check accepts, the judge refuses",
        "j_forge": "the judge forges alone (JForge): every check accepts",
    }
    sig_inputs, sig_expected, sigs = [], [], {}
    for name, make in makers.items():
        f = make()
        sigs[name] = f
        draws = rng.take()
        cm = vars(commitments(s, r, j, f))
        cm_hex = {k: h(v) for k, v in cm.items()}
        challenge_input = _challenge_input(s.to_bytes(), r.to_bytes(), j.to_bytes(), f, cm_hex, MESSAGE)
        outcome = {
            "proof_holds": proof_holds(s, r, j, MESSAGE, f),
            "verify": verify(pairs["recipient"], s, j, MESSAGE, f),
            "judge": judge(pairs["judge"], s, r, MESSAGE, f),
        }
        sig_inputs.append(
            {
                "why": why[name],
                "algorithm": name,
                "draw_order": DRAWS[name],
                "rng_outputs": draws,
                "draws_reduced": [h(crypto_core_ed25519_scalar_reduce(bytes.fromhex(d))) for d in draws],
            }
        )
        sig_expected.append(
            {
                "why": why[name],
                "result": "ok",
                "franking": h(f.to_bytes()),
                "fields": _fields(f),
                "c_t": h(grp.scalar_sub(f.c, f.c_s)),
                "c_r": h(grp.scalar_sub(f.c, f.c_j)),
                "commitments": cm_hex,
                "challenge_input": h(challenge_input),
                "checks": outcome,
            }
        )

    honest = sigs["frank"]
    check_cases = [
        ("the honest signature", "sender", "recipient", "recipient", "judge", MESSAGE, True),
        ("altered text (last byte)", "sender", "recipient", "recipient", "judge", OTHER_MESSAGE, False),
        ("swapped sender (the stranger named)", "stranger", "recipient", "recipient", "judge", MESSAGE, False),
        ("swapped recipient (the stranger named)", "sender", "stranger", "stranger", "judge", MESSAGE, False),
        ("wrong judge (the stranger's key)", "sender", "recipient", "recipient", "stranger", MESSAGE, False),
    ]
    checks_in, checks_out = [], []
    for label, sender_role, recipient_role, verifier_role, judge_role, message, ok in check_cases:
        got_judge = judge(pairs[judge_role], pub[sender_role], pub[recipient_role], message, honest)
        got_verify = verify(pairs[verifier_role], pub[sender_role], pub[judge_role], message, honest)
        assert got_judge is ok, label
        assert got_verify is ok, label
        checks_in.append(
            {
                "why": label,
                "signature": "frank",
                "sender": sender_role,
                "recipient": recipient_role,
                "judge": judge_role,
                "message": h(message),
            }
        )
        checks_out.append({"why": label, "result": "ok", "verify": got_verify, "judge": got_judge})

    report = Report(s, r, MESSAGE, honest)
    report_bytes = report.to_bytes()
    assert Report.from_bytes(report_bytes).review(pairs["judge"])
    assert not Report(s, r, MESSAGE, sigs["r_forge"]).review(pairs["judge"])
    head = 1 + 32 + 32
    bad_reports = [
        ("version 2", b"\x02" + report_bytes[1:]),
        ("truncated by one byte", report_bytes[:-1]),
        ("one byte appended", report_bytes + b"\x00"),
        ("message length one more than present", flip(report_bytes, head + 3)),
        (
            "message length 65,536 (over the limit)",
            report_bytes[:head] + (65536).to_bytes(4, "big") + report_bytes[head + 4 :],
        ),
        ("sender key replaced by the identity", report_bytes[:1] + b"\x01" + bytes(31) + report_bytes[33:]),
        ("recipient key replaced by a point of order 8", report_bytes[:33] + ORDER_8 + report_bytes[65:]),
        ("empty", b""),
    ]
    fr_bytes = honest.to_bytes()
    bad_frankings = [
        ("version 0", b"\x00" + fr_bytes[1:]),
        ("352 bytes", fr_bytes[:-1]),
        ("J replaced by the identity", fr_bytes[:1] + b"\x01" + bytes(31) + fr_bytes[33:]),
        ("E_J with a torsion component", fr_bytes[:65] + grp.add(honest.e_j, ORDER_8) + fr_bytes[97:]),
        ("R with y >= p", fr_bytes[:33] + b"\xff" * 31 + b"\x7f" + fr_bytes[65:]),
        ("c = l (unreduced)", fr_bytes[:129] + ORDER_L + fr_bytes[161:]),
        ("z_r = l (unreduced)", fr_bytes[:-32] + ORDER_L),
    ]
    # Valid encodings that decode and are then refused by every check: flipped bytes of scalars.
    refused = [(f"byte {o} flipped", flip(fr_bytes, o)) for o in (129, 161, 193, 225, 257, 289, 321)]
    refused_out = []
    for label, raw in refused:
        f = Franking.from_bytes(raw)
        got = {
            "proof_holds": proof_holds(s, r, j, MESSAGE, f),
            "verify": verify(pairs["recipient"], s, j, MESSAGE, f),
            "judge": judge(pairs["judge"], s, r, MESSAGE, f),
        }
        assert got == {"proof_holds": False, "verify": False, "judge": False}, label
        refused_out.append({"why": label, "result": "ok", "checks": got})
    bad_keys = [
        ("31 bytes", bytes(31)),
        ("the identity", b"\x01" + bytes(31)),
        ("a point of order 8", ORDER_8),
        ("y >= p", b"\xff" * 31 + b"\x7f"),
        ("the sender's key plus a point of order 8", grp.add(s.to_bytes(), ORDER_8)),
    ]

    return vector(
        "franking",
        "Asymmetric message franking (SPEC 13) over the prime-order subgroup of edwards25519 (points: canonical "
        "32-byte encodings of non-identity points of order l; scalars: 32 bytes little-endian, reduced mod l). "
        "Each key pair's secret is one 64-byte draw reduced mod l ('key_draws', in the order sender, recipient, "
        "judge, stranger); 'derive' gives SHA-512(label || 0x00 || seed) mod l. Each 'signatures' case lists the "
        "draws of its algorithm in 'draw_order' (each reduced mod l: 'draws_reduced') and must reproduce "
        "'franking' byte for byte; 'commitments' are what a verifier recomputes (a_s = z_s*G - c_s*pk_S, "
        "a_t = z_t*G - c_t*J, a_j = z_j*G - c_j*E_J, b_j = z_j*pk_J - c_j*J, a_r = z_r*G - c_r*R with "
        "c_t = c - c_s, c_r = c - c_j), 'challenge_input' is hashed with SHA-512 and reduced mod l to 'c'; "
        "'checks' are proof_holds (anyone), verify (the recipient) and judge (the judge). 'checks' cases check "
        "the honest signature with roles swapped (verify is run by the role named as recipient). 'report' is "
        "the report of the honest signature (the judge accepts it). 'bad_*' must fail with MalformedFranking; "
        "'refused' decode but every check returns false.",
        seed,
        {
            "key_draws": key_draws,
            "derive_seed": h(derive_seed),
            "labels": {"challenge": LABEL_CHALLENGE.decode(), "derive": LABEL_DERIVE.decode()},
            "message": h(MESSAGE),
            "signatures": sig_inputs,
            "checks": checks_in,
            "bad_reports": [{"why": w, "report": h(b)} for w, b in bad_reports],
            "bad_frankings": [{"why": w, "franking": h(b)} for w, b in bad_frankings],
            "refused": [{"why": w, "franking": h(b)} for w, b in refused],
            "bad_keys": [{"why": w, "key": h(b)} for w, b in bad_keys],
        },
        {
            "result": "ok",
            "keys": {
                role: {"private": h(kp.private_bytes()), "public": h(kp.public.to_bytes())}
                for role, kp in pairs.items()
            },
            "derived": {"private": h(derived.private_bytes()), "public": h(derived.public.to_bytes())},
            "signatures": sig_expected,
            "checks": checks_out,
            "report": h(report_bytes),
            "bad_reports": [
                {"why": w, **expect_error(MalformedFranking, Report.from_bytes, b)} for w, b in bad_reports
            ],
            "bad_frankings": [
                {"why": w, **expect_error(MalformedFranking, Franking.from_bytes, b)} for w, b in bad_frankings
            ],
            "refused": refused_out,
            "bad_keys": [
                {"why": w, **expect_error(MalformedFranking, FrankingPublicKey.from_bytes, b)} for w, b in bad_keys
            ],
        },
    )
