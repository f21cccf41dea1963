"""One identity, several devices: this identity's signed device list, and the lists of contacts (design issue 13).

Every device of an identity holds the identity key pair; the **device list** (SPEC §12, kind ``DEVICES``), signed
by the identity, says which devices are current. The relay keeps the newest list of each address and closes
the mailbox of a device dropped from it; peers encrypt to exactly the listed devices.

**This identity's list** (scope ``own-devices``, key ``b"list"``): :meth:`Devices.ensure_own_list` publishes a
first one (this device, origin ``FIRST``) for an account without one; :meth:`Devices.add_device` and
:meth:`Devices.remove_device` sign the next version from the newest list known (the relay's or the one kept,
whichever is newer), publish it, and keep it only once the relay accepted it; :meth:`Devices.renew_if_due`
re-signs the same devices before the list expires. After a change, :attr:`Devices.on_own_list_changed` is
called with the new list's bytes, so the messaging side can send it to contacts and own devices as a DEVICES
content. Device names (scope ``device-names``, key the device id) stay on this device: the list never holds
them, so peers do not learn them.

**Contacts' lists** (scope ``devices``, key the contact's address, owned by the contact's row so they go with
it): from the bundle answer, from ``GET /v1/documents/{address}/devices`` (:meth:`Devices.refresh`) or from a
DEVICES content (:meth:`Devices.accept`). Each is parsed with the contact's pinned identity as the expected
signer, and the kept list is its version guard: an older list, the same version with other bytes, another
identity's or a malformed one is refused (:class:`DeviceListRefused` event, :class:`DeviceListRejected`
error) and nothing changes. A change emits :class:`DevicesChanged` ("Dr. Rivera added a device"); the first
list seen of a contact does not. No list known (an old profile, an old relay): :meth:`Devices.listed` says
``None`` and sending goes to every device the relay names, as before.
"""

from __future__ import annotations

import functools
import hmac
import inspect
import logging
import time
import unicodedata
from collections.abc import Awaitable, Callable

from confide.keys.address import Address
from confide.keys.device import DeviceCertificate
from confide.keys.encoding import RNG
from confide.keys.errors import InvalidSignature
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityPublicKey
from confide.keys.secret_keys import SecretKeys
from confide.protocol.device_list import (
    MAX_DEVICES,
    DeviceChange,
    DeviceEntry,
    DeviceOrigin,
    device_ids,
    device_list,
    diff_devices,
    needs_renewal,
    parse_device_list,
    sign_device_list,
)
from confide.protocol.document_errors import DocumentError, DocumentExpired
from confide.protocol.documents import SignedDocument, VersionGuard

from .bus import EventBus
from .errors import ClientError, DeviceListRejected, RelayError, StorageError, TooManyDevices
from .events import DeviceListRefused, DevicesChanged
from .models import DeviceInfo
from .records import ContactRecord
from .relay import ListAuthority, RelayClient
from .store import Store

_log = logging.getLogger(__name__)

DEVICES = "devices"
"""``docs`` scope of contacts' device lists: key the contact's address, value the newest list accepted."""
OWN_DEVICES = "own-devices"
"""``docs`` scope of this identity's newest list (key :data:`_OWN_KEY`)."""
DEVICE_NAMES = "device-names"
"""``docs`` scope of the names given to this identity's devices (key the device id; never published)."""
DEVICES_KIND = "devices"
"""The document kind's name in the relay's routes (``GET /v1/documents/{address}/devices``)."""
MAX_DEVICE_NAME_CHARS = 64
"""A device's local name: "Office laptop", "Phone (2024)"; long enough for any, short enough for a list line."""
PUBLISH_ATTEMPTS = 2
"""Tries to publish a new own list: when another device published first (409), the newest list is fetched
again and the change applied to it once more; a second conflict is reported rather than raced."""

DEVICE_CHECK_INTERVAL_S = 3600.0
"""How often :meth:`Devices.upkeep` fetches this identity's list from the relay: a device added by a restore of the
recovery backup (or by someone else holding the identity) is noticed within the hour, for one small anonymous
request an hour."""

