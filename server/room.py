"""Room for new data: the global storage budget, the free-disk reserve and the daily byte budgets.

Every handler that stores bytes (an envelope, a batch, an attachment) asks here first. The global budget counts
envelope ciphertext and attachment bytes held (:meth:`~confide.server.storage.RelayStore.bytes_held`) plus
uploads in progress; the reserve keeps the disk from filling whatever the budget says. Both refuse with 507
and keep everything already stored. Daily byte budgets refuse with 429 (``rate_limited``): per recipient device +
delivery token (sealed sends carry no identity), per client address, per uploading device.
"""

from __future__ import annotations

import asyncio

from .errors import InsufficientStorage, RateLimited
from .ratelimit import Budget
from .state import Relay


async def ensure_room(relay: Relay, incoming: int) -> None:
    """Raise :class:`InsufficientStorage` unless ``incoming`` more bytes fit the budget and the disk."""
    cfg = relay.config
    # Both reads at once: on PostgreSQL each is a statement of its own, and the send path waits for neither twice.
    held, pending = await asyncio.gather(relay.store.bytes_held(), relay.reservations.pending())
    if held + pending + incoming > cfg.storage_budget_bytes:
        raise InsufficientStorage(
            "the relay's storage budget is used up; nothing new is stored until messages are collected or expire"
        )
    free = relay.disk.free(cfg.data_dir)
    if free is not None and free - pending - incoming < cfg.disk_reserve_bytes:
        raise InsufficientStorage("the relay's disk is nearly full; nothing new is stored for now, retry later")
    relay.disk.admit(incoming)


async def spend_bytes(relay: Relay, budget: Budget, key: bytes, amount: int, what: str) -> None:
    """Spend ``amount`` of ``key``'s daily byte budget or raise :class:`RateLimited` (nothing spent)."""
    if not await budget.try_spend(key, relay.clock(), amount):
        raise RateLimited(f"the daily byte budget {what} is used up; retry tomorrow")
