"""The relay's policy limits: what one client, device or request may make the relay hold or do.

Every limit here holds whatever the backend (SQLite or a networked one); each carries its reason. Operator
settings with defaults live in :mod:`confide.server.config`; bounds of one implementation's own memory (the
in-process replay cache, a SQLite transaction) live beside that implementation.
"""

from __future__ import annotations

from confide.protocol.auth import REPLAY_WINDOW_S
from confide.protocol.document_bodies import MAX_DEVICES
from confide.protocol.documents import MAX_DOCUMENT_LEN

# -- accounts and keys ------------------------------------------------------------------------------

MAX_DEVICES_PER_ACCOUNT = MAX_DEVICES
"""Devices per account: the most a signed device list may name (:data:`confide.protocol.device_list.MAX_DEVICES`,
an office laptop, a home computer, a phone and a tablet, plus room to link a replacement before removing the lost
one). An address with a list registers only the devices it names; an address without one registers its first
device only. Bounds a bundle's size and fetch cost."""

REMOVED_DEVICE_MEMORY_S = 400 * 86400
"""How long the relay remembers a device removed by its account's device list (its id, address and when), so
that its requests and its WebSocket get 410 ``device_removed`` rather than 401 and a re-registration of it is
refused: 400 days, longer than any list's lifetime (90 days) and the recovery window, so a stolen device that
comes back online months later is still told, and still refused. Then the id is forgotten; registering it again
would still need a list naming it."""

MAX_ONE_TIME_STOCK = 1000
"""One-time X25519 prekeys kept per device: ten refills; bounds what one device may make the relay store."""

MAX_KEM_ONE_TIME_STOCK = 200
"""One-time ML-KEM prekeys kept per device (1.2 KiB each): ten refills, about 250 KiB."""

MAX_TOKEN_HASHES = 1024
"""Delivery tokens per device: the client registers one per contact who may write to it, plus its introduction
(invite) token. A full-time therapist carries 25-40 clients at a time and sees a few hundred over the years a
profile lives, besides colleagues and supervisors; 1024 holds that with room to spare (the client keeps its own
set within :data:`confide.client.account.MAX_DELIVERY_TOKENS`, the same number, and falls back to the
introduction token beyond it). The cost stays small: the set is 32 KiB per device, 47 KiB of base64 in a
``PUT /v1/delivery-tokens`` (within :data:`MAX_JSON_BODY` even beside a full registration), and the check of an
envelope's token, constant-time against every hash, takes about 0.1 ms at this size."""

MAX_ONE_TIME_UPLOAD = 200
"""One-time X25519 prekeys per request: two refills' worth (7 KiB), bounded parsing work per request."""

MAX_KEM_ONE_TIME_UPLOAD = 50
"""One-time ML-KEM prekeys per request: 60 KiB and 50 signature checks at most."""

BUDGET_WINDOW_S = 3600.0
"""The per-address prekey budget renews every hour."""

ONE_TIME_KEYS_PER_DEVICE_FETCH = 2
"""One-time keys a bundle fetch may hand out per device: one X25519 and one ML-KEM key. The budget is charged
this much per device *before* the keys are taken (both kinds count), so a fetch can never hand out a key the
budget did not pay for, whatever runs concurrently."""

# -- registration and storage -----------------------------------------------------------------------

WORK_CHALLENGE_TTL_S = 600
"""A registration challenge is valid ten minutes: far longer than the work takes at any sane difficulty,
short enough that work cannot be stockpiled for a mass registration later."""

BYTE_BUDGET_WINDOW_S = 24 * 3600.0
"""Byte budgets (per recipient device and token, per address, per uploading device) renew daily."""

# -- requests ---------------------------------------------------------------------------------------

CLIENT_MAX_SIZE = 1024 * 1024
"""aiohttp's own cap for ``request.read()``; handlers read bodies themselves with their tighter limits, and
blob uploads stream (their cap is ``max_blob_bytes``)."""

