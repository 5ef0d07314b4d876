"""Hourly: seal the open hours of devices that have gone quiet into the time series.

Ingest keeps each device's newest hour in its latest-state document and seals it when a newer
hour arrives (`shared.telemetry.series`); this sweep does it for devices that stopped sending,
so every hour reaches the series container and its retention.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from functions import platform
from shared import logs

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("seal_quiet_hours")
@bp.timer_trigger(arg_name="timer", schedule="0 17 * * * *")  # hh:17:00 UTC, off the hour's peak
def seal_quiet_hours(timer: func.TimerRequest) -> None:
    with logs.correlation():
        sealed = platform().ingestor.seal_quiet_hours(datetime.now(UTC))
        log.info("sealed %d open hours of quiet devices (past due: %s)", sealed, timer.past_due)
