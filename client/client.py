"""The :class:`Client`: one person's profile, unlocked, talking to one relay.

Sending: content → ratchet + sealed sender (``confide.protocol``) → the new session state, the message row
and the envelope are committed to the store in one transaction (the envelope in the outbox) → the outbox is
posted → rows are marked sent. A relay that is down leaves the envelope queued; it goes out on the next
sync. Receiving (:mod:`confide.client.receiver`): each delivery is opened, and the plaintext, the new
session state and the "seen" mark are committed in one transaction before the relay gets its
acknowledgement, so a crash in between only causes a redelivery that is recognised and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path
from types import TracebackType
from typing import Any

from confide.keys.address import Address
from confide.keys.encoding import RNG, Reader, Writer
from confide.keys.errors import ConfideError, InvalidRecoveryCode, QRPayloadError
from confide.keys.identity import IdentityPublicKey
from confide.keys.keystore import DEFAULT_KDF, KdfParams
from confide.keys.prekeys import PreKeyBundle
from confide.keys.qr import QR_TEXT_PREFIX, parse_qr_text
from confide.keys.recovery import create_recovery, restore_recovery
from confide.keys.secret_keys import SecretKeys
from confide.protocol.attachment import new_attachment_key
from confide.protocol.content import (
    AttachmentPointer,
    Body,
    Content,
    Delete,
    Receipt,
    ReceiptKind,
    Text,
    TimerChange,
    new_message_id,
)
from confide.protocol.envelope import DELIVERY_TOKEN_LEN, Envelope, delivery_token_hash
from confide.protocol.errors import RemoteProtocolError
from confide.protocol.sealed import SenderCertificate, seal_message
from confide.protocol.session import Session, initiate_session

from . import attachments as files
from .connection import CATCH_UP_INTERVAL_S, ConnectionMixin
from .contacts import ContactsMixin
from .errors import (
    AttachmentError,
    ClientError,
    ProfileError,
    RelayError,
    RelayUnreachable,
    UnknownMessage,
)
from .events import (
    Event,
    IdentityChanged,
    MessageDeleted,
    TimerChanged,
)
from .invite import Invite
from .models import (
    ROLES,
    DIRECTION_IN,
    DIRECTION_OUT,
    KIND_ATTACHMENT,
    KIND_TEXT,
    KIND_TIMER,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_READ,
    STATUS_SENT,
    STATUS_UNREAD,
    AttachmentInfo,
    Contact,
    Message,
)
from .prekey_store import PreKeyStore
from .profile import (
    ProfilePaths,
    change_keystore_passphrase,
    create_keystore,
    open_keystore,
    shred_keystore,
    wipe_profile,
)
from .receiver import Receiver
from .records import AttachmentRecord, ContactRecord, MessageRecord
from .relay import ProgressCallback, RelayClient
from .store import Store
from .timers import check_timer, expiry_from, relay_lifetime

_log = logging.getLogger(__name__)



def _check_profile_arguments(name: str, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise ValueError("the name must not be empty")


TRANSIENT_RELAY_STATUSES = frozenset({429, 503})
"""Relay refusals that pass (rate limit, full mailbox, relay busy): the envelope stays queued and is retried on the
next sync, like an unreachable relay. Any other refusal is final for that envelope."""
"""The two kinds of profile. The role is local information (shown in ``whoami``), never sent."""


_M_SERVER = "profile.server_url"
_M_NAME = "profile.name"
_M_ROLE = "profile.role"
_M_TOKEN = "profile.delivery_token"  # noqa: S105 - a settings key name, not a secret
_M_REGISTERED = "profile.registered"

Hook = Callable[[Event], Awaitable[None] | None]
"""A callback for :meth:`Client.on`: called with each event of its type (may be ``async``)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _recovery_code_text(code: str) -> str:
    """A recovery code as typed, or as scanned from the QR of ``confide recovery create --qr`` (that QR
    holds the code's UTF-8 bytes in the ``CONFIDE-SN1:`` text wrapping of :mod:`confide.keys.qr`).

    Raises:
        InvalidRecoveryCode: a scanned text that holds no readable code.
    """
    if not code.strip().upper().startswith(QR_TEXT_PREFIX):
        return code
    try:
        return parse_qr_text(code).decode("ascii")
    except (QRPayloadError, UnicodeDecodeError) as exc:
        raise InvalidRecoveryCode("this scanned QR code holds no recovery code; scan it again or type the "
                                  "code") from exc


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

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._client is not None:
            await self._client.close()


