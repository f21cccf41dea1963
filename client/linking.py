"""Linking a new device to an identity, through the relay, authenticated end to end by a short code (SPEC 15).

The NEW device makes a code (:meth:`Client.link <confide.client.Client.link>`), shows it (``XXXX-XXXX-XXXX``, and
as a QR code), and waits; the person types it on an EXISTING device (:meth:`Client.approve_device
<confide.client.Client.approve_device>`). The two run SPAKE2 (:mod:`confide.protocol.link`) over the relay's link
slots (``PUT/GET /v1/links/{channel}/{slot}``, write-once, unauthenticated: the code authenticates):

====  ======  ===============================================================================================
slot  writer  what
====  ======  ===============================================================================================
0     new     its SPAKE2 share
1     old     its share and key confirmation
2     new     its key confirmation, then (sealed) its new device key and name
3     old     (sealed) the provisioning: identity key, token key, introduction token, role, the signed device
              list that now lists the new device, and a snapshot of every contact
4     old     (sealed) the history offer: the blob holding recent messages (:mod:`.history_transfer`), or none
5     new     (sealed) done: the existing device deletes the history blob
====  ======  ===============================================================================================

**Nothing changes on either side until the code is proven.** The existing device publishes the new device list
only after the new device's key confirmation verified and its request opened; the new device creates its profile
only after the provisioning opened and names it in a list signed by the identity it carries. A wrong code (one
character is enough), a slot the relay altered or substituted, or another device answering first makes the run
fail on both sides with :class:`LinkCodeCheckFailed` or :class:`LinkFailed`: no list is published and no profile is
created. A side that gives up writes :data:`ABORT` into the slot the other side waits for, so the other side fails
at once rather than at its timeout. A run lasts at most :data:`LINK_TIMEOUT_S` (the relay's channel lifetime).

The relay sees a random-looking channel name, two SPAKE2 shares and AEAD ciphertexts: not the code, not the
identity, not which account is linking a device (the requests are unsigned, each on a fresh connection).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide.keys.device import DeviceCertificate, DeviceKeyPair
from confide.keys.encoding import RNG
from confide.keys.errors import MalformedKey
from confide.keys.identity import IdentityKeyPair
from confide.keys.secret_keys import STORE_KEY_LEN, SecretKeys
from confide.protocol.content import CONTENT_VERSION, MESSAGE_ID_LEN, ContactSnapshot, Content, ContentType
from confide.protocol.device_list import DeviceOrigin, device_ids, parse_device_list
from confide.protocol.document_errors import DocumentError
from confide.protocol.errors import LinkCodeMismatch, ProtocolError
from confide.protocol.link import (
    DeviceRequest,
    ExistingDeviceLink,
    LinkCode,
    LinkOutcome,
    NewDeviceLink,
    channel_of,
    parse_link_code,
)
from confide.protocol.provisioning import HistoryOffer, ProvisionedRole, Provisioning

from .devices import DeviceInfo, Devices
from .errors import ClientError, HistoryTransferFailed, LinkCodeCheckFailed, LinkFailed, RelayError, RelayUnreachable
from .history_transfer import HistorySent, delete_history
from .models import Role
from .relay import ProgressCallback, RelayClient

_log = logging.getLogger(__name__)

LINK_TIMEOUT_S = 600.0
"""How long a link run may take, from the code being shown to the last slot: the relay's ``LINK_CHANNEL_TTL_S``
(its channel, and every message in it, is deleted then). Ten minutes to walk to the other device and type a code."""
LINK_POLL_FIRST_S = 0.2
"""The first wait before asking the relay again for a slot not written yet: the other device usually answers
within a second of reading the previous slot."""
LINK_POLL_MAX_S = 2.0
"""The longest wait between two reads of a slot: at most 300 reads over a whole run, well inside the relay's
per-address rate limit, and a typed code is noticed within two seconds."""
LINK_POLL_FACTOR = 1.5
"""Each further wait is this much longer, up to :data:`LINK_POLL_MAX_S`."""
ABORT = b"\x00"
"""What a side that gives up writes into the slot the other side waits for (every real slot message starts with
``0x01``): the other side fails at once with :class:`LinkFailed`."""
DONE_TIMEOUT_S = 120.0
"""How long the existing device waits for the new one's ``done`` once everything is sent, before deleting the
history blob anyway (the new device has by then downloaded it, or will never)."""

DEVICE_SEED_LEN = 32
"""The new device key's Ed25519 seed, drawn on the new device; only its public half travels."""

