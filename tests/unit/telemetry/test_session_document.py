"""The latest-state document's session stays bounded, whatever a batch brings: Cosmos DB
refuses items over 2 MB, and a device's state is read and written with every batch."""

from __future__ import annotations

from shared.telemetry.ingest import FCNT_WINDOW, MAX_PENDING, MAX_REPLAYED, _session_document


def test_the_outbox_keeps_its_newest_frames_up_to_its_bound():
    outbox = {str(fcnt): ["commit", "ttn"] for fcnt in range(1, MAX_PENDING + 6)}
    seen = {fcnt: "digest" for fcnt in outbox}
    document = _session_document(0x260B1A2C, MAX_PENDING + 5, seen, outbox, {}, None)
    assert list(document["pending"]) == [str(f) for f in range(6, MAX_PENDING + 6)]
    assert set(document["pending"]) <= set(document["seen"])  # its retry finds them duplicates


def test_the_frames_replayed_from_before_the_window_keep_the_newest_up_to_their_bound():
    replayed = {str(fcnt): "digest" for fcnt in range(1, MAX_REPLAYED + 6)}
    document = _session_document(None, 10_000, {}, {}, replayed, None)
    assert list(document["replayed"]) == [str(f) for f in range(6, MAX_REPLAYED + 6)]


def test_the_window_keeps_the_highest_counters_it_saw():
    seen = {str(fcnt): "digest" for fcnt in range(1, FCNT_WINDOW + 11)}
    document = _session_document(None, FCNT_WINDOW + 10, seen, {}, {}, None)
    assert sorted(map(int, document["seen"])) == list(range(11, FCNT_WINDOW + 11))


def test_the_window_remembers_the_newest_receive_time_of_the_clear_messages_it_let_go():
    sent = [f"2026-11-22T10:{minute:02d}:00Z" for minute in range(FCNT_WINDOW + 3)]
    seen = {f"{minute:016x}": time for minute, time in enumerate(sent)}
    document = _session_document(None, None, seen, {}, {}, "2026-11-22T09:00:00.500000Z")
    assert len(document["seen"]) == FCNT_WINDOW
    assert document["forgotten"] == "2026-11-22T10:02:00Z"


def test_a_window_stored_before_receive_times_were_kept_lets_go_of_nothing_it_can_tell():
    seen = {f"{n:016x}": f"{n:016x}" for n in range(FCNT_WINDOW + 3)}  # digest: digest
    document = _session_document(None, None, seen, {}, {}, None)
    assert len(document["seen"]) == FCNT_WINDOW and "forgotten" not in document
