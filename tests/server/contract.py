"""Fuzzing the relay against its own ``/openapi.json`` with schemathesis: a relay in a thread, a real registered
device, and a ``requests`` auth hook that signs each generated request exactly as a device does.

Shared by ``tests/server/test_contract.py`` (bounded, in ``make test``) and ``bench/contract.py`` (long runs).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import schemathesis
from requests.auth import AuthBase
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.generation.stateful.state_machine import APIStateMachine
from schemathesis.openapi import from_url
from schemathesis.schemas import BaseSchema

from confide.keys import DeviceKeyPair
from confide.protocol.auth import sign_request, solve_work
from confide.server import RelayConfig, start_relay
from confide.server.limits import MAX_NONCES_PER_DEVICE

from .conftest import User, make_user

CONTRACT_WORK_BITS = 4
"""Registration work the contract relay asks: low enough to solve in a millisecond, above 0 so the challenge
endpoint and the work check are on the real path."""

CONTRACT_MAX_BLOB_BYTES = 64 * 1024
"""The contract relay's attachment cap: the document states it as the upload's ``maxLength``, so generated
bodies just over it are a few KiB, not 100 MiB."""

REQUESTS_PER_DEVICE = MAX_NONCES_PER_DEVICE // 2
"""Signed requests made by one device before the signer registers a fresh one: a device over its share of the
replay cache is refused (429), which a long run would otherwise reach."""

NO_POSITIVE_ACCEPTANCE = {
    "POST /v1/accounts": "keys and certificates must carry valid Ed25519 signatures, which no schema can state",
    "PUT /v1/prekeys": "prekeys must carry valid signatures by the identity, which no schema can state",
    "POST /v1/messages": "an Envelope's byte layout (version byte, lengths) is binary, not JSON Schema",
    "POST /v1/messages/batch": "a batch's byte layout (u16 count, u32 lengths, envelopes) is binary",
    "GET /v1/accounts/{address}/bundle": "an address carries a SHA-256 checksum, which no pattern can state",
    "GET /v1/ws": "a WebSocket upgrade needs Upgrade/Sec-WebSocket-* headers an HTTP fuzzer does not send",
    "PUT /v1/documents/{address}": "a document must carry a valid Ed25519 signature by the identity whose address "
    "the path names (SPEC section 12), which no schema can state",
    "GET /v1/documents/{address}/{kind}": "an address carries a SHA-256 checksum, which no pattern can state",
}
"""Operations where ``positive_data_acceptance`` is off, each with why: a request the schema allows can still
fail a check that is cryptographic or binary (400 ``malformed``). Every other check stays on for them."""

POSITIVE_ALSO: dict[str, tuple[list[str], str]] = {
    "GET /v1/blobs/{blob_id}": (
        ["416"],
        "any Range text is schema-valid, and one byte range past the attachment's end is answered 416 "
        "(RFC 9110 §15.5.17), which no schema can state because it depends on the attachment's size",
    ),
    "PUT /v1/links/{channel}/{slot}": (
        ["507"],
        "every schema-valid write to a new channel opens one, and past MAX_LINK_CHANNELS live channels the relay "
        "answers 507 until they expire, which a long run reaches",
    ),
}
"""Operations where ``positive_data_acceptance`` also accepts these statuses, each with why."""

POSITIVE_ACCEPTANCE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429"]
"""schemathesis' default statuses for a schema-valid request, less 5xx (never a right answer)."""

NEGATIVE_REJECTION_STATUSES = ["400", "401", "403", "404", "405", "409", "413", "415", "429"]
"""What a schema-violating request may get: schemathesis' defaults minus 406/422/428 (the relay never answers
them) and 5xx (never a right answer), plus 413: a body over its ``maxLength`` is ``too_large``."""


def contract_config(*, max_examples: int, seed: int | None = None) -> SchemathesisConfig:
    """Schemathesis settings: every default check, ``positive_data_acceptance`` off where
    :data:`NO_POSITIVE_ACCEPTANCE` says why and widened where :data:`POSITIVE_ALSO` says why, 413 accepted as a
    rejection."""
    operations = [
        {"include-name": name, "checks": {"positive_data_acceptance": {"enabled": False}}}
        for name in NO_POSITIVE_ACCEPTANCE
    ]
    operations += [
        {
            "include-name": name,
            "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_ACCEPTANCE_STATUSES + also}},
        }
        for name, (also, _why) in POSITIVE_ALSO.items()
    ]
    project: dict[str, Any] = {
        "generation": {"max-examples": max_examples},
        "checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE_REJECTION_STATUSES}},
        "operations": operations,
    }
    if seed is not None:
        project["seed"] = seed
    return SchemathesisConfig.from_dict(project)


