"""Where the client keeps signed documents and franking keys (the store's ``docs`` table), and the version guard
that never lets a relay (or a file) take a document back to an older version.

Every value is sealed like any other row of the store (:class:`~confide.client.store.Store`); the scopes are
fixed words, keys are raw addresses or message ids, so the file shows neither.

=====================  ======================================  ============================================
scope                  key                                     value
=====================  ======================================  ============================================
``practice``           the practice's address (20 bytes)       a pinned practice (:mod:`.practices`)
``practice-state``     ``b"state"``                            a practice profile's own state (:mod:`.practice`)
``peer-credential``    the contact's address                   their credential document, as received
``peer-availability``  the contact's address                   their newest availability card
``peer-franking``      the contact's address                   their franking key binding (96 bytes)
``peer-judge``         the contact's address                   the judge key they asked to be franked for
``franking-notice``    the contact's address                   the judge key of the FRANKING_KEY notice sent
``self``               ``b"credential"``, ``b"availability"``  this profile's own credential and card
``guard``              signer address || kind byte             the newest version seen (:class:`VersionGuard`)
``franked``            a message id                            what makes that message reportable
=====================  ======================================  ============================================

``peer-*`` and ``franking-notice`` rows are owned by the contact's row and deleted with it; ``franked`` rows
with their message (and their contact).
"""

from __future__ import annotations

import json

from confide.protocol.document_errors import DocumentStale
from confide.protocol.documents import DocumentKind, SignedDocument, VersionGuard

from .errors import StorageError
from .store import MESSAGE_DOC_SCOPE, Store

PRACTICE = "practice"
PRACTICE_STATE = "practice-state"
PEER_CREDENTIAL = "peer-credential"
PEER_AVAILABILITY = "peer-availability"
PEER_FRANKING = "peer-franking"
PEER_JUDGE = "peer-judge"
FRANKING_NOTICE = "franking-notice"
SELF = "self"
GUARD = "guard"
FRANKED = MESSAGE_DOC_SCOPE

SELF_CREDENTIAL = b"credential"
SELF_AVAILABILITY = b"availability"


def _guard_key(signer_address: bytes, kind: DocumentKind) -> bytes:
    return signer_address + bytes((int(kind),))


def seen_guard(store: Store, signer_address: bytes, kind: DocumentKind) -> VersionGuard | None:
    """The guard of the newest ``kind`` document of ``signer_address`` accepted so far, or None.

    Raises:
        StorageError: the stored guard is damaged.
    """
    raw = store.get_doc(GUARD, _guard_key(signer_address, kind))
    if raw is None:
        return None
    try:
        obj = json.loads(raw)
        return VersionGuard(
            bytes.fromhex(obj["signer"]), DocumentKind(obj["kind"]), int(obj["version"]), bytes.fromhex(obj["digest"])
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError("a stored document version is damaged; restore the profile") from exc


def admit(store: Store, document: SignedDocument) -> bool:
    """Whether ``document`` may replace what was seen of its (signer, kind): True for a newer version or the same
    bytes again, False for an older version or other bytes under the same version (a relay replaying)."""
    guard = seen_guard(store, document.signer.address.raw, document.kind)
    return guard is None or guard.admits(document)


def accept(store: Store, document: SignedDocument) -> None:
    """Remember ``document`` as the newest of its (signer, kind); call in the transaction that stores it.

    Raises:
        DocumentStale: an older version than one seen, or the same version with other bytes.
        StorageError: the stored guard is damaged.
    """
    guard = seen_guard(store, document.signer.address.raw, document.kind)
    new = VersionGuard.of(document) if guard is None else guard.advance(document)
    value = {"signer": new.signer.hex(), "kind": int(new.kind), "version": new.version, "digest": new.digest.hex()}
    store.put_doc(GUARD, _guard_key(new.signer, new.kind), json.dumps(value).encode())


def forget_guard(store: Store, signer_address: bytes, kind: DocumentKind) -> None:
    """Forget the newest version seen of ``signer_address``'s ``kind`` documents (a practice no longer trusted)."""
    store.delete_doc(GUARD, _guard_key(signer_address, kind))


__all__ = [
    "FRANKED",
    "FRANKING_NOTICE",
    "GUARD",
    "PEER_AVAILABILITY",
    "PEER_CREDENTIAL",
    "PEER_FRANKING",
    "PEER_JUDGE",
    "PRACTICE",
    "PRACTICE_STATE",
    "SELF",
    "SELF_AVAILABILITY",
    "SELF_CREDENTIAL",
    "DocumentStale",
    "accept",
    "admit",
    "forget_guard",
    "seen_guard",
]
