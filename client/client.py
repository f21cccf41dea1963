"""The :class:`Client`: one person's profile, unlocked, talking to one relay.

``Client`` is a facade: it opens the profile, builds the services below by composition, and delegates. Each
service owns its state and receives its dependencies in its constructor; none holds a reference back to the
client.

=================  ==========================================================================
``EventBus``       subscribers, hooks and the tasks async hooks run in (:mod:`.bus`)
``Account``        settings, delivery tokens, registration, prekey upkeep (:mod:`.account`)
``Contacts``       local names for addresses and invites (:mod:`.contacts`)
``Blocking``       blocking and unblocking one contact (:mod:`.blocking`)
``Practices``      trusted practices, provider state, directory, availability (:mod:`.practices`)
``Sessions``       prekey bundles, session start, encryption to every device (:mod:`.sessions`)
``Trust``          safety numbers, verification, accepting a changed identity (:mod:`.trust`)
``Outbox``         queued envelopes, posted in order (:mod:`.outbox`)
``Messaging``      sending, reading, receipts (:mod:`.messaging`)
``Inbox``          turning deliveries into stored messages and events (:mod:`.inbox`)
``Attachments``    upload, download, save (:mod:`.attachments`)
``Expiry``         local deletion and disappearing messages (:mod:`.expiry`)
``Filing``         contacts' records: filing messages in the open, export (:mod:`.filing`)
``Cards``          own credential and availability card, contact cards (:mod:`.card`)
``Reporting``      franking texts and files, reportable messages, report files (:mod:`.reporting`)
``Sync``           catch-up and the live connection (:mod:`.sync`)
``Threads``        the inbox and search, from an index in memory only (:mod:`.threads`)
=================  ==========================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide.keys.address import Address
from confide.keys.device import DeviceKeyPair
from confide.keys.encoding import RNG
from confide.keys.identity import IdentityKeyPair, IdentityPublicKey
from confide.keys.keystore import DEFAULT_KDF, KdfParams
from confide.keys.qr import QR_TEXT_PREFIX
from confide.keys.recovery import (
    RECOVERY_QR_PREFIX,
    create_recovery,
    recovery_authority,
    recovery_code_from_qr,
    restore_recovery,
)
from confide.keys.safety import SafetyNumber
from confide.keys.secret_keys import STORE_KEY_LEN, SecretKeys
from confide.protocol.device_list import DeviceEntry, DeviceOrigin
from confide.protocol.document_bodies import OfficeHours
from confide.protocol.errors import ProtocolError
from confide.protocol.link import check_device_name as check_link_device_name
from confide.protocol.link import new_link_code
from confide.protocol.office_hours import Availability
from confide.protocol.provisioning import MAX_CONTACTS, HistoryOffer, ProvisionedRole, Provisioning
from confide.protocol.static_agreement import forget_static_agreements

from .account import Account, check_server_url, server_url_of, write_new_settings
from .attachment_files import write_private
from .attachments import Attachments
from .blocking import Blocking
from .bus import EventBus, Hook
from .card import KEEP_AWAY, CardAdded, Cards
from .contacts import Contacts
from .devices import DEVICES_KIND, DeviceInfo, Devices, check_device_name
from .errors import (
    ClientError,
    DeviceListRejected,
    DeviceRemoved,
    NotAPractice,
    ProfileError,
    RelayError,
    RelayUnreachable,
)
from .events import Event, MessageReceived, PrekeysLow, ProfileWiped
from .expiry import Expiry
from .export import thread_document
from .filing import Filing
from .history_transfer import HistorySent, receive_history, send_history
from .inbox import Inbox
from .linking import Approval, NewDeviceRun, Provisioned, approve_device, contact_bodies, contact_snapshots
from .messaging import Messaging
from .models import Contact, Message, QueuedItem, RecordEntry, Role, ThreadSummary
from .outbox import Outbox
from .practice import PracticeAdmin
from .practice_views import AvailabilityInfo, CredentialInfo
from .practices import CrisisNotice, Listing, PracticeInfo, Practices, PracticeWarning
from .prekey_store import PreKeyStore
from .profile import (
    ProfileLock,
    ProfilePaths,
    create_keystore,
)
from .profile import (
    wipe_profile as _wipe_profile_files,
)
from .rekey import change_passphrase_rekeying, has_pending_rekey, open_keys_recovering
from .relay import ProgressCallback, RelayClient
from .reporting import Reporting
from .retry import Retry
from .self_sync import SelfSyncApplier
from .sessions import SELF, Sessions
from .shred import overwrite_in_place
from .store import Store
from .sync import Sync
from .threads import DEFAULT_SEARCH_LIMIT, Threads
from .trust import Trust
from .uploads import PendingUploads
from .views import public_contact, public_message
from .wipe_watch import WIPE_POLL_INTERVAL_S, WipeWatch

_M_NOTIFY_TEXT = "settings.notify_text"
"""Store setting: a message's text may be shown in desktop notifications (:attr:`Client.notify_text`)."""


_log = logging.getLogger(__name__)

_M_RECOVERY_KEY_PENDING = "recovery_key_pending"
"""Meta key: the public recovery authority key of the newest recovery code, until the relay has it."""


def _log_index_failure(task: asyncio.Task[None]) -> None:
    """A background index build that failed is logged by the type of its error (never its text)."""
    if not task.cancelled() and task.exception() is not None:
        _log.warning("building the message index failed: %s", type(task.exception()).__name__)


def _check_profile_arguments(name: str, role: str) -> Role:
    try:
        checked = Role(role)
    except ValueError:
        raise ValueError(f"role must be one of {', '.join(Role)}") from None
    if not name.strip():
        raise ValueError("the name must not be empty")
    return checked


def _recovery_code_text(code: str) -> str:
    """A recovery code as typed, or as scanned from the QR of ``confide recovery create --qr`` (its text is
    ``CONFIDE-RC1:`` and the code; QR codes written by earlier versions hold ``CONFIDE-SN1:`` and the code in
    base32, still accepted).

    Raises:
        InvalidRecoveryCode: a scanned text that holds no readable code.
    """
    scanned = code.strip().upper()
    if scanned.startswith((RECOVERY_QR_PREFIX, QR_TEXT_PREFIX)):
        return recovery_code_from_qr(code)
    return code


def _open_keys(paths: ProfilePaths, passphrase: str, lock: ProfileLock) -> SecretKeys:
    """Unlock the key store; when a passphrase change was interrupted, first finish or undo it (holding the
    profile exclusively meanwhile: :func:`~confide.client.rekey.open_keys_recovering`).

    Raises:
        ProfileError: no profile, or an interrupted change cannot be finished because another program has the
            profile open. WrongPassphrase, CorruptKeyStore, KdfParametersTooCostly.
    """
    if not has_pending_rekey(paths):
        return open_keys_recovering(paths, passphrase)
    if not lock.make_exclusive():
        raise ProfileError("a passphrase change was interrupted; close other Confide programs and open it again")
    try:
        return open_keys_recovering(paths, passphrase)
    finally:
        lock.make_shared()


class _Opening:
    """What :meth:`Client.open` and :meth:`Client.create` return: await it, or use it with ``async with``."""

    def __init__(self, factory: Callable[[], Awaitable[Client]]) -> None:
        self._factory = factory
        self._client: Client | None = None

    def __await__(self) -> Generator[Any, None, Client]:
        return self._factory().__await__()

    async def __aenter__(self) -> Client:
        self._client = await self._factory()
        return self._client

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.close()


class PendingLink:
    """A new device waiting to be approved (:meth:`Client.link`): show :attr:`code` (or :attr:`qr_text` as a QR
    code) to the person, who types it on their existing device (:meth:`Client.approve_device`); then ``await``
    :meth:`wait`. Its ``repr`` never shows the code."""

    def __init__(
        self,
        run: NewDeviceRun,
        make: Callable[[Provisioned], Awaitable[Client]],
        take: Callable[[Client, HistoryOffer, ProgressCallback | None], Awaitable[int]],
    ) -> None:
        self._run = run
        self._make = make
        self._take = take
        self.history_error: str | None = None
        """Why the offered history was not taken (None: it was, or none was offered or wanted). The device is
        linked all the same."""

    @property
    def code(self) -> str:
        """The code to type on the existing device, ``XXXX-XXXX-XXXX``."""
        return self._run.code

    @property
    def qr_text(self) -> str:
        """The code as the text of a QR code (``CONFIDE-LINK1:XXXX-XXXX-XXXX``), for the existing device to scan."""
        return self._run.qr_text

    def __repr__(self) -> str:
        return "PendingLink(<code hidden>)"

    async def wait(self, *, history: bool = True, progress: ProgressCallback | None = None) -> Client:
        """Wait for the existing device's approval, then create the profile, register it and take the recent
        history (unless ``history`` is False: it starts empty); returns the open client. ``progress(done, total)``
        follows the history's download and storing. The approval is awaited until
        :data:`~confide.client.linking.LINK_TIMEOUT_S` after the code was made (wrap the call in ``asyncio.timeout``
        to wait less: a wait cancelled before the approval creates nothing).

        A failure of the history transfer does not undo the link: :attr:`history_error` says why.

        Raises:
            LinkCodeCheckFailed: the codes did not match (nothing was created).
            LinkFailed: timed out, the other device gave up, or the relay altered or refused a message (nothing
                was created).
            RelayUnreachable: the relay could not be reached (nothing was created before the approval; after it,
                the profile is kept and registers on its next sync).
            ProfileError: a profile appeared in the folder meanwhile (nothing was created).
        """
        provisioned = await self._run.provision()
        try:
            client = await self._make(provisioned)
        except RelayUnreachable:  # the profile is kept: it is listed, and registers on its next sync
            await self._run.finish(None)
            raise
        except BaseException:
            await self._run.abandon()
            raise

        async def take(offer: HistoryOffer) -> None:
            await self._take(client, offer, progress)

        self.history_error = await self._run.finish(take if history else None)
        return client

    async def cancel(self) -> None:
        """Give up (an existing device that answered already learns it at once); nothing was created."""
        await self._run.cancel()


