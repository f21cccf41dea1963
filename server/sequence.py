"""The mailbox sequence: the numbers that order every mailbox (``StoredEnvelope.seq``).

A WebSocket sends its backlog and then live envelopes, skipping any whose number it already passed; a pull
reads after a number. So numbers must increase in the order envelopes are committed, and a number must never
be handed out twice, not even after a restart. The embedded relay counts in process memory above the highest
stored number (:class:`~confide.server.inprocess.InProcessSequence`); relay processes that write into one
database need one shared sequence.
"""

from __future__ import annotations

from typing import Protocol


class MailboxSequence(Protocol):
    """Increasing numbers for stored envelopes; gaps are fine (a duplicate or a rollback wastes one)."""

    async def start(self, floor: int) -> None:
        """Continue above ``floor``, the highest number already stored; called by each store using the
        sequence when it opens (idempotent: a sequence already past ``floor`` stays where it is)."""
        ...

    async def reserve(self, count: int) -> range:
        """``count`` fresh numbers, in increasing order, each greater than every number handed out before.

        Raises:
            ValueError: ``count`` is negative.
        """
        ...

    async def close(self) -> None:
        """Release what :meth:`start` took (idempotent)."""
        ...