class Client(ContactsMixin, ConnectionMixin):
    """An unlocked profile. Open with ``async with Client.open(dir, passphrase) as client:``.

    Peers are named by their local contact name or their address text. Methods that talk to the relay
    raise :class:`RelayUnreachable` or :class:`RelayError`; methods about a contact raise
    :class:`UnknownContact`; sending to a contact whose identity changed raises
    :class:`~confide.protocol.errors.UntrustedIdentity`.
    """

    def __init__(self, paths: ProfilePaths, keys: SecretKeys, store: Store, *, rng: RNG) -> None:
        self._paths = paths
        self._keys = keys
        self._store = store
        self._rng = rng
        self._prekeys = PreKeyStore(store, keys.identity, rng)
        server = store.get_meta(_M_SERVER)
        if server is None:
            raise ProfileError("this profile has no relay address; it was not created completely")
        self._relay = RelayClient(server.decode(), keys.device)
        self._subscribers: list[asyncio.Queue[Event | None]] = []
        self._hooks: list[tuple[type, Hook]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._lock = asyncio.Lock()
        self.auto_download = True
        """Download received attachments during sync (set False to fetch them on demand)."""
        self.catch_up_interval_s = CATCH_UP_INTERVAL_S
        """Seconds between catch-up pulls while the live connection is open."""
        self._receiver = Receiver(self)

    # -- opening and closing --------------------------------------------------------------------------
    @classmethod
    def open(cls, profile_dir: str | os.PathLike[str], passphrase: str, *, rng: RNG = os.urandom) -> _Opening:
        """Unlock an existing profile; await the result or use it with ``async with``.

        Raises:
            ProfileError: no profile in ``profile_dir``.
            WrongPassphrase: the passphrase does not open the key store.
            CorruptKeyStore, StorageError: damaged files.
        """
        async def factory() -> Client:
            paths = ProfilePaths(Path(profile_dir))
            keys = await asyncio.to_thread(open_keystore, paths, passphrase)
            paths.make_dirs()
            return cls(paths, keys, Store(paths.store, keys.store_key, rng), rng=rng)
        return _Opening(factory)

    @classmethod
    def create(
        cls, profile_dir: str | os.PathLike[str], passphrase: str, server_url: str, name: str,
        role: str = "client", *, kdf: KdfParams = DEFAULT_KDF, rng: RNG = os.urandom,
    ) -> _Opening:
        """Create a profile (new identity, device key, store key), register it with the relay at
        ``server_url`` and publish prekeys; await the result or use it with ``async with``.

        ``name`` is how this person calls themself locally; ``role`` is ``"client"`` or ``"therapist"``.
        ``kdf`` sets the Argon2id cost of the passphrase (keep the default outside tests).

        Raises:
            ProfileError: a profile already exists there.
            RelayUnreachable, RelayError: registration failed (the profile is kept and registration is
                retried by :meth:`sync`).
            ValueError: empty passphrase or name, unknown role.
        """
        _check_profile_arguments(name, role)

        async def factory() -> Client:
            keys = SecretKeys.generate(rng)
            return await cls._set_up(Path(profile_dir), keys, passphrase, server_url, name, role, kdf=kdf, rng=rng)
        return _Opening(factory)

    @classmethod
    def restore(
        cls, profile_dir: str | os.PathLike[str], passphrase: str, backup: bytes, code: str, server_url: str,
        name: str, role: str = "client", *, kdf: KdfParams = DEFAULT_KDF, rng: RNG = os.urandom,
    ) -> _Opening:
        """Make a new profile on this device from a recovery ``backup`` and its ``code`` (see
        :meth:`create_recovery`); await the result or use it with ``async with``.

        The backup holds the identity, the device key and the store key. The new profile therefore has the
        same address (and device id) as the lost one, so contacts see no identity change and need not
        compare safety numbers again. It registers again with the relay at ``server_url`` (the relay
        recognises the identity and device, and replaces their prekeys and delivery tokens) and publishes
        fresh prekeys. ``passphrase`` seals the new key store; it need not be the old passphrase. ``code``
        may be typed (case, spaces and dashes do not matter) or be the text scanned from the QR code that
        ``confide recovery create --qr`` writes. ``name``, ``role``, ``kdf``, ``rng``: as :meth:`create`.

        What the backup does NOT bring back, and what contacts see:

        - Message history, contacts, thread timers, sessions and attachments lived only in the lost
          device's store: the restored profile starts with none of them.
        - The delivery token lived there too, so the restored profile has a new one and the old invite
          code stops working: a contact who writes with it gets :class:`RelayError` (403 ``forbidden``,
          "delivery token not accepted") until you write to them (each message carries your new token and
          their client takes it over) or give them your new :meth:`invite_code`.
        - Messages encrypted to the lost device's sessions cannot be decrypted here: those still waiting at
          the relay, and those a contact sends on their old session after learning the new token. They are
          dropped (acknowledged; a :class:`MessageUndecryptable` event names the sender); the contact sees
          them stay ``sent``, never ``delivered`` or ``read``. There is no automatic session reset; what
          works: add the contact again from their invite code and write to them first. That message starts a new
          session (same identity, so no warning), the contact's client replaces its old session with it,
          and from then on messages flow both ways. Ask them to re-send what they wrote in between.
        - If the old device still exists, wipe it: it holds the same device key and would compete for the
          same mailbox, and its sessions no longer match the contacts'.

        Anyone who has both the backup and the code can do this, and contacts get no warning (the identity
        is the same): keep the two apart.

        Raises:
            InvalidRecoveryCode: the code is mistyped (a checksum catches typos); nothing was created.
            WrongPassphrase: the code is well formed but does not open this backup; nothing was created.
            CorruptKeyStore: ``backup`` is not a Confide recovery backup, or is damaged; nothing was created.
            ProfileError: a profile already exists in ``profile_dir``.
            RelayUnreachable, RelayError: registration failed (the profile is kept and registration is
                retried by :meth:`sync`).
            ValueError: empty passphrase or name, unknown role.
        """
        _check_profile_arguments(name, role)

        async def factory() -> Client:
            keys = restore_recovery(bytes(backup), _recovery_code_text(code))
            return await cls._set_up(Path(profile_dir), keys, passphrase, server_url, name, role, kdf=kdf, rng=rng)
        return _Opening(factory)

    @classmethod
    async def _set_up(cls, root: Path, keys: SecretKeys, passphrase: str, server_url: str, name: str, role: str,
                      *, kdf: KdfParams, rng: RNG) -> Client:
        """Seal ``keys`` into a new profile in ``root``, register with the relay, publish prekeys."""
        paths = ProfilePaths(root)
        await asyncio.to_thread(create_keystore, paths, keys, passphrase, kdf=kdf, rng=rng)
        store = Store(paths.store, keys.store_key, rng)
        with store.transaction():
            store.set_meta(_M_SERVER, server_url.rstrip("/").encode())
            store.set_meta(_M_NAME, name.strip().encode())
            store.set_meta(_M_ROLE, role.encode())
            store.set_meta(_M_TOKEN, rng(DELIVERY_TOKEN_LEN))
            store.set_meta_int(_M_REGISTERED, 0)
        client = cls(paths, keys, store, rng=rng)
        try:
            await client._register()
        except RelayUnreachable as exc:
            await client.close()
            raise RelayUnreachable(f"{exc} (the profile was created in {paths.root}; it registers with "
                                   "the relay on the next sync)") from exc
        except BaseException:
            await client.close()
            raise
        return client

    @staticmethod
    async def change_passphrase(profile_dir: str | os.PathLike[str], old: str, new: str, *,
                                kdf: KdfParams | None = None, rng: RNG = os.urandom) -> None:
        """Change the passphrase of the profile in ``profile_dir`` (it may be open meanwhile).

        The same keys are re-sealed under ``new``: the address, sessions and store stay as they are. ``kdf``
        None keeps the Argon2id costs the key store already has. The key store file is replaced
        atomically (temporary file, fsync, rename): a crash leaves the old or the new one, and a wrong
        ``old`` leaves it untouched.

        Raises:
            ProfileError: no profile in ``profile_dir``.
            WrongPassphrase: ``old`` does not open the key store (nothing was changed).
            CorruptKeyStore, KdfParametersTooCostly: the key store is damaged or foreign.
            ValueError: ``new`` is empty, or ``kdf`` is invalid.
        """
        paths = ProfilePaths(Path(profile_dir))
        await asyncio.to_thread(change_keystore_passphrase, paths, old, new, kdf=kdf, rng=rng)

    async def close(self) -> None:
        """Stop background work, close the relay connection and the store (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for q in self._subscribers:
            q.put_nowait(None)
        await self._relay.close()
        self._store.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Client({self.address})"

    # -- identity of this profile ---------------------------------------------------------------------
    @property
    def address(self) -> str:
        """This profile's address (``cf1-...``)."""
        return self._keys.identity.address.text

    @property
    def name(self) -> str:
        """This profile's own display name (local only)."""
        return (self._store.get_meta(_M_NAME) or b"").decode()

    @property
    def role(self) -> str:
        """``"client"`` or ``"therapist"``."""
        return (self._store.get_meta(_M_ROLE) or b"client").decode()

    @property
    def server_url(self) -> str:
        """The relay this profile is registered with."""
        return self._relay.base_url

    @property
    def profile_dir(self) -> Path:
        """The profile directory."""
        return self._paths.root

    @property
    def identity(self) -> IdentityPublicKey:
        """This profile's public identity key."""
        return self._keys.identity.public

    def _token(self) -> bytes:
        token = self._store.get_meta(_M_TOKEN)
        if token is None or len(token) != 32:
            raise ProfileError("this profile has no delivery token; it was not created completely")
        return token

    def create_recovery(self) -> tuple[str, bytes]:
        """Make a recovery code and the encrypted backup of this profile's keys that it opens.

        Returns ``(code, backup)``. Show the code to the person once, and have them keep it apart from the
        device (on paper, in a password manager); store ``backup`` off the device (a USB stick, the
        practice's file storage). Neither is kept here, and each call makes a new pair (older pairs keep
        working: they open backups of the same keys). The backup holds keys only, not messages: see
        :meth:`restore` for what a restored profile has and what it lacks.
        """
        return create_recovery(self._keys, rng=self._rng)

    def invite_code(self) -> str:
        """The invite code (address + delivery token) to give to someone who should be able to write here."""
        return Invite(self._keys.identity.address, self._token()).code

    async def _register(self) -> None:
        upload = self._prekeys.generate(PreKeyStore.initial_plan(), int(time.time()))
        assert upload.signed_prekey is not None and upload.kem_last_resort is not None
        await self._relay.register(
            identity=self._keys.identity.public.to_bytes(), device=self._keys.device.certificate.to_bytes(),
            token_hashes=[delivery_token_hash(self._token())], signed_prekey=upload.signed_prekey,
            kem_last_resort=upload.kem_last_resort, one_time_prekeys=upload.one_time_prekeys,
            kem_one_time_prekeys=upload.kem_one_time_prekeys,
        )
        self._store.set_meta_int(_M_REGISTERED, 1)

    async def _ensure_registered(self) -> None:
        if not self._store.get_meta_int(_M_REGISTERED, 0):
            await self._register()

    # -- events and hooks -----------------------------------------------------------------------------
    def on(self, event_type: type, callback: Hook) -> None:
        """Call ``callback(event)`` for every event of ``event_type`` (e.g. ``PrekeysLow``,
        ``IdentityChanged``, ``RelayOffline``). The callback may be a coroutine function."""
        self._hooks.append((event_type, callback))

    def _emit(self, event: Event) -> None:
        for q in self._subscribers:
            q.put_nowait(event)
        for event_type, callback in self._hooks:
            if isinstance(event, event_type):
                try:
                    result = callback(event)
                    if asyncio.iscoroutine(result):
                        self._spawn(result)
                except Exception:  # a hook's bug must not break message processing
                    _log.exception("event hook failed")

    def _spawn(self, coro: Any) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                _log.exception("event hook failed")
        self._tasks.append(asyncio.get_running_loop().create_task(run()))

    async def events(self, *, listen: bool = True) -> AsyncIterator[Event]:
        """Yield events as they happen until the client is closed.

        With ``listen=True`` (default) this also starts the background work of a long-running client: the
        WebSocket receive loop (reconnecting with capped exponential back-off), the expiry sweep, outbox
        retries and prekey checks.
        """
        q: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.append(q)
        if listen:
            self.start()
        try:
            while True:
                event = await q.get()
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.remove(q)

    def start(self) -> None:
        """Start background work (idempotent): live receiving, expiry sweep, outbox and prekey upkeep."""
        if self._tasks or self._closed:
            return
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._listen_loop()))
        self._tasks.append(loop.create_task(self._upkeep_loop()))

    # -- threads --------------------------------------------------------------------------------------
    async def _fetch_bundles(self, address: Address) -> list[PreKeyBundle]:
        out = []
        for device_id, raw in await self._relay.fetch_bundles(address):
            try:
                bundle = PreKeyBundle.from_bytes(raw)
                bundle.check_address(address)
            except ConfideError as exc:
                raise RemoteProtocolError(f"the relay sent unusable keys for {address.text}: {exc}") from exc
            if bundle.device.device_id != device_id:
                raise RemoteProtocolError("the relay sent a bundle for the wrong device")
            out.append(bundle)
        if not out:
            raise ClientError(f"{address.text} has no registered devices on this relay")
        return out

    async def start_thread(self, peer: str) -> Contact:
        """Fetch the peer's prekey bundles and run key agreement with each device that has no session yet.

        The first identity seen is pinned (unverified); a different one marks the contact changed.

        Raises:
            UntrustedIdentity: the identity differs from the pinned one.
            RelayUnreachable, RelayError, RemoteProtocolError: fetching or checking keys failed.
        """
        rec = self._find(peer)
        self._check_trusted(rec)
        bundles = await self._fetch_bundles(Address(rec.address))
        rec = self._find(peer)  # re-read after the await
        with self._store.transaction():
            for bundle in bundles:
                ident = bundle.identity.to_bytes()
                if rec.identity is None:
                    rec.identity = ident
                elif rec.identity != ident:
                    rec.changed, rec.pending_address, rec.pending_identity = True, rec.address, ident
                    self._store.save_contact(rec)
                    break
                if self._store.get_session(bundle.identity.signing, bundle.device.device_id) is None:
                    session = initiate_session(self._keys.identity, bundle, rng=self._rng)
                    self._store.put_session(rec.contact_id, bundle.identity.signing, bundle.device.device_id,
                                            session.to_bytes())
            self._store.save_contact(rec)
        if rec.changed:
            old = IdentityPublicKey.from_bytes(rec.identity).fingerprint() if rec.identity else ""
            new = IdentityPublicKey.from_bytes(rec.pending_identity).fingerprint() if rec.pending_identity else ""
            self._emit(IdentityChanged(rec.name, old, new))
            self._check_trusted(rec)
        return self._public_contact(rec)

    def _sessions(self, rec: ContactRecord) -> list[Session]:
        sessions = [Session.from_bytes(raw) for raw in self._store.sessions_of(rec.contact_id)]
        return [s for s in sessions if rec.identity is not None and s.peer_identity.to_bytes() == rec.identity]

    def _sender_certificate(self) -> SenderCertificate:
        return SenderCertificate(self._keys.identity.public, self._keys.device.certificate, self._token())

    async def _prepare(self, rec: ContactRecord) -> ContactRecord:
        self._check_trusted(rec)
        if rec.token is None:
            raise ClientError("you cannot write to this contact yet: add their invite code with "
                              "'confide contacts add NAME INVITE'")
        if not self._sessions(rec):
            await self.start_thread(rec.name)
            rec = self._store.contact(rec.contact_id) or rec
            self._check_trusted(rec)
        return rec

    def _queue(self, rec: ContactRecord, content: Content, record: MessageRecord | None) -> None:
        """Encrypt ``content`` for every device of ``rec``; commit sessions, message and outbox together."""
        assert rec.token is not None
        plaintext = content.to_bytes()
        cert = self._sender_certificate()
        lifetime = relay_lifetime(content.expire_after_s)
        with self._store.transaction():
            for session in self._sessions(rec):
                sealed = seal_message(session, plaintext, sender_identity=self._keys.identity, sender=cert,
                                      rng=self._rng)
                env = Envelope(self._rng(16), session.peer_device_id, rec.token, lifetime, sealed)
                self._store.put_session(rec.contact_id, session.peer_identity.signing, session.peer_device_id,
                                        session.to_bytes())
                mid = record.message_id if record is not None else b""
                self._store.add_outbox(Writer().var8(mid).raw(env.to_bytes()).bytes())
            if record is not None:
                self._store.save_message(record)

    async def flush_outbox(self) -> list[RelayError]:
        """Post queued envelopes in order; returns the relay's refusals.

        A transient refusal (429 rate limit or full mailbox, 503) stops the flush and keeps that envelope and the
        rest queued for the next sync; any other refusal drops the envelope and marks its message ``failed``.

        Raises:
            RelayUnreachable: the relay is down; what is left stays queued.
        """
        refusals: list[RelayError] = []
        async with self._lock:
            for oid, item in self._store.outbox():
                r = Reader(item, ClientError)
                mid, env = r.var8(), r.rest()
                status = STATUS_SENT
                try:
                    await self._relay.post_envelope(env)
                except RelayError as exc:
                    refusals.append(exc)
                    _log.warning("relay refused an envelope: %s", exc.code)
                    if exc.status in TRANSIENT_RELAY_STATUSES:
                        break  # keep it (and everything after it, in order) queued for the next sync
                    status = STATUS_FAILED
                with self._store.transaction():
                    self._store.delete_outbox(oid)
                    if mid:
                        msg = self._store.message(mid)
                        if msg is not None and msg.status == STATUS_PENDING:
                            msg.status = status
                            self._store.save_message(msg)
        return refusals

    async def _send(self, peer: str, body: Body, *, expire_after_s: int | None, kind: str, text: str = "",
                    attachment: AttachmentRecord | None = None, store: bool = True) -> Message | None:
        rec = await self._prepare(self._find(peer))
        expire = rec.timer_s if expire_after_s is None else check_timer(expire_after_s)
        now = _now_ms()
        content = Content(new_message_id(self._rng), now, expire, body)
        record = None
        if store:
            record = MessageRecord(content.message_id, rec.contact_id, DIRECTION_OUT, kind, text, now, now,
                                   STATUS_PENDING, expire, expiry_from(now, expire), attachment)
        self._queue(rec, content, record)
        with contextlib.suppress(RelayUnreachable):
            final = [r for r in await self.flush_outbox() if r.status not in TRANSIENT_RELAY_STATUSES]
            if final:
                raise final[0]
        if record is None:
            return None
        fresh = self._store.message(record.message_id)
        return self._public_message(fresh or record, rec.name)

    async def send_text(self, peer: str, text: str, *, expire_after_s: int | None = None) -> Message:
        """Send a text message. ``expire_after_s`` overrides the thread timer for this message (0 = keep).

        If the relay is unreachable the message is kept with status ``pending`` and sent on the next sync.

        Raises:
            UntrustedIdentity, UnknownContact, RelayError; ClientError when the text is too long.
        """
        try:
            body = Text(text)
        except ValueError as exc:
            raise ClientError("the message is too long for one text; send it as a file") from exc
        msg = await self._send(peer, body, expire_after_s=expire_after_s, kind=KIND_TEXT, text=text)
        assert msg is not None
        return msg

    async def send_file(
        self, peer: str, path: str | os.PathLike[str], *, mime: str | None = None, caption: str = "",
        expire_after_s: int | None = None, progress: ProgressCallback | None = None,
    ) -> Message:
        """Encrypt and upload a file of any size (streaming), then send its pointer.

        ``progress(done, total)`` is called while encrypting (plaintext bytes) and uploading (blob bytes).

        Raises:
            AttachmentError: unreadable or too large a file; plus what :meth:`send_text` raises.
        """
        source = Path(path)
        rec = await self._prepare(self._find(peer))
        expire = rec.timer_s if expire_after_s is None else check_timer(expire_after_s)
        key = new_attachment_key(self._rng)
        tmp = self._paths.tmp / (self._rng(16).hex() + ".up")
        try:
            size, digest = await asyncio.to_thread(files.encrypt_file, source, tmp, key, progress)
            blob_id = await self._relay.upload_blob(tmp, digest.hex(), relay_lifetime(expire), progress)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        name = files.safe_file_name(source.name)
        mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            pointer = AttachmentPointer(blob_id, key, digest, size, name, mime, caption)
        except ValueError as exc:
            raise AttachmentError(f"cannot describe this attachment: {exc}") from exc
        att = AttachmentRecord(blob_id, key, digest, size, name, mime, caption)
        msg = await self._send(peer, pointer, expire_after_s=expire, kind=KIND_ATTACHMENT, text=caption,
                               attachment=att)
        assert msg is not None
        return msg

    async def set_timer(self, peer: str, seconds: int) -> Contact:
        """Set the thread's disappearing timer (0 = off); the peer sees the change as a message too."""
        seconds = check_timer(seconds)
        rec = await self._prepare(self._find(peer))
        rec.timer_s = seconds
        with self._store.transaction():
            self._store.save_contact(rec)
        await self._send(rec.name, TimerChange(seconds), expire_after_s=0, kind=KIND_TIMER, text="")
        self._emit(TimerChanged(rec.name, seconds, False))
        return self._public_contact(self._store.contact(rec.contact_id) or rec)

    async def delete_for_everyone(self, peer: str, message_id: str) -> None:
        """Delete one of your own messages here and on the peer's devices.

        Raises:
            UnknownMessage: no such message of yours in this thread.
        """
        rec = self._find(peer)
        msg = self._message(message_id)
        if msg.contact_id != rec.contact_id or msg.direction != DIRECTION_OUT:
            raise UnknownMessage("you can delete for everyone only your own messages in this thread")
        await self._send(rec.name, Delete(msg.message_id), expire_after_s=0, kind=KIND_TEXT, store=False)
        self._delete_local(msg, "deleted")

    def delete_message(self, message_id: str) -> None:
        """Delete a message (and its attachment file) from this device only."""
        self._delete_local(self._message(message_id), "deleted")

    def _message(self, message_id: str) -> MessageRecord:
        try:
            raw = bytes.fromhex(message_id)
        except ValueError:
            raw = b""
        msg = self._store.message(raw) if len(raw) == 16 else None
        if msg is None:
            raise UnknownMessage("no message with that id (it may have expired or been deleted)")
        return msg

    def _delete_local(self, msg: MessageRecord, reason: str) -> None:
        with self._store.transaction():
            self._store.delete_message(msg.message_id)
        self._remove_attachment_file(msg)
        contact = self._store.contact(msg.contact_id)
        self._emit(MessageDeleted(contact.name if contact else "", msg.message_id.hex(), reason))

    def _remove_attachment_file(self, msg: MessageRecord) -> None:
        if msg.attachment is not None and msg.attachment.file:
            with contextlib.suppress(OSError):
                (self._paths.attachments / msg.attachment.file).unlink()

    # -- reading --------------------------------------------------------------------------------------
    def _public_message(self, m: MessageRecord, peer: str) -> Message:
        att = None
        if m.attachment is not None:
            a = m.attachment
            att = AttachmentInfo(a.name, a.mime, a.size, a.file is not None, a.caption)
        return Message(m.message_id.hex(), peer, m.direction, m.kind, m.text, m.sent_at_ms, m.received_at_ms,
                       m.status, m.expire_after_s, m.expires_at_ms, att, m.unverified_identity)

    def history(self, peer: str) -> list[Message]:
        """The thread with ``peer``, oldest first (expired messages are already gone)."""
        rec = self._find(peer)
        return [self._public_message(m, rec.name) for m in self._store.thread(rec.contact_id)]

    async def mark_read(self, peer: str, *, now_ms: int | None = None) -> int:
        """Mark the peer's unread messages read: starts their disappearing timers and sends READ receipts.

        Returns how many messages were marked.
        """
        rec = self._find(peer)
        now = _now_ms() if now_ms is None else now_ms
        ids = []
        with self._store.transaction():
            for m in self._store.thread(rec.contact_id):
                if m.direction == DIRECTION_IN and m.status == STATUS_UNREAD:
                    m.status = STATUS_READ
                    m.expires_at_ms = expiry_from(now, m.expire_after_s)
                    self._store.save_message(m)
                    ids.append(m.message_id)
        if ids and rec.token is not None and not rec.changed:
            with contextlib.suppress(RelayUnreachable, RelayError):
                await self._send_receipt(rec, ReceiptKind.READ, ids)
        return len(ids)

    async def _send_receipt(self, rec: ContactRecord, kind: ReceiptKind, ids: list[bytes]) -> None:
        if rec.token is None or rec.changed or not self._sessions(rec):
            return
        for i in range(0, len(ids), 1024):
            content = Content(new_message_id(self._rng), _now_ms(), 0, Receipt(kind, tuple(ids[i : i + 1024])))
            self._queue(rec, content, None)
        await self.flush_outbox()

    # -- disappearing messages ------------------------------------------------------------------------
    def expire_now(self, now_ms: int | None = None) -> list[str]:
        """Delete every message whose timer has run out (and its attachment file); returns their ids."""
        now = _now_ms() if now_ms is None else now_ms
        expired = self._store.expired_messages(now)
        for m in expired:
            self._delete_local(m, "expired")
        if expired:
            with contextlib.suppress(Exception):
                self._store.checkpoint()
        return [m.message_id.hex() for m in expired]

    # -- attachments ----------------------------------------------------------------------------------
    async def download_attachment(self, message_id: str) -> Message:
        """Download, verify and keep (encrypted) the attachment of a received message."""
        msg = self._message(message_id)
        att = msg.attachment
        if att is None:
            raise AttachmentError("that message has no attachment")
        if att.file is None:
            tmp = self._paths.tmp / (self._rng(16).hex() + ".down")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    async for chunk in self._relay.download_blob(att.blob_id):
                        out.write(chunk)
                await asyncio.to_thread(files.verify_blob, tmp, att.key, att.size, att.digest)
                name = self._rng(16).hex() + ".blob"
                os.replace(tmp, self._paths.attachments / name)
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            fresh = self._store.message(msg.message_id)
            if fresh is None or fresh.attachment is None:  # expired or deleted meanwhile
                with contextlib.suppress(OSError):
                    (self._paths.attachments / name).unlink()
                raise UnknownMessage("the message was deleted while its attachment was downloading")
            fresh.attachment.file = name
            with self._store.transaction():
                self._store.save_message(fresh)
            msg = fresh
        contact = self._store.contact(msg.contact_id)
        return self._public_message(msg, contact.name if contact else "")

    async def save_attachment(self, message_id: str, path: str | os.PathLike[str]) -> Path:
        """Decrypt a received attachment to ``path`` (a file, or a directory to put it in under its name).

        Downloads it first if needed. Returns the path written.
        """
        msg = self._message(message_id)
        if msg.attachment is None:
            raise AttachmentError("that message has no attachment")
        if msg.direction == DIRECTION_OUT:
            raise AttachmentError("this is your own attachment; the original file is on this device")
        if msg.attachment.file is None:
            await self.download_attachment(message_id)
            msg = self._message(message_id)
        att = msg.attachment
        assert att is not None and att.file is not None
        dest = Path(path)
        if dest.is_dir():
            dest = dest / files.safe_file_name(att.name)
        await asyncio.to_thread(files.decrypt_file, self._paths.attachments / att.file, dest, att.key, att.size,
                                att.digest)
        return dest

    # -- export and wipe ------------------------------------------------------------------------------
    def export_thread(self, peer: str, path: str | os.PathLike[str]) -> int:
        """Write the thread as JSON to ``path`` (created 0600). This copy is NOT encrypted: it is the user's
        own readable copy, to keep somewhere safe. Returns the number of messages written."""
        rec = self._find(peer)
        msgs = self.history(peer)
        doc = {
            "format": "confide-thread-export-v1", "exported_at_ms": _now_ms(), "me": self.address,
            "peer": {"name": rec.name, "address": Address(rec.address).text,
                     "trust": self._public_contact(rec).trust},
            "messages": [{
                "id": m.message_id, "direction": m.direction, "kind": m.kind, "text": m.text,
                "sent_at_ms": m.sent_at_ms, "received_at_ms": m.received_at_ms, "status": m.status,
                "attachment": None if m.attachment is None else {
                    "name": m.attachment.name, "mime": m.attachment.mime, "size": m.attachment.size},
            } for m in msgs],
        }
        target = Path(path)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, indent=2)
        return len(msgs)

    async def wipe(self) -> None:
        """Panic wipe: shred the key store (crypto-shredding), then delete the whole profile. Irreversible."""
        paths, rng = self._paths, self._rng
        shred_keystore(paths, rng)  # first, before anything else can fail
        await self.close()
        wipe_profile(paths, rng)


__all__ = ["ROLES", "Client"]
