"""The profile directory: where one person's keys and messages live on one device.

Layout::

    PROFILE/keystore      passphrase-sealed SecretKeys (identity, device key, store key), mode 0600
    PROFILE/store.db      SQLite (+ -wal, -shm), every sensitive value sealed under the store key
    PROFILE/attachments/  downloaded attachment ciphertexts (each openable only with its key in the store)
    PROFILE/tmp/          partial uploads and downloads

    PROFILE/lock          empty; every process with the profile open holds a shared lock on it

Panic wipe (:func:`wipe_profile`) needs no passphrase and crypto-shreds: the key store is overwritten in place
with random bytes and flushed *first*, so the store key is gone before any other file is touched (and every
process that has the profile open notices: :mod:`confide.client.wipe_watch`); then every other file of the
profile (store.db and its -wal, -shm and -journal, attachments, partial files in tmp) is overwritten in place
and flushed the same way before it is unlinked. On copy-on-write file systems and flash storage an overwrite
may land in new blocks and leave the old ones: there only full-disk encryption protects them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from confide.keys.encoding import RNG
from confide.keys.keystore import DEFAULT_KDF, TEST_KDF, KdfParams, open_keys, seal_keys
from confide.keys.recovery import BACKUP_HEADER_LEN, BACKUP_MAX_PAYLOAD_LEN
from confide.keys.secret_keys import SecretKeys

from .errors import ProfileError
from .shred import fsync_dir, overwrite_in_place, shred_file

KEYSTORE_FILE = "keystore"
STORE_FILE = "store.db"
ATTACHMENTS_DIR = "attachments"
TMP_DIR = "tmp"
LOCK_FILE = "lock"
STORE_SIDE_FILES = ("-wal", "-shm", "-journal")
"""SQLite's companions of ``store.db``: each may hold pages of the store."""

PROFILE_LOCK_WAIT_S = 30.0
"""How long opening a profile waits while another process holds it exclusively (a passphrase change
re-sealing the store takes seconds even for a large store); after that, :class:`ProfileError`."""
PROFILE_LOCK_POLL_S = 0.05
"""How often a waiting open retries the profile lock."""

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


def write_private(path: Path, data: bytes, *, temp_suffix: str = ".tmp") -> None:
    """Write ``data`` to ``path`` atomically with mode 0600: a stale temp file from a crash is shredded, the new
    one is created exclusively (``path`` + ``temp_suffix``), flushed, renamed into place, and the rename flushed."""
    part = Path(str(path) + temp_suffix)
    shred_file(part)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, path)
    fsync_dir(path.parent)


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

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

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
    write_private(paths.keystore, seal_keys(keys, passphrase, params=kdf, rng=rng))


def read_keystore_file(path: Path, paths: ProfilePaths) -> bytes:
    """The bytes of the key store file ``path`` of the profile ``paths`` (at most :data:`MAX_KEYSTORE_FILE`).

    Raises:
        ProfileError: no such file (no profile), or one too large to be a key store.
    """
    try:
        with path.open("rb") as fh:
            blob = fh.read(MAX_KEYSTORE_FILE + 1)
    except FileNotFoundError as exc:
        raise ProfileError(f"no Confide profile in {paths.root}; create one with 'confide init'") from exc
    if len(blob) > MAX_KEYSTORE_FILE:
        raise ProfileError(f"{path} is not a Confide key store")
    return blob


def _read_keystore(paths: ProfilePaths) -> bytes:
    return read_keystore_file(paths.keystore, paths)


def open_keystore(paths: ProfilePaths, passphrase: str) -> SecretKeys:
    """Unlock a profile's key store.

    Raises:
        ProfileError: there is no profile in that directory.
        WrongPassphrase, CorruptKeyStore, KdfParametersTooCostly: from :func:`confide.keys.keystore.open_keys`.
    """
    return open_keys(_read_keystore(paths), passphrase)


def shred_keystore(paths: ProfilePaths, rng: RNG) -> None:
    """Overwrite the key store in place with random bytes, flush it to disk, and remove it (crypto-shredding).

    Raises:
        OSError: the key store exists but cannot be overwritten or removed.
    """
    if overwrite_in_place(paths.keystore, rng):
        paths.keystore.unlink()
        fsync_dir(paths.root)


def _looks_like_profile(paths: ProfilePaths) -> bool:
    return any(p.exists() for p in (paths.keystore, paths.store)) or any(paths.root.glob(KEYSTORE_FILE + ".*"))


def wipe_profile(paths: ProfilePaths, rng: RNG) -> None:
    """Panic wipe, without the passphrase: overwrite the key store in place first (every open process notices
    within :data:`~confide.client.wipe_watch.WIPE_POLL_INTERVAL_S`), then overwrite in place and unlink every
    other file of the profile, and remove its folders. Only the profile's own files are touched: a folder that
    holds other files is left with them.

    Raises:
        ProfileError: ``paths.root`` holds no Confide profile (nothing was touched).
        OSError: the key store could not be overwritten (nothing else was touched).
    """
    if not _looks_like_profile(paths):
        raise ProfileError(f"no Confide profile in {paths.root}; nothing was wiped")
    keystores = [paths.keystore, *sorted(paths.root.glob(KEYSTORE_FILE + ".*"))]
    for path in keystores:  # first: without the store key everything else is ciphertext
        overwrite_in_place(path, rng)
    for path in keystores:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    fsync_dir(paths.root)
    stores = [paths.store, *sorted(paths.root.glob(STORE_FILE + "*"))]
    for path in stores:
        shred_file(path, rng)
    for folder in (paths.attachments, paths.tmp):
        if folder.is_dir():
            for path in sorted(folder.rglob("*"), reverse=True):
                if path.is_file() and not path.is_symlink():
                    shred_file(path, rng)
                elif path.is_symlink():
                    path.unlink()
                else:
                    with contextlib.suppress(OSError):
                        path.rmdir()
            with contextlib.suppress(OSError):
                folder.rmdir()
    with contextlib.suppress(FileNotFoundError):
        paths.lock.unlink()
    with contextlib.suppress(OSError):
        paths.root.rmdir()
    fsync_dir(paths.root.parent)


class ProfileLock:
    """A lock on ``PROFILE/lock``: shared while a process has the profile open, exclusive while a passphrase
    change re-seals it. The operating system drops it when the process ends, however it ends; a panic wipe
    never waits for it."""

    def __init__(self, paths: ProfilePaths, *, exclusive: bool, wait_s: float = PROFILE_LOCK_WAIT_S) -> None:
        """Take the lock, waiting up to ``wait_s`` seconds.

        Raises:
            ProfileError: another process holds it (exclusively, or at all when ``exclusive``) for too long.
        """
        self._fd: int | None = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.release()
                    raise ProfileError(
                        "this profile is open in another Confide program"
                        + ("; close it first" if exclusive else " that changes its passphrase; try again later")
                    ) from None
                time.sleep(PROFILE_LOCK_POLL_S)

    def make_exclusive(self, wait_s: float = PROFILE_LOCK_WAIT_S) -> bool:
        """Turn a shared lock into an exclusive one, waiting up to ``wait_s``; False when others hold it."""
        deadline = time.monotonic() + wait_s
        while self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(PROFILE_LOCK_POLL_S)
        return False

    def make_shared(self) -> None:
        """Turn an exclusive lock back into a shared one."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        return "ProfileLock()"