class Client:
    """An unlocked profile. Open with ``async with Client.open(dir, passphrase) as client:``.

    Peers are named by their local contact name or their address text. Methods that talk to the relay
    raise :class:`RelayUnreachable` or :class:`RelayError`; methods about a contact raise
    :class:`UnknownContact`; sending to a contact whose identity changed raises
    :class:`~confide.protocol.errors.UntrustedIdentity`. A send either raises (nothing was kept) or returns
    the stored message, whose status is ``sent``, ``pending`` (queued) or ``failed`` (refused for good).
    """

    def __init__(
        self, paths: ProfilePaths, keys: SecretKeys, store: Store, *, rng: RNG, lock: ProfileLock | None = None
    ) -> None:
        self._lock = lock if lock is not None else ProfileLock(paths, exclusive=False, wait_s=0)
        self._watch = WipeWatch(paths.keystore)
        self._watch_task: asyncio.Task[None] | None = None
        self._closed_done = asyncio.Event()
        self._paths = paths
        self._keys = keys
        self._store = store
        self._rng = rng
        self._closed = False
        self._relay = RelayClient(server_url_of(store), keys.device)
        self._bus = EventBus()
        prekeys = PreKeyStore(store, keys.identity, rng)
        self._account = Account(store, keys, self._relay, prekeys, self._bus, rng=rng)
        self._contacts = Contacts(store, self._bus, rng=rng)
        self._blocking = Blocking(store, self._contacts, self._account, rng=rng)
        self._practices = Practices(store, self._relay, self._contacts, keys.identity.public, self._account.role)
        self._cards = Cards(store, keys.identity, self._relay, self._account, self._contacts)
        self._reporting = Reporting(store, keys.identity, self._contacts, self._practices, rng=rng)
        self._devices = Devices(store, keys, self._relay, self._bus, rng=rng)
        self._sessions = Sessions(
            store, keys, self._relay, self._bus, self._devices, rng=rng, own_token=self._account.token
        )
        self._trust = Trust(store, keys, self._contacts, self._sessions)
        self._outbox = Outbox(store, self._relay)
        self._expiry = Expiry(store, paths, self._contacts, self._bus)
        self._attachments = Attachments(store, paths, self._relay, rng=rng)
        self._messaging = Messaging(
            store,
            self._contacts,
            self._sessions,
            self._outbox,
            self._account,
            self._attachments,
            self._expiry,
            self._bus,
            rng=rng,
            reporting=self._reporting,
        )
        self._filing = Filing(store, paths, self._contacts, self._messaging, self._attachments, rng=rng)
        self._retry = Retry(store, self._contacts, self._sessions, self._messaging)
        self._uploads = PendingUploads(store, paths, self._attachments, self._messaging.queue)
        self._messaging.keep_upload = self._uploads.add
        self._inbox = Inbox(
            store,
            keys,
            prekeys,
            self._sessions,
            self._contacts,
            self._expiry,
            self._bus,
            rng=rng,
            reporting=self._reporting,
        )
        self._sync = Sync(
            store,
            self._relay,
            self._inbox,
            self._outbox,
            self._account,
            self._messaging,
            self._attachments,
            self._expiry,
            self._contacts,
            self._bus,
        )
        self._threads = Threads(store)
        self._index_task: asyncio.Task[None] | None = None
        self._history_imported = 0  # messages taken from the device that linked this one (Client.link)
        self._bus.on_handed = lambda event: self._sync.reported([event])
        self._sync.before_flush = self._uploads.flush
        self._sync.devices_upkeep = self._devices_upkeep
        self._inbox.devices = self._devices  # DEVICES contents from contacts and own devices
        self._devices.on_own_list_changed = self._messaging.send_device_list  # sent to contacts and own devices
        self._outbox.on_device_removed = self._lists_after_removal
        self._sync.refresh_lists = self._lists_after_removal
        self._sync.wiped = self._watch.wiped
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to watch with
            self._watch_task = asyncio.get_running_loop().create_task(self._watch_loop(), name="confide-wipe-watch")

    async def _watch_loop(self) -> None:
        """Every :data:`WIPE_POLL_INTERVAL_S`: was the profile wiped (by another process)? Then say so with
        :class:`ProfileWiped` and stop: background work, the store, ``events()``."""
        while not self._closed:
            await asyncio.sleep(WIPE_POLL_INTERVAL_S)
            if not self._closed and self._watch.wiped():
                await self._close(wiped=True)
                return

    # -- opening and closing --------------------------------------------------------------------------
    @classmethod
    def open(cls, profile_dir: str | os.PathLike[str], passphrase: str, *, rng: RNG = os.urandom) -> _Opening:
        """Unlock an existing profile; await the result or use it with ``async with``.

        Raises:
            ProfileError: no profile in ``profile_dir``.
            WrongPassphrase: the passphrase does not open the key store.
            CorruptKeyStore, StorageError: damaged files (or a store written by a newer Confide).
        """

        async def factory() -> Client:
            paths = ProfilePaths(Path(profile_dir))
            if not paths.exists():
                raise ProfileError(f"no Confide profile in {paths.root}; create one with 'confide init'")
            lock = await asyncio.to_thread(ProfileLock, paths, exclusive=False)  # waits out a passphrase change
            try:
                keys = await asyncio.to_thread(_open_keys, paths, passphrase, lock)
                paths.make_dirs()
                store = Store(paths.store, keys.store_key, rng)
            except BaseException:
                lock.release()
                raise
            client = cls(paths, keys, store, rng=rng, lock=lock)
            client._expiry.before_read()  # what expired while the profile was closed goes first
            return client

        return _Opening(factory)

    @classmethod
    def create(
        cls,
        profile_dir: str | os.PathLike[str],
        passphrase: str,
        server_url: str,
        name: str,
        role: str = "client",
        *,
        kdf: KdfParams = DEFAULT_KDF,
        rng: RNG = os.urandom,
    ) -> _Opening:
        """Create a profile (new identity, device key, store key), register it with the relay at
        ``server_url`` and publish prekeys; await the result or use it with ``async with``.

        ``name`` is how this person calls themself locally; ``role`` is a :class:`Role` (``"client"`` or
        ``"therapist"``). ``kdf`` sets the Argon2id cost of the passphrase (keep the default outside tests;
        :data:`~confide.client.INSECURE_TEST_KDF` is the cheap setting for automated tests).

        Raises:
            ProfileError: a profile already exists there.
            RelayUnreachable, RelayError: registration failed (the profile is kept and registration is
                retried by :meth:`sync`).
            ValueError: empty passphrase or name, unknown role, or ``server_url`` is not an ``http(s)://host[:port]``
                URL (checked before anything is created).
        """
        checked = _check_profile_arguments(name, role)
        server_url = check_server_url(server_url)  # before anything is created

        async def factory() -> Client:
            keys = SecretKeys.generate(rng)
            return await cls._set_up(Path(profile_dir), keys, passphrase, server_url, name, checked, kdf=kdf, rng=rng)

        return _Opening(factory)

    @classmethod
    def restore(
        cls,
        profile_dir: str | os.PathLike[str],
        passphrase: str,
        backup: bytes,
        code: str,
        server_url: str,
        name: str,
        role: str = "client",
        *,
        kdf: KdfParams = DEFAULT_KDF,
        rng: RNG = os.urandom,
    ) -> _Opening:
        """Make a new profile on this device from a recovery ``backup`` and its ``code`` (see
        :meth:`create_recovery`); await the result or use it with ``async with``.

        The backup holds the identity (and the lost device's key). The new profile therefore has the same address
        as the lost one, so contacts see no identity change and need not compare safety numbers again. It is a NEW
        device of that identity, with its own device key (the backup's is not reused) and store key: before it
        registers with the relay at ``server_url``, it adds itself to the identity's signed device list with the
        origin ``restored`` (:meth:`devices`) and publishes it; when the relay holds no list yet, the lost device
        (named by the backup's key) is listed first. Every other device of the identity, the lost one included if it
        still runs, learns of it (:class:`DevicesChanged` with ``restored``; "your identity was restored on a new
        device: if that was not you, remove it and make a new recovery code"), and so do contacts when they next
        fetch the list. Nothing is replaced silently: remove the lost device yourself (:meth:`remove_device`), and
        the relay closes its mailbox. ``passphrase`` seals the new key store; it need not be the old passphrase.
        ``code`` may be typed (case, spaces and dashes do not matter) or be the text scanned from the QR code that
        ``confide recovery create --qr`` writes. ``name``, ``role``, ``kdf``, ``rng``: as :meth:`create`.

        What the backup does NOT bring back, and what contacts see:

        - Message history, contacts, thread timers, sessions and attachments lived only in the lost
          device's store: the restored profile starts with none of them. (A device that still works can hand
          them to a new one instead: :meth:`link` and :meth:`approve_device`.)
        - The introduction token (the invite code's) lived there too, so the restored profile has a new one and a
          new :meth:`invite_code`. The relay accepts a delivery token registered by any listed device of the
          identity, so contacts' tokens keep working until the lost device is removed; after that, what a contact
          writes with a token only the lost device held is refused by the relay (their message shows ``failed``)
          until you write to them (each message carries your new token and their client takes it over) or give
          them your new :meth:`invite_code`.
        - Messages encrypted to the lost device's sessions cannot be decrypted here: they are for the lost device
          only (its mailbox, its sessions). Contacts start sessions with this device once they see it listed, or
          when it writes to them first: add the contact again from their invite code and write to them. That
          message starts a new session (same identity, so no warning). Once the contact is known again, a message
          that does not decrypt starts an automatic session reset (:class:`SessionReset`): their client resends
          what this device has not confirmed.
        - If the old device was lost or stolen, remove it (:meth:`remove_device`) and make a new recovery code.

        Anyone who has both the backup and the code can do this, and contacts get no warning (the identity
        is the same): keep the two apart.

        Raises:
            InvalidRecoveryCode: the code is mistyped (a checksum catches typos); nothing was created.
            WrongPassphrase: the code is well formed but does not open this backup; nothing was created.
            CorruptKeyStore: ``backup`` is not a Confide recovery backup, or is damaged; nothing was created.
            ProfileError: a profile already exists in ``profile_dir``.
            TooManyDevices: the identity already lists :data:`~confide.protocol.device_list.MAX_DEVICES` devices
                (remove one from another device first); nothing was created.
            RelayUnreachable, RelayError, DeviceListRejected: the new device list could not be published (nothing
                was created: try again), or registration failed after it was (the profile is kept and registration
                is retried by :meth:`sync`).
            ValueError: empty passphrase or name, unknown role.
        """
        checked = _check_profile_arguments(name, role)
        server_url = check_server_url(server_url)  # before anything is created

        async def factory() -> Client:
            recovered = restore_recovery(bytes(backup), _recovery_code_text(code))
            identity = recovered.identity
            keys = SecretKeys(identity, DeviceKeyPair.generate(identity, rng), rng(STORE_KEY_LEN))
            lost = recovered.device
            authority = recovery_authority(_recovery_code_text(code))

            async def list_this_device(client: Client) -> None:
                await client._list_restored(lost, authority)

            client = await cls._set_up(
                Path(profile_dir),
                keys,
                passphrase,
                server_url,
                name,
                checked,
                kdf=kdf,
                rng=rng,
                prepare=list_this_device,
            )
            await client._announce_own_list()  # the other devices learn of the restore now, not at their next check
            return client

        return _Opening(factory)

    @classmethod
    async def link(
        cls,
        profile_dir: str | os.PathLike[str],
        passphrase: str,
        server_url: str,
        name: str,
        *,
        kdf: KdfParams = DEFAULT_KDF,
        rng: RNG = os.urandom,
    ) -> PendingLink:
        """Start linking THIS device to an identity that already has a device: returns a :class:`PendingLink`
        whose :attr:`~PendingLink.code` (``XXXX-XXXX-XXXX``; :attr:`~PendingLink.qr_text` for a QR code) the person
        types on their existing device (:meth:`approve_device`); then ``await pending.wait(history=..., progress=...)``
        gives the new profile, open (see :mod:`confide.client.linking`).

        Once the existing device approved, this device gets the identity, its contacts and (unless declined) the
        last :data:`~confide.protocol.history.HISTORY_DAYS` days of messages, all end to end encrypted: the relay
        carries them without being able to read them. The profile in ``profile_dir`` is created only then, sealed
        under ``passphrase``, with a new device key and store key of its own. ``name`` names this device on the
        identity's devices (:meth:`devices`; never shown to contacts) and is this profile's own display name.
        ``server_url`` must be the relay the existing device uses.

        Raises:
            ProfileError: a profile already exists in ``profile_dir`` (checked first: nothing was sent).
            ValueError: an empty passphrase, an unusable device name, or not a relay URL (nothing was sent).
            LinkFailed, RelayUnreachable: the relay could not open the link (nothing was created).
        """
        root = Path(profile_dir)
        if ProfilePaths(root).exists():
            raise ProfileError(f"a profile already exists in {root}; use it, or choose another --profile")
        if not passphrase:
            raise ValueError("the passphrase must not be empty")
        device_name = check_device_name(name)
        check_link_device_name(device_name)  # what the link message can carry (64 UTF-8 bytes)
        server_url = check_server_url(server_url)
        # A throwaway device key: link messages are never signed, but the relay client is built around one.
        relay = RelayClient(server_url, DeviceKeyPair.generate(IdentityKeyPair.generate(rng), rng))

        async def make(provisioned: Provisioned) -> Client:
            async def adopt(client: Client) -> None:
                client._adopt_provisioned(provisioned, device_name)

            return await cls._set_up(
                root,
                provisioned.keys,
                passphrase,
                server_url,
                device_name,
                provisioned.role,
                kdf=kdf,
                rng=rng,
                prepare=adopt,
            )

        async def take(client: Client, offer: HistoryOffer, progress: ProgressCallback | None) -> int:
            return await client._take_history(offer, progress)

        run = NewDeviceRun(relay, new_link_code(rng), device_name, rng=rng)
        await run.start()
        return PendingLink(run, make, take)

    @classmethod
    async def _set_up(
        cls,
        root: Path,
        keys: SecretKeys,
        passphrase: str,
        server_url: str,
        name: str,
        role: Role,
        *,
        kdf: KdfParams,
        rng: RNG,
        prepare: Callable[[Client], Awaitable[None]] | None = None,
    ) -> Client:
        """Seal ``keys`` into a new profile in ``root``, run ``prepare`` on it (a restored or linked device takes
        its place in the identity's device list there, before it may register), register with the relay, publish
        prekeys. When ``prepare`` fails, the new profile is wiped again: nothing is left in ``root``."""
        paths = ProfilePaths(root)
        await asyncio.to_thread(create_keystore, paths, keys, passphrase, kdf=kdf, rng=rng)
        store = Store(paths.store, keys.store_key, rng)
        write_new_settings(store, server_url, name, role, rng)
        client = cls(paths, keys, store, rng=rng)
        if prepare is not None:
            try:
                await prepare(client)
            except BaseException:
                await client.close()
                await asyncio.to_thread(_wipe_profile_files, paths, rng)
                raise
        try:
            await client._account.register()
            await client._devices_upkeep()  # a first device list (or the one a linking device published)
        except RelayUnreachable as exc:
            await client.close()
            raise RelayUnreachable(
                f"{exc} (the profile was created in {paths.root}; it registers with the relay on the next sync)"
            ) from exc
        except BaseException:
            await client.close()
            raise
        return client

    @staticmethod
    async def change_passphrase(
        profile_dir: str | os.PathLike[str], old: str, new: str, *, kdf: KdfParams | None = None, rng: RNG = os.urandom
    ) -> None:
        """Change the passphrase of the profile in ``profile_dir`` AND re-key it (it must not be open).

        A new store key is drawn and the whole store is re-sealed under it (every sealed value and blind
        index); the old key store is overwritten in place before the new one replaces it, so an old copy of
        it, opened with the old passphrase, opens nothing of the profile as it is now. The identity, device
        key and address stay, so contacts see no change. ``kdf`` None keeps the Argon2id costs the key
        store already has. A crash at any point leaves a profile that opens with the old or the new
        passphrase (:mod:`confide.client.rekey` explains how); a wrong ``old`` leaves every file untouched.

        Raises:
            ProfileError: no profile in ``profile_dir``, or it is open in another program (close it first);
                nothing was changed.
            WrongPassphrase: ``old`` does not open the key store (nothing was changed).
            CorruptKeyStore, KdfParametersTooCostly: the key store is damaged or foreign.
            StorageError: the store could not be re-sealed (nothing was changed).
            ValueError: ``new`` is empty, or ``kdf`` is invalid.
        """
        paths = ProfilePaths(Path(profile_dir))
        await asyncio.to_thread(change_passphrase_rekeying, paths, old, new, kdf=kdf, rng=rng)

    async def close(self) -> None:
        """Stop background work, close the relay connection and the store (idempotent)."""
        await self._close(wiped=False)

    async def _close(self, *, wiped: bool, destroy: Callable[[], None] | None = None) -> None:
        """Close once; a second caller waits until the first has finished. ``wiped``: emit
        :class:`ProfileWiped` as the last event and close the store without writing to it; ``destroy`` (the
        wipe's file work) runs after background work stopped and before the store is closed."""
        if self._closed:
            await self._closed_done.wait()
            return
        self._closed = True
        try:
            watch = self._watch_task
            if watch is not None and watch is not asyncio.current_task():
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
            await self._sync.close()
            await self._messaging.close(send_owed=not wiped)
            await self._relay.close()
            if wiped:
                self._bus.emit(ProfileWiped())
            await self._bus.close()
            if destroy is not None:
                await asyncio.to_thread(destroy)
            if self._index_task is not None:
                self._index_task.cancel()
                await asyncio.gather(self._index_task, return_exceptions=True)
            self._threads.forget()  # the plaintext index lives no longer than the unlocked client
            if wiped:
                self._store.abandon()  # its files were destroyed: write nothing more into them
            else:
                self._store.close()
        finally:
            forget_static_agreements(self._keys.identity.public)  # sealed sender's, in memory: not kept past us
            self._lock.release()
            self._closed_done.set()

    @property
    def wiped(self) -> bool:
        """Whether this client stopped because its profile was wiped (see :class:`ProfileWiped`)."""
        return self._closed and self._watch.wiped()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        # No address or name: a logged client must not say whose profile it is (SECURITY rules: no identifiers).
        return "Client(closed)" if self._closed else "Client(open)"

    # -- this profile ---------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """This profile's address (``cf1-...``)."""
        return self._keys.identity.address.text

    @property
    def name(self) -> str:
        """This profile's own display name (local only)."""
        return self._account.name

    @property
    def role(self) -> Role:
        """``"client"`` or ``"therapist"`` (a :class:`Role`)."""
        return self._account.role

    @property
    def server_url(self) -> str:
        """The relay this profile is registered with."""
        return self._relay.base_url

    @staticmethod
    def temp_dir_of(profile_dir: str | os.PathLike[str]) -> Path:
        """The private folder for temporary files of the profile in ``profile_dir`` (mode 0700, inside the
        profile, so a panic wipe removes what a crash left there); it may not exist yet."""
        return ProfilePaths(Path(profile_dir)).tmp

    async def set_server(self, url: str) -> str:
        """Use the relay at ``url`` (``http(s)://host[:port]``) from now on, and register there; returns the
        URL as stored. Contacts keep working if they reach the same relay (invite codes do not name it).

        Raises:
            ValueError: not a relay URL (nothing changed).
            RelayUnreachable, RelayError: the URL was saved; registration is retried by the next sync.
        """
        return await self._account.set_server(url)

    @property
    def profile_dir(self) -> Path:
        """The profile directory."""
        return self._paths.root

    @property
    def identity(self) -> IdentityPublicKey:
        """This profile's public identity key."""
        return self._keys.identity.public

    @property
    def auto_download(self) -> bool:
        """Download received attachments during sync (set False to fetch them on demand)."""
        return self._sync.auto_download

    @auto_download.setter
    def auto_download(self, value: bool) -> None:
        self._sync.auto_download = value

    @property
    def notify_text(self) -> bool:
        """Whether a front end may show a message's text in a desktop notification (default False: "New message"
        only). Kept in the profile's sealed store, so it holds for every front end and survives a restart."""
        return self._store.get_meta_int(_M_NOTIFY_TEXT, 0) == 1

    @notify_text.setter
    def notify_text(self, value: bool) -> None:
        self._store.set_meta_int(_M_NOTIFY_TEXT, int(value))

    @property
    def catch_up_interval_s(self) -> float:
        """Seconds between catch-up pulls while the live connection is open."""
        return self._sync.catch_up_interval_s

    @catch_up_interval_s.setter
    def catch_up_interval_s(self, value: float) -> None:
        self._sync.catch_up_interval_s = value

    def create_recovery(self) -> tuple[str, bytes]:
        """Make a recovery code and the encrypted backup of this profile's keys that it opens.

        Returns ``(code, backup)``. Show the code to the person once, and have them keep it apart from the
        device (on paper, in a password manager); store ``backup`` off the device (a USB stick, the
        practice's file storage). Neither is kept here, and each call makes a new pair (older pairs keep
        working: they open backups of the same keys). The backup holds keys only, not messages: see
        :meth:`restore` for what a restored profile has and what it lacks.

        The code also derives the identity's *recovery authority* key. Once the code and backup are safely kept,
        call :meth:`register_recovery_key` with the code: the relay then keeps its public half, and a device
        restored from this backup signs with it the device list that adds it. The newest registered code is the one
        the relay knows; an older code still opens its own backup, but its restore then needs the device it was
        made on to be still on the list.
        """
        return create_recovery(self._keys, rng=self._rng)

    async def register_recovery_key(self, code: str | None = None) -> bool:
        """Give the relay the public recovery authority key of ``code`` (a code :meth:`create_recovery` made, once it
        is safely kept), or, with no code, the one a previous call could not send; returns whether one was sent
        now. A relay that cannot be reached now gets it at the next :meth:`sync`.

        Raises:
            InvalidRecoveryCode: ``code`` is not a recovery code.
            RelayError, DeviceRemoved: refused (with a ``code``, it is kept and retried by :meth:`sync`).
        """
        if code is not None:
            public = recovery_authority(_recovery_code_text(code)).public_key().public_bytes_raw()
            with self._store.transaction():
                self._store.set_meta(_M_RECOVERY_KEY_PENDING, public)
        public_pending = self._store.get_meta(_M_RECOVERY_KEY_PENDING)
        if public_pending is None:
            return False
        try:
            await self._relay.put_recovery_key(public_pending)
        except RelayUnreachable:
            return False
        with self._store.transaction():
            if self._store.get_meta(_M_RECOVERY_KEY_PENDING) == public_pending:  # no newer code meanwhile
                self._store.delete_meta(_M_RECOVERY_KEY_PENDING)
        return True

    def practice_admin(self) -> PracticeAdmin:
        """The practice's own side (:class:`~confide.client.practice.PracticeAdmin`: policy, credentials,
        publishing, report review), for a profile made with ``role="practice"``.

        Raises:
            NotAPractice: this profile's role is not ``practice``.
        """
        if self.role != Role.PRACTICE:
            raise NotAPractice("this profile is not a practice's; create one with 'confide practice init'")
        registered = self._account.ensure_registered
        return PracticeAdmin(self._store, self._keys.identity, self._relay, rng=self._rng, ensure_registered=registered)

    def invite_code(self) -> str:
        """The invite code (address + delivery token) to give to someone who should be able to write here."""
        return self._account.invite_code()

    # -- own credential, availability card and contact card ---------------------------------------------
    async def import_credential(self, data: bytes, *, now: int | None = None) -> CredentialInfo:
        """Keep the credential a practice issued to this profile (the file ``confide practice issue`` wrote);
        it goes into every contact card from now on. The issuing practice is trusted too when it is not yet
        (:meth:`Practices.trust` by its address; when the relay cannot give its policy now, the credential is
        kept all the same: trust it later with ``confide practices trust``).

        Raises:
            DocumentError (a ProtocolError): not a signed credential, forged, or past its expiry.
            CredentialError: it names another identity than this profile's. Nothing is stored then.
        """
        info = self._cards.import_credential(data, now=now)
        if not any(p.address == info.practice_address for p in self._practices.list(now=now)):
            with contextlib.suppress(ClientError, ProtocolError):  # kept; trusting can be done later
                await self._practices.trust(info.practice_address, now=now)
        return info

    def credential(self, *, now: int | None = None) -> CredentialInfo | None:
        """This profile's own credential (None: none imported, or past its document's expiry)."""
        return self._cards.credential(now=now)

    def availability_card(self, *, now: int | None = None) -> AvailabilityInfo | None:
        """This profile's current availability card as published (None: none, or past its expiry)."""
        return self._cards.availability(now=now)

    async def set_availability(
        self,
        *,
        time_zone: str | None = None,
        hours: tuple[OfficeHours, ...] | None = None,
        reply_within_s: int | None = None,
        away: object = KEEP_AWAY,
        away_note: str | None = None,
        now: int | None = None,
    ) -> AvailabilityInfo:
        """Sign and publish a new availability card: what is not given is kept from the current one (``away``:
        an :class:`AwayNote`, None to clear it, or left out to keep it, then ``away_note`` replaces its note),
        so an update is one call; returns the card as published. It is kept
        here only once the relay accepted it; it expires after
        :data:`~confide.client.card.AVAILABILITY_LIFETIME_S` (call again to re-sign it).

        Raises:
            ValueError: an unknown time zone, bad hours or reply time, or a field missing without a current
                card. RelayUnreachable, RelayError: not published; nothing changed.
        """
        return await self._cards.update_availability(
            time_zone=time_zone, hours=hours, reply_within_s=reply_within_s, away=away, away_note=away_note, now=now
        )

    def contact_card(self, *, now: int | None = None) -> bytes:
        """This profile's signed contact card: invite, franking key binding, current credential and
        availability card. Whoever holds it can write here (like the invite code): give it only to those who
        should. :func:`~confide.protocol.contact_card.card_text` gives its ``CONFIDE-CARD1:`` text."""
        return self._cards.contact_card(now=now)

    def add_contact_card(self, name: str, card: bytes | str, *, now: int | None = None) -> tuple[Contact, CardAdded]:
        """Add (or update) a contact from their contact card (its bytes, or its ``CONFIDE-CARD1:`` text) like
        :meth:`add_contact` from an invite, and keep their credential, availability card (never replacing a
        newer one) and franking key binding. Returns the contact and what the card brought.

        Raises:
            ContactCardError (a ProtocolError): not a card, damaged, altered or forged; nothing was stored.
            ContactExists: the card's address belongs to another contact. ValueError: empty name.
        """
        added = self._cards.add_from_card(name, card, now=now)
        rec = self._messaging.accept_request(self._contacts.find(added.contact.name))
        return self.contact(Address(rec.address).text), added

    # -- events ---------------------------------------------------------------------------------------
    def on(self, event_type: type, callback: Hook) -> None:
        """Call ``callback(event)`` for every event of ``event_type`` (e.g. ``PrekeysLow``,
        ``IdentityChanged``, ``RelayOffline``). The callback may be a coroutine function; its task is
        tracked and forgotten when it finishes. A message handed to a hook counts as reported."""
        self._bus.add_hook(event_type, callback)

    async def events(self, *, listen: bool = True) -> AsyncGenerator[Event, None]:
        """Yield events as they happen until the client is closed.

        With ``listen=True`` (default) this also starts the background work of a long-running client: the
        WebSocket receive loop (reconnecting with capped exponential back-off; :class:`Connected` each time
        it is up and caught up), the expiry sweep, outbox retries and prekey checks.
        """
        q = self._bus.subscribe()
        if listen:
            self.start()
        try:
            while True:
                event = await q.get()
                if event is None:
                    return
                if isinstance(event, MessageReceived) and not self._sync.take_for_reader(event):
                    continue  # a sync() running meanwhile returned it already
                yield event
        finally:
            self._bus.unsubscribe(q)

    def start(self) -> None:
        """Start background work (idempotent): live receiving, expiry sweep, outbox and prekey upkeep."""
        if not self._closed:
            self._sync.start()

    async def sync(self) -> list[Event]:
        """Catch up: post queued envelopes, fetch and process everything the relay holds, acknowledge it,
        refill prekeys if needed and delete expired messages. Returns the events this produced; a message
        stored by an earlier ``sync()`` that then failed is returned by the next one (every stored message
        is reported exactly once).

        Raises:
            RelayUnreachable, RelayError; StorageError (the local store failed: nothing that was not stored
            was acknowledged, so the relay still holds it).
        """
        events = await self._sync.sync()
        with contextlib.suppress(RelayUnreachable, RelayError):  # kept documents serve; the next sync retries
            await self._practices.refresh_due()
        with contextlib.suppress(RelayUnreachable, RelayError):  # the card held stays; the next sync retries
            await self._cards.renew_due()
        return events

    # -- linking a device (see :mod:`confide.client.linking`) -------------------------------------------
    async def approve_device(
        self, code: str, *, history: bool = True, progress: ProgressCallback | None = None
    ) -> DeviceInfo:
        """Approve the new device that shows ``code`` (typed, or the text of its QR code) as one of this identity's
        devices; returns it as :meth:`devices` lists it. Both devices must be at it (the code lives ten minutes).
        The code authenticates the exchange end to end: only after the new device proved it holds the same code is
        the new signed device list published (the relay then accepts the device, and contacts learn of it); then
        the new device gets the identity, the contacts and, with ``history``, the last
        :data:`~confide.protocol.history.HISTORY_DAYS` days of texts and files (encrypted as one blob; the relay
        sees its size only, and it is deleted as soon as the new device took it). ``progress(done, total)``
        follows the history's preparation and upload.

        Raises:
            InvalidLinkCode: the code is mistyped (nothing was sent).
            LinkCodeCheckFailed: the new device shows another code, or someone interfered (nothing changed).
            LinkFailed: timed out, the new device gave up, another device answered the code first, or a message
                was altered (nothing changed).
            TooManyDevices: this identity has :data:`~confide.protocol.device_list.MAX_DEVICES` devices already.
            ClientError: a practice's profile (it has one device).
            RelayUnreachable, RelayError, DeviceRemoved: the new list could not be published (nothing changed).
        """
        if self.role not in (Role.CLIENT, Role.THERAPIST):
            raise ClientError("a practice's profile stays on one device; it cannot link another")

        async def upload(progress_: ProgressCallback | None) -> HistorySent:
            self._expiry.before_read()  # what expired is not sent
            return await send_history(self._store, self._paths.tmp, self._relay, rng=self._rng, progress=progress_)

        approval = Approval(
            self._keys.identity, self._relay, self._devices, self._provisioning, upload if history else None
        )
        return await approve_device(code, approval, rng=self._rng, progress=progress)

    def _provisioning(self, device_list: bytes) -> Provisioning:
        """What a newly linked device gets: this identity, the token key, the introduction token, the role, the
        new device list and a snapshot of every contact whose identity is known."""
        snapshots = [self._messaging.self_sync.snapshot_of(rec) for rec in self._store.contacts()]
        role = ProvisionedRole.THERAPIST if self.role == Role.THERAPIST else ProvisionedRole.CLIENT
        return Provisioning(
            self._keys.identity.private_bytes(),
            self._account.token_key(),
            self._account.token(),
            role,
            device_list,
            contact_bodies([s for s in snapshots if s is not None][:MAX_CONTACTS]),
        )

    def _adopt_provisioned(self, provisioned: Provisioned, device_name: str) -> None:
        """A linked device, before it registers: take the identity's device list, token key, introduction token
        and contacts from the device that approved it, and name this device."""
        prov = provisioned.provisioning
        self._account.adopt_token_key(prov.token_key)
        self._account.adopt_intro_token(prov.intro_token)
        self._devices.accept_own(prov.device_list, source="device that approved this one")
        self._devices.rename(self.device_id, device_name)
        applier = SelfSyncApplier(self._store, self._contacts, self._expiry)
        with self._store.transaction():
            for snapshot in contact_snapshots(prov.contacts):
                applier.apply_snapshot(snapshot)

    async def _take_history(self, offer: HistoryOffer, progress: ProgressCallback | None) -> int:
        """Download, verify and store the history the device that linked this one offered; returns how many
        messages were stored (:attr:`history_imported`).

        Raises:
            HistoryTransferFailed: too large, altered, damaged or not storable (what was stored before a parse
                failure stays). RelayUnreachable, RelayError: the download failed. StorageError.
        """
        self._history_imported = await receive_history(
            self._store, self._paths.tmp, self._relay, offer, rng=self._rng, progress=progress
        )
        return self._history_imported

    @property
    def history_imported(self) -> int:
        """How many messages this profile took from the device that linked it (0: none, or not linked here in
        this session)."""
        return self._history_imported

    async def _announce_own_list(self) -> None:
        """Send this identity's device list to its other devices (sessions with them were started when this device
        registered), as a DEVICES content; a relay that cannot be reached leaves it queued for the next sync."""
        own = self._devices.own_list()
        if own is not None:
            await self._messaging.send_device_list(own.to_bytes())

    async def _list_restored(self, lost: DeviceKeyPair, authority: Ed25519PrivateKey) -> None:
        """A restored device, before it registers: add it to the identity's device list (origin ``restored``) and
        publish it. The relay takes that list from a device it does not know only with the identity's recovery
        authority (``authority``, from the recovery code; registered by :meth:`register_recovery_key`), or signed by
        a registered device: when the relay does not know this code, the backup's own device (``lost``), if it is
        still on the list. When the relay holds no list yet, ``lost`` is listed first (it is
        the identity's device that registered) and signs it; when the relay does not know the identity at all,
        this device registers as its first.

        Raises:
            DeviceRemoved: the relay does not know this code's recovery key (never registered, or replaced by a
                newer code's) and the backup's device was removed: nothing can vouch for this device.
            TooManyDevices, RelayUnreachable, RelayError, DeviceListRejected.
        """
        address = self._keys.identity.address
        raw = await self._relay.get_document(address, DEVICES_KIND)
        if raw is None:
            now = int(time.time())
            try:
                await self._devices.publish_own(
                    lambda old: old or (DeviceEntry(lost.certificate, now, DeviceOrigin.FIRST),), authority=lost
                )
            except RelayError as exc:
                if exc.status == HTTPStatus.FORBIDDEN:  # the relay knows no device of this identity (SPEC 12)
                    return  # so this device registers as the identity's first
                raise
        else:
            self._devices.accept_own(raw, source="relay")
        mine = self._keys.device.certificate
        try:
            await self._devices.add_device(mine, DeviceOrigin.RESTORED, authority=authority)
        except RelayError as exc:
            if exc.status not in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                raise
            try:  # no recovery key registered, or a newer code's: the backup's own device may still vouch
                await self._devices.add_device(mine, DeviceOrigin.RESTORED, authority=lost)
            except DeviceRemoved as removed:
                raise DeviceRemoved(
                    "the relay does not know this recovery code (a newer one replaced it, or it was never registered) "
                    "and the device it was made on was removed since, so nothing can vouch for this device: link it "
                    "from one of your devices ('confide devices link'), or make a new recovery code there; nothing "
                    "was created"
                ) from removed

    # -- this identity's devices ----------------------------------------------------------------------
    @property
    def device_id(self) -> str:
        """This device's id (32 hex digits), as :meth:`devices` lists it."""
        return self._keys.device.device_id.hex()

    def devices(self) -> list[DeviceInfo]:
        """This identity's devices (its signed device list), in the order they were added, with their local
        names; just this device while no list is known."""
        return self._devices.list()

    async def remove_device(self, device_id: str) -> None:
        """Remove one of this identity's other devices: a new signed list without it is published, the relay
        closes its mailbox and refuses it, and contacts stop encrypting to it once they see the list (it is sent
        to them). A lost or stolen device that is unlocked still holds the identity key: make a new recovery code.

        Raises:
            ClientError: not a device id of this identity, or this device (remove it from another device, or
                wipe it). RelayUnreachable, RelayError, DeviceRemoved: nothing changed.
        """
        await self._devices.remove_device(device_id)
        with contextlib.suppress(RelayUnreachable, RelayError):  # the sessions are pruned before any request
            await self._sessions.ensure_own()

    def rename_device(self, device_id: str, name: str) -> DeviceInfo:
        """Give one of this identity's devices a local name (never published: contacts do not learn it).

        Raises:
            ClientError: no device of this identity has this id. ValueError: an empty, too long or control name.
        """
        return self._devices.rename(device_id, name)

    async def _lists_after_removal(self, contact_ids: set[str]) -> None:
        """Fetch these device lists again (a contact's, or this identity's own for ``"self"``) and bring the
        sessions in line: the relay said a device these threads were sealed to was removed (nothing more is
        encrypted to it), or a message came from a device the kept list does not name (it may be new). A failure
        is logged: the next list check or DEVICES content does it."""
        for contact_id in contact_ids:
            try:
                if contact_id == SELF:
                    await self._devices.ensure_own_list()
                    await self._sessions.ensure_own()
                    continue
                rec = self._store.contact(contact_id)
                if rec is not None:
                    await self._devices.refresh(rec)
                    await self._sessions.ensure_devices(rec)
            except (RelayUnreachable, RelayError, ProtocolError, DeviceListRejected) as exc:
                _log.info("device list not fetched after a removal: %s", type(exc).__name__)

    async def _devices_upkeep(self) -> None:
        """This identity's device list (published or fetched, renewed) and the sessions with its other devices.
        A relay that cannot be reached, refuses, or serves unusable keys is logged and retried by the next sync.

        Raises:
            DeviceRemoved: this device is no longer on its identity's list.
        """
        try:
            await self._devices.upkeep()
            await self._sessions.ensure_own()
            await self.register_recovery_key()
        except (RelayUnreachable, RelayError, ProtocolError, DeviceListRejected) as exc:
            _log.info("device list upkeep failed: %s", type(exc).__name__)

    async def maintain_prekeys(self, *, now: int | None = None) -> PrekeysLow | None:
        """Check the relay's stock of this device's prekeys and the signed prekey's age; refill and rotate
        as :func:`confide.keys.prekeys.plan_refill` decides. Returns the :class:`PrekeysLow` event emitted,
        if anything was uploaded."""
        return await self._account.maintain_prekeys(now=now)

    # -- contacts and trust ---------------------------------------------------------------------------
    def contacts(self) -> list[Contact]:
        """All contacts, sorted by name, each with what trusted practices say of them (:attr:`Contact.provider`)."""
        return [self._practices.with_provider(c) for c in self._contacts.all()]

    def contact(self, peer: str) -> Contact:
        """One contact, with :attr:`Contact.provider`. Raises :class:`UnknownContact`."""
        return self._practices.with_provider(public_contact(self._contacts.find(peer)))

    def add_contact(self, name: str, invite: str, *, token: bytes | None = None) -> Contact:
        """Add (or update) a contact from an invite code, or from an address text plus its ``token``.

        Giving an existing contact's name a *different* address records an identity change: sending is
        blocked until :meth:`accept_identity` or :meth:`verify`.

        Adding the invite of the identity already pinned rejects a pending change (see
        :meth:`reject_identity`); adding the invite of someone who wrote first accepts their request.

        Raises:
            InvalidInvite, InvalidAddress: the code or address is mistyped.
            ContactExists: the address already belongs to a contact with another name.
            ValueError: empty name.
        """
        contact = self._contacts.add(name, invite, token=token)
        rec = self._messaging.accept_request(self._contacts.find(contact.address))
        return self._practices.with_provider(public_contact(rec))

    # -- trusted practices (the reader's side: provider state, directory, availability, crisis notice) ------
    async def trust_practice(self, pin: str, *, now: int | None = None) -> PracticeInfo:
        """Trust (pin) the practice whose address ``pin`` gives (the address, a file holding it, or its QR
        code's text) and fetch its policy, directory and revocation list; again for a trusted one refreshes it.

        Raises:
            InvalidAddress: no address in ``pin``. PracticeUnavailable: the relay holds no valid policy signed by
                that address (nothing is trusted). RelayUnreachable, RelayError.
        """
        return await self._practices.trust(pin, now=now)

    def forget_practice(self, practice: str) -> None:
        """Stop trusting a practice (by name or address): its documents leave this device.

        Raises:
            UnknownPractice.
        """
        self._practices.forget(practice)

    def practices(self, *, now: int | None = None) -> list[PracticeInfo]:
        """The trusted practices with their documents' versions and expiries and current warnings."""
        return self._practices.list(now=now)

    async def refresh_practices(self, *, now: int | None = None) -> list[PracticeWarning]:
        """Fetch every trusted practice's documents and each credentialed contact's availability card (also
        done by :meth:`sync` every :data:`~confide.client.practices.REFRESH_INTERVAL_S`). A document older than
        one seen (a relay replaying) or that does not verify is refused and reported; nothing else changes.

        Raises:
            RelayUnreachable, RelayError.
        """
        return await self._practices.refresh(now=now)

    def directory(self, practice: str, *, now: int | None = None) -> list[Listing]:
        """The therapists a trusted practice lists, numbered from 1, with credential status and availability.

        Raises:
            UnknownPractice.
        """
        return self._practices.directory(practice, now=now)

    def start_from_directory(self, practice: str, listing: str | int, name: str, *, now: int | None = None) -> Contact:
        """Add the therapist numbered ``listing`` (or with that credential id) in a trusted practice's directory
        as the contact ``name``, keeping their credential and availability card.

        Raises:
            UnknownPractice, UnknownListing; ClientError: the directory gives no way to write to them;
            ContactExists; ValueError: empty name.
        """
        return self._practices.start_from_directory(practice, listing, name, now=now)

    def availability(self, peer: str, *, now: int | None = None) -> Availability | None:
        """How the contact's availability card reads now in this device's time zone (its ``line`` to show when
        writing, ``in_office_hours``); None without a current card signed by them. Raises UnknownContact."""
        return self._practices.availability(self._contacts.find(peer), now=now)

    def crisis_notice(self, peer: str, *, now: int | None = None) -> CrisisNotice | None:
        """The crisis notice of the trusted practice that names the contact (show it on a thread's first message
        and when ``in_office_hours`` is False); None when no trusted practice names them. Raises UnknownContact."""
        return self._practices.crisis_notice(self._contacts.find(peer), now=now)

    def rename_contact(self, peer: str, new_name: str) -> Contact:
        """Give a contact another local name (which also accepts a request). Raises :class:`UnknownContact`,
        :class:`ContactExists`."""
        contact = self._contacts.rename(peer, new_name)
        rec = self._messaging.accept_request(self._contacts.find(contact.address))
        return self._practices.with_provider(public_contact(rec))

    def remove_contact(self, peer: str, *, delete_records: bool = False) -> None:
        """Remove a contact and everything of theirs from this device: the thread with its attachment files,
        the sessions, anything still queued to them. Their sealed bytes leave every file of the profile
        before this returns (as after any deletion). What they send on their old session afterwards cannot be
        read (a :class:`MessageUndecryptable` names their address); they would have to be added again.

        Their record (messages filed with :meth:`file`) is KEPT: clinical records outlive the thread. It stays
        reachable by their address (:meth:`records`, :meth:`export_records`); ``delete_records=True`` deletes it
        too, rows and files, gone from every file like the thread. A panic wipe destroys it in any case.

        Raises:
            UnknownContact.
        """
        rec = self._contacts.find(peer)
        thread = self._store.thread(rec.contact_id)
        with self._store.transaction():
            self._store.delete_contact(rec.contact_id)
        for message in thread:
            self._expiry.remove_attachment_file(message)
        if delete_records:
            self._filing.delete_record_of(rec.address)

    def accept_contact(self, peer: str) -> Contact:
        """Accept a contact that a stranger's first message created (:attr:`Contact.request`): from now on
        delivery and read receipts are sent, starting with those held back (queued; they go out with the next
        sync or flush). Replying, renaming them or adding their invite accepts them too."""
        return self._practices.with_provider(public_contact(self._messaging.accept_request(self._contacts.find(peer))))

    async def block(self, peer: str, *, rotate_invite: bool = False) -> Contact:
        """Block one contact: the relay refuses their delivery token (their messages end ``failed``, "delivery
        token not accepted"), and whatever still reaches this device from them (through the invite's token, or
        a relay that ignores the block) is dropped unread, with no receipt, event or trace in the store. Every
        other contact keeps writing as before. You can still write to them; their replies are refused.
        ``rotate_invite`` also replaces your invite code (:meth:`invite_code` gives the new one), so they cannot
        start again from the old one; contacts who still write with the old code (those not sent a message
        since this version) are refused too until your next message to them. Removing a blocked contact
        (:meth:`remove_contact`) ends the block: what they send then arrives as from a stranger.

        Raises:
            UnknownContact. RelayUnreachable, RelayError: blocked on this device already; the relay is told by
                the next :meth:`sync`.
        """
        return self._practices.with_provider(await self._blocking.block(peer, rotate_invite=rotate_invite))

    async def unblock(self, peer: str) -> Contact:
        """Unblock a contact: they get a fresh delivery token, registered now and sent with your next message
        to them; from then on their messages are delivered and shown again.

        Raises:
            UnknownContact. RelayUnreachable, RelayError: unblocked on this device; the relay is told by the next
                :meth:`sync`.
        """
        return self._practices.with_provider(await self._blocking.unblock(peer))

    async def start_thread(self, peer: str) -> Contact:
        """Fetch the peer's prekey bundles and run key agreement with each device that has no session yet.

        The first identity seen is pinned (unverified); a different one marks the contact changed.

        Raises:
            UntrustedIdentity: the identity differs from the pinned one.
            RelayUnreachable, RelayError, RemoteProtocolError: fetching or checking keys failed.
        """
        return self._practices.with_provider(public_contact(await self._sessions.start(self._contacts.find(peer))))

    async def safety_number(self, peer: str) -> SafetyNumber:
        """The safety number of this profile and ``peer`` (fetching the peer's keys if none are known).

        After an identity change it is the number for the *new* identity, the one to verify.
        """
        return await self._trust.safety_number(peer)

    async def verify(self, peer: str, scanned_payload: bytes) -> Contact:
        """Compare a scanned safety-number QR payload; on a match mark the contact verified (accepting a
        changed identity).

        Raises:
            VerificationFailed: the payload is for other keys, another version, or not a payload at all.
        """
        return self._practices.with_provider(await self._trust.verify(peer, scanned_payload))

    def mark_verified(self, peer: str) -> Contact:
        """Mark a contact verified after comparing the safety-number digits in person or on a call."""
        return self._practices.with_provider(self._trust.mark_verified(peer))

    def accept_identity(self, peer: str) -> Contact:
        """Accept a contact's changed identity (as unverified) so that sending works again."""
        return self._practices.with_provider(self._trust.accept(peer))

    def reject_identity(self, peer: str) -> Contact:
        """Reject a contact's pending identity change and keep the identity pinned before it.

        Until the user accepts or rejects a change, the new identity cannot act on the thread (its receipts,
        timer changes and deletions are ignored) and its messages are named by its own address. Rejecting
        moves what it wrote to a contact of its own, named by its address; sending to ``peer`` works again.
        """
        return self._practices.with_provider(self._trust.reject(peer))

    # -- sending --------------------------------------------------------------------------------------
    async def send_text(self, peer: str, text: str, *, expire_after_s: int | None = None) -> Message:
        """Send a text message. ``expire_after_s`` overrides the thread timer for this message (0 = keep).

        Returns the stored message: ``sent``, ``pending`` (the relay is unreachable or busy; it is sent on
        the next sync) or ``failed`` (refused for good; ``failure`` says why).

        Raises (and then nothing was kept):
            UntrustedIdentity, UnknownContact; ClientError when the text is too long; RelayUnreachable,
            RelayError when this is the first message and the peer's keys cannot be fetched.
        """
        return await self._messaging.send_text(peer, text, expire_after_s=expire_after_s)

    async def send_file(
        self,
        peer: str,
        path: str | os.PathLike[str],
        *,
        mime: str | None = None,
        caption: str = "",
        expire_after_s: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Message:
        """Encrypt and upload a file of any size (streaming), then send its pointer.

        ``progress(done, total)`` is called while encrypting (plaintext bytes) and uploading (blob bytes).
        Returns the stored message like :meth:`send_text`. If the relay cannot be reached for the upload, the
        encrypted file is kept in the profile and the message is ``pending``: the next :meth:`sync` uploads it
        and sends it.

        Raises (and then nothing was kept):
            AttachmentError: unreadable or too large a file; RelayError: the relay refused the upload; plus what
            :meth:`send_text` raises (RelayUnreachable when this is the first message to the contact).
        """
        return await self._messaging.send_file(
            peer, path, mime=mime, caption=caption, expire_after_s=expire_after_s, progress=progress
        )

    async def retry(self, message_id: str) -> Message:
        """Send again one of your messages that the relay refused for good (status ``failed``): the same
        message (id, text or file, timer), re-encrypted on the current session, queued and posted now.
        Returns the stored message like :meth:`send_text`.

        Raises:
            UnknownMessage: no such message of yours. ClientError: it is not ``failed``.
            UntrustedIdentity; RelayUnreachable, RelayError when there is no session and the peer's keys
            cannot be fetched (it stays ``failed``).
        """
        return await self._retry.retry(message_id)

    async def set_timer(self, peer: str, seconds: int) -> Contact:
        """Set the thread's disappearing timer (0 = off); the peer sees the change as a message too."""
        return self._practices.with_provider(await self._messaging.set_timer(peer, seconds))

    async def delete_for_everyone(self, peer: str, message_id: str) -> bool:
        """Delete one of your own messages here and on the peer's devices. Returns True when the peer had told
        us they filed it into their record (:attr:`Message.filed_by_peer`): their thread copy goes, but the filed
        copy remains in their record, and their client confirms it with a :class:`FiledCopyKept` event.

        Raises:
            UnknownMessage: no such message of yours in this thread.
            RelayError: the relay refused the deletion for good (the message is kept here).
        """
        self._expiry.before_read()
        return await self._messaging.delete_for_everyone(peer, message_id)

    # -- records (filing in the open) -----------------------------------------------------------------
    async def file(self, peer: str, message_id: str) -> RecordEntry:
        """File a text or file of the thread with ``peer`` (either direction) into your record of them: a copy
        on this device that no disappearing timer, delete for everyone or thread deletion removes (a file's
        bytes are re-encrypted under the record's own key). They are told (their thread shows the message as
        "filed in your record by YOU"): nothing is filed silently. Filing a message twice returns its record.

        Raises:
            UnknownContact; UnknownMessage: no such live message in this thread. ClientError: not a text or a
            file, or the contact cannot be written to. UntrustedIdentity; AttachmentError; RelayUnreachable,
            RelayError (a file not downloaded yet, or no session yet). Nothing was filed or sent then.
        """
        self._expiry.before_read()
        return await self._filing.file(peer, message_id)

    def records(self, peer: str) -> list[RecordEntry]:
        """Your record of ``peer`` (a contact's name or address, or the address of a removed contact whose
        record was kept), in the order the messages were filed.

        Raises:
            UnknownContact: no contact and no kept record matches.
        """
        return self._filing.records(peer)

    def export_records(self, peer: str, path: str | os.PathLike[str], *, overwrite: bool = False) -> int:
        """Write your record of ``peer`` as JSON (``"format": "confide-records-export-v1"``) for the practice's
        records system; returns the number of filed copies written. NOT encrypted. The file is new, mode 0600,
        written whole or not at all, never through a symlink (like :meth:`export_thread`).

        Raises:
            UnknownContact; FileExistsConflict: something is at ``path`` and ``overwrite`` is False (nothing was
            written); OSError: the file cannot be written.
        """
        return self._filing.export(self.address, peer, path, overwrite=overwrite)

    async def save_record_file(
        self, peer: str, message_id: str, path: str | os.PathLike[str], *, overwrite: bool = False
    ) -> Path:
        """Decrypt a filed file of your record of ``peer`` to ``path`` (a file, or a folder to put it in under
        its name); 0600, never over an existing file unless ``overwrite``. Returns the path written.

        Raises:
            UnknownContact; UnknownMessage: no filed message with that id in the record. AttachmentError: it has
            no file, failed its integrity check, or cannot be written. FileExistsConflict.
        """
        return await self._filing.save_file(peer, message_id, path, overwrite=overwrite)

    # -- reporting (franked messages) -----------------------------------------------------------------
    def report(self, peer: str, message_id: str) -> bytes:
        """The report file (SPEC 13.9) of a message received from ``peer`` (:attr:`Message.reportable`): the
        message's exact bytes, its franking, both identities with their franking key bindings and the time.
        Send it to the practice it was franked for (:meth:`report_practice`); only that practice's moderation
        key can check it, and to anyone else it proves nothing.

        Raises:
            UnknownContact; UnknownMessage: no such live message in this thread. NotReportable: a message you
            sent, or one not franked for the moderation key of a practice you trust (or whose franking did not
            verify when it arrived). StorageError.
        """
        self._expiry.before_read()
        return self._reporting.report(peer, message_id, now_s=int(time.time()))

    def report_practice(self, peer: str, message_id: str) -> str | None:
        """The name (from its signed policy: the practice's own words, escape before display) of the trusted
        practice a reportable message was franked for: where to send its report. None when no practice you trust
        now has that moderation key (you stopped trusting it, or it changed its key).

        Raises:
            What :meth:`report` raises.
        """
        self._expiry.before_read()
        judge = self._reporting.judge_of(peer, message_id)
        address = self._practices.practice_of_judge(judge)
        if address is None:
            return None
        pinned = Address(address).text
        return next((p.name for p in self._practices.list() if p.address == pinned), None)

    def export_report(
        self, peer: str, message_id: str, path: str | os.PathLike[str], *, overwrite: bool = False
    ) -> str | None:
        """Write the report file of a reportable message (:meth:`report`) to ``path``: new, mode 0600, written
        whole or not at all, never through a symlink (like :meth:`export_thread`). Returns
        :meth:`report_practice`: the practice to send it to.

        Raises:
            What :meth:`report` raises; FileExistsConflict: something is at ``path`` and ``overwrite`` is False
            (nothing was written); OSError: the file cannot be written.
        """
        data = self.report(peer, message_id)
        practice = self.report_practice(peer, message_id)
        write_private(Path(path), lambda fh: fh.write(data), overwrite=overwrite)
        return practice

    def delete_message(self, message_id: str) -> None:
        """Delete a message (and its attachment file) from this device only. Its sealed row and attachment
        bytes are in no file of the profile when this returns.

        Raises:
            UnknownMessage: no such message (mistyped, expired or deleted).
        """
        self._expiry.before_read()
        self._messaging.delete_message(message_id)

    async def flush_outbox(self) -> list[RelayError]:
        """Post queued envelopes in order; returns the relay's refusals.

        A transient refusal (429 rate limit or full mailbox, 503 busy, 507 out of storage) stops the flush and keeps
        that envelope and the rest queued for the next sync; any other refusal drops the envelope and marks its
        message ``failed``.

        Raises:
            RelayUnreachable: the relay is down; what is left stays queued.
        """
        return await self._outbox.flush()

    def queued(self) -> list[QueuedItem]:
        """What is still waiting in the outbox, oldest first (messages and control messages)."""
        return self._outbox.queued({c.contact_id: c.name for c in self._store.contacts()})

    # -- reading --------------------------------------------------------------------------------------
    def history(self, peer: str) -> list[Message]:
        """The thread with ``peer``, oldest first. What expired is deleted first and never returned, whether or
        not the relay can be reached. Raises :class:`UnknownContact`."""
        return self._messaging.history(peer)

    def threads(self, *, now_ms: int | None = None) -> list[ThreadSummary]:
        """The inbox: every contact's thread with its newest message, unread count and since when they have been
        waiting for your reply (:class:`ThreadSummary`), the most recent activity first, then threads without
        messages by name. What expired is deleted first and never counted or shown.

        The first call (after opening or unlocking) opens every message once to build an index held in memory
        only (never written to a file; dropped when the client closes); later calls read only what changed
        since, whether this process or another one on the same profile changed it (:mod:`confide.client.threads`).
        While :meth:`prepare_index` builds it in the background, each thread's line is read from its newest
        messages back to its last one already read, without waiting for the build.

        Raises:
            StorageError: a stored message or contact is damaged.
        """
        self._expiry.before_read()
        now = int(time.time() * 1000) if now_ms is None else now_ms
        contacts = [
            (r, replace(public_contact(r), provider=self._practices.provider_of(r))) for r in self._store.contacts()
        ]
        return self._threads.summaries(contacts, now)

    def prepare_index(self) -> None:
        """Start building the index :meth:`threads` and :meth:`search` answer from, in the background, a page of
        messages at a time (:meth:`~confide.client.threads.Threads.prepare`), so that a front end's first inbox is
        quick and the event loop stays free meanwhile (idempotent). A long-running front end calls it once
        unlocked; without it the first :meth:`threads` builds the index itself. A damaged row stops the build
        quietly; the first :meth:`threads` then raises :class:`StorageError`.
        """
        if self._closed or self._index_task is not None:
            return
        task = asyncio.get_running_loop().create_task(self._threads.prepare(), name="confide-index")
        task.add_done_callback(_log_index_failure)
        self._index_task = task

    def search(self, query: str, *, limit: int = DEFAULT_SEARCH_LIMIT, now_ms: int | None = None) -> list[Message]:
        """Messages of every thread whose text, caption or file name contains ``query``, ignoring case, newest
        first, at most ``limit``; none for a blank query. A deleted or expired message is never found (the index
        :meth:`threads` describes follows deletions before answering).

        Raises:
            ClientError: the query is longer than :data:`~confide.client.threads.MAX_SEARCH_QUERY_CHARS`.
            ValueError: ``limit`` is below 1.
            StorageError: a stored message is damaged.
        """
        self._expiry.before_read()
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return self._threads.search(query, self._store.contacts(), now, limit=limit)

    async def mark_read(self, peer: str, *, now_ms: int | None = None) -> int:
        """Mark the peer's unread messages read: starts their disappearing timers and sends READ receipts.

        Returns how many messages were marked.
        """
        return await self._messaging.mark_read(peer, now_ms=now_ms)

    def expire_now(self, now_ms: int | None = None) -> list[str]:
        """Delete every message whose timer has run out (and its attachment file); returns their ids."""
        return self._expiry.expire_now(now_ms)

    # -- attachments ----------------------------------------------------------------------------------
    async def download_attachment(self, message_id: str) -> Message:
        """Download, verify and keep (encrypted) the attachment of a received message.

        Raises:
            UnknownMessage: no such message (mistyped, expired or deleted); AttachmentError, RelayUnreachable,
            RelayError.
        """
        self._expiry.before_read()
        msg = await self._attachments.download(message_id)
        return public_message(msg, self._contacts.name_of(msg.contact_id))

    async def save_attachment(self, message_id: str, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Decrypt an attachment to ``path`` (a file, or a directory to put it in under its name): a received one, or
        one of your own (sent here or from another of your devices) while the relay still holds it.

        Downloads it first if needed. Returns the path written. The file is new, mode 0600, written to a
        temporary file beside it, fsynced and renamed into place; a symlink at the destination is never
        followed.

        Raises:
            FileExistsConflict: something is already at the destination and ``overwrite`` is False; nothing
                was written. With ``overwrite=True`` it is replaced (by a new 0600 file).
            UnknownMessage: no such message (mistyped, expired or deleted); AttachmentError,
                RelayUnreachable, RelayError.
        """
        self._expiry.before_read()
        return await self._attachments.save(message_id, path, overwrite=overwrite)

    # -- export and wipe ------------------------------------------------------------------------------
    def export_thread(self, peer: str, path: str | os.PathLike[str], *, overwrite: bool = False) -> int:
        """Write the thread as JSON to ``path``. This copy is NOT encrypted: it is the user's own readable
        copy, to keep somewhere safe. Returns the number of messages written; what expired is deleted first
        and never written.

        The file is new, mode 0600, written to a temporary file beside it, fsynced and renamed into place
        (all or nothing); a symlink at ``path`` is never followed.

        Raises:
            FileExistsConflict: something is already at ``path`` and ``overwrite`` is False; nothing was
                written. With ``overwrite=True`` it is replaced by a new 0600 file (an old file's mode is not
                kept; a symlink is replaced, the file it pointed to is untouched).
            OSError: the file cannot be written.
        """
        contact = self.contact(peer)
        msgs = self.history(peer)
        doc = thread_document(self.address, contact, msgs, int(time.time() * 1000))
        data = json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")
        write_private(Path(path), lambda fh: fh.write(data), overwrite=overwrite)
        return len(msgs)

    async def wipe(self) -> None:
        """Panic wipe of this open profile: :meth:`wipe_profile`, after closing. Irreversible.

        Raises:
            OSError: the key store could not be overwritten.
        """
        paths, rng = self._paths, self._rng
        await asyncio.to_thread(overwrite_in_place, paths.keystore, rng)  # first, before anything can fail
        await self._close(wiped=True, destroy=lambda: _wipe_profile_files(paths, rng))

    @staticmethod
    async def wipe_profile(profile_dir: str | os.PathLike[str], *, rng: RNG = os.urandom) -> None:
        """Panic wipe WITHOUT the passphrase (under duress, or when it is forgotten). Irreversible.

        The key store is overwritten in place with random bytes and flushed first: the store key, and with
        it every message, is gone before anything else is touched. Then every other file of the profile is
        overwritten in place, flushed and unlinked, and the directory removed. Every process that has the
        profile open notices within :data:`~confide.client.wipe_watch.WIPE_POLL_INTERVAL_S`, emits
        :class:`ProfileWiped` and stops; it decrypts nothing that arrives after the wipe. (On copy-on-write
        file systems and flash storage old blocks can survive an overwrite: see SECURITY.md, question 5.)

        Raises:
            ProfileError: ``profile_dir`` holds no Confide profile (nothing was touched).
            OSError: the key store could not be overwritten (nothing else was touched).
        """
        await asyncio.to_thread(_wipe_profile_files, ProfilePaths(Path(profile_dir)), rng)


__all__ = ["Client"]
