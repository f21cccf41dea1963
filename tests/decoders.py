"""Every decoder of untrusted or stored bytes and text, with its documented errors and valid encodings.

One registry serves the properties in ``tests/*/test_decoder_properties.py`` (short, derandomized runs in
``make test``) and ``bench/fuzz_decoders.py`` (long runs). A :class:`Decoder` says what a decoder may raise
(the typed errors its docstring names), how to re-encode what it parsed, and which encodings are valid (the
seeds that mutations start from). :func:`check` is the property itself: an input either parses and
re-encodes as promised, or raises one of the documented errors; anything else is a failure.

For authenticated formats (sealed sender, the ratchet, the key store, recovery backups, store values,
attachment blobs) "parses" means "opens": only a valid encoding may open, and a failed opening must leave
the state it ran against exactly as it was (:func:`unchanged` checks it on every attempt).

Everything is built from a seeded RNG so that the examples, and hence CI, are reproducible. The one
exception is ML-KEM encapsulation (it takes no RNG): first messages differ from run to run in their KEM
ciphertext only, which no property depends on.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confide.client.attachment_files import decrypt_file
from confide.client.errors import AttachmentError, InvalidInvite, StorageError
from confide.client.invite import Invite
from confide.client.records import AttachmentRecord, ContactRecord, FiledRecord, MessageRecord
from confide.client.sealing import Sealer
from confide.client.store import OwedReceipt
from confide.client.timers import parse_duration
from confide.keys import (
    DeviceKeyPair,
    IdentityKeyPair,
    KemPreKeyRecord,
    OneTimePreKeyRecord,
    PreKeyBundle,
    SignedPreKeyRecord,
)
from confide.keys.address import Address
from confide.keys.device import DeviceCertificate
from confide.keys.encoding import RNG
from confide.keys.errors import (
    CorruptKeyStore,
    InvalidAddress,
    InvalidRecoveryCode,
    InvalidSignature,
    KdfParametersTooCostly,
    MalformedKey,
    QRPayloadError,
    WrongPassphrase,
)
from confide.keys.identity import IdentityPublicKey
from confide.keys.keystore import TEST_KDF, kdf_params_of, open_keys, seal_keys, unseal
from confide.keys.prekeys import KemPreKeyPublic, OneTimePreKeyPublic, SignedPreKeyPublic
from confide.keys.qr import parse_qr_text, qr_text
from confide.keys.recovery import (
    RECOVERY_QR_PREFIX,
    create_recovery,
    recovery_code_from_qr,
    recovery_qr_text,
    restore_recovery,
)
from confide.keys.secret_keys import SecretKeys
from confide.protocol import (
    AttachmentDecryptor,
    AttachmentEncryptor,
    AttachmentPointer,
    AuthError,
    AuthProof,
    Content,
    DecryptionError,
    Delete,
    Delivery,
    DocumentError,
    DocumentKind,
    Envelope,
    Franking,
    FrankingKeyPair,
    FrankingPublicKey,
    MalformedFranking,
    Receipt,
    ReceiptKind,
    RemoteProtocolError,
    Report,
    SenderCertificate,
    Session,
    SignedDocument,
    Text,
    TimerChange,
    decode_batch,
    encode_batch,
    frank,
    initiate_session,
    open_sealed,
    parse_document,
    seal_message,
    sign_request,
    unpad,
)
from confide.protocol.auth import H_CONTENT, H_DEVICE, H_NONCE, H_SIGNATURE, H_TIMESTAMP
from confide.protocol.contact_card import ContactCard, ContactCardError, parse_contact_card
from confide.protocol.content import Filed, FiledKind, ResetRequest, frank_content
from confide.protocol.franking_binding import FrankingBinding, franking_key_of
from confide.protocol.padding import bucket_for
from confide.protocol.report_file import ReportFile, parse_report_file
from confide.protocol.session import accept_session, parse_inner

from .keys.mutations import mutated, mutated_text
from .protocol.parties import Party
from .vectors.gen.common import NOW as DOCUMENTS_NOW
from .vectors.gen.devices import sample_contents, sample_list
from .vectors.gen.devices import world as devices_world
from .vectors.gen.documents import world as documents_world
from .vectors.generate import SeededRng

T = TypeVar("T", bytes, str)

PASSPHRASE = "correct horse battery staple"
"""The passphrase of the registry's key store (a test value)."""
_AUTH_HEADERS = (H_DEVICE, H_TIMESTAMP, H_NONCE, H_CONTENT, H_SIGNATURE)


