"""Section 3, the Double Ratchet with header encryption: ``ratchet_conversation.json``,
``ratchet_tampered.json``, ``ratchet_duplicate.json``, each a script played by two parties."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from confide.protocol import errors as protocol_errors
from confide.protocol.kdf import LABEL_AD
from confide.protocol.ratchet import MAX_OLD_HEADER_KEYS, MAX_SKIP, MAX_SKIPPED_KEYS, RatchetState

from .common import Json, attempt, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng

_Step = tuple[str, str, str, bytes | None, Callable[[bytes], bytes] | None, str]
"""(party, action, message label, plaintext for encrypt, tamper for decrypt, tamper description)."""


def _send(party: str, label: str, text: str) -> _Step:
    return (party, "encrypt", label, text.encode(), None, "")


def _drop(party: str, count: int) -> _Step:
    """``count`` empty messages encrypted and never delivered (listed only by their hash)."""
    return (party, "encrypt_dropped", str(count), b"", None, "")


def _recv(party: str, label: str, tamper: Callable[[bytes], bytes] | None = None, why: str = "") -> _Step:
    return (party, "decrypt", label, None, tamper, why)


def _ratchet(name: str, description: str, script: list[_Step], expected_top: Json) -> Json:
    seed = seed_of(name)
    master = SeededRng(seed)
    root, hka, nhkb, responder_ratchet = master(32), master(32), master(32), master(32)
    ad = LABEL_AD + master(256)
    seeds = {"initiator": master(32), "responder": master(32)}
    rngs = {p: RecordingRng(SeededRng(s)) for p, s in seeds.items()}
    responder_key = X25519PrivateKey.from_private_bytes(responder_ratchet)
    responder_pub = responder_key.public_key().public_bytes_raw()
    states = {
        "initiator": RatchetState.init_initiator(root, hka, nhkb, responder_pub, rngs["initiator"]),
        "responder": RatchetState.init_responder(root, hka, nhkb, responder_ratchet, responder_pub),
    }
    init_draws = rngs["initiator"].take()
    sent: dict[str, bytes] = {}
    plain: dict[str, bytes] = {}
    steps: list[Json] = []
    for party, action, label, plaintext, tamper, why in script:
        state, rng = states[party], rngs[party]
        if action == "encrypt_dropped":
            cts = [state.encrypt(b"", ad, rng) for _ in range(int(label))]
            steps.append(
                {
                    "party": party,
                    "action": action,
                    "count": len(cts),
                    "plaintext": "",
                    "ciphertexts_sha256": h(hashlib.sha256(b"".join(cts)).digest()),
                    "rng_outputs": rng.take(),
                    "result": "ok",
                }
            )
            continue
        if action == "encrypt":
            assert plaintext is not None
            ct = state.encrypt(plaintext, ad, rng)
            sent[label], plain[label] = ct, plaintext
            steps.append(
                {
                    "party": party,
                    "action": action,
                    "message": label,
                    "plaintext": h(plaintext),
                    "ciphertext": h(ct),
                    "rng_outputs": rng.take(),
                    "result": "ok",
                }
            )
            continue
        ct = sent[label] if tamper is None else tamper(sent[label])
        before = state.to_bytes()
        result, opened = attempt(state.decrypt, ct, ad, rng)
        step: Json = {"party": party, "action": action, "message": label}
        if why:
            step["tamper"] = why
        step["ciphertext"] = h(ct)
        if result["result"] == "ok":
            assert opened == plain[label], "decrypted text differs"
            step["plaintext"] = h(opened)
        else:
            assert state.to_bytes() == before, "a failed decrypt changed the state"
        step["rng_outputs"] = rng.take()
        step.update(result)
        steps.append(step)
    errors = [{"error": s["error"]} for s in steps if s["result"] == "error"]
    if expected_top["result"] == "error":
        assert errors, "an error scenario with no failing step"
        top = getattr(protocol_errors, expected_top["error"])
        assert all(issubclass(getattr(protocol_errors, e["error"]), top) for e in errors), errors
    else:
        assert not errors, errors
    return vector(
        name,
        description + " Setup: root_key, header_key_a (HKs of the initiator = HKr of the responder), "
        "next_header_key_b and the responder's ratchet private key are given; the initiator runs "
        "RatchetState.init_initiator (drawing its ratchet key: initiator_init_rng_outputs), the responder "
        "init_responder. Each party has its own DRBG (initiator_rng_seed / responder_rng_seed, same algorithm as "
        "'rng'); encrypt draws a 12-byte header nonce, a decrypt that turns the DH ratchet draws a 32-byte new "
        "ratchet key (even if the message then fails to open). Play the steps in order: an encrypt must produce "
        "'ciphertext' byte for byte; a decrypt of 'ciphertext' must give 'plaintext' or raise 'error' and leave "
        "the state unchanged (the top-level 'error' is the class every failing step raises, or a subclass of it). "
        "An 'encrypt_dropped' step encrypts 'count' empty plaintexts that are never delivered: the SHA-256 of "
        "their concatenated ciphertexts is 'ciphertexts_sha256'. 'rng_outputs' lists each step's draws. "
        "Message wire form: "
        "nonce(12) || enc_header(56) || body; AD = associated_data.",
        seed,
        {
            "root_key": h(root),
            "header_key_a": h(hka),
            "next_header_key_b": h(nhkb),
            "responder_ratchet_private": h(responder_ratchet),
            "responder_ratchet_public": h(responder_pub),
            "associated_data": h(ad),
            "initiator_rng_seed": h(seeds["initiator"]),
            "responder_rng_seed": h(seeds["responder"]),
            "initiator_init_rng_outputs": init_draws,
            "steps": steps,
        },
        expected_top,
    )


def ratchet_conversation() -> Json:
    a, b = "initiator", "responder"
    script = [
        _send(a, "a0", "Hi, this is my first message."),
        _send(a, "a1", "I have been feeling anxious this week."),
        _send(a, "a2", "Mostly at night — é, ü, 日本語 also work."),
        _recv(b, "a0"),
        _recv(b, "a2"),
        _send(b, "b0", "Thank you for writing. Let's talk about it on Tuesday."),
        _send(b, "b1", "Until then, try the breathing exercise."),
        _recv(a, "b1"),
        _recv(a, "b0"),
        _recv(b, "a1"),
        _send(a, "a3", "Tuesday works for me."),
        _recv(b, "a3"),
        _send(b, "b2", "Great, see you then."),
        _send(b, "b3", ""),
        _recv(a, "b3"),
        _recv(a, "b2"),
        _send(a, "a4", "Thanks!"),
        _recv(b, "a4"),
    ]
    return _ratchet(
        "ratchet_conversation",
        "A Double Ratchet (header encryption) conversation both ways: out-of-order delivery within a chain "
        "(a2 before a1; b1 before b0; b3 before b2), a late message from a previous chain (a1 after the "
        "responder has replied), four DH ratchet turns, an empty plaintext. All steps succeed.",
        script,
        {"result": "ok"},
    )


def ratchet_tampered() -> Json:
    a, b = "initiator", "responder"
    script = [
        _send(a, "a0", "Please keep this between us."),
        _recv(b, "a0", lambda m: flip(m, -1), "last byte (Poly1305 tag of the body) flipped"),
        _recv(b, "a0", lambda m: flip(m, 12 + 5), "byte 17 (inside the encrypted header) flipped"),
        _recv(b, "a0", lambda m: flip(m, 70), "byte 70 (first byte of the body ciphertext) flipped"),
        _recv(b, "a0", lambda m: m[:83], "truncated to 83 bytes (shorter than header + tag)"),
        _recv(b, "a0"),
        _send(b, "b0", "Of course."),
        _recv(a, "b0", lambda m: flip(m, 0), "byte 0 (header nonce) flipped"),
        _recv(a, "b0"),
    ]
    return _ratchet(
        "ratchet_tampered",
        "Tampered ratchet messages: each must fail with DecryptionError and leave the state exactly as it was, "
        "so the untampered message still opens afterwards.",
        script,
        {"result": "error", "error": "DecryptionError"},
    )


def ratchet_duplicate() -> Json:
    a, b = "initiator", "responder"
    script = [
        _send(a, "a0", "First."),
        _send(a, "a1", "Second."),
        _recv(b, "a0"),
        _recv(b, "a0"),
        _recv(b, "a1"),
        _send(b, "b0", "Reply."),
        _recv(a, "b0"),
        _send(a, "a2", "After your reply."),
        _recv(b, "a2"),
        _recv(b, "a1"),
        _recv(a, "b0"),
    ]
    return _ratchet(
        "ratchet_duplicate",
        "Replayed ratchet messages: a second delivery of a message already decrypted must fail with "
        "DuplicateMessage (a subclass of DecryptionError: safe to acknowledge and drop), whether its chain is "
        "current or already replaced by a DH ratchet turn, and leave the state unchanged.",
        script,
        {"result": "error", "error": "DuplicateMessage"},
    )


def ratchet_limits() -> Json:
    a, b = "initiator", "responder"
    assert (MAX_SKIP, MAX_SKIPPED_KEYS, MAX_OLD_HEADER_KEYS) == (1000, 2000, 4)
    script = [
        _send(a, "a0", "chain A1, N=0"),
        _send(a, "a1", "chain A1, N=1"),
        _send(a, "a2", "chain A1, N=2"),
        _drop(a, 597),  # A1, N = 3..599
        _recv(b, "a0"),  # B turns to A1: Nr = 1
        _send(b, "b0", "reply"),
        _recv(a, "b0"),  # A turns: its next chain A2 carries PN = 600
        _drop(a, 401),  # A2, N = 0..400
        _send(a, "x", "chain A2, N=401: (600 - 1) + 401 = 1000 keys to derive"),
        _send(a, "y", "chain A2, N=402: (600 - 1) + 402 = 1001 keys to derive"),
        _recv(b, "y"),  # DecryptionError: MAX_SKIP counts both chains
        _recv(b, "x"),  # ok: exactly MAX_SKIP; 1000 keys stored
        _recv(b, "y"),  # ok: now on the current chain
        _drop(a, 1000),  # A2, N = 403..1402
        _send(a, "w", "chain A2, N=1403: 1000 keys to derive"),
        _send(a, "z", "chain A2, N=1404"),
        _send(a, "v0", "chain A2, N=1405"),
        _send(a, "v", "chain A2, N=1406"),
        _recv(b, "w"),  # ok: 2000 keys stored = MAX_SKIPPED_KEYS
        _recv(b, "z"),
        _recv(b, "v"),  # skips N=1405: one key more, the oldest (A1, N=1) is evicted
        _recv(b, "a1"),  # its key was evicted: reported as DuplicateMessage
        _recv(b, "a2"),  # ok: the next oldest is still held
        _recv(b, "v0"),
    ]
    for i in range(3, 8):  # five more DH turns: B's receiving chains A3 .. A7
        script += [_send(b, f"b{i}", "turn"), _recv(a, f"b{i}"), _send(a, f"c{i}", f"chain A{i}"), _recv(b, f"c{i}")]
    script += [
        _recv(b, "c3"),  # A3 is the 4th previous receiving chain: its header key is kept, DuplicateMessage
        _recv(b, "x"),  # A2's header key was dropped from the old keys: DecryptionError
    ]
    return _ratchet(
        "ratchet_limits",
        "The ratchet's limits, exactly (SPEC section 3). MAX_SKIP = 1000 counts every message key one received "
        "message makes the receiver derive, across a DH ratchet step: the rest of the current receiving chain "
        "up to the header's PN plus the new chain up to N (y: 599 + 402 = 1001 is refused, x: 599 + 401 = "
        "1000 opens), and within one chain (w: 1000 opens). MAX_SKIPPED_KEYS = 2000 stored keys, the oldest "
        "(first derived) evicted first: after v, a1's key is gone (reported as DuplicateMessage: its header "
        "key is known) while a2 still opens. MAX_OLD_HEADER_KEYS = 4 previous receiving header keys are kept "
        "to recognise duplicates: c3 (4 chains back) is DuplicateMessage; a replay of x (5 chains back: its "
        "header key is no longer among the 4 and its message key was used) is DecryptionError.",
        script,
        {"result": "error", "error": "DecryptionError"},
    )
