import threading
from datetime import datetime

from shared.cli.serve import seal_quiet_hours_hourly


class _Ingestor:
    def __init__(self, stop: threading.Event) -> None:
        self.calls: list[datetime] = []
        self._stop = stop

    def seal_quiet_hours(self, now: datetime) -> int:
        self.calls.append(now)
        if len(self.calls) == 1:
            raise RuntimeError("the store is briefly away")
        self._stop.set()
        return 0


def test_the_local_sweep_runs_until_stopped_and_survives_a_failure() -> None:
    stop = threading.Event()
    ingestor = _Ingestor(stop)
    worker = threading.Thread(
        target=seal_quiet_hours_hourly, args=(ingestor, stop, 0.01), daemon=True
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(ingestor.calls) == 2  # the failed run was logged, the next one ran
    assert all(call.tzinfo is not None for call in ingestor.calls)
