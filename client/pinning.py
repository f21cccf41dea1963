"""Identity pinning (trust on first use) as rules over a contact record, shared by sending, receiving and
verification.

The first identity seen for a contact is pinned ("unverified"); safety numbers mark it "verified"; a
different identity is held as *pending* and marks the contact "identity-changed", which blocks sending
until the user verifies the new safety number or accepts it.
"""

from __future__ import annotations

from confide.protocol.errors import UntrustedIdentity
from confide.protocol.session import Session

from .records import ContactRecord
from .store import Store


def require_trusted(rec: ContactRecord) -> None:
    """Raise :class:`UntrustedIdentity` while the contact's identity change is not accepted."""
    if rec.changed:
        raise UntrustedIdentity(
            "this contact's identity has changed since you last talked: compare safety numbers "
            "('confide verify NAME') or accept the new identity ('confide accept NAME') before sending",
            peer=rec.name,
        )


def accept_pending(rec: ContactRecord) -> None:
    """Make the pending identity (address, key, token) the pinned one, unverified. Sessions of the old
    identity stay stored but are never used again (they no longer match the pinned identity)."""
    if rec.pending_address is not None:
        rec.address = rec.pending_address
    if rec.pending_identity is not None or rec.pending_address is not None:
        rec.identity = rec.pending_identity
    if rec.pending_token is not None:
        rec.token = rec.pending_token
    rec.pending_address = rec.pending_identity = rec.pending_token = None
    rec.changed = False
    rec.verified = False


def reject_pending(store: Store, rec: ContactRecord, stranger_name: str) -> ContactRecord | None:
    """Drop the pending identity change of ``rec`` and keep the pinned identity (call inside a transaction).

    What the rejected identity already wrote (the messages flagged ``unverified_identity`` in the thread) and
    its sessions move to a contact of its own, named ``stranger_name`` (its address) and marked as a request,
    so nothing is lost and nothing stays under the trusted name. Returns that contact, or ``None`` when the
    rejected identity had not written.
    """
    pending_address, pending_identity, pending_token = rec.pending_address, rec.pending_identity, rec.pending_token
    flagged = [m for m in store.thread(rec.contact_id) if m.unverified_identity]
    rec.pending_address = rec.pending_identity = rec.pending_token = None
    rec.changed = False
    store.save_contact(rec)
    if pending_address is None or (pending_identity is None and not flagged):
        return None
    stranger = ContactRecord(
        store.new_contact_id(),
        stranger_name,
        pending_address,
        pending_token,
        pending_identity,
        auto_named=True,
        request=True,
    )
    store.save_contact(stranger)
    for m in flagged:
        store.move_message(m.message_id, stranger.contact_id)
    for raw in store.sessions_of(rec.contact_id):
        session = Session.from_bytes(raw)
        if pending_identity is not None and session.peer_identity.to_bytes() == pending_identity:
            store.put_session(stranger.contact_id, session.peer_identity.signing, session.peer_device_id, raw)
    return stranger
