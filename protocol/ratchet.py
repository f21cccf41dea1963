"""The Double Ratchet with header encryption (Perrin & Marlinspike, "The Double Ratchet Algorithm", section 4).

Headers (``ratchet_public(32) || pn u32 || n u32``) are encrypted under header keys, so the relay sees neither
ratchet keys nor counters. Decryption is two-phase: :meth:`RatchetState.prepare_decrypt` computes the
plaintext and every state change into a :class:`_Pending` without touching ``self``; :meth:`commit` applies
it. A caller that must validate the plaintext further (padding, content) commits only after that, so a
failed decrypt leaves the state exactly as it was, without deep copies on the hot path.

Wire form of a ratchet message: ``enc_header(68) || ciphertext``, where
``enc_header = nonce(12) || ChaCha20-Poly1305(HK, nonce, header, ad=empty)`` and
``ciphertext = ChaCha20-Poly1305(MK, 0^12, plaintext, ad = AD || enc_header)``.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from confide.keys.encoding import RNG, Reader, Writer

from .errors import DecryptionError, DuplicateMessage, RemoteProtocolError
from .kdf import ZERO_NONCE, kdf_chain, kdf_root
from .x25519 import agree, generate, public_key

MAX_SKIP = 1000
"""Most message keys one received message may make us derive and store (a gap in one chain). Bounds the work
a hostile or buggy peer can force per message; a thousand lost messages in a therapy thread is already far
beyond honest loss."""
MAX_SKIPPED_KEYS = 2000
"""Most skipped message keys kept across all chains (oldest evicted first), as libsignal's MAX_MESSAGE_KEYS.
Bounds state size: 2000 * 68 bytes ≈ 136 KiB per session at worst."""
MAX_OLD_HEADER_KEYS = 4
"""Previous receiving header keys remembered only to recognise late duplicates (no message keys are kept)."""

HEADER_LEN = 40
NONCE_LEN = 12
TAG_LEN = 16
ENC_HEADER_LEN = NONCE_LEN + HEADER_LEN + TAG_LEN
MIN_MESSAGE_LEN = ENC_HEADER_LEN + TAG_LEN
STATE_VERSION = 1

_HDR = struct.Struct(">32sII")


def _dh(private: bytes, public: bytes) -> bytes:
    try:
        return agree(private, public)
    except ValueError as exc:  # low-order point: a hostile peer
        raise DecryptionError("message could not be decrypted") from exc


def _open_header(hk: bytes | None, enc_header: bytes) -> tuple[bytes, int, int] | None:
    if hk is None:
        return None
    return _open_header_with(ChaCha20Poly1305(hk), enc_header)


def _open_header_with(cipher: ChaCha20Poly1305, enc_header: bytes) -> tuple[bytes, int, int] | None:
    try:
        header = cipher.decrypt(enc_header[:NONCE_LEN], enc_header[NONCE_LEN:], None)
    except InvalidTag:
        return None
    dh, pn, n = _HDR.unpack(header)
    return dh, pn, n


class _Pending:
    """Every change a successful decrypt makes, applied by :meth:`RatchetState.commit`."""

    __slots__ = (
        "ckr",
        "dhr",
        "dhs",
        "dhs_pub",
        "hkr_cipher",
        "new_skipped",
        "nr",
        "old_hkr",
        "turn",
        "used_skipped",
    )

    def __init__(self) -> None:
        self.dhr: bytes | None = None
        self.dhs: bytes | None = None
        self.dhs_pub: bytes = b""
        self.used_skipped: tuple[bytes, int] | None = None
        self.new_skipped: dict[tuple[bytes, int], bytes] = {}
        self.ckr: bytes | None = None  # with nr: the receiving chain after this message (None: unchanged)
        self.nr = 0
        # after a DH ratchet turn: (pn, hks, hkr, rk, cks, nhks, nhkr); the new HKr's cipher is kept
        self.turn: tuple[int, bytes, bytes, bytes, bytes, bytes, bytes] | None = None
        self.hkr_cipher: ChaCha20Poly1305 | None = None
        self.old_hkr: bytes | None = None


class RatchetState:
    """One party's Double Ratchet (header-encrypted) state. Mutated only by :meth:`encrypt` and :meth:`commit`."""

    __slots__ = (
        "ckr",
        "cks",
        "dhr",
        "dhs",
        "dhs_pub",
        "hkr",
        "hkr_cipher",
        "hks",
        "hks_cipher",
        "nhkr",
        "nhks",
        "nr",
        "ns",
        "old_hkr",
        "pn",
        "rk",
        "skipped",
    )

    dhs: bytes
    """Our current ratchet private key, raw (:mod:`confide.protocol.x25519`). Set by every constructor
    (init_initiator, init_responder, read_from) with its public half ``dhs_pub``."""

    def __init__(self) -> None:
        self.dhs_pub = b""
        self.dhr: bytes | None = None
        self.rk = b""
        self.cks: bytes | None = None
        self.ckr: bytes | None = None
        self.hks: bytes | None = None
        self.hkr: bytes | None = None
        self.nhks = b""
        self.nhkr = b""
        self.ns = 0
        self.nr = 0
        self.pn = 0
        self.skipped: dict[tuple[bytes, int], bytes] = {}
        self.old_hkr: list[bytes] = []
        # loaded ciphers for HKs / HKr (None: not loaded yet); they change only at a DH ratchet turn
        self.hks_cipher: ChaCha20Poly1305 | None = None
        self.hkr_cipher: ChaCha20Poly1305 | None = None

    # -- initialisation (section 4, RatchetInitAliceHE / RatchetInitBobHE) --------------------------------

    @classmethod
    def init_initiator(
        cls, root_key: bytes, shared_hka: bytes, shared_nhkb: bytes, responder_ratchet_pub: bytes, rng: RNG
    ) -> RatchetState:
        s = cls()
        s.dhs, s.dhs_pub = generate(rng)
        s.dhr = responder_ratchet_pub
        s.rk, s.cks, s.nhks = kdf_root(root_key, _dh(s.dhs, responder_ratchet_pub))
        s.hks = shared_hka
        s.nhkr = shared_nhkb
        return s

    @classmethod
    def init_responder(
        cls, root_key: bytes, shared_hka: bytes, shared_nhkb: bytes, ratchet_private: bytes, ratchet_public: bytes
    ) -> RatchetState:
        """Bob's state from the agreement and his signed prekey (raw private and public bytes).

        Raises:
            ValueError: a key is not 32 bytes.
        """
        if len(ratchet_private) != 32 or len(ratchet_public) != 32:
            raise ValueError("X25519 keys are 32 bytes")
        s = cls()
        s.dhs = ratchet_private
        s.dhs_pub = ratchet_public
        s.rk = root_key
        s.nhks = shared_nhkb
        s.nhkr = shared_hka
        return s

    # -- sending -------------------------------------------------------------------------------------

    @property
    def can_send(self) -> bool:
        return self.cks is not None and self.hks is not None

    def encrypt(self, plaintext: bytes, ad: bytes, rng: RNG) -> bytes:
        """Encrypt one message (advances the sending chain). ``ValueError`` if this side cannot send yet."""
        if self.cks is None or self.hks is None:
            raise ValueError("the responder cannot send before it has received a message")
        self.cks, mk = kdf_chain(self.cks)
        cipher = self.hks_cipher
        if cipher is None:
            cipher = self.hks_cipher = ChaCha20Poly1305(self.hks)
        nonce = rng(NONCE_LEN)
        enc_header = nonce + cipher.encrypt(nonce, _HDR.pack(self.dhs_pub, self.pn, self.ns), None)
        self.ns += 1
        return enc_header + ChaCha20Poly1305(mk).encrypt(ZERO_NONCE, plaintext, ad + enc_header)

    # -- receiving -----------------------------------------------------------------------------------

    def prepare_decrypt(self, message: bytes, ad: bytes, rng: RNG) -> tuple[bytes, _Pending]:
        """Decrypt ``message`` without changing ``self``; pass the returned pending change to :meth:`commit`.

        Raises:
            DuplicateMessage: the message was already decrypted (its key is gone).
            DecryptionError: anything else (bad tag, unknown header key, too many skipped messages).
        """
        if len(message) < MIN_MESSAGE_LEN:
            raise DecryptionError("message could not be decrypted")
        enc_header = message[:ENC_HEADER_LEN]
        body = message[ENC_HEADER_LEN:]
        full_ad = ad + enc_header
        p = _Pending()

        # 1. a key skipped earlier?
        if self.skipped:
            for hk in {k[0] for k in self.skipped}:
                hdr = _open_header(hk, enc_header)
                if hdr is None:
                    continue
                mk = self.skipped.get((hk, hdr[2]))
                if mk is None:
                    break  # header key known, counter not skipped: fall through to the live chains
                p.used_skipped = (hk, hdr[2])
                return self._open_body(mk, body, full_ad), p

        # 2. current receiving chain, else 3. the next one (a DH ratchet step)
        hdr = None
        if self.hkr is not None:
            cipher = self.hkr_cipher
            if cipher is None:  # a cache of HKr, not ratchet state: filling it leaves the state unchanged
                cipher = self.hkr_cipher = ChaCha20Poly1305(self.hkr)
            hdr = _open_header_with(cipher, enc_header)
        if hdr is not None:
            dh, pn, n = hdr
            if n < self.nr:
                raise DuplicateMessage("message was already received")
            ckr = self.ckr
            if n > self.nr:
                ckr, p.new_skipped = self._skip(ckr, self.hkr, self.nr, n)
            if ckr is None:
                raise DecryptionError("message could not be decrypted")
            p.ckr, mk = kdf_chain(ckr)
            p.nr = n + 1
            return self._open_body(mk, body, full_ad), p

        nhkr_cipher = ChaCha20Poly1305(self.nhkr)
        hdr = _open_header_with(nhkr_cipher, enc_header)
        if hdr is None:
            for old in self.old_hkr:
                if _open_header(old, enc_header) is not None:
                    raise DuplicateMessage("message was already received")
            raise DecryptionError("message could not be decrypted")
        dh, pn, n = hdr
        # finish the current receiving chain up to pn, then ratchet
        new_skipped: dict[tuple[bytes, int], bytes] = {}
        if self.ckr is not None and self.hkr is not None:
            _, new_skipped = self._skip(self.ckr, self.hkr, self.nr, pn)
        hkr = self.nhkr
        rk, ckr, nhkr = kdf_root(self.rk, _dh(self.dhs, dh))
        dhs, dhs_pub = generate(rng)
        rk, cks, nhks = kdf_root(rk, _dh(dhs, dh))
        ckr2, more = self._skip(ckr, hkr, 0, n, already=len(new_skipped))
        new_skipped.update(more)
        ckr2, mk = kdf_chain(ckr2)  # type: ignore[arg-type]
        plaintext = self._open_body(mk, body, full_ad)
        p.new_skipped = new_skipped
        p.dhr = dh
        p.dhs = dhs
        p.dhs_pub = dhs_pub
        p.old_hkr = self.hkr
        p.ckr, p.nr = ckr2, n + 1
        p.turn = (self.ns, self.nhks, hkr, rk, cks, nhks, nhkr)
        p.hkr_cipher = nhkr_cipher
        return plaintext, p

    @staticmethod
    def _open_body(mk: bytes, body: bytes, ad: bytes) -> bytes:
        try:
            return ChaCha20Poly1305(mk).decrypt(ZERO_NONCE, body, ad)
        except InvalidTag as exc:
            raise DecryptionError("message could not be decrypted") from exc

    @staticmethod
    def _skip(
        ck: bytes | None, hk: bytes | None, start: int, until: int, already: int = 0
    ) -> tuple[bytes | None, dict[tuple[bytes, int], bytes]]:
        out: dict[tuple[bytes, int], bytes] = {}
        if until <= start:
            return ck, out
        if until - start + already > MAX_SKIP or ck is None or hk is None:
            raise DecryptionError("message could not be decrypted")
        for i in range(start, until):
            ck, mk = kdf_chain(ck)
            out[(hk, i)] = mk
        return ck, out

    def commit(self, p: _Pending) -> None:
        """Apply the changes of a successful :meth:`prepare_decrypt`."""
        if p.used_skipped is not None:
            del self.skipped[p.used_skipped]
            return
        if p.ckr is not None:
            self.ckr, self.nr = p.ckr, p.nr
        if p.turn is not None:
            self.pn, self.hks, self.hkr, self.rk, self.cks, self.nhks, self.nhkr = p.turn
            self.ns = 0
            self.hks_cipher, self.hkr_cipher = None, p.hkr_cipher
        if p.dhs is not None:
            self.dhs, self.dhs_pub, self.dhr = p.dhs, p.dhs_pub, p.dhr
            if p.old_hkr is not None:
                self.old_hkr = [p.old_hkr, *self.old_hkr][:MAX_OLD_HEADER_KEYS]
        if p.new_skipped:
            self.skipped.update(p.new_skipped)
            excess = len(self.skipped) - MAX_SKIPPED_KEYS
            if excess > 0:
                for key in list(self.skipped)[:excess]:
                    del self.skipped[key]

    def decrypt(self, message: bytes, ad: bytes, rng: RNG) -> bytes:
        """:meth:`prepare_decrypt` then :meth:`commit`: all-or-nothing."""
        plaintext, pending = self.prepare_decrypt(message, ad, rng)
        self.commit(pending)
        return plaintext

    # -- persistence ---------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialise (contains secrets: seal before storing)."""
        w = Writer().u8(STATE_VERSION).raw(self.dhs)
        for opt in (self.dhr, self.cks, self.ckr, self.hks, self.hkr):
            if opt is None:
                w.u8(0)
            else:
                w.u8(1).raw(opt)
        w.raw(self.rk).raw(self.nhks).raw(self.nhkr).u32(self.ns).u32(self.nr).u32(self.pn)
        w.u8(len(self.old_hkr))
        for hk in self.old_hkr:
            w.raw(hk)
        w.u16(len(self.skipped))
        for (hk, n), mk in self.skipped.items():
            w.raw(hk).u32(n).raw(mk)
        return w.bytes()

    @classmethod
    def read_from(cls, r: Reader) -> RatchetState:
        """Parse a serialised state from ``r``. Raises :class:`RemoteProtocolError` on malformed bytes."""
        s = cls()
        if r.u8() != STATE_VERSION:
            raise RemoteProtocolError("unknown ratchet state version")
        s.dhs = r.raw(32)
        s.dhs_pub = public_key(s.dhs)
        opts: list[bytes | None] = []
        for _ in range(5):
            flag = r.u8()
            if flag not in (0, 1):
                raise RemoteProtocolError("bad optional flag in ratchet state")
            opts.append(r.raw(32) if flag else None)
        s.dhr, s.cks, s.ckr, s.hks, s.hkr = opts
        s.rk, s.nhks, s.nhkr = r.raw(32), r.raw(32), r.raw(32)
        s.ns, s.nr, s.pn = r.u32(), r.u32(), r.u32()
        n_old = r.u8()
        if n_old > MAX_OLD_HEADER_KEYS:
            raise RemoteProtocolError("too many old header keys in ratchet state")
        s.old_hkr = [r.raw(32) for _ in range(n_old)]
        n_skipped = r.u16()
        if n_skipped > MAX_SKIPPED_KEYS:
            raise RemoteProtocolError("too many skipped keys in ratchet state")
        for _ in range(n_skipped):
            hk, n, mk = r.raw(32), r.u32(), r.raw(32)
            if (hk, n) in s.skipped:  # one key per (header key, counter): a repeat would re-encode shorter
                raise RemoteProtocolError("a skipped key appears twice in ratchet state")
            s.skipped[(hk, n)] = mk
        return s

    def secrets_snapshot(self) -> set[bytes]:
        """Every chain, root, header and message key currently held (for forward-secrecy tests)."""
        out = {self.rk, self.nhks, self.nhkr, *self.old_hkr, *self.skipped.values()}
        out.update(k for k in (self.cks, self.ckr, self.hks, self.hkr) if k is not None)
        return out
