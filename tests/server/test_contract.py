"""The relay's HTTP contract, checked by a tool nobody here wrote: schemathesis fuzzes every operation of the
relay's own ``/openapi.json`` against a real relay, with a real registered device signing each authenticated
request, and runs every default check (no 5xx, documented statuses, content types, response schemas and
headers, schema-violating requests refused, schema-valid ones accepted except where
``contract.NO_POSITIVE_ACCEPTANCE`` says why not). Longer runs: ``bench/contract.py``.

Also: the document states what makes the contract exact (a test fails if it loses its security scheme or a
pattern), and a 405 names the methods the endpoint takes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import Case
from schemathesis.generation import GenerationMode
from schemathesis.schemas import BaseSchema

from confide.keys.prekeys import KEM_PREKEY_LEN
from confide.protocol.auth import H_CONTENT, H_DEVICE, H_NONCE, H_SIGNATURE, H_TIMESTAMP, sign_request
from confide.server.openapi import PATTERN_MAX_BYTES, b64_pattern, b64_schema, openapi_document

from .contract import (
    CONTRACT_MAX_BLOB_BYTES,
    NEGATIVE_REJECTION_STATUSES,
    NO_POSITIVE_ACCEPTANCE,
    DeviceSigner,
    breaks_the_headers,
    contract_relay_config,
    load_schema,
    relay_in_thread,
    signed_state_machine,
)

EXAMPLES_PER_OPERATION = 10
"""Fuzzed examples per operation and phase in ``make test`` (schemathesis adds its coverage-phase cases):
15 operations in about a minute on the shared machine; ``bench/contract.py`` runs hundreds."""

AUTHENTICATED = {
    ("post", "/v1/accounts"),
    ("get", "/v1/prekeys"),
    ("put", "/v1/prekeys"),
    ("put", "/v1/delivery-tokens"),
    ("put", "/v1/recovery-key"),
    ("get", "/v1/messages"),
    ("post", "/v1/messages/ack"),
    ("get", "/v1/ws"),
    ("post", "/v1/blobs"),
    ("delete", "/v1/blobs/{blob_id}"),
}
"""Operations the relay answers only for a signed request (server/routes_*.py call ``relay.auth``)."""


@pytest.fixture(scope="module")
def contract_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with relay_in_thread(contract_relay_config(tmp_path_factory.mktemp("contract") / "data")) as url:
        yield url


@pytest.fixture(scope="module")
def signer(contract_relay: str) -> DeviceSigner:
    return DeviceSigner(contract_relay)


@pytest.fixture(scope="module")
def contract_schema(contract_relay: str, signer: DeviceSigner) -> BaseSchema:
    return load_schema(contract_relay, signer, max_examples=EXAMPLES_PER_OPERATION)


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every operation with schema-valid requests, and those with parameters or a body also with requests that
    break the schema (an operation with neither has nothing to break)."""
    out = []
    for path, ops in openapi_document("test")["paths"].items():
        for method, op in ops.items():
            label = f"{method.upper()} {path}"
            out.append((label, GenerationMode.POSITIVE))
            if "parameters" in op or "requestBody" in op:
                out.append((label, GenerationMode.NEGATIVE))
    return sorted(out)


@pytest.mark.parametrize(("label", "mode"), _cases())
def test_the_relay_keeps_its_openapi_contract(
    contract_schema: BaseSchema, signer: DeviceSigner, label: str, mode: GenerationMode
) -> None:
    operation = contract_schema.find_operation_by_label(label)
    assert operation is not None, label
    signed_before = signer.signed

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.filter_too_much],
    )
    def fuzz(case: Case[Any]) -> None:
        if breaks_the_headers(case):  # the proof itself is what is broken: send it broken, unsigned
            case.call_and_validate(auth=None)
        else:
            case.call_and_validate()

    fuzz()
    if mode is GenerationMode.POSITIVE:  # the auth hook really signed this operation's requests
        assert signer.signed > signed_before, label


# -- the document itself ----------------------------------------------------------------------------


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield method, path, op


