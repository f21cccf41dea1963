"""Sessions with peer devices: fetching prekey bundles, starting sessions, encrypting to every device of a
contact, and finding the session an incoming message belongs to.

The service owns the ``sessions`` table. Encryption writes the advanced session state inside the caller's
transaction, so the state, the message row and the queued envelope land together.
"""

from __future__ import annotations

from confide.keys.address import Address
from confide.keys.encoding import RNG
from confide.keys.errors import ConfideError
from confide.keys.identity import IdentityPublicKey
from confide.keys.prekeys import PreKeyBundle
from confide.keys.secret_keys import SecretKeys
from confide.protocol.envelope import ENVELOPE_ID_LEN, Envelope
from confide.protocol.errors import RemoteProtocolError
from confide.protocol.sealed import SenderCertificate, seal_message
from confide.protocol.session import Session, initiate_session

from .bus import EventBus
from .errors import ClientError, StorageError
from .events import IdentityChanged
from .pinning import require_trusted
from .records import ContactRecord
from .relay import RelayClient
from .store import Store


class Sessions:
    """One profile's sessions with its contacts' devices."""

    def __init__(self, store: Store, keys: SecretKeys, relay: RelayClient, bus: EventBus, *, rng: RNG) -> None:
        self._store = store
        self._keys = keys
        self._relay = relay
        self._bus = bus
        self._rng = rng

    async def fetch_bundles(self, address: Address) -> list[PreKeyBundle]:
        """Every device's prekey bundle for ``address``, each checked against the address.

        Raises:
            RemoteProtocolError: the relay sent keys that do not belong to ``address`` or its devices.
            ClientError: the address has no devices on this relay.
            RelayUnreachable, RelayError.
        """
        out = []
        for device_id, raw in await self._relay.fetch_bundles(address):
            try:
                bundle = PreKeyBundle.from_bytes(raw)
                bundle.check_address(address)
            except ConfideError as exc:
                raise RemoteProtocolError(f"the relay sent unusable keys for {address.text}: {exc}") from exc
            if bundle.device.device_id != device_id:
                raise RemoteProtocolError("the relay sent a bundle for the wrong device")
            out.append(bundle)
        if not out:
            raise ClientError(f"{address.text} has no registered devices on this relay")
        return out

    async def start(self, rec: ContactRecord) -> ContactRecord:
        """Run key agreement with each device of the contact that has no session yet; returns the updated
        record. The first identity seen is pinned; a different one marks the contact changed.

        Raises:
            UntrustedIdentity: the identity differs from the pinned one (the change is recorded).
            RelayUnreachable, RelayError, RemoteProtocolError, ClientError: fetching or checking keys failed.
        """
        require_trusted(rec)
        bundles = await self.fetch_bundles(Address(rec.address))
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
            self._store.save_contact(rec)
        if rec.changed:
            old = IdentityPublicKey.from_bytes(rec.identity).fingerprint() if rec.identity else ""
            new = IdentityPublicKey.from_bytes(rec.pending_identity).fingerprint() if rec.pending_identity else ""
            self._bus.emit(IdentityChanged(rec.name, old, new))
            require_trusted(rec)
        return rec

    def of(self, rec: ContactRecord) -> list[Session]:
        """The sessions with the contact's pinned identity (sessions of an older identity are never used)."""
        sessions = [Session.from_bytes(raw) for raw in self._store.sessions_of(rec.contact_id)]
        return [s for s in sessions if rec.identity is not None and s.peer_identity.to_bytes() == rec.identity]

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

    def save(self, contact_id: str, session: Session) -> None:
        """Store ``session``'s state (call inside the transaction that commits what it decrypted)."""
        self._store.put_session(contact_id, session.peer_identity.signing, session.peer_device_id, session.to_bytes())

    def encrypt(
        self, rec: ContactRecord, plaintext: bytes, sender: SenderCertificate, lifetime_s: int
    ) -> list[Envelope]:
        """Seal ``plaintext`` to every device of the contact and store each advanced session; returns one
        envelope per device. Call inside a transaction that also queues the envelopes."""
        assert rec.token is not None
        out = []
        for session in self.of(rec):
            sealed = seal_message(session, plaintext, sender_identity=self._keys.identity, sender=sender, rng=self._rng)
            out.append(Envelope(self._rng(ENVELOPE_ID_LEN), session.peer_device_id, rec.token, lifetime_s, sealed))
            self.save(rec.contact_id, session)
        return out
