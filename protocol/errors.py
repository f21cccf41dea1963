"""Protocol errors, under :class:`confide.keys.errors.ConfideError`.

As in h11, errors say whose fault they are: :class:`RemoteProtocolError` for bytes that came from a peer or
the relay, :class:`LocalProtocolError` for a call this side should not have made. Every failure to open a
message is one opaque :class:`DecryptionError` (Fernet's ``InvalidToken`` habit); the reason goes only to a
debug log that never holds secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from confide.keys.errors import ConfideError

if TYPE_CHECKING:
    from .sealed import SenderCertificate


class ProtocolError(ConfideError):
    """Base of protocol-layer errors."""


class RemoteProtocolError(ProtocolError):
    """Bytes from a peer or the relay are malformed: wrong version, length or field."""


class KeySubstitution(RemoteProtocolError):
    """The relay served keys for an address that are not its identity's: another identity's keys, prekeys its
    identity did not sign, or one device's keys labelled as another's. An identity error: someone (the relay or
    whoever sits between) tried to make us encrypt to keys the contact does not hold; nothing was sent."""


class MalformedFranking(RemoteProtocolError):
    """A franking signature, franking public key or abuse report is malformed: wrong length or version, a message
    over the limit, or a value that is not a canonical group element or a reduced scalar. Nothing was checked."""


class FrankingBindingError(MalformedFranking):
    """A franking key binding (SPEC 13.8) does not verify for the identity it is presented with: the franking
    key is not one that identity signed, so nothing franked with it can be tied to that identity's address."""


class LocalProtocolError(ProtocolError):
    """This side asked for something the protocol does not allow (e.g. a message larger than the limit)."""


class DecryptionError(ProtocolError):
    """A message could not be opened. Deliberately says nothing more; state is unchanged."""


class UndecryptableMessage(DecryptionError):
    """The sealed layer opened, so the sender is authenticated and known, but the message itself did not decrypt.

    Typically the sender still uses a session this device no longer holds (after a restore or reinstall).
    ``sender`` is the authenticated :class:`~confide.protocol.sealed.SenderCertificate`, so the client can tell the
    user whom to ask to send again; nothing else about the failure is revealed.
    """

    def __init__(self, message: str, *, sender: SenderCertificate) -> None:
        super().__init__(message)
        self.sender = sender


class DuplicateMessage(DecryptionError):
    """The message was already decrypted once (its key is gone); safe to acknowledge and drop."""


class UntrustedIdentity(ProtocolError):
    """A peer's identity key differs from the one recorded for that peer; the user must re-verify."""

    def __init__(self, message: str, *, peer: str = "") -> None:
        super().__init__(message)
        self.peer = peer


class LinkCodeMismatch(ProtocolError):
    """Linking a device: the other device's key confirmation (SPEC 15) did not verify. The two devices did not
    use the same link code (a typing mistake) or someone in between (the relay) tried to take part. The run is
    over, no key came out of it and nothing changed on either device; start again with a new code."""


class InvalidLinkCode(ConfideError):
    """Text is not a link code (12 characters of Crockford base32, shown ``XXXX-XXXX-XXXX``, or the QR text
    ``CONFIDE-LINK1:...``): most likely a typo. Nothing was sent."""


class AuthError(ProtocolError):
    """A device-authentication proof is malformed, expired, replayed or not signed by the device."""


__all__ = [
    "AuthError",
    "DecryptionError",
    "DuplicateMessage",
    "FrankingBindingError",
    "InvalidLinkCode",
    "KeySubstitution",
    "LinkCodeMismatch",
    "LocalProtocolError",
    "MalformedFranking",
    "ProtocolError",
    "RemoteProtocolError",
    "UndecryptableMessage",
    "UntrustedIdentity",
]
