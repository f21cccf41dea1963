"""Pinned practices as the store keeps them (scope ``practice``, key the practice's 20-byte address).

A practice is pinned by its address (:func:`pin_text`). Its row holds the newest policy, directory and
revocation list accepted, each with the time it was accepted, and the kinds the last refresh refused as stale::

    {"policy": [accepted_at, hex], "directory": [accepted_at, hex] | null,
     "revocations": [accepted_at, hex] | null, "refused": ["directory", ...]}

Kept documents are parsed and verified again when read, as of when they were accepted (their dates are judged
by the caller: an expired revocation list still proves a revocation). Only :mod:`.practices` writes here, and
only through :func:`~confide.client.peer_documents.accept`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from confide.keys.address import Address
from confide.keys.errors import InvalidAddress
from confide.keys.identity import IDENTITY_PUBLIC_LEN, IdentityPublicKey
from confide.protocol.document_bodies import PracticePolicy
from confide.protocol.document_errors import DocumentError
from confide.protocol.documents import Directory, DirectoryEntry, DocumentKind, SignedDocument, parse_document

from . import peer_documents as docs
from .errors import StorageError, UnknownPractice
from .store import Store

MAX_PIN_FILE_BYTES = 4096
"""A pin file holds one address or the text of its QR code (a few dozen characters); a longer file is not a
pin, and is not read further."""
MAX_PARSED_DOCUMENTS = 64
"""Parsed documents remembered by their bytes, so listing contacts does not verify every directory signature
once per contact: a few documents per pinned practice; past this many (old versions after refreshes), the
memory is cleared and rebuilt."""
KIND_NAMES: dict[DocumentKind, str] = {
    DocumentKind.POLICY: "policy",
    DocumentKind.DIRECTORY: "directory",
    DocumentKind.REVOCATIONS: "revocations",
}
"""The kinds a pinned practice publishes, by the name the relay serves them under (and the row's keys)."""
_ISSUED_AT = slice(1 + 1 + IDENTITY_PUBLIC_LEN + 8, 1 + 1 + IDENTITY_PUBLIC_LEN + 16)
"""Where a document's ``issued_at`` lies (after format, kind, signer and version; SPEC section 12)."""
_DAMAGED = "a stored practice is damaged; trust the practice again"


@dataclass(frozen=True, slots=True)
class KeptDocument:
    """A document kept for a pinned practice and when it was accepted (unix seconds)."""

    document: SignedDocument
    accepted_at: int


@dataclass(frozen=True, slots=True)
class PinnedPractice:
    """A pinned practice as stored: its address and the documents kept (the policy is always there)."""

    address: bytes
    policy: KeptDocument
    directory: KeptDocument | None
    revocations: KeptDocument | None
    refused: tuple[str, ...] = ()
    """The kinds the last refresh refused as stale (reported until a refresh refuses none)."""

    @property
    def policy_body(self) -> PracticePolicy:
        """The practice's signed policy (name, crisis notice, moderation key)."""
        body = self.policy.document.body
        assert isinstance(body, PracticePolicy)
        return body

    @property
    def name(self) -> str:
        """The practice's name, from its signed policy (its own words: escape before display)."""
        return self.policy_body.practice_name

    @property
    def revocation_list(self) -> SignedDocument | None:
        """The newest revocation list accepted (possibly past its expiry), or None."""
        return None if self.revocations is None else self.revocations.document

    def entries(self) -> tuple[DirectoryEntry, ...]:
        """The therapists its newest accepted directory lists, in its order."""
        if self.directory is None:
            return ()
        body = self.directory.document.body
        assert isinstance(body, Directory)
        return body.entries


def undated(data: bytes, kind: DocumentKind) -> SignedDocument | None:
    """A credential (or card) as it verified when issued, whatever the time now, or None when it does not
    parse and verify. Its dates are then judged by the caller (:func:`check_credential` says ``expired``)
    rather than hiding an expired credential: :func:`parse_document` runs in full, with its issue time as
    ``now`` (read from the header only to choose that moment; the signature covers it)."""
    issued_at = int.from_bytes(data[_ISSUED_AT], "big")
    try:
        return parse_document(data, expected_signer=None, expected_kind=kind, now=issued_at)
    except DocumentError:
        return None


def pin_text(pin: str) -> Address:
    """The address a pin names: the address text, the text of its QR code (anything up to a last ``:``, then
    the address), or the path of a file holding either.

    Raises:
        InvalidAddress: neither an address nor a readable file holding one.
    """
    text = pin.strip()
    path = Path(text)
    if text and not text.lower().startswith("cf1-") and path.is_file():
        try:
            with path.open("rb") as f:
                data = f.read(MAX_PIN_FILE_BYTES + 1)
        except OSError as exc:
            raise InvalidAddress(f"cannot read the pin file: {exc.strerror or 'unreadable'}") from None
        if len(data) > MAX_PIN_FILE_BYTES:
            raise InvalidAddress("that file is too long to hold a practice's address")
        try:
            text = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InvalidAddress(
                "that file does not hold a practice's address as text (a QR code image must be scanned: give "
                "the address it shows)"
            ) from None
    if ":" in text:
        text = text.rsplit(":", 1)[1]
    return Address.parse(text)


class PinnedPractices:
    """Reads and writes the ``practice`` rows of one profile's store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._parsed: dict[bytes, SignedDocument] = {}

    def _parse_kept(self, data: bytes, signer: IdentityPublicKey | None, kind: DocumentKind, at: int) -> SignedDocument:
        """A kept document parsed again as of ``at`` (it verified then).

        Raises:
            StorageError: it no longer parses (the store is damaged).
        """
        cached = self._parsed.get(data)
        if cached is None:
            try:
                cached = parse_document(data, expected_signer=signer, expected_kind=kind, now=at)
            except DocumentError as exc:
                raise StorageError(_DAMAGED) from exc
            if len(self._parsed) >= MAX_PARSED_DOCUMENTS:
                self._parsed.clear()
            self._parsed[data] = cached
        return cached

    def _load(self, address: bytes, raw: bytes) -> PinnedPractice:
        try:
            obj = json.loads(raw)
            kept: dict[DocumentKind, KeptDocument | None] = {}
            signer: IdentityPublicKey | None = None
            for kind, name in KIND_NAMES.items():
                item = obj[name]
                if item is None:
                    kept[kind] = None
                    continue
                at, data = int(item[0]), bytes.fromhex(item[1])
                document = self._parse_kept(data, signer, kind, at)
                signer = signer or document.signer
                kept[kind] = KeptDocument(document, at)
            refused = tuple(str(k) for k in obj.get("refused", []))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise StorageError(_DAMAGED) from exc
        policy = kept[DocumentKind.POLICY]
        if policy is None or policy.document.signer.address.raw != address:
            raise StorageError(_DAMAGED)
        return PinnedPractice(address, policy, kept[DocumentKind.DIRECTORY], kept[DocumentKind.REVOCATIONS], refused)

    def save(self, pinned: PinnedPractice) -> None:
        """Store ``pinned`` (call in the transaction that accepted its documents)."""

        def item(k: KeptDocument | None) -> list[object] | None:
            return None if k is None else [k.accepted_at, k.document.to_bytes().hex()]

        value = {
            "policy": item(pinned.policy),
            "directory": item(pinned.directory),
            "revocations": item(pinned.revocations),
            "refused": list(pinned.refused),
        }
        self._store.put_doc(docs.PRACTICE, pinned.address, json.dumps(value).encode())

    def delete(self, address: bytes) -> None:
        """Forget the practice at ``address``: its row and the versions seen of its documents."""
        with self._store.transaction():
            self._store.delete_doc(docs.PRACTICE, address)
            for kind in KIND_NAMES:
                docs.forget_guard(self._store, address, kind)

    def any(self) -> bool:
        """Whether any practice is pinned.

        Raises:
            StorageError.
        """
        return bool(self._store.docs(docs.PRACTICE))

    def all(self) -> list[PinnedPractice]:
        """Every pinned practice, oldest pin first.

        Raises:
            StorageError: a row is damaged.
        """
        return [self._load(key, raw) for key, raw in self._store.docs(docs.PRACTICE)]

    def at(self, address: bytes) -> PinnedPractice | None:
        """The practice pinned at ``address``, or None.

        Raises:
            StorageError: its row is damaged.
        """
        raw = self._store.get_doc(docs.PRACTICE, address)
        return None if raw is None else self._load(address, raw)

    def find(self, practice: str) -> PinnedPractice:
        """The pinned practice with that address (or pin) or name (exact, then a unique case-insensitive match).

        Raises:
            UnknownPractice: none matches. StorageError.
        """
        pinned = self.all()
        try:
            address = pin_text(practice).raw
        except InvalidAddress:
            pass
        else:
            for p in pinned:
                if p.address == address:
                    return p
        for p in pinned:
            if p.name == practice:
                return p
        folded = [p for p in pinned if p.name.casefold() == practice.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        raise UnknownPractice("this profile trusts no practice of that name or address; see 'confide practices list'")
