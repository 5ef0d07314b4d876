"""Files only this user may read: the local runtime's data dir (keys, readings, messages).

The data dir holds the master key that opens every stored device key, the admin key, every
tenant's readings and quarantined messages, and API-key hashes. A folder or file another user
could have put there (e.g. `/tmp/smartby` made first by someone else, with a master key of
theirs in it) is refused, never used.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from pathlib import Path

#: The files SQLite keeps beside a database, and reads as part of it.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class NotPrivate(OSError):
    """The data dir, or a file in it, is not this user's alone."""


def private_dir(path: Path) -> Path:
    """`path`, a folder only this user may change: made (mode 0700) if missing. Refused if it
    belongs to another user, or if other users may write to it: they could have put files
    there already, which tightening its mode would not remove. One only others may read
    (0755, made by hand under the umask) is tightened to 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    if status.st_uid != os.geteuid():
        raise NotPrivate(
            f"the data dir {path} belongs to another user (uid {status.st_uid}), who could "
            "read or replace its keys: use a data dir of your own (--data-dir)"
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o022:
        raise NotPrivate(
            f"other users may write to the data dir {path} (mode {mode:04o}) and may have put "
            "files there: check what is in it and `chmod 700` it, or use another --data-dir"
        )
    if mode & 0o077:
        os.chmod(path, 0o700)
    return path


def _refuse_unless_own_file(path: Path, status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise NotPrivate(f"{path} is not a regular file: move it out of the data dir")
    if status.st_uid != os.geteuid():
        raise NotPrivate(
            f"{path} belongs to another user (uid {status.st_uid}), who could have chosen "
            "what it holds: move it out of the data dir"
        )


def _open_own_file(path: Path, flags: int) -> int:
    """A descriptor of `path`, a regular file of this user's: a symbolic link is not followed
    (O_NOFOLLOW), and a FIFO put in its place does not block the start (O_NONBLOCK)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotPrivate(f"{path} is a symbolic link: move it out of the data dir") from None
        raise
    try:
        _refuse_unless_own_file(path, os.fstat(fd))
    except NotPrivate:
        os.close(fd)
        raise
    return fd


def _read_own_file(path: Path) -> str:
    with os.fdopen(_open_own_file(path, os.O_RDONLY)) as handle:
        return handle.read().strip()


def read_private(path: Path) -> str | None:
    """The text of `path` in the data dir, without surrounding whitespace; None if missing."""
    private_dir(path.parent)
    try:
        return _read_own_file(path)
    except FileNotFoundError:
        return None


def private_database(path: Path) -> Path:
    """`path` for a database only this user may read: its folder checked (`private_dir`), the
    file made or kept at mode 0600, which SQLite gives its -wal and -shm files too. Those are
    checked as well: SQLite would take a planted journal as part of the database."""
    private_dir(path.parent)
    for companion in (path.with_name(path.name + suffix) for suffix in _SQLITE_COMPANIONS):
        with contextlib.suppress(FileNotFoundError):
            os.close(_open_own_file(companion, os.O_RDONLY))
    fd = _open_own_file(path, os.O_RDWR | os.O_CREAT)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)  # one made by an earlier version under the umask (0644)
    finally:
        os.close(fd)
    return path


def create_private(path: Path, text: str) -> str:
    """Create `path` (mode 0600) holding `text`, whole or not at all, unless it exists: written
    to a temporary file first, so that a kill or a full disk never leaves a truncated key, then
    linked into place, so that of two processes starting at once only one key is made (the
    other process reads it). Returns the text in place, without surrounding whitespace."""
    private_dir(path.parent)
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
    return _read_own_file(path)