@dataclass(frozen=True, slots=True)
class Decoder(Generic[T]):
    """One decoder under test.

    ``parse`` raises only ``errors`` (and ``documented`` names them in its docstring). ``again`` is parse then
    re-encode: for a ``canonical`` format ``again(x) == x`` for every accepted ``x``; otherwise (text forms that
    ignore case, spaces or dashes) the re-encoding is a fixed point, ``again(again(x)) == again(x)``.
    ``authenticated`` formats open only their ``valid`` encodings. ``size`` bounds arbitrary inputs.
    """

    name: str
    errors: tuple[type[Exception], ...]
    parse: Callable[[T], object]
    documented: tuple[Callable[..., object], ...]
    valid: tuple[T, ...]
    again: Callable[[T], T] | None = None
    canonical: bool = True
    authenticated: bool = False
    size: int = 400
    cost: int = 1
    """Relative cost of one input (1: microseconds; 10: milliseconds, e.g. Argon2): divides example counts."""
    alphabet: str = ""
    """For text decoders: the characters mutations draw from."""


class Unchanged(AssertionError):
    """A failed decryption changed the state it ran against (a broken all-or-nothing promise)."""


def check(decoder: Decoder[T], data: T) -> bool:
    """The property: ``data`` parses (and re-encodes as promised), or a documented error is raised.

    Returns whether it parsed. Raises ``AssertionError`` when a promise is broken, and lets any undocumented
    exception through: both are failures.
    """
    try:
        out = decoder.again(data) if decoder.again is not None else decoder.parse(data)
    except decoder.errors:
        return False
    if decoder.authenticated:
        assert data in decoder.valid, f"{decoder.name}: an altered encoding opened"
    if decoder.again is not None:
        if decoder.canonical:
            assert out == data, f"{decoder.name}: an accepted encoding is not canonical"
        else:
            assert decoder.again(out) == out, f"{decoder.name}: the re-encoding is not a fixed point"  # type: ignore[arg-type]
    return True


def unchanged(state: Callable[[], bytes], attempt: Callable[[], bytes]) -> bytes:
    """Run ``attempt``; if it raises, check that ``state()`` is what it was before, then re-raise."""
    before = state()
    try:
        return attempt()
    except Exception:
        if state() != before:
            raise Unchanged("a failed decryption changed state") from None
        raise


# -- the parties and encodings everything is built from ------------------------------------------------


def _rng(label: str) -> RNG:
    return SeededRng(b"decoder-properties/" + label.encode())


@dataclass(frozen=True, slots=True)
class _World:
    """Alice and Bob mid-conversation, serialized, plus the messages the openers decrypt."""

    alice: Party
    bob: Party
    bob_session: bytes
    """Bob's session after Alice's first and fourth messages, holding the skipped keys of the second and third."""
    alice_session: bytes
    """Alice's session: still pending (she has had no reply)."""
    inner_prekey: bytes
    inner_normal: bytes
    sealed_first: bytes
    sealed_normal: bytes


def _world() -> _World:
    rng = _rng("world")
    alice, bob = Party.create(rng, one_time=1), Party.create(rng, one_time=1)
    a = initiate_session(alice.identity, bob.bundle(), rng=rng)
    first = a.encrypt(b"first", rng)
    sealed_first = seal_message(a, b"first again", sender_identity=alice.identity, sender=alice.cert, rng=rng)
    second, third = a.encrypt(b"second", rng), a.encrypt(b"third", rng)
    _, header, body = parse_inner(first)
    assert header is not None
    b, plaintext, _, _ = accept_session(bob.identity, header, body, alice.device.device_id, bob, rng)
    assert plaintext == b"first"
    assert b.decrypt(third, rng) == b"third"  # skips the keys of "first again" and "second"
    alice_session = a.to_bytes()
    assert a.decrypt(b.encrypt(b"reply", rng), rng) == b"reply"  # Alice is established: normal messages now
    normal = a.encrypt(b"normal", rng)
    sealed_normal = seal_message(a, b"sealed normal", sender_identity=alice.identity, sender=alice.cert, rng=rng)
    return _World(alice, bob, b.to_bytes(), alice_session, second, normal, sealed_first, sealed_normal)


WORLD = _world()


def _session_decrypt(inner: bytes) -> bytes:
    session = Session.from_bytes(WORLD.bob_session)
    return unchanged(session.to_bytes, lambda: session.decrypt(inner, _rng("decrypt")))


def _sealed_open(data: bytes, *, with_session: bool) -> bytes:
    bob = WORLD.bob
    session = Session.from_bytes(WORLD.bob_session) if with_session else None

    def state() -> bytes:
        keys = (sorted(bob.one_time), sorted(bob.kem), sorted(bob.signed))
        return (session.to_bytes() if session is not None else b"") + repr(keys).encode()

    def attempt() -> bytes:
        opened = open_sealed(bob.identity, data, find_session=lambda _i, _d: session, prekeys=bob, rng=_rng("open"))
        return opened.plaintext

    return unchanged(state, attempt)


# -- protocol formats ------------------------------------------------------------------------------------