class DeviceSigner(AuthBase):
    """Signs each prepared request as a device does (``protocol/auth.py`` ``sign_request``): the method, the raw
    path and query exactly as sent, the SHA-256 of the exact body bytes, the current time and a fresh nonce.

    Registers a fresh device (with real registration work) every :data:`REQUESTS_PER_DEVICE` requests."""

    def __init__(self, base: str) -> None:
        self._base = base
        self._lock = threading.Lock()
        self._device = self._register()
        self._used = 0
        self.signed = 0

    @property
    def device(self) -> DeviceKeyPair:
        return self._device

    def _register(self) -> DeviceKeyPair:
        user = make_user(n_otk=2, n_kem=1)
        register(self._base, user)
        return user.device

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if self._used >= REQUESTS_PER_DEVICE:
                self._device, self._used = self._register(), 0
            self._used += 1
            self.signed += 1
            device = self._device
        body = request.body
        raw = body.encode() if isinstance(body, str) else (body or b"")
        assert isinstance(raw, bytes), "a streamed body cannot be signed before it is sent"
        assert request.method is not None
        request.headers.update(
            sign_request(
                device,
                request.method,
                request.path_url,
                hashlib.sha256(raw).hexdigest(),
                now=int(time.time()),
                nonce=os.urandom(16),
            )
        )
        return request


def register(base: str, user: User) -> None:
    """Register ``user`` as a client does: fetch a challenge, do its work, send the signed registration.

    Raises:
        AssertionError: the relay did not answer 200/201 (the answer is in the message).
    """
    challenge = requests.get(base + "/v1/accounts/challenge", timeout=10).json()
    body = user.registration()
    raw = base64.b64decode(challenge["challenge"])
    body["work_challenge"] = challenge["challenge"]
    body["work_nonce"] = base64.b64encode(solve_work(raw, user.device_id, challenge["bits"])).decode()
    data = json.dumps(body).encode()
    headers = sign_request(
        user.device,
        "POST",
        "/v1/accounts",
        hashlib.sha256(data).hexdigest(),
        now=int(time.time()),
        nonce=os.urandom(16),
    )
    headers["Content-Type"] = "application/json"
    answer = requests.post(base + "/v1/accounts", data=data, headers=headers, timeout=10)
    assert answer.status_code in (200, 201), answer.text


def contract_relay_config(data_dir: Path) -> RelayConfig:
    """The relay the contract runs against: real checks, rate limits off (the fuzzer sends in a tight loop; the
    limits have their own tests), low registration work, a small attachment cap."""
    return RelayConfig(
        data_dir=data_dir,
        sweep_interval_s=0,
        rate_per_s=0,
        bundle_rate_per_min=0,
        device_rate_per_s=0,
        recipient_rate_per_s=0,
        token_rate_per_s=0,
        registration_work_bits=CONTRACT_WORK_BITS,
        max_blob_bytes=CONTRACT_MAX_BLOB_BYTES,
    )


@contextmanager
def relay_in_thread(config: RelayConfig) -> Iterator[str]:
    """A relay in its own event loop thread (the fuzzer's HTTP client is synchronous); yield its base URL."""
    loop = asyncio.new_event_loop()
    ready: list[str] = []
    stop = asyncio.Event()

    async def serve() -> None:
        async with start_relay(config) as url:
            ready.append(url)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    while not ready:
        assert thread.is_alive(), "the relay thread ended before it listened"
        thread.join(0.01)
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def breaks_the_headers(case: Case[Any]) -> bool:
    """Whether a schema-violating case breaks the headers, which on this API are the device proof: such a case is
    sent unsigned (``auth=None``), or the signer would replace the broken proof with a valid one and turn the case
    back into a valid request."""
    meta = case.meta
    header = None if meta is None else meta.components.get(ParameterLocation.HEADER)
    return header is not None and header.mode is GenerationMode.NEGATIVE


def signed_state_machine(schema: BaseSchema) -> type[APIStateMachine]:
    """Schemathesis' state machine over the document's links (an upload's ``blob_id`` into download and delete),
    sending a case that breaks the proof headers unsigned (:func:`breaks_the_headers`)."""
    base = schema.as_state_machine()

    class Signed(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"auth": None} if breaks_the_headers(case) else {}

    return Signed


def load_schema(base: str, signer: DeviceSigner, *, max_examples: int, seed: int | None = None) -> BaseSchema:
    """The relay's ``/openapi.json`` as schemathesis sees it, with ``signer`` as its auth hook."""
    schema = from_url(base + "/openapi.json", config=contract_config(max_examples=max_examples, seed=seed))
    schema.auth.set_from_requests(signer)
    return schema


__all__ = [
    "DeviceSigner",
    "breaks_the_headers",
    "contract_config",
    "load_schema",
    "register",
    "relay_in_thread",
    "schemathesis",
    "signed_state_machine",
]
