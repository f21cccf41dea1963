"""Sealed sender: the sender's identity travels inside the encryption; the relay sees only the recipient.

Layout (version 1)::

    0x01 || ephemeral_public(32) || var16 static_ciphertext || message_ciphertext

    e            = fresh X25519 key;  s1 = DH(e, IK_B)
    k_chain||k_s = HKDF(ikm=s1, salt=0^32, info="Confide-sealed-static-v1" || IK_B.agreement || e_pub, L=64)
    static_ct    = ChaCha20-Poly1305(k_s, 0^12, SenderCertificate, ad=e_pub)
    s2           = DH(IK_A, IK_B)     (static-static: only A or B can compute it → authenticates A to B)
    k_m          = HKDF(ikm=s2, salt=k_chain, info="Confide-sealed-message-v1" || static_ct, L=32)
    message_ct   = ChaCha20-Poly1305(k_m, 0^12, inner_message, ad=e_pub)

Each key encrypts exactly one plaintext (``e`` is fresh), so the zero nonce is safe. ``e`` and ``s1`` are
computed with libsodium on raw bytes (:mod:`confide.protocol.x25519`: its fixed-base multiplication makes
``e_pub`` in about half the time OpenSSL's key derivation takes). ``s2`` is the same for every
message between two identities and is remembered in memory per pair of agreement keys
(:mod:`confide.protocol.static_agreement`). The recipient learns
and authenticates the sender; the relay learns nothing about the sender. A :class:`SenderCertificate`
also carries the sender's device certificate and a reply delivery token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from confide.keys.device import DEVICE_CERT_LEN, DeviceCertificate
from confide.keys.encoding import RNG, Reader, Writer
from confide.keys.errors import ConfideError
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityKeyPair, IdentityPublicKey

from .envelope import DELIVERY_TOKEN_LEN
from .errors import DecryptionError, DuplicateMessage, ProtocolError, RemoteProtocolError, UndecryptableMessage
from .kdf import LABEL_SEALED_MESSAGE, LABEL_SEALED_STATIC, ZERO_NONCE, hkdf
from .padding import MIN_BUCKET
from .session import MSG_PREKEY, PreKeyLookup, Session, accept_session, parse_inner
from .static_agreement import STATIC_AGREEMENTS
from .x25519 import agree, generate

SEALED_VERSION = 1
CERT_VERSION = 1

SENDER_CERT_CACHE_SIZE = 256
"""Verified sender certificates remembered by their exact bytes (a therapist's active clients and their
devices). Checking one costs two Ed25519 verifications (≈ 135 µs), the largest cost of opening a sealed
message, and the same certificate arrives with every message from a device; 256 × ≈ 0.5 KiB stays small."""


@dataclass(frozen=True, slots=True)
class SenderCertificate:
    """Who sent a message and how to answer: identity, device certificate, the sender device's delivery token.

    Layout: ``version u8 || identity(128) || device_certificate(96) || reply_token(32)``.
    """

    identity: IdentityPublicKey
    device: DeviceCertificate
    reply_token: bytes

    def __post_init__(self) -> None:
        if len(self.reply_token) != DELIVERY_TOKEN_LEN:
            raise ValueError("a reply token is 32 bytes")

    @property
    def device_id(self) -> bytes:
        return self.device.device_id

    def to_bytes(self) -> bytes:
        return (
            Writer()
            .u8(CERT_VERSION)
            .raw(self.identity.to_bytes())
            .raw(self.device.to_bytes())
            .raw(self.reply_token)
            .bytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SenderCertificate:
        """Parse and verify. Raises :class:`RemoteProtocolError` on malformed or unsigned content."""
        r = Reader(data, RemoteProtocolError)
        if r.u8() != CERT_VERSION:
            raise RemoteProtocolError("unknown sender certificate version")
        try:
            identity = IdentityPublicKey.from_bytes(r.raw(IDENTITY_PUBLIC_LEN))
            device = DeviceCertificate.from_bytes(r.raw(DEVICE_CERT_LEN), identity)
        except ConfideError as exc:
            raise RemoteProtocolError("invalid sender certificate") from exc
        token = r.raw(DELIVERY_TOKEN_LEN)
        r.end()
        return cls(identity, device, token)

    def __repr__(self) -> str:
        return f"SenderCertificate({self.identity.address.text}, device={self.device_id.hex()})"


@dataclass(frozen=True, slots=True)
class Opened:
    """A successfully opened message. Persist ``session`` in the same transaction as the message."""

    sender: SenderCertificate
    plaintext: bytes
    session: Session
    new_session: bool
    used_one_time_prekey: int | None
    used_kem_prekey: int | None
    archived: bool = False
    """The message was decrypted by an archived session (not the current one): see :func:`prefer_session`."""
    signed_prekey_id: int | None = None
    """For a new session: the signed prekey its prekey message named (remember its base key that long)."""

    def __repr__(self) -> str:
        return (
            f"Opened(sender={self.sender!r}, {len(self.plaintext)} bytes, new_session={self.new_session}, "
            f"archived={self.archived})"
        )


@lru_cache(maxsize=SENDER_CERT_CACHE_SIZE)
def _verified_certificate(data: bytes) -> SenderCertificate:
    """:meth:`SenderCertificate.from_bytes`, remembered for bytes that verified (failures are not cached)."""
    return SenderCertificate.from_bytes(data)


def _aead_open(key: bytes, ct: bytes, ad: bytes) -> bytes:
    try:
        return ChaCha20Poly1305(key).decrypt(ZERO_NONCE, ct, ad)
    except InvalidTag as exc:
        raise DecryptionError("message could not be decrypted") from exc


def _static_keys(s1: bytes, recipient: IdentityPublicKey, e_pub: bytes) -> tuple[bytes, bytes]:
    out = hkdf(s1, salt=bytes(32), info=LABEL_SEALED_STATIC + recipient.agreement + e_pub, length=64)
    return out[:32], out[32:]


def seal(
    sender_identity: IdentityKeyPair,
    sender: SenderCertificate,
    recipient: IdentityPublicKey,
    inner: bytes,
    rng: RNG,
) -> bytes:
    """Seal ``inner`` to ``recipient``, authenticated as ``sender_identity``.

    Raises:
        ValueError: ``recipient``'s agreement key has low order.
    """
    e_private, e_pub = generate(rng)
    chain, k_static = _static_keys(agree(e_private, recipient.agreement), recipient, e_pub)
    static_ct = ChaCha20Poly1305(k_static).encrypt(ZERO_NONCE, sender.to_bytes(), e_pub)
    s2 = STATIC_AGREEMENTS.agree(sender_identity, recipient)
    k_msg = hkdf(s2, salt=chain, info=LABEL_SEALED_MESSAGE + static_ct, length=32)
    msg_ct = ChaCha20Poly1305(k_msg).encrypt(ZERO_NONCE, inner, e_pub)
    return Writer().u8(SEALED_VERSION).raw(e_pub).var16(static_ct).raw(msg_ct).bytes()


def unseal(local: IdentityKeyPair, sealed: bytes) -> tuple[SenderCertificate, bytes]:
    """Open the sealed layer: ``(sender, inner)``. Raises :class:`DecryptionError` on any failure."""
    try:
        r = Reader(sealed, RemoteProtocolError)
        if r.u8() != SEALED_VERSION:
            raise RemoteProtocolError("unknown sealed-sender version")
        e_pub, static_ct, msg_ct = r.raw(32), r.var16(), r.rest()
        s1 = local.agree(X25519PublicKey.from_public_bytes(e_pub))
        chain, k_static = _static_keys(s1, local.public, e_pub)
        sender = _verified_certificate(_aead_open(k_static, static_ct, e_pub))
        s2 = STATIC_AGREEMENTS.agree(local, sender.identity)
        k_msg = hkdf(s2, salt=chain, info=LABEL_SEALED_MESSAGE + static_ct, length=32)
        return sender, _aead_open(k_msg, msg_ct, e_pub)
    except DecryptionError:
        raise
    except (ProtocolError, ValueError) as exc:  # malformed layout or a low-order ephemeral key
        raise DecryptionError("message could not be decrypted") from exc


def seal_message(
    session: Session,
    plaintext: bytes,
    *,
    sender_identity: IdentityKeyPair,
    sender: SenderCertificate,
    rng: RNG,
    min_bucket: int = MIN_BUCKET,
) -> bytes:
    """Ratchet-encrypt ``plaintext`` (padded to at least ``min_bucket`` bytes) with ``session`` (mutating it:
    persist it) and seal it to the peer.

    Raises:
        LocalProtocolError: ``plaintext`` is larger than the padding limit.
        ValueError: ``min_bucket`` is not a valid bucket (a programmer mistake).
    """
    inner = session.encrypt(plaintext, rng, min_bucket=min_bucket)
    return seal(sender_identity, sender, session.peer_identity, inner, rng)


FindSession = Callable[[IdentityPublicKey, bytes], Session | None]
"""The current session with a peer device (identity, device id), or None."""
FindArchived = Callable[[IdentityPublicKey, bytes], list[Session]]
"""The archived sessions with a peer device, most recent first (at most MAX_ARCHIVED_SESSIONS)."""
BaseKeySeen = Callable[[IdentityPublicKey, bytes, bytes], bool]
"""Whether a session with this base key was already accepted from this peer device (identity, device id,
base key): the replay guard for prekey messages (SPEC §4.1)."""


def open_sealed(
    local: IdentityKeyPair,
    sealed: bytes,
    *,
    find_session: FindSession,
    prekeys: PreKeyLookup,
    rng: RNG,
    find_archived: FindArchived | None = None,
    base_key_seen: BaseKeySeen | None = None,
) -> Opened:
    """Unseal, then decrypt with the sender's sessions (or a new one for a prekey message): see
    :func:`open_inner`.

    Raises:
        DuplicateMessage: the message was already decrypted.
        UndecryptableMessage: the sender is authenticated but the message does not decrypt (no or a stale
            session); ``exc.sender`` names the sender.
        DecryptionError: anything else (the sealed layer itself did not open).
    """
    sender, inner = unseal(local, sealed)
    return open_inner(
        local,
        sender,
        inner,
        find_session=find_session,
        prekeys=prekeys,
        rng=rng,
        find_archived=find_archived,
        base_key_seen=base_key_seen,
    )


def open_inner(
    local: IdentityKeyPair,
    sender: SenderCertificate,
    inner: bytes,
    *,
    find_session: FindSession,
    prekeys: PreKeyLookup,
    rng: RNG,
    find_archived: FindArchived | None = None,
    base_key_seen: BaseKeySeen | None = None,
) -> Opened:
    """Decrypt an unsealed inner message from ``sender`` (SPEC §4.1). All-or-nothing: a session returned by
    ``find_session`` or ``find_archived`` is changed only when this returns, and only the one in ``Opened``.

    Order: the message is parsed first; a prekey message is decrypted by the session with its base key
    (current or archived); a prekey message with no such session is refused when ``base_key_seen`` says that
    base key was already accepted (a replay, or a session this device lost), and otherwise starts a new
    session. A normal message is tried on the current session, then on each archived one, most recent first.

    Raises:
        DuplicateMessage: already decrypted, or a prekey message of a session we hold whose keys are gone.
        UndecryptableMessage: no session of ours decrypts it, or a first message whose base key was already
            accepted; ``exc.sender`` names the sender.
    """
    try:
        return _open_inner(local, sender, inner, find_session, find_archived, base_key_seen, prekeys, rng)
    except DuplicateMessage:
        raise
    except DecryptionError as exc:
        raise UndecryptableMessage("message could not be decrypted", sender=sender) from exc


def _open_inner(
    local: IdentityKeyPair,
    sender: SenderCertificate,
    inner: bytes,
    find_session: FindSession,
    find_archived: FindArchived | None,
    base_key_seen: BaseKeySeen | None,
    prekeys: PreKeyLookup,
    rng: RNG,
) -> Opened:
    try:
        kind, header, body = parse_inner(inner)
    except ProtocolError as exc:
        raise DecryptionError("message could not be decrypted") from exc
    current = find_session(sender.identity, sender.device_id)

    def held() -> Iterator[tuple[Session, bool]]:
        """The sessions with this device, current first; the archived ones are read only if needed."""
        if current is not None:
            yield current, False
        if find_archived is not None:
            for session in find_archived(sender.identity, sender.device_id):
                yield session, True

    if kind == MSG_PREKEY:
        assert header is not None
        if header.initiator != sender.identity:
            raise DecryptionError("message could not be decrypted")
        for known, archived in held():
            if known.base_key == header.ephemeral:
                try:
                    plaintext = known.decrypt(inner, rng)
                except DuplicateMessage:
                    raise
                except DecryptionError as exc:  # the sealed layer opened, so these are the sender's own bytes
                    raise DuplicateMessage("an old message of a known session (its keys are gone)") from exc
                return Opened(sender, plaintext, known, False, None, None, archived=archived)
        if base_key_seen is not None and base_key_seen(sender.identity, sender.device_id, header.ephemeral):
            # A replay of a first message, or a session this device lost: never accepted again.
            raise DecryptionError("a first message whose session was already accepted")
        session, plaintext, otk, kem = accept_session(local, header, body, sender.device_id, prekeys, rng)
        return Opened(sender, plaintext, session, True, otk, kem, signed_prekey_id=header.signed_prekey_id)
    duplicate: DuplicateMessage | None = None
    for known, archived in held():
        try:
            plaintext = known.decrypt(inner, rng)
        except DuplicateMessage as exc:
            duplicate = duplicate or exc
            continue
        except DecryptionError:
            continue
        return Opened(sender, plaintext, known, False, None, None, archived=archived)
    if duplicate is not None:
        raise duplicate
    raise DecryptionError("message could not be decrypted (no session of ours opens it)")