_ENVELOPE = Envelope(bytes(range(16)), bytes(range(16, 32)), bytes(range(32, 64)), 3600, WORLD.sealed_normal)
_DELIVERY = Delivery(bytes(range(16)), 1_700_000_000_000, 1_700_086_400_000, WORLD.sealed_normal)
_MID = bytes(range(100, 116))
_CONTENTS = (
    Content(_MID, 1_700_000_000_000, 0, Text("hello\tthere\nhow are you? ☕")),
    Content(
        _MID,
        1,
        3600,
        AttachmentPointer("blob-id_0123456789", bytes(32), bytes(range(32)), 12345, "notes.pdf", "application/pdf"),
    ),
    Content(_MID, 2, 0, AttachmentPointer("b", b"k" * 32, b"d" * 32, 0, "", "", "a caption")),
    Content(_MID, 3, 0, Receipt(ReceiptKind.READ, (bytes(16), bytes(range(16))))),
    Content(_MID, 4, 60, TimerChange(86400)),
    Content(_MID, 5, 0, Delete(bytes(range(16, 32)))),
    Content(_MID, 6, 0, ResetRequest(3)),
    Content(_MID, 7, 0, Filed(FiledKind.FILED, bytes(range(16)))),
    Content(_MID, 8, 0, Filed(FiledKind.KEPT, bytes(16))),
    *(content for _, content in sample_contents(devices_world())),  # SYNC, DEVICES and CONTACT (SPEC 8, 10-12)
)


def _repad(padded: bytes) -> bytes:
    """``unpad`` then the padding put back to the same length: what unpads is exactly text, 0x80, zeros."""
    plain = unpad(padded)
    assert bucket_for(len(plain)) <= len(padded)
    return plain + b"\x80" + bytes(len(padded) - len(plain) - 1)


def _inner_again(inner: bytes) -> bytes:
    kind, header, body = parse_inner(inner)
    return bytes((kind,)) + (header.to_bytes() if header is not None else b"") + body


PROTOCOL: dict[str, Decoder[bytes]] = {
    d.name: d
    for d in (
        Decoder(
            "envelope",
            (RemoteProtocolError,),
            Envelope.from_bytes,
            (Envelope.from_bytes,),
            (_ENVELOPE.to_bytes(), Envelope(bytes(16), bytes(16), bytes(32), 0, b"").to_bytes()),
            again=lambda x: Envelope.from_bytes(x).to_bytes(),
        ),
        Decoder(
            "delivery",
            (RemoteProtocolError,),
            Delivery.from_bytes,
            (Delivery.from_bytes,),
            (_DELIVERY.to_bytes(),),
            again=lambda x: Delivery.from_bytes(x).to_bytes(),
        ),
        Decoder(
            "batch",
            (RemoteProtocolError,),
            decode_batch,
            (decode_batch,),
            (encode_batch([_ENVELOPE.to_bytes(), _ENVELOPE.to_bytes()[:-3] + b"end"]),),
            again=lambda x: encode_batch([e.to_bytes() for e in decode_batch(x)]),
            size=800,
        ),
        Decoder(
            "content",
            (RemoteProtocolError,),
            Content.from_bytes,
            (Content.from_bytes,),
            tuple(c.to_bytes() for c in _CONTENTS),
            again=lambda x: Content.from_bytes(x).to_bytes(),
        ),
        Decoder(
            "padding",
            (DecryptionError,),
            unpad,
            (unpad,),
            (b"hi\x80" + bytes(253), b"\x80" + bytes(511), bytes(255) + b"\x80"),  # a larger bucket is accepted too
            again=_repad,
            size=1200,
        ),
        Decoder(
            "sender certificate",
            (RemoteProtocolError,),
            SenderCertificate.from_bytes,
            (SenderCertificate.from_bytes,),
            (WORLD.alice.cert.to_bytes(),),
            again=lambda x: SenderCertificate.from_bytes(x).to_bytes(),
        ),
        Decoder(
            "inner message (prekey header)",
            (RemoteProtocolError,),
            parse_inner,
            (parse_inner,),
            (WORLD.inner_prekey, WORLD.inner_normal),
            again=_inner_again,
            size=1600,
        ),
        Decoder(
            "session state",
            (RemoteProtocolError,),
            Session.from_bytes,
            (Session.from_bytes,),
            (WORLD.bob_session, WORLD.alice_session),
            again=lambda x: Session.from_bytes(x).to_bytes(),
            size=1600,
        ),
        Decoder(
            "ratchet message (decrypt)",
            (DecryptionError,),
            _session_decrypt,
            (Session.decrypt,),
            (WORLD.inner_prekey, WORLD.inner_normal),
            authenticated=True,
            size=1600,
        ),
        Decoder(
            "sealed message (open)",
            (DecryptionError,),
            lambda x: _sealed_open(x, with_session=True),
            (open_sealed,),
            (WORLD.sealed_normal,),
            authenticated=True,
        ),
        Decoder(
            "sealed first message (open)",
            (DecryptionError,),
            lambda x: _sealed_open(x, with_session=False),
            (open_sealed,),
            (WORLD.sealed_first,),
            authenticated=True,
            size=1800,
        ),
    )
}
"""The protocol floor's decoders (SPEC formats)."""