PARSED_LISTS_KEPT = 256
"""Kept lists remembered parsed (by their exact bytes): every send reads the contact's list (:meth:`Devices.listed`),
and verifying up to seven signatures each time would cost a caseload's worth of work per fan-out; 256 lists of at
most 847 bytes are ~220 KiB of public data."""

_OWN_KEY = b"list"
_ISSUED_AT = slice(2 + IDENTITY_PUBLIC_LEN + 8, 2 + IDENTITY_PUBLIC_LEN + 16)
"""Where ``issued_at`` sits in a document's header (format, kind, signer, version, then it)."""
_ORIGIN_NAMES = {DeviceOrigin.FIRST: "first", DeviceOrigin.LINKED: "linked", DeviceOrigin.RESTORED: "restored"}


OwnListHook = Callable[[bytes], Awaitable[None] | None]
"""Called with a new own device list's bytes once the relay accepted it (to tell contacts and own devices)."""


@functools.lru_cache(maxsize=PARSED_LISTS_KEPT)
def _undated(data: bytes) -> SignedDocument:
    """A kept list as it verified when accepted, whatever the time now (its issue time as ``now``); remembered by
    its exact bytes, as verified identities are (:mod:`confide.keys.identity`).

    Raises:
        StorageError: it no longer parses (a damaged store).
    """
    try:
        return parse_device_list(data, identity=None, now=int.from_bytes(data[_ISSUED_AT], "big"))
    except (DocumentError, ValueError) as exc:
        raise StorageError("a stored device list is damaged; restore the profile") from exc


def _restored(document: SignedDocument, change: DeviceChange) -> bool:
    """Whether a device ``change`` added to ``document`` came from a restore of the recovery backup."""
    return any(e.origin == DeviceOrigin.RESTORED for e in device_list(document).entries if e.device_id in change.added)


MIN_DEVICE_ID_PREFIX = 8
"""Fewest hex digits of a device id a person may type (``confide devices remove 3f9a1c2e``): two of an identity's
at most six devices share 32 bits with a chance of about 15 in 2^32; a prefix that is ambiguous all the same is
refused, never guessed."""


def _parse_id(device_id_hex: str, listed: list[bytes]) -> bytes:
    """The listed device id that ``device_id_hex`` names: all 32 hex digits, or a prefix of at least
    :data:`MIN_DEVICE_ID_PREFIX` that only one listed device starts with.

    Raises:
        ClientError: not hex, too short, or no (or more than one) listed device matches.
    """
    text = device_id_hex.strip().lower() if isinstance(device_id_hex, str) else ""
    if len(text) < MIN_DEVICE_ID_PREFIX or len(text) > 32 or any(c not in "0123456789abcdef" for c in text):
        raise ClientError(
            f"not a device id: give the 32 hex digits 'confide devices list' shows (the first "
            f"{MIN_DEVICE_ID_PREFIX} are enough)"
        )
    matches = [d for d in listed if d.hex().startswith(text)]
    if len(matches) != 1:
        raise ClientError(
            "no device of yours has this id; see 'confide devices list'"
            if not matches
            else "more than one of your devices starts with these digits; give more of them"
        )
    return matches[0]


