"""Sending again a message the relay refused for good.

A refusal for good (``failed``, e.g. an expired delivery token or a file too large for this relay) is not
retried automatically: the reason may need the person to act first (ask for a new invite code, fix the
relay address). :meth:`Retry.retry` then sends the same message (same id, text or attachment pointer, timer)
again: it is re-encrypted on the current session, so nothing of the refused envelopes is reused, queued,
and posted now; its status goes back to ``pending`` and then whatever the relay answers.
"""

from __future__ import annotations

from confide.protocol.content import AttachmentPointer, Body, Content, Text

from .contacts import Contacts
from .errors import ClientError, UnknownMessage
from .messaging import Messaging
from .models import Direction, Message, MessageKind, MessageStatus
from .pinning import require_trusted
from .records import MessageRecord
from .sessions import Sessions
from .store import Store
from .views import public_message


def _body(msg: MessageRecord) -> Body:
    att = msg.attachment
    if msg.kind == MessageKind.ATTACHMENT and att is not None:
        return AttachmentPointer(att.blob_id, att.key, att.digest, att.size, att.name, att.mime, att.caption)
    if msg.kind == MessageKind.TEXT:
        return Text(msg.text)
    raise ClientError("only a text or a file can be sent again")


class Retry:
    """Sends again outgoing messages that the relay refused for good."""

    def __init__(self, store: Store, contacts: Contacts, sessions: Sessions, messaging: Messaging) -> None:
        self._store = store
        self._contacts = contacts
        self._sessions = sessions
        self._messaging = messaging

    async def retry(self, message_id: str) -> Message:
        """Re-encrypt a ``failed`` outgoing message on the current session, queue it and post it.

        Returns the stored message (``sent``, ``pending`` or ``failed`` again, as for a new send).

        Raises:
            UnknownMessage: no such message, or it is not one of yours.
            ClientError: the message is not ``failed`` (nothing to retry), or the contact has no invite.
            UntrustedIdentity: the contact's identity changed; verify or accept first.
            RelayUnreachable, RelayError: there is no session and the peer's keys cannot be fetched (the
                message stays ``failed``).
        """
        msg = self._store.find_message(message_id)
        if msg.direction != Direction.OUT:
            raise UnknownMessage("only your own messages can be sent again")
        if msg.status != MessageStatus.FAILED:
            raise ClientError(f"this message is {msg.status}, not failed: there is nothing to send again")
        rec = self._store.contact(msg.contact_id)
        if rec is None:
            raise UnknownMessage("the contact of this message no longer exists")
        require_trusted(rec)
        if rec.token is None:
            raise ClientError("you cannot write to this contact yet: add their invite code first")
        if not self._sessions.of(rec):
            rec = await self._sessions.start(rec)
        content = Content(msg.message_id, msg.sent_at_ms, msg.expire_after_s, _body(msg))
        msg.status, msg.failure = MessageStatus.PENDING, ""
        self._messaging.queue(rec, content, msg)
        await self._messaging.flush()
        fresh = self._store.message(msg.message_id)
        return public_message(fresh or msg, rec.name)