_PRACTICE = documents_world()
"""The vectors' sample practice: one signed document of each kind (two credentials)."""


def _document_decoder(kind: DocumentKind) -> Decoder[bytes]:
    def parse(data: bytes) -> SignedDocument:
        return parse_document(data, expected_signer=None, expected_kind=kind, now=DOCUMENTS_NOW)

    valid = tuple(d.to_bytes() for d in _PRACTICE.documents.values() if d.kind == kind)
    if kind == DocumentKind.DEVICES:  # not in the practice's documents.json: the practice's own device lists
        valid = tuple(sample_list(_PRACTICE.practice, n).to_bytes() for n in (1, 6))
    return Decoder(
        f"signed document ({kind.name.lower()})",
        (DocumentError,),
        parse,
        (parse_document,),
        valid,
        again=lambda x: parse(x).to_bytes(),
        authenticated=True,
        size=max(len(v) for v in valid) + 64,
    )


PROTOCOL.update({d.name: d for d in (_document_decoder(kind) for kind in DocumentKind)})


def _franking_decoders() -> tuple[Decoder[bytes], ...]:
    """A franking signature, a franking public key and a report, from keys drawn from a fixed seed."""
    rng = _rng("franking")
    sender, recipient, judge_key = (FrankingKeyPair.generate(rng) for _ in range(3))
    signed = frank(sender, recipient.public, judge_key.public, b"a reported message", rng)
    report = Report(sender.public, recipient.public, b"a reported message", signed)
    return (
        Decoder(
            "franking signature",
            (MalformedFranking,),
            Franking.from_bytes,
            (Franking.from_bytes,),
            (signed.to_bytes(),),
            again=lambda x: Franking.from_bytes(x).to_bytes(),
            size=400,
        ),
        Decoder(
            "franking public key",
            (MalformedFranking,),
            FrankingPublicKey.from_bytes,
            (FrankingPublicKey.from_bytes,),
            (sender.public.to_bytes(), judge_key.public.to_bytes()),
            again=lambda x: FrankingPublicKey.from_bytes(x).to_bytes(),
            size=40,
        ),
        Decoder(
            "abuse report",
            (MalformedFranking,),
            Report.from_bytes,
            (Report.from_bytes,),
            (report.to_bytes(),),
            again=lambda x: Report.from_bytes(x).to_bytes(),
            size=600,
        ),
    )


PROTOCOL.update({d.name: d for d in _franking_decoders()})


def _practice_decoders() -> tuple[Decoder[bytes], ...]:
    """A FRANKED content, a franking key binding, a contact card and a report file (SPEC 8, 13.8, 13.9, 14),
    on the vectors' sample practice (its therapist franks to the 'other' identity)."""
    rng = _rng("practice")
    sender, recipient = _PRACTICE.rivera, _PRACTICE.other
    inner = Content(_MID, 9, 0, Text("a franked message"))
    franked = frank_content(
        inner,
        sender=sender,
        recipient_key=franking_key_of(recipient).public,
        judge=_PRACTICE.moderation.public,
        rng=rng,
    )
    file = ReportFile.of_franked(franked, sender=sender.public, recipient=recipient, reported_at=DOCUMENTS_NOW)
    full = ContactCard.sign(
        sender, _PRACTICE.token, credential=_PRACTICE.credential, availability=_PRACTICE.card, issued_at=DOCUMENTS_NOW
    )
    bare = ContactCard.sign(recipient, bytes(32), credential=None, availability=None, issued_at=DOCUMENTS_NOW)
    return (
        Decoder(
            "content (franked)",
            (RemoteProtocolError,),
            Content.from_bytes,
            (Content.from_bytes,),
            (franked.to_bytes(),),
            again=lambda x: Content.from_bytes(x).to_bytes(),
            size=800,
        ),
        Decoder(
            "franking key binding",
            (MalformedFranking,),
            FrankingBinding.from_bytes,
            (FrankingBinding.from_bytes,),
            (FrankingBinding.bind(sender).to_bytes(),),
            again=lambda x: FrankingBinding.from_bytes(x).to_bytes(),
            size=120,
        ),
        Decoder(
            "contact card",
            (ContactCardError,),
            lambda x: parse_contact_card(x, now=DOCUMENTS_NOW),
            (parse_contact_card,),
            (full.to_bytes(), bare.to_bytes()),
            again=lambda x: parse_contact_card(x, now=DOCUMENTS_NOW).to_bytes(),
            authenticated=True,
            size=len(full.to_bytes()) + 64,
        ),
        Decoder(
            "report file",
            (MalformedFranking,),
            parse_report_file,
            (parse_report_file,),
            (file.to_bytes(),),
            again=lambda x: parse_report_file(x).to_bytes(),
            size=1200,
        ),
    )