def test_every_authenticated_operation_requires_the_device_signature() -> None:
    doc = openapi_document("test")
    schemes = doc["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {
        ("header", H_DEVICE),
        ("header", H_TIMESTAMP),
        ("header", H_NONCE),
        ("header", H_CONTENT),
        ("header", H_SIGNATURE),
    }
    assert all(s["type"] == "apiKey" for s in schemes.values())
    requirement: list[dict[str, list[str]]] = [{name: [] for name in schemes}]
    for method, path, op in _operations(doc):
        if (method, path) in AUTHENTICATED:
            assert op["security"] == requirement, (method, path)
            assert op["responses"]["401"] == {"$ref": "#/components/responses/E401"}, (method, path)
        else:
            assert op["security"] == [], (method, path)


def test_every_parameter_and_field_is_exact() -> None:
    doc = openapi_document("test", max_blob_bytes=12345)
    for method, path, op in _operations(doc):
        for param in op.get("parameters", []):
            schema = param["schema"]
            if param["in"] == "path":
                assert schema["pattern"].startswith("^"), (path, param)
                assert schema["pattern"].endswith("$"), (path, param)
            elif param["in"] == "header":  # Range: any text is accepted, one byte range is honoured (RFC 9110)
                assert (method, path, param["name"], schema) == (
                    "get",
                    "/v1/blobs/{blob_id}",
                    "Range",
                    {"type": "string"},
                )
            else:
                assert schema["type"] == "integer", (path, param)
                assert {"minimum", "maximum"} <= set(schema), (path, param)
        for media, content in op.get("requestBody", {}).get("content", {}).items():
            body = content["schema"]
            if media == "application/octet-stream":
                assert body["format"] == "binary", (method, path)
                assert "maxLength" in body, (method, path)
            else:
                assert media == "application/json", (method, path)
                _assert_exact_object(body, f"{method} {path}")
        for status, answer in op["responses"].items():
            assert status.isdigit(), (method, path, status)  # no ranges: every status is named
            assert "description" in answer or "$ref" in answer
    upload = doc["paths"]["/v1/blobs"]["post"]["requestBody"]["content"]["application/octet-stream"]["schema"]
    assert upload["maxLength"] == 12345


def _assert_exact_object(schema: dict[str, Any], where: str) -> None:
    assert schema["type"] == "object", where
    assert schema["additionalProperties"] is False, where
    for name, field in schema["properties"].items():
        if field["type"] == "array":
            assert "maxItems" in field, (where, name)
            field = field["items"]
        assert field["type"] == "string", (where, name)
        assert field.get("maxLength") is not None, (where, name)
        assert field["pattern"].startswith("^"), (where, name)
        assert field["pattern"].endswith("$"), (where, name)


def test_base64_patterns_accept_exactly_the_canonical_encoding() -> None:
    for n in (1, 2, 3, 16, 32, 100, PATTERN_MAX_BYTES, KEM_PREKEY_LEN):
        field = b64_schema(n, "a field")
        pattern = re.compile(field["pattern"])
        for _ in range(20):
            text = base64.b64encode(os.urandom(n)).decode()
            assert pattern.fullmatch(text)
            assert len(text) == field["minLength"] == field["maxLength"]
        for wrong in (n - 1, n + 1):  # another length: refused by the pattern or by the lengths
            text = base64.b64encode(os.urandom(wrong)).decode()
            assert not (pattern.fullmatch(text) and field["minLength"] <= len(text) <= field["maxLength"])
    # a set trailing bit is another spelling of the same bytes: refused by the pattern (and by the relay)
    assert not re.fullmatch(b64_pattern(1), "AB==")
    assert re.fullmatch(b64_pattern(1), "AA==")


# -- what the fuzzer found --------------------------------------------------------------------------


def test_405_names_the_allowed_methods(contract_relay: str) -> None:
    answer = requests.request("TRACE", contract_relay + "/v1/prekeys", timeout=10)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD, PUT"
    assert answer.json()["error"] == "method_not_allowed"


