"""A practice's own side (issue 11): its moderation key, its policy, the credentials it issues and revokes, its
directory, publishing its signed documents to the relay, and reviewing abuse reports.

A practice is a Confide profile of role ``practice`` (``confide practice init``). Its identity key signs its
documents (so its address is what clients pin); its moderation (judge) key is a franking key pair generated
once, kept only here. All of it is one sealed row of the store (scope ``practice-state``, key ``b"state"``,
see :mod:`.peer_documents`): the moderation secret, the policy's fields, every live credential issued (its
signed bytes, its holder, whether it is listed in the directory with the holder's delivery token and
availability card, when it was revoked) and the version and expiry of the last publication of each kind.

=================  =========================================================================================
method             what it does
=================  =========================================================================================
``set_up``         make the moderation key (once; ``confide practice init``)
``set_policy``     the practice's name, crisis notice and crisis numbers (published with the moderation key)
``issue``          sign a credential for the therapist whose contact card is given (a card proves the key)
``revoke``         revoke by credential id or therapist address, unlist them, and publish
``publish``        sign and PUT the revocation list, the directory and the policy (version = last + 1)
``show``           everything above, for ``confide practice show``
``review``         a report file's verdict with the moderation key
=================  =========================================================================================

Versions and expiries are recorded only once the relay accepted the document. A credential past its
``not_after`` is dropped from the state (with its revocation: nobody accepts it any more), which also keeps
the revocation list within :data:`~confide.protocol.document_bodies.MAX_REVOCATIONS`.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from confide.keys.address import Address
from confide.keys.encoding import RNG
from confide.keys.errors import InvalidAddress
from confide.keys.identity import IdentityKeyPair
from confide.protocol.contact_card import parse_contact_card
from confide.protocol.content import AttachmentPointer, Content, Text
from confide.protocol.document_bodies import (
    CREDENTIAL_ID_LEN,
    MAX_REVOCATIONS,
    Credential,
    CrisisContact,
    PracticePolicy,
    RevocationList,
)
from confide.protocol.document_errors import DocumentError
from confide.protocol.documents import (
    MAX_DIRECTORY_ENTRIES,
    MAX_DOCUMENT_LIFETIME_S,
    MAX_REVOCATIONS_LIFETIME_S,
    Body,
    Directory,
    DirectoryEntry,
    DocumentKind,
    SignedDocument,
    credential_of,
    parse_document,
)
from confide.protocol.franking import FrankingKeyPair, FrankingPublicKey
from confide.protocol.report_file import parse_report_file

from .errors import PracticeError, PracticeNotReady, RelayError, RelayUnreachable, StorageError, UnknownCredential
from .peer_documents import PRACTICE_STATE
from .practice_views import IssuedCredential, PolicyFields, PracticeSummary, Published, ReportedMessage, ReportReview
from .relay import RelayClient
from .store import Store

STATE_KEY = b"state"
"""The one row of scope ``practice-state`` that holds a practice's state."""
DAY_S = 24 * 3600
REVOCATIONS_LIFETIME_S = 14 * DAY_S
"""A published revocation list expires after two weeks, well inside
:data:`~confide.protocol.documents.MAX_REVOCATIONS_LIFETIME_S` (a month): a practice that publishes weekly (as
docs/practice.md advises) always has a list out with a week to spare, so clients never see it stale, and a
relay hiding a newer list can keep serving an old one for two weeks at most."""
DIRECTORY_LIFETIME_S = 30 * DAY_S
"""A directory expires after a month: it carries delivery tokens and availability cards, so a practice that
stops publishing (closed, lost its key) stops listing anyone within a month."""
POLICY_LIFETIME_S = 90 * DAY_S
"""A policy expires after three months: its crisis numbers and moderation key change rarely, and a practice
that misses a few weekly publications still has its crisis notice shown; a closed practice's numbers are
gone within a quarter."""
DEFAULT_VALID_DAYS = 365
"""A credential lasts a licence year unless the practice says otherwise."""
MAX_VALID_DAYS = MAX_DOCUMENT_LIFETIME_S // DAY_S
"""The longest credential (400 days): its document expires with it, and no document may live longer."""
MAX_CREDENTIALS = 1024
"""Live credentials a practice may hold at once: ten for each of the 100 therapists a directory can list
(overlapping renewals, re-issues after a lost device). Every one of them fits in one revocation list, and the
practice's state (rewritten whole on each change) stays within a few MiB."""
CREDENTIAL_ID_HEX_LEN = 2 * CREDENTIAL_ID_LEN
"""A credential id as people copy it: 32 hex digits."""

