"""The relay's storage interface: accounts, prekeys, mailboxes, blobs, signed public documents, expiry.

Request handlers speak only to :class:`RelayStore`; no SQL leaves :mod:`confide.server.db` (the embedded
SQLite implementation), so a PostgreSQL implementation can replace it without touching a handler; only
:mod:`confide.server.backends` names an implementation.
Everything stored is public (identities, certificates, prekeys) or ciphertext, plus the minimum of
metadata needed to deliver and to forget: recipient device, receive and expiry times, blob sizes; signed public
documents (a practice's directory, revocation list, policy, a therapist's availability card) are public and kept
only in their newest version, with the address, kind, version and expiry needed to serve and forget them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A prekey in its public wire form, with its id (signatures were verified before storing)."""

    key_id: int
    record: bytes


@dataclass(frozen=True, slots=True)
class Registration:
    """A verified account + device registration, ready to store."""

    address: bytes
    identity: bytes
    device_id: bytes
    device_cert: bytes
    token_hashes: tuple[bytes, ...]
    signed_prekey: KeyRecord
    kem_last_resort: KeyRecord
    one_time: tuple[KeyRecord, ...]
    kem_one_time: tuple[KeyRecord, ...]
    proof_stamp: int = 0
    """Timestamp of the registration's signed proof (raises the device's replay floor)."""
    proof_nonce: bytes = b""
    """Nonce of the registration's signed proof."""
    seen_at_ms: int = 0
    """When the relay received the registration (the device was last seen)."""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A registered device: its account and its certificate (public key + identity signature).

    ``replay_floor`` is the highest proof timestamp the relay has accepted from the device and
    ``replay_nonces`` the nonces (16 bytes each, concatenated) it accepted at that timestamp, both persisted
    before the request was answered; see :class:`~confide.server.replay.ReplayCache`."""

    device_id: bytes
    address: bytes
    identity: bytes
    device_cert: bytes
    replay_floor: int = 0
    replay_nonces: bytes = b""

    def __repr__(self) -> str:
        return f"DeviceRecord({self.device_id.hex()})"


@dataclass(frozen=True, slots=True)
class PrekeyCounts:
    """What the owner needs to decide on a refill."""

    one_time: int
    kem_one_time: int
    signed_prekey_id: int
    kem_last_resort_id: int


@dataclass(frozen=True, slots=True)
class PrekeyUpdate:
    """A verified prekey upload; ``None`` leaves the stored key as it is."""

    signed_prekey: KeyRecord | None
    kem_last_resort: KeyRecord | None
    one_time: tuple[KeyRecord, ...]
    kem_one_time: tuple[KeyRecord, ...]


@dataclass(frozen=True, slots=True)
class BundleParts:
    """One device's share of a prekey bundle; the one-time keys are already deleted from the store."""

    device_id: bytes
    identity: bytes
    device_cert: bytes
    signed_prekey: bytes
    one_time: bytes | None
    kem: bytes


@dataclass(frozen=True, slots=True)
class NewEnvelope:
    """An envelope accepted by the handler (token checked), to be committed to a mailbox."""

    envelope_id: bytes
    device_id: bytes
    received_at_ms: int
    expires_at_ms: int
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"NewEnvelope({self.envelope_id.hex()}, {len(self.ciphertext)} bytes)"


@dataclass(frozen=True, slots=True)
class StoredEnvelope:
    """An envelope waiting in a mailbox. ``seq`` orders a mailbox (oldest first)."""

    seq: int
    envelope_id: bytes
    received_at_ms: int
    expires_at_ms: int
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"StoredEnvelope({self.envelope_id.hex()}, {len(self.ciphertext)} bytes)"


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome for one envelope: ``status`` is ``stored``, ``duplicate`` or an error code."""

    envelope_id: bytes
    status: str
    expires_at_ms: int = 0
    stored: StoredEnvelope | None = None


@dataclass(frozen=True, slots=True)
class BlobRecord:
    """An uploaded attachment: who may delete it, its size, when it expires, its file name."""

    blob_id: str
    device_id: bytes
    size: int
    expires_at_ms: int
    path: str


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A signed public document as the relay keeps it (verified by the handler before storing): the address
    it is published under (its signer's), its ``kind`` byte (SPEC section 12), its version, when it expires
    (unix milliseconds) and its exact bytes."""

    address: bytes
    kind: int
    version: int
    expires_at_ms: int
    data: bytes

    def __repr__(self) -> str:
        return f"StoredDocument(kind={self.kind}, version={self.version}, {len(self.data)} bytes)"


