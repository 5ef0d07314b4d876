"""Structured logging with a correlation id, and redaction of secrets.

* `configure()` sets one format: JSON objects in Azure (`SMARTBY_LOG_FORMAT=json`), as the
  message of each Application Insights trace (`parse_json(message)` in a query), a readable
  line locally.
* `correlation()` binds a correlation id for one request or trigger invocation; every record
  logged inside carries it.
* Secrets never reach a log: API keys (by their shape), bearer tokens, hex key material next to a
  key-like name, and every value passed to `register_secret()` (the admin and master keys) are
  replaced by `[REDACTED]` in the message, its arguments and any `extra` fields.
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

REDACTED = "[REDACTED]"
_PATTERNS = [
    re.compile(r"sby\.[a-z0-9-]+\.[0-9a-f]+\.[A-Za-z0-9_-]+"),  # Smartby API keys
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    # `appSKey=…`, `"appSKey": "…"` (JSON), `'aesKey': '…'` (a dict's repr)
    re.compile(r"(?i)((?:app_?s_?key|nwk_?s_?key|secret|password|key)\W{0,6})[0-9a-f]{32,64}"),
]
_registered: set[str] = set()
_registered_lock = threading.Lock()
_registered_pattern: re.Pattern[str] | None = None

#: LogRecord attributes that are not `extra` fields.
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def register_secret(value: str) -> None:
    """Redact this exact value wherever it would be logged (min. 8 characters)."""
    global _registered_pattern
    if len(value) < 8:
        return
    with _registered_lock:
        _registered.add(value)
        _registered_pattern = re.compile(
            "|".join(re.escape(v) for v in sorted(_registered, key=len, reverse=True))
        )


def redact(text: str) -> str:
    if _registered_pattern is not None:
        text = _registered_pattern.sub(REDACTED, text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.re.groups else "") + REDACTED, text)
    return text


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def new_correlation_id() -> str:
    return secrets.token_hex(8)


@contextmanager
def correlation(correlation_id: str | None = None) -> Iterator[str]:
    """Bind a correlation id (given, or new) for the duration of the block."""
    cid = correlation_id or new_correlation_id()
    token = _correlation_id.set(cid)
    try:
        yield cid
    finally:
        _correlation_id.reset(token)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RESERVED}


class RedactingFilter(logging.Filter):
    """Renders the message once, redacted, and stamps the correlation id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in _extras(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.correlation_id = _correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = _extras(record)
        cid = extras.pop("correlation_id", None)
        line = f"{datetime.fromtimestamp(record.created):%H:%M:%S} {record.levelname:<7} "
        line += f"{record.name}: {record.getMessage()}"
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if cid:
            line += f" [{cid}]"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


#: Packages of the Azure Functions Python worker (up to Python 3.12; from 3.13), whose handler
#: on the root logger forwards each record, as its handler formats it, to the host.
_FUNCTIONS_WORKERS = frozenset({"azure_functions_worker", "proxy_worker"})


def configure(fmt: str = "text", level: str = "INFO") -> None:
    """Install Smartby's format on the root logger (idempotent).

    Under the Functions worker, records leave through the worker's handler, which sends the
    host what it formats: Smartby's format goes onto it, so the fields (tenant, device,
    reason, correlation id) reach Application Insights in the message. A handler of our own
    on stderr would be a second copy of every record there. Elsewhere Smartby installs its
    handler on stderr. The redacting filter goes on every root handler, so no path out skips
    redaction.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "smartby", False):
            root.removeHandler(handler)
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    workers = [h for h in root.handlers
               if type(h).__module__.partition(".")[0] in _FUNCTIONS_WORKERS]
    for worker in workers:
        worker.setFormatter(formatter)
    if not workers:
        handler = logging.StreamHandler(sys.stderr)
        handler.smartby = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        root.addHandler(handler)
    for each in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in each.filters):
            each.addFilter(RedactingFilter())
    root.setLevel(level.upper())
    for noisy in ("azure", "uamqp", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
