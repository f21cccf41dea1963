"""The one form in which a stored envelope reaches its recipient device, by pull or by push."""

from __future__ import annotations

from confide.protocol.envelope import Delivery

from .storage import StoredEnvelope


def delivery_bytes(e: StoredEnvelope) -> bytes:
    """The ``Delivery`` form of a stored envelope, as the recipient device receives it."""
    return Delivery(e.envelope_id, e.received_at_ms, e.expires_at_ms, e.ciphertext).to_bytes()
