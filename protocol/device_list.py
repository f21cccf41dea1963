"""An identity's signed device list (SPEC 12, kind 6 DEVICES): which devices speak for it.

Every device of an identity holds the identity key pair; the list, signed by the identity, says which
devices are current. Peers encrypt to exactly the listed devices and refuse what an unlisted one sends; the
relay closes the mailbox of a device dropped from a newer list. The body (:class:`DeviceList`) is::

    devices = count u8 (1..MAX_DEVICES) || (device_cert(96) || added_at u64 || origin u8) * count

in the order the devices were added, each device once, each certificate made by the signer (verified in
receiving-rule step 3, as nested signatures are). Device names are never in it: peers do not learn them.

Lifetime: a list is signed for :data:`DEVICE_LIST_LIFETIME_S` and re-signed (``version + 1``, same devices)
when less than :data:`DEVICE_LIST_RENEW_S` remains (:func:`needs_renewal`). Versions: the client keeps a
:class:`~confide.protocol.documents.VersionGuard` per identity, so a relay cannot serve an older list to
resurrect a removed device or hide a new one. Sans-I/O: callers pass ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confide.keys.device import DeviceCertificate
from confide.keys.errors import InvalidSignature
from confide.keys.identity import IdentityKeyPair, IdentityPublicKey

from .document_bodies import MAX_DEVICES, DeviceEntry, DeviceList, DeviceOrigin
from .documents import MAX_DEVICES_DOCUMENT_LEN, DocumentKind, SignedDocument, parse_document, sign_document

DEVICE_LIST_LIFETIME_S = 90 * 24 * 3600
"""How long a signed device list is valid: 90 days. A device that is removed while its owner's other devices
are offline stays removed (the relay keeps the newest list), and a relay that withholds a newer list can
replay an old one only until it expires; a client re-signs well before (see :data:`DEVICE_LIST_RENEW_S`)."""
DEVICE_LIST_RENEW_S = 30 * 24 * 3600
"""Re-sign the own list (version + 1, same devices) when fewer than 30 days of its lifetime remain: a device
used monthly still renews in time, and a list never lapses while any of its devices is in use."""


@dataclass(frozen=True, slots=True)
class DeviceChange:
    """What changed between two device lists of one identity: the ids added and removed, each in list order."""

    added: tuple[bytes, ...]
    removed: tuple[bytes, ...]

    @property
    def changed(self) -> bool:
        """Whether any device was added or removed."""
        return bool(self.added or self.removed)


def _devices(document: SignedDocument) -> DeviceList:
    if not isinstance(document.body, DeviceList):
        raise ValueError("not a device list document")
    return document.body


def sign_device_list(identity: IdentityKeyPair, entries: Iterable[DeviceEntry], *, version: int, now: int) -> bytes:
    """The bytes of a DEVICES document listing ``entries`` (in order), signed by ``identity``, issued at
    ``now`` and expiring :data:`DEVICE_LIST_LIFETIME_S` later.

    Raises:
        TypeError, ValueError: no entry or more than :data:`MAX_DEVICES`, a device listed twice, a
            certificate not made by ``identity``, or a version or time outside its range (programmer mistakes).
    """
    body = DeviceList(tuple(entries))
    for entry in body.entries:
        try:
            DeviceCertificate.from_bytes(entry.certificate.to_bytes(), identity.public)
        except InvalidSignature:
            raise ValueError("a listed device is not certified by this identity") from None
    return sign_document(identity, body, version=version, issued_at=now, expires_at=now + DEVICE_LIST_LIFETIME_S)


def parse_device_list(data: bytes, *, identity: IdentityPublicKey | None, now: int) -> SignedDocument:
    """Parse and verify a DEVICES document (SPEC 12's receiving rules with kind DEVICES): signed by
    ``identity`` when given (a peer's pinned identity, or our own), every listed certificate made by the
    signer, valid at ``now``. Apply a :class:`~confide.protocol.documents.VersionGuard` before replacing a
    list already held.

    Raises:
        DocumentError: malformed (longer than :data:`MAX_DEVICES_DOCUMENT_LEN`, no device or too many, a device
            twice, an unknown origin, trailing bytes), or another kind.
        DocumentSignatureError: signed by another identity than ``identity``, a signature that does not
            verify, or a listed certificate made by another identity.
        DocumentExpired, DocumentNotYetValid: outside its validity at ``now``.
    """
    return parse_document(data, expected_signer=identity, expected_kind=DocumentKind.DEVICES, now=now)


def device_list(document: SignedDocument) -> DeviceList:
    """The :class:`DeviceList` a DEVICES document holds.

    Raises:
        ValueError: ``document`` is another kind (a programmer mistake).
    """
    return _devices(document)


def device_ids(document: SignedDocument) -> tuple[bytes, ...]:
    """The 16-byte ids of the devices a DEVICES document lists, in list order.

    Raises:
        ValueError: ``document`` is another kind.
    """
    return _devices(document).device_ids


def entry_for(document: SignedDocument, device_id: bytes) -> DeviceEntry | None:
    """The entry of the device ``device_id`` in the list, or ``None`` when it is not listed.

    Raises:
        ValueError: ``document`` is another kind.
    """
    for entry in _devices(document).entries:
        if entry.device_id == device_id:
            return entry
    return None


def diff_devices(old: SignedDocument | None, new: SignedDocument) -> DeviceChange:
    """The devices ``new`` adds to and removes from ``old`` (``None``: no list was known, so every device of
    ``new`` is added).

    Raises:
        ValueError: a document of another kind, or lists of two different identities (programmer mistakes).
    """
    new_ids = device_ids(new)
    if old is None:
        return DeviceChange(added=new_ids, removed=())
    if old.signer != new.signer:
        raise ValueError("the two device lists belong to different identities")
    old_ids = device_ids(old)
    return DeviceChange(
        added=tuple(i for i in new_ids if i not in old_ids),
        removed=tuple(i for i in old_ids if i not in new_ids),
    )


def needs_renewal(document: SignedDocument, now: int) -> bool:
    """Whether the own list should be re-signed (version + 1, same devices): fewer than
    :data:`DEVICE_LIST_RENEW_S` seconds of its lifetime remain at ``now`` (or it has expired).

    Raises:
        ValueError: ``document`` is another kind.
    """
    _devices(document)
    return document.expires_at - now < DEVICE_LIST_RENEW_S


__all__ = [
    "DEVICE_LIST_LIFETIME_S",
    "DEVICE_LIST_RENEW_S",
    "MAX_DEVICES",
    "MAX_DEVICES_DOCUMENT_LEN",
    "DeviceChange",
    "DeviceEntry",
    "DeviceList",
    "DeviceOrigin",
    "device_ids",
    "device_list",
    "diff_devices",
    "entry_for",
    "needs_renewal",
    "parse_device_list",
    "sign_device_list",
]