MAX_JSON_BODY = 256 * 1024
"""Largest JSON body: a full registration (a signed prekey, 200 one-time keys, 50 ML-KEM keys of 1.2 KiB,
base64) is about 110 KiB, 160 KiB with :data:`MAX_TOKEN_HASHES` delivery-token hashes; this leaves room without
letting a client make the relay parse megabytes."""

MAX_BATCH_BODY = 8 * 1024 * 1024
"""A batch is for many small envelopes (receipts, fan-out): 8 MiB holds 256 envelopes of 32 KiB; larger
messages go one per request, so no single request makes the relay buffer more than this."""

MAX_NONCES_PER_DEVICE = 4_000
"""Nonces remembered per device: 6.6 signed requests per second sustained over the 10-minute memory, far beyond
a person's use (a sync is a pull and an ack per 100-500 envelopes). A device over its share is refused alone
(429) until its oldest nonces age out; it can never fill the cache for others."""

NONCE_MEMORY_S = 2 * REPLAY_WINDOW_S
"""A proof stamped ``t`` is accepted until ``t + window`` and ``t`` is at most ``window`` ahead of the clock
when first seen, so a nonce must be kept ``2 * window`` after it was first seen (by every replay cache)."""

# -- signed public documents -----------------------------------------------------------------------

MAX_DOCUMENT_BODY = MAX_DOCUMENT_LEN
"""Largest ``PUT /v1/documents/{address}`` body: the longest document SPEC section 12 allows (a full directory of
100 therapists, 228,524 bytes); anything longer cannot parse, so it is refused before it is read."""

PUBLISHED_KINDS = ("revocations", "directory", "availability", "policy", "devices")
"""The document kinds the relay stores, by name (SPEC section 12). A credential is never published alone: it
reaches clients inside the practice's directory or a therapist's contact card, and a relay holding single
credentials would only be a second, unversioned copy of the directory's. The relay holds the newest of each
kind per address, so at most 4 x 228,524 bytes (under 1 MiB) per registered address, whatever it publishes, plus
one device list (at most :data:`MAX_DEVICES` entries of 105 bytes). Storing a newer device list removes every
registered device of its address that the list does not name (SPEC section 12, docs/relay-api.md)."""

# -- device links ------------------------------------------------------------------------------------

MAX_LINK_MESSAGE = 512 * 1024
"""Largest ``PUT /v1/links/{channel}/{slot}`` body: the biggest link message is the provisioning (the identity
key, the device list and a contact snapshot per contact; a few hundred contacts fit in well under 128 KiB),
sealed; 512 KiB leaves room while bounding a channel to 8 slots x 512 KiB = 4 MiB."""

LINK_SLOTS = 8
"""Slots per link channel (0..7): the link exchange (protocol/link.py) uses six, two are spare for a later version."""

LINK_CHANNEL_LEN = 32
"""A channel is the SHA-256 of the code's channel bits, 64 lowercase hex characters in the path."""

LINK_CHANNEL_TTL_S = 600
"""A link channel lives ten minutes from its first write, then it and every message in it are deleted: a person
holds both devices while linking, which takes a minute or two; a code not used within ten minutes is dead."""

MAX_LINK_CHANNELS = 256
"""Live link channels on a relay at once (beyond: 507). Links are rare (a person adds a device a few times a
year) and short (ten minutes at most), so 256 at once is far more than a relay of 100,000 accounts sees; it bounds
what unauthenticated writers can make the relay hold to 256 x 4 MiB = 1 GiB, which the storage budget and the
per-address daily byte budget bound further."""

# -- push -------------------------------------------------------------------------------------------

MAX_WS_MESSAGE = 64 * 1024
"""Largest frame a client may send: an ack of 500 ids is about 18 KiB."""

MAX_BUFFERED_PUSHES = 256
"""Envelopes buffered per socket before it must re-read its mailbox: about 18 MiB for a slow reader of
maximal envelopes, nothing for the usual small ones."""
