"""Forwarded spans read well in Jaeger and Tempo: what a real OTLP receiver gets."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import otel_provlog
from otel_provlog import attributes
from otel_provlog.cli import demo_simulation
from otel_provlog.config import Settings
from otel_provlog.exporter.forwarding import attach_forwarding
from otel_provlog.exporter.span_display import display_span, fallback_service_name
from otel_provlog.testing import capture_spans
from tests.otlp_receivers import HttpReceiver, attributes_of

TEMPO_ATTRIBUTE_BYTES = 2048
"""Tempo's default limit on one attribute's size (larger ones are truncated or dropped)."""
SCENARIO = demo_simulation.Scenario(
    cluster_id="c-traces", instances=8, scale_out=0, speed=0, failure_rate=0.5, workers=2, seed=5
)


def _received(resource: Resource) -> tuple[list[Any], list[dict[str, Any]]]:
    """Forward the demo scenario plus one long failure; return the spans and resources got."""
    provider = TracerProvider(resource=resource)
    with HttpReceiver() as receiver:
        handle = attach_forwarding(provider, Settings(otlp_endpoint=receiver.endpoint), environ={})
        assert handle is not None
        demo_simulation.run(SCENARIO, report=lambda _: None, tracer_provider=provider)
        with (
            otel_provlog.step(
                "c-traces", "Run post-install script", total=1, tracer_provider=provider
            ) as step,
            pytest.raises(RuntimeError),
            step.event(instance_id="c-traces-i00000", instance_name="demo-hadoop-master-000"),
        ):
            raise RuntimeError("script failed: " + "stderr line\n" * 2000)
        assert handle.force_flush(5000)
        counts = handle.counts()
        assert counts.lost == 0
        spans = receiver.wait_for(counts.sent, timeout=5)
        resources = [attributes_of(r.resource) for q in receiver.items for r in q.resource_spans]
        handle.shutdown()
    provider.shutdown()
    return spans, resources


@pytest.fixture(scope="module")
def named_engine() -> tuple[list[Any], list[dict[str, Any]]]:
    """What a receiver got from an engine whose resource names it ``sahara-engine``."""
    return _received(Resource.create({"service.name": "sahara-engine"}))


def test_the_service_is_the_engine_named_by_its_resource(named_engine):
    """``service.name`` from the resource (OTEL_SERVICE_NAME) reaches the receiver as is."""
    _spans, resources = named_engine
    assert {r["service.name"] for r in resources} == {"sahara-engine"}


def test_spans_are_named_after_steps_instances_and_the_cluster(named_engine):
    """Steps by their names, events by their instances, the operation with its cluster."""
    spans, _resources = named_engine
    by_kind: dict[str, set[str]] = {}
    for span in spans:
        by_kind.setdefault(attributes_of(span)[attributes.SPAN_KIND], set()).add(span.name)
    assert by_kind["operation"] == {"creating cluster demo-hadoop"}
    assert by_kind["operation.start"] == {"creating cluster demo-hadoop started"}
    assert by_kind["step"] == {*demo_simulation.CREATING_STEPS, "Run post-install script"}
    instances = demo_simulation.make_instances(SCENARIO, start=0, count=SCENARIO.instances)
    assert by_kind["event"] == {instance.instance_name for instance in instances}


def test_failed_spans_carry_their_error_id_and_every_attribute_fits_tempo(named_engine):
    """Each failed event is an ERROR span with its error id; no attribute passes 2 KB."""
    spans, _resources = named_engine
    events = [s for s in spans if attributes_of(s)[attributes.SPAN_KIND] == "event"]
    failed = [s for s in events if s.status.code == s.status.STATUS_CODE_ERROR]
    assert len(failed) > 1
    for span in events:
        error_id = attributes_of(span).get(attributes.ERROR_ID)
        assert (error_id is not None) == (span in failed), span.name
        assert error_id is None or len(error_id) == 36
    for span in spans:
        texts = [v for v in attributes_of(span).values() if isinstance(v, str)]
        texts += [str(v) for e in span.events for v in attributes_of(e).values()]
        assert all(len(text.encode()) <= TEMPO_ATTRIBUTE_BYTES for text in texts), span.name


def test_an_unnamed_service_gets_the_program_name():
    """Left at the SDK's unknown_service, the receiver sees unknown_service:<program>."""
    _spans, resources = _received(Resource.create({}))
    assert {r["service.name"] for r in resources} == {fallback_service_name()}
    assert fallback_service_name("/usr/bin/sahara-engine") == "unknown_service:sahara-engine"


def test_spans_named_by_another_sdk_keep_their_names():
    """Only otel_provlog's default names are replaced; the store path's span is untouched."""
    with capture_spans() as captured:
        tracer = captured.tracer_provider.get_tracer("engine")
        tracer.start_span(
            "ssh-probe",
            attributes={
                attributes.SPAN_KIND: attributes.SPAN_EVENT,
                attributes.INSTANCE_NAME: "w-1",
            },
        ).end()
        with otel_provlog.step("c-1", "Launching", tracer_provider=captured.tracer_provider) as s:
            s.add_success(instance_id="i-7")
        custom, own = captured.spans(attributes.SPAN_EVENT)
    assert display_span(custom, service_name="e").name == "ssh-probe"
    assert display_span(own, service_name="e").name == "i-7"  # no instance name: its id
    assert own.name == "instance event"
