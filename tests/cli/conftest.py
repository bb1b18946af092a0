"""Fixtures of the command line tests: ``provlog`` run in-process, without PROVLOG_* settings."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from otel_provlog.cli.commands import provlog


@pytest.fixture
def run_provlog(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """A function running ``provlog ARGS`` in-process; only the given options count."""
    for name in ("PROVLOG_API_URL", "PROVLOG_TOKEN", "PROVLOG_DATABASE_URL", "PROVLOG_CONFIG"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Result:
        return CliRunner().invoke(provlog, list(args))

    return run
