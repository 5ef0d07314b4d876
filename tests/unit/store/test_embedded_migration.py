"""A data directory written before indexed fields had columns still opens and queries."""

from __future__ import annotations

import sqlite3

import orjson

from shared.store import Query
from shared.store.embedded import EmbeddedStore


def test_an_older_store_file_gains_index_columns_filled_from_the_documents(tmp_path):
    path = tmp_path / "store.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE c_devices (pk TEXT NOT NULL, id TEXT NOT NULL, etag TEXT NOT NULL, "
        "expires REAL, body BLOB NOT NULL, PRIMARY KEY (pk, id)) WITHOUT ROWID"
    )
    old.execute("CREATE INDEX ix_c_devices_area ON c_devices (pk, json_extract(body, '$.area'))")
    for dev, area in (("a1", "goksjo"), ("a2", "sentrum")):
        body = orjson.dumps({"id": dev, "tenant": "sandefjord", "area": area})
        old.execute("INSERT INTO c_devices VALUES ('sandefjord', ?, 'e', NULL, ?)", (dev, body))
    old.commit()
    old.close()

    store = EmbeddedStore(path)
    page = store.container("devices").query("sandefjord", Query(where={"area": "goksjo"}))
    assert [doc["id"] for doc in page.items] == ["a1"]
    indexes = {row[0] for row in store.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'c_devices'", ())}
    assert "ix_c_devices_area" not in indexes  # the expression index is gone
    store.close()
