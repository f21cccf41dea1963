"""Which client a request comes from: its TCP peer, or behind a trusted reverse proxy the address the proxy saw.

Behind a TLS proxy every request arrives from the proxy's address, so per-IP limits would make one bucket for
all users and one client could lock out everyone. An operator names the proxies (``--trusted-proxy CIDR``);
only when the TCP peer is inside one of them is ``X-Forwarded-For`` read, from the right: each trusted proxy
appends the address it received the connection from, so the right-most address that is not itself a trusted
proxy is the client (everything left of it was written by the client and could be forged). From any other peer
the header is ignored, so a client talking to the relay directly cannot choose its own bucket.

The address is used only as the key of rate-limit buckets; it is never logged or stored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_FORWARDED_HOPS = 16
"""Entries of ``X-Forwarded-For`` considered (from the right): a chain of proxies is a handful long; a client
padding the header with thousands of entries costs no more than this to parse."""


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The networks of ``cidrs`` (addresses or CIDR blocks). Raises :class:`ValueError` for a bad one."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[IPNetwork, ...]) -> bool:
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: list[str], trusted: tuple[IPNetwork, ...]) -> str:
    """The client's address for a connection from ``peer`` carrying these ``X-Forwarded-For`` header values.

    ``peer`` itself unless it is inside a ``trusted`` network; then the right-most forwarded address that is not
    trusted. A malformed entry ends the walk at the last trusted hop (so a garbled header never lets a client
    pick another bucket); if every entry is trusted, the left-most of them.
    """
    peer_text = peer or ""
    peer_ip = _ip(peer_text)
    if not trusted or peer_ip is None or not _trusted(peer_ip, trusted):
        return peer_text
    hops = [hop for value in forwarded_for for hop in value.split(",")][-MAX_FORWARDED_HOPS:]
    client = str(peer_ip)
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            return client
        client = str(ip)
        if not _trusted(ip, trusted):
            return client
    return client
