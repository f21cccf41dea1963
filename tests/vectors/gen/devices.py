"""Section 12 kind 6 (the signed device list) and section 8 types 10 to 12 (SYNC, DEVICES, CONTACT):
``devices.json``.

:func:`world` builds Dr. Rivera's identity with seven device keys, another identity with one, a client she
writes to, and two device lists (one device, version 1; six devices, version 2); the unit tests in
``tests/protocol/test_device_list.py`` and ``tests/protocol/test_sync_content.py`` and the decoder registry
reuse it."""

from __future__ import annotations

from dataclasses import dataclass

from confide.keys.device import DeviceKeyPair
from confide.keys.encoding import Writer
from confide.keys.identity import IdentityKeyPair
from confide.keys.recovery import recovery_authority
from confide.protocol.auth import H_RECOVERY, sign_recovery_publish
from confide.protocol.content import (
    AttachmentPointer,
    ContactSnapshot,
    Content,
    Delete,
    DeviceListNotice,
    Receipt,
    ReceiptKind,
    ResetRequest,
    SentSync,
    Text,
    TimerChange,
    sync_of,
)
from confide.protocol.device_list import DeviceEntry, DeviceOrigin, diff_devices, parse_device_list, sign_device_list
from confide.protocol.document_bodies import MAX_TIMESTAMP
from confide.protocol.documents import MAX_DEVICES_DOCUMENT_LEN, DocumentKind, SignedDocument, VersionGuard
from confide.protocol.errors import RemoteProtocolError

from .common import NOW, Json, attempt, expect_error, flip, h, seed_of, vector
from .documents import DAY, forge
from .drbg import RecordingRng, SeededRng

RECOVERY_SECRET = bytes(range(16))
RECOVERY_CODE = "000G-40R4-0M30-E209-185G-R38E-1Z20-HTKJ"
"""SPEC 10.3's fixed recovery code: its secret is 00..0f."""

ISSUED = NOW - DAY
"""Every sample list is issued a day before :data:`NOW`."""
ORIGIN_OF = (
    DeviceOrigin.FIRST,
    DeviceOrigin.LINKED,
    DeviceOrigin.LINKED,
    DeviceOrigin.RESTORED,
    DeviceOrigin.LINKED,
    DeviceOrigin.LINKED,
    DeviceOrigin.LINKED,
)
"""How each of Dr. Rivera's seven devices joined (the seventh never fits in a list)."""


@dataclass(frozen=True)
class World:
    """Dr. Rivera (seven device keys), another identity (one device), a client, the two sample lists, and the
    message ids and tokens the contents use."""

    rivera: IdentityKeyPair
    other: IdentityKeyPair
    client: IdentityKeyPair
    devices: tuple[DeviceKeyPair, ...]
    stranger: DeviceKeyPair
    message_ids: tuple[bytes, ...]
    token: bytes
    inbound_token: bytes
    draws: list[str]

    def entry(self, i: int) -> DeviceEntry:
        """Dr. Rivera's device ``i`` as a list entry: added ``7 - i`` days before the lists were issued."""
        return DeviceEntry(self.devices[i].certificate, ISSUED - (7 - i) * DAY, ORIGIN_OF[i])

    @property
    def one(self) -> SignedDocument:
        """The first list: device 0 alone, version 1."""
        return _signed(self.rivera, [self.entry(0)], 1)

    @property
    def six(self) -> SignedDocument:
        """Six devices (0 to 5), version 2."""
        return _signed(self.rivera, [self.entry(i) for i in range(6)], 2)


def _signed(identity: IdentityKeyPair, entries: list[DeviceEntry], version: int, now: int = ISSUED) -> SignedDocument:
    data = sign_device_list(identity, entries, version=version, now=now)
    return parse_device_list(data, identity=identity.public, now=now)


def world(seed: bytes = seed_of("devices")) -> World:
    """Build the sample from the DRBG seeded with ``seed`` (draw order: three identities, each its signing seed
    then its agreement key, Dr. Rivera's seven device keys, the other identity's device key, eight message ids,
    the token, the inbound token)."""
    rng = RecordingRng(SeededRng(seed))
    rivera, other, client = (IdentityKeyPair.generate(rng) for _ in range(3))
    devices = tuple(DeviceKeyPair.generate(rivera, rng) for _ in range(7))
    stranger = DeviceKeyPair.generate(other, rng)
    message_ids = tuple(rng(16) for _ in range(8))
    token, inbound_token = rng(32), rng(32)
    return World(rivera, other, client, devices, stranger, message_ids, token, inbound_token, rng.take())


