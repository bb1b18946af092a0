"""Reporting by cluster from threads and pools, the decorator, and bind()."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import otel_provlog
from otel_provlog import attributes as a


def _event_parents(spans: Any) -> dict[str, str]:
    """Map each event's instance id to the name of its parent step."""
    steps = {s.context.span_id: s.name for s in spans(a.SPAN_STEP)}
    return {
        str(spans.attrs(e)[a.INSTANCE_ID]): steps[e.parent.span_id] for e in spans(a.SPAN_EVENT)
    }


def _report(instance: Any) -> None:
    with otel_provlog.event(instance):
        pass


def test_event_finds_step_of_cluster_from_threads(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """A thread per instance reports to the step open for the cluster."""
    nodes = instances(5)
    with otel_provlog.step(cluster_id, "Start", len(nodes), tracer_provider=provider):
        threads = [threading.Thread(target=_report, args=(n,)) for n in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert _event_parents(spans) == {f"i-{n}": "Start" for n in range(5)}


def test_event_finds_step_from_thread_pool(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """Pool workers (reused threads) report to the step open for the cluster."""
    nodes = instances(8)
    with ThreadPoolExecutor(max_workers=3) as pool:
        with otel_provlog.step(cluster_id, "First", len(nodes), tracer_provider=provider):
            list(pool.map(_report, nodes))
        with otel_provlog.step(cluster_id, "Second", len(nodes), tracer_provider=provider):
            list(pool.map(_report, nodes))
    events = spans(a.SPAN_EVENT)
    steps = {s.context.span_id: s.name for s in spans(a.SPAN_STEP)}
    assert sorted(steps[e.parent.span_id] for e in events) == ["First"] * 8 + ["Second"] * 8


def test_worker_nested_step_does_not_redirect_siblings(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """A worker opening a nested step redirects its own events only (Sahara bug 1627081)."""
    nodes = instances(4)
    nested_open = threading.Event()
    siblings_done = threading.Event()

    def nested_worker(node: Any) -> None:
        with otel_provlog.step(cluster_id, "Nested", 1, tracer_provider=provider):
            nested_open.set()
            siblings_done.wait(5)
            _report(node)
        _report(otel_provlog.Instance(cluster_id=cluster_id, instance_id="after-nested"))

    def sibling(node: Any) -> None:
        nested_open.wait(5)
        _report(node)

    with otel_provlog.step(cluster_id, "Outer", len(nodes), tracer_provider=provider):
        first = threading.Thread(target=nested_worker, args=(nodes[0],))
        others = [threading.Thread(target=sibling, args=(n,)) for n in nodes[1:]]
        for thread in [first, *others]:
            thread.start()
        for thread in others:
            thread.join()
        siblings_done.set()
        first.join()
    assert _event_parents(spans) == {
        "i-0": "Nested",
        "i-1": "Outer",
        "i-2": "Outer",
        "i-3": "Outer",
        "after-nested": "Outer",
    }


def test_nested_step_in_pool_worker_stays_private(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """In a pool, one task's nested step never catches another task's events."""
    nodes = instances(6)
    barrier = threading.Barrier(3, timeout=5)

    def task(node: Any) -> None:
        if node.instance_id == "i-0":
            with otel_provlog.step(cluster_id, "Nested", 1, tracer_provider=provider):
                barrier.wait()
                _report(node)
        elif node.instance_id in ("i-1", "i-2"):
            barrier.wait()
            _report(node)
        else:
            _report(node)

    with (
        otel_provlog.step(cluster_id, "Outer", 6, tracer_provider=provider),
        ThreadPoolExecutor(max_workers=3) as pool,
    ):
        list(pool.map(task, nodes))
    parents = _event_parents(spans)
    assert parents.pop("i-0") == "Nested"
    assert set(parents.values()) == {"Outer"}


def test_nested_step_inside_private_step_stays_private(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """A step nested in a worker's private step is private too."""
    inner_open = threading.Event()
    release = threading.Event()

    def worker() -> None:
        with (
            otel_provlog.step(cluster_id, "Private", tracer_provider=provider),
            otel_provlog.step(cluster_id, "Deeper", tracer_provider=provider) as deeper,
        ):
            assert otel_provlog.current_step(cluster_id) is deeper
            inner_open.set()
            release.wait(5)

    with otel_provlog.step(cluster_id, "Outer", tracer_provider=provider) as outer:
        thread = threading.Thread(target=worker)
        thread.start()
        inner_open.wait(5)
        seen: list[Any] = []
        other = threading.Thread(target=lambda: seen.append(otel_provlog.current_step(cluster_id)))
        other.start()
        other.join()
        release.set()
        thread.join()
    assert seen == [outer]


def test_step_opened_by_operation_thread_is_seen_by_its_workers(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """An operation opened in one thread, steps in a second, events from a third's pool."""
    nodes = instances(3)
    with otel_provlog.operation(cluster_id, "creating", tracer_provider=provider):

        def provision() -> None:
            with (
                otel_provlog.step(cluster_id, "Launch", 3, tracer_provider=provider),
                ThreadPoolExecutor(max_workers=3) as pool,
            ):
                list(pool.map(_report, nodes))

        thread = threading.Thread(target=provision)
        thread.start()
        thread.join()
    operation = spans.one(a.SPAN_OPERATION)
    step = spans.one(a.SPAN_STEP)
    assert spans.children(operation, a.SPAN_STEP) == [step]
    assert spans.attrs(step)[a.STEP_TYPE] == "creating"
    assert set(_event_parents(spans).values()) == {"Launch"}


def test_event_without_step_records_nothing(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """With no step open for the cluster, an event is a no-op."""
    with (
        otel_provlog.step("another-cluster", "Busy", tracer_provider=provider),
        otel_provlog.event(cluster_id=cluster_id, instance_id="i-1") as ev,
    ):
        pass
    assert ev.successful is None
    assert spans(a.SPAN_EVENT) == []


def test_events_of_two_clusters_go_to_their_own_steps(provider: TracerProvider, spans: Any) -> None:
    """Concurrent steps of different clusters each get their own events."""
    with (
        otel_provlog.step("c-a", "A", tracer_provider=provider),
        otel_provlog.step("c-b", "B", tracer_provider=provider),
    ):
        threads = [
            threading.Thread(
                target=_report, args=(otel_provlog.Instance(cluster_id=c, instance_id=c),)
            )
            for c in ("c-a", "c-b")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert _event_parents(spans) == {"c-a": "A", "c-b": "B"}


def test_record_event_success_and_failure(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """The decorator records success on return, failure on exception, and re-raises."""

    @otel_provlog.record_event("node")
    def configure(node: Any, *, fail: bool = False) -> str:
        if fail:
            raise OSError("no route")
        return f"done {node.instance_id}"

    ok, bad = instances(2)
    with otel_provlog.step(cluster_id, "Configure", 2, tracer_provider=provider) as s:
        assert configure(ok) == "done i-0"
        with pytest.raises(OSError, match="no route"):
            configure(node=bad, fail=True)
    events = {spans.attrs(e)[a.INSTANCE_ID]: spans.attrs(e) for e in spans(a.SPAN_EVENT)}
    assert a.ERROR_ID not in events["i-0"]
    assert a.ERROR_ID in events["i-1"]
    assert (s.completed, s.failed) == (1, 1)
    assert configure.__name__ == "configure"


def test_record_event_by_position_and_own_step(
    provider: TracerProvider, spans: Any, instances: Any
) -> None:
    """Param may be a position; step_name opens a one-event step per call."""

    @otel_provlog.record_event(1, step_name="Reboot", tracer_provider=provider)
    def reboot(reason: str, node: Any) -> str:
        return reason

    [node] = instances(1)
    assert reboot("kernel", node) == "kernel"
    step = spans.one(a.SPAN_STEP)
    assert (step.name, spans.attrs(step)[a.STEP_TOTAL]) == ("Reboot", 1)
    assert spans.children(step, a.SPAN_EVENT)


def test_record_event_without_mark_successful_records_failures_only(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """mark_successful=False records nothing on success, a failure on exception."""

    @otel_provlog.record_event(mark_successful=False)
    def work(instance: Any, fail: bool) -> None:
        if fail:
            raise RuntimeError("nope")

    node = instances(1)[0]
    with otel_provlog.step(cluster_id, "Work", 1, tracer_provider=provider):
        work(node, False)
        assert spans(a.SPAN_EVENT) == []
        with pytest.raises(RuntimeError):
            work(node, True)
    assert a.ERROR_ID in spans.attrs(spans.one(a.SPAN_EVENT))


def test_bind_carries_a_private_step_into_a_grandchild_thread(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """bind() lets a worker's own thread report to the worker's private step."""
    [node] = instances(1)

    def worker() -> None:
        with otel_provlog.step(cluster_id, "Private", tracer_provider=provider):
            thread = threading.Thread(target=otel_provlog.bind(_report), args=(node,))
            thread.start()
            thread.join()

    with otel_provlog.step(cluster_id, "Outer", tracer_provider=provider):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert _event_parents(spans) == {"i-0": "Private"}


def test_bound_function_can_run_concurrently(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """One bound function may run in several threads at once."""
    nodes = instances(4)
    with otel_provlog.step(cluster_id, "Step", 4, tracer_provider=provider):
        bound = otel_provlog.bind(_report)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(bound, nodes))
    assert len(spans(a.SPAN_EVENT)) == 4