_SLOT_SHARE_NEW, _SLOT_SHARE_OLD, _SLOT_REQUEST, _SLOT_PROVISIONING, _SLOT_HISTORY, _SLOT_DONE = range(6)

_ROLES = {ProvisionedRole.CLIENT: Role.CLIENT, ProvisionedRole.THERAPIST: Role.THERAPIST}


class _OtherSideFailed(LinkFailed):
    """The other side wrote :data:`ABORT`: it stopped this run."""


_MISMATCH = (
    "the code did not match on the two devices (a typing mistake, or someone interfered); nothing was changed; "
    "start again with a new code"
)


class _Channel:
    """One link channel at the relay, as one side uses it: write a slot, wait for one, give up."""

    def __init__(self, relay: RelayClient, channel: str, deadline: float) -> None:
        self._relay = relay
        self._channel = channel
        self._deadline = deadline

    @property
    def name(self) -> str:
        """The channel's name (64 hex digits)."""
        return self._channel

    async def put(self, slot: int, data: bytes) -> None:
        """Write ``slot``.

        Raises:
            LinkFailed: the slot holds other bytes already (another device answered this code first), or the relay
                refused the message. RelayUnreachable.
        """
        try:
            await self._relay.put_link(self._channel, slot, data)
        except RelayError as exc:
            if exc.status == 409:
                raise LinkFailed(
                    "another device answered this code first (or the relay interfered); nothing was changed; "
                    "start again with a new code"
                ) from exc
            raise LinkFailed(f"the relay refused a message of the link: {exc.relay_message}") from exc

    async def take(self, slot: int, *, deadline: float | None = None) -> bytes:
        """Wait for ``slot`` to be written and return it, asking the relay again with a growing pause.

        Raises:
            LinkFailed: the other side gave up (:data:`ABORT`), the time is up, or the relay refused.
            RelayUnreachable.
        """
        loop = asyncio.get_running_loop()
        until = self._deadline if deadline is None else min(deadline, self._deadline)
        pause = LINK_POLL_FIRST_S
        while True:
            try:
                data = await self._relay.get_link(self._channel, slot)
            except RelayError as exc:
                raise LinkFailed(f"the relay refused to pass on the link: {exc.relay_message}") from exc
            if data is not None:
                if data == ABORT:
                    raise _OtherSideFailed(
                        "the other device stopped (the code did not match there, or it was cancelled); nothing was "
                        "changed; start again with a new code"
                    )
                return data
            left = until - loop.time()
            if left <= 0:
                raise LinkFailed(
                    "the other device did not answer in time; nothing was changed; start again with a new code"
                )
            await asyncio.sleep(min(pause, left))
            pause = min(pause * LINK_POLL_FACTOR, LINK_POLL_MAX_S)

    async def abort(self, slot: int) -> None:
        """Tell the other side this run is over (best effort: it times out otherwise)."""
        try:
            await self._relay.put_link(self._channel, slot, ABORT)
        except (RelayError, RelayUnreachable) as exc:
            _log.info("could not tell the other device the link stopped: %s", type(exc).__name__)


# -- contacts, as the provisioning carries them ------------------------------------------------------
_CONTENT_HEADER_LEN = 1 + 1 + MESSAGE_ID_LEN + 8 + 4
"""A content's header (SPEC 8: version, type, message id, sent_at, expire_after): the provisioning carries CONTACT
bodies without it."""
_SNAPSHOT_HEADER = bytes((CONTENT_VERSION, ContentType.CONTACT)) + bytes(MESSAGE_ID_LEN + 8 + 4)


def contact_bodies(snapshots: list[ContactSnapshot]) -> tuple[bytes, ...]:
    """The CONTACT bodies (SPEC 8 type 12) of ``snapshots``, as the provisioning carries them."""
    return tuple(Content(bytes(MESSAGE_ID_LEN), 0, 0, s).to_bytes()[_CONTENT_HEADER_LEN:] for s in snapshots)


