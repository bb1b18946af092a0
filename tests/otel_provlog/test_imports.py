"""The instrumentation imports the OpenTelemetry API and the stdlib only, and does nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CORE_MODULES = [
    "otel_provlog",
    "otel_provlog._attachment",
    "otel_provlog.attributes",
    "otel_provlog.config",
    "otel_provlog._events",
    "otel_provlog._failures",
    "otel_provlog._operations",
    "otel_provlog._plan",
    "otel_provlog._propagation",
    "otel_provlog._reporting",
    "otel_provlog.sahara",
    "otel_provlog._spans",
    "otel_provlog._steps",
    "otel_provlog.testing",
    "otel_provlog._tracer",
]
FORBIDDEN = (
    "opentelemetry.sdk",
    "sqlalchemy",
    "flask",
    "click",
    "requests",
    "otel_provlog.exporter",
    "otel_provlog.client",
)

PROBE = """
import importlib, json, logging, sys, threading
from opentelemetry import trace
before = set(sys.modules)
threads = threading.active_count()
importlib.import_module(sys.argv[1])
print(json.dumps({
    "modules": sorted(set(sys.modules) - before),
    "threads": threading.active_count() - threads,
    "handlers": len(logging.getLogger().handlers) + len(logging.getLogger("otel_provlog").handlers),
    "provider": type(trace.get_tracer_provider()).__name__,
}))
"""


@pytest.mark.parametrize("module", CORE_MODULES)
def test_import_pulls_in_no_sdk_nor_server_code(module: str) -> None:
    """Importing a core module loads no SDK, database, web or CLI module and has no effect."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    leaked = [
        m
        for m in report["modules"]
        if any(m == name or m.startswith(name + ".") for name in FORBIDDEN)
    ]
    assert leaked == []
    assert (report["threads"], report["handlers"]) == (0, 0)
    assert report["provider"] == "ProxyTracerProvider"
