"""Signed public documents: a practice's directory, revocation list and policy, a therapist's availability card
(SPEC section 12, docs/relay-api.md).

``PUT /v1/documents/{address}`` takes a document's bytes, unsigned by any device: the document signs itself. In
order: the path's address must be an account registered here (one lookup, before the body is read: so an
unregistered address costs the relay no signature check), the body is read within
:data:`~confide.server.limits.MAX_DOCUMENT_BODY`, parsed and verified
(:func:`~confide.protocol.documents.parse_document`: every field, the signer's identity, the signature and the
nested ones, the times), its signer's address must be the path's, the kind one the relay publishes (registration is what
makes publishing cost a registration's proof of work), then the storage budget and the
daily byte budgets of the client address and of the publishing address; only then is it kept, and only as the
newest version (:meth:`~confide.server.storage.RelayStore.put_document`). ``GET
/v1/documents/{address}/{kind}`` serves the bytes to anyone, unsigned: the relay learns that a document was
fetched, never by whom. Nothing here logs an address.

A device list (kind ``devices``) names at most :data:`~confide.server.limits.MAX_DEVICES_PER_ACCOUNT` devices;
storing a newer one removes, in the same transaction, every registered device of the address it does not name
(:meth:`~confide.server.storage.RelayStore.put_device_list`), and then closes their sockets through the notifier.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from confide.keys import Address
from confide.protocol.auth import H_DEVICE, H_RECOVERY, check_recovery_publish
from confide.protocol.document_bodies import DeviceList
from confide.protocol.document_errors import (
    DocumentError,
    DocumentExpired,
    DocumentNotYetValid,
    DocumentSignatureError,
)
from confide.protocol.documents import DocumentKind, SignedDocument, parse_document
from confide.protocol.errors import AuthError

from .bodies import only_query_params, read_limited, require_content_type
from .errors import BadRequest, Expired, Forbidden, Malformed, NotFound, Unauthorized
from .limits import MAX_DEVICES_PER_ACCOUNT, MAX_DOCUMENT_BODY, PUBLISHED_KINDS
from .room import ensure_room, spend_bytes
from .state import RELAY, Relay
from .storage import StoredDocument

routes = web.RouteTableDef()

_KINDS: dict[str, DocumentKind] = {name: DocumentKind[name.upper()] for name in PUBLISHED_KINDS}
"""Published kinds by their name in a path."""

_PUBLISHER_KEY = b"confide-document-publisher:"
"""Prefix of the publishing address's key in the daily upload budget (device ids there are bare 16 bytes)."""


def _parse(data: bytes, now: int) -> SignedDocument:
    """Parse and verify a document (no expected signer or kind: the path says who, the body what).

    Raises:
        Malformed: malformed, or a signature or identity that does not verify.
        Expired: past its ``expires_at``.
        BadRequest: issued further in the future than the allowed clock skew.
    """
    try:
        return parse_document(data, expected_signer=None, expected_kind=None, now=now)
    except DocumentSignatureError:
        raise Malformed("the document's signature does not verify; sign it again with the practice's key") from None
    except DocumentExpired:
        raise Expired("the document has expired; sign it with a later expiry and a higher version") from None
    except DocumentNotYetValid:
        raise BadRequest("the document is issued in the future; check the signing device's clock") from None
    except DocumentError as exc:
        raise Malformed(f"not a signed document: {exc}") from None


def _kind_name(kind: DocumentKind) -> str:
    return kind.name.lower()


def _answer(address: Address, document: SignedDocument, status: int) -> web.Response:
    return web.json_response(
        {
            "address": address.text,
            "kind": _kind_name(document.kind),
            "version": document.version,
            "expires_at": document.expires_at,
        },
        status=status,
    )


