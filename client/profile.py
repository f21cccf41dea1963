"""The profile directory: where one person's keys and messages live on one device.

Layout::

    PROFILE/keystore      passphrase-sealed SecretKeys (identity, device key, store key), mode 0600
    PROFILE/store.db      SQLite (+ -wal, -shm), every sensitive value sealed under the store key
    PROFILE/attachments/  downloaded attachment ciphertexts (each openable only with its key in the store)
    PROFILE/tmp/          partial uploads and downloads

Panic wipe (:func:`wipe_profile`) crypto-shreds: the key store is overwritten with random bytes, flushed and
removed *first*, so the store key is gone before any other file is touched; then the rest is deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from confide.keys.encoding import RNG
from confide.keys.keystore import DEFAULT_KDF, TEST_KDF, KdfParams, change_passphrase, open_keys, seal_keys
from confide.keys.recovery import BACKUP_HEADER_LEN, BACKUP_MAX_PAYLOAD_LEN
from confide.keys.secret_keys import SecretKeys

from .errors import ProfileError

KEYSTORE_FILE = "keystore"
STORE_FILE = "store.db"
ATTACHMENTS_DIR = "attachments"
TMP_DIR = "tmp"

WIPE_OVERWRITE_PASSES = 1
"""One pass of random bytes: on flash storage extra passes do not reach the old cells anyway; what makes
the wipe final is that the key store's contents (the only copy of the store key) are replaced before
unlinking, and everything else is ciphertext under that key."""

INSECURE_TEST_KDF: KdfParams = TEST_KDF
"""A cheap Argon2id setting (1 pass, 8 MiB) for integrators' own automated tests, where the default
(3 passes, 256 MiB, about a second) would make every profile slow to create and open. It makes a passphrase
far easier to guess: never use it for a profile that holds real messages."""

MAX_RECOVERY_BACKUP_BYTES = BACKUP_HEADER_LEN + BACKUP_MAX_PAYLOAD_LEN + 16
"""The largest recovery backup the keys layer accepts (header, payload ceiling, AEAD tag): a front end reads
no more than this, so naming a wrong (huge) file cannot exhaust memory."""

MAX_KEYSTORE_FILE = 1 << 20
"""A key store is a few hundred bytes; refuse to read anything larger (not a key store)."""


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (temp file, fsync, rename, fsync dir)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@dataclass(frozen=True, slots=True)
class ProfilePaths:
    """The files of a profile directory."""

    root: Path

    @property
    def keystore(self) -> Path:
        return self.root / KEYSTORE_FILE

    @property
    def store(self) -> Path:
        return self.root / STORE_FILE

    @property
    def attachments(self) -> Path:
        return self.root / ATTACHMENTS_DIR

    @property
    def tmp(self) -> Path:
        return self.root / TMP_DIR

    def exists(self) -> bool:
        return self.keystore.exists()

    def make_dirs(self) -> None:
        for d in (self.root, self.attachments, self.tmp):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)


def create_keystore(
    paths: ProfilePaths, keys: SecretKeys, passphrase: str, *, kdf: KdfParams = DEFAULT_KDF, rng: RNG
) -> None:
    """Seal ``keys`` under ``passphrase`` into a new profile's key store.

    Raises:
        ProfileError: a profile already exists there.
        ValueError: an empty passphrase.
    """
    if not passphrase:
        raise ValueError("the passphrase must not be empty")
    if paths.exists():
        raise ProfileError(f"a profile already exists in {paths.root}; use it, or choose another --profile")
    paths.make_dirs()
    _write_private(paths.keystore, seal_keys(keys, passphrase, params=kdf, rng=rng))


def _read_keystore(paths: ProfilePaths) -> bytes:
    try:
        with paths.keystore.open("rb") as fh:
            blob = fh.read(MAX_KEYSTORE_FILE + 1)
    except FileNotFoundError as exc:
        raise ProfileError(f"no Confide profile in {paths.root}; create one with 'confide init'") from exc
    if len(blob) > MAX_KEYSTORE_FILE:
        raise ProfileError(f"{paths.keystore} is not a Confide key store")
    return blob


def open_keystore(paths: ProfilePaths, passphrase: str) -> SecretKeys:
    """Unlock a profile's key store.

    Raises:
        ProfileError: there is no profile in that directory.
        WrongPassphrase, CorruptKeyStore, KdfParametersTooCostly: from :func:`confide.keys.keystore.open_keys`.
    """
    return open_keys(_read_keystore(paths), passphrase)


def change_keystore_passphrase(
    paths: ProfilePaths, old: str, new: str, *, kdf: KdfParams | None = None, rng: RNG
) -> None:
    """Re-seal the profile's key store under ``new`` (the same keys: no re-keying, nothing else changes).

    ``kdf`` None keeps the Argon2id costs the key store was sealed with. The new blob is written to a
    temporary file, flushed and renamed over the old one, so a crash leaves either the old or the new key
    store, never a mix; when ``old`` is wrong the file is not touched.

    Raises:
        ProfileError: there is no profile in that directory.
        WrongPassphrase, CorruptKeyStore, KdfParametersTooCostly: ``old`` does not open the key store, or it
            is damaged (from :func:`confide.keys.keystore.change_passphrase`).
        ValueError: ``new`` is empty, or ``kdf`` is invalid.
    """
    if not new:
        raise ValueError("the new passphrase must not be empty")
    blob = change_passphrase(_read_keystore(paths), old, new, params=kdf, rng=rng)
    replace_keystore(paths, blob)


def replace_keystore(paths: ProfilePaths, blob: bytes) -> None:
    """Atomically replace the key store (e.g. after a passphrase change)."""
    _write_private(paths.keystore, blob)


def shred_keystore(paths: ProfilePaths, rng: RNG) -> None:
    """Overwrite the key store with random bytes, flush it to disk, and remove it (crypto-shredding)."""
    path = paths.keystore
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    fd = os.open(path, os.O_WRONLY)
    try:
        for _ in range(WIPE_OVERWRITE_PASSES):
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, rng(max(size, 1)))
            os.fsync(fd)
    finally:
        os.close(fd)
    os.unlink(path)
    _fsync_dir(paths.root)


def wipe_profile(paths: ProfilePaths, rng: RNG) -> None:
    """Panic wipe: shred the key store first, then delete every other file of the profile."""
    shred_keystore(paths, rng)
    for name in (STORE_FILE, STORE_FILE + "-wal", STORE_FILE + "-shm", STORE_FILE + "-journal"):
        with contextlib.suppress(FileNotFoundError):
            (paths.root / name).unlink()
    for d in (paths.attachments, paths.tmp):
        shutil.rmtree(d, ignore_errors=True)
    with contextlib.suppress(OSError):
        for leftover in paths.root.glob("keystore*"):
            leftover.unlink()
        paths.root.rmdir()
    _fsync_dir(paths.root.parent)
