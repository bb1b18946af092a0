"""The Sahara compatibility module runs Sahara-style plugin code unchanged."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import otel_provlog
from otel_provlog import attributes as a
from otel_provlog import sahara as cpo
from otel_provlog._ids import span_row_id


@pytest.fixture
def operation(provider: TracerProvider, cluster_id: str) -> Iterator[otel_provlog.Operation]:
    """A creating operation around the test, as Sahara's engine would open it."""
    with otel_provlog.operation(
        cluster_id, "creating", tenant_id="t-1", tracer_provider=provider
    ) as op:
        yield op


class FakeCluster:
    """Sahara's ``ClusterResource``, as far as the event log reads it."""

    def __init__(self, cluster_id: str) -> None:
        self.id = cluster_id
        self.node_groups: list[Any] = []


def _parents(spans: Any) -> dict[str, str]:
    steps = {s.context.span_id: s.name for s in spans(a.SPAN_STEP)}
    return {
        str(spans.attrs(e).get(a.INSTANCE_ID)): steps[e.parent.span_id] for e in spans(a.SPAN_EVENT)
    }


def test_add_step_and_events(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any, operation: Any
) -> None:
    """Sahara's step and event helpers build the same span tree as the new API."""
    nodes = instances(2)
    step_id = cpo.add_provisioning_step(cluster_id, "Wait for ssh", len(nodes))
    assert step_id is not None
    assert cpo.get_current_provisioning_step(cluster_id) == step_id
    cpo.add_successful_event(nodes[0])
    cpo.add_fail_event(nodes[1], RuntimeError("ssh refused"))
    step = spans.one(a.SPAN_STEP)
    assert (
        span_row_id(format(step.context.trace_id, "032x"), format(step.context.span_id, "016x"))
        == step_id
    )
    assert spans.attrs(step)[a.STEP_TYPE] == "creating"
    assert spans.attrs(step)[a.TENANT_ID] == "t-1"
    ok, failed = spans.children(step, a.SPAN_EVENT)
    assert spans.attrs(ok)[a.NODE_GROUP_ID] == "ng-1"
    assert spans.attrs(ok)[a.CLUSTER_ID] == cluster_id
    assert failed.status.status_code is StatusCode.ERROR
    assert spans.attrs(failed)[a.EVENT_INFO] == "ssh refused"
    assert a.ERROR_ID in spans.attrs(failed)
    [recorded] = failed.events
    assert recorded.attributes is not None
    assert recorded.attributes[a.EXCEPTION_MESSAGE] == "ssh refused"
    assert recorded.attributes[a.EXCEPTION_TYPE] == "RuntimeError"


def test_next_step_replaces_previous(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any, operation: Any
) -> None:
    """Adding a step ends the previous step of the same context; events go to the new one."""
    [node] = instances(1)
    first = cpo.add_provisioning_step(cluster_id, "One", 5)
    second = cpo.add_provisioning_step(cluster_id, "Two", 5)
    assert first != second
    assert [s.name for s in spans(a.SPAN_STEP)] == ["One"]
    assert cpo.get_current_provisioning_step(cluster_id) == second
    cpo.add_successful_event(node)
    [event] = spans(a.SPAN_EVENT)
    assert (
        span_row_id(format(event.context.trace_id, "032x"), format(event.parent.span_id, "016x"))
        == second
    )


