"""Files only this user may read (keys kept in the local runtime's data dir)."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


def create_private(path: Path, text: str) -> None:
    """Create `path` (mode 0600) holding `text`, whole or not at all, unless it exists: written
    to a temporary file first, so that a kill or a full disk never leaves a truncated key, then
    linked into place, so that of two processes starting at once only one key is made (the
    other process reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
