"""Files only this user may read: the local runtime's data dir (keys, readings, messages)."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


def private_database(path: Path) -> Path:
    """`path` for a database only this user may read: its folder made (mode 0700) if missing,
    the file made or kept at mode 0600, which SQLite gives its -wal and -shm files too. The
    data dir holds every tenant's readings, quarantined messages and API-key hashes."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    status = path.stat()
    if status.st_uid == os.geteuid() and status.st_mode & 0o077:
        # One made by an earlier version under the umask (0644). Another user's file (a shared
        # volume) is left as its owner set it.
        os.chmod(path, 0o600)
    return path


def create_private(path: Path, text: str) -> None:
    """Create `path` (mode 0600) holding `text`, whole or not at all, unless it exists: written
    to a temporary file first, so that a kill or a full disk never leaves a truncated key, then
    linked into place, so that of two processes starting at once only one key is made (the
    other process reads it)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # made meanwhile: that one is the key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
