"""A session with one peer device: PQXDH origin + header-encrypted Double Ratchet + padding.

Inner message (what the sealed-sender layer carries)::

    0x01 || ratchet_message                       a normal message
    0x02 || prekey_header || ratchet_message      sent by the initiator until its first reply arrives

Plaintext is padded to a size bucket (:mod:`confide.protocol.padding`) before ratchet encryption.
:meth:`Session.decrypt` is all-or-nothing: on any failure the session is exactly as it was.
"""

from __future__ import annotations

from typing import Protocol

from confide.keys.device import DEVICE_ID_LEN
from confide.keys.encoding import RNG, Reader, Writer
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityKeyPair, IdentityPublicKey
from confide.keys.prekeys import KemPreKeyRecord, OneTimePreKeyRecord, PreKeyBundle, SignedPreKeyRecord

from .errors import DecryptionError, ProtocolError, RemoteProtocolError
from .padding import MIN_BUCKET, pad, unpad
from .pqxdh import PreKeyHeader, initiate, respond
from .ratchet import RatchetState

MSG_RATCHET = 1
MSG_PREKEY = 2
SESSION_VERSION = 1


class PreKeyLookup(Protocol):
    """The responder's private prekeys, by id (the client's store implements this)."""

    def signed_prekey(self, key_id: int) -> SignedPreKeyRecord | None:
        """The private signed prekey with this id, or None (rotated out and past its grace period)."""
        ...

    def one_time_prekey(self, key_id: int) -> OneTimePreKeyRecord | None:
        """The private one-time prekey with this id, or None (never issued, or already used)."""
        ...

    def kem_prekey(self, key_id: int) -> KemPreKeyRecord | None:
        """The private ML-KEM prekey (one-time or last resort) with this id, or None."""
        ...


def parse_inner(inner: bytes) -> tuple[int, PreKeyHeader | None, bytes]:
    """Split an inner message into ``(type, prekey_header_or_None, ratchet_message)``.

    The ratchet message of a prekey message is encrypted with ``AD || prekey_header_bytes`` as associated data
    (see :func:`message_ad`), so a change to any header byte fails decryption even with an existing session.

    Raises:
        RemoteProtocolError: unknown type or malformed prekey header.
    """
    r = Reader(inner, RemoteProtocolError)
    kind = r.u8()
    if kind == MSG_RATCHET:
        return kind, None, r.rest()
    if kind == MSG_PREKEY:
        header = PreKeyHeader.read_from(r)
        return kind, header, r.rest()
    raise RemoteProtocolError("unknown message type")


def message_ad(session_ad: bytes, inner: bytes, ratchet_message: bytes) -> bytes:
    """Associated data for the ratchet message inside ``inner``: the session AD, plus the prekey header if any."""
    if inner[0] == MSG_PREKEY:
        return session_ad + inner[1 : len(inner) - len(ratchet_message)]
    return session_ad


class Session:
    """One party's end of a conversation with one peer device. Contains secrets: seal :meth:`to_bytes`."""

    __slots__ = ("ad", "base_key", "peer_device_id", "peer_identity", "pending", "ratchet")

    def __init__(
        self,
        peer_identity: IdentityPublicKey,
        peer_device_id: bytes,
        ad: bytes,
        base_key: bytes,
        ratchet: RatchetState,
        pending: bytes | None,
    ) -> None:
        self.peer_identity = peer_identity
        self.peer_device_id = peer_device_id
        self.ad = ad
        self.base_key = base_key
        self.ratchet = ratchet
        self.pending = pending  # serialised PreKeyHeader while the initiator awaits a reply

    @property
    def established(self) -> bool:
        """True once this side knows the peer holds the session (a reply was decrypted, or we are responder)."""
        return self.pending is None

    def encrypt(self, plaintext: bytes, rng: RNG, *, min_bucket: int = MIN_BUCKET) -> bytes:
        """Pad (to at least ``min_bucket`` bytes) and encrypt ``plaintext``; advances the sending chain (persist
        the session afterwards).

        Raises:
            LocalProtocolError: the plaintext is larger than :data:`~confide.protocol.padding.MAX_PLAINTEXT`.
            ValueError: ``min_bucket`` is not a valid bucket (a programmer mistake).
        """
        padded = pad(plaintext, min_bucket)
        pending = self.pending
        if pending is not None:
            return bytes((MSG_PREKEY,)) + pending + self.ratchet.encrypt(padded, self.ad + pending, rng)
        return bytes((MSG_RATCHET,)) + self.ratchet.encrypt(padded, self.ad, rng)

    def decrypt(self, inner: bytes, rng: RNG) -> bytes:
        """Decrypt an inner message of this session; all-or-nothing.

        Raises:
            DuplicateMessage: already decrypted.
            DecryptionError: anything else (including a prekey message of another session).
        """
        if inner[:1] == b"\x01":  # the hot path: a plain ratchet message
            kind, body, ad = MSG_RATCHET, inner[1:], self.ad
        else:
            try:
                kind, header, body = parse_inner(inner)
            except ProtocolError as exc:
                raise DecryptionError("message could not be decrypted") from exc
            if header is None or header.ephemeral != self.base_key:
                raise DecryptionError("message could not be decrypted")
            ad = message_ad(self.ad, inner, body)
        padded, change = self.ratchet.prepare_decrypt(body, ad, rng)
        plaintext = unpad(padded)
        self.ratchet.commit(change)
        if kind == MSG_RATCHET:
            self.pending = None
        return plaintext

    def to_bytes(self) -> bytes:
        w = Writer().u8(SESSION_VERSION).raw(self.peer_identity.to_bytes()).raw(self.peer_device_id)
        w.var16(self.ad).raw(self.base_key)
        w.var16(self.pending if self.pending is not None else b"")
        return w.raw(self.ratchet.to_bytes()).bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Session:
        """Parse a stored session. Raises :class:`RemoteProtocolError` on malformed bytes."""
        r = Reader(data, RemoteProtocolError)
        if r.u8() != SESSION_VERSION:
            raise RemoteProtocolError("unknown session version")
        try:
            identity = IdentityPublicKey.from_bytes(r.raw(IDENTITY_PUBLIC_LEN))
        except Exception as exc:
            raise RemoteProtocolError("stored session has an invalid identity") from exc
        device, ad, base_key, pending = r.raw(DEVICE_ID_LEN), r.var16(), r.raw(32), r.var16()
        ratchet = RatchetState.read_from(r)
        r.end()
        return cls(identity, device, ad, base_key, ratchet, pending or None)

    def __repr__(self) -> str:
        return f"Session(peer={self.peer_identity.address.text}, device={self.peer_device_id.hex()})"


