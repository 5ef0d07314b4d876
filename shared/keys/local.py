"""Local key store: SQLite, every key encrypted at rest with AES-256-GCM under a master key.

The master key comes from `SMARTBY_MASTER_KEY` (base64url of 32 bytes) or is generated once into
`<data dir>/master.key` (mode 0600). Each record's AAD is `tenant/name`, so a ciphertext copied
to another tenant's or device's row does not decrypt.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.keys import KeyStoreError, check_names


def load_or_create_master_key(data_dir: Path, configured: str | None) -> bytes:
    if configured:
        try:
            key = base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
        except ValueError as exc:
            raise ValueError("SMARTBY_MASTER_KEY must be base64url of 32 bytes") from exc
        if len(key) != 32:
            raise ValueError("SMARTBY_MASTER_KEY must be base64url of 32 bytes")
        return key
    path = data_dir / "master.key"
    if path.exists():
        text = path.read_text().strip()
        try:
            key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError(f"{path} does not hold a master key (base64url of 32 bytes)")
        return key
    key = AESGCM.generate_key(bit_length=256)
    write_private(path, base64.urlsafe_b64encode(key).decode().rstrip("="))
    return key


def write_private(path: Path, text: str) -> None:
    """Create `path` (mode 0600) holding `text`, whole or not at all: written to a temporary
    file first, so that a kill or a full disk never leaves a truncated key behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class LocalKeyStore:
    def __init__(self, path: Path, master_key: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._aead = AESGCM(master_key)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS secrets (tenant TEXT NOT NULL, name TEXT NOT NULL, "
            "nonce BLOB NOT NULL, ciphertext BLOB NOT NULL, PRIMARY KEY (tenant, name))"
        )
        self._check_master_key(path)

    def _check_master_key(self, path: Path) -> None:
        """Refuse to start with a master key that does not open the keys already stored (e.g.
        SMARTBY_MASTER_KEY set after a first run generated master.key): every keyed device's
        messages would fail, one by one, as if the key store were down."""
        row = self._db.execute("SELECT tenant, name, nonce, ciphertext FROM secrets LIMIT 1")
        stored = row.fetchone()
        if stored is None:
            return
        tenant, name, nonce, ciphertext = stored
        try:
            self._aead.decrypt(nonce, ciphertext, f"{tenant}/{name}".encode())
        except InvalidTag:
            self._db.close()
            raise ValueError(
                f"the master key does not open the keys in {path}: it is not the key they were "
                "stored with (SMARTBY_MASTER_KEY, or master.key in the data dir)"
            ) from None

    def put(self, tenant: str, name: str, secret: bytes) -> None:
        check_names(tenant, name)
        nonce = os.urandom(12)
        ciphertext = self._aead.encrypt(nonce, secret, f"{tenant}/{name}".encode())
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO secrets VALUES (?, ?, ?, ?)",
                (tenant, name, nonce, ciphertext),
            )

    def get(self, tenant: str, name: str) -> bytes | None:
        check_names(tenant, name)
        with self._lock:
            row = self._db.execute(
                "SELECT nonce, ciphertext FROM secrets WHERE tenant = ? AND name = ?",
                (tenant, name),
            ).fetchone()
        if row is None:
            return None
        try:
            return self._aead.decrypt(row[0], row[1], f"{tenant}/{name}".encode())
        except InvalidTag as exc:
            raise KeyStoreError("key record does not decrypt: wrong master key?") from exc

    def delete(self, tenant: str, name: str) -> None:
        check_names(tenant, name)
        with self._lock:
            self._db.execute("DELETE FROM secrets WHERE tenant = ? AND name = ?", (tenant, name))

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()
