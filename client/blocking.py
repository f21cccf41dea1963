"""Blocking one contact without affecting anyone else (issue 11).

Each contact writes here with a delivery token of their own (:mod:`confide.client.account`). Blocking a contact:

1. marks them blocked in the store (:attr:`ContactRecord.blocked`) — from then on the inbox drops whatever still
   arrives from their identity, unread, without receipts, events or storage (:class:`~confide.client.inbox.Inbox`);
2. registers the device's token set without their token, so the relay refuses their envelopes
   (``403 forbidden``: their message ends ``failed``, "delivery token not accepted");
3. with ``rotate_invite``, also replaces the introduction token (a new invite code), so they cannot start again
   from the invite they kept.

Unblocking gives them a fresh token (the next generation of their derived token, :func:`contact_token`; the
blocked one is never registered again), registers it, and our next message to them carries it. Every other
contact's token stays registered throughout.
"""

from __future__ import annotations

from confide.keys.encoding import RNG

from .account import Account, contact_token
from .contacts import Contacts
from .errors import RelayUnreachable, UnknownContact
from .models import Contact
from .records import ContactRecord
from .store import Store
from .views import public_contact


class Blocking:
    """Blocks and unblocks contacts of one profile."""

    def __init__(self, store: Store, contacts: Contacts, account: Account, *, rng: RNG) -> None:
        self._store = store
        self._contacts = contacts
        self._account = account
        self._rng = rng

    def _update(self, contact_id: str, *, blocked: bool) -> ContactRecord:
        """Set ``blocked`` on the contact as stored now (read inside the transaction); unblocking (and blocking a
        contact that never had a token) mints them a fresh one, not yet registered."""
        with self._store.transaction():
            rec = self._store.contact(contact_id)
            if rec is None:
                raise UnknownContact("that contact was removed meanwhile (by another program on this profile)")
            if not blocked:
                rec.inbound_token = self._next_token(rec)
            elif rec.inbound_token is None:
                rec.inbound_token = contact_token(self._store, self._rng, rec.address, rec.token_generation)
            rec.blocked, rec.inbound_live = blocked, False
            self._store.save_contact(rec, tokens=True)
        self._contacts.changed(rec)  # the other own devices block or unblock too, with this token
        return rec

    def _next_token(self, rec: ContactRecord) -> bytes:
        """The next generation of ``rec``'s derived token, skipping any that gives the token it holds now (the
        blocked one: a generation learnt from another device's snapshot may lag behind the token it sent)."""
        blocked = rec.inbound_token
        token = blocked
        while token == blocked:
            rec.token_generation += 1
            token = contact_token(self._store, self._rng, rec.address, rec.token_generation)
        assert token is not None
        return token

    async def block(self, peer: str, *, rotate_invite: bool = False) -> Contact:
        """Block ``peer`` (see the module docstring); returns the contact, now ``blocked``.

        Raises:
            UnknownContact. RelayUnreachable, RelayError: the block holds on this device (their messages are
                dropped here) and the relay is told with the next sync.
        """
        rec = self._update(self._contacts.find(peer).contact_id, blocked=True)
        if rotate_invite:
            self._account.rotate_invite()
        await self._tell_relay("blocked on this device: what they send is dropped here")
        return public_contact(self._store.contact(rec.contact_id) or rec)

    async def _tell_relay(self, done_here: str) -> None:
        """Register the new token set now.

        Raises:
            RelayUnreachable: saying what already holds on this device, and that the next sync tells the relay.
            RelayError.
        """
        try:
            await self._account.register_tokens(force=True)
        except RelayUnreachable as exc:
            raise RelayUnreachable(f"{done_here}; the relay is told with the next sync ({exc})") from exc

    async def unblock(self, peer: str) -> Contact:
        """Unblock ``peer``: a fresh token of theirs is registered and sent with our next message to them (until
        then their client still writes with the blocked one, which the relay refuses).

        Raises:
            UnknownContact. RelayUnreachable, RelayError: they are unblocked on this device; their new token is
                registered with the next sync (our messages carry the introduction token until then).
        """
        rec = self._update(self._contacts.find(peer).contact_id, blocked=False)
        await self._tell_relay("unblocked on this device")
        return public_contact(self._store.contact(rec.contact_id) or rec)