def contact_snapshots(bodies: tuple[bytes, ...]) -> list[ContactSnapshot]:
    """The snapshots in a provisioning's CONTACT bodies; one that does not parse is skipped (logged by kind)."""
    out = []
    for body in bodies:
        try:
            content = Content.from_bytes(_SNAPSHOT_HEADER + body)
        except ProtocolError as exc:
            _log.warning("a contact of the provisioning was skipped: %s", type(exc).__name__)
            continue
        if isinstance(content.body, ContactSnapshot):
            out.append(content.body)
    return out


# -- the new device -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Provisioned:
    """What the existing device handed over, checked: the keys of the new profile (the identity, this device's
    new key, a fresh store key), its role, and the provisioning itself (token key, introduction token, device
    list, contact snapshots)."""

    keys: SecretKeys
    role: Role
    provisioning: Provisioning


class NewDeviceRun:
    """The new device's side of one link run (see the module docstring): :meth:`start`, then :meth:`provision`,
    then (once the profile exists) :meth:`finish`, or :meth:`abandon` when the profile could not be made.
    :class:`~confide.client.client.PendingLink` drives it for :meth:`Client.link <confide.client.Client.link>`."""

    def __init__(self, relay: RelayClient, code: LinkCode, name: str, *, rng: RNG) -> None:
        self._relay = relay
        self._code = code
        self._name = name
        self._rng = rng
        self._link = NewDeviceLink(code, rng=rng)
        deadline = asyncio.get_running_loop().time() + LINK_TIMEOUT_S
        self._channel = _Channel(relay, channel_of(code), deadline)
        self._used = False
        self._requested = False

    @property
    def code(self) -> str:
        """The code to type on the existing device, ``XXXX-XXXX-XXXX``."""
        return self._code.text

    @property
    def qr_text(self) -> str:
        """The code as the text of a QR code (``CONFIDE-LINK1:...``), for the existing device to scan."""
        return self._code.qr_text

    def __repr__(self) -> str:
        return "NewDeviceRun(<code hidden>)"

    async def start(self) -> None:
        """Open the channel: write this device's share (slot 0).

        Raises:
            LinkFailed: the relay refused it (another link holds this channel: start again).
            RelayUnreachable.
        """
        try:
            await self._channel.put(_SLOT_SHARE_NEW, self._link.start())
        except BaseException:
            await self._relay.close()
            raise

    async def cancel(self) -> None:
        """Give up before or instead of :meth:`provision` (an existing device that answered learns it at once)."""
        if not self._used:
            self._used = True
            await self._channel.abort(_SLOT_REQUEST)
        await self._relay.close()

    async def provision(self) -> Provisioned:
        """Slots 1 to 3: wait for the existing device's answer, send this device's request, open the provisioning
        and check it. Nothing is created here; on failure the relay connection is closed.

        Raises:
            LinkCodeCheckFailed: the codes did not match. LinkFailed: timed out, the other side gave up, or a message
                was altered (the existing device is told to take this device off its list again).
            RelayUnreachable.
        """
        if self._used:
            raise LinkFailed("this link code was used already; start again with a new code")
        self._used = True
        try:
            return await self._provision()
        except Exception:
            await self.abandon()
            raise
        except BaseException:
            await self._relay.close()
            raise

    async def abandon(self) -> None:
        """This device will not be made (its profile could not be created or registered): tell the existing
        device, which listed it already, so that it takes it off the list again; close the relay connection."""
        if self._requested:
            await self._channel.abort(_SLOT_DONE)
        await self._relay.close()

    async def _provision(self) -> Provisioned:
        answer = await self._channel.take(_SLOT_SHARE_OLD)
        try:
            self._link.receive_existing(answer)
        except LinkCodeMismatch as exc:
            await self._give_up_mismatch()
            raise LinkCodeCheckFailed(_MISMATCH) from exc
        except ProtocolError as exc:
            await self._channel.abort(_SLOT_REQUEST)
            raise LinkFailed(f"{exc}; nothing was changed") from exc
        seed = self._rng(DEVICE_SEED_LEN)
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        await self._channel.put(_SLOT_REQUEST, self._link.request(public, self._name))
        self._requested = True
        sealed = await self._channel.take(_SLOT_PROVISIONING)
        try:
            provisioning = self._link.open_provisioning(sealed)
            identity = IdentityKeyPair.from_private_bytes(provisioning.identity_private)
            device = DeviceKeyPair.from_private_bytes(seed, identity)
            listed = parse_device_list(provisioning.device_list, identity=identity.public, now=int(time.time()))
        except (ProtocolError, DocumentError, MalformedKey, ValueError) as exc:
            raise LinkFailed(
                "what the other device sent did not open or verify (altered on the way?); nothing was created; "
                "start again with a new code"
            ) from exc
        if device.device_id not in device_ids(listed):
            raise LinkFailed("the other device did not add this device to your devices; nothing was created")
        role = _ROLES[ProvisionedRole(provisioning.role)]
        return Provisioned(SecretKeys(identity, device, self._rng(STORE_KEY_LEN)), role, provisioning)

    async def _give_up_mismatch(self) -> None:
        """After a wrong confirmation: write slot 2 so that the existing device reports the mismatch at once."""
        try:
            await self._relay.put_link(self._channel.name, _SLOT_REQUEST, self._link.abort())
        except (RelayError, RelayUnreachable) as exc:
            _log.info("could not tell the other device the code did not match: %s", type(exc).__name__)

    async def finish(self, take_history: Callable[[HistoryOffer], Awaitable[object]] | None) -> str | None:
        """Slots 4 and 5, once the profile exists: the history offer, taken with ``take_history`` (None: declined),
        then how it ended; closes the relay connection. Returns why an offered history was not taken (None: it
        was, or none was offered or wanted); the device is linked either way.

        Raises:
            StorageError: from ``take_history`` (the messages stored before it stay).
        """
        try:
            return await self._finish(take_history)
        finally:
            await self._relay.close()

    async def _finish(self, take_history: Callable[[HistoryOffer], Awaitable[object]] | None) -> str | None:
        try:
            offer = self._link.open_history_offer(await self._channel.take(_SLOT_HISTORY))
        except (LinkFailed, ProtocolError, RelayUnreachable) as exc:
            _log.info("no history offer: %s", type(exc).__name__)
            return "the other device sent no history"
        outcome, error = LinkOutcome.COMPLETE, None
        if offer is not None and take_history is None:
            outcome = LinkOutcome.WITHOUT_HISTORY
        elif offer is not None and take_history is not None:
            try:
                await take_history(offer)
            except (HistoryTransferFailed, RelayError, RelayUnreachable) as exc:
                outcome, error = LinkOutcome.WITHOUT_HISTORY, str(exc)
        try:
            await self._channel.put(_SLOT_DONE, self._link.done(outcome))
        except (LinkFailed, RelayUnreachable) as exc:
            _log.info("could not tell the other device the link is done: %s", type(exc).__name__)
        return error


