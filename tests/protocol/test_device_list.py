"""The signed device list (SPEC 12 kind 6 DEVICES, ``confide.protocol.device_list``): round trips, limits, the
diff and renewal helpers, and the attacks a peer must catch: a relay substituting a list signed by another
identity, serving an older one, or slipping in a device certified by someone else."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confide.keys.device import DeviceKeyPair
from confide.protocol import device_list as dl
from confide.protocol.device_list import (
    DEVICE_LIST_LIFETIME_S,
    DEVICE_LIST_RENEW_S,
    MAX_DEVICES,
    MAX_DEVICES_DOCUMENT_LEN,
    DeviceChange,
    DeviceEntry,
    DeviceList,
    DeviceOrigin,
    device_ids,
    diff_devices,
    entry_for,
    needs_renewal,
    parse_device_list,
    sign_device_list,
)
from confide.protocol.document_bodies import MAX_TIMESTAMP
from confide.protocol.document_errors import (
    DocumentError,
    DocumentExpired,
    DocumentSignatureError,
    DocumentStale,
)
from confide.protocol.documents import DocumentKind, SignedDocument, VersionGuard, parse_document

from ..vectors.gen.common import NOW, flip
from ..vectors.gen.devices import ISSUED, body_of, entry_bytes, world
from ..vectors.gen.documents import DAY, forge

W = world()
RIVERA, OTHER = W.rivera, W.other
SETTINGS = settings(
    max_examples=150, derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def signed(entries: list[DeviceEntry], version: int = 1, now: int = ISSUED) -> SignedDocument:
    return parse_device_list(
        sign_device_list(RIVERA, entries, version=version, now=now), identity=RIVERA.public, now=now
    )


def test_max_devices_is_six_and_bounds_the_document() -> None:
    assert MAX_DEVICES == 6
    assert len(W.six.to_bytes()) == MAX_DEVICES_DOCUMENT_LEN == 158 + 1 + 6 * 105 + 64 == 853
    with pytest.raises(ValueError, match="1 to 6 devices"):
        DeviceList(tuple(W.entry(i) for i in range(7)))
    with pytest.raises(ValueError, match="1 to 6 devices"):
        DeviceList(())


def test_lifetime_constants() -> None:
    assert DEVICE_LIST_LIFETIME_S == 90 * 86400
    assert DEVICE_LIST_RENEW_S == 30 * 86400


def test_sign_and_parse_round_trip() -> None:
    data = sign_device_list(RIVERA, [W.entry(i) for i in range(6)], version=2, now=ISSUED)
    doc = parse_device_list(data, identity=RIVERA.public, now=NOW)
    assert doc == W.six
    assert doc.to_bytes() == data
    assert doc.kind == DocumentKind.DEVICES
    assert doc.signer == RIVERA.public
    assert (doc.version, doc.issued_at, doc.expires_at) == (2, ISSUED, ISSUED + DEVICE_LIST_LIFETIME_S)
    assert device_ids(doc) == tuple(W.devices[i].device_id for i in range(6))
    assert isinstance(doc.body, DeviceList)
    assert [e.origin for e in doc.body.entries] == [
        DeviceOrigin.FIRST,
        DeviceOrigin.LINKED,
        DeviceOrigin.LINKED,
        DeviceOrigin.RESTORED,
        DeviceOrigin.LINKED,
        DeviceOrigin.LINKED,
    ]
    assert data[1] == 6
    assert doc.signed_message().startswith(b"Confide-document-devices-v1")


@st.composite
def entry_lists(draw: st.DrawFn) -> list[DeviceEntry]:
    order = draw(st.permutations(range(7)))
    count = draw(st.integers(1, MAX_DEVICES))
    return [
        DeviceEntry(
            W.devices[i].certificate,
            draw(st.integers(0, MAX_TIMESTAMP)),
            draw(st.sampled_from(list(DeviceOrigin))),
        )
        for i in order[:count]
    ]


@SETTINGS
@given(entry_lists(), st.integers(0, 2**64 - 1), st.integers(0, MAX_TIMESTAMP - DEVICE_LIST_LIFETIME_S))
def test_every_list_round_trips_byte_for_byte(entries: list[DeviceEntry], version: int, now: int) -> None:
    data = sign_device_list(RIVERA, entries, version=version, now=now)
    doc = parse_device_list(data, identity=RIVERA.public, now=now)
    assert doc.to_bytes() == data
    assert isinstance(doc.body, DeviceList)
    assert list(doc.body.entries) == entries
    assert device_ids(doc) == tuple(e.certificate.device_id for e in entries)
    assert len(data) == 158 + 1 + 105 * len(entries) + 64


@SETTINGS
@given(st.integers(0, MAX_DEVICES_DOCUMENT_LEN - 1))
def test_every_flipped_byte_is_refused(offset: int) -> None:
    with pytest.raises(DocumentError):
        parse_device_list(flip(W.six.to_bytes(), offset), identity=RIVERA.public, now=NOW)


def test_the_builder_refuses_what_no_list_may_hold() -> None:
    with pytest.raises(ValueError, match="each device once"):
        sign_device_list(RIVERA, [W.entry(0), W.entry(1), W.entry(0)], version=1, now=ISSUED)
    stranger = [W.entry(0), DeviceEntry(W.stranger.certificate, ISSUED, DeviceOrigin.LINKED)]
    with pytest.raises(ValueError, match="not certified by this identity"):
        sign_device_list(RIVERA, stranger, version=1, now=ISSUED)
    with pytest.raises(ValueError, match="1 to 6"):
        sign_device_list(RIVERA, [], version=1, now=ISSUED)
    with pytest.raises(ValueError, match="origin"):
        DeviceEntry(W.devices[0].certificate, ISSUED, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="added_at"):
        DeviceEntry(W.devices[0].certificate, MAX_TIMESTAMP + 1, DeviceOrigin.LINKED)
    with pytest.raises(TypeError):
        DeviceEntry(W.devices[0].certificate.to_bytes(), ISSUED, DeviceOrigin.LINKED)  # type: ignore[arg-type]
    assert DeviceEntry(W.devices[0].certificate, ISSUED, 3).origin is DeviceOrigin.RESTORED  # type: ignore[arg-type]


# -- the attacks --------------------------------------------------------------------------------------------


def test_a_relay_substituting_a_list_signed_by_another_identity_is_refused() -> None:
    """The relay serves, for Dr. Rivera's address, a valid list of its own identity's devices."""
    substitute = sign_device_list(
        OTHER, [DeviceEntry(W.stranger.certificate, ISSUED, DeviceOrigin.FIRST)], version=99, now=ISSUED
    )
    assert parse_device_list(substitute, identity=OTHER.public, now=NOW).signer == OTHER.public
    with pytest.raises(DocumentSignatureError, match="expected identity"):
        parse_device_list(substitute, identity=RIVERA.public, now=NOW)


def test_a_list_holding_a_device_certified_by_another_identity_is_refused() -> None:
    """A list signed by Dr. Rivera's key but naming a device whose certificate another identity made (a relay, or
    a thief replaying a certificate, adding its own device): refused at the nested-signature step, even by a
    relay that expects no signer."""
    body = body_of(
        entry_bytes(W.devices[0].certificate.to_bytes(), ISSUED, 1),
        entry_bytes(W.stranger.certificate.to_bytes(), ISSUED, 2),
    )
    data = forge(RIVERA, DocumentKind.DEVICES, body, issued_at=ISSUED, expires_at=ISSUED + 90 * DAY)
    for identity in (RIVERA.public, None):
        with pytest.raises(DocumentSignatureError, match="not certified by the list's signer"):
            parse_device_list(data, identity=identity, now=NOW)


def test_another_identity_signing_our_certificates_is_refused_without_an_expected_signer() -> None:
    """The relay's own check (no expected signer): a list signed by OTHER naming Dr. Rivera's devices."""
    body = body_of(entry_bytes(W.devices[0].certificate.to_bytes(), ISSUED, 1))
    data = forge(OTHER, DocumentKind.DEVICES, body, issued_at=ISSUED, expires_at=ISSUED + 90 * DAY)
    with pytest.raises(DocumentSignatureError):
        parse_document(data, expected_signer=None, expected_kind=None, now=NOW)


def test_an_older_list_is_stale() -> None:
    """A relay serving version 1 after version 2 was seen (to resurrect a removed device, or hide a new one)."""
    guard = VersionGuard.of(W.six)
    with pytest.raises(DocumentStale):
        guard.advance(W.one)
    with pytest.raises(DocumentStale):
        guard.advance(signed([W.entry(0), W.entry(1)], version=2))  # same version, other bytes
    assert guard.advance(W.six) == guard
    newer = signed([W.entry(i) for i in (0, 1, 3)], version=3)
    assert guard.advance(newer) == VersionGuard.of(newer)


def test_a_list_relabelled_as_another_kind_is_refused() -> None:
    data = bytearray(W.six.to_bytes())
    data[1] = DocumentKind.POLICY
    with pytest.raises(DocumentError):
        parse_document(bytes(data), expected_signer=RIVERA.public, expected_kind=None, now=NOW)
    with pytest.raises(DocumentError, match="expected a devices document"):
        parse_device_list(bytes(data), identity=RIVERA.public, now=NOW)
    signed_as_policy = forge(
        RIVERA,
        DocumentKind.DEVICES,
        W.six.body.to_bytes(),
        issued_at=ISSUED,
        expires_at=ISSUED + 90 * DAY,
        label=b"Confide-document-policy-v1",
    )
    with pytest.raises(DocumentSignatureError):
        parse_device_list(signed_as_policy, identity=RIVERA.public, now=NOW)


def test_an_expired_list_is_refused() -> None:
    with pytest.raises(DocumentExpired):
        parse_device_list(W.six.to_bytes(), identity=RIVERA.public, now=W.six.expires_at)
    assert parse_device_list(W.six.to_bytes(), identity=RIVERA.public, now=W.six.expires_at - 1) == W.six


def test_malformed_bodies_are_document_errors() -> None:
    good = entry_bytes(W.devices[0].certificate.to_bytes(), ISSUED, 1)
    for body in (
        body_of(*(entry_bytes(W.devices[i].certificate.to_bytes(), ISSUED, 2) for i in range(7))),
        body_of(),
        body_of(good, good),
        body_of(entry_bytes(W.devices[0].certificate.to_bytes(), ISSUED, 0)),
        body_of(good) + b"\x00",
        body_of(good)[:-1],
        body_of(good, count=2),
    ):
        data = forge(RIVERA, DocumentKind.DEVICES, body, issued_at=ISSUED, expires_at=ISSUED + 90 * DAY)
        with pytest.raises(DocumentError) as info:
            parse_device_list(data, identity=RIVERA.public, now=NOW)
        assert type(info.value) is DocumentError


# -- helpers -----------------------------------------------------------------------------------------------


def test_diff_devices() -> None:
    assert diff_devices(None, W.one) == DeviceChange(added=(W.devices[0].device_id,), removed=())
    grown = diff_devices(W.one, W.six)
    assert grown == DeviceChange(added=tuple(W.devices[i].device_id for i in range(1, 6)), removed=())
    assert grown.changed is True
    shrunk = diff_devices(W.six, signed([W.entry(i) for i in (0, 1, 3, 4, 5)], version=3))
    assert shrunk == DeviceChange(added=(), removed=(W.devices[2].device_id,))
    assert diff_devices(W.six, W.six).changed is False
    other = parse_device_list(
        sign_device_list(OTHER, [DeviceEntry(W.stranger.certificate, ISSUED, 1)], version=1, now=ISSUED),  # type: ignore[arg-type]
        identity=OTHER.public,
        now=NOW,
    )
    with pytest.raises(ValueError, match="different identities"):
        diff_devices(W.six, other)


def test_entry_for() -> None:
    entry = entry_for(W.six, W.devices[3].device_id)
    assert entry == W.entry(3)
    assert entry is not None
    assert entry.origin is DeviceOrigin.RESTORED
    assert entry_for(W.six, W.devices[6].device_id) is None


def test_needs_renewal_when_fewer_than_30_days_remain() -> None:
    expires = W.six.expires_at
    assert needs_renewal(W.six, ISSUED) is False
    assert needs_renewal(W.six, expires - DEVICE_LIST_RENEW_S) is False
    assert needs_renewal(W.six, expires - DEVICE_LIST_RENEW_S + 1) is True
    assert needs_renewal(W.six, expires + 1) is True


def test_helpers_refuse_another_kind() -> None:
    from ..vectors.gen.documents import world as practice_world

    policy = practice_world().policy
    for helper in (device_ids, dl.device_list, lambda d: needs_renewal(d, NOW), lambda d: entry_for(d, bytes(16))):
        with pytest.raises(ValueError, match="not a device list"):
            helper(policy)


def test_a_new_device_key_gives_a_new_entry() -> None:
    """A restore makes a new device key (the backup's is not reused): the list grows, the old device stays."""
    from ..vectors.generate import SeededRng

    restored = DeviceKeyPair.generate(RIVERA, SeededRng(b"tests/protocol/test_device_list restore"))
    after = signed([W.entry(0), DeviceEntry(restored.certificate, NOW, DeviceOrigin.RESTORED)], version=2, now=NOW)
    change = diff_devices(W.one, after)
    assert change == DeviceChange(added=(restored.device_id,), removed=())
    added = entry_for(after, restored.device_id)
    assert added is not None
    assert added.origin is DeviceOrigin.RESTORED
    assert replace(added, origin=DeviceOrigin.LINKED) != added