def entry_bytes(certificate: bytes, added_at: int, origin: int) -> bytes:
    """One entry assembled byte by byte (to hold what the builders refuse)."""
    return Writer().raw(certificate).u64(added_at).u8(origin).bytes()


def body_of(*entries: bytes, count: int | None = None) -> bytes:
    """A list body from raw entries, with their number as ``count`` unless given."""
    return Writer().u8(len(entries) if count is None else count).bytes() + b"".join(entries)


def _entry_json(entry: DeviceEntry) -> Json:
    return {"device": entry.certificate.public.hex(), "added_at": entry.added_at, "origin": entry.origin.name.lower()}


def _lists(w: World) -> tuple[list[Json], list[Json]]:
    values, encoded = [], []
    for why, doc, count in (("one device", w.one, 1), ("six devices", w.six, 6)):
        values.append(
            {
                "why": why,
                "signer": "rivera",
                "version": doc.version,
                "now": doc.issued_at,
                "devices": list(range(count)),
                "entries": [_entry_json(w.entry(i)) for i in range(count)],
            }
        )
        encoded.append(
            {
                "result": "ok",
                "document": h(doc.to_bytes()),
                "expires_at": doc.expires_at,
                "device_ids": [w.devices[i].device_id.hex() for i in range(count)],
            }
        )
    return values, encoded


def _refused_lists(w: World) -> tuple[list[Json], list[Json]]:
    cases: list[Json] = []
    wants: list[Json] = []
    cert = [d.certificate.to_bytes() for d in w.devices]
    entries = [entry_bytes(cert[i], ISSUED - (7 - i) * DAY, ORIGIN_OF[i]) for i in range(7)]
    six = w.six.to_bytes()

    def case(why: str, data: bytes, signer: str | None, want: str, now: int = NOW) -> None:
        cases.append({"why": why, "document": h(data), "expected_signer": signer, "now": now})
        expected_signer = None if signer is None else {"rivera": w.rivera, "other": w.other}[signer].public
        result = attempt(lambda: parse_device_list(data, identity=expected_signer, now=now))[0]
        if result != ({"result": "ok"} if want == "ok" else {"result": "error", "error": want}):
            raise AssertionError(f"{why}: expected {want}, got {result}")
        wants.append({"why": why, **result})

    def rivera(body: bytes) -> bytes:
        return forge(w.rivera, DocumentKind.DEVICES, body, issued_at=ISSUED, expires_at=ISSUED + 90 * DAY)

    case("seven devices (MAX_DEVICES is 6)", rivera(body_of(*entries)), "rivera", "DocumentError")
    case("no device", rivera(body_of()), "rivera", "DocumentError")
    case("a count of 2 with one entry", rivera(body_of(entries[0], count=2)), "rivera", "DocumentError")
    case("the same device twice", rivera(body_of(entries[0], entries[1], entries[0])), "rivera", "DocumentError")
    for origin in (0, 4, 255):
        bad = entry_bytes(cert[1], ISSUED, origin)
        case(f"origin {origin}", rivera(body_of(entries[0], bad)), "rivera", "DocumentError")
    late = entry_bytes(cert[1], MAX_TIMESTAMP + 1, 2)
    case("added_at past 9999-01-01", rivera(body_of(entries[0], late)), "rivera", "DocumentError")
    case("a trailing byte in the body", rivera(body_of(entries[0]) + b"\x00"), "rivera", "DocumentError")
    case("a truncated entry", rivera(body_of(entries[0])[:-1]), "rivera", "DocumentError")
    stranger = entry_bytes(w.stranger.certificate.to_bytes(), ISSUED, 2)
    case(
        "a device certified by another identity (a relay adding its own device)",
        rivera(body_of(entries[0], stranger)),
        "rivera",
        "DocumentSignatureError",
    )
    case(
        "a device certificate with a flipped signature byte",
        rivera(body_of(entries[0], flip(entries[1], 95))),
        "rivera",
        "DocumentSignatureError",
    )
    substitute = _signed(w.other, [DeviceEntry(w.stranger.certificate, ISSUED, DeviceOrigin.FIRST)], 9).to_bytes()
    case("a list signed by another identity, expecting Dr. Rivera", substitute, "rivera", "DocumentSignatureError")
    case("that list, no signer expected (a relay's check)", substitute, None, "ok")
    case(
        "another identity signing Dr. Rivera's devices (its certificates are not its own)",
        forge(w.other, DocumentKind.DEVICES, body_of(entries[0]), issued_at=ISSUED, expires_at=ISSUED + 90 * DAY),
        None,
        "DocumentSignatureError",
    )
    case("a flipped signature byte", flip(six, -1), "rivera", "DocumentSignatureError")
    case(
        "a flipped byte of a listed certificate (the list's signature covers it)",
        flip(six, 158 + 1 + 40),
        "rivera",
        "DocumentSignatureError",
    )
    case(
        "signed over the policy label",
        forge(
            w.rivera,
            DocumentKind.DEVICES,
            w.six.body.to_bytes(),
            version=2,
            issued_at=ISSUED,
            expires_at=ISSUED + 90 * DAY,
            label=b"Confide-document-policy-v1",
        ),
        "rivera",
        "DocumentSignatureError",
    )
    case("a trailing byte", six + b"\x00", "rivera", "DocumentError")
    case("truncated", six[:-1], "rivera", "DocumentError")
    case("expired (now = expires_at)", six, "rivera", "DocumentExpired", now=w.six.expires_at)
    case("issued more than 300 s in the future", six, "rivera", "DocumentNotYetValid", now=ISSUED - 301)
    return cases, wants