# -- the existing device ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Approval:
    """What the existing device needs to approve a new one: this identity, its relay and device list, and how to
    build the provisioning (from the new device list's bytes) and the history (None: send none)."""

    identity: IdentityKeyPair
    relay: RelayClient
    devices: Devices
    provisioning: Callable[[bytes], Provisioning]
    history: Callable[[ProgressCallback | None], Awaitable[HistorySent]] | None


async def approve_device(
    code: str,
    approval: Approval,
    *,
    rng: RNG,
    progress: ProgressCallback | None = None,
) -> DeviceInfo:
    """The existing device's side of a link run (see the module docstring); returns the new device as listed.

    Raises:
        InvalidLinkCode: the code is mistyped (nothing was sent).
        LinkCodeCheckFailed: the new device showed another code, or someone interfered (nothing changed).
        LinkFailed: timed out, the new device gave up, another device answered first, or a message was altered
            (nothing changed).
        TooManyDevices: the identity has :data:`~confide.protocol.device_list.MAX_DEVICES` devices already (nothing
            changed; the new device is told).
        RelayUnreachable, RelayError, DeviceRemoved: the new list could not be published (nothing changed).
    """
    parsed = parse_link_code(code)
    deadline = asyncio.get_running_loop().time() + LINK_TIMEOUT_S
    channel = _Channel(approval.relay, channel_of(parsed), deadline)
    link = ExistingDeviceLink(parsed, rng=rng)
    try:
        answer = link.answer(await channel.take(_SLOT_SHARE_NEW))
    except ProtocolError as exc:
        raise LinkFailed(f"{exc}; nothing was changed") from exc
    await channel.put(_SLOT_SHARE_OLD, answer)
    request = await _open_request(link, await channel.take(_SLOT_REQUEST))
    # The code is proven: from here on the new device holds the same key and is the one the person is linking.
    try:
        certificate = DeviceCertificate.issue(approval.identity, request.device_public)
        listed = await approval.devices.add_device(certificate, DeviceOrigin.LINKED)
    except BaseException:
        await channel.abort(_SLOT_PROVISIONING)
        raise
    device_id = certificate.device_id.hex()
    try:
        approval.devices.rename(device_id, request.name)
    except (ClientError, ValueError) as exc:  # a name the list cannot keep: the device stays unnamed
        _log.info("the new device's name was not kept: %s", type(exc).__name__)
    try:
        await channel.put(_SLOT_PROVISIONING, link.provisioning(approval.provisioning(listed.to_bytes())))
    except (LinkFailed, RelayUnreachable):  # the new device cannot get what it needs: take it off the list again
        await _take_back(approval.devices, device_id)
    sent = None
    if approval.history is not None:
        try:
            sent = await approval.history(progress)
        except (HistoryTransferFailed, RelayError, RelayUnreachable) as exc:  # linked all the same
            _log.info("no history sent: %s", type(exc).__name__)
    failed_there = False
    try:
        await channel.put(_SLOT_HISTORY, link.history_offer(None if sent is None else sent.offer))
        done_by = asyncio.get_running_loop().time() + DONE_TIMEOUT_S
        link.open_done(await channel.take(_SLOT_DONE, deadline=done_by))
    except _OtherSideFailed:
        failed_there = True
    except (LinkFailed, ProtocolError, RelayUnreachable) as exc:  # it may have registered all the same: kept
        _log.info("the new device did not say it was done: %s", type(exc).__name__)
    finally:
        if sent is not None:
            await delete_history(approval.relay, sent)
    if failed_there:
        await _take_back(approval.devices, device_id)
    return next(d for d in approval.devices.list() if d.device_id == device_id)


