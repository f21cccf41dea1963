"""Sessions with peer devices: fetching prekey bundles, starting sessions, encrypting to every device of a
contact, and finding the session an incoming message belongs to.

The service owns the ``sessions``, ``archived_sessions`` and ``accepted_base_keys`` tables. Each peer device
has a current session (the one used to send) and up to :data:`~confide.protocol.session.MAX_ARCHIVED_SESSIONS`
archived ones, all tried on decrypt; :func:`~confide.protocol.session.prefer_session` decides which is current
(SPEC §4.1). Every read, decrypt or encrypt and write of a session happens inside ONE store transaction
(``BEGIN IMMEDIATE``), so two processes on one profile never both advance the same state: the send path reads
the sessions inside :meth:`Messaging.queue`'s transaction, the receive path inside :meth:`Inbox.handle`'s.

**Device lists** (:mod:`.devices`): when a contact's signed device list is known, only its listed devices are
written to (:meth:`Sessions.of`), a bundle the relay serves for a device the list does not name is a key
substitution, and :meth:`Sessions.ensure_devices` starts sessions with new devices and deletes those with removed
ones. Without a list, every device the relay names, as before. This identity's other devices have sessions
under the contact id :data:`SELF` (:meth:`Sessions.ensure_own`, :meth:`Sessions.encrypt_own`), used only for
what one's own devices tell each other (sent-message sync, contacts, device lists).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from confide.keys.address import Address
from confide.keys.encoding import RNG
from confide.keys.errors import AddressMismatch, ConfideError, InvalidSignature
from confide.keys.identity import IdentityPublicKey
from confide.keys.prekeys import PreKeyBundle
from confide.keys.secret_keys import SecretKeys
from confide.protocol.envelope import ENVELOPE_ID_LEN, Envelope
from confide.protocol.errors import KeySubstitution, RemoteProtocolError
from confide.protocol.padding import MIN_BUCKET
from confide.protocol.sealed import Opened, SenderCertificate, seal_message
from confide.protocol.session import MAX_ARCHIVED_SESSIONS, Session, initiate_session, prefer_session

from .bus import EventBus
from .devices import Devices
from .errors import ClientError, DeviceListRejected, StorageError
from .events import IdentityChanged
from .pinning import require_trusted
from .records import ContactRecord
from .relay import RelayClient
from .store import Store

_SUBSTITUTED = (
    "the relay served keys for this contact that are not the contact's (possible key substitution); nothing was "
    "sent. Compare safety numbers with the contact in person before trusting this relay again"
)
_UNLISTED = (
    "the relay served keys for a device that this contact's signed device list does not name (possible key "
    "substitution); nothing was sent"
)

SELF = "self"
"""The contact id of the sessions with this identity's other devices."""