def _replacements(w: World) -> tuple[Json, list[Json], list[Json]]:
    """Each list against the six-device list seen (version 2), through the version guard."""
    seen = VersionGuard.of(w.six)
    without_2 = _signed(w.rivera, [w.entry(i) for i in (0, 1, 3, 4, 5)], 3)
    other_v2 = _signed(w.rivera, [w.entry(i) for i in (0, 1)], 2)
    cases_in, cases_out = [], []
    for why, doc in (
        ("version 1 (older: a relay resurrecting a removed device's list)", w.one),
        ("the same list again", w.six),
        ("version 2 with other devices", other_v2),
        ("version 3 without device 2", without_2),
    ):
        result = attempt(seen.advance, doc)[0]
        change = diff_devices(w.six, doc)
        cases_in.append({"why": why, "document": h(doc.to_bytes())})
        cases_out.append(
            {
                "why": why,
                **result,
                "added": [i.hex() for i in change.added],
                "removed": [i.hex() for i in change.removed],
            }
        )
    seen_json = {"document": h(w.six.to_bytes()), "version": seen.version, "digest": h(seen.digest)}
    return seen_json, cases_in, cases_out


def sample_contents(w: World) -> list[tuple[str, Content]]:
    """The valid contents of types 10 to 12, by name."""
    peer = w.client.public.address.raw
    mid = w.message_ids
    sent = 1_700_000_000_000
    text = Content(mid[0], sent, 0, Text("Thursday at 10 works; see you then.\nA."))
    pointer = AttachmentPointer("b" * 43, bytes(range(32)), bytes(range(32, 64)), 1234, "plan.pdf", "application/pdf")
    return [
        ("sync of a text", sync_of(peer, text)),
        ("sync of an attachment, with an expiry", sync_of(peer, Content(mid[1], sent + 1, 3600, pointer))),
        ("sync of a read receipt", sync_of(peer, Content(mid[2], sent + 2, 0, Receipt(ReceiptKind.READ, mid[3:5])))),
        ("sync of a timer change", sync_of(peer, Content(mid[5], sent + 3, 0, TimerChange(86400)))),
        ("sync of a delete", sync_of(peer, Content(mid[6], sent + 4, 0, Delete(mid[0])))),
        ("a device list", Content(mid[7], sent + 5, 0, DeviceListNotice(w.six.to_bytes()))),
        (
            "a contact, verified, both tokens",
            Content(
                mid[7],
                sent + 6,
                0,
                ContactSnapshot(
                    peer,
                    w.client.public.to_bytes(),
                    True,
                    False,
                    False,
                    "Sam O\u2019Neill",
                    604800,
                    w.token,
                    w.inbound_token,
                ),
            ),
        ),
        (
            "a message request, blocked, no token",
            Content(
                mid[7],
                sent + 7,
                0,
                ContactSnapshot(peer, w.client.public.to_bytes(), False, True, True, "cf1-x", 0, None, w.inbound_token),
            ),
        ),
    ]