def test_steps_end_with_the_operation(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """A step still open when its operation ends is ended before the operation."""
    with otel_provlog.operation(cluster_id, "deleting", tracer_provider=provider):
        cpo.add_provisioning_step(cluster_id, "Deleting instances", 3)
    step, operation = spans(a.SPAN_STEP)[0], spans.one(a.SPAN_OPERATION)
    assert step.end_time <= operation.end_time
    assert cpo.get_current_provisioning_step(cluster_id) is None


def test_failed_operation_marks_open_step_failed(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """The operation's exception is recorded on the steps it ends."""

    def create() -> None:
        with otel_provlog.operation(cluster_id, "creating", tracer_provider=provider):
            cpo.add_provisioning_step(cluster_id, "Launch", 3)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        create()
    assert spans.one(a.SPAN_STEP).status.status_code is StatusCode.ERROR
    assert spans.one(a.SPAN_OPERATION).status.status_code is StatusCode.ERROR


def test_step_ends_when_total_reached(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any, operation: Any
) -> None:
    """A Sahara step ends as soon as its total events were recorded."""
    nodes = instances(2)
    cpo.add_provisioning_step(cluster_id, "Two events", 2)
    cpo.add_successful_event(nodes[0])
    assert spans(a.SPAN_STEP) == []
    cpo.add_successful_event(nodes[1])
    assert len(spans(a.SPAN_STEP)) == 1


def test_no_step_no_event(spans: Any, instances: Any) -> None:
    """Without a current step the event helpers do nothing, like Sahara's."""
    [node] = instances(1)
    cpo.add_successful_event(node)
    cpo.add_fail_event(node, RuntimeError("x"))
    assert spans() == []
    assert cpo.get_current_provisioning_step(node.cluster_id) is None


def test_event_wrapper_records_success_and_failure(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any, operation: Any
) -> None:
    """event_wrapper(True) finds the instance in the arguments; failures are re-raised."""

    @cpo.event_wrapper(True)
    def wait(timeout: int, instance: Any, fail: bool = False) -> int:
        if fail:
            raise TimeoutError("too slow")
        return timeout

    ok, bad = instances(2)
    cpo.add_provisioning_step(cluster_id, "Wait", 2)
    assert wait(10, ok) == 10
    with pytest.raises(TimeoutError, match="too slow"):
        wait(10, instance=bad, fail=True)
    events = {spans.attrs(e)[a.INSTANCE_ID]: e for e in spans(a.SPAN_EVENT)}
    assert events["i-0"].status.status_code is StatusCode.UNSET
    assert events["i-1"].status.status_code is StatusCode.ERROR


def test_event_wrapper_with_step_opens_one_event_step(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any, operation: Any
) -> None:
    """step= adds a step of total 1 first, and the call's event goes to it."""

    @cpo.event_wrapper(True, step="Start services", param=("node", 0))
    def start(node: Any) -> str:
        return "ok"

    [node] = instances(1)
    assert start(node) == "ok"
    step = spans.one(a.SPAN_STEP)
    assert (step.name, spans.attrs(step)[a.STEP_TOTAL]) == ("Start services", 1)
    assert _parents(spans) == {"i-0": "Start services"}


def test_event_wrapper_param_by_name_and_cluster(
    provider: TracerProvider, spans: Any, cluster_id: str, operation: Any
) -> None:
    """param=(name, pos) may point at a cluster: the event is about the cluster."""

    @cpo.event_wrapper(True, step="Configure cluster", param=("cluster", 0))
    def configure(cluster: Any) -> None:
        pass

    configure(cluster=FakeCluster(cluster_id))
    event = spans.attrs(spans.one(a.SPAN_EVENT))
    assert event[a.CLUSTER_ID] == cluster_id
    assert a.INSTANCE_ID not in event


def test_event_wrapper_uses_get_event_info(
    provider: TracerProvider, spans: Any, cluster_id: str, operation: Any
) -> None:
    """An argument with get_event_info() describes the event."""

    class Remote:
        def get_event_info(self) -> otel_provlog.Instance:
            return otel_provlog.Instance(cluster_id=cluster_id, instance_id="i-r")

    @cpo.event_wrapper(True, param=("remote", 0))
    def run(remote: Any) -> None:
        pass

    cpo.add_provisioning_step(cluster_id, "Run", 1)
    run(Remote())
    assert spans.attrs(spans.one(a.SPAN_EVENT))[a.INSTANCE_ID] == "i-r"


def test_event_wrapper_mark_successful_false(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any, operation: Any
) -> None:
    """event_wrapper(False) records nothing when the function returns."""

    @cpo.event_wrapper(False)
    def work(instance: Any) -> int:
        return 3

    cpo.add_provisioning_step(cluster_id, "Work", 1)
    assert work(instances(1)[0]) == 3
    assert spans(a.SPAN_EVENT) == []


def test_worker_threads_adding_steps_do_not_redirect_siblings(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any, operation: Any
) -> None:
    """Sahara bug 1627081: a worker's event_wrapper(step=...) keeps siblings on their step."""
    nodes = instances(4)
    nested_open = threading.Event()

    @cpo.event_wrapper(True, step="Per-node step", param=("instance", 0))
    def special(instance: Any) -> None:
        nested_open.set()

    @cpo.event_wrapper(True)
    def normal(instance: Any) -> None:
        nested_open.wait(5)

    cpo.add_provisioning_step(cluster_id, "Configure instances", 3)
    threads = [threading.Thread(target=special, args=(nodes[0],))]
    threads += [threading.Thread(target=normal, args=(n,)) for n in nodes[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _parents(spans) == {
        "i-0": "Per-node step",
        "i-1": "Configure instances",
        "i-2": "Configure instances",
        "i-3": "Configure instances",
    }


def test_event_wrapper_off_calls_function_only(
    monkeypatch: pytest.MonkeyPatch, spans: Any, instances: Any
) -> None:
    """With the switch off the wrapper is a plain call, exceptions unchanged."""
    monkeypatch.setenv("PROVLOG_ENABLED", "false")
    calls: list[Any] = []

    @cpo.event_wrapper(True, step="Nope")
    def work(instance: Any) -> str:
        calls.append(instance)
        raise LookupError("still raised")

    [node] = instances(1)
    with pytest.raises(LookupError, match="still raised"):
        work(node)
    assert calls == [node]
    assert cpo.add_provisioning_step(node.cluster_id, "Off", 1) is None
    assert cpo.get_current_provisioning_step(node.cluster_id) is None
    assert spans() == []


def test_negative_total_is_rejected(cluster_id: str) -> None:
    """A negative total is a set-up error."""
    with pytest.raises(ValueError, match="non-negative"):
        cpo.add_provisioning_step(cluster_id, "Bad", -1)


def test_add_fail_event_keeps_the_stack_out_of_the_event_info(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any, operation: Any
) -> None:
    """A caught exception's frames go to exception.stacktrace only, never to the event info."""
    [node] = instances(1)
    cpo.add_provisioning_step(cluster_id, "Wait for ssh", 1)
    try:
        raise TimeoutError('ssh to 10.0.0.7 timed out\n  File "/etc/ssh/config", line 3')
    except TimeoutError as error:
        cpo.add_fail_event(node, error)
    failed = spans.one(a.SPAN_EVENT)
    info = str(spans.attrs(failed)[a.EVENT_INFO])
    assert info == 'ssh to 10.0.0.7 timed out\n  File "/etc/ssh/config", line 3'
    assert __file__ not in info
    [recorded] = failed.events
    assert recorded.attributes is not None
    assert __file__ in str(recorded.attributes[a.EXCEPTION_STACKTRACE])
    assert __file__ not in str(recorded.attributes[a.EXCEPTION_MESSAGE])
