"""Private folders and files for call data: the data folder and recordings folders are 0700,
the database (with its WAL and SHM) and the recordings 0600, from the moment they exist.

Modes are given to mkdir/open at creation (the umask can only take bits away), never set with
chmod afterwards, so there is no moment when another user of the machine could open them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, BinaryIO

__all__ = ["DIR_MODE", "FILE_MODE", "create_private_file", "open_private_append",
           "private_dir", "tighten"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Make `path` a folder only its owner can enter. Missing parents are created as ordinary
    folders (e.g. ~/.local/share); the folder itself gets 0700 at creation. An existing folder
    is left as it is: it may be one the user chose and shares on purpose."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise NotADirectoryError(f"{path} exists and is not a folder") from None
    return path


def create_private_file(path: Path) -> bool:
    """Create `path` empty with mode 0600 if it does not exist; True if it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def open_private_append(path: Path) -> BinaryIO:
    """`path` opened for unbuffered appending, created 0600 if new."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
    return os.fdopen(fd, "ab", buffering=0)


def tighten(path: Path) -> None:
    """Take group and other access off a file this app made in an earlier version (files are
    created private now; this only upgrades ones that already exist)."""
    with contextlib.suppress(OSError):
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            path.chmod(st.st_mode & 0o700)


class DataDirLocked(RuntimeError):
    pass


def lock_data_dir(path: Path) -> IO[str]:
    """One writer per data folder (an engine, a node, a team archive): the returned handle
    holds the lock until it is closed or the process ends."""
    import fcntl

    lock = path / "engine.lock"
    handle = os.fdopen(os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600), "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise DataDirLocked(
            f"another Coach Console engine is already using {path}; stop it or "
            "pass a different --data-dir") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle

