"""Errors of signed practice documents (:mod:`confide.protocol.documents`), under :class:`RemoteProtocolError`.

A document always comes from someone else (a practice, a therapist, or the relay that serves them), so every
refusal is a remote error. :class:`DocumentError` is the base and also means "malformed"; the subclasses say
what a client can act on: a forgery, an expired or future document, or an older version than one it has seen.
"""

from __future__ import annotations

from .errors import RemoteProtocolError


class DocumentError(RemoteProtocolError):
    """A signed document is malformed (version, kind, length, field, text rule or limit), or not the kind
    asked for. Base of every document refusal."""


class DocumentSignatureError(DocumentError):
    """A document's signature does not verify, its signer's identity is not self-consistent, or it is not
    signed by the identity the caller expected: treat it as forged and show nothing of it."""


class DocumentExpired(DocumentError):
    """A document is past its ``expires_at``: its signer has not re-published it; ask for a newer one."""


class DocumentNotYetValid(DocumentError):
    """A document's ``issued_at`` is further in the future than the allowed clock skew: check the clock."""


class DocumentStale(DocumentError):
    """A document is older than one already accepted from the same signer and kind, or has the same version
    with other bytes: whoever served it (e.g. the relay) may be hiding a newer one; keep the newer one."""


__all__ = [
    "DocumentError",
    "DocumentExpired",
    "DocumentNotYetValid",
    "DocumentSignatureError",
    "DocumentStale",
]
