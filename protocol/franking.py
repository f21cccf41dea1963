"""Asymmetric message franking: abuse reports a moderator can check and nobody else can (SPEC section 13).

The construction is the designated-judge signature of Tyagi, Grubbs, Len, Miers and Ristenpart, "Asymmetric
Message Franking" (CRYPTO 2019), with its six algorithms: :func:`frank` (the sender), :func:`verify` (the
recipient, on receipt), :func:`judge` (the practice's moderation key, on a report), and three forgeries that
make it deniable: :func:`forge` (anyone, from public keys), :func:`r_forge` (the recipient) and :func:`j_forge`
(the judge). Every party has a franking key pair: a scalar ``x`` and the point ``X = x·G`` of the prime-order
group of :mod:`confide.protocol.franking_group`.

A signature carries ``J = α·pk_J``, ``R = β·pk_R``, ``E_J = α·G``, ``E_R = β·G`` and a Fiat-Shamir proof, over the
message and every public key, of::

    ( know s: pk_S = s·G   OR  know t: J = t·G )
    AND
    ( know v: J = v·pk_J and E_J = v·G   OR   know w: R = w·G )

The sender proves the left branches. The judge accepts when ``J = sk_J·E_J`` and the proof holds; the recipient
when ``R = sk_R·E_R`` and the proof holds. A third party sees a valid proof whoever made it (:func:`forge` proves
the right branches with random ``J`` and ``R``), so it learns nothing about who wrote the message.

Sans-I/O: callers pass ``rng``. Secret scalars never appear in a ``repr``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from confide.keys.encoding import RNG

from . import franking_group as grp
from .errors import LocalProtocolError, MalformedFranking
from .padding import MAX_PLAINTEXT

FRANKING_VERSION = 1
"""The first byte of a franking signature (SPEC 13.3)."""
FRANKING_LEN = 1 + 4 * grp.POINT_LEN + 7 * grp.SCALAR_LEN
"""353 bytes: version, four points (J, R, E_J, E_R) and seven scalars (c, c_S, c_J, z_S, z_T, z_J, z_R)."""
MAX_FRANKED_MESSAGE = MAX_PLAINTEXT
"""The longest message that can be franked or reported (65,535 bytes): a franked message is a content
plaintext (SPEC 8), and padding (SPEC 4) refuses any plaintext longer than this, so nothing longer is ever sent."""
DERIVE_SEED_MIN = 32
"""A franking key is derived from at least 32 secret bytes (256 bits, the strength of the group)."""

LABEL_CHALLENGE = b"Confide-franking-v1-challenge"
"""Fiat-Shamir challenge of the proof (SPEC 13.4)."""
LABEL_DERIVE = b"Confide-franking-v1-key"
"""Derivation of a franking secret key from an identity's secret bytes (SPEC 13.2)."""


