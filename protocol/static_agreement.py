"""The static-static agreement of sealed sender, remembered per pair of identities, in memory only.

``s2 = X25519(IK_A, IK_B)`` (SPEC §5) is the same for every message between two identities: it is a function
of our private agreement key (fixed by our public agreement key: distinct clamped X25519 scalars have distinct
public keys) and of the peer's public agreement key bytes, nothing else. Remembering it by those exact bytes
therefore returns exactly what computing it again would return; the per-message ephemeral agreement
``s1 = X25519(e, IK_B)`` is never remembered. The entries live in this process's memory only (never in a
store, a log or a ``repr``), the oldest go first when :data:`STATIC_AGREEMENT_CACHE_SIZE` is reached, a failed
agreement (a low-order peer key) is never remembered, and :func:`forget_static_agreements` drops an identity's
entries when its owner closes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from confide.keys.identity import IdentityKeyPair, IdentityPublicKey

STATIC_AGREEMENT_CACHE_SIZE = 256
"""Pairs of identities remembered (least recently used go first): a therapist's active clients, as the sender
certificate cache counts them; one entry is ≈ 250 bytes. A miss costs one X25519 (≈ 27-40 µs), so evicting
under a larger working set only costs time, never correctness."""


class StaticAgreements:
    """``X25519(IK_local, IK_peer)`` by ``(local agreement public, peer agreement public)``; thread-safe.

    ``repr`` shows only the number of entries.
    """

    __slots__ = ("_entries", "_lock", "_size")

    def __init__(self, size: int = STATIC_AGREEMENT_CACHE_SIZE) -> None:
        if size < 1:
            raise ValueError("a static agreement cache holds at least one entry")
        self._size = size
        self._entries: OrderedDict[tuple[bytes, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def agree(self, local: IdentityKeyPair, peer: IdentityPublicKey) -> bytes:
        """``X25519(local, peer)``, computed once per pair of agreement keys while it stays remembered.

        Raises:
            ValueError: the peer's agreement key has low order (the result would be all zero); nothing is
                remembered.
        """
        key = (local.public.agreement, peer.agreement)
        with self._lock:
            shared = self._entries.get(key)
            if shared is not None:
                self._entries.move_to_end(key)
                return shared
        shared = local.agree(peer.agreement_key)
        with self._lock:
            self._entries[key] = shared
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return shared

    def forget(self, local: IdentityPublicKey | None = None) -> None:
        """Drop every entry of the ``local`` identity (every entry when ``None``)."""
        with self._lock:
            if local is None:
                self._entries.clear()
                return
            for key in [k for k in self._entries if k[0] == local.agreement]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"StaticAgreements({len(self._entries)} entries)"


STATIC_AGREEMENTS = StaticAgreements()
"""The process's cache, used by :func:`confide.protocol.sealed.seal` and :func:`~confide.protocol.sealed.unseal`."""


def forget_static_agreements(local: IdentityPublicKey | None = None) -> None:
    """Drop the remembered static agreements of ``local`` (all of them when ``None``): call it when the
    owner of that identity closes or replaces it."""
    STATIC_AGREEMENTS.forget(local)
