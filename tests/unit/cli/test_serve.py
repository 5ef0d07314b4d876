import logging
import threading
from datetime import datetime
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from shared.cli import app
from shared.cli.serve import seal_quiet_hours_hourly
from shared.settings import Settings


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


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`smartby serve --no-demo` up to where it would listen: the call to uvicorn is recorded."""
    listened: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: listened.append(options))
    monkeypatch.setenv("SMARTBY_DATA_DIR", str(tmp_path))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # serve configures logging

    def invoke(*args: str, **env: str) -> tuple[int, str, list[dict]]:
        isolated = {"SMARTBY_ADMIN_KEY": None, "SMARTBY_LOG_LEVEL": None, "PORT": None,
                    "COLUMNS": "500", **env}
        result = CliRunner().invoke(app, ["serve", "--no-demo", *args], env=isolated)
        return result.exit_code, result.output, listened

    yield invoke
    root.handlers[:] = handlers
    root.setLevel(level)


def test_serve_shows_the_admin_key_only_when_it_made_it(serve, tmp_path: Path) -> None:
    code, output, _ = serve()
    assert code == 0, output
    assert f"Admin key: {(tmp_path / 'admin.key').read_text().strip()}" in output
    code, output, _ = serve(SMARTBY_ADMIN_KEY="an-operators-own-key-0123456789")
    assert code == 0, output
    assert "Admin key: from SMARTBY_ADMIN_KEY" in output
    assert "an-operators-own-key" not in output


def test_the_admin_key_setting_is_read_without_surrounding_whitespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMARTBY_ADMIN_KEY", " an-operators-own-key\r\n")
    assert Settings().admin_key.get_secret_value() == "an-operators-own-key"
    monkeypatch.setenv("SMARTBY_ADMIN_KEY", " \r\n")
    assert Settings().admin_key is None


def test_serve_puts_an_ipv6_host_in_brackets(serve) -> None:
    code, output, listened = serve("--host", "::", "--port", "8080")
    assert code == 0, output
    assert "Portal:    http://[::]:8080/" in output
    assert listened[0]["host"] == "::"


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("SMARTBY_LOG_LEVEL", "verbose", "SMARTBY_LOG_LEVEL: 'verbose' is not a log level"),
        ("SMARTBY_STORE", "mongo", "SMARTBY_STORE: Input should be 'embedded' or 'cosmos'"),
        ("SMARTBY_MASTER_KEY", "short", "SMARTBY_MASTER_KEY must be base64url of 32 bytes"),
    ],
)
def test_a_configuration_error_is_one_line_not_a_traceback(
    serve, setting: str, value: str, problem: str
) -> None:
    code, output, listened = serve(**{setting: value})
    assert code == 2
    (line,) = output.splitlines()
    assert line.startswith(f"✗ Cannot start: {problem}")
    assert not listened
