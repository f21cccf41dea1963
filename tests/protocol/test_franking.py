"""Asymmetric message franking (SPEC 13): who can check a franked message, and who can forge one.

Each test is the attack or the promise it names: a judge accepts an honest franking and nothing altered, a
recipient cannot frame a sender, a sender cannot make a message the recipient accepts and the judge refuses,
and the three forgeries give exactly the outcomes the paper's deniability properties say, so a transcript proves
nothing to anyone but the judge.
"""

from __future__ import annotations

import pytest

from confide.protocol import LocalProtocolError, MalformedFranking
from confide.protocol import franking as fr
from confide.protocol import franking_group as grp
from confide.protocol.franking import (
    FRANKING_LEN,
    MAX_FRANKED_MESSAGE,
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
from tests.vectors.gen.drbg import SeededRng

MESSAGE = b"I don't feel safe at home tonight."
SAMPLES = 40
"""Signatures per algorithm in the distribution tests (about 0.2 s of libsodium per 40)."""
BIT_TOLERANCE = 0.03
"""Largest difference in the share of set bits of one field between two algorithms' outputs over
:data:`SAMPLES` signatures (10,240 bits each): about five standard deviations of an honest difference."""


class Parties:
    def __init__(self, label: str) -> None:
        self.rng = SeededRng(f"franking-test/{label}".encode())
        self.sender = FrankingKeyPair.generate(self.rng)
        self.recipient = FrankingKeyPair.generate(self.rng)
        self.judge = FrankingKeyPair.generate(self.rng)
        self.stranger = FrankingKeyPair.generate(self.rng)

    def frank(self, message: bytes = MESSAGE) -> Franking:
        return frank(self.sender, self.recipient.public, self.judge.public, message, self.rng)

    def outcomes(self, franking: Franking, message: bytes = MESSAGE) -> tuple[bool, bool, bool]:
        """(proof holds for anyone, recipient's verify, judge's verdict)."""
        s, r, j = self.sender.public, self.recipient.public, self.judge.public
        return (
            proof_holds(s, r, j, message, franking),
            verify(self.recipient, s, j, message, franking),
            judge(self.judge, s, r, message, franking),
        )


@pytest.fixture
def p(request: pytest.FixtureRequest) -> Parties:
    return Parties(request.node.name)


def test_honest_franking_verifies_for_recipient_and_judge(p: Parties) -> None:
    f = p.frank()
    assert p.outcomes(f) == (True, True, True)
    assert len(f.to_bytes()) == FRANKING_LEN == 353
    assert Franking.from_bytes(f.to_bytes()) == f


def test_empty_and_longest_messages_frank(p: Parties) -> None:
    for message in (b"", bytes(MAX_FRANKED_MESSAGE)):
        assert p.outcomes(p.frank(message), message) == (True, True, True)


def test_a_message_over_the_limit_is_refused_before_any_draw(p: Parties) -> None:
    drawn: list[int] = []

    def rng(n: int) -> bytes:
        drawn.append(n)
        return p.rng(n)

    with pytest.raises(LocalProtocolError):
        frank(p.sender, p.recipient.public, p.judge.public, bytes(MAX_FRANKED_MESSAGE + 1), rng)
    assert drawn == []
    f = p.frank()
    assert p.outcomes(f, bytes(MAX_FRANKED_MESSAGE + 1)) == (False, False, False)


def test_altered_text_fails_for_everyone(p: Parties) -> None:
    f = p.frank()
    altered = [MESSAGE[:i] + bytes([MESSAGE[i] ^ 1]) + MESSAGE[i + 1 :] for i in range(len(MESSAGE))]
    altered += [MESSAGE[:-1], MESSAGE + b" ", b"", MESSAGE.replace(b"don't", b"do")]
    for message in altered:
        assert p.outcomes(f, message) == (False, False, False), message


def test_swapped_sender_fails(p: Parties) -> None:
    f = p.frank()
    other = p.stranger.public
    assert not judge(p.judge, other, p.recipient.public, MESSAGE, f)
    assert not verify(p.recipient, other, p.judge.public, MESSAGE, f)
    # Nor does naming the recipient (or the judge) as the sender of their own conversation work.
    assert not judge(p.judge, p.recipient.public, p.recipient.public, MESSAGE, f)
    assert not judge(p.judge, p.judge.public, p.recipient.public, MESSAGE, f)


def test_swapped_recipient_fails(p: Parties) -> None:
    f = p.frank()
    assert not judge(p.judge, p.sender.public, p.stranger.public, MESSAGE, f)
    # A message franked for one recipient does not verify for another, even one given the same signature.
    assert not verify(p.stranger, p.sender.public, p.judge.public, MESSAGE, f)


def test_wrong_judge_fails(p: Parties) -> None:
    f = p.frank()
    assert not judge(p.stranger, p.sender.public, p.recipient.public, MESSAGE, f)
    # The recipient checks the judge it expects: a signature franked for another judge is not reportable here.
    elsewhere = frank(p.sender, p.recipient.public, p.stranger.public, MESSAGE, p.rng)
    assert not verify(p.recipient, p.sender.public, p.judge.public, MESSAGE, elsewhere)
    assert not judge(p.judge, p.sender.public, p.recipient.public, MESSAGE, elsewhere)
    assert judge(p.stranger, p.sender.public, p.recipient.public, MESSAGE, elsewhere)


def test_every_single_byte_flip_of_a_signature_is_refused(p: Parties) -> None:
    raw = p.frank().to_bytes()
    for i in range(len(raw)):
        for mask in (0x01, 0x80):
            bad = raw[:i] + bytes([raw[i] ^ mask]) + raw[i + 1 :]
            try:
                f = Franking.from_bytes(bad)
            except MalformedFranking:
                continue
            assert p.outcomes(f)[1:] == (False, False), (i, mask)


def test_r_forge_passes_the_recipient_but_not_the_judge(p: Parties) -> None:
    """A report built by the recipient alone: it convinces the recipient's own check and nobody that matters."""
    f = r_forge(p.recipient, p.sender.public, p.judge.public, b"a message the sender never wrote", p.rng)
    assert p.outcomes(f, b"a message the sender never wrote") == (True, True, False)


def test_a_recipient_cannot_move_a_real_signature_onto_other_text(p: Parties) -> None:
    honest = p.frank(b"see you thursday")
    for candidate in (honest, r_forge(p.recipient, p.sender.public, p.judge.public, b"see you thursday", p.rng)):
        fields = dict(vars(candidate))
        # Keep the judge's tag of the honest signature (the only part the judge checks besides the proof) and
        # try it with another message: the proof binds every field and the text.
        fields.update(j_tag=honest.j_tag, e_j=honest.e_j)
        moved = Franking(**fields)
        assert not judge(p.judge, p.sender.public, p.recipient.public, b"i will hurt you", moved)
        assert not judge(p.judge, p.sender.public, p.recipient.public, b"see you thursday", moved) or moved == honest


def test_a_sender_cannot_make_a_signature_the_recipient_accepts_and_the_judge_refuses(p: Parties) -> None:
    """Sender binding: to dodge the judge, J must not be sk_J·E_J; then the second OR needs log R, and a
    recipient only accepts R = sk_R·E_R, whose logarithm the sender does not know."""
    rng = p.rng
    alpha, beta, gamma, delta = (grp.random_scalar(rng) for _ in range(4))
    s, r, j = p.sender.public, p.recipient.public, p.judge.public
    # (a) random J, and R with a known logarithm: the proof holds, the recipient refuses (R is not sk_R·E_R).
    st = fr._statement(
        s, r, j, (grp.base_mul(gamma), grp.base_mul(delta), grp.base_mul(alpha), grp.base_mul(beta)), MESSAGE
    )
    attempt = fr._prove(st, (fr._LEFT, p.sender.private_bytes()), (fr._RIGHT, delta), rng)
    assert p.outcomes(attempt) == (True, False, False)
    # (b) R the recipient accepts and a random J: the sender has no witness for the second OR; the best it can
    # offer (α) does not satisfy it.
    st = fr._statement(
        s, r, j, (grp.base_mul(gamma), grp.mul(beta, r.to_bytes()), grp.base_mul(alpha), grp.base_mul(beta)), MESSAGE
    )
    attempt = fr._prove(st, (fr._LEFT, p.sender.private_bytes()), (fr._LEFT, alpha), rng)
    assert p.outcomes(attempt) == (False, False, False)


def test_forge_is_refused_by_recipient_and_judge_yet_its_proof_holds(p: Parties) -> None:
    """Universal deniability: anyone can make a signature whose public part is as valid as a real one."""
    f = forge(p.sender.public, p.recipient.public, p.judge.public, MESSAGE, p.rng)
    assert p.outcomes(f) == (True, False, False)


def test_a_third_party_without_the_secrets_sees_the_same_for_real_and_forged(p: Parties) -> None:
    """Whoever holds neither the recipient's nor the judge's key (the relay, a court handed a transcript) gets
    the same answer from every check it can run, for a real signature and for one anybody could forge."""
    real = p.frank()
    forged = forge(p.sender.public, p.recipient.public, p.judge.public, MESSAGE, p.rng)
    s, r, j = p.sender.public, p.recipient.public, p.judge.public
    for f in (real, forged):
        assert proof_holds(s, r, j, MESSAGE, f)
        # Its own keys in the recipient's or the judge's seat decide nothing.
        assert not verify(p.stranger, s, j, MESSAGE, f)
        assert not judge(p.stranger, s, r, MESSAGE, f)
        assert Franking.from_bytes(f.to_bytes()) == f
        assert len(f.to_bytes()) == FRANKING_LEN


def test_j_forge_is_accepted_by_the_judge_and_the_recipient(p: Parties) -> None:
    """Judge-compromise deniability: the moderation key alone makes signatures every check accepts, so a leaked
    report proves nothing even to someone holding the judge's key."""
    f = j_forge(p.judge, p.sender.public, p.recipient.public, b"never sent", p.rng)
    assert p.outcomes(f, b"never sent") == (True, True, True)


def _bit_share(values: list[bytes]) -> float:
    bits = sum(bin(b).count("1") for v in values for b in v)
    return bits / (8 * sum(len(v) for v in values))


def _samples(p: Parties, make: str) -> list[Franking]:
    s, r, j = p.sender.public, p.recipient.public, p.judge.public
    algorithms = {
        "frank": lambda: frank(p.sender, r, j, MESSAGE, p.rng),
        "forge": lambda: forge(s, r, j, MESSAGE, p.rng),
        "r_forge": lambda: r_forge(p.recipient, s, j, MESSAGE, p.rng),
        "j_forge": lambda: j_forge(p.judge, s, r, MESSAGE, p.rng),
    }
    return [algorithms[make]() for _ in range(SAMPLES)]


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("forge", (True, False, False)),
        ("r_forge", (True, True, False)),
        ("j_forge", (True, True, True)),
    ],
)
def test_forgeries_have_the_shape_of_real_signatures(p: Parties, algorithm: str, expected: tuple[bool, ...]) -> None:
    """Statistical smoke test: every field of every output is a valid group element or reduced scalar of the same
    length, each field's bits are spread like a real signature's, and only the checks the paper allows tell
    them apart (the judge for forge and r_forge, nobody for j_forge)."""
    real, forged = _samples(p, "frank"), _samples(p, algorithm)
    assert {p.outcomes(f) for f in real} == {(True, True, True)}
    assert {p.outcomes(f) for f in forged} == {expected}
    for name in ("j_tag", "r_tag", "e_j", "e_r"):
        assert all(grp.is_point(getattr(f, name)) for f in real + forged)
    for name in ("c", "c_s", "c_j", "z_s", "z_t", "z_j", "z_r"):
        assert all(grp.is_scalar(getattr(f, name)) for f in real + forged)
    for name in vars(real[0]):
        a = _bit_share([getattr(f, name) for f in real])
        b = _bit_share([getattr(f, name) for f in forged])
        assert abs(a - b) < BIT_TOLERANCE, (name, a, b)
    assert {len(f.to_bytes()) for f in real + forged} == {FRANKING_LEN}
    assert len({f.to_bytes() for f in real + forged}) == 2 * SAMPLES