MAX_ARCHIVED_SESSIONS = 40
"""Earlier sessions kept per peer device besides the current one (libsignal keeps 40 too). Both sides of a
simultaneous first message, a peer's reset and messages still in flight on a replaced session all need the
older session to decrypt; 40 covers far more of them than a person produces, while bounding what each
incoming message may cost (one header trial per archived session) and what a stolen store holds."""


def prefer_session(candidate: Session, current: Session | None, *, fresh: bool) -> bool:
    """Whether ``candidate`` should become the current session (the one used to send) instead of ``current``.

    ``fresh`` means ``candidate`` was just accepted from a prekey message whose base key was never seen
    before; otherwise it is an archived session that just decrypted a message. The rule (SPEC §4.1):

    1. no current session: take the candidate;
    2. the current session is still *pending* (we started it and no reply has come: the peer may never have
       seen it): the session with the lower base key wins. Both sides compare the same two base keys, so
       a simultaneous first message converges on one session whatever order messages arrive in;
    3. the current session is established: a fresh session replaces it (the peer started over: a reset,
       a reinstall); an archived one never does (an older session never replaces one that has received a
       reply, however late a message on it arrives).
    """
    if current is None:
        return True
    if not current.established:
        return candidate.base_key < current.base_key
    return fresh


def initiate_session(local: IdentityKeyPair, bundle: PreKeyBundle, *, rng: RNG) -> Session:
    """Start a session as initiator with a parsed (signature-checked) bundle.

    Call ``bundle.check_address(expected)`` first. Raises :class:`DecryptionError` on a degenerate key.
    """
    agreement, header = initiate(local, bundle, rng)
    ratchet = RatchetState.init_initiator(
        agreement.root_key, agreement.header_key_a, agreement.next_header_key_b, bundle.signed_prekey.public, rng
    )
    return Session(
        bundle.identity,
        bundle.device.device_id,
        agreement.associated_data,
        header.ephemeral,
        ratchet,
        header.to_bytes(),
    )


def accept_session(
    local: IdentityKeyPair,
    header: PreKeyHeader,
    ratchet_message: bytes,
    peer_device_id: bytes,
    prekeys: PreKeyLookup,
    rng: RNG,
) -> tuple[Session, bytes, int | None, int | None]:
    """Create a session as responder from a prekey message and decrypt its message.

    Returns ``(session, plaintext, used_one_time_prekey_id, used_one_time_kem_prekey_id)``; the caller deletes
    those private prekeys once it has stored the message and the session.

    Raises:
        DecryptionError: unknown or already-used prekey, or the message does not decrypt.
    """
    signed = prekeys.signed_prekey(header.signed_prekey_id)
    kem = prekeys.kem_prekey(header.kem_prekey_id)
    one_time = None
    if header.one_time_prekey_id is not None:
        one_time = prekeys.one_time_prekey(header.one_time_prekey_id)
        if one_time is None:
            raise DecryptionError("message could not be decrypted (prekey already used)")
    if signed is None or kem is None:
        raise DecryptionError("message could not be decrypted (unknown prekey)")
    if len(peer_device_id) != DEVICE_ID_LEN:
        raise ValueError("device id must be 16 bytes")
    agreement = respond(local, header, signed, one_time, kem)
    ratchet = RatchetState.init_responder(
        agreement.root_key,
        agreement.header_key_a,
        agreement.next_header_key_b,
        signed.private.private_bytes_raw(),
        signed.public.public,
    )
    session = Session(header.initiator, peer_device_id, agreement.associated_data, header.ephemeral, ratchet, None)
    ad = session.ad + header.to_bytes()
    plaintext = unpad(ratchet.decrypt(ratchet_message, ad, rng))
    return session, plaintext, header.one_time_prekey_id, None if kem.last_resort else kem.key_id
