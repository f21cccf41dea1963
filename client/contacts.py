"""Contacts: local names for addresses, plus the delivery tokens between this profile and each: theirs, that
lets this profile write to them, and ours for them (minted here when the contact is made; see
:mod:`confide.client.account` for how it is registered and sent).

The service owns the ``contacts`` table. It does not decide trust (see :mod:`confide.client.trust`), but
records what an invite says: giving an existing contact's name a *different* address records an identity
change, which blocks sending until the user verifies or accepts it.
"""

from __future__ import annotations

from collections.abc import Callable

from confide.keys.address import Address
from confide.keys.encoding import RNG
from confide.keys.errors import InvalidAddress
from confide.keys.identity import IdentityPublicKey

from .account import contact_token
from .bus import EventBus
from .errors import ClientError, ContactExists, UnknownContact
from .events import IdentityChanged
from .invite import INVITE_PREFIX, Invite
from .models import Contact
from .pinning import reject_pending
from .records import ContactRecord
from .store import Store
from .views import public_contact


class Contacts:
    """Finds, adds and renames contacts in one profile's store."""

    def __init__(self, store: Store, bus: EventBus, *, rng: RNG) -> None:
        self._store = store
        self._bus = bus
        self._rng = rng
        self.on_change: Callable[[ContactRecord], None] | None = None
        """Called after a contact was added, renamed, accepted, verified, blocked or unblocked, or its tokens
        changed (set by the messaging side: it sends the contact's snapshot to this identity's other devices,
        :mod:`confide.client.self_sync`)."""

    def changed(self, rec: ContactRecord) -> None:
        """Tell :attr:`on_change` that ``rec`` changed (after the transaction that saved it)."""
        if self.on_change is not None:
            self.on_change(rec)

    def find(self, peer: str) -> ContactRecord:
        """The contact named ``peer`` (exact name, then a unique case-insensitive match) or with that address.

        Raises:
            UnknownContact: nothing matches.
        """
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
        raise UnknownContact(
            "no contact has that name or address; see 'confide contacts list' "
            "or add one with 'confide contacts add NAME INVITE'"
        )

    def name_of(self, contact_id: str) -> str:
        """The local name of a contact by id ("" when it no longer exists)."""
        rec = self._store.contact(contact_id)
        return rec.name if rec is not None else ""

    def all(self) -> list[Contact]:
        """All contacts, sorted by name."""
        return [public_contact(c) for c in self._store.contacts()]

    def add(self, name: str, invite: str, *, token: bytes | None = None) -> Contact:
        """Add (or update) a contact from an invite code, or from an address text plus its ``token``.

        Raises:
            InvalidInvite, InvalidAddress: the code or address is mistyped.
            ContactExists: the address already belongs to a contact with another name.
            ClientError: an address without a token.
            ValueError: empty name.
        """
        contact = self._add(name, invite, token=token)
        rec = self._store.contact_by_address(Address.parse(contact.address).raw)
        if rec is not None:
            self.changed(rec)
        return contact

    def _add(self, name: str, invite: str, *, token: bytes | None = None) -> Contact:
        """:meth:`add`, without telling :attr:`on_change`."""
        name = name.strip()
        if not name:
            raise ValueError("a contact needs a name")
        if invite.strip().lower().startswith(INVITE_PREFIX):
            inv = Invite.parse(invite)
        else:
            if token is None:
                raise ClientError(
                    "an address alone is not enough to write to someone: use their invite code "
                    "(they get it from 'confide whoami')"
                )
            inv = Invite(Address.parse(invite), token)
        store = self._store
        by_addr = store.contact_by_address(inv.address.raw)
        by_name = next((c for c in store.contacts() if c.name == name), None)
        with store.transaction():
            if by_addr is not None and (by_name is None or by_name.contact_id == by_addr.contact_id):
                if by_addr.address != inv.address.raw:  # the name's pending (changed) address: accept it
                    by_addr.pending_token = inv.token
                else:
                    by_addr.token = inv.token
                    if by_addr.changed and by_addr.pending_address is not None:
                        # The invite of the identity already pinned: the pending change is rejected.
                        reject_pending(store, by_addr, self.auto_name(Address(by_addr.pending_address)))
                by_addr.name, by_addr.auto_named = name, False
                store.save_contact(by_addr)
                return public_contact(by_addr)
            if by_addr is not None:
                raise ContactExists(
                    "that invite belongs to another of your contacts; rename that one instead "
                    "('confide contacts rename')"
                )
            if by_name is not None:
                by_name.changed = True
                by_name.pending_address, by_name.pending_identity = inv.address.raw, None
                by_name.pending_token = inv.token
                store.save_contact(by_name)
                old = IdentityPublicKey.from_bytes(by_name.identity).fingerprint() if by_name.identity else ""
                self._bus.emit(IdentityChanged(name, old, ""))
                return public_contact(by_name)
            rec = ContactRecord(store.new_contact_id(), name, inv.address.raw, inv.token)
            rec.inbound_token = contact_token(store, self._rng, rec.address)  # the same on every own device
            store.save_contact(rec)
            return public_contact(rec)

    def rename(self, peer: str, new_name: str) -> Contact:
        """Give a contact another local name.

        Raises:
            UnknownContact, ContactExists; ValueError for an empty name.
        """
        new_name = new_name.strip()
        if not new_name:
            raise ValueError("a contact needs a name")
        rec = self.find(peer)
        if any(c.name == new_name and c.contact_id != rec.contact_id for c in self._store.contacts()):
            raise ContactExists("another contact already has that name")
        rec.name, rec.auto_named = new_name, False
        with self._store.transaction():
            self._store.save_contact(rec)
        self.changed(rec)
        return public_contact(rec)

    def auto_name(self, address: Address) -> str:
        """A free local name for someone who wrote first: their address, numbered if taken."""
        names = {c.name for c in self._store.contacts()}
        base = address.text
        name, n = base, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        return name
