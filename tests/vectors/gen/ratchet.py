"""Section 3, the Double Ratchet with header encryption: ``ratchet_conversation.json``,
``ratchet_tampered.json``, ``ratchet_duplicate.json``, each a script played by two parties."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from confide.protocol.kdf import LABEL_AD
from confide.protocol.ratchet import RatchetState

from .common import Json, attempt, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng

_Step = tuple[str, str, str, bytes | None, Callable[[bytes], bytes] | None, str]
"""(party, action, message label, plaintext for encrypt, tamper for decrypt, tamper description)."""


def _send(party: str, label: str, text: str) -> _Step:
    return (party, "encrypt", label, text.encode(), None, "")


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
        "responder": RatchetState.init_responder(root, hka, nhkb, responder_key),
    }
    init_draws = rngs["initiator"].take()
    sent: dict[str, bytes] = {}
    plain: dict[str, bytes] = {}
    steps: list[Json] = []
    for party, action, label, plaintext, tamper, why in script:
        state, rng = states[party], rngs[party]
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
        assert all(e["error"] == expected_top["error"] for e in errors), errors
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
        "the state unchanged. 'rng_outputs' lists each step's draws. Message wire form: "
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
