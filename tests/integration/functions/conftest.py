"""Import `function_app` as the Functions host would: settings from the environment."""

from __future__ import annotations

import importlib
import sys

import pytest

from tests.conftest import ADMIN_KEY


@pytest.fixture
def function_app(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTBY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMARTBY_ADMIN_KEY", ADMIN_KEY)
    for name in [m for m in sys.modules if m == "function_app" or m.startswith("functions")]:
        del sys.modules[name]
    module = importlib.import_module("function_app")
    yield module
    import functions

    functions.platform().close()
    functions.platform.cache_clear()


@pytest.fixture
def registered(function_app):
    """Look a function up by name among those the host would index, as the host calls it."""

    def find(name: str):
        for function in function_app.app.get_functions():
            if function.get_function_name() == name:
                return function
        raise AssertionError(f"{name} is not registered")

    return find
