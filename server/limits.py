"""The relay's policy limits: what one client, device or request may make the relay hold or do.

Every limit here holds whatever the backend (SQLite or a networked one); each carries its reason. Operator
settings with defaults live in :mod:`confide.server.config`; bounds of one implementation's own memory (the
in-process replay cache, a SQLite transaction) live beside that implementation.
"""

from __future__ import annotations

from confide.protocol.auth import REPLAY_WINDOW_S

# -- accounts and keys ------------------------------------------------------------------------------

MAX_DEVICES_PER_ACCOUNT = 8
"""Devices per account: phone, laptop, tablet and spares; bounds a bundle's size and fetch cost."""

MAX_ONE_TIME_STOCK = 1000
"""One-time X25519 prekeys kept per device: ten refills; bounds what one device may make the relay store."""

MAX_KEM_ONE_TIME_STOCK = 200
"""One-time ML-KEM prekeys kept per device (1.2 KiB each): ten refills, about 250 KiB."""

MAX_TOKEN_HASHES = 64
"""Delivery tokens per device: one per contact who may write to it is generous for a first version."""

MAX_ONE_TIME_UPLOAD = 200
"""One-time X25519 prekeys per request: two refills' worth (7 KiB), bounded parsing work per request."""

MAX_KEM_ONE_TIME_UPLOAD = 50
"""One-time ML-KEM prekeys per request: 60 KiB and 50 signature checks at most."""

BUDGET_WINDOW_S = 3600.0
"""The per-address prekey budget renews every hour."""

# -- requests ---------------------------------------------------------------------------------------

CLIENT_MAX_SIZE = 1024 * 1024
"""aiohttp's own cap for ``request.read()``; handlers read bodies themselves with their tighter limits, and
blob uploads stream (their cap is ``max_blob_bytes``)."""

MAX_JSON_BODY = 256 * 1024
"""Largest JSON body: a full registration (a signed prekey, 200 one-time keys, 50 ML-KEM keys of 1.2 KiB,
base64) is about 110 KiB; twice that leaves room without letting a client make the relay parse megabytes."""

MAX_BATCH_BODY = 8 * 1024 * 1024
"""A batch is for many small envelopes (receipts, fan-out): 8 MiB holds 256 envelopes of 32 KiB; larger
messages go one per request, so no single request makes the relay buffer more than this."""

NONCE_MEMORY_S = 2 * REPLAY_WINDOW_S
"""A proof stamped ``t`` is accepted until ``t + window`` and ``t`` is at most ``window`` ahead of the clock
when first seen, so a nonce must be kept ``2 * window`` after it was first seen (by every replay cache)."""

# -- push -------------------------------------------------------------------------------------------

MAX_WS_MESSAGE = 64 * 1024
"""Largest frame a client may send: an ack of 500 ids is about 18 KiB."""

MAX_BUFFERED_PUSHES = 256
"""Envelopes buffered per socket before it must re-read its mailbox: about 18 MiB for a slow reader of
maximal envelopes, nothing for the usual small ones."""