def _signed(signer: DeviceSigner, method: str, path: str, body: bytes) -> dict[str, str]:
    headers = sign_request(
        signer.device, method, path, hashlib.sha256(body).hexdigest(), now=int(time.time()), nonce=os.urandom(16)
    )
    headers["Content-Type"] = "application/json"
    return headers


@pytest.mark.parametrize(
    "bad_id",
    [
        "00112233445566778899AABBCCDDEEFF",  # capitals: the document says lowercase
        "00 11 22 33 44 55 66 77 88 99 aa",  # 32 characters that bytes.fromhex read as 11 bytes
    ],
)
def test_an_ack_id_outside_the_pattern_is_refused(contract_relay: str, signer: DeviceSigner, bad_id: str) -> None:
    assert len(bad_id) == 32
    body = b'{"ids": ["' + bad_id.encode() + b'"]}'
    answer = requests.post(
        contract_relay + "/v1/messages/ack",
        data=body,
        headers=_signed(signer, "POST", "/v1/messages/ack", body),
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "malformed"


def test_non_canonical_base64_is_refused(contract_relay: str, signer: DeviceSigner) -> None:
    canonical = "A" * 42 + "A="  # 32 zero bytes
    other_spelling = "A" * 42 + "B="  # the same 32 bytes with a set trailing bit
    for text, status in ((other_spelling, 400), (canonical, 200)):
        body = b'{"token_hashes": ["' + text.encode() + b'"]}'
        answer = requests.put(
            contract_relay + "/v1/delivery-tokens",
            data=body,
            headers=_signed(signer, "PUT", "/v1/delivery-tokens", body),
            timeout=10,
        )
        assert answer.status_code == status, answer.text


def test_the_served_document_states_this_relays_attachment_cap(contract_relay: str) -> None:
    doc = requests.get(contract_relay + "/openapi.json", timeout=10).json()
    upload = doc["paths"]["/v1/blobs"]["post"]["requestBody"]["content"]["application/octet-stream"]["schema"]
    assert upload["maxLength"] == CONTRACT_MAX_BLOB_BYTES


@pytest.mark.parametrize("path", ["/v1/messages?limit=5&lmit=3", "/v1/blobs?lifetime=60&x=1"])
def test_an_unknown_query_parameter_is_refused(contract_relay: str, signer: DeviceSigner, path: str) -> None:
    method = "GET" if path.startswith("/v1/messages") else "POST"
    headers = _signed(signer, method, path, b"")
    headers["Content-Type"] = "application/octet-stream"
    answer = requests.request(method, contract_relay + path, headers=headers, timeout=10)
    assert answer.status_code == 400
    assert answer.json() == {"error": "malformed", "message": answer.json()["message"]}
    assert answer.json()["message"].startswith("unknown query parameter")


DEFAULT_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
)


def test_every_default_check_is_on_except_where_a_reason_is_given(contract_schema: BaseSchema) -> None:
    for label, _ in _cases():
        operation = contract_schema.find_operation_by_label(label)
        assert operation is not None
        checks = contract_schema.config.checks_config_for(operation=operation)
        enabled = {name for name in DEFAULT_CHECKS if getattr(checks, name).enabled}
        off = {"positive_data_acceptance"} if label in NO_POSITIVE_ACCEPTANCE else set()
        assert enabled == set(DEFAULT_CHECKS) - off, label
        assert checks.negative_data_rejection.expected_statuses == NEGATIVE_REJECTION_STATUSES


STATEFUL_RUNS = 3
"""Chains of linked calls in ``make test`` (upload, then download or delete that blob id); ``bench/contract.py``
runs 50."""


def test_linked_calls_keep_the_contract(contract_schema: BaseSchema, signer: DeviceSigner) -> None:
    signed_before = signer.signed
    run_state_machine_as_test(
        signed_state_machine(contract_schema),
        settings=hypothesis.settings(
            max_examples=STATEFUL_RUNS,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.filter_too_much],
        ),
    )
    assert signer.signed > signed_before