class FrankingPublicKey:
    """A franking public key: the canonical encoding of a non-identity point of the prime-order group."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        """Wrap 32 bytes already known to be a valid point; peers' bytes go through :meth:`from_bytes`.

        Raises:
            MalformedFranking: ``raw`` is not a canonical point of the prime-order subgroup.
        """
        if not isinstance(raw, bytes) or not grp.is_point(raw):
            raise MalformedFranking("a franking public key is not a valid group element")
        self._raw = raw

    @classmethod
    def from_bytes(cls, data: bytes) -> FrankingPublicKey:
        """Parse a peer's franking public key.

        Raises:
            MalformedFranking: not 32 bytes, not canonical, not on the curve, of small order or outside the
                prime-order subgroup.
        """
        return cls(bytes(data))

    def to_bytes(self) -> bytes:
        return self._raw

    def fingerprint(self) -> str:
        """Eight hex digits of SHA-256 of the key, for logs and ``repr``; not an identifier to rely on."""
        return hashlib.sha256(self._raw).hexdigest()[:8]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrankingPublicKey) and grp.same(self._raw, other._raw)

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"FrankingPublicKey({self.fingerprint()})"


class FrankingKeyPair:
    """A franking key pair: a secret scalar and its public point. ``repr`` shows only the public fingerprint.

    A person's (sender's and recipient's) key pair is derived from their identity's secret bytes with
    :meth:`derive`, so a restored identity franks and verifies with the same key; a practice's moderation (judge)
    key pair is generated with :meth:`generate` and kept sealed by the practice (SPEC 13.2).
    """

    __slots__ = ("_public", "_secret")

    def __init__(self, secret: bytes) -> None:
        """Load a secret scalar (32 bytes, reduced modulo l, not zero).

        Raises:
            ValueError: ``secret`` is not a reduced non-zero scalar.
        """
        if not isinstance(secret, bytes) or not grp.is_scalar(secret) or grp.is_zero(secret):
            raise ValueError("a franking secret key is a reduced non-zero 32-byte scalar")
        self._secret = secret
        self._public = FrankingPublicKey(grp.base_mul(secret))

    @classmethod
    def generate(cls, rng: RNG) -> FrankingKeyPair:
        """A fresh key pair: 64 bytes of ``rng`` reduced modulo l (drawn again in the 2^-252 case of zero).

        Raises:
            ValueError: ``rng`` returned the wrong number of bytes.
        """
        while True:
            secret = grp.random_scalar(rng)
            if not grp.is_zero(secret):
                return cls(secret)

    @classmethod
    def derive(cls, seed: bytes) -> FrankingKeyPair:
        """The key pair derived from an identity's secret bytes: ``SHA-512(LABEL_DERIVE || 0x00 || seed) mod l``.

        Raises:
            ValueError: ``seed`` is shorter than :data:`DERIVE_SEED_MIN` bytes (or, with probability 2^-252,
                derives zero).
        """
        if len(seed) < DERIVE_SEED_MIN:
            raise ValueError(f"a franking key is derived from at least {DERIVE_SEED_MIN} secret bytes")
        return cls(grp.hash_to_scalar(LABEL_DERIVE, seed))

    @property
    def public(self) -> FrankingPublicKey:
        """The public half, to publish (in a signed bundle, or in a practice's signed policy for a judge)."""
        return self._public

    def private_bytes(self) -> bytes:
        """The secret scalar, for sealing at rest only."""
        return self._secret

    def __repr__(self) -> str:
        return f"FrankingKeyPair(public={self._public.fingerprint()})"


@dataclass(frozen=True)
class Franking:
    """A franking signature (SPEC 13.3): ``σ = (J, R, E_J, E_R, π)`` with ``π = (c, c_S, c_J, z_S, z_T, z_J, z_R)``.

    Constructing one checks every field (canonical points of the group, reduced scalars); peers' bytes go
    through :meth:`from_bytes`.

    Raises:
        MalformedFranking: a field is not a valid point or a reduced scalar.
    """

    j_tag: bytes
    r_tag: bytes
    e_j: bytes
    e_r: bytes
    c: bytes = field(repr=False)
    c_s: bytes = field(repr=False)
    c_j: bytes = field(repr=False)
    z_s: bytes = field(repr=False)
    z_t: bytes = field(repr=False)
    z_j: bytes = field(repr=False)
    z_r: bytes = field(repr=False)

    def __post_init__(self) -> None:
        for point in (self.j_tag, self.r_tag, self.e_j, self.e_r):
            if not isinstance(point, bytes) or not grp.is_point(point):
                raise MalformedFranking("a franking signature holds a value that is not a valid group element")
        for scalar in (self.c, self.c_s, self.c_j, self.z_s, self.z_t, self.z_j, self.z_r):
            if not isinstance(scalar, bytes) or not grp.is_scalar(scalar):
                raise MalformedFranking("a franking signature holds a scalar that is not reduced")

    @classmethod
    def from_bytes(cls, data: bytes) -> Franking:
        """Parse a franking signature: length, version byte, then each point and scalar.

        Raises:
            MalformedFranking: wrong length or version, or a field that is not a canonical point of the group or
                a reduced scalar.
        """
        data = bytes(data)
        if len(data) != FRANKING_LEN:
            raise MalformedFranking(f"a franking signature is {FRANKING_LEN} bytes, not {len(data)}")
        if data[0] != FRANKING_VERSION:
            raise MalformedFranking(f"unknown franking version {data[0]}")
        p, s = grp.POINT_LEN, grp.SCALAR_LEN
        points = [data[1 + i * p : 1 + (i + 1) * p] for i in range(4)]
        base = 1 + 4 * p
        scalars = [data[base + i * s : base + (i + 1) * s] for i in range(7)]
        return cls(*points, *scalars)

    def __repr__(self) -> str:
        return f"Franking({FRANKING_LEN} bytes)"

    def to_bytes(self) -> bytes:
        points = (self.j_tag, self.r_tag, self.e_j, self.e_r)
        scalars = (self.c, self.c_s, self.c_j, self.z_s, self.z_t, self.z_j, self.z_r)
        return bytes([FRANKING_VERSION]) + b"".join(points + scalars)


@dataclass(frozen=True)
class _Statement:
    """Everything the proof is about, all public: the three keys, the four points and the message."""

    sender: bytes
    recipient: bytes
    judge: bytes
    j_tag: bytes
    r_tag: bytes
    e_j: bytes
    e_r: bytes
    message: bytes = field(repr=False)


@dataclass(frozen=True)
class Commitments:
    """The five commitments of the proof (SPEC 13.4), recomputed by every verifier; listed in the vectors.

    ``a_s`` and ``a_t`` belong to the first OR (sender's key / ``J``), ``a_j`` and ``b_j`` to the Chaum-Pedersen
    branch of the second OR, ``a_r`` to its other branch (``R``).
    """

    a_s: bytes
    a_t: bytes
    a_j: bytes
    b_j: bytes
    a_r: bytes


def _challenge(st: _Statement, cm: Commitments) -> bytes:
    return grp.hash_to_scalar(
        LABEL_CHALLENGE,
        st.sender,
        st.recipient,
        st.judge,
        st.j_tag,
        st.r_tag,
        st.e_j,
        st.e_r,
        cm.a_s,
        cm.a_t,
        cm.a_j,
        cm.b_j,
        cm.a_r,
        len(st.message).to_bytes(8, "big"),
        st.message,
    )


# Which branch of each OR the prover knows a witness for.
_LEFT = 0
_RIGHT = 1


def _prove(st: _Statement, first: tuple[int, bytes], second: tuple[int, bytes], rng: RNG) -> Franking:
    """The Fiat-Shamir OR-proof (SPEC 13.4): real branch committed with a nonce, the other one simulated.

    Draws, in order, for the first OR then the second: the nonce ``k``, the simulated challenge, the simulated
    response (each 64 bytes reduced modulo l), whichever branch is real.
    """
    g_side, g_witness = first
    k1, e1, z1 = grp.random_scalar(rng), grp.random_scalar(rng), grp.random_scalar(rng)
    k2, e2, z2 = grp.random_scalar(rng), grp.random_scalar(rng), grp.random_scalar(rng)
    if g_side == _LEFT:  # know s: pk_S = s·G; simulate J = t·G with (e1, z1)
        a_s, a_t = grp.base_mul(k1), grp.base_lincomb(z1, e1, st.j_tag)
    else:  # know t: J = t·G; simulate pk_S with (e1, z1)
        a_s, a_t = grp.base_lincomb(z1, e1, st.sender), grp.base_mul(k1)
    c_side, c_witness = second
    if c_side == _LEFT:  # know v: J = v·pk_J and E_J = v·G; simulate R = w·G with (e2, z2)
        a_j, b_j = grp.base_mul(k2), grp.mul(k2, st.judge)
        a_r = grp.base_lincomb(z2, e2, st.r_tag)
    else:  # know w: R = w·G; simulate the Chaum-Pedersen branch with (e2, z2)
        a_j, b_j = grp.base_lincomb(z2, e2, st.e_j), grp.lincomb(z2, e2, st.judge, st.j_tag)
        a_r = grp.base_mul(k2)
    cm = Commitments(a_s, a_t, a_j, b_j, a_r)
    c = _challenge(st, cm)
    real1 = grp.scalar_sub(c, e1)
    resp1 = grp.scalar_add(k1, grp.scalar_mul(real1, g_witness))
    real2 = grp.scalar_sub(c, e2)
    resp2 = grp.scalar_add(k2, grp.scalar_mul(real2, c_witness))
    c_s, z_s, z_t = (real1, resp1, z1) if g_side == _LEFT else (e1, z1, resp1)
    c_j, z_j, z_r = (real2, resp2, z2) if c_side == _LEFT else (e2, z2, resp2)
    return Franking(st.j_tag, st.r_tag, st.e_j, st.e_r, c, c_s, c_j, z_s, z_t, z_j, z_r)


def commitments(
    sender: FrankingPublicKey, recipient: FrankingPublicKey, judge: FrankingPublicKey, franking: Franking
) -> Commitments:
    """The commitments a verifier recomputes from the signature (for debugging another implementation).

    Raises:
        MalformedFranking: the signature leads libsodium to a zero scalar or the identity (probability 2^-252
            for an honest signature); every verifier refuses such a signature.
    """
    f = franking
    c_t = grp.scalar_sub(f.c, f.c_s)
    c_r = grp.scalar_sub(f.c, f.c_j)
    try:
        return Commitments(
            a_s=grp.base_lincomb(f.z_s, f.c_s, sender.to_bytes()),
            a_t=grp.base_lincomb(f.z_t, c_t, f.j_tag),
            a_j=grp.base_lincomb(f.z_j, f.c_j, f.e_j),
            b_j=grp.lincomb(f.z_j, f.c_j, judge.to_bytes(), f.j_tag),
            a_r=grp.base_lincomb(f.z_r, c_r, f.r_tag),
        )
    except grp.GroupFailure as exc:
        raise MalformedFranking("a franking proof has a zero challenge or response") from exc


def _statement(
    sender: FrankingPublicKey,
    recipient: FrankingPublicKey,
    judge: FrankingPublicKey,
    points: tuple[bytes, bytes, bytes, bytes],
    message: bytes,
) -> _Statement:
    return _Statement(sender.to_bytes(), recipient.to_bytes(), judge.to_bytes(), *points, message)


def proof_holds(
    sender: FrankingPublicKey,
    recipient: FrankingPublicKey,
    judge: FrankingPublicKey,
    message: bytes,
    franking: Franking,
) -> bool:
    """Whether the proof inside ``franking`` holds for these keys and this message.

    This is everything a party without the recipient's or the judge's secret key can check, and it holds for
    :func:`forge`'s output as well as for a real signature: it says nothing about who wrote the message.
    Never raises on a parsed signature.
    """
    if not isinstance(message, bytes) or len(message) > MAX_FRANKED_MESSAGE:
        return False
    try:
        cm = commitments(sender, recipient, judge, franking)
    except MalformedFranking:
        return False
    st = _statement(sender, recipient, judge, (franking.j_tag, franking.r_tag, franking.e_j, franking.e_r), message)
    return grp.same(_challenge(st, cm), franking.c)


def _check_message(message: bytes) -> None:
    if not isinstance(message, bytes):
        raise TypeError("a franked message is bytes")
    if len(message) > MAX_FRANKED_MESSAGE:
        raise LocalProtocolError(f"a franked message is at most {MAX_FRANKED_MESSAGE} bytes")


def frank(
    sender: FrankingKeyPair,
    recipient: FrankingPublicKey,
    judge: FrankingPublicKey,
    message: bytes,
    rng: RNG,
) -> Franking:
    """Frank ``message`` from ``sender`` to ``recipient`` for ``judge`` (the paper's Frank).

    Draws ``α`` then ``β`` (64 bytes each, reduced), then the proof's six values (see :func:`_prove`).

    Raises:
        LocalProtocolError: ``message`` is longer than :data:`MAX_FRANKED_MESSAGE`.
    """
    _check_message(message)
    alpha, beta = grp.random_scalar(rng), grp.random_scalar(rng)
    points = (
        grp.mul(alpha, judge.to_bytes()),
        grp.mul(beta, recipient.to_bytes()),
        grp.base_mul(alpha),
        grp.base_mul(beta),
    )
    st = _statement(sender.public, recipient, judge, points, message)
    return _prove(st, (_LEFT, sender.private_bytes()), (_LEFT, alpha), rng)


def verify(
    recipient: FrankingKeyPair,
    sender: FrankingPublicKey,
    judge: FrankingPublicKey,
    message: bytes,
    franking: Franking,
) -> bool:
    """The recipient's check on receipt (the paper's Verify): ``R = sk_R·E_R`` and the proof holds.

    When it passes, the judge will accept a report of this message (sender binding): the sender could not have
    made the recipient accept a signature the judge refuses. Never raises on a parsed signature.
    """
    try:
        tag = grp.mul(recipient.private_bytes(), franking.e_r)
    except grp.GroupFailure:
        return False
    tag_ok = grp.same(tag, franking.r_tag)
    proof_ok = proof_holds(sender, recipient.public, judge, message, franking)
    return tag_ok and proof_ok


def judge(
    judge_key: FrankingKeyPair,
    sender: FrankingPublicKey,
    recipient: FrankingPublicKey,
    message: bytes,
    franking: Franking,
) -> bool:
    """The moderator's check of a report (the paper's Judge): ``J = sk_J·E_J`` and the proof holds.

    ``True`` means the holder of ``sender``'s franking key sent exactly ``message`` to ``recipient``; nobody but
    the holder of ``judge_key`` can draw that conclusion from the same bytes. Never raises on a parsed signature.
    """
    try:
        tag = grp.mul(judge_key.private_bytes(), franking.e_j)
    except grp.GroupFailure:
        return False
    tag_ok = grp.same(tag, franking.j_tag)
    proof_ok = proof_holds(sender, recipient, judge_key.public, message, franking)
    return tag_ok and proof_ok


def forge(
    sender: FrankingPublicKey,
    recipient: FrankingPublicKey,
    judge: FrankingPublicKey,
    message: bytes,
    rng: RNG,
) -> Franking:
    """A signature anyone can make from public keys alone (the paper's Forge): universal deniability.

    Its proof holds (:func:`proof_holds`) but neither :func:`verify` nor :func:`judge` accepts it; without the
    recipient's or the judge's secret key it cannot be told from :func:`frank`'s output. Draws ``α, β, γ, δ``,
    then the proof's six values.

    Raises:
        LocalProtocolError: ``message`` is longer than :data:`MAX_FRANKED_MESSAGE`.
    """
    _check_message(message)
    alpha, beta = grp.random_scalar(rng), grp.random_scalar(rng)
    gamma, delta = grp.random_scalar(rng), grp.random_scalar(rng)
    points = (grp.base_mul(gamma), grp.base_mul(delta), grp.base_mul(alpha), grp.base_mul(beta))
    st = _statement(sender, recipient, judge, points, message)
    return _prove(st, (_RIGHT, gamma), (_RIGHT, delta), rng)


def r_forge(
    recipient: FrankingKeyPair,
    sender: FrankingPublicKey,
    judge: FrankingPublicKey,
    message: bytes,
    rng: RNG,
) -> Franking:
    """A signature the recipient makes alone (the paper's RForge): receiver-compromise deniability.

    :func:`verify` with the recipient's own key accepts it, :func:`judge` refuses it; even with the recipient's
    secret key it cannot be told from a real one. So a recipient cannot frame a sender, and a recipient's leaked
    key does not make past messages provable. Draws ``α, β, γ``, then the proof's six values.

    Raises:
        LocalProtocolError: ``message`` is longer than :data:`MAX_FRANKED_MESSAGE`.
    """
    _check_message(message)
    alpha, beta = grp.random_scalar(rng), grp.random_scalar(rng)
    gamma = grp.random_scalar(rng)
    points = (
        grp.base_mul(gamma),
        grp.mul(beta, recipient.public.to_bytes()),
        grp.base_mul(alpha),
        grp.base_mul(beta),
    )
    st = _statement(sender, recipient.public, judge, points, message)
    w = grp.scalar_mul(beta, recipient.private_bytes())
    return _prove(st, (_RIGHT, gamma), (_RIGHT, w), rng)


def j_forge(
    judge_key: FrankingKeyPair,
    sender: FrankingPublicKey,
    recipient: FrankingPublicKey,
    message: bytes,
    rng: RNG,
) -> Franking:
    """A signature the judge makes alone (the paper's JForge): judge-compromise deniability.

    Both :func:`judge` and the recipient's :func:`verify` accept it, and it is distributed exactly as
    :func:`frank`'s output, even to someone holding every secret key but the sender's: a leaked moderation key
    lets its holder forge reports, so a report proves nothing to anyone but the (honest) judge. Draws
    ``α, β``, then the proof's six values.

    Raises:
        LocalProtocolError: ``message`` is longer than :data:`MAX_FRANKED_MESSAGE`.
    """
    _check_message(message)
    alpha, beta = grp.random_scalar(rng), grp.random_scalar(rng)
    points = (
        grp.mul(alpha, judge_key.public.to_bytes()),
        grp.mul(beta, recipient.to_bytes()),
        grp.base_mul(alpha),
        grp.base_mul(beta),
    )
    st = _statement(sender, recipient, judge_key.public, points, message)
    t = grp.scalar_mul(alpha, judge_key.private_bytes())
    return _prove(st, (_RIGHT, t), (_LEFT, alpha), rng)