PROTOCOL.update({d.name: d for d in _practice_decoders()})


def _attachment() -> tuple[bytes, int, bytes, bytes]:
    key, data = _rng("attachment")(32), b"attachment bytes " * 7
    enc = AttachmentEncryptor(key, len(data))
    blob = enc.header() + enc.update(data) + enc.finalize()
    return key, len(data), blob, enc.digest


_ATT_KEY, _ATT_SIZE, _ATT_BLOB, _ATT_DIGEST = _attachment()


def _attachment_open(blob: bytes) -> bytes:
    dec = AttachmentDecryptor(_ATT_KEY, _ATT_SIZE, _ATT_DIGEST)
    return dec.update(blob) + dec.finalize()


PROTOCOL["attachment blob (open)"] = Decoder(
    "attachment blob (open)",
    (DecryptionError,),
    _attachment_open,
    (AttachmentDecryptor.update, AttachmentDecryptor.finalize),
    (_ATT_BLOB,),
    authenticated=True,
)


def _headers_text(headers: Mapping[str, str]) -> str:
    return "\n".join(headers[h] for h in _AUTH_HEADERS)


def _parse_headers(text: str) -> AuthProof:
    """The five header values, one per line (fewer lines: the last headers are missing)."""
    return AuthProof.from_headers(dict(zip(_AUTH_HEADERS, text.split("\n"), strict=False)))


def _headers_again(text: str) -> str:
    proof = _parse_headers(text)
    sig = base64.urlsafe_b64encode(proof.signature).rstrip(b"=").decode()
    return "\n".join((proof.device_id.hex(), str(proof.timestamp), proof.nonce.hex(), proof.content_sha256, sig))


_SIGNED = sign_request(WORLD.alice.device, "POST", "/v1/messages", "ab" * 32, now=1_700_000_000, nonce=bytes(16))

PROTOCOL_TEXT: dict[str, Decoder[str]] = {
    "auth headers": Decoder(
        "auth headers",
        (AuthError,),
        _parse_headers,
        (AuthProof.from_headers,),
        (_headers_text(_SIGNED),),
        again=_headers_again,
        canonical=False,
        size=200,
        alphabet="0123456789abcdefABCDEF-_=\n ²١",
    ),
}
"""Protocol decoders of text (HTTP header values)."""


# -- key formats -----------------------------------------------------------------------------------------

_KEY_RNG = _rng("keys")
_IDENTITY = IdentityKeyPair.generate(_KEY_RNG)
_DEVICE = DeviceKeyPair.generate(_IDENTITY, _KEY_RNG)
_SPK = SignedPreKeyRecord.generate(_IDENTITY, 7, _KEY_RNG, 1_700_000_000)
_KEM = KemPreKeyRecord.generate(_IDENTITY, 9, _KEY_RNG, 1_700_000_000, last_resort=True)
_KEM_OT = KemPreKeyRecord.generate(_IDENTITY, 10, _KEY_RNG, 1_700_000_000, last_resort=False)
_OTK = OneTimePreKeyRecord.generate_batch(100, 1, _KEY_RNG)[0]
_PUB = _IDENTITY.public
_BUNDLES = (
    PreKeyBundle(_PUB, _DEVICE.certificate, _SPK.public, _OTK.public, _KEM_OT.public).to_bytes(),
    PreKeyBundle(_PUB, _DEVICE.certificate, _SPK.public, None, _KEM.public).to_bytes(),
)
_SECRETS = SecretKeys(_IDENTITY, _DEVICE, _KEY_RNG(32))
_KEYSTORE = seal_keys(_SECRETS, PASSPHRASE, params=TEST_KDF, rng=_KEY_RNG)
_RECOVERY_CODE, _BACKUP = create_recovery(_SECRETS, rng=_KEY_RNG)
_SAFETY_QR = qr_text(bytes([1]) + bytes(range(64)))


def _unseal(blob: bytes) -> bytes:
    return unseal(blob, PASSPHRASE, ceiling=TEST_KDF)


def _open_keys(blob: bytes) -> bytes:
    return open_keys(blob, PASSPHRASE, ceiling=TEST_KDF).to_bytes()


_KEY_ERRORS = (MalformedKey, InvalidSignature)
_STORE_ERRORS = (CorruptKeyStore, KdfParametersTooCostly, WrongPassphrase)

