"""Replaying quarantined messages once their cause is fixed.

A device registered after its first uplinks (`unknown_device`), a key entered wrongly and then
corrected (`decode_failed`, `no_key`), a session reset after an ABP device restarted its frame
counter (`fcnt_regressed`): each leaves messages in the quarantine that ingest would accept now.
A replay parses each message again as its entry point did and ingests it through the same core,
in frame-counter order per device. A replayed frame is checked for duplicates and replays as any
frame is, but not held to the session's 64-frame window, which the frames received since it was
set aside have moved on (unless the session is what set it aside: `fcnt_regressed`,
`fcnt_replayed`, `devaddr_changed`). A message accepted (or found already stored) leaves the
quarantine; one rejected again stays, under its new reason. Messages that never parsed
(`malformed`) and those over a size limit or for an hour already full (`too_large`) would fail
the same way and are not replayed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shared.telemetry.ingest import Delivery, Ingestor
from shared.telemetry.quarantine import REASONS, Quarantine, QuarantineRecord
from shared.telemetry.uplinks import MalformedUplink, Uplink, reparse

log = logging.getLogger(__name__)

MAX_REPLAY = 500
#: Why a reason's messages are not replayed: they would be refused the same way again.
_NOT_REPLAYABLE = {
    "malformed": "malformed messages never parsed",
    "too_large": "a message over a size limit, or for an hour already full, is refused again",
}
REPLAYABLE = tuple(r for r in REASONS if r not in _NOT_REPLAYABLE)
#: What a tenant's quarantine holds of them (`unknown_tenant` is the platform's).
REPLAYABLE_IN_TENANT = tuple(r for r in REPLAYABLE if r != "unknown_tenant")
Outcome = Literal["accepted", "duplicate", "rejected", "not_replayable", "not_found"]


@dataclass(frozen=True, slots=True)
class Replayed:
    """What replaying one quarantine record came to."""

    id: str
    outcome: Outcome
    readings: int = 0
    reason: str | None = None  # why it was rejected again, or why it cannot be replayed
    detail: str | None = None
    quarantine_id: str | None = None  # the record it is kept under now, when rejected again


def replay(
    ingestor: Ingestor,
    tenant: str,
    records: Sequence[QuarantineRecord],
    kept_in: Quarantine,
) -> list[Replayed]:
    """Ingest the records' messages into `tenant` again; returns each record's outcome, in
    `records` order. The records are in `kept_in`: the tenant's quarantine, or the platform's
    for messages that named no known tenant."""
    if len(records) > MAX_REPLAY:
        raise ValueError(f"at most {MAX_REPLAY} records per replay")
    outcomes: dict[str, Replayed] = {}
    pending: list[tuple[QuarantineRecord, Uplink, bytes]] = []
    for record in records:
        if record.reason not in REPLAYABLE or record.truncated:
            why = "truncated" if record.truncated else _NOT_REPLAYABLE.get(
                record.reason, f"{record.reason} messages are not replayed")
            outcomes[record.id] = Replayed(record.id, "not_replayable", reason=record.reason,
                                           detail=why)
            continue
        raw = record.original()
        try:
            uplink = reparse(raw, record.source, record.device, record.uplink_time)
        except MalformedUplink as exc:
            outcomes[record.id] = Replayed(record.id, "not_replayable", reason=exc.reason,
                                           detail=exc.detail)
            continue
        except Exception as exc:  # a parser's bug, still there: the other records go on
            log.exception("the %s parser failed on quarantined %s", record.source, record.id)
            outcomes[record.id] = Replayed(
                record.id, "not_replayable", reason="internal_error",
                detail=f"the {record.source} parser failed: {type(exc).__name__}",
            )
            continue
        pending.append((record, uplink, raw))
    # As ingest orders a batch: a device's frames in counter order, so none looks regressed.
    pending.sort(key=lambda p: (p[1].dev_eui, p[1].fcnt or 0))
    for record, uplink, raw in pending:
        delivery = Delivery(
            record.source, raw, uplink, received=record.received, replay_of=record.reason
        )
        outcomes[record.id] = _ingest_again(ingestor, tenant, record.id, delivery)
        if outcomes[record.id].quarantine_id != record.id:
            kept_in.delete(record.id)
    counts = Counter(outcome.outcome for outcome in outcomes.values())
    log.info("replayed %d quarantined messages: %s", len(outcomes), dict(counts),
             extra={"tenant": tenant})
    return [outcomes[record.id] for record in records]


def _ingest_again(ingestor: Ingestor, tenant: str, record_id: str, delivery: Delivery) -> Replayed:
    result = ingestor.ingest(tenant, [delivery])
    if result.rejections:
        rejected = result.rejections[0]
        return Replayed(record_id, "rejected", reason=rejected.reason, detail=rejected.detail,
                        quarantine_id=rejected.quarantine_id)
    outcome: Outcome = "accepted" if result.accepted else "duplicate"
    return Replayed(record_id, outcome, readings=result.readings)
