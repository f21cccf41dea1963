"""The HTTP and WebSocket driver for the relay API (docs/relay-api.md).

Thin: it turns calls into signed requests and answers into Python values, maps refusals to
:class:`RelayError` and connection failures to :class:`RelayUnreachable`. It holds the device key only to
sign requests (``protocol.auth.sign_request``); it never sees a plaintext or a private prekey.

Every request goes on one of two channels (:mod:`confide.client.transport`): a signed request on the signed
session, an unsigned one (sealed send, bundle fetch, blob download) on the anonymous session, which opens a new
connection for each request. The choice follows from the request itself (``auth``), so no call site can send
an unsigned request over a connection that carried the device's signature.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide.keys.address import Address
from confide.keys.device import DeviceKeyPair
from confide.protocol.auth import EMPTY_SHA256, NONCE_LEN, sign_recovery_publish, sign_request, solve_work
from confide.protocol.documents import MAX_DOCUMENT_LEN
from confide.protocol.envelope import MAX_IDS_PER_REQUEST
from confide.protocol.errors import AuthError

from .errors import DeviceRemoved, RelayError, RelayUnreachable
from .transport import anonymous_session, signed_session

REQUEST_TIMEOUT_S = 30.0
"""Total time for one ordinary request: generous for a phone on a poor network, short enough that a dead
relay is reported instead of hanging a command."""

BLOB_TIMEOUT_S = 3600.0
"""Total time for one attachment transfer: 1 GiB at ~300 kB/s; stalls are caught by the read timeout."""

BLOB_READ_TIMEOUT_S = 60.0
"""A transfer that receives nothing for this long is considered dead."""

BLOB_CHUNK = 256 * 1024
"""Bytes read from disk or network per step: large enough for throughput, small enough for flat memory."""

FETCH_LIMIT = 100
"""Envelopes per ``GET /v1/messages`` page (the relay allows up to :data:`MAX_IDS_PER_REQUEST`): small pages
keep a slow device's first acknowledgement early."""


MAX_LINK_MESSAGE = 512 * 1024
"""The longest message of a link exchange the relay carries (its ``MAX_LINK_MESSAGE``): a provisioning message with
a large caseload's contact snapshots. A longer answer is refused unread."""
LINK_SLOTS = 8
"""Slots 0..7 of a link channel (``PUT /v1/links/{channel}/{slot}``)."""
DEVICE_REMOVED = "device_removed"
"""The relay's error code (410) for a device dropped from its identity's signed list."""
_DEVICE_REMOVED_TEXT = (
    "this device was removed from your devices (from another of your devices): the relay closed its mailbox. "
    "Wipe this profile, or link this device again with 'confide devices link'"
)


@dataclass(frozen=True, slots=True)
class Bundles:
    """A ``GET /v1/accounts/{address}/bundle`` answer, not yet parsed: ``(device_id, bundle_bytes)`` per device,
    and the signed device list the relay holds for the address (``None``: none)."""

    devices: tuple[tuple[bytes, bytes], ...]
    device_list: bytes | None


def _check_link(channel: str, slot: int) -> str:
    """The path of a link slot. Raises ValueError for a channel that is not 64 hex digits or a slot outside
    0..7 (programmer mistakes)."""
    if len(channel) != 64 or any(c not in "0123456789abcdef" for c in channel):
        raise ValueError("a link channel is 64 lowercase hex digits")
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < LINK_SLOTS:
        raise ValueError(f"a link slot is 0..{LINK_SLOTS - 1}")
    return f"/v1/links/{channel}/{slot}"


class ProgressCallback(Protocol):
    """``progress(done_bytes, total_bytes)``: called as an attachment is encrypted, uploaded or downloaded."""

    def __call__(self, done: int, total: int, /) -> None:
        """Report ``done`` of ``total`` bytes."""