# Encodings the group refuses: wrong length, the identity, points of small order, a point with a torsion
# component, and a y-coordinate at or above the field prime.
_VALID = FrankingKeyPair.generate(SeededRng(b"franking-test/valid")).public.to_bytes()
_ORDER_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
BAD_POINTS = {
    "short": _VALID[:31],
    "long": _VALID + b"\x00",
    "identity": b"\x01" + bytes(31),
    "order 2": bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    "order 8": _ORDER_8,
    "torsion component": grp.add(_VALID, _ORDER_8),
    "y >= p": b"\xff" * 31 + b"\x7f",
    "zero": bytes(32),
}


@pytest.mark.parametrize("name", sorted(BAD_POINTS))
def test_a_public_key_outside_the_prime_order_group_is_refused(name: str) -> None:
    with pytest.raises(MalformedFranking):
        FrankingPublicKey.from_bytes(BAD_POINTS[name])


@pytest.mark.parametrize("name", sorted(n for n, v in BAD_POINTS.items() if len(v) == grp.POINT_LEN))
def test_a_signature_point_outside_the_group_is_refused(p: Parties, name: str) -> None:
    raw = BAD_POINTS[name]
    good = p.frank().to_bytes()
    for field_index in range(4):
        at = 1 + 32 * field_index
        with pytest.raises(MalformedFranking):
            Franking.from_bytes(good[:at] + raw + good[at + 32 :])


