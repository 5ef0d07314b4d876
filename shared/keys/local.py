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
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.keys import KeyRefused, KeyStoreError, check_names
from shared.private_files import create_private, private_database, read_private


def load_or_create_master_key(data_dir: Path, configured: str | None) -> bytes:
    """The master key: `SMARTBY_MASTER_KEY`, else `<data dir>/master.key`, made on first use."""
    if configured:
        return _master_key(configured, "SMARTBY_MASTER_KEY")
    path = data_dir / "master.key"
    text = read_private(path)
    if text is None:
        key = base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode().rstrip("=")
        text = create_private(path, key)  # or the one another process made first
    return _master_key(text, str(path))


def _master_key(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError(f"{source} must hold a master key: base64url of 32 bytes")
    return key


#: How many stored records the start-up check tries to open with the master key.
_MASTER_KEY_PROBES = 16


class LocalKeyStore:
    def __init__(self, path: Path, master_key: bytes) -> None:
        self._aead = AESGCM(master_key)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            private_database(path), check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS secrets (tenant TEXT NOT NULL, name TEXT NOT NULL, "
            "nonce BLOB NOT NULL, ciphertext BLOB NOT NULL, PRIMARY KEY (tenant, name))"
        )
        self._check_master_key(path)

    def _check_master_key(self, path: Path) -> None:
        """Refuse to start with a master key that does not open the keys already stored (e.g.
        SMARTBY_MASTER_KEY set after a first run generated master.key): every keyed device's
        messages would fail, one by one, as if the key store were down. A few records are
        tried: one damaged record is no wrong key (its device's messages wait as no_key)."""
        rows = self._db.execute(
            "SELECT tenant, name, nonce, ciphertext FROM secrets LIMIT ?", (_MASTER_KEY_PROBES,)
        ).fetchall()
        for tenant, name, nonce, ciphertext in rows:
            try:
                self._aead.decrypt(nonce, ciphertext, f"{tenant}/{name}".encode())
                return
            except InvalidTag:
                continue
        if rows:
            self._db.close()
            raise ValueError(
                f"the master key does not open the keys in {path}: it is not the key they were "
                "stored with (SMARTBY_MASTER_KEY, or master.key in the data dir)"
            )

    def put(self, tenant: str, name: str, secret: bytes) -> None:
        check_names(tenant, name)
        nonce = os.urandom(12)
        ciphertext = self._aead.encrypt(nonce, secret, f"{tenant}/{name}".encode())
        self._run(
            "INSERT OR REPLACE INTO secrets VALUES (?, ?, ?, ?)", (tenant, name, nonce, ciphertext)
        )

    def get(self, tenant: str, name: str, version: str = "") -> bytes | None:
        check_names(tenant, name)
        row = self._run(
            "SELECT nonce, ciphertext FROM secrets WHERE tenant = ? AND name = ?", (tenant, name)
        )
        if row is None:
            return None
        try:
            return self._aead.decrypt(row[0], row[1], f"{tenant}/{name}".encode())
        except InvalidTag:
            # Damaged, or moved from another row: no retry mends it, so not KeyStoreError
            # (which would fail every batch of its device's messages, and the others in it).
            raise KeyRefused(f"the record of {name} does not decrypt") from None

    def delete(self, tenant: str, name: str) -> None:
        check_names(tenant, name)
        self._run("DELETE FROM secrets WHERE tenant = ? AND name = ?", (tenant, name))

    def ping(self) -> None:
        self._run("SELECT 1", ())

    def _run(self, sql: str, params: tuple[Any, ...]) -> Any:
        """One statement on keys.sqlite, and the first row it returns. A full disk, or a lock
        another process holds past the timeout, is the key store being unavailable: the batch
        is retried and the API answers 503, as for the document store."""
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchone()
            except sqlite3.OperationalError as error:
                raise KeyStoreError(f"the local key store: {error}") from error

    def close(self) -> None:
        with self._lock:
            self._db.close()