def connection_failure(exc: BaseException) -> str:
    """Why a connection to the relay failed, in plain words (never an exception class name)."""
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "its TLS certificate was not accepted"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "it closed the connection"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"the connection failed ({exc.strerror.lower()})" if exc.strerror else "the connection failed"
    if isinstance(exc, aiohttp.InvalidURL):
        return "its address is not a valid URL"
    if isinstance(exc, OSError) and exc.strerror:
        return f"the connection failed ({exc.strerror.lower()})"
    return "the connection failed"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise RelayError(200, "malformed", "the relay sent an unexpected answer")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise RelayError(200, "malformed", "the relay sent invalid base64") from exc


ListAuthority = Ed25519PrivateKey | DeviceKeyPair
"""Who authorises a device list the relay would not take from this device (SPEC 15.7): the identity's recovery
authority (keys/recovery.py ``recovery_authority``), or another registered device of the identity (its key)."""


class RelayClient:
    """Talks to one relay as one device. Use ``async with RelayClient(url, device) as relay``."""

    def __init__(self, base_url: str, device: DeviceKeyPair, *, now: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self._device = device
        self._now = now
        self._signed: aiohttp.ClientSession | None = None
        self._anonymous: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RelayClient:
        self._ensure()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ensure(self) -> aiohttp.ClientSession:
        """The signed channel: only for requests that carry this device's signature."""
        if self._signed is None or self._signed.closed:
            self._signed = signed_session(aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        return self._signed

    def _ensure_anonymous(self) -> aiohttp.ClientSession:
        """The anonymous channel: a new connection per request, never one that carried a signature."""
        if self._anonymous is None or self._anonymous.closed:
            self._anonymous = anonymous_session(aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        return self._anonymous

    def _channel(self, auth: bool) -> aiohttp.ClientSession:
        return self._ensure() if auth else self._ensure_anonymous()

    async def set_base_url(self, base_url: str) -> None:
        """Talk to the relay at ``base_url`` from now on (the open connection to the old one is closed)."""
        await self.close()
        self.base_url = base_url.rstrip("/")

    async def close(self) -> None:
        """Close both channels (idempotent)."""
        signed, anonymous, self._signed, self._anonymous = self._signed, self._anonymous, None, None
        for session in (signed, anonymous):
            if session is not None:
                await session.close()

    def _auth(self, method: str, path_qs: str, body_sha256: str, device: DeviceKeyPair | None = None) -> dict[str, str]:
        return sign_request(
            device or self._device, method, path_qs, body_sha256, now=int(self._now()), nonce=os.urandom(NONCE_LEN)
        )

    async def _raise_for(self, resp: aiohttp.ClientResponse, *, signed: bool = False) -> None:
        """Raise the relay's refusal. On a ``signed`` request (one about this device), 410 ``device_removed``
        is :class:`DeviceRemoved`; on an unsigned one (a send) it is about the recipient, a :class:`RelayError`."""
        if resp.status < 400:
            return
        code, message = "error", resp.reason or "error"
        try:
            obj = await resp.json(content_type=None)
            if isinstance(obj, dict):
                code = str(obj.get("error", code))
                message = str(obj.get("message", message))
        except (ValueError, aiohttp.ClientError):
            pass
        if signed and resp.status == 410 and code == DEVICE_REMOVED:
            raise DeviceRemoved(_DEVICE_REMOVED_TEXT)
        raise RelayError(resp.status, code, message)

    async def _request(
        self,
        method: str,
        path_qs: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        auth: bool = False,
        content_type: str = "application/json",
        extra_headers: dict[str, str] | None = None,
        signer: DeviceKeyPair | None = None,
    ) -> Any:
        body = data if data is not None else (b"" if json_body is None else json.dumps(json_body).encode())
        headers: dict[str, str] = dict(extra_headers or {})
        if body or method in ("POST", "PUT"):
            headers["Content-Type"] = content_type
        if auth:
            headers.update(self._auth(method, path_qs, hashlib.sha256(body).hexdigest(), signer))
        try:
            async with self._channel(auth).request(
                method, self.base_url + path_qs, data=body or None, headers=headers
            ) as resp:
                await self._raise_for(resp, signed=auth)
                if resp.status == 204:
                    return None
                return await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            raise RelayUnreachable(
                f"cannot reach the relay at {self.base_url}: {connection_failure(exc)}; "
                "check the address and your connection, then retry"
            ) from exc
        except (aiohttp.ContentTypeError, ValueError) as exc:
            raise RelayError(0, "malformed", "the relay sent an answer that is not JSON") from exc

    # -- accounts and prekeys -------------------------------------------------------------------------
    async def register(
        self,
        *,
        identity: bytes,
        device: bytes,
        token_hashes: list[bytes],
        signed_prekey: bytes,
        kem_last_resort: bytes,
        one_time_prekeys: list[bytes],
        kem_one_time_prekeys: list[bytes],
    ) -> dict[str, Any]:
        """``POST /v1/accounts``: register (or re-register) this device with its public keys."""
        body = {
            "identity": _b64(identity),
            "device": _b64(device),
            "delivery_token_hashes": [_b64(t) for t in token_hashes],
            "signed_prekey": _b64(signed_prekey),
            "kem_last_resort": _b64(kem_last_resort),
            "one_time_prekeys": [_b64(k) for k in one_time_prekeys],
            "kem_one_time_prekeys": [_b64(k) for k in kem_one_time_prekeys],
        }
        body.update(await self._registration_work())
        result: dict[str, Any] = await self._request("POST", "/v1/accounts", json_body=body, auth=True)
        return result

    async def _registration_work(self) -> dict[str, str]:
        """Proof of work for a registration: a fresh challenge from the relay (fetched on the signed channel,
        which the registration itself uses), solved in a worker thread; nothing when the relay asks none."""
        obj = await self._request("GET", "/v1/accounts/challenge", auth=True)
        bits = obj.get("bits") if isinstance(obj, dict) else None
        if not isinstance(bits, int) or isinstance(bits, bool):
            raise RelayError(200, "malformed", "the relay sent a registration challenge without its difficulty")
        if bits == 0:
            return {}
        challenge = _unb64(obj.get("challenge"))
        try:
            nonce = await asyncio.to_thread(solve_work, challenge, self._device.device_id, bits)
        except AuthError as exc:
            raise RelayError(200, "malformed", str(exc)) from None
        return {"work_challenge": _b64(challenge), "work_nonce": _b64(nonce)}

    async def fetch_bundles(self, address: Address) -> list[tuple[bytes, bytes]]:
        """``GET /v1/accounts/{address}/bundle``: ``[(device_id, bundle_bytes)]`` (bundles not yet parsed)."""
        return list((await self.fetch_bundle_set(address)).devices)

    async def fetch_bundle_set(self, address: Address) -> Bundles:
        """``GET /v1/accounts/{address}/bundle``: every device's bundle and the address's signed device list, as
        the relay sent them (verify both).

        Raises:
            RelayError: refused, or a malformed answer (``malformed``). RelayUnreachable.
        """
        obj = await self._request("GET", f"/v1/accounts/{quote(address.text)}/bundle")
        devices = obj.get("devices") if isinstance(obj, dict) else None
        if not isinstance(devices, list):
            raise RelayError(200, "malformed", "the relay sent a bundle answer without devices")
        out = []
        for d in devices:
            if not isinstance(d, dict) or not isinstance(d.get("device_id"), str):
                raise RelayError(200, "malformed", "the relay sent a malformed device entry")
            try:
                device_id = bytes.fromhex(d["device_id"])
            except ValueError as exc:
                raise RelayError(200, "malformed", "the relay sent a malformed device id") from exc
            out.append((device_id, _unb64(d.get("bundle"))))
        listed = obj.get("device_list")
        return Bundles(tuple(out), None if listed is None else _unb64(listed))

    async def prekey_counts(self) -> dict[str, int]:
        """``GET /v1/prekeys``: this device's remaining one-time prekeys and current signed key ids.

        Raises:
            RelayError: ``malformed`` when a count is negative (a refill sized from it would be unbounded).
            RelayUnreachable.
        """
        obj = await self._request("GET", "/v1/prekeys", auth=True)
        if not isinstance(obj, dict):
            raise RelayError(200, "malformed", "the relay sent malformed prekey counts")
        counts = {k: v for k, v in obj.items() if isinstance(v, int) and not isinstance(v, bool)}
        if any(v < 0 for v in counts.values()):  # "100 - (-N)" new keys would be N more than any batch
            raise RelayError(200, "malformed", "the relay sent a negative prekey count")
        return counts

    async def upload_prekeys(
        self,
        *,
        signed_prekey: bytes | None = None,
        kem_last_resort: bytes | None = None,
        one_time_prekeys: list[bytes] | None = None,
        kem_one_time_prekeys: list[bytes] | None = None,
    ) -> dict[str, Any]:
        """``PUT /v1/prekeys``."""
        body: dict[str, Any] = {}
        if signed_prekey is not None:
            body["signed_prekey"] = _b64(signed_prekey)
        if kem_last_resort is not None:
            body["kem_last_resort"] = _b64(kem_last_resort)
        if one_time_prekeys:
            body["one_time_prekeys"] = [_b64(k) for k in one_time_prekeys]
        if kem_one_time_prekeys:
            body["kem_one_time_prekeys"] = [_b64(k) for k in kem_one_time_prekeys]
        result: dict[str, Any] = await self._request("PUT", "/v1/prekeys", json_body=body, auth=True)
        return result

    async def put_delivery_tokens(self, token_hashes: list[bytes]) -> None:
        """``PUT /v1/delivery-tokens``: replace the set of delivery-token hashes this device accepts.

        Raises:
            RelayUnreachable, RelayError.
        """
        await self._request(
            "PUT", "/v1/delivery-tokens", json_body={"token_hashes": [_b64(h) for h in token_hashes]}, auth=True
        )

    # -- messages -------------------------------------------------------------------------------------
    async def post_envelope(self, envelope: bytes) -> dict[str, Any]:
        """``POST /v1/messages`` (no auth: sealed sender). Idempotent by envelope id."""
        result: dict[str, Any] = await self._request(
            "POST", "/v1/messages", data=envelope, content_type="application/octet-stream"
        )
        return result

    async def fetch(self, limit: int = FETCH_LIMIT) -> tuple[list[bytes], bool]:
        """``GET /v1/messages``: ``(delivery_bytes_list, more)``, oldest first."""
        obj = await self._request("GET", f"/v1/messages?limit={limit}", auth=True)
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
            raise RelayError(200, "malformed", "the relay sent a malformed message list")
        return [_unb64(m) for m in obj["messages"]], bool(obj.get("more", False))

    async def ack(self, envelope_ids: list[bytes]) -> None:
        """``POST /v1/messages/ack``: the relay deletes these envelopes for good."""
        for i in range(0, len(envelope_ids), MAX_IDS_PER_REQUEST):
            chunk = envelope_ids[i : i + MAX_IDS_PER_REQUEST]
            await self._request("POST", "/v1/messages/ack", json_body={"ids": [e.hex() for e in chunk]}, auth=True)

    async def websocket(self) -> aiohttp.ClientWebSocketResponse:
        """Open ``GET /v1/ws`` (authenticated upgrade). Raises :class:`RelayUnreachable` / :class:`RelayError`."""
        headers = self._auth("GET", "/v1/ws", EMPTY_SHA256)
        try:
            return await self._ensure().ws_connect(
                self.base_url + "/v1/ws", headers=headers, heartbeat=30.0, timeout=aiohttp.ClientWSTimeout(ws_close=5.0)
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 410:  # the only 410 of this route: the device was removed from its list
                raise DeviceRemoved(_DEVICE_REMOVED_TEXT) from exc
            raise RelayError(
                exc.status, "unauthorized" if exc.status == 401 else "error", "the relay refused the live connection"
            ) from exc
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            raise RelayUnreachable(f"cannot reach the relay at {self.base_url}: {connection_failure(exc)}") from exc

    # -- attachments ----------------------------------------------------------------------------------
    async def upload_blob(
        self, path: Path, sha256_hex: str, lifetime_s: int, progress: ProgressCallback | None = None
    ) -> str:
        """``POST /v1/blobs``: stream the file at ``path`` (whose SHA-256 is known); returns the blob id. Signed
        (only the uploader may delete it), so on the signed channel: the relay knows which device uploaded it."""
        total = (await asyncio.to_thread(path.stat)).st_size

        async def chunks() -> AsyncIterator[bytes]:
            done = 0
            with path.open("rb") as fh:
                while chunk := fh.read(BLOB_CHUNK):
                    done += len(chunk)
                    yield chunk
                    if progress is not None:
                        progress(done, total)

        path_qs = f"/v1/blobs?lifetime={lifetime_s}"
        headers = {"Content-Type": "application/octet-stream", **self._auth("POST", path_qs, sha256_hex)}
        timeout = aiohttp.ClientTimeout(total=BLOB_TIMEOUT_S, sock_read=BLOB_READ_TIMEOUT_S)
        try:
            async with self._ensure().post(
                self.base_url + path_qs, data=chunks(), headers=headers, timeout=timeout
            ) as resp:
                await self._raise_for(resp, signed=True)
                obj = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            raise RelayUnreachable(f"the upload to {self.base_url} failed: {connection_failure(exc)}; retry") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("blob_id"), str):
            raise RelayError(200, "malformed", "the relay sent a malformed upload answer")
        return str(obj["blob_id"])

    async def download_blob(self, blob_id: str) -> AsyncGenerator[bytes, None]:
        """``GET /v1/blobs/{id}``: yield the blob in chunks (no auth, the id is the capability; anonymous channel)."""
        timeout = aiohttp.ClientTimeout(total=BLOB_TIMEOUT_S, sock_read=BLOB_READ_TIMEOUT_S)
        try:
            async with self._ensure_anonymous().get(
                self.base_url + "/v1/blobs/" + quote(blob_id, safe=""), timeout=timeout
            ) as resp:
                await self._raise_for(resp)
                async for chunk in resp.content.iter_chunked(BLOB_CHUNK):
                    yield chunk
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            raise RelayUnreachable(
                f"the download from {self.base_url} failed: {connection_failure(exc)}; retry"
            ) from exc

    async def delete_blob(self, blob_id: str) -> None:
        """``DELETE /v1/blobs/{id}`` (uploader only)."""
        await self._request("DELETE", "/v1/blobs/" + quote(blob_id, safe=""), auth=True)

    # -- signed public documents (SPEC section 12) ----------------------------------------------------
    async def put_document(self, address: Address, document: bytes) -> dict[str, Any]:
        """``PUT /v1/documents/{address}``: publish a signed document under the signer's own address. The
        document signs itself, so the request is unsigned (anonymous channel); the address must be registered.

        Raises:
            RelayError: refused (409 ``conflict``: the relay holds a newer or other version; 400 ``malformed``;
                410 ``expired``; 404: address not registered here; 413: too long).
            RelayUnreachable: the relay cannot be reached.
        """
        path = f"/v1/documents/{quote(address.text, safe='')}"
        result: dict[str, Any] = await self._request(
            "PUT", path, data=document, content_type="application/octet-stream"
        )
        return result

    async def put_device_list(
        self, address: Address, document: bytes, *, authority: ListAuthority | None = None
    ) -> dict[str, Any]:
        """``PUT /v1/documents/{address}`` for a signed device list: the relay takes one only from a registered
        device of the identity (this request is signed by this device, or by ``authority`` when it is another
        device's key) or authorised by the identity's recovery authority (``authority`` an Ed25519 private key: a
        restore, whose device the relay does not know yet; SPEC 15.7).

        Raises:
            DeviceRemoved: this device was removed by an earlier list (signed request).
            RelayError: refused (401: no valid proof; 403: no recovery key registered, or another identity's
                device; 409: the relay holds a newer list; 400: malformed).
            RelayUnreachable: the relay cannot be reached.
        """
        path = f"/v1/documents/{quote(address.text, safe='')}"
        recovery = authority if isinstance(authority, Ed25519PrivateKey) else None
        signer = authority if isinstance(authority, DeviceKeyPair) else None
        result: dict[str, Any] = await self._request(
            "PUT",
            path,
            data=document,
            content_type="application/octet-stream",
            auth=recovery is None,
            extra_headers=None if recovery is None else sign_recovery_publish(recovery, document),
            signer=signer,
        )
        return result

    async def put_recovery_key(self, public: bytes) -> None:
        """``PUT /v1/recovery-key``: register this identity's recovery authority key (32 bytes, signed request).

        Raises:
            DeviceRemoved, RelayError, RelayUnreachable.
        """
        await self._request("PUT", "/v1/recovery-key", json_body={"key": _b64(public)}, auth=True)

    async def get_document(self, address: Address, kind: str) -> bytes | None:
        """``GET /v1/documents/{address}/{kind}``: the bytes the relay holds (not yet parsed: verify them), or None
        when it holds none (404). Unsigned, on the anonymous channel: the relay learns a document was fetched,
        not by whom.

        Raises:
            RelayError: another refusal, or an answer longer than any document.
            RelayUnreachable: the relay cannot be reached.
        """
        url = f"{self.base_url}/v1/documents/{quote(address.text, safe='')}/{quote(kind, safe='')}"
        return await self._get_bounded(url, MAX_DOCUMENT_LEN, "a document longer than any document can be")

    async def _get_bounded(self, url: str, limit: int, too_long: str) -> bytes | None:
        """An unsigned GET on the anonymous channel: the body (at most ``limit`` bytes), or None on 404.

        Raises:
            RelayError: another refusal, or a body longer than ``limit`` ("the relay sent ``too_long``").
            RelayUnreachable: the relay cannot be reached.
        """
        try:
            async with self._ensure_anonymous().get(url) as resp:
                if resp.status == 404:
                    return None
                await self._raise_for(resp)
                data = await resp.content.read(limit + 1)
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            raise RelayUnreachable(
                f"cannot reach the relay at {self.base_url}: {connection_failure(exc)}; "
                "check the address and your connection, then retry"
            ) from exc
        if len(data) > limit:
            raise RelayError(200, "malformed", f"the relay sent {too_long}")
        return data

    # -- link rendezvous (design: linking a device) --------------------------------------------------
    async def put_link(self, channel: str, slot: int, data: bytes) -> None:
        """``PUT /v1/links/{channel}/{slot}``: write one message of a link exchange (write-once: the same bytes
        again are accepted, other bytes are refused with 409 ``conflict``). Unsigned, on the anonymous channel:
        the device linking may not be registered yet, and the relay must not tie the channel to a device.

        Raises:
            ValueError: a channel or slot outside the format, or ``data`` longer than :data:`MAX_LINK_MESSAGE`.
            RelayError: refused (409 conflict; 429/507: too many channels; 413). RelayUnreachable.
        """
        if len(data) > MAX_LINK_MESSAGE:
            raise ValueError(f"a link message is at most {MAX_LINK_MESSAGE} bytes")
        url = self.base_url + _check_link(channel, slot)
        headers = {"Content-Type": "application/octet-stream"}
        try:
            async with self._ensure_anonymous().put(url, data=data, headers=headers) as resp:
                await self._raise_for(resp)  # the answer's body (if any) says nothing the status does not
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            raise RelayUnreachable(
                f"cannot reach the relay at {self.base_url}: {connection_failure(exc)}; "
                "check the address and your connection, then retry"
            ) from exc

    async def get_link(self, channel: str, slot: int) -> bytes | None:
        """``GET /v1/links/{channel}/{slot}``: the message written there, or None when none is yet (404).
        Unsigned, on the anonymous channel.

        Raises:
            ValueError: a channel or slot outside the format.
            RelayError: another refusal, or an answer longer than :data:`MAX_LINK_MESSAGE`. RelayUnreachable.
        """
        url = self.base_url + _check_link(channel, slot)
        return await self._get_bounded(url, MAX_LINK_MESSAGE, "a link message longer than any can be")

    def __repr__(self) -> str:
        return f"RelayClient({self.base_url})"