_LIFETIMES = {
    DocumentKind.REVOCATIONS: REVOCATIONS_LIFETIME_S,
    DocumentKind.DIRECTORY: DIRECTORY_LIFETIME_S,
    DocumentKind.POLICY: POLICY_LIFETIME_S,
}
_PUBLISHED_KINDS = (DocumentKind.REVOCATIONS, DocumentKind.DIRECTORY, DocumentKind.POLICY)
"""Publishing order: the revocation list first, so a revocation reaches the relay even if a later PUT fails."""
_U64_MAX = 2**64 - 1
assert MAX_CREDENTIALS <= MAX_REVOCATIONS
CONFLICT = 409
"""The relay's answer to a version that is not above the one it holds (docs/relay-api.md)."""
assert REVOCATIONS_LIFETIME_S <= MAX_REVOCATIONS_LIFETIME_S
assert max(DIRECTORY_LIFETIME_S, POLICY_LIFETIME_S) <= MAX_DOCUMENT_LIFETIME_S


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


@dataclass(frozen=True, slots=True)
class _State:
    moderation_secret: bytes = field(repr=False)
    policy: PolicyFields | None
    credentials: tuple[IssuedCredential, ...]
    published: tuple[Published, ...]

    def last(self, kind: DocumentKind) -> Published | None:
        return next((p for p in self.published if p.kind == kind), None)


def _unlisted(credential: IssuedCredential) -> IssuedCredential:
    """``credential`` out of the directory: its holder's delivery token and card are no longer kept."""
    return dataclasses.replace(credential, listed=False, delivery_token=None, availability=None)