KEYS: dict[str, Decoder[bytes]] = {
    d.name: d
    for d in (
        Decoder(
            "identity public key",
            _KEY_ERRORS,
            IdentityPublicKey.from_bytes,
            (IdentityPublicKey.from_bytes,),
            (_PUB.to_bytes(),),
            again=lambda x: IdentityPublicKey.from_bytes(x).to_bytes(),
        ),
        Decoder(
            "device certificate",
            _KEY_ERRORS,
            lambda x: DeviceCertificate.from_bytes(x, _PUB),
            (DeviceCertificate.from_bytes,),
            (_DEVICE.certificate.to_bytes(),),
            again=lambda x: DeviceCertificate.from_bytes(x, _PUB).to_bytes(),
        ),
        Decoder(
            "signed prekey",
            _KEY_ERRORS,
            lambda x: SignedPreKeyPublic.parse(x, _PUB),
            (SignedPreKeyPublic.parse,),
            (_SPK.public.to_bytes(),),
            again=lambda x: SignedPreKeyPublic.parse(x, _PUB).to_bytes(),
        ),
        Decoder(
            "ML-KEM prekey",
            _KEY_ERRORS,
            lambda x: KemPreKeyPublic.parse(x, _PUB),
            (KemPreKeyPublic.parse,),
            (_KEM.public.to_bytes(), _KEM_OT.public.to_bytes()),
            again=lambda x: KemPreKeyPublic.parse(x, _PUB).to_bytes(),
            size=2600,
        ),
        Decoder(
            "one-time prekey",
            (MalformedKey,),
            OneTimePreKeyPublic.parse,
            (OneTimePreKeyPublic.parse,),
            (_OTK.public.to_bytes(),),
            again=lambda x: OneTimePreKeyPublic.parse(x).to_bytes(),
        ),
        Decoder(
            "prekey bundle",
            _KEY_ERRORS,
            PreKeyBundle.from_bytes,
            (PreKeyBundle.from_bytes,),
            _BUNDLES,
            again=lambda x: PreKeyBundle.from_bytes(x).to_bytes(),
            size=3000,
        ),
        Decoder(
            "signed prekey record",
            (MalformedKey,),
            SignedPreKeyRecord.from_bytes,
            (SignedPreKeyRecord.from_bytes,),
            (_SPK.to_bytes(),),
            again=lambda x: SignedPreKeyRecord.from_bytes(x).to_bytes(),
        ),
        Decoder(
            "ML-KEM prekey record",
            (MalformedKey,),
            KemPreKeyRecord.from_bytes,
            (KemPreKeyRecord.from_bytes,),
            (_KEM.to_bytes(), _KEM_OT.to_bytes()),
            again=lambda x: KemPreKeyRecord.from_bytes(x).to_bytes(),
        ),
        Decoder(
            "one-time prekey record",
            (MalformedKey,),
            OneTimePreKeyRecord.from_bytes,
            (OneTimePreKeyRecord.from_bytes,),
            (_OTK.to_bytes(),),
            again=lambda x: OneTimePreKeyRecord.from_bytes(x).to_bytes(),
        ),
        Decoder(
            "secret keys",
            (CorruptKeyStore,),
            SecretKeys.from_bytes,
            (SecretKeys.from_bytes,),
            (_SECRETS.to_bytes(),),
            again=lambda x: SecretKeys.from_bytes(x).to_bytes(),
        ),
        Decoder(
            "key store header",
            (CorruptKeyStore,),
            kdf_params_of,
            (kdf_params_of,),
            (_KEYSTORE,),
        ),
        Decoder(
            "key store (unseal)",
            _STORE_ERRORS,
            _unseal,
            (unseal,),
            (_KEYSTORE,),
            authenticated=True,
            cost=10,
        ),
        Decoder(
            "key store (open keys)",
            _STORE_ERRORS,
            _open_keys,
            (open_keys,),
            (_KEYSTORE,),
            authenticated=True,
            cost=10,
        ),
        Decoder(
            "recovery backup (restore)",
            (CorruptKeyStore, WrongPassphrase),
            lambda x: restore_recovery(x, _RECOVERY_CODE).to_bytes(),
            (restore_recovery,),
            (_BACKUP,),
            authenticated=True,
        ),
    )
}
"""The key floor's decoders of bytes."""

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz234567"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyzOoIiLlUu"

