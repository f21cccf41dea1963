"""Identity pinning (trust on first use) as rules over a contact record, shared by sending, receiving and
verification.

The first identity seen for a contact is pinned ("unverified"); safety numbers mark it "verified"; a
different identity is held as *pending* and marks the contact "identity-changed", which blocks sending
until the user verifies the new safety number or accepts it.
"""

from __future__ import annotations

from confide.protocol.errors import UntrustedIdentity

from .records import ContactRecord


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