@dataclass(frozen=True, slots=True)
class DeviceListUpdate:
    """What storing a signed device list did: ``stored`` as :meth:`RelayStore.put_document` answers, and the ids
    of the registered devices it removed (none unless ``stored``), whose sockets the caller closes."""

    stored: bool
    removed: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What a sweep deleted: a count of envelopes, the names of expired blobs (whose bytes to remove) and a
    count of expired documents."""

    envelopes: int
    blob_paths: tuple[str, ...]
    documents: int = 0


@dataclass(frozen=True, slots=True)
class HeldEnvelope:
    """What the relay knows of one waiting envelope: its ciphertext's size and its times."""

    size: int
    received_at_ms: int
    expires_at_ms: int

    @property
    def lifetime_s(self) -> int:
        """How long the relay keeps it at most, counted from its arrival (whole seconds)."""
        return (self.expires_at_ms - self.received_at_ms) // 1000


@dataclass(frozen=True, slots=True)
class HeldBlob:
    """What the relay knows of one attachment besides its owner: its size and expiry."""

    size: int
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class HeldDocument:
    """What :func:`~confide.server.backends.describe_holdings` shows of one signed public document: its kind
    byte, size and expiry (not the address it is published under)."""

    kind: int
    size: int
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class Holdings:
    """Everything a relay holds that a sender or recipient wrote, as an operator could see it: sizes and
    times, oldest first. Nothing names a sender; the contents are ciphertext. ``documents``: the signed public
    documents held (the newest version of each), by kind and size, in the order first published."""

    envelopes: tuple[HeldEnvelope, ...]
    blobs: tuple[HeldBlob, ...]
    documents: tuple[HeldDocument, ...] = ()