def test_an_unreduced_scalar_is_refused(p: Parties) -> None:
    good = p.frank().to_bytes()
    order = bytes.fromhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")  # l, little-endian
    assert not grp.is_scalar(order)
    for field_index in range(7):
        at = 1 + 128 + 32 * field_index
        with pytest.raises(MalformedFranking):
            Franking.from_bytes(good[:at] + order + good[at + 32 :])


def test_wrong_length_or_version_is_refused(p: Parties) -> None:
    good = p.frank().to_bytes()
    for bad in (good[:-1], good + b"\x00", b"", b"\x02" + good[1:], b"\x00" + good[1:]):
        with pytest.raises(MalformedFranking):
            Franking.from_bytes(bad)


def test_key_pairs_derive_deterministically_and_keep_their_secret_out_of_repr() -> None:
    seed = bytes(range(64))
    a, b = FrankingKeyPair.derive(seed), FrankingKeyPair.derive(seed)
    assert a.public == b.public
    assert a.private_bytes() == grp.hash_to_scalar(fr.LABEL_DERIVE, seed)
    assert FrankingKeyPair.derive(seed[:-1] + b"\x00").public != a.public
    assert FrankingKeyPair(a.private_bytes()).public == a.public
    for text in (repr(a), repr(a.public), repr(frank(a, b.public, b.public, MESSAGE, SeededRng(b"r")))):
        assert a.private_bytes().hex()[:8] not in text
        assert a.public.to_bytes().hex()[:8] not in text
    with pytest.raises(ValueError, match="at least 32"):
        FrankingKeyPair.derive(bytes(31))
    for bad in (bytes(32), b"\xff" * 32, bytes(31)):
        with pytest.raises(ValueError, match="reduced non-zero"):
            FrankingKeyPair(bad)


def test_an_rng_that_returns_too_few_bytes_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="rng returned"):
        FrankingKeyPair.generate(lambda n: bytes(n - 1))


def test_zero_challenges_and_responses_are_refused_without_raising(p: Parties) -> None:
    """libsodium refuses a zero scalar or an identity product; a hostile proof steering a verifier there is
    refused (``False``), never an exception."""
    honest = p.frank()
    for name in ("c", "c_s", "c_j", "z_s", "z_t", "z_j", "z_r"):
        hostile = Franking(**{**vars(honest), name: bytes(32)})
        assert p.outcomes(hostile) == (False, False, False), name
    # c_T = c - c_S = 0 and c_R = c - c_J = 0: the implied challenges too.
    for name in ("c_s", "c_j"):
        hostile = Franking(**{**vars(honest), name: honest.c})
        assert p.outcomes(hostile) == (False, False, False), name
    with pytest.raises(MalformedFranking):
        fr.commitments(
            p.sender.public, p.recipient.public, p.judge.public, Franking(**{**vars(honest), "z_s": bytes(32)})
        )
