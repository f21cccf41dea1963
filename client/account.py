"""This profile's account at its relay: settings, delivery tokens, registration and prekey upkeep.

The service owns the profile's settings in the ``meta`` table (relay URL, name, role, introduction token,
whether registration finished), the set of delivery tokens this device registers, and the relay's stock of this
device's public prekeys.

**Delivery tokens.** The relay stores an envelope only if its delivery token is one this device registered
(``PUT /v1/delivery-tokens`` replaces the set). The set is:

- the *introduction token*, the one in the invite code (:meth:`Account.invite_code`): whoever holds the invite
  can write a first message with it; :meth:`Account.rotate_invite` replaces it (a new invite code);
- one token per contact (:attr:`ContactRecord.inbound_token`), minted when the contact is created and sent to
  that contact as ``reply_token`` in every sealed sender certificate, so their client writes with it from their
  next message on. A blocked contact's token is left out (the relay then refuses it), at most
  :data:`MAX_DELIVERY_TOKENS` are registered, and a certificate carries a contact's own token only once the
  relay accepts it (:attr:`ContactRecord.inbound_live`); before that, the introduction token.

:meth:`Account.register_tokens` sends the set when it differs from the last one the relay accepted (a digest
of it is kept in ``meta``), so calling it often costs nothing. A profile written before per-contact tokens
kept one token for everything: it is the introduction token now, still registered, so its contacts keep
writing with it until a message of ours gives them their own.

**Tokens every device of the identity shares.** A contact's token is derived, not drawn:
``HMAC-SHA256(token_key, "Confide-contact-token-v1" || address || generation u32)`` (:func:`contact_token`),
where ``token_key`` is 32 random bytes of this identity, created on first need and handed to each new device
when it is linked (:meth:`Account.token_key`, :meth:`Account.adopt_token_key`). Two devices that meet a new
contact at the same moment thus give them the same token, and the relay accepts it for every device of the
identity. The generation (:attr:`ContactRecord.token_generation`) goes up by one when the contact is unblocked,
so a blocked token is never given out again. Tokens minted at random before this (older profiles) stay as they
are; every device learns them from the contact snapshots its other devices send (:mod:`confide.client.self_sync`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from urllib.parse import urlsplit

from confide.keys.encoding import RNG
from confide.keys.prekeys import KEM_ONE_TIME_BATCH, ONE_TIME_PREKEY_BATCH, RefillPlan, plan_refill
from confide.keys.secret_keys import SecretKeys
from confide.protocol.envelope import DELIVERY_TOKEN_LEN, delivery_token_hash
from confide.protocol.sealed import SenderCertificate

from .bus import EventBus
from .errors import ProfileError, RelayError, RelayUnreachable
from .events import PrekeysLow
from .invite import Invite
from .models import Role
from .prekey_store import PreKeyStore, PreKeyUpload
from .records import ContactRecord
from .relay import RelayClient
from .store import Store

_log = logging.getLogger(__name__)

_M_SERVER = "profile.server_url"
_M_NAME = "profile.name"
_M_ROLE = "profile.role"
_M_TOKEN = "profile.delivery_token"  # noqa: S105 - a settings key name, not a secret
_M_REGISTERED = "profile.registered"
_M_TOKEN_SET = "profile.token_set"  # noqa: S105 - a settings key name, not a secret
_TOKEN_SET_LABEL = b"Confide-token-set-v1"
_M_TOKEN_KEY = "profile.token_key"  # noqa: S105 - a settings key name, not a secret
_CONTACT_TOKEN_LABEL = b"Confide-contact-token-v1"
TOKEN_KEY_LEN = 32
"""Bytes of the identity's token key: an HMAC-SHA256 key of the hash's full output size (RFC 2104 §3)."""
MAX_TOKEN_GENERATION = 0xFFFFFFFF
"""The generation is a u32 in the derivation: one unblock a second for 136 years."""

MAX_DELIVERY_TOKENS = 1024
"""Delivery tokens this device registers at most: the introduction token and one per contact. The relay's cap
(``confide.server.limits.MAX_TOKEN_HASHES``, the same number; a test keeps them equal) holds a therapist's
caseload over years. Beyond it the contacts last in line (never-registered ones after registered ones) are
not given a token of their own: their certificates carry the introduction token, which works but cannot be
blocked at the relay without a new invite code."""


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
    """The settings of a new profile: relay, own name, role, a fresh introduction token, not yet registered."""
    with store.transaction():
        store.set_meta(_M_SERVER, check_server_url(server_url).encode())
        store.set_meta(_M_NAME, name.strip().encode())
        store.set_meta(_M_ROLE, role.value.encode())
        store.set_meta(_M_TOKEN, mint_token(rng))
        store.set_meta_int(_M_REGISTERED, 0)


def mint_token(rng: RNG) -> bytes:
    """A fresh delivery token (:data:`DELIVERY_TOKEN_LEN` random bytes)."""
    return rng(DELIVERY_TOKEN_LEN)


def token_key_of(store: Store, rng: RNG) -> bytes:
    """This identity's token key (:data:`TOKEN_KEY_LEN` bytes in ``meta``), created on first need, in a
    transaction of its own (or the caller's, which it joins).

    Raises:
        StorageError: the key could not be read or stored.
    """
    key = store.get_meta(_M_TOKEN_KEY)
    if key is not None and len(key) == TOKEN_KEY_LEN:
        return key
    with store.transaction():  # read again under the write lock: another process may have made it meanwhile
        key = store.get_meta(_M_TOKEN_KEY)
        if key is None or len(key) != TOKEN_KEY_LEN:
            key = rng(TOKEN_KEY_LEN)
            store.set_meta(_M_TOKEN_KEY, key)
    return key


def contact_token(store: Store, rng: RNG, address: bytes, generation: int = 0) -> bytes:
    """The delivery token for the contact at ``address`` (its raw bytes) in ``generation``: derived from the
    identity's token key (see the module docstring), so every device of the identity gives them the same one.

    Raises:
        ValueError: ``generation`` is not a u32. StorageError: the token key could not be read or stored.
    """
    if not 0 <= generation <= MAX_TOKEN_GENERATION:
        raise ValueError("a token generation is a u32")
    message = _CONTACT_TOKEN_LABEL + address + generation.to_bytes(4, "big")
    return hmac.digest(token_key_of(store, rng), message, "sha256")[:DELIVERY_TOKEN_LEN]


def _token_set_digest(hashes: list[bytes]) -> bytes:
    return hashlib.sha256(_TOKEN_SET_LABEL + b"".join(sorted(hashes))).digest()


class Account:
    """Registration, delivery tokens and prekeys of this device at its relay."""

    def __init__(
        self, store: Store, keys: SecretKeys, relay: RelayClient, prekeys: PreKeyStore, bus: EventBus, *, rng: RNG
    ) -> None:
        self._store = store
        self._keys = keys
        self._relay = relay
        self._prekeys = prekeys
        self._bus = bus
        self._rng = rng

    @property
    def name(self) -> str:
        """This profile's own display name (local only)."""
        return (self._store.get_meta(_M_NAME) or b"").decode()

    @property
    def role(self) -> Role:
        """The profile's role (local only)."""
        return Role((self._store.get_meta(_M_ROLE) or Role.CLIENT.value.encode()).decode())

    def token(self) -> bytes:
        """This device's introduction token (the one in its invite code).

        Raises:
            ProfileError: the profile was not created completely.
        """
        token = self._store.get_meta(_M_TOKEN)
        if token is None or len(token) != DELIVERY_TOKEN_LEN:
            raise ProfileError("this profile has no delivery token; it was not created completely")
        return token

    def token_key(self) -> bytes:
        """This identity's token key (created on first need), to provision a new device with.

        Raises:
            StorageError.
        """
        return token_key_of(self._store, self._rng)

    def adopt_token_key(self, key: bytes) -> None:
        """Use ``key``, the token key of another device of this identity (from the link exchange), so that the
        tokens this device derives are that device's. Tokens already given to contacts are not changed.

        Raises:
            ValueError: not :data:`TOKEN_KEY_LEN` bytes. StorageError.
        """
        if not isinstance(key, bytes) or len(key) != TOKEN_KEY_LEN:
            raise ValueError(f"a token key is {TOKEN_KEY_LEN} bytes")
        with self._store.transaction():
            self._store.set_meta(_M_TOKEN_KEY, key)

    def adopt_intro_token(self, token: bytes) -> None:
        """Use ``token``, the introduction token of another device of this identity (from the link exchange), so
        that the invite code given out before keeps working here and this device's invite code is the same.

        Raises:
            ValueError: not :data:`DELIVERY_TOKEN_LEN` bytes. StorageError.
        """
        if not isinstance(token, bytes) or len(token) != DELIVERY_TOKEN_LEN:
            raise ValueError(f"a delivery token is {DELIVERY_TOKEN_LEN} bytes")
        with self._store.transaction():
            self._store.set_meta(_M_TOKEN, token)

    def invite_code(self) -> str:
        """The invite code (address + introduction token)."""
        return Invite(self._keys.identity.address, self.token()).code

    def reply_token_for(self, rec: ContactRecord | None) -> bytes:
        """The delivery token ``rec`` is told to write here with: their own once the relay accepts it; for a
        blocked contact their own as well (the relay refuses it, so their replies fail there); otherwise, and
        for ``None``, the introduction token.

        Read from the store, not from ``rec`` (a caller's copy may predate the last :meth:`register_tokens`).

        Raises:
            ProfileError: the profile was not created completely.
        """
        stored = None if rec is None else self._store.contact(rec.contact_id)
        if stored is not None and stored.inbound_token is not None and (stored.inbound_live or stored.blocked):
            return stored.inbound_token
        return self.token()

    def sender_certificate(self, rec: ContactRecord | None = None) -> SenderCertificate:
        """What sealed sender tells ``rec`` about this device: identity, device, and the token to reply with
        (:meth:`reply_token_for`).

        Raises:
            ProfileError: the profile was not created completely.
        """
        cert = self._keys.device.certificate
        return SenderCertificate(self._keys.identity.public, cert, self.reply_token_for(rec))

    # -- the token set -----------------------------------------------------------------------------------
    def _token_plan(self) -> tuple[list[bytes], set[str], list[ContactRecord]]:
        """The hashes to register (introduction token first), the ids of the contacts whose own token is among
        them, and the contacts as read. Mints a token for every contact that has none (a profile written before
        per-contact tokens, a contact made by :func:`~confide.client.pinning.reject_pending`), in one
        transaction."""
        store = self._store
        contacts = store.contacts()
        if any(rec.inbound_token is None for rec in contacts):
            with store.transaction():  # read again under the write lock: another process may have minted
                contacts = store.contacts()
                for rec in contacts:
                    if rec.inbound_token is None:
                        rec.inbound_token = contact_token(store, self._rng, rec.address, rec.token_generation)
                        store.save_contact(rec, tokens=True)
        wanted = [c for c in contacts if not c.blocked and c.inbound_token is not None]
        wanted.sort(key=lambda c: not c.inbound_live)  # stable: registered ones keep their place under the cap
        kept = wanted[: MAX_DELIVERY_TOKENS - 1]
        hashes = [delivery_token_hash(self.token())]
        hashes += [delivery_token_hash(c.inbound_token) for c in kept if c.inbound_token is not None]
        return hashes, {c.contact_id for c in kept}, contacts

    def _record_registered(self, hashes: list[bytes]) -> None:
        """The relay accepted ``hashes``: remember their digest and mark which contacts' tokens it holds. Read
        again inside the transaction: a contact blocked or given a fresh token meanwhile (by another process) is
        never marked live for a token the relay does not hold, and the digest mismatch makes the next
        :meth:`register_tokens` send the set again."""
        store = self._store
        held = set(hashes)
        with store.transaction():
            for rec in store.contacts():
                token = rec.inbound_token
                now_live = token is not None and not rec.blocked and delivery_token_hash(token) in held
                if rec.inbound_live != now_live:
                    rec.inbound_live = now_live
                    store.save_contact(rec, tokens=True)
            store.set_meta(_M_TOKEN_SET, _token_set_digest(hashes))

    async def register_tokens(self, *, force: bool = False) -> bool:
        """Register this device's delivery-token set at the relay if it changed since the relay last accepted
        it (or always, with ``force``); returns whether it was sent. See the module docstring.

        Raises:
            RelayUnreachable, RelayError: nothing was marked registered; the next call sends the set again.
            ProfileError: the profile was not created completely.
        """
        hashes, live, contacts = self._token_plan()
        stored = self._store.get_meta(_M_TOKEN_SET)
        unchanged = stored is not None and stored == _token_set_digest(hashes)
        if unchanged and not force:
            if any(c.inbound_live != (c.contact_id in live) for c in contacts):
                self._record_registered(hashes)  # the relay holds the set; a stale copy was saved over a mark
            return False
        await self._relay.put_delivery_tokens(hashes)
        self._record_registered(hashes)
        return True

    async def try_register_tokens(self) -> None:
        """:meth:`register_tokens`, where a failure must not stop the caller (before a send: the relay may be
        down and the message is queued; certificates then carry the introduction token for contacts whose own
        token is not registered yet). A failure is logged by its kind only."""
        try:
            await self.register_tokens()
        except (RelayUnreachable, RelayError) as exc:
            _log.info("delivery tokens not registered now: %s", type(exc).__name__)

    def rotate_invite(self) -> str:
        """Replace the introduction token (so the old invite code stops working once :meth:`register_tokens`
        has run) and return the new invite code. Contacts with their own registered token are unaffected; one
        still writing with the old introduction token (not yet sent their own) is refused by the relay until a
        message of ours gives them their own.

        Raises:
            ProfileError: the profile was not created completely.
        """
        self.token()  # the profile is complete
        with self._store.transaction():
            self._store.set_meta(_M_TOKEN, mint_token(self._rng))
        return self.invite_code()

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
        hashes, _, _ = self._token_plan()  # the whole set: a registration replaces the relay's
        await self._relay.register(
            identity=self._keys.identity.public.to_bytes(),
            device=self._keys.device.certificate.to_bytes(),
            token_hashes=hashes,
            signed_prekey=signed_prekey,
            kem_last_resort=kem_last_resort,
            one_time_prekeys=upload.one_time_prekeys,
            kem_one_time_prekeys=upload.kem_one_time_prekeys,
        )
        self._record_registered(hashes)
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
        """Finish a registration that an outage interrupted; once registered, send the delivery-token set if
        it changed (:meth:`register_tokens`; nothing is sent otherwise).

        Raises:
            RelayUnreachable, RelayError.
        """
        if not self._store.get_meta_int(_M_REGISTERED, 0):
            await self.register()
        else:
            await self.register_tokens()

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