def _hex_or_none(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _bytes_or_none(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("not hex")
    return bytes.fromhex(value)


def _encode(state: _State) -> bytes:
    policy = state.policy
    obj: dict[str, Any] = {
        "moderation_secret": state.moderation_secret.hex(),
        "policy": None
        if policy is None
        else {
            "name": policy.practice_name,
            "notice": policy.crisis_notice,
            "contacts": [[c.label, c.number] for c in policy.crisis_contacts],
        },
        "credentials": [
            {
                "id": c.credential_id.hex(),
                "document": c.document.hex(),
                "therapist": c.therapist,
                "name": c.display_name,
                "licence": c.licence_number,
                "body": c.licensing_body,
                "jurisdiction": c.jurisdiction,
                "not_before": c.not_before,
                "not_after": c.not_after,
                "listed": c.listed,
                "token": _hex_or_none(c.delivery_token),
                "availability": _hex_or_none(c.availability),
                "revoked_at": c.revoked_at,
            }
            for c in state.credentials
        ],
        "published": [{"kind": int(p.kind), "version": p.version, "expires_at": p.expires_at} for p in state.published],
    }
    return json.dumps(obj).encode()


def _decode(raw: bytes) -> _State:
    try:
        obj = json.loads(raw)
        p = obj["policy"]
        policy = (
            None
            if p is None
            else PolicyFields(str(p["name"]), str(p["notice"]), tuple(CrisisContact(a, b) for a, b in p["contacts"]))
        )
        credentials = tuple(
            IssuedCredential(
                credential_id=bytes.fromhex(c["id"]),
                document=bytes.fromhex(c["document"]),
                therapist=str(c["therapist"]),
                display_name=str(c["name"]),
                licence_number=str(c["licence"]),
                licensing_body=str(c["body"]),
                jurisdiction=str(c["jurisdiction"]),
                not_before=int(c["not_before"]),
                not_after=int(c["not_after"]),
                listed=bool(c["listed"]),
                delivery_token=_bytes_or_none(c["token"]),
                availability=_bytes_or_none(c["availability"]),
                revoked_at=None if c["revoked_at"] is None else int(c["revoked_at"]),
            )
            for c in obj["credentials"]
        )
        published = tuple(
            Published(DocumentKind(q["kind"]), int(q["version"]), int(q["expires_at"])) for q in obj["published"]
        )
        return _State(bytes.fromhex(obj["moderation_secret"]), policy, credentials, published)
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError("the practice's stored state is damaged; restore the practice profile") from exc


class PracticeAdmin:
    """The practice's side, over its profile's ``store``, its ``identity`` (the signing key of every document it
    publishes) and its ``relay``; ``rng`` draws the moderation key and credential ids. Obtain one from
    :meth:`confide.client.Client.practice_admin`.

    Every method but :meth:`set_up` raises :class:`PracticeNotReady` before ``set_up`` ran, and
    :class:`StorageError` if the stored state is damaged.
    """

    def __init__(
        self,
        store: Store,
        identity: IdentityKeyPair,
        relay: RelayClient,
        *,
        rng: RNG,
        ensure_registered: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``ensure_registered`` finishes the profile's registration with the relay if an outage interrupted it
        (the relay keeps documents only of registered addresses); :meth:`publish` awaits it first."""
        self._store = store
        self._identity = identity
        self._relay = relay
        self._rng = rng
        self._ensure_registered = ensure_registered

    def __repr__(self) -> str:
        return "PracticeAdmin()"

    # -- state ----------------------------------------------------------------------------------------
    def _load(self) -> _State:
        raw = self._store.get_doc(PRACTICE_STATE, STATE_KEY)
        if raw is None:
            raise PracticeNotReady("this practice has no moderation key yet; run 'confide practice init'")
        return _decode(raw)

    def _save(self, state: _State, now: int) -> None:
        live = tuple(c for c in state.credentials if c.not_after > now)
        self._store.put_doc(PRACTICE_STATE, STATE_KEY, _encode(dataclasses.replace(state, credentials=live)))

    def _judge(self, state: _State) -> FrankingKeyPair:
        try:
            return FrankingKeyPair(state.moderation_secret)
        except ValueError as exc:
            raise StorageError("the practice's moderation key is damaged; restore the practice profile") from exc

    def set_up(self) -> FrankingPublicKey:
        """Make the moderation key (from the injected ``rng``) unless there is one; returns its public half.

        Raises:
            StorageError: the stored state is damaged.
        """
        with self._store.transaction():
            raw = self._store.get_doc(PRACTICE_STATE, STATE_KEY)
            if raw is not None:
                return self._judge(_decode(raw)).public
            judge = FrankingKeyPair.generate(self._rng)
            state = _State(judge.private_bytes(), None, (), ())
            self._store.put_doc(PRACTICE_STATE, STATE_KEY, _encode(state))
            return judge.public

    @property
    def address(self) -> Address:
        """The practice's address: what clients pin (``confide practices trust ADDRESS``)."""
        return self._identity.public.address

    # -- policy ---------------------------------------------------------------------------------------
    def set_policy(self, name: str, crisis_notice: str, crisis_contacts: list[tuple[str, str]]) -> PolicyFields:
        """Set the practice's name, its crisis notice (a few paragraphs) and crisis numbers (``(label, number)``);
        published by the next :meth:`publish`.

        Raises:
            ValueError: a text breaks the document rules (empty, too long, control characters) or too many numbers.
            PracticeNotReady, StorageError: see the class.
        """
        contacts = tuple(CrisisContact(label, number) for label, number in crisis_contacts)
        with self._store.transaction():
            state = self._load()
            policy = PracticePolicy(name, crisis_notice, contacts, moderation_key=self._judge(state).public)
            fields = PolicyFields(policy.practice_name, policy.crisis_notice, policy.crisis_contacts)
            self._save(dataclasses.replace(state, policy=fields), _now(None))
        return fields

    # -- credentials ----------------------------------------------------------------------------------
    def issue(
        self,
        card_bytes: bytes,
        display_name: str,
        licence_number: str,
        licensing_body: str,
        jurisdiction: str,
        *,
        valid_days: int = DEFAULT_VALID_DAYS,
        list_in_directory: bool = False,
        now: int | None = None,
    ) -> bytes:
        """Sign a credential for the holder of the contact card ``card_bytes`` (their own signature on the card
        proves they hold the key), valid from ``now`` for ``valid_days``, with 16 random bytes as its id; keep it,
        and with ``list_in_directory`` list the holder in the next directory (with the card's delivery token and
        availability card; a newer listed credential for the same therapist takes the older one's place).
        Returns the signed credential document the therapist imports (``confide credential import``).

        Raises:
            ContactCardError: the card is malformed or does not verify (nothing is kept).
            ValueError: a text breaks the document rules, or ``valid_days`` is not 1 to :data:`MAX_VALID_DAYS`.
            PracticeError: the directory is full (:data:`MAX_DIRECTORY_ENTRIES`) or the practice holds
                :data:`MAX_CREDENTIALS` live credentials.
            PracticeNotReady: see the class.
            StorageError: see the class.
        """
        at = _now(now)
        card = parse_contact_card(card_bytes, now=at)
        if isinstance(valid_days, bool) or not isinstance(valid_days, int) or not 1 <= valid_days <= MAX_VALID_DAYS:
            raise ValueError(f"a credential is valid for 1 to {MAX_VALID_DAYS} days")
        body = Credential(
            card.identity,
            self._rng(CREDENTIAL_ID_LEN),
            display_name,
            licence_number,
            licensing_body,
            jurisdiction,
            at,
            at + valid_days * DAY_S,
        )
        document = SignedDocument.sign(self._identity, body, version=1, issued_at=at, expires_at=body.not_after)
        therapist = card.address.text
        issued = IssuedCredential(
            body.credential_id,
            document.to_bytes(),
            therapist,
            body.display_name,
            body.licence_number,
            body.licensing_body,
            body.jurisdiction,
            body.not_before,
            body.not_after,
            list_in_directory,
            card.delivery_token if list_in_directory else None,
            card.availability.to_bytes() if list_in_directory and card.availability is not None else None,
        )
        with self._store.transaction():
            state = self._load()
            live = [c for c in state.credentials if c.not_after > at]
            if len(live) >= MAX_CREDENTIALS:
                raise PracticeError(f"this practice already holds {MAX_CREDENTIALS} live credentials")
            if list_in_directory:
                live = [_unlisted(c) if c.therapist == therapist else c for c in live]
                if sum(c.listed for c in live) >= MAX_DIRECTORY_ENTRIES:
                    raise PracticeError(f"the directory already lists {MAX_DIRECTORY_ENTRIES} therapists")
            self._save(dataclasses.replace(state, credentials=(*live, issued)), at)
        return issued.document

    def _matching(self, state: _State, target: str) -> list[IssuedCredential]:
        compact = target.strip().lower()
        if len(compact) == CREDENTIAL_ID_HEX_LEN and all(ch in "0123456789abcdef" for ch in compact):
            wanted = bytes.fromhex(compact)
            return [c for c in state.credentials if hmac.compare_digest(c.credential_id, wanted)]
        try:
            address = Address.parse(target).text
        except InvalidAddress:
            raise UnknownCredential(
                "give a credential id (32 hex digits, see 'confide practice show') or a therapist's address"
            ) from None
        return [c for c in state.credentials if c.therapist == address]

    async def revoke(self, target: str, *, now: int | None = None) -> tuple[IssuedCredential, ...]:
        """Revoke the credential with id ``target`` (32 hex digits), or every live credential of the therapist
        whose address is ``target``; unlist them; then :meth:`publish`. Returns the credentials revoked (already
        revoked ones keep their first revocation time). The revocation is kept even if publishing fails: the
        next :meth:`publish` sends it.

        Raises:
            UnknownCredential: ``target`` is neither, or names no live credential of this practice.
            PracticeNotReady: no policy yet (the revocation is kept; set the policy and publish).
            RelayUnreachable, RelayError: publishing failed (the revocation is kept).
            StorageError: see the class.
        """
        at = _now(now)
        with self._store.transaction():
            state = self._load()
            matches = {c.credential_id for c in self._matching(state, target) if c.not_after > at}
            if not matches:
                raise UnknownCredential("this practice holds no live credential with that id or for that address")
            credentials = tuple(
                dataclasses.replace(_unlisted(c), revoked_at=at if c.revoked_at is None else c.revoked_at)
                if c.credential_id in matches
                else c
                for c in state.credentials
            )
            self._save(dataclasses.replace(state, credentials=credentials), at)
        revoked = tuple(c for c in credentials if c.credential_id in matches)
        kept = "revoked on this device but not published yet"
        try:
            await self.publish(now=at)
        except PracticeNotReady:
            raise PracticeNotReady(f"{kept}: set the policy ('confide practice policy'), then publish") from None
        except RelayUnreachable as exc:
            raise RelayUnreachable(f"{kept} ({exc}); run 'confide practice publish' again") from exc
        except RelayError as exc:
            raise RelayError(exc.status, exc.code, f"{kept}: {exc.relay_message}") from exc
        return revoked

    # -- publishing -----------------------------------------------------------------------------------
    def _directory(self, state: _State, at: int) -> Directory:
        entries = []
        for c in state.credentials:
            if not c.listed or c.revoked_at is not None or c.not_after <= at:
                continue
            credential = parse_document(
                c.document, expected_signer=self._identity.public, expected_kind=DocumentKind.CREDENTIAL, now=at
            )
            card: SignedDocument | None = None
            if c.availability is not None:
                try:
                    card = parse_document(
                        c.availability,
                        expected_signer=credential_of(credential).therapist,
                        expected_kind=DocumentKind.AVAILABILITY,
                        now=at,
                    )
                except DocumentError:
                    card = None  # expired since it was handed over: list them without it
            entries.append(DirectoryEntry(credential, c.delivery_token, card))
        return Directory(tuple(entries))

    def _documents(self, state: _State, at: int) -> list[SignedDocument]:
        if state.policy is None:
            raise PracticeNotReady("set the practice's policy first: 'confide practice policy --crisis-notice ...'")
        revoked = {c.credential_id: c.revoked_at for c in state.credentials if c.revoked_at is not None}
        policy = state.policy
        bodies: dict[DocumentKind, Body] = {
            DocumentKind.REVOCATIONS: RevocationList.of({cid: t for cid, t in revoked.items() if t is not None}),
            DocumentKind.DIRECTORY: self._directory(state, at),
            DocumentKind.POLICY: PracticePolicy(
                policy.practice_name,
                policy.crisis_notice,
                policy.crisis_contacts,
                moderation_key=self._judge(state).public,
            ),
        }
        documents = []
        for kind in _PUBLISHED_KINDS:
            last = state.last(kind)
            version = 1 if last is None else last.version + 1
            if version > _U64_MAX:
                raise StorageError("the practice's document versions are exhausted")
            documents.append(
                SignedDocument.sign(
                    self._identity, bodies[kind], version=version, issued_at=at, expires_at=at + _LIFETIMES[kind]
                )
            )
        return documents

    async def _put(self, document: SignedDocument, at: int) -> SignedDocument:
        """PUT ``document``; if the relay holds a newer version of ours (this state was restored from an older
        copy), sign it again one version above that and PUT once more. Returns what the relay accepted."""
        try:
            await self._relay.put_document(self.address, document.to_bytes())
            return document
        except RelayError as exc:
            if exc.status != CONFLICT:
                raise
            held = await self._relay.get_document(self.address, document.kind.name.lower())
            if held is None:
                raise
            try:
                current = parse_document(
                    held, expected_signer=self._identity.public, expected_kind=document.kind, now=at
                )
            except DocumentError:
                raise exc from None
            if current.version >= _U64_MAX:
                raise
        again = SignedDocument.sign(
            self._identity,
            document.body,
            version=current.version + 1,
            issued_at=document.issued_at,
            expires_at=document.expires_at,
        )
        await self._relay.put_document(self.address, again.to_bytes())
        return again

    async def publish(self, *, now: int | None = None) -> list[Published]:
        """Sign the revocation list, the directory and the policy (each with version = the last accepted + 1
        and expiry ``now`` + :data:`REVOCATIONS_LIFETIME_S`, :data:`DIRECTORY_LIFETIME_S`,
        :data:`POLICY_LIFETIME_S`) and PUT each to the relay, in that order; each version is recorded once the
        relay accepted it. If the relay holds a newer version signed by this practice (the state was restored
        from an older copy), that document goes out one version above it. Returns what was published.

        Raises:
            PracticeNotReady: no policy yet (nothing is published), or see the class.
            RelayUnreachable, RelayError: a PUT failed (what was accepted before it stays recorded; publish again).
            StorageError: see the class.
        """
        at = _now(now)
        documents = self._documents(self._load(), at)
        if self._ensure_registered is not None:
            await self._ensure_registered()
        done = []
        for document in documents:
            sent = await self._put(document, at)
            published = Published(sent.kind, sent.version, sent.expires_at)
            with self._store.transaction():
                state = self._load()
                last = state.last(document.kind)
                if last is None or last.version < published.version:
                    others = tuple(p for p in state.published if p.kind != document.kind)
                    self._save(dataclasses.replace(state, published=(*others, published)), at)
            done.append(published)
        return done

    # -- showing and reviewing ------------------------------------------------------------------------
    def show(self, *, now: int | None = None) -> PracticeSummary:
        """The practice's address, moderation key, policy, live credentials and last publications.

        Raises:
            PracticeNotReady, StorageError: see the class.
        """
        at = _now(now)
        state = self._load()
        order = {kind: i for i, kind in enumerate(_PUBLISHED_KINDS)}
        return PracticeSummary(
            self.address.text,
            self._judge(state).public,
            state.policy,
            tuple(c for c in state.credentials if c.not_after > at),
            tuple(sorted(state.published, key=lambda p: order[p.kind])),
        )

    def holder(self, address: Address) -> IssuedCredential | None:
        """The newest live credential this practice issued to ``address`` (for naming a report's parties).

        Raises:
            PracticeNotReady, StorageError: see the class.
        """
        return _holder(self._load(), address, _now(None))

    def review(self, report_file: bytes, *, now: int | None = None) -> ReportReview:
        """The verdict on a report file a client sent (``confide report``): only when ``authentic`` does it
        prove that the named sender sent exactly the reported message to the named recipient. Each party is
        named with the display name of this practice's newest credential live at ``now`` that they hold.

        Raises:
            MalformedFranking: not a report file (nothing of it can be shown).
            PracticeNotReady, StorageError: see the class.
        """
        parsed = parse_report_file(report_file)
        at = _now(now)
        state = self._load()
        verdict = parsed.review(self._judge(state))
        sender = _holder(state, verdict.sender_address, at)
        recipient = _holder(state, verdict.recipient_address, at)
        return ReportReview(
            judge_matches=verdict.judge_matches,
            sender_bound=verdict.sender_bound,
            recipient_bound=verdict.recipient_bound,
            franking_holds=verdict.franking_holds,
            sender_address=verdict.sender_address.text,
            recipient_address=verdict.recipient_address.text,
            sender_credential=None if sender is None else sender.display_name,
            recipient_credential=None if recipient is None else recipient.display_name,
            message=_reported(verdict.content),
        )


def _holder(state: _State, address: Address, at: int) -> IssuedCredential | None:
    """The newest credential in ``state`` live at ``at`` that was issued to ``address``."""
    mine = [c for c in state.credentials if c.therapist == address.text and c.not_after > at]
    return max(mine, key=lambda c: c.not_before, default=None)


def _reported(content: Content | None) -> ReportedMessage | None:
    """The reported message as a view: a text, a file (its name, type, size and caption) or something else."""
    if content is None:
        return None
    body = content.body
    if isinstance(body, Text):
        return ReportedMessage("text", text=body.body)
    if isinstance(body, AttachmentPointer):
        return ReportedMessage("file", name=body.name, mime=body.mime, size=body.size, caption=body.caption)
    return ReportedMessage("other")


__all__ = [
    "DEFAULT_VALID_DAYS",
    "DIRECTORY_LIFETIME_S",
    "MAX_CREDENTIALS",
    "MAX_VALID_DAYS",
    "POLICY_LIFETIME_S",
    "REVOCATIONS_LIFETIME_S",
    "IssuedCredential",
    "PolicyFields",
    "PracticeAdmin",
    "PracticeSummary",
    "Published",
]