def content_json(content: Content) -> Json:
    """A content of type 10 to 12 as the vector file lists it."""
    body = content.body
    out: Json = {
        "message_id": h(content.message_id),
        "sent_at_ms": content.sent_at_ms,
        "expire_after_s": content.expire_after_s,
    }
    if isinstance(body, DeviceListNotice):
        return {**out, "type": "devices", "body": {"document": h(body.document)}}
    if isinstance(body, ContactSnapshot):
        return {
            **out,
            "type": "contact",
            "body": {
                "peer": h(body.peer),
                "identity": h(body.identity),
                "verified": body.verified,
                "blocked": body.blocked,
                "request": body.request,
                "name": body.name,
                "timer_s": body.timer_s,
                "token": None if body.token is None else h(body.token),
                "inbound_token": None if body.inbound_token is None else h(body.inbound_token),
            },
        }
    assert isinstance(body, SentSync)
    return {**out, "type": "sync", "body": {"peer": h(body.peer), "inner": h(body.inner.to_bytes())}}


def _header(content_type: int, mid: bytes, sent: int = 0, expire: int = 0) -> bytes:
    return Writer().u8(1).u8(content_type).raw(mid).u64(sent).u32(expire).bytes()


def malformed_contents(w: World) -> list[tuple[str, bytes]]:
    """Contents of types 10 to 12 that every parser refuses with ``RemoteProtocolError``."""
    peer = w.client.public.address.raw
    mid = w.message_ids[0]
    text = Content(mid, 5, 60, Text("hi")).to_bytes()

    def sync(inner: bytes, *, m: bytes = mid, sent: int = 5, expire: int = 60, p: bytes = peer) -> bytes:
        return _header(10, m, sent, expire) + p + len(inner).to_bytes(4, "big") + inner

    def contact(
        *, flags: int = 1, name: bytes = b"Sam", timer: int = 0, token: bytes = b"\x00", inbound: bytes = b"\x00"
    ) -> bytes:
        body = peer + w.client.public.to_bytes() + bytes([flags]) + bytes([len(name)]) + name
        return _header(12, mid) + body + timer.to_bytes(4, "big") + token + inbound

    delivered = Content(mid, 5, 60, Receipt(ReceiptKind.DELIVERED, (w.message_ids[1],))).to_bytes()
    reset = Content(mid, 5, 60, ResetRequest(1)).to_bytes()
    good_sync = sync(text)
    six = w.six.to_bytes()
    devices = _header(11, mid) + len(six).to_bytes(4, "big") + six
    return [
        ("sync: the inner message id differs", sync(text, m=w.message_ids[1])),
        ("sync: the inner clock differs", sync(text, sent=6)),
        ("sync: the inner expiry differs", sync(text, expire=0)),
        ("sync of a delivery receipt", sync(delivered)),
        ("sync of a reset request", sync(reset)),
        ("sync of a sync", sync(good_sync)),
        ("sync: an inner content with a trailing byte", sync(text + b"\x00")),
        ("sync: an empty inner content", sync(b"")),
        ("sync: the inner length one byte long", good_sync[:-1]),
        ("sync: a trailing byte", good_sync + b"\x00"),
        ("sync: a peer of 19 bytes", _header(10, mid, 5, 60) + peer[:19]),
        ("devices: an empty document", _header(11, mid) + bytes(4)),
        (
            "devices: one byte longer than MAX_DEVICES_DOCUMENT_LEN",
            _header(11, mid) + (MAX_DEVICES_DOCUMENT_LEN + 1).to_bytes(4, "big") + bytes(MAX_DEVICES_DOCUMENT_LEN + 1),
        ),
        ("devices: truncated", devices[:-1]),
        ("devices: a trailing byte", devices + b"\x00"),
        ("contact: flags bit 3", contact(flags=8)),
        ("contact: a token presence byte of 2", contact(token=b"\x02" + w.token)),
        ("contact: an empty name", contact(name=b"")),
        ("contact: a name with a tab", contact(name=b"Sam\tO")),
        ("contact: a name with a newline", contact(name=b"Sam\nO")),
        ("contact: a name with ESC", contact(name=b"Sam\x1b[2J")),
        ("contact: a name of 129 bytes", contact(name=b"n" * 129)),
        ("contact: a name that is not UTF-8", contact(name=b"Sam \xff")),
        ("contact: a timer over a year", contact(timer=365 * 86400 + 1)),
        ("contact: without the inbound presence byte", contact(inbound=b"")),
        ("contact: a trailing byte", contact() + b"\x00"),
    ]


