"""Section 10.2, the passphrase-sealed key store: ``keystore.json``.

``confide.keys.keystore`` is imported when the scenario runs: the generator skips the file (with a note) if
that module does not import."""

from __future__ import annotations

from argon2.low_level import Type, hash_secret_raw

from .common import Json, attempt, flip, h, seed_of, vector
from .drbg import RecordingRng, SeededRng


def keystore() -> Json:
    from confide.keys import keystore as ks
    from confide.keys.secret_keys import SecretKeys

    seed = seed_of("keystore")
    rng = SeededRng(seed)
    keys = SecretKeys.generate(rng)
    payload = keys.to_bytes()
    passphrase = "correct horse battery staple ﬁve"
    equivalent = "correct horse battery staple five"
    params = ks.TEST_KDF
    rec = RecordingRng(rng)
    blob = ks.seal_keys(keys, passphrase, params=params, rng=rec)
    salt, nonce = rec.outputs
    key = hash_secret_raw(
        equivalent.encode(), salt, params.time_cost, params.memory_kib, params.parallelism, 32, Type.ID
    )
    assert ks.open_keys(blob, equivalent).to_bytes() == payload
    costly = blob[:10] + (ks.MAX_KDF.memory_kib + 1).to_bytes(4, "big") + blob[14:]
    cases = [
        ("the passphrase as sealed", passphrase, blob),
        ("an NFKC-equivalent spelling of it", equivalent, blob),
        ("wrong passphrase", "correct horse battery staple", blob),
        ("salt changed (the header is authenticated)", passphrase, flip(blob, 4 + 1 + 1 + 12)),
        ("ciphertext changed", passphrase, flip(blob, -1)),
        ("bad magic", passphrase, b"CFKX" + blob[4:]),
        ("unknown version 2", passphrase, blob[:4] + b"\x02" + blob[5:]),
        ("truncated", passphrase, blob[:-1]),
        ("trailing byte", passphrase, blob + b"\x00"),
        ("memory cost above MAX_KDF (checked before Argon2 runs)", passphrase, costly),
    ]
    results = []
    for why, pw, b in cases:
        res, opened = attempt(ks.unseal, b, pw)
        if opened is not None:
            assert opened == payload
        results.append({"why": why, **res})
    return vector(
        "keystore",
        "Passphrase-sealed key store. Seal: Argon2id(UTF-8(NFKC(passphrase)), salt, time_cost, memory_kib, "
        "parallelism, 32 bytes) -> key; blob = header(50) || ChaCha20-Poly1305(key, nonce, payload, aad=header). "
        "With the given salt and nonce (seal's two rng draws, in that order) sealing must give 'blob' byte for "
        "byte; 'key' is the Argon2id output. The payload is SecretKeys (version || identity private || device "
        "private || store key). Each case opens 'blob' (as changed) with a passphrase: ok (giving the payload) "
        "or the listed error. The Argon2 costs here are deliberately cheap test costs.",
        seed,
        {
            "draw_order": [
                "SecretKeys.generate: rng(32) identity Ed25519 seed, rng(32) identity X25519 private, "
                "rng(32) device Ed25519 seed, rng(32) store key (payload = 0x01 || the four)",
                "seal_keys: rng(16) salt, then rng(12) nonce",
            ],
            "payload": h(payload),
            "passphrase": passphrase,
            "passphrase_nfkc_utf8": h(equivalent.encode()),
            "kdf": {"time_cost": params.time_cost, "memory_kib": params.memory_kib, "parallelism": params.parallelism},
            "salt": h(salt),
            "nonce": h(nonce),
            "cases": [{"why": w, "passphrase": pw, "blob": h(b)} for w, pw, b in cases],
        },
        {"result": "ok", "key": h(key), "blob": h(blob), "address_text": keys.identity.address.text, "cases": results},
    )