class Sessions:
    """One profile's sessions with its contacts' devices."""

    def __init__(
        self,
        store: Store,
        keys: SecretKeys,
        relay: RelayClient,
        bus: EventBus,
        devices: Devices,
        *,
        rng: RNG,
        own_token: Callable[[], bytes],
    ) -> None:
        self._store = store
        self._keys = keys
        self._relay = relay
        self._bus = bus
        self._devices = devices
        self._rng = rng
        self._own_token = own_token

    async def fetch_bundles(self, address: Address, *, rec: ContactRecord | None = None) -> list[PreKeyBundle]:
        """Every device's prekey bundle for ``address``, each checked against the address. With ``rec`` (the
        contact at ``address``), the device list the relay sent along is taken through the version guard first
        (:meth:`Devices.accept`), and then every bundle must be of a listed device.

        Raises:
            KeySubstitution: the relay sent another identity's keys, prekeys the identity did not sign, one
                device's keys under another device's id, or keys of a device the contact's list does not name
                (nothing was sent).
            DeviceListRejected: the relay sent an older, foreign or malformed device list (nothing changed).
            RemoteProtocolError: the relay sent keys that cannot be parsed.
            ClientError: the address has no devices on this relay.
            RelayUnreachable, RelayError.
        """
        answer = await self._relay.fetch_bundle_set(address)
        out = self._parse_bundles(address, answer.devices)
        if rec is not None and out:
            self._check_listed(rec, out, answer.device_list)
        if not out:
            raise ClientError(f"{address.text} has no registered devices on this relay")
        return out

    def _check_listed(self, rec: ContactRecord, bundles: list[PreKeyBundle], device_list: bytes | None) -> None:
        """Take the relay's device list for ``rec`` and check that every bundle is of a listed device. Nothing is
        checked when the bundles are of another identity than the pinned one (an identity change, recorded by
        :meth:`start`)."""
        identity = bundles[0].identity  # every bundle passed check_address: one identity
        if rec.identity is not None and rec.identity != identity.to_bytes():
            return
        if device_list is not None:
            self._devices.accept(rec, device_list, source="relay", identity=identity)
        listed = self._devices.listed_by(identity)
        if listed is not None and any(b.device.device_id not in listed for b in bundles):
            raise KeySubstitution(_UNLISTED)

    @staticmethod
    def _parse_bundles(address: Address, answer: tuple[tuple[bytes, bytes], ...]) -> list[PreKeyBundle]:
        out = []
        for device_id, raw in answer:
            try:
                bundle = PreKeyBundle.from_bytes(raw)
                bundle.check_address(address)
            except (AddressMismatch, InvalidSignature) as exc:
                raise KeySubstitution(_SUBSTITUTED) from exc
            except ConfideError as exc:
                raise RemoteProtocolError(f"the relay sent unusable keys for {address.text}: {exc}") from exc
            if bundle.device.device_id != device_id:
                raise KeySubstitution(_SUBSTITUTED)
            out.append(bundle)
        return out

    async def start(self, rec: ContactRecord) -> ContactRecord:
        """Run key agreement with each device of the contact that has no session yet; returns the updated
        record. The first identity seen is pinned; a different one marks the contact changed.

        Raises:
            UntrustedIdentity: the identity differs from the pinned one (the change is recorded).
            KeySubstitution, DeviceListRejected: the relay's keys or device list were refused (nothing changed).
            RelayUnreachable, RelayError, RemoteProtocolError, ClientError: fetching or checking keys failed.
        """
        require_trusted(rec)
        bundles = await self.fetch_bundles(Address(rec.address), rec=rec)
        fresh = self._store.contact(rec.contact_id)  # re-read after the await
        rec = fresh if fresh is not None else rec
        with self._store.transaction():
            for bundle in bundles:
                ident = bundle.identity.to_bytes()
                if rec.identity is None:
                    rec.identity = ident
                elif rec.identity != ident:
                    rec.changed, rec.pending_address, rec.pending_identity = True, rec.address, ident
                    break
                if self._store.get_session(bundle.identity.signing, bundle.device.device_id) is None:
                    session = initiate_session(self._keys.identity, bundle, rng=self._rng)
                    self._store.put_session(
                        rec.contact_id, bundle.identity.signing, bundle.device.device_id, session.to_bytes()
                    )
            if not rec.changed:
                self._prune(rec)
            self._store.save_contact(rec)
        if rec.changed:
            old = IdentityPublicKey.from_bytes(rec.identity).fingerprint() if rec.identity else ""
            new = IdentityPublicKey.from_bytes(rec.pending_identity).fingerprint() if rec.pending_identity else ""
            self._bus.emit(IdentityChanged(rec.name, old, new))
            require_trusted(rec)
        return rec

    def of(self, rec: ContactRecord) -> list[Session]:
        """The sessions with the contact's pinned identity (sessions of an older identity are never used), and
        of its listed devices only when its device list is known."""
        sessions = [Session.from_bytes(raw) for raw in self._store.sessions_of(rec.contact_id)]
        mine = [s for s in sessions if rec.identity is not None and s.peer_identity.to_bytes() == rec.identity]
        listed = self._devices.listed(rec)
        return mine if listed is None else [s for s in mine if s.peer_device_id in listed]

    def _prune(self, rec: ContactRecord) -> int:
        """Delete the current and archived sessions with the contact's devices its list no longer names (call
        inside a transaction); returns how many devices."""
        listed = self._devices.listed(rec)
        if listed is None:
            return 0
        pruned = 0
        for raw in self._store.sessions_of(rec.contact_id):
            session = Session.from_bytes(raw)
            if session.peer_device_id not in listed:
                self._store.delete_device_sessions(session.peer_identity.signing, session.peer_device_id)
                pruned += 1
        return pruned

    async def ensure_devices(self, rec: ContactRecord) -> ContactRecord:
        """Follow the contact's device list: delete the sessions (current and archived) with devices it no longer
        names, and start sessions with listed devices that have none. Nothing when no list is known or the
        contact's identity is not trusted. Returns the updated record.

        Raises:
            KeySubstitution, DeviceListRejected, RelayUnreachable, RelayError, RemoteProtocolError, ClientError:
                fetching keys for a new device failed (the pruning is kept).
        """
        listed = self._devices.listed(rec)
        if listed is None or rec.identity is None or rec.changed:
            return rec
        with self._store.transaction():
            self._prune(rec)
        if listed - {s.peer_device_id for s in self.of(rec)}:
            rec = await self.start(rec)
        return rec

    def device_listed(self, identity: IdentityPublicKey, device_id: bytes) -> bool | None:
        """Whether ``device_id`` is on ``identity``'s device list (this identity's own for our own identity):
        None when no list of that identity is known (accept as before the lists). The inbox refuses a message
        from a device that is not listed (after fetching the list once more).

        Raises:
            StorageError.
        """
        listed = self._devices.listed_by(identity)
        return None if listed is None else device_id in listed

    # -- this identity's other devices -------------------------------------------------------------------
    def own(self) -> list[Session]:
        """The sessions with this identity's other listed devices (none while no own list is known)."""
        listed = self._devices.own_listed()
        if listed is None:
            return []
        me, this = self._keys.identity.public, self._keys.device.device_id
        sessions = [Session.from_bytes(raw) for raw in self._store.sessions_of(SELF)]
        return [s for s in sessions if s.peer_identity == me and s.peer_device_id in listed - {this}]

    async def ensure_own(self) -> int:
        """Follow this identity's own device list: delete the sessions with own devices no longer listed, and
        start sessions with the other listed devices that have none (their bundles from the relay, which must
        be this identity's and of listed devices). Returns how many sessions were started.

        Raises:
            KeySubstitution: the relay sent keys of another identity or of an unlisted device (nothing changed).
            RelayUnreachable, RelayError, RemoteProtocolError, DeviceRemoved.
        """
        listed = self._devices.own_listed()
        if listed is None:
            return 0
        me, this = self._keys.identity.public, self._keys.device.device_id
        with self._store.transaction():
            for raw in self._store.sessions_of(SELF):
                session = Session.from_bytes(raw)
                if session.peer_device_id not in listed - {this}:
                    self._store.delete_device_sessions(session.peer_identity.signing, session.peer_device_id)
        if not listed - {this} - {s.peer_device_id for s in self.own()}:
            return 0
        answer = await self._relay.fetch_bundle_set(me.address)
        if answer.device_list is not None:
            with contextlib.suppress(DeviceListRejected):  # older than the one kept, which stands (an event says so)
                self._devices.accept_own(answer.device_list)
        bundles = self._parse_bundles(me.address, answer.devices)
        listed = self._devices.own_listed() or set()
        if any(b.device.device_id not in listed for b in bundles):
            raise KeySubstitution(_UNLISTED)
        started = 0
        with self._store.transaction():
            for bundle in bundles:
                device = bundle.device.device_id
                if device == this or self._store.get_session(me.signing, device) is not None:
                    continue
                session = initiate_session(self._keys.identity, bundle, rng=self._rng)
                self._store.put_session(SELF, me.signing, device, session.to_bytes())
                started += 1
        return started

    def encrypt_own(
        self, plaintext: bytes, sender: SenderCertificate, lifetime_s: int, *, min_bucket: int = MIN_BUCKET
    ) -> list[Envelope]:
        """Seal ``plaintext`` to every other listed device of this identity that has a session (:meth:`own`),
        with this identity's introduction token (the relay accepts any token of an identity's devices for all of
        them), and store each advanced session; returns one envelope per device. Call inside the transaction that
        queues the envelopes, as :meth:`encrypt`."""
        return self._seal_each(SELF, self.own(), self._own_token(), plaintext, sender, lifetime_s, min_bucket)

    def find(self, identity: IdentityPublicKey, device_id: bytes) -> Session | None:
        """The session with one peer device, for an incoming message (``None``: none, or another identity's).

        Raises:
            StorageError: the stored session cannot be opened (a local fault, never the sender's).
        """
        raw = self._store.get_session(identity.signing, device_id)
        if raw is None:
            return None
        try:
            session = Session.from_bytes(raw)
        except ConfideError as exc:  # it opened under the store key, so the fault is local
            raise StorageError("a stored session is damaged; restore the profile") from exc
        return session if session.peer_identity == identity else None

    def archived(self, identity: IdentityPublicKey, device_id: bytes) -> list[Session]:
        """The archived sessions with one peer device, most recently archived first.

        Raises:
            StorageError: a stored session cannot be opened (a local fault).
        """
        out = []
        for raw in self._store.archived_sessions(identity.signing, device_id):
            try:
                session = Session.from_bytes(raw)
            except ConfideError as exc:
                raise StorageError("a stored session is damaged; restore the profile") from exc
            if session.peer_identity == identity:
                out.append(session)
        return out

    def base_key_seen(self, identity: IdentityPublicKey, device_id: bytes, base_key: bytes) -> bool:
        """Whether a first message with ``base_key`` was already accepted from this peer device."""
        return self._store.base_key_accepted(identity.signing, device_id, base_key)

    def _archive(self, contact_id: str, session: Session) -> None:
        self._store.put_archived_session(
            contact_id,
            session.peer_identity.signing,
            session.peer_device_id,
            session.base_key,
            session.to_bytes(),
            keep=MAX_ARCHIVED_SESSIONS,
        )

    def _make_current(self, contact_id: str, session: Session, current: Session | None) -> None:
        ident, device = session.peer_identity.signing, session.peer_device_id
        if current is not None and current.base_key != session.base_key:
            self._archive(contact_id, current)
        self._store.delete_archived_session(ident, device, session.base_key)
        self.save(contact_id, session)

    def commit(self, contact_id: str, opened: Opened) -> None:
        """Store the session that decrypted ``opened`` and settle which session is current (SPEC §4.1).

        Call inside the transaction that read the sessions, decrypted and stores the message.
        """
        session = opened.session
        ident, device = session.peer_identity, session.peer_device_id
        if opened.new_session:
            if opened.signed_prekey_id is not None:
                self._store.accept_base_key(ident.signing, device, session.base_key, opened.signed_prekey_id)
            current = self.find(ident, device)
            if prefer_session(session, current, fresh=True):
                self._make_current(contact_id, session, current)
            else:
                self._archive(contact_id, session)
        elif opened.archived:
            current = self.find(ident, device)
            if prefer_session(session, current, fresh=False):
                self._make_current(contact_id, session, current)
            else:
                self._archive(contact_id, session)
        else:
            self.save(contact_id, session)

    def adopt(self, contact_id: str, session: Session) -> None:
        """Make ``session`` current whatever the preference rule says: the peer asked for a reset on it.

        Call inside the transaction that stored the reset request (after :meth:`commit`)."""
        self._make_current(contact_id, session, self.find(session.peer_identity, session.peer_device_id))

    async def restart(self, rec: ContactRecord, device_ids: set[bytes]) -> int:
        """Start a fresh session with each of ``device_ids`` (all devices when empty), archiving the current one:
        the first half of a session reset. Returns how many sessions were started.

        Raises:
            UntrustedIdentity: the contact's identity changed and was not accepted.
            RelayUnreachable, RelayError, RemoteProtocolError, ClientError: fetching or checking keys failed.
        """
        require_trusted(rec)
        bundles = await self.fetch_bundles(Address(rec.address), rec=rec)
        started = 0
        with self._store.transaction():
            fresh = self._store.contact(rec.contact_id)
            if fresh is None or fresh.identity is None:
                return 0
            for bundle in bundles:
                device = bundle.device.device_id
                if bundle.identity.to_bytes() != fresh.identity or (device_ids and device not in device_ids):
                    continue
                current = self.find(bundle.identity, device)
                self._make_current(
                    rec.contact_id, initiate_session(self._keys.identity, bundle, rng=self._rng), current
                )
                started += 1
        return started

    def save(self, contact_id: str, session: Session) -> None:
        """Store ``session``'s state (call inside the transaction that commits what it decrypted)."""
        self._store.put_session(contact_id, session.peer_identity.signing, session.peer_device_id, session.to_bytes())

    def encrypt(
        self,
        rec: ContactRecord,
        plaintext: bytes,
        sender: SenderCertificate,
        lifetime_s: int,
        *,
        min_bucket: int = MIN_BUCKET,
    ) -> list[Envelope]:
        """Seal ``plaintext`` (padded to at least ``min_bucket`` bytes) to every device of the contact (every
        listed one, when its device list is known: :meth:`of`) and store each advanced session; returns one
        envelope per device. Call inside a transaction that also queues the
        envelopes: the sessions are read here, inside it, so another process cannot advance them in between (no
        message key is used twice)."""
        assert rec.token is not None
        return self._seal_each(rec.contact_id, self.of(rec), rec.token, plaintext, sender, lifetime_s, min_bucket)

    def _seal_each(
        self,
        contact_id: str,
        sessions: list[Session],
        token: bytes,
        plaintext: bytes,
        sender: SenderCertificate,
        lifetime_s: int,
        min_bucket: int,
    ) -> list[Envelope]:
        """Seal ``plaintext`` on each of ``sessions`` (one envelope per device, with ``token``) and store each
        advanced session under ``contact_id``."""
        out = []
        for session in sessions:
            sealed = seal_message(
                session,
                plaintext,
                sender_identity=self._keys.identity,
                sender=sender,
                rng=self._rng,
                min_bucket=min_bucket,
            )
            out.append(Envelope(self._rng(ENVELOPE_ID_LEN), session.peer_device_id, token, lifetime_s, sealed))
            self.save(contact_id, session)
        return out
