"""Which user's program is on the other end of a loopback connection (Linux), so that the Desk serves only the
user who runs it.

A browser sends a cookie to every port of its host: a program of another user of the computer that gets the
person's browser to open a page on its own ``127.0.0.1`` port receives the Desk's session cookie (and, with it,
the pages and their CSRF token). Holding the cookie is therefore not enough: the kernel says, for each TCP
connection on this machine, which user owns its socket (``/proc/net/tcp``), and the Desk refuses a connection
whose client end belongs to another user than its own. Where that table cannot be read (not Linux, a hardened
``/proc``), the check cannot be made, and the Desk says so when it starts.
"""

from __future__ import annotations

import socket
from pathlib import Path

PROC_NET_TCP = Path("/proc/net/tcp")
"""The kernel's table of IPv4 TCP sockets: local and remote address, state, and the owning user id (column 8)."""

MAX_TABLE_BYTES = 16 * 1024 * 1024
"""How much of the table is read at most: 150 bytes a socket, so about 100,000 sockets; a machine with more is
not a desktop, and the check then fails closed (the connection is not found, so it is refused)."""


def _hex_endpoint(ip: str, port: int) -> str:
    """``ip:port`` as the table writes it: the IPv4 address's bytes as a little-endian hex number, the port as
    four hex digits (both upper case)."""
    return f"{int.from_bytes(socket.inet_aton(ip), 'little'):08X}:{port:04X}"


def can_check(table: Path = PROC_NET_TCP) -> bool:
    """Whether the owners of loopback connections can be told on this machine."""
    try:
        with table.open("rb") as fh:
            return bool(fh.read(1))
    except OSError:
        return False


def client_uid(client: tuple[str, int], server: tuple[str, int], table: Path = PROC_NET_TCP) -> int | None:
    """The user id owning the client end of the TCP connection from ``client`` to ``server`` (both IPv4
    ``(ip, port)``), or None when the table cannot be read or does not hold that connection.

    Raises:
        ValueError: an address that is not IPv4 text (a programmer mistake).
    """
    try:
        want_local, want_remote = _hex_endpoint(*client), _hex_endpoint(*server)
    except OSError:
        raise ValueError("an IPv4 address is expected") from None
    try:
        with table.open("rb") as fh:
            data = fh.read(MAX_TABLE_BYTES)
    except OSError:
        return None
    for line in data.decode("ascii", "replace").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 7 and fields[1] == want_local and fields[2] == want_remote:
            try:
                return int(fields[7])
            except ValueError:
                return None
    return None
