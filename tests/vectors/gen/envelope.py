"""Section 6, outer envelope and delivery tokens: ``envelope.json``."""

from __future__ import annotations

from collections.abc import Callable

from confide.protocol.envelope import Delivery, Envelope, decode_batch, delivery_token_hash, encode_batch
from confide.protocol.errors import RemoteProtocolError

from .common import Json, expect_error, h, seed_of, vector
from .drbg import SeededRng


def envelope() -> Json:
    seed = seed_of("envelope")
    rng = SeededRng(seed)
    env = Envelope(rng(16), rng(16), rng(32), 7 * 24 * 3600, rng(200))
    env2 = Envelope(rng(16), rng(16), rng(32), 3600, rng(40))
    delivery = Delivery(rng(16), 1_700_000_000_123, 1_700_604_800_123, rng(100))
    env_bytes, delivery_bytes = env.to_bytes(), delivery.to_bytes()
    batch = encode_batch([env_bytes, env2.to_bytes()])
    assert Envelope.from_bytes(env_bytes) == env
    assert Delivery.from_bytes(delivery_bytes) == delivery
    assert decode_batch(batch) == [env, env2]
    too_long = env_bytes[:69] + (72 * 1024 + 1).to_bytes(4, "big") + env_bytes[73:]
    malformed = [
        ("envelope", "unknown version 2", b"\x02" + env_bytes[1:]),
        ("envelope", "truncated (last byte missing)", env_bytes[:-1]),
        ("envelope", "trailing byte", env_bytes + b"\x00"),
        ("envelope", "ciphertext length above MAX_SEALED_LEN (73729)", too_long),
        ("envelope", "empty", b""),
        ("delivery", "unknown version 0", b"\x00" + delivery_bytes[1:]),
        ("delivery", "truncated", delivery_bytes[:30]),
        ("batch", "zero envelopes", b"\x00\x00"),
        ("batch", "count says 3, holds 2", b"\x00\x03" + batch[2:]),
        ("batch", "trailing byte", batch + b"\x00"),
    ]
    parsers: dict[str, Callable[[bytes], object]] = {
        "envelope": Envelope.from_bytes,
        "delivery": Delivery.from_bytes,
        "batch": decode_batch,
    }

    def env_json(e: Envelope) -> Json:
        return {
            "envelope_id": h(e.envelope_id),
            "recipient_device": h(e.recipient_device),
            "delivery_token": h(e.delivery_token),
            "lifetime_s": e.lifetime_s,
            "ciphertext": h(e.ciphertext),
        }

    return vector(
        "envelope",
        "Outer envelope (client to relay), delivery (relay to device) and batch encodings: the fields encode to "
        "the expected bytes and parse back. delivery_token_hash = SHA-256('Confide-delivery-token-v1' || "
        "token). Every 'malformed' input must be refused by its parser ('kind') with RemoteProtocolError.",
        seed,
        {
            "envelope": env_json(env),
            "envelope2": env_json(env2),
            "delivery": {
                "envelope_id": h(delivery.envelope_id),
                "received_at_ms": delivery.received_at_ms,
                "expires_at_ms": delivery.expires_at_ms,
                "ciphertext": h(delivery.ciphertext),
            },
            "malformed": [{"kind": k, "why": w, "data": h(d)} for k, w, d in malformed],
        },
        {
            "result": "ok",
            "envelope": h(env_bytes),
            "envelope2": h(env2.to_bytes()),
            "delivery": h(delivery_bytes),
            "batch": h(batch),
            "delivery_token_hash": h(delivery_token_hash(env.delivery_token)),
            "malformed": [{"why": w, **expect_error(RemoteProtocolError, parsers[k], d)} for k, w, d in malformed],
        },
    )