async def _authorize_device_list(relay: Relay, request: web.Request, address: Address, data: bytes) -> None:
    """A device list is kept only from one of its identity's registered devices (a signed request: a registered
    device of an address with a list is on that list, since a list removes every device it leaves out) or with the
    identity's recovery authority (``X-Confide-Recovery-Signature``, SPEC 15.7: a restore from the recovery
    backup, whose device the relay does not know yet). Holding the identity key is not enough: a removed device
    holds it too, and must not be able to list itself again.

    Raises:
        Unauthorized: neither proof, or a proof that does not verify.
        DeviceRemoved: the signing device was removed by an earlier list.
        Forbidden: the signing device belongs to another identity, or no recovery key is registered.
    """
    header = request.headers.get(H_RECOVERY)
    if header is not None:
        key = await relay.store.recovery_key(address.raw)
        if key is None:
            raise Forbidden(
                "no recovery key is registered for this identity here; publish the list from one of its devices"
            )
        try:
            check_recovery_publish(key, header, data)
        except AuthError as exc:
            raise Unauthorized(f"{exc}; nothing was published") from None
        return
    if H_DEVICE not in request.headers:
        raise Unauthorized(
            "a device list is published by one of the identity's devices (a signed request) or with its recovery "
            "code; nothing was published"
        )
    device = await relay.auth.authenticate(request, data)
    if not hmac.compare_digest(device.address, address.raw):
        raise Forbidden("a device list is published only by a device of the identity it lists")


async def _spend(relay: Relay, request: web.Request, publisher: bytes, size: int) -> None:
    """Charge ``size`` bytes to the client address's and the publishing address's daily budgets."""
    await spend_bytes(relay, relay.backend.address_bytes, (request.remote or "").encode(), size, "of this address")
    await spend_bytes(relay, relay.backend.upload_bytes, _PUBLISHER_KEY + publisher, size, "of this publisher")


@routes.put("/v1/documents/{address}")
async def publish(request: web.Request) -> web.Response:
    """Keep a signed document as the newest of its kind under its signer's address (docs/relay-api.md)."""
    relay: Relay = request.app[RELAY]
    require_content_type(request, "application/octet-stream")
    only_query_params(request, frozenset())
    address = Address.parse(request.match_info["address"])
    # Before the body is read or any signature checked (a directory holds up to a few hundred): an address no
    # account holds is refused for the cost of one lookup.
    if await relay.store.device_count(address.raw) == 0:
        raise Forbidden("documents are published only under an address registered on this relay; register first")
    data = await read_limited(request, MAX_DOCUMENT_BODY)
    document = _parse(data, int(relay.clock()))
    if not hmac.compare_digest(document.signer.address.raw, address.raw):
        raise Forbidden("a document is published only under its signer's own address")
    if _kind_name(document.kind) not in _KINDS:
        raise BadRequest("a credential is not published alone: list it in the practice's directory")
    if isinstance(document.body, DeviceList):
        await _authorize_device_list(relay, request, address, data)
    await ensure_room(relay, len(data))
    await _spend(relay, request, address.raw, len(data))
    held = StoredDocument(address.raw, int(document.kind), document.version, 1000 * document.expires_at, data)
    if isinstance(document.body, DeviceList):
        listed = document.body.device_ids
        if len(listed) > MAX_DEVICES_PER_ACCOUNT:  # the parser allows no more; the relay's own bound all the same
            raise BadRequest(f"a device list names at most {MAX_DEVICES_PER_ACCOUNT} devices")
        update = await relay.store.put_device_list(held, listed, relay.now_ms())
        for device_id in update.removed:
            await relay.notifier.disconnect(device_id)
        return _answer(address, document, 201 if update.stored else 200)
    stored = await relay.store.put_document(held)
    return _answer(address, document, 201 if stored else 200)


@routes.get("/v1/documents/{address}/{kind}")
async def fetch(request: web.Request) -> web.Response:
    """Serve the newest unexpired document of a kind published under an address; nobody signs the request."""
    relay: Relay = request.app[RELAY]
    only_query_params(request, frozenset())
    address = Address.parse(request.match_info["address"])
    kind = _KINDS.get(request.match_info["kind"])
    if kind is None:
        raise Malformed(f"the document kind is one of: {', '.join(PUBLISHED_KINDS)}")
    held = await relay.store.document(address.raw, int(kind))
    if held is None or held.expires_at_ms <= relay.now_ms():
        raise NotFound("no such document is published under this address on this relay")
    return web.Response(body=held.data, content_type="application/octet-stream")