class RelayStore(Protocol):
    """Storage for one relay. All methods are coroutines; writes are serialized by the implementation.

    Methods other than :meth:`start` raise :class:`~confide.server.errors.Unavailable` while the store is not
    open (or is closing), and when the storage fails in a way a retry may fix.
    """

    async def start(self) -> None:
        """Open (creating and migrating where needed); called once by the app before it serves."""
        ...

    async def register(self, reg: Registration) -> bool:
        """Store an account + device; replace its prekeys and tokens if it exists. True if newly created.

        Raises:
            Conflict: the device key is registered under another identity.
            BadRequest: the account already has the maximum number of devices.
            DeviceRemoved: the device was removed by its account's device list and no newer list names it.
            Forbidden: the address has a device list that does not name the device, or has no list and a
                device registered already (a second device is approved through a list first).
        """
        ...

    async def device_count(self, address: bytes) -> int:
        """Devices registered under ``address`` (0: no such account)."""
        ...

    async def note_seen(self, device_id: bytes, stamp: int, nonce: bytes, now_ms: int) -> None:
        """Record an accepted proof durably, before the caller answers the request: raise ``device_id``'s replay
        floor to ``stamp`` (never lower it) with ``nonce`` as the only nonce at it, or add ``nonce`` to the
        nonces at the floor if ``stamp`` equals it; mark the device seen at ``now_ms``."""
        ...

    async def bytes_held(self) -> int:
        """Bytes of envelope ciphertext, attachments, documents and link messages held now, for the global storage
        budget."""
        ...

    async def device(self, device_id: bytes) -> DeviceRecord | None:
        """The registered device, or None."""
        ...

    async def token_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        """The device's delivery-token hashes; None for an unknown device."""
        ...

    async def delivery_hashes(self, device_id: bytes) -> tuple[bytes, ...] | None:
        """The delivery-token hashes an envelope to ``device_id`` may carry: the union of the sets registered by
        every device of its address (a token a contact was given by one device reaches them all), at most
        ``MAX_DEVICES_PER_ACCOUNT * MAX_TOKEN_HASHES``; None for an unknown device."""
        ...

    async def removed_at(self, device_id: bytes) -> int | None:
        """When ``device_id`` was removed by its account's device list (unix ms), or None if it was not (or was
        forgotten after ``REMOVED_DEVICE_MEMORY_S``, or listed again since)."""
        ...

    async def replace_tokens(self, device_id: bytes, hashes: tuple[bytes, ...]) -> int:
        """Replace the device's token hashes; return how many are registered."""
        ...

    async def prekey_counts(self, device_id: bytes) -> PrekeyCounts:
        """How many one-time keys are left and which signed keys are current."""
        ...

    async def put_prekeys(self, device_id: bytes, update: PrekeyUpdate) -> PrekeyCounts:
        """Add one-time keys and replace signed keys; raise BadRequest if a stock limit would be exceeded."""
        ...

    async def take_bundles(self, address: bytes, *, consume: int) -> list[BundleParts] | None:
        """Bundles for every device of ``address`` (in device-id order); for the first ``consume`` of them, hand
        out (delete) one one-time X25519 and one one-time ML-KEM key each, atomically. The caller paid the
        budget for ``consume`` devices, so a device registered meanwhile gets no one-time key it did not pay
        for. None for an unknown address."""
        ...

    async def store_envelopes(self, items: list[NewEnvelope], quota: int) -> list[SendResult]:
        """Commit envelopes to mailboxes in one transaction, idempotent by envelope id; an envelope for a device
        removed by its account's list (after the handler checked its token) gets the status ``device_removed``
        and is not stored."""
        ...

    async def fetch(self, device_id: bytes, after_seq: int, limit: int) -> list[StoredEnvelope]:
        """Up to ``limit`` envelopes of the device's mailbox after ``after_seq``, oldest first."""
        ...

    async def ack(self, device_id: bytes, envelope_ids: list[bytes]) -> int:
        """Delete these envelopes from the device's own mailbox; return how many were deleted."""
        ...

    async def add_blob(self, blob: BlobRecord) -> None:
        """Record an uploaded blob (its file is already in place)."""
        ...

    async def blob(self, blob_id: str) -> BlobRecord | None:
        """The blob, or None."""
        ...

    async def blob_bytes(self, device_id: bytes) -> int:
        """Total size of the live blobs uploaded by the device."""
        ...

    async def delete_blob(self, blob_id: str) -> BlobRecord | None:
        """Delete the blob's row and return it (the caller removes the bytes); None if unknown."""
        ...

    async def blob_names(self) -> set[str]:
        """Names (``BlobRecord.path``) of every recorded blob, to find orphaned bytes at start."""
        ...

    async def put_document(self, document: StoredDocument) -> bool:
        """Keep ``document`` as the newest of its (address, kind), atomically: store it if none is held or the
        held one has a lower version (the old bytes are deleted and scrubbed from every file, as an
        acknowledged envelope's); True if stored, False if the held one is this exact document (idempotent).

        Raises:
            Conflict: the held document has a higher version, or the same version with other bytes (nothing
                changes).
        """
        ...

    async def document(self, address: bytes, kind: int) -> StoredDocument | None:
        """The newest document published under ``address`` of ``kind``, or None."""
        ...

    async def put_device_list(
        self, document: StoredDocument, listed: tuple[bytes, ...], now_ms: int
    ) -> DeviceListUpdate:
        """Keep a signed device list (verified by the handler; ``listed`` its device ids) as
        :meth:`put_document` does, and in the same transaction, when it is stored: remove every registered
        device of its address that it does not list (device row, prekeys, token hashes, mailbox, the deleted
        ciphertext scrubbed from every file), remember each removed id (tombstone, ``now_ms``) and forget the
        tombstones of the listed ones. From then on :meth:`register` accepts for this address only listed
        devices.

        Raises:
            Conflict: as :meth:`put_document` (nothing changes).
        """
        ...

    async def recovery_key(self, address: bytes) -> bytes | None:
        """The recovery authority's public key registered for ``address`` (32 bytes), or None."""
        ...

    async def set_recovery_key(self, address: bytes, key: bytes, now_ms: int) -> None:
        """Register (or replace) the recovery authority's public key of ``address``; deleted with the account."""
        ...

    async def put_link(self, channel: bytes, slot: int, data: bytes, now_ms: int) -> bool:
        """Write a link message once: True if stored, False if this slot holds these exact bytes already. A
        channel's first write starts its life (``LINK_CHANNEL_TTL_S``); an expired channel counts as empty.

        Raises:
            Conflict: the slot holds other bytes (nothing changes).
            InsufficientStorage: a new channel while ``MAX_LINK_CHANNELS`` are live.
        """
        ...

    async def link(self, channel: bytes, slot: int, now_ms: int) -> bytes | None:
        """The message in a live channel's slot, or None."""
        ...

    async def holdings(self) -> Holdings:
        """Sizes and times of every waiting envelope (mailbox order), every blob (upload order) and every
        document (the order first published)."""
        ...

    async def received_epochs(self, epoch_ms: int, epochs: list[int]) -> set[int]:
        """Those of ``epochs`` (``received_at_ms // epoch_ms``) in which a waiting envelope was received: an index
        probe per epoch, however many envelopes wait (the at-rest wrapper asks about the epochs whose keys it may
        destroy)."""
        ...

    async def sweep(self, now_ms: int) -> SweepResult:
        """Delete every envelope, blob row, document and link message expired at ``now_ms``, every tombstone of
        a removed device older than ``REMOVED_DEVICE_MEMORY_S``, and every account none of whose devices was seen
        within the store's account lifetime, with everything of it (keys, mailboxes, blob rows, documents)."""
        ...

    async def checkpoint(self) -> None:
        """Make deletions final on disk: fold and truncate any write-ahead log (a no-op where none exists)."""
        ...

    async def close(self) -> None:
        """Finish pending writes, checkpoint and close (idempotent)."""
        ...
