"""The switch: PROVLOG_ENABLED=false or OTEL_SDK_DISABLED=true makes every call a no-op."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import otel_provlog
from otel_provlog import sahara as cpo
from otel_provlog._events import NOOP_EVENT
from otel_provlog._operations import NOOP_OPERATION
from otel_provlog._steps import NOOP_STEP

SWITCHES = [("PROVLOG_ENABLED", "false"), ("PROVLOG_ENABLED", "off"), ("OTEL_SDK_DISABLED", "true")]


@pytest.mark.parametrize(("name", "value"), SWITCHES)
def test_every_call_is_a_shared_no_op(
    monkeypatch: pytest.MonkeyPatch,
    provider: TracerProvider,
    spans: Any,
    cluster_id: str,
    instances: Any,
    name: str,
    value: str,
) -> None:
    """Nothing is recorded, the shared no-op objects come back, results are unchanged."""
    monkeypatch.setenv(name, value)
    [node] = instances(1)

    @otel_provlog.record_event(tracer_provider=provider)
    def work(instance: Any) -> str:
        return "result"

    with otel_provlog.operation(cluster_id, "creating", tracer_provider=provider) as op:
        assert op is NOOP_OPERATION
        with otel_provlog.step(cluster_id, "Step", 2, tracer_provider=provider) as s:
            assert s is NOOP_STEP
            with s.event(node) as ev:
                assert ev is NOOP_EVENT
            s.add_success(node)
            assert s.add_failure(node, exception=RuntimeError("x")) is None
            assert otel_provlog.event(node) is NOOP_EVENT
            assert otel_provlog.current_step(cluster_id) is None
            assert work(node) == "result"
            assert cpo.add_provisioning_step(cluster_id, "Sahara", 1) is None
            cpo.add_successful_event(node)
            assert otel_provlog.inject_step(s) == {}
    assert otel_provlog.start_step(cluster_id, "Explicit", tracer_provider=provider) is NOOP_STEP
    assert otel_provlog.start_operation(cluster_id, "scaling") is NOOP_OPERATION
    carrier = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    assert otel_provlog.remote_event(carrier, tracer_provider=provider) is NOOP_EVENT
    assert spans() == []


def test_exceptions_pass_through_when_off(monkeypatch: pytest.MonkeyPatch, cluster_id: str) -> None:
    """Switched off, an event block still re-raises the instrumented code's exception."""
    monkeypatch.setenv("PROVLOG_ENABLED", "0")

    def fail() -> None:
        with otel_provlog.step(cluster_id, "Step") as s, s.event(instance_id="i-1"):
            raise ValueError("kept")

    with pytest.raises(ValueError, match="kept"):
        fail()


def test_bad_arguments_still_raise_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set-up errors are reported whether recording is on or off."""
    monkeypatch.setenv("PROVLOG_ENABLED", "false")
    with pytest.raises(ValueError, match="unknown step type"):
        otel_provlog.operation("c", "exploding")
    with pytest.raises(ValueError, match="non-negative"):
        otel_provlog.step("c", "s", -3)


def test_switch_is_read_when_a_step_opens(
    monkeypatch: pytest.MonkeyPatch, provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """Turning recording on again takes effect at the next step, without re-importing."""
    monkeypatch.setenv("PROVLOG_ENABLED", "false")
    with otel_provlog.step(cluster_id, "Off", tracer_provider=provider):
        pass
    monkeypatch.setenv("PROVLOG_ENABLED", "true")
    with otel_provlog.step(cluster_id, "On", tracer_provider=provider):
        pass
    assert [s.name for s in spans()] == ["On started", "On"]


def test_unreadable_switch_keeps_recording_and_logs(
    monkeypatch: pytest.MonkeyPatch,
    provider: TracerProvider,
    spans: Any,
    cluster_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A typo in PROVLOG_ENABLED neither raises nor turns the event log off."""
    monkeypatch.setenv("PROVLOG_ENABLED", "flase")
    with otel_provlog.step(cluster_id, "Typo", tracer_provider=provider):
        pass
    assert [s.name for s in spans()] == ["Typo started", "Typo"]
    assert any("PROVLOG_ENABLED" in r.getMessage() + str(r.exc_info) for r in caplog.records)
