"""Secrets never reach a log line, whatever path they take into it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared import logs


@pytest.fixture
def captured():
    """Smartby's handler configured as in Azure (JSON), writing to a buffer."""
    logs.configure("json", "DEBUG")
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "smartby", False))
    stream = io.StringIO()
    handler.setStream(stream)
    yield stream
    root.removeHandler(handler)


API_KEY = "sby.sandefjord.0123456789ab.Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MDA"
APP_S_KEY = "2b7e151628aed2a6abf7158809cf4f3c"


def test_api_keys_are_redacted_in_message_args_and_extras(captured):
    log = logging.getLogger("smartby.test")
    log.info("called with %s", API_KEY, extra={"auth": f"Bearer {API_KEY}"})
    output = captured.getvalue()
    assert API_KEY not in output
    assert "Zm9vYmFy" not in output
    assert logs.REDACTED in json.loads(output)["message"]


@pytest.mark.parametrize(
    "shape",
    [
        "appSKey={key}",
        '{{"appSKey": "{key}"}}',  # JSON
        "{{'aesKey': '{key}{key}'}}",  # a dict's repr
        "app_s_key : {key}",
    ],
)
def test_hex_key_material_next_to_a_key_name_is_redacted(captured, shape):
    logging.getLogger("smartby.test").warning("device payload %s", shape.format(key=APP_S_KEY))
    assert APP_S_KEY not in captured.getvalue()
    assert logs.REDACTED in captured.getvalue()


def test_registered_secrets_are_redacted_even_in_exceptions(captured):
    logs.register_secret("admin-key-that-is-long-enough")
    try:
        raise ValueError("bad key admin-key-that-is-long-enough")
    except ValueError:
        logging.getLogger("smartby.test").exception("failed")
    output = captured.getvalue()
    assert "admin-key-that-is-long-enough" not in output
    assert "ValueError" in output


def test_records_carry_the_correlation_id(captured):
    with logs.correlation("req-42"):
        logging.getLogger("smartby.test").info("inside")
    assert json.loads(captured.getvalue())["correlation_id"] == "req-42"


def test_plain_text_is_left_alone():
    assert logs.redact("temperature 4.2 at Goksjø") == "temperature 4.2 at Goksjø"


def test_under_the_functions_worker_records_leave_once_in_smartbys_format():
    """The worker forwards what its root handler formats to the host: no second copy on
    stderr (the host logs a worker's stderr too), and the fields kept in the message."""

    class WorkerHandler(logging.Handler):  # as azure_functions_worker.dispatcher's
        def __init__(self) -> None:
            super().__init__()
            self.sent: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.sent.append(self.format(record))

    WorkerHandler.__module__ = "azure_functions_worker.dispatcher"
    root = logging.getLogger()
    worker = WorkerHandler()
    root.addHandler(worker)
    try:
        logs.configure("json", "INFO")
        assert not [h for h in root.handlers if getattr(h, "smartby", False)]
        logging.getLogger("smartby.test").warning(
            "quarantined %s with %s", "decrypt_failed", API_KEY, extra={"tenant": "sandefjord"}
        )
        [sent] = worker.sent
        record = json.loads(sent)
        assert record["tenant"] == "sandefjord"
        assert record["message"] == f"quarantined decrypt_failed with {logs.REDACTED}"
    finally:
        root.removeHandler(worker)
