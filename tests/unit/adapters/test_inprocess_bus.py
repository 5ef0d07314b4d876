"""The local runtime's bus: subscribers see each batch; a failing one is counted, not fatal."""

from __future__ import annotations

from shared.bus import cloud_event
from shared.bus.inprocess import InProcessBus


def _event(n: int):
    return cloud_event(id=str(n), source="/t", type="x", subject="s", data={}, partition_key="k")


def test_subscribers_receive_batches_and_a_failing_one_does_not_stop_the_others():
    bus = InProcessBus(keep=2)
    seen = []

    def broken(events):
        raise RuntimeError("rules stage bug")

    bus.subscribe("observations", broken)
    bus.subscribe("observations", seen.extend)
    bus.publish("observations", [_event(1), _event(2), _event(3)])
    assert [e["id"] for e in seen] == ["1", "2", "3"]
    assert bus.failures == 1
    assert bus.published("observations") == 3
    assert [e["id"] for e in bus.recent("observations")] == ["2", "3"]  # bounded log
    assert bus.recent("alerts") == []
