"""Client-side errors, under :class:`confide.keys.errors.ConfideError`.

Branches a caller can act on: the relay answered with an error (:class:`RelayError`), the relay could not be
reached (:class:`RelayUnreachable`), the local profile or store is missing or damaged (:class:`ProfileError`,
:class:`StorageError`), a contact name is unknown or taken (:class:`UnknownContact`, :class:`ContactExists`),
an invite code is mistyped (:class:`InvalidInvite`), an attachment failed (:class:`AttachmentError`), and a
safety-number scan did not match (:class:`VerificationFailed`). A changed peer identity raises
:class:`confide.protocol.errors.UntrustedIdentity`, re-exported by :mod:`confide.client`.
"""

from __future__ import annotations

from confide.keys.errors import ConfideError


class ClientError(ConfideError):
    """Base of errors raised by the client library."""


class RelayError(ClientError):
    """The relay refused a request (HTTP 4xx/5xx with an error code from docs/relay-api.md)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"the relay refused the request ({status} {code}): {message}")
        self.status = status
        self.code = code
        self.relay_message = message


class RelayUnreachable(ClientError):
    """The relay could not be reached; messages stay queued locally and are sent on the next sync."""


class ProfileError(ClientError):
    """The profile directory is missing, already exists, or is not a Confide profile."""


class ProfileWipedError(ProfileError):
    """The profile was wiped (a panic wipe, possibly by another process) while this client had it open."""


class StorageError(ClientError):
    """The local encrypted store is damaged or was written by another profile's key."""


class UnknownContact(ClientError):
    """No contact has this name or address; add one with an invite code first."""


class ContactExists(ClientError):
    """A contact with this name or address already exists."""


class InvalidInvite(ClientError):
    """Text is not a valid Confide invite code (wrong prefix, length, alphabet or checksum)."""


class AttachmentError(ClientError):
    """An attachment could not be sent, downloaded, verified or saved."""


class VerificationFailed(ClientError):
    """A scanned safety number does not match: the contact is NOT verified."""


class FileExistsConflict(ClientError):
    """A file (or folder, or symlink) is already at the path the library was asked to write; nothing was
    written. Pass ``overwrite=True`` to replace it (the replacement is a new 0600 file; a symlink is replaced,
    never followed)."""

    def __init__(self, path: object) -> None:
        super().__init__(f"{path} already exists; nothing was written (choose another name, or overwrite it)")
        self.path = path


class UnknownMessage(ClientError):
    """No message with this id exists in this profile (it may have expired or been deleted)."""


class NotReportable(ClientError):
    """This message cannot be reported: you sent it, or it was not franked for the moderation key of a practice
    you trust (or its franking did not verify). Only a message whose franking held when it arrived can be."""


class CredentialError(ClientError):
    """A credential cannot be used by this profile: it names another identity (it was issued to someone else),
    or this profile has none yet ('confide credential import FILE' with the file your practice gave you)."""


class UnknownPractice(ClientError):
    """This profile trusts no practice of this name or address (see ``confide practices list``)."""


class PracticeUnavailable(ClientError):
    """The relay holds no valid signed policy for this practice address, so it cannot be trusted (yet)."""


class UnknownListing(ClientError):
    """A practice's directory lists no therapist under this number or credential id."""


class PracticeError(ClientError):
    """A practice's own operation was refused (``confide practice ...``): base of the errors below, and on its
    own a practice limit reached (its directory or its live credentials are full)."""


class NotAPractice(PracticeError):
    """This profile is not a practice's profile: create one with ``confide practice init``."""


class PracticeNotReady(PracticeError):
    """The practice's set-up is incomplete: no moderation key yet (``confide practice init``) or no policy yet
    (``confide practice policy``) to publish."""


class UnknownCredential(PracticeError):
    """The practice holds no live credential with this id or for this therapist address."""


class DeviceRemoved(ClientError):
    """This device was removed from its identity's device list (from another of your devices): the relay closed
    its mailbox and refuses its requests (410 ``device_removed``). Nothing more can be sent or received here; wipe
    this profile, or link this device again from one of your devices."""


class TooManyDevices(ClientError):
    """The identity already has :data:`~confide.protocol.device_list.MAX_DEVICES` devices: remove one
    (``confide devices remove ID``) before linking another."""


class LinkFailed(ClientError):
    """Linking a device did not complete: it timed out, the other device gave up, the relay refused or altered a
    message, or another device answered the code first. Nothing changed on this device; start again with a new
    code."""


class LinkCodeCheckFailed(LinkFailed):
    """The two devices did not use the same link code (a typing mistake), or someone in between tried to take part.
    Nothing changed on either device; start again with a new code."""


class HistoryTransferFailed(ClientError):
    """The message history could not be sent to, or received by, a newly linked device. The devices are linked all
    the same: the new device has the contacts and every new message, only not the earlier ones."""


class DeviceListRejected(ClientError):
    """A device list for a contact (or for this identity) was refused: older than one already accepted, the same
    version with other bytes, not signed by the identity it claims to list, or malformed. Nothing changed; the
    relay (or whoever sent it) may be trying to add or bring back a device."""


__all__ = [
    "AttachmentError",
    "ClientError",
    "ContactExists",
    "CredentialError",
    "DeviceListRejected",
    "DeviceRemoved",
    "FileExistsConflict",
    "HistoryTransferFailed",
    "InvalidInvite",
    "LinkCodeCheckFailed",
    "LinkFailed",
    "NotAPractice",
    "NotReportable",
    "PracticeError",
    "PracticeNotReady",
    "PracticeUnavailable",
    "ProfileError",
    "ProfileWipedError",
    "RelayError",
    "RelayUnreachable",
    "StorageError",
    "TooManyDevices",
    "UnknownContact",
    "UnknownCredential",
    "UnknownListing",
    "UnknownMessage",
    "UnknownPractice",
    "VerificationFailed",
]