KEYS_TEXT: dict[str, Decoder[str]] = {
    d.name: d
    for d in (
        Decoder(
            "address",
            (InvalidAddress,),
            Address.parse,
            (Address.parse,),
            (_PUB.address.text, _PUB.address.text.upper().replace("-", " ")),
            again=lambda t: Address.parse(t).text,
            canonical=False,
            size=80,
            alphabet=_B32 + "-cf1 \t\u0130\u00df",
        ),
        Decoder(
            "safety-number QR text",
            (QRPayloadError,),
            parse_qr_text,
            (parse_qr_text,),
            (_SAFETY_QR, " " + _SAFETY_QR.lower() + "\n"),
            again=lambda t: qr_text(parse_qr_text(t)),
            canonical=False,
            size=240,
            alphabet=_B32 + "=:- \n\u0131",
        ),
        Decoder(
            "recovery code",
            (InvalidRecoveryCode,),
            recovery_qr_text,
            (recovery_qr_text,),
            (_RECOVERY_CODE, _RECOVERY_CODE.lower().replace("-", " ")),
            again=lambda t: recovery_qr_text(t)[len(RECOVERY_QR_PREFIX) :],
            canonical=False,
            size=160,
            alphabet=_CROCKFORD + "- \t\u0131",
        ),
        Decoder(
            "recovery QR text",
            (InvalidRecoveryCode,),
            recovery_code_from_qr,
            (recovery_code_from_qr,),
            (RECOVERY_QR_PREFIX + _RECOVERY_CODE, qr_text(_RECOVERY_CODE.encode())),
            again=lambda t: RECOVERY_QR_PREFIX + recovery_code_from_qr(t),
            canonical=False,
            size=200,
            alphabet=_CROCKFORD + "-: CONFIDE-RC1SN",
        ),
    )
}
"""The key floor's decoders of text (typed or scanned)."""


# -- client formats --------------------------------------------------------------------------------------

_SEALER = Sealer(_rng("store key")(32), _rng("sealer"))
_SEALED_VALUE = _SEALER.seal("messages", "body", "row-1", b"a stored message body")
_INVITE = Invite(_PUB.address, _rng("invite")(32))
_CONTACT = ContactRecord(
    "c1", "Dr. Example", _PUB.address.raw, bytes(32), _PUB.to_bytes(), True, False, 3600, False, None, None, None
)
_ATT_RECORD = AttachmentRecord.from_obj(
    {
        "blob_id": "blob-id",
        "key": base64.b64encode(bytes(32)).decode(),
        "digest": base64.b64encode(bytes(32)).decode(),
        "size": 10,
        "name": "a.txt",
        "mime": "text/plain",
        "caption": "",
        "file": None,
    }
)
_MESSAGE = MessageRecord(bytes(16), "c1", "in", "text", "hello", 1, 2, "read", 60, None, _ATT_RECORD)
_FILED = FiledRecord(bytes(16), _PUB.address.raw, "Dr. Example", "in", "text", "filed text", 1, 2)
_OWED = OwedReceipt("r1", "c1", ReceiptKind.DELIVERED, bytes(range(16)))


def _json_again(parse: Callable[[bytes], ContactRecord | MessageRecord | FiledRecord]) -> Callable[[bytes], bytes]:
    return lambda x: parse(x).to_json()


_FILES = tempfile.TemporaryDirectory(prefix="confide-decoders-")
"""Where the attachment-file decoder writes: removed when the interpreter exits."""


def _decrypt_file(blob: bytes) -> bytes:
    """:func:`decrypt_file` of ``blob``; when it fails, the folder holds just what it held (no output, no
    temporary file)."""
    folder = Path(_FILES.name)
    source, dest = folder / "blob", folder / "received.txt"
    source.write_bytes(blob)

    def attempt() -> bytes:
        decrypt_file(source, dest, _ATT_KEY, _ATT_SIZE, _ATT_DIGEST)
        data = dest.read_bytes()
        dest.unlink()
        return data

    return unchanged(lambda: repr(sorted(p.name for p in folder.iterdir())).encode(), attempt)


CLIENT: dict[str, Decoder[bytes]] = {
    d.name: d
    for d in (
        Decoder(
            "store value (open)",
            (StorageError,),
            lambda x: _SEALER.open("messages", "body", "row-1", x),
            (Sealer.open,),
            (_SEALED_VALUE,),
            authenticated=True,
        ),
        Decoder(
            "attachment file (decrypt)",
            (AttachmentError,),
            _decrypt_file,
            (decrypt_file,),
            (_ATT_BLOB,),
            authenticated=True,
        ),
        Decoder(
            "contact record",
            (StorageError,),
            lambda x: ContactRecord.from_json("c1", x),
            (ContactRecord.from_json,),
            (_CONTACT.to_json(),),
            again=_json_again(lambda x: ContactRecord.from_json("c1", x)),
            canonical=False,
            size=600,
        ),
        Decoder(
            "receipt owed (opened row)",
            (StorageError,),
            lambda x: OwedReceipt.from_bytes("r1", "c1", x),
            (OwedReceipt.from_bytes,),
            (_OWED.to_bytes(), OwedReceipt("r1", "c1", ReceiptKind.READ, bytes(16)).to_bytes()),
            again=lambda x: OwedReceipt.from_bytes("r1", "c1", x).to_bytes(),
            size=40,
        ),
        Decoder(
            "filed record (records folder)",
            (StorageError,),
            FiledRecord.from_json,
            (FiledRecord.from_json,),
            (_FILED.to_json(),),
            again=_json_again(FiledRecord.from_json),
            canonical=False,
            size=600,
        ),
        Decoder(
            "message record",
            (StorageError,),
            lambda x: MessageRecord.from_json("c1", None, x),
            (MessageRecord.from_json,),
            (_MESSAGE.to_json(),),
            again=_json_again(lambda x: MessageRecord.from_json("c1", None, x)),
            canonical=False,
            size=600,
        ),
    )
}
"""The client's decoders of bytes (its sealed store)."""

