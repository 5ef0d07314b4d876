"""The local key store: keys encrypted at rest, in files only this user may read."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from shared.bootstrap import build_platform
from shared.keys import KeyRefused
from shared.keys.local import LocalKeyStore
from shared.settings import Settings
from shared.tenants.model import TenantCreate

NAME = "device-a84041000181c8d1-appskey"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_record_that_does_not_decrypt_is_refused_not_an_outage(tmp_path: Path) -> None:
    """No retry mends a damaged record (or one moved from another row): KeyRefused sets its
    device's messages aside (no_key), where KeyStoreError would fail every batch with them."""
    path = tmp_path / "keys.sqlite"
    keys = LocalKeyStore(path, bytes(32))
    keys.put("larvik", NAME, bytes(16))
    keys.put("larvik", "device-0000000000000001-appskey", bytes(16))
    with sqlite3.connect(path) as db:
        query = "SELECT ciphertext FROM secrets WHERE name = ?"
        (ciphertext,) = db.execute(query, (NAME,)).fetchone()
        db.execute("UPDATE secrets SET ciphertext = ? WHERE name = ?",
                   (bytes([ciphertext[0] ^ 1]) + ciphertext[1:], NAME))
    with pytest.raises(KeyRefused, match="does not decrypt"):
        keys.get("larvik", NAME)
    assert keys.get("larvik", "device-0000000000000001-appskey") == bytes(16)
    keys.close()


def test_the_data_dir_and_its_databases_are_private(tmp_path: Path, monkeypatch) -> None:
    """Readings, quarantined messages and API-key hashes are this user's alone, whatever the
    umask; so are SQLite's -wal and -shm files, which take the database's mode."""
    previous = os.umask(0o022)
    try:
        data = tmp_path / "data"
        platform = build_platform(Settings(data_dir=data, admin_key="a" * 32))
        platform.keys.put("larvik", NAME, bytes(16))
        platform.tenants.create(TenantCreate(id="larvik", name="Larvik", kommunenummer="3909"))
        files = sorted(p.name for p in data.iterdir())
        assert _mode(data) == 0o700
        for name in files:
            assert _mode(data / name) == 0o600, name
        assert {"keys.sqlite", "store.sqlite", "master.key"} <= set(files)
        platform.close()
    finally:
        os.umask(previous)


def test_closing_the_platform_closes_the_key_store(tmp_path: Path) -> None:
    for _ in range(3):
        build_platform(Settings(data_dir=tmp_path, admin_key="a" * 32)).close()
    opened = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
              if os.path.exists(f"/proc/self/fd/{fd}")]
    assert not [path for path in opened if path.startswith(str(tmp_path))]


def test_one_damaged_record_does_not_stop_the_start(tmp_path: Path) -> None:
    """Only a master key that opens none of the records tried is a wrong one."""
    path = tmp_path / "keys.sqlite"
    keys = LocalKeyStore(path, bytes(32))
    keys.put("larvik", NAME, bytes(16))
    keys.put("larvik", "device-0000000000000001-appskey", bytes(16))
    keys.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE secrets SET ciphertext = zeroblob(32) WHERE name = ?", (NAME,))
    reopened = LocalKeyStore(path, bytes(32))
    assert reopened.get("larvik", "device-0000000000000001-appskey") == bytes(16)
    reopened.close()
    with pytest.raises(ValueError, match="does not open the keys"):
        LocalKeyStore(path, bytes(range(32)))



def test_a_full_key_store_is_unavailable_and_a_device_put_a_503(tmp_path: Path) -> None:
    """As for the document store: a full disk is an outage to retry, not a 500."""
    from fastapi.testclient import TestClient

    from shared.api import create_app
    from shared.keys import KeyStoreError

    platform = build_platform(Settings(store="embedded", bus="inprocess", keystore="local",
                                       data_dir=tmp_path, admin_key="sby-admin-" + "k" * 40))
    try:
        platform.tenants.create(TenantCreate(id="sandefjord", name="Sandefjord",
                                             kommunenummer="3907"))
        keys = platform.keys._inner
        pages = keys._db.execute("PRAGMA page_count").fetchone()[0]
        keys._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(KeyStoreError, match="full"):
            for n in range(20_000):
                keys.put("sandefjord", f"device-{n:016x}-appskey", os.urandom(16))
        response = TestClient(create_app(platform)).put(
            "/api/tenants/sandefjord/devices/0004a30b001c2b3d",
            json={"model": "json", "name": "x", "aesKey": "00" * 32},
            headers={"Authorization": "Bearer sby-admin-" + "k" * 40},
        )
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
    finally:
        platform.close()
