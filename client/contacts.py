"""Contacts and identity trust, as part of :class:`~confide.client.Client` (a mixin).

A contact is a local name for an address plus the delivery token that lets us write to it. The first
identity seen for a contact is pinned (trust on first use, "unverified"); safety numbers mark it
"verified"; a different identity marks it "identity-changed", which blocks sending until the user verifies
the new safety number or accepts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from confide.keys.address import Address
from confide.keys.errors import InvalidAddress
from confide.keys.identity import IdentityPublicKey
from confide.keys.prekeys import PreKeyBundle
from confide.keys.safety import SafetyNumber, ScanResult, compute_safety_number
from confide.keys.secret_keys import SecretKeys
from confide.protocol.errors import UntrustedIdentity

from .errors import ClientError, ContactExists, UnknownContact, VerificationFailed
from .events import Event, IdentityChanged
from .invite import Invite
from .models import TRUST_CHANGED, TRUST_UNVERIFIED, TRUST_VERIFIED, Contact
from .records import ContactRecord
from .store import Store


class ContactsMixin:
    """Contact and trust methods of :class:`~confide.client.Client`."""

    _store: Store
    _keys: SecretKeys

    if TYPE_CHECKING:
        def _emit(self, event: Event) -> None: ...

        async def start_thread(self, peer: str) -> Contact: ...

        async def _fetch_bundles(self, address: Address) -> list[PreKeyBundle]: ...

    # -- contacts -------------------------------------------------------------------------------------
    def _find(self, peer: str) -> ContactRecord:
        try:
            addr = Address.parse(peer)
        except InvalidAddress:
            pass
        else:
            rec = self._store.contact_by_address(addr.raw)
            if rec is not None:
                return rec
        contacts = self._store.contacts()
        for rec in contacts:
            if rec.name == peer:
                return rec
        folded = [rec for rec in contacts if rec.name.casefold() == peer.casefold()]
        if len(folded) == 1:
            return folded[0]
        raise UnknownContact("no contact has that name or address; see 'confide contacts list' "
                             "or add one with 'confide contacts add NAME INVITE'")

    def _public_contact(self, rec: ContactRecord) -> Contact:
        fp = IdentityPublicKey.from_bytes(rec.identity).fingerprint() if rec.identity else None
        trust = TRUST_CHANGED if rec.changed else TRUST_VERIFIED if rec.verified else TRUST_UNVERIFIED
        return Contact(rec.name, Address(rec.address).text, trust, rec.timer_s, fp,
                       rec.token is not None and not rec.changed)

    def contacts(self) -> list[Contact]:
        """All contacts, sorted by name."""
        return [self._public_contact(c) for c in self._store.contacts()]

    def contact(self, peer: str) -> Contact:
        """One contact. Raises :class:`UnknownContact`."""
        return self._public_contact(self._find(peer))

    def add_contact(self, name: str, invite: str, *, token: bytes | None = None) -> Contact:
        """Add (or update) a contact from an invite code, or from an address text plus its ``token``.

        Giving an existing contact's name a *different* address records an identity change: sending is
        blocked until :meth:`accept_identity` or :meth:`verify`.

        Raises:
            InvalidInvite, InvalidAddress: the code or address is mistyped.
            ContactExists: the address already belongs to a contact with another name.
            ValueError: empty name.
        """
        name = name.strip()
        if not name:
            raise ValueError("a contact needs a name")
        if invite.strip().lower().startswith("cfi1:"):
            inv = Invite.parse(invite)
        else:
            if token is None:
                raise ClientError("an address alone is not enough to write to someone: use their invite code "
                                  "(they get it from 'confide whoami')")
            inv = Invite(Address.parse(invite), token)
        by_addr = self._store.contact_by_address(inv.address.raw)
        by_name = next((c for c in self._store.contacts() if c.name == name), None)
        with self._store.transaction():
            if by_addr is not None and (by_name is None or by_name.contact_id == by_addr.contact_id):
                if by_addr.address != inv.address.raw:  # the name's pending (changed) address: accept it
                    by_addr.pending_token = inv.token
                else:
                    by_addr.token = inv.token
                by_addr.name, by_addr.auto_named = name, False
                self._store.save_contact(by_addr)
                return self._public_contact(by_addr)
            if by_addr is not None:
                raise ContactExists("that invite belongs to another of your contacts; rename that one instead "
                                    "('confide contacts rename')")
            if by_name is not None:
                by_name.changed = True
                by_name.pending_address, by_name.pending_identity = inv.address.raw, None
                by_name.pending_token = inv.token
                self._store.save_contact(by_name)
                old = IdentityPublicKey.from_bytes(by_name.identity).fingerprint() if by_name.identity else ""
                self._emit(IdentityChanged(name, old, ""))
                return self._public_contact(by_name)
            rec = ContactRecord(self._store.new_contact_id(), name, inv.address.raw, inv.token)
            self._store.save_contact(rec)
            return self._public_contact(rec)

    def rename_contact(self, peer: str, new_name: str) -> Contact:
        """Give a contact another local name. Raises :class:`UnknownContact`, :class:`ContactExists`."""
        new_name = new_name.strip()
        if not new_name:
            raise ValueError("a contact needs a name")
        rec = self._find(peer)
        if any(c.name == new_name and c.contact_id != rec.contact_id for c in self._store.contacts()):
            raise ContactExists("another contact already has that name")
        rec.name, rec.auto_named = new_name, False
        with self._store.transaction():
            self._store.save_contact(rec)
        return self._public_contact(rec)

    # -- identity trust -------------------------------------------------------------------------------
    async def _ensure_identity(self, rec: ContactRecord) -> None:
        if rec.identity is None and not rec.changed:
            await self.start_thread(rec.name)
            fresh = self._store.contact(rec.contact_id)
            if fresh is not None:
                rec.identity = fresh.identity

    async def safety_number(self, peer: str) -> SafetyNumber:
        """The safety number of this profile and ``peer`` (fetching the peer's keys if none are known).

        After an identity change it is the number for the *new* identity, the one to verify.
        """
        rec = self._find(peer)
        if rec.changed and rec.pending_identity is None:
            await self._fetch_pending_identity(rec)
        await self._ensure_identity(rec)
        identity = rec.pending_identity if rec.changed else rec.identity
        if identity is None:
            raise ClientError("no keys are known for this contact yet; sync or start the thread first")
        return compute_safety_number(self._keys.identity.public, IdentityPublicKey.from_bytes(identity))

    async def _fetch_pending_identity(self, rec: ContactRecord) -> None:
        assert rec.pending_address is not None
        bundles = await self._fetch_bundles(Address(rec.pending_address))
        if bundles:
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
            hint = {
                ScanResult.MISMATCH: "the safety numbers differ: do not trust this contact until you know why",
                ScanResult.WRONG_VERSION: "the other app uses another safety-number version: compare the digits",
            }.get(result, "that is not a Confide safety-number code")
            raise VerificationFailed(hint)
        return self.mark_verified(peer)

    def mark_verified(self, peer: str) -> Contact:
        """Mark a contact verified after comparing the safety-number digits in person or on a call."""
        rec = self._find(peer)
        if rec.changed:
            self._accept(rec)
        rec.verified = True
        with self._store.transaction():
            self._store.save_contact(rec)
        return self._public_contact(rec)

    def _accept(self, rec: ContactRecord) -> None:
        if rec.pending_address is not None:
            rec.address = rec.pending_address
        if rec.pending_identity is not None or rec.pending_address is not None:
            rec.identity = rec.pending_identity
        if rec.pending_token is not None:
            rec.token = rec.pending_token
        rec.pending_address = rec.pending_identity = rec.pending_token = None
        rec.changed = False
        rec.verified = False  # sessions of the old identity stay but are never used again (see _sessions)

    def accept_identity(self, peer: str) -> Contact:
        """Accept a contact's changed identity (as unverified) so that sending works again."""
        rec = self._find(peer)
        if not rec.changed:
            return self._public_contact(rec)
        with self._store.transaction():
            self._accept(rec)
            self._store.save_contact(rec)
        return self._public_contact(rec)

    def _check_trusted(self, rec: ContactRecord) -> None:
        if rec.changed:
            raise UntrustedIdentity(
                "this contact's identity has changed since you last talked: compare safety numbers "
                "('confide verify NAME') or accept the new identity ('confide accept NAME') before sending",
                peer=rec.name)

