"""A running operation in the cluster document, from the spans ended so far."""

from __future__ import annotations

import otel_provlog
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.records import record_from_span
from otel_provlog.exporter.writer import write_records
from otel_provlog.testing import capture_spans

PLAN = ["Launching instances", "Waiting for ssh", "Configuring"]


def _store_ended(engine, exporter, *, without=None):
    """Write every span ended so far but those of kind ``without``; return their records."""
    records = [record_from_span(span) for span in exporter.spans()]
    kept = [r for r in records if r is not None and r["kind"] != without]
    with session_factory(engine).begin() as session:
        write_records(session, kept)
    return kept


def test_the_cluster_shows_its_running_operation_and_plan(client, engine):
    """While it runs, the cluster has its name and status, the operation its plan and steps."""
    exporter = capture_spans()
    provider = exporter.tracer_provider
    operation = otel_provlog.start_operation(
        "c-1", "creating", cluster_name="demo", tenant_id="t-1", plan=PLAN, tracer_provider=provider
    )
    step = otel_provlog.start_step("c-1", "Launching instances", total=3)
    step.add_success(instance_id="i-1", instance_name="w-1")
    records = _store_ended(engine, exporter)
    assert {r["kind"] for r in records} == {"operation.start", "step.start", "event"}
    cluster = client.get("/v1.1/t-1/clusters/c-1").get_json()["cluster"]
    assert (cluster["name"], cluster["status"]) == ("demo", "Creating")
    running = cluster["operation"]
    assert (running["id"], running["status"], running["plan"]) == (operation.id, "running", PLAN)
    assert running["step_type"] == "creating"
    assert running["started_at"] is not None
    assert running["completed_at"] is None
    (launching,) = cluster["provisioning_progress"]
    assert (launching["id"], launching["operation_id"], launching["position"]) == (
        step.id,
        operation.id,
        0,
    )
    assert (launching["status"], launching["completed"], launching["total"]) == ("running", 1, 3)
    listed = client.get("/v1.1/t-1/clusters").get_json()["clusters"]
    assert [(c["name"], c["operation"]["status"]) for c in listed] == [("demo", "running")]
    step.end()
    operation.end()
    _store_ended(engine, exporter)
    cluster = client.get("/v1.1/t-1/clusters/c-1").get_json()["cluster"]
    assert (cluster["status"], cluster["operation"]["status"]) == ("Active", "successful")
    assert cluster["operation"]["plan"] == PLAN


def test_an_operation_without_marker_appears_when_it_ends(client, engine):
    """Spans from an SDK without the marker: no operation until its span is stored."""
    exporter = capture_spans()
    provider = exporter.tracer_provider
    operation = otel_provlog.start_operation(
        "c-1", "creating", cluster_name="demo", tenant_id="t-1", plan=PLAN, tracer_provider=provider
    )
    step = otel_provlog.start_step("c-1", "Launching instances", total=1)
    step.add_success(instance_id="i-1")
    _store_ended(engine, exporter, without="operation.start")
    cluster = client.get("/v1.1/t-1/clusters/c-1").get_json()["cluster"]
    assert (cluster["name"], cluster["status"], cluster["operation"]) == (None, "Creating", None)
    assert cluster["provisioning_progress"][0]["operation_id"] is None
    operation.end()
    _store_ended(engine, exporter, without="operation.start")
    cluster = client.get("/v1.1/t-1/clusters/c-1").get_json()["cluster"]
    assert (cluster["name"], cluster["status"]) == ("demo", "Active")
    assert cluster["operation"]["plan"] == PLAN
    assert cluster["provisioning_progress"][0]["position"] == 0