def devices() -> Json:
    """The vector file: the sample lists, refused lists, replacements, and contents of types 10 to 12."""
    seed = seed_of("devices")
    w = world(seed)
    values, encoded = _lists(w)
    refused_in, refused_out = _refused_lists(w)
    seen, replace_in, replace_out = _replacements(w)
    contents = sample_contents(w)
    bad_contents = malformed_contents(w)
    for _, data in bad_contents:
        expect_error(RemoteProtocolError, Content.from_bytes, data)
    inputs = {
        "draw_order": [
            *(f"{who} identity {half}" for who in ("rivera", "other", "client") for half in ("signing", "agreement")),
            *(f"rivera device {i}" for i in range(7)),
            "other's device",
            *(f"message id {i}" for i in range(8)),
            "token",
            "inbound token",
        ],
        "rng_outputs": w.draws,
        "identities": {name: h(k.private_bytes()) for name, k in (("rivera", w.rivera), ("other", w.other))},
        "client_identity": h(w.client.public.to_bytes()),
        "rivera_devices": [h(d.private_bytes()) for d in w.devices],
        "other_device": h(w.stranger.private_bytes()),
        "now": NOW,
        "lists": values,
        "malformed_lists": refused_in,
        "seen": seen,
        "replacements": replace_in,
        "contents": [{"why": why, **content_json(c)} for why, c in contents],
        "malformed_contents": [{"why": why, "data": h(data)} for why, data in bad_contents],
        "recovery": {
            "code": RECOVERY_CODE,
            "secret": h(RECOVERY_SECRET),
            "document": encoded[1]["document"],
        },
    }
    authority = recovery_authority(RECOVERY_CODE)
    expected = {
        "result": "ok",
        "lists": encoded,
        "malformed_lists": refused_out,
        "replacements": replace_out,
        "contents": [{"result": "ok", "encoded": h(c.to_bytes())} for _, c in contents],
        "malformed_contents": [
            {"why": why, "result": "error", "error": "RemoteProtocolError"} for why, _ in bad_contents
        ],
        "recovery": {
            "authority_seed": h(authority.private_bytes_raw()),
            "authority_public": h(authority.public_key().public_bytes_raw()),
            "header": sign_recovery_publish(authority, bytes.fromhex(encoded[1]["document"]))[H_RECOVERY],
        },
    }
    return vector(
        "devices",
        "Signed device lists (SPEC section 12, kind 6 DEVICES) and the own-device contents (SPEC section 8, types "
        "10 SYNC, 11 DEVICES, 12 CONTACT). Keys: inputs.identities (private forms), rivera_devices and "
        "other_device (32-byte device seeds, certified by rivera and by other). Each of inputs.lists is signed by "
        "rivera with sign_device_list(entries, version, now): issued_at = now, expires_at = now + 90 days, "
        "entries in order (device = a device public key, whose certificate is rivera's); it must encode to "
        "expected.lists' 'document' (Ed25519 is deterministic), list 'device_ids', and parse back with rivera "
        "expected. Each malformed_lists document is parsed as kind DEVICES with its expected_signer (a name or "
        "null) at its 'now' and gives the listed result (the body's count, duplicates, origins, certificates "
        "made by another identity, a list signed by another identity, the times). replacements: each document "
        "against the version guard of inputs.seen (the six-device list, version 2): ok or DocumentStale, with "
        "the device ids diff_devices(seen, document) adds and removes. contents: each value encodes to "
        "expected.contents' 'encoded' and parses back to it; for 'sync' the body's 'inner' is the inner "
        "content's bytes. malformed_contents: each is refused with RemoteProtocolError. recovery (SPEC 10.3 and "
        "15.7): the recovery code (its 16-byte secret given too) → the recovery authority's Ed25519 seed = "
        "HKDF-SHA256(ikm = secret, salt = none, info = 'Confide-recovery-auth-v1', L = 32) and public key; the "
        "X-Confide-Recovery-Signature header publishing inputs.recovery.document = unpadded base64url of "
        "Ed25519(seed, 'Confide-recovery-publish-v1' || SHA-256(document)).",
        seed,
        inputs,
        expected,
    )


def sample_list(identity: IdentityKeyPair, count: int = 2) -> SignedDocument:
    """A list of ``count`` devices certified by ``identity`` (keys from a DRBG of its own), version 1, issued at
    :data:`ISSUED`: for tests whose signer is some other sample identity (the practice's)."""
    rng = SeededRng(seed_of("devices sample"))
    keys = [DeviceKeyPair.generate(identity, rng) for _ in range(count)]
    entries = [DeviceEntry(k.certificate, ISSUED - DAY, ORIGIN_OF[i]) for i, k in enumerate(keys)]
    return _signed(identity, entries, 1)
