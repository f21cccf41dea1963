"""This profile's account at its relay: settings, delivery token, registration and prekey upkeep.

The service owns the profile's settings in the ``meta`` table (relay URL, name, role, delivery token,
whether registration finished) and the relay's stock of this device's public prekeys.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from confide.keys.encoding import RNG
from confide.keys.prekeys import KEM_ONE_TIME_BATCH, ONE_TIME_PREKEY_BATCH, RefillPlan, plan_refill
from confide.keys.secret_keys import SecretKeys
from confide.protocol.envelope import DELIVERY_TOKEN_LEN, delivery_token_hash
from confide.protocol.sealed import SenderCertificate

from .bus import EventBus
from .errors import ProfileError
from .events import PrekeysLow
from .invite import Invite
from .models import Role
from .prekey_store import PreKeyStore, PreKeyUpload
from .relay import RelayClient
from .store import Store

_M_SERVER = "profile.server_url"
_M_NAME = "profile.name"
_M_ROLE = "profile.role"
_M_TOKEN = "profile.delivery_token"  # noqa: S105 - a settings key name, not a secret
_M_REGISTERED = "profile.registered"


SERVER_SCHEMES = ("http", "https")
"""The relay speaks HTTP; ``https`` in production (behind a TLS proxy), ``http`` for a relay on loopback."""
MAX_SERVER_URL_LEN = 2048
"""The longest relay URL accepted: far beyond any real host name (253) and port, short enough to show."""


def check_server_url(url: str) -> str:
    """``url`` as stored (no trailing ``/``) if it can name a relay: ``http`` or ``https``, a host, an
    optional port, and nothing else (no path, query, fragment or user name).

    Raises:
        ValueError: a sentence saying what is wrong, with an example of a good URL.
    """
    example = "e.g. https://relay.example or http://127.0.0.1:8787"
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_SERVER_URL_LEN:
        raise ValueError(f"give the relay's URL, {example}")
    text = url.strip().rstrip("/")
    if "://" not in text:
        raise ValueError(f"the relay URL needs a scheme (http:// or https://): {example}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"the relay URL has an invalid port: {example}") from None
    if parts.scheme.lower() not in SERVER_SCHEMES:
        raise ValueError(f"the relay URL must start with http:// or https://: {example}")
    if not parts.hostname:
        raise ValueError(f"the relay URL has no host: {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the relay URL must not hold a user name or password")
    if parts.path or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError(f"the relay URL is a host and an optional port, with no path, query or fragment: {example}")
    if port == 0:
        raise ValueError(f"the relay URL has an invalid port: {example}")
    if any(c.isspace() or ord(c) < 0x20 for c in text):
        raise ValueError(f"the relay URL must not hold spaces or control characters: {example}")
    return text


def server_url_of(store: Store) -> str:
    """The relay URL a profile's store names.

    Raises:
        ProfileError: the profile was not created completely.
    """
    server = store.get_meta(_M_SERVER)
    if server is None:
        raise ProfileError("this profile has no relay address; it was not created completely")
    return server.decode()


def write_new_settings(store: Store, server_url: str, name: str, role: Role, rng: RNG) -> None:
    """The settings of a new profile: relay, own name, role, a fresh delivery token, not yet registered."""
    with store.transaction():
        store.set_meta(_M_SERVER, check_server_url(server_url).encode())
        store.set_meta(_M_NAME, name.strip().encode())
        store.set_meta(_M_ROLE, role.value.encode())
        store.set_meta(_M_TOKEN, rng(DELIVERY_TOKEN_LEN))
        store.set_meta_int(_M_REGISTERED, 0)


class Account:
    """Registration and prekeys of this device at its relay."""

    def __init__(self, store: Store, keys: SecretKeys, relay: RelayClient, prekeys: PreKeyStore, bus: EventBus) -> None:
        self._store = store
        self._keys = keys
        self._relay = relay
        self._prekeys = prekeys
        self._bus = bus

    @property
    def name(self) -> str:
        """This profile's own display name (local only)."""
        return (self._store.get_meta(_M_NAME) or b"").decode()

    @property
    def role(self) -> Role:
        """The profile's role (local only)."""
        return Role((self._store.get_meta(_M_ROLE) or Role.CLIENT.value.encode()).decode())

    def token(self) -> bytes:
        """This device's delivery token.

        Raises:
            ProfileError: the profile was not created completely.
        """
        token = self._store.get_meta(_M_TOKEN)
        if token is None or len(token) != DELIVERY_TOKEN_LEN:
            raise ProfileError("this profile has no delivery token; it was not created completely")
        return token

    def invite_code(self) -> str:
        """The invite code (address + delivery token)."""
        return Invite(self._keys.identity.address, self.token()).code

    def sender_certificate(self) -> SenderCertificate:
        """What sealed sender tells a recipient about this device (identity, device, reply token)."""
        return SenderCertificate(self._keys.identity.public, self._keys.device.certificate, self.token())

    async def register(self) -> None:
        """Register this device and publish its first prekeys.

        Raises:
            RelayUnreachable, RelayError.
        """
        upload = self._prekeys.generate(PreKeyStore.initial_plan(), int(time.time()))
        await self._register_with(upload)
        self._store.set_meta_int(_M_REGISTERED, 1)

    async def _register_with(self, upload: PreKeyUpload) -> None:
        """(Re-)register this device with the current signed and last-resort prekeys and ``upload``'s one-time
        keys: the relay replaces every one-time key it held for this device with these.

        Raises:
            RelayUnreachable, RelayError; StorageError (no current signed prekey).
        """
        signed_prekey, kem_last_resort = self._prekeys.current_public()
        await self._relay.register(
            identity=self._keys.identity.public.to_bytes(),
            device=self._keys.device.certificate.to_bytes(),
            token_hashes=[delivery_token_hash(self.token())],
            signed_prekey=signed_prekey,
            kem_last_resort=kem_last_resort,
            one_time_prekeys=upload.one_time_prekeys,
            kem_one_time_prekeys=upload.kem_one_time_prekeys,
        )
        self._prekeys.relay_stock_replaced()

    async def set_server(self, url: str) -> str:
        """Point this profile at the relay at ``url`` and register there (again); returns the stored URL.

        The new URL is saved first and registration is marked as not done, so if the relay cannot be
        reached now, the next sync registers. Registering at a relay that already knows this device (the
        same relay under a new address) replaces only its prekeys and token hashes there.

        Raises:
            ValueError: not a relay URL (nothing changed). RelayUnreachable, RelayError: the URL is saved;
                registration is retried by the next sync.
        """
        checked = check_server_url(url)
        with self._store.transaction():
            self._store.set_meta(_M_SERVER, checked.encode())
            self._store.set_meta_int(_M_REGISTERED, 0)
        await self._relay.set_base_url(checked)
        await self.register()
        return checked

    async def ensure_registered(self) -> None:
        """Finish a registration that an outage interrupted (no-op once registered)."""
        if not self._store.get_meta_int(_M_REGISTERED, 0):
            await self.register()

    async def maintain_prekeys(self, *, now: int | None = None) -> PrekeysLow | None:
        """Check the relay's stock of this device's prekeys and the signed prekey's age; refill and rotate
        as :func:`confide.keys.prekeys.plan_refill` decides. Returns the :class:`PrekeysLow` event emitted,
        if anything was uploaded.

        When the refill pruned old one-time keys to stay within the bound (see
        :meth:`PreKeyStore.generate`), or an earlier one did and was not yet followed by a registration, the
        upload goes out as a re-registration (with full batches when an earlier prune is pending), which replaces
        the relay's one-time keys: the relay appends ordinary uploads, so it would otherwise keep handing out keys
        this device deleted.

        Raises:
            RelayUnreachable, RelayError.
        """
        now_s = int(time.time()) if now is None else now
        counts = await self._relay.prekey_counts()
        plan = plan_refill(
            one_time_left=counts.get("one_time", 0),
            kem_one_time_left=counts.get("kem_one_time", 0),
            signed_created_at=self._prekeys.current_signed_created_at(),
            now=now_s,
        )
        stale = self._prekeys.relay_stock_stale()
        if stale:  # the relay's stock is replaced below: fill it completely
            plan = RefillPlan(ONE_TIME_PREKEY_BATCH, KEM_ONE_TIME_BATCH, plan.rotate_signed)
        if not plan.needed:
            return None
        upload = self._prekeys.generate(plan, now_s)
        if stale or upload.pruned:
            await self._register_with(upload)
        else:
            await self._relay.upload_prekeys(
                signed_prekey=upload.signed_prekey,
                kem_last_resort=upload.kem_last_resort,
                one_time_prekeys=upload.one_time_prekeys,
                kem_one_time_prekeys=upload.kem_one_time_prekeys,
            )
        event = PrekeysLow(counts.get("one_time", 0), counts.get("kem_one_time", 0), upload.count)
        self._bus.emit(event)
        return event
