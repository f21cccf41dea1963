"""How the PostgreSQL pools hand a connection back: without asyncpg's reset query.

asyncpg's pool resets every connection it takes back with one more statement (unlock every advisory lock, close
cursors, ``UNLISTEN *``, ``RESET ALL``): a round trip on every use, which on the send path was a quarter of the
relay's statements. The relay's pools pass :func:`keep_session` instead; asyncpg still rolls back a transaction
left open. The few users of session state (a session advisory lock, a ``SET``) reset their own connection before
handing it back (``await conn.reset()`` in a ``finally``), so no later user inherits it.
"""

from __future__ import annotations

from typing import Any


async def keep_session(conn: Any) -> None:
    """The pools' ``reset``: nothing more than asyncpg always does (see the module's docstring)."""