def check_device_name(name: str) -> str:
    """``name`` as kept: trimmed, NFC, 1..:data:`MAX_DEVICE_NAME_CHARS` characters, no control character.

    Raises:
        ValueError: a sentence saying what is wrong.
    """
    text = unicodedata.normalize("NFC", name.strip()) if isinstance(name, str) else ""
    if not text:
        raise ValueError("a device name must not be empty")
    if len(text) > MAX_DEVICE_NAME_CHARS:
        raise ValueError(f"a device name is at most {MAX_DEVICE_NAME_CHARS} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text):
        raise ValueError("a device name must not hold control or formatting characters")
    return text


class Devices:
    """This identity's device list and the device lists of its contacts."""

    def __init__(
        self,
        store: Store,
        keys: SecretKeys,
        relay: RelayClient,
        bus: EventBus,
        *,
        rng: RNG,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = keys
        self._relay = relay
        self._bus = bus
        self._rng = rng
        self._clock = clock
        self._checked = -DEVICE_CHECK_INTERVAL_S  # monotonic time of the last own-list fetch (upkeep)
        self.on_own_list_changed: OwnListHook | None = None
        """Called (and awaited when it returns an awaitable) with each new own list this device publishes: the
        messaging side sends it as a DEVICES content to contacts and own devices."""

    def _now(self) -> int:
        return int(self._clock())

    @property
    def device_id(self) -> bytes:
        """This device's 16-byte id."""
        return self._keys.device.device_id

    def _refuse(self, contact: str, reason: str) -> DeviceListRejected:
        self._bus.emit(DeviceListRefused(contact, reason))
        return DeviceListRejected(f"a device list was refused, nothing changed: {reason}")

    # -- this identity's list ------------------------------------------------------------------------
    def own_list(self) -> SignedDocument | None:
        """The newest own device list this device knows (None: none yet).

        Raises:
            StorageError: the kept list is damaged.
        """
        raw = self._store.get_doc(OWN_DEVICES, _OWN_KEY)
        return None if raw is None else _undated(raw)

    def own_listed(self) -> set[bytes] | None:
        """The ids of this identity's listed devices (None: no list known yet)."""
        own = self.own_list()
        return None if own is None else set(device_ids(own))

    def accept_own(self, document: bytes, *, source: str = "relay") -> DeviceChange | None:
        """Take ``document`` as this identity's newer list (from the relay, or a DEVICES content from an own
        device); returns the change, or None when it is the list already kept. A device added by a restore of
        the recovery backup shows in :class:`DevicesChanged` (``restored``).

        Raises:
            DeviceListRejected: malformed, signed by another identity, expired, or older than the kept one
                (a :class:`DeviceListRefused` event says so; nothing changed).
            StorageError.
        """
        identity = self._keys.identity.public
        try:
            doc = parse_device_list(document, identity=identity, now=self._now())
        except DocumentError as exc:
            raise self._refuse("", f"this identity's device list from the {source} does not verify ({exc})") from exc
        with self._store.transaction():
            old = self.own_list()
            if old is not None and not VersionGuard.of(old).admits(doc):
                raise self._refuse("", f"the {source} sent an older device list of this identity")
            if old is not None and hmac.compare_digest(old.digest, doc.digest):
                return None
            change = diff_devices(old, doc)
            self._store.put_doc(OWN_DEVICES, _OWN_KEY, document)
        if old is not None and change.changed:
            self._bus.emit(DevicesChanged("", len(change.added), len(change.removed), _restored(doc, change)))
        return change

    async def _latest_own(self) -> SignedDocument | None:
        """The newer of the kept own list and the relay's (which is taken through the version guard first; an
        older one the relay serves is refused and the kept one used)."""
        raw = await self._relay.get_document(self._keys.identity.address, DEVICES_KIND)
        if raw is not None:
            try:
                self.accept_own(raw)
            except DeviceListRejected:
                _log.warning("the relay served a device list of this identity that was refused")
        return self.own_list()

    async def publish_own(
        self,
        change: Callable[[tuple[DeviceEntry, ...]], tuple[DeviceEntry, ...]],
        *,
        authority: ListAuthority | None = None,
    ) -> SignedDocument:
        """Sign the next version of this identity's list, ``change`` applied to the newest one known (its
        entries; ``()`` when there is none), publish it and keep it once the relay accepted it; then call
        :attr:`on_own_list_changed`. When another device published first (409), ``change`` is applied again
        to that newer list (:data:`PUBLISH_ATTEMPTS`). The relay takes it from this device (a signed request), or,
        for a device restored from the recovery backup and not registered yet, as ``authority`` allows: the
        identity's recovery authority key, or the key of another registered device of the identity (the backup's
        own device, for a recovery code made before the relay kept recovery keys).

        Raises:
            TooManyDevices, ClientError: ``change`` refused (nothing was published).
            RelayUnreachable, RelayError, DeviceRemoved: the relay did not take it (nothing was kept).
        """
        for attempt in range(PUBLISH_ATTEMPTS):
            latest = await self._latest_own()
            entries = change(() if latest is None else device_list(latest).entries)
            version = 1 if latest is None else latest.version + 1
            data = sign_device_list(self._keys.identity, entries, version=version, now=self._now())
            try:
                await self._relay.put_device_list(self._keys.identity.address, data, authority=authority)
            except RelayError as exc:
                if exc.status == 409 and attempt + 1 < PUBLISH_ATTEMPTS:
                    continue
                raise
            with self._store.transaction():
                self._store.put_doc(OWN_DEVICES, _OWN_KEY, data)
            await self._tell(data)
            return _undated(data)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _tell(self, data: bytes) -> None:
        """Hand a new own list to :attr:`on_own_list_changed`. It is published already, so a failure to tell is
        logged (by its kind) and not raised: contacts find the list in the next bundle answer they fetch, own
        devices at their next list check."""
        hook = self.on_own_list_changed
        if hook is None:
            return
        try:
            result = hook(data)
            if inspect.isawaitable(result):
                await result
        except ClientError as exc:
            _log.info("the new device list was not sent to contacts: %s", type(exc).__name__)

    async def ensure_own_list(self) -> SignedDocument | None:
        """Make sure this identity has a published list: take the relay's when it holds one (a device linked
        or restored learns its list so), else publish a first one naming this device (origin ``FIRST``); then
        re-sign it when due (:meth:`renew_if_due`). Returns the list (None: the relay's list does not name this
        device, which is then refused by the relay anyway).

        Raises:
            RelayUnreachable, RelayError, DeviceRemoved.
        """
        latest = await self._latest_own()
        if latest is None:
            cert = self._keys.device.certificate
            now = self._now()
            return await self.publish_own(lambda old: old or (DeviceEntry(cert, now, DeviceOrigin.FIRST),))
        if self.device_id not in device_ids(latest):
            return None
        await self.renew_if_due()
        return self.own_list()

    async def upkeep(self) -> None:
        """Run by every sync and the upkeep loop: :meth:`ensure_own_list` at most every
        :data:`DEVICE_CHECK_INTERVAL_S` (at once while no list is known), :meth:`renew_if_due` in between.

        Raises:
            RelayUnreachable, RelayError, DeviceRemoved.
        """
        if self.own_list() is not None and time.monotonic() - self._checked < DEVICE_CHECK_INTERVAL_S:
            await self.renew_if_due()
            return
        await self.ensure_own_list()
        self._checked = time.monotonic()

    async def add_device(
        self, certificate: DeviceCertificate, origin: DeviceOrigin, *, authority: ListAuthority | None = None
    ) -> SignedDocument:
        """Add a device of this identity (linked, or restored from the recovery backup) to the list and publish
        it; returns the new list (the same one when the device is listed already). A list is first made for this
        device if there is none.

        Raises:
            TooManyDevices: :data:`MAX_DEVICES` devices are listed already.
            ValueError: ``certificate`` was not made by this identity (a programmer mistake: the link exchange
                checks it), or ``origin`` is ``FIRST``.
            RelayUnreachable, RelayError, DeviceRemoved: nothing changed.
        """
        if origin == DeviceOrigin.FIRST:
            raise ValueError("only the device an identity was created on is its FIRST")
        try:
            DeviceCertificate.from_bytes(certificate.to_bytes(), self._keys.identity.public)
        except InvalidSignature:
            raise ValueError("this device certificate was not made by this identity") from None
        mine = self._keys.device.certificate
        now = self._now()

        def added(old: tuple[DeviceEntry, ...]) -> tuple[DeviceEntry, ...]:
            entries = old or (DeviceEntry(mine, now, DeviceOrigin.FIRST),)
            if any(e.device_id == certificate.device_id for e in entries):
                return entries
            if len(entries) >= MAX_DEVICES:
                raise TooManyDevices(
                    f"this identity already has {MAX_DEVICES} devices, the most it may have; remove one with "
                    "'confide devices remove ID' first"
                )
            return (*entries, DeviceEntry(certificate, now, origin))

        current = self.own_list()
        if current is not None and certificate.device_id in device_ids(current):
            return current
        return await self.publish_own(added, authority=authority)

    async def remove_device(self, device_id_hex: str) -> None:
        """Drop a device from this identity's list and publish it: the relay closes its mailbox and refuses it,
        and peers stop encrypting to it as soon as they see the new list. Its local name is forgotten.

        Raises:
            ClientError: not a device id, this device (remove it from another of your devices, or wipe it), or
                no listed device has this id.
            RelayUnreachable, RelayError, DeviceRemoved: nothing changed.
        """
        target = _parse_id(device_id_hex, [bytes.fromhex(d.device_id) for d in self.list()])
        if hmac.compare_digest(target, self.device_id):
            raise ClientError("this is the device you are using: remove it from another of your devices, or wipe it")

        def without(old: tuple[DeviceEntry, ...]) -> tuple[DeviceEntry, ...]:
            if not any(e.device_id == target for e in old):
                raise ClientError("no device of yours has this id; see 'confide devices list'")
            return tuple(e for e in old if e.device_id != target)

        await self.publish_own(without)
        with self._store.transaction():
            self._store.delete_doc(DEVICE_NAMES, target)

    async def renew_if_due(self, now: int | None = None) -> bool:
        """Re-sign this identity's list (version + 1, the same devices) when less than
        :data:`~confide.protocol.device_list.DEVICE_LIST_RENEW_S` of its lifetime remains; returns whether it did.

        Raises:
            RelayUnreachable, RelayError, DeviceRemoved.
        """
        own = self.own_list()
        at = self._now() if now is None else now
        if own is None or self.device_id not in device_ids(own) or not needs_renewal(own, at):
            return False
        latest = await self._latest_own()  # another device may have renewed (or changed) it meanwhile
        if latest is None or latest.version > own.version or self.device_id not in device_ids(latest):
            return False
        await self.publish_own(lambda old: old)
        return True

    def list(self) -> list[DeviceInfo]:
        """This identity's devices in the order they were added (just this one while no list is known).

        Raises:
            StorageError.
        """
        own = self.own_list()
        if own is None:
            cert = self._keys.device.certificate
            entries: tuple[DeviceEntry, ...] = (DeviceEntry(cert, 0, DeviceOrigin.FIRST),)
        else:
            entries = device_list(own).entries
        out = []
        for e in entries:
            name = self._store.get_doc(DEVICE_NAMES, e.device_id)
            out.append(
                DeviceInfo(
                    e.device_id.hex(),
                    "" if name is None else name.decode(),
                    e.device_id == self.device_id,
                    e.added_at,
                    _ORIGIN_NAMES[e.origin],
                )
            )
        return out

    def rename(self, device_id_hex: str, name: str) -> DeviceInfo:
        """Give one of this identity's devices a local name (never published); returns it as listed.

        Raises:
            ClientError: not a device id, or no listed device has it. ValueError: an unusable name.
        """
        target = _parse_id(device_id_hex, [bytes.fromhex(d.device_id) for d in self.list()])
        checked = check_device_name(name)
        info = next((d for d in self.list() if d.device_id == target.hex()), None)
        if info is None:
            raise ClientError("no device of yours has this id; see 'confide devices list'")
        with self._store.transaction():
            self._store.put_doc(DEVICE_NAMES, target, checked.encode())
        return DeviceInfo(info.device_id, checked, info.this_device, info.added_at, info.origin)

    # -- contacts' lists -----------------------------------------------------------------------------
    def list_of(self, rec: ContactRecord) -> SignedDocument | None:
        """The newest device list accepted for the contact's pinned identity (None: none, or one of an identity
        no longer pinned)."""
        if rec.identity is None:
            return None
        raw = self._store.get_doc(DEVICES, rec.address)
        doc = None if raw is None else _undated(raw)
        if doc is None or doc.signer.to_bytes() != rec.identity:
            return None
        return doc

    def listed(self, rec: ContactRecord) -> set[bytes] | None:
        """The ids of the contact's listed devices; None when no list is known (send as before the lists:
        to every device the relay names)."""
        doc = self.list_of(rec)
        return None if doc is None else set(device_ids(doc))

    def listed_by(self, identity: IdentityPublicKey) -> set[bytes] | None:
        """The ids of the devices ``identity``'s newest accepted list names (this identity's own list for our
        own identity); None when no list of that identity is known.

        Raises:
            StorageError.
        """
        if identity == self._keys.identity.public:
            return self.own_listed()
        raw = self._store.get_doc(DEVICES, identity.address.raw)
        doc = None if raw is None else _undated(raw)
        if doc is None or doc.signer != identity:
            return None
        return set(device_ids(doc))

    def accept(
        self, rec: ContactRecord, document: bytes, *, source: str, identity: IdentityPublicKey | None = None
    ) -> DeviceChange | None:
        """Take ``document`` as the contact's device list if it is newer than the one kept; returns the change
        (``None``: the same list again, or no identity to check it against yet). ``identity`` is the one to
        expect as the signer (default: the contact's pinned identity); ``source`` says where it came from
        ("relay", "contact"), for the refusal's text.

        Raises:
            DeviceListRejected: malformed, expired, not signed by the identity, or older than (or the same version
                as, with other bytes) the one kept; a :class:`DeviceListRefused` event says so and nothing changed.
            StorageError.
        """
        if identity is None:
            if rec.identity is None or rec.changed:
                return None
            identity = IdentityPublicKey.from_bytes(rec.identity)
        if identity.address.raw != rec.address:
            raise self._refuse(rec.name, f"the {source} sent a device list for another address")
        try:
            doc = parse_device_list(document, identity=identity, now=self._now())
        except DocumentExpired as exc:
            raise self._refuse(rec.name, f"the {source} sent an expired device list") from exc
        except DocumentError as exc:
            raise self._refuse(rec.name, f"the {source} sent a device list that does not verify ({exc})") from exc
        with self._store.transaction():
            raw = self._store.get_doc(DEVICES, rec.address)
            old = None if raw is None else _undated(raw)
            if old is not None and old.signer != doc.signer:
                old = None  # a list of an identity no longer pinned: the new identity starts afresh
            if old is not None and not VersionGuard.of(old).admits(doc):
                raise self._refuse(rec.name, f"the {source} sent an older device list than one already seen")
            if old is not None and hmac.compare_digest(old.digest, doc.digest):
                return None
            change = diff_devices(old, doc)
            self._store.put_doc(DEVICES, rec.address, document, owner=rec.contact_id)
        if old is not None and change.changed:
            self._bus.emit(DevicesChanged(rec.name, len(change.added), len(change.removed), _restored(doc, change)))
        return change

    async def refresh(self, rec: ContactRecord) -> DeviceChange | None:
        """Fetch the contact's device list from the relay and take it if newer (:meth:`accept`); None when the
        relay holds none, no identity is pinned yet, or it is the list already kept.

        Raises:
            DeviceListRejected, StorageError; RelayUnreachable, RelayError.
        """
        if rec.identity is None or rec.changed:
            return None
        raw = await self._relay.get_document(Address(rec.address), DEVICES_KIND)
        return None if raw is None else self.accept(rec, raw, source="relay")


__all__ = [
    "DEVICES",
    "DEVICE_NAMES",
    "MAX_DEVICE_NAME_CHARS",
    "OWN_DEVICES",
    "DeviceInfo",
    "Devices",
    "OwnListHook",
    "check_device_name",
]