async def _take_back(devices: Devices, device_id: str) -> None:
    """The new device did not get, or could not use, what this device sent (the relay failed or altered it): list
    it no more.

    Raises:
        LinkFailed: always, saying whether the device is off the list again.
    """
    try:
        await devices.remove_device(device_id)
    except (ClientError, RelayUnreachable) as exc:
        raise LinkFailed(
            "the new device did not get what this device sent, or could not open it (altered on the way?), and it "
            f"could not be taken off your devices again ({exc}); remove it with 'confide devices remove {device_id}'"
        ) from exc
    raise LinkFailed(
        "the new device did not get what this device sent, or could not open it (altered on the way?), so it was "
        "taken off your devices again; start again with a new code"
    )


async def _open_request(link: ExistingDeviceLink, sealed: bytes) -> DeviceRequest:
    """Slot 2: the new device's confirmation and request.

    Raises:
        LinkCodeCheckFailed: its confirmation is wrong. LinkFailed: it gave up, or the request is malformed or altered.
    """
    try:
        return link.open_request(sealed)
    except LinkCodeMismatch as exc:
        raise LinkCodeCheckFailed(_MISMATCH) from exc
    except ProtocolError as exc:
        raise LinkFailed(f"{exc}; nothing was changed") from exc


__all__ = [
    "ABORT",
    "DONE_TIMEOUT_S",
    "LINK_POLL_FIRST_S",
    "LINK_POLL_MAX_S",
    "LINK_TIMEOUT_S",
    "Approval",
    "LinkCodeCheckFailed",
    "LinkFailed",
    "NewDeviceRun",
    "Provisioned",
    "approve_device",
    "contact_bodies",
    "contact_snapshots",
]
