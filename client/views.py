"""The public, frozen forms of the store's working records (what integrators and front ends see)."""

from __future__ import annotations

from confide.keys.address import Address
from confide.keys.identity import IdentityPublicKey

from .models import AttachmentInfo, Contact, Direction, Message, MessageKind, MessageStatus, Trust
from .records import ContactRecord, MessageRecord


def public_message(m: MessageRecord, peer: str) -> Message:
    """``m`` as a :class:`Message` of the thread with the contact named ``peer``."""
    att = None
    if m.attachment is not None:
        a = m.attachment
        att = AttachmentInfo(a.name, a.mime, a.size, a.file is not None, a.caption)
    return Message(
        m.message_id.hex(),
        peer,
        Direction(m.direction),
        MessageKind(m.kind),
        m.text,
        m.sent_at_ms,
        m.received_at_ms,
        MessageStatus(m.status),
        m.expire_after_s,
        m.expires_at_ms,
        att,
        m.unverified_identity,
        m.failure,
        m.filed_by_peer,
        m.filed_here,
        m.reportable,
    )


def trust_of(rec: ContactRecord) -> Trust:
    """The contact's trust state."""
    return Trust.CHANGED if rec.changed else Trust.VERIFIED if rec.verified else Trust.UNVERIFIED


def public_contact(rec: ContactRecord) -> Contact:
    """``rec`` as a :class:`Contact`."""
    fp = IdentityPublicKey.from_bytes(rec.identity).fingerprint() if rec.identity else None
    can_send = rec.token is not None and not rec.changed
    return Contact(
        rec.name, Address(rec.address).text, trust_of(rec), rec.timer_s, fp, can_send, rec.request, rec.blocked
    )


def sender_name(rec: ContactRecord, m: MessageRecord | Message) -> str:
    """Who a thread entry is shown as coming from: the contact's name, except a message from an identity the
    user has not accepted yet, which is named by that identity's address (never by the trusted name)."""
    if m.unverified_identity and rec.changed and rec.pending_address is not None:
        return Address(rec.pending_address).text
    return rec.name
