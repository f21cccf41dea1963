"""Trust in contacts' identities: safety numbers, verification, and accepting a changed identity.

The pinning rules themselves are in :mod:`confide.client.pinning`; this service applies them on the
user's request and keeps the ``contacts`` rows in step.
"""

from __future__ import annotations

from confide.keys.address import Address
from confide.keys.identity import IdentityPublicKey
from confide.keys.safety import SafetyNumber, ScanResult, compute_safety_number
from confide.keys.secret_keys import SecretKeys

from .contacts import Contacts
from .errors import ClientError, VerificationFailed
from .models import Contact
from .pinning import accept_pending, reject_pending
from .records import ContactRecord
from .sessions import Sessions
from .store import Store
from .views import public_contact

_SCAN_HINTS = {
    ScanResult.MISMATCH: "the safety numbers differ: do not trust this contact until you know why",
    ScanResult.WRONG_VERSION: "the other app uses another safety-number version: compare the digits",
}


class Trust:
    """Safety numbers and trust decisions for one profile's contacts."""

    def __init__(self, store: Store, keys: SecretKeys, contacts: Contacts, sessions: Sessions) -> None:
        self._store = store
        self._keys = keys
        self._contacts = contacts
        self._sessions = sessions

    async def safety_number(self, peer: str) -> SafetyNumber:
        """The safety number of this profile and ``peer`` (fetching the peer's keys if none are known).

        After an identity change it is the number for the *new* identity, the one to verify.

        Raises:
            UnknownContact; ClientError when no keys are known yet; RelayUnreachable, RelayError.
        """
        rec = self._contacts.find(peer)
        if rec.changed and rec.pending_identity is None:
            await self._fetch_pending_identity(rec)
        if rec.identity is None and not rec.changed:
            rec = await self._sessions.start(rec)
        identity = rec.pending_identity if rec.changed else rec.identity
        if identity is None:
            raise ClientError("no keys are known for this contact yet; sync or start the thread first")
        return compute_safety_number(self._keys.identity.public, IdentityPublicKey.from_bytes(identity))

    async def _fetch_pending_identity(self, rec: ContactRecord) -> None:
        assert rec.pending_address is not None
        bundles = await self._sessions.fetch_bundles(Address(rec.pending_address))
        rec.pending_identity = bundles[0].identity.to_bytes()
        with self._store.transaction():
            self._store.save_contact(rec)

    async def verify(self, peer: str, scanned_payload: bytes) -> Contact:
        """Compare a scanned safety-number QR payload; on a match mark the contact verified (accepting a
        changed identity).

        Raises:
            VerificationFailed: the payload is for other keys, another version, or not a payload at all.
        """
        number = await self.safety_number(peer)
        result = number.verify_scan(scanned_payload)
        if result is not ScanResult.MATCH:
            raise VerificationFailed(_SCAN_HINTS.get(result, "that is not a Confide safety-number code"))
        return self.mark_verified(peer)

    def mark_verified(self, peer: str) -> Contact:
        """Mark a contact verified after comparing the safety-number digits in person or on a call."""
        rec = self._contacts.find(peer)
        if rec.changed:
            accept_pending(rec)
        rec.verified = True
        with self._store.transaction():
            self._store.save_contact(rec)
        self._contacts.changed(rec)
        return public_contact(rec)

    def reject(self, peer: str) -> Contact:
        """Reject a contact's pending identity change and keep the identity pinned before it. What the
        rejected identity wrote moves to a contact of its own, named by its address."""
        rec = self._contacts.find(peer)
        if rec.changed and rec.pending_address is not None:
            name = self._contacts.auto_name(Address(rec.pending_address))
            with self._store.transaction():
                reject_pending(self._store, rec, name)
            self._contacts.changed(rec)
        return public_contact(rec)

    def accept(self, peer: str) -> Contact:
        """Accept a contact's changed identity (as unverified) so that sending works again."""
        rec = self._contacts.find(peer)
        if not rec.changed:
            return public_contact(rec)
        with self._store.transaction():
            accept_pending(rec)
            self._store.save_contact(rec)
        self._contacts.changed(rec)
        return public_contact(rec)