CLIENT_TEXT: dict[str, Decoder[str]] = {
    d.name: d
    for d in (
        Decoder(
            "invite code",
            (InvalidInvite,),
            Invite.parse,
            (Invite.parse,),
            (_INVITE.code, " " + _INVITE.code.upper() + " "),
            again=lambda t: Invite.parse(t).code,
            canonical=False,
            size=140,
            alphabet=_B32 + "cfi1: =\u0130",
        ),
        Decoder(
            "timer duration",
            (ValueError,),
            parse_duration,
            (parse_duration,),
            ("1h30m", "off", "2d", "90"),
            again=lambda t: str(parse_duration(t)),
            canonical=False,
            size=40,
            alphabet="0123456789smhdwOFNEVRX \u00b2\u0661",
        ),
    )
}
"""The client's decoders of text (typed by a person)."""

BYTE_DECODERS: dict[str, Decoder[bytes]] = {**PROTOCOL, **KEYS, **CLIENT}
TEXT_DECODERS: dict[str, Decoder[str]] = {**PROTOCOL_TEXT, **KEYS_TEXT, **CLIENT_TEXT}


# -- strategies and the runner the properties and the fuzz script share -----------------------------------


def arbitrary_bytes(decoder: Decoder[bytes]) -> st.SearchStrategy[bytes]:
    """Any bytes up to the decoder's size bound."""
    return st.binary(max_size=decoder.size)


def mutated_bytes(decoder: Decoder[bytes]) -> st.SearchStrategy[bytes]:
    """A valid encoding after one to four flips, insertions, deletions, truncations or extensions."""
    return st.sampled_from(decoder.valid).flatmap(lambda valid: mutated(valid))


def arbitrary_text(decoder: Decoder[str]) -> st.SearchStrategy[str]:
    """Any text (all of Unicode but surrogates), or text over the decoder's own alphabet."""
    return st.one_of(st.text(max_size=decoder.size), st.text(decoder.alphabet, max_size=decoder.size))


def mutated_texts(decoder: Decoder[str]) -> st.SearchStrategy[str]:
    """A valid text after one to four edits with characters of the decoder's alphabet."""
    return st.sampled_from(decoder.valid).flatmap(lambda valid: mutated_text(valid, decoder.alphabet))


def prove(
    decoder: Decoder[T],
    strategy: st.SearchStrategy[T],
    examples: int,
    *,
    derandomize: bool = True,
    tally: Callable[[bool], None] | None = None,
) -> None:
    """Run :func:`check` on ``examples`` inputs (divided by the decoder's ``cost``) drawn from ``strategy``.

    Derandomized by default, so ``make test`` tries the same inputs on every run; the fuzz script passes
    ``derandomize=False`` and draws new ones each time, and a ``tally`` told whether each input parsed.
    Raises what :func:`check` raises, for the smallest failing input Hypothesis finds.
    """

    @settings(
        max_examples=max(1, examples // decoder.cost),
        derandomize=derandomize,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(strategy)
    def holds(data: T) -> None:
        parsed = check(decoder, data)
        if tally is not None:
            tally(parsed)

    holds()


def parses_exactly(decoder: Decoder[T]) -> None:
    """Every valid encoding of ``decoder`` parses (opens) and re-encodes as promised."""
    assert decoder.valid, decoder.name
    for data in decoder.valid:
        assert check(decoder, data) is True, decoder.name


def documents_its_errors(decoder: Decoder[bytes] | Decoder[str]) -> None:
    """The docstring of each function in ``decoder.documented`` names every error ``decoder.errors`` lists."""
    for function in decoder.documented:
        for error in decoder.errors:
            assert error.__name__ in (function.__doc__ or ""), f"{function.__qualname__} omits {error.__name__}"


__all__ = [
    "BYTE_DECODERS",
    "CLIENT",
    "CLIENT_TEXT",
    "KEYS",
    "KEYS_TEXT",
    "PROTOCOL",
    "PROTOCOL_TEXT",
    "TEXT_DECODERS",
    "WORLD",
    "Decoder",
    "Unchanged",
    "arbitrary_bytes",
    "arbitrary_text",
    "check",
    "documents_its_errors",
    "mutated_bytes",
    "mutated_texts",
    "parses_exactly",
    "prove",
    "unchanged",
]
