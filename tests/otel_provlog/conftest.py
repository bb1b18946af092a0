"""Fixtures of the instrumentation tests: an SDK provider exporting to memory, per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from otel_provlog.testing import SpanCapture, capture_spans


class Spans:
    """The ended spans of one test (a :class:`~otel_provlog.testing.SpanCapture`), with lookups.

    Calling it returns the spans (of one ``provisioning.span`` kind when given).
    """

    def __init__(self, captured: SpanCapture) -> None:
        self.captured = captured

    def __call__(self, kind: str | None = None) -> list[ReadableSpan]:
        """Return the ended spans (of one ``provisioning.span`` kind when given)."""
        return self.captured.spans(kind)

    def one(self, kind: str) -> ReadableSpan:
        """Return the only span of ``kind``."""
        found = self(kind)
        assert len(found) == 1, [s.name for s in found]
        return found[0]

    @staticmethod
    def attrs(span: ReadableSpan) -> dict[str, object]:
        """Return the attributes of ``span`` as a plain dict (sequences as tuples)."""
        return attrs(span)

    def children(self, parent: ReadableSpan, kind: str | None = None) -> list[ReadableSpan]:
        """Return the spans whose parent is ``parent``."""
        return self.captured.children(parent, kind)


def attrs(span: ReadableSpan) -> dict[str, object]:
    """Return the attributes of ``span`` as a plain dict (sequences as tuples)."""
    return {
        key: tuple(value) if isinstance(value, list | tuple) else value
        for key, value in (span.attributes or {}).items()
    }


@pytest.fixture(autouse=True)
def _recording_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with the switch in its default position (recording on)."""
    monkeypatch.delenv("PROVLOG_ENABLED", raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)


@pytest.fixture
def captured() -> Iterator[SpanCapture]:
    """Ended spans kept in memory, as the project offers its users to test with."""
    with capture_spans() as capture:
        yield capture


@pytest.fixture
def provider(captured: SpanCapture) -> TracerProvider:
    """An SDK tracer provider exporting synchronously to memory; never the global one."""
    return captured.tracer_provider


@pytest.fixture
def spans(captured: SpanCapture) -> Spans:
    """The spans ended so far, with lookups."""
    return Spans(captured)


@pytest.fixture
def cluster_id() -> str:
    """A cluster id of this test only, so that open steps of other tests never match."""
    return f"cluster-{uuid.uuid4()}"


class FakeNodeGroup:
    """Sahara's node group, as far as instances point to it."""

    def __init__(self, group_id: str, cluster_id: str) -> None:
        self.id = group_id
        self.cluster_id = cluster_id


class FakeInstance:
    """Sahara's ``InstanceResource``, as far as the event log reads it."""

    def __init__(self, cluster_id: str, number: int, group: str = "ng-1") -> None:
        self.instance_id = f"i-{number}"
        self.instance_name = f"worker-{number}"
        self.node_group = FakeNodeGroup(group, cluster_id)
        self.node_group_id = group

    @property
    def cluster_id(self) -> str:
        """The cluster, read through the node group as Sahara does."""
        return self.node_group.cluster_id


Instances = Callable[..., list[FakeInstance]]


@pytest.fixture
def instances(cluster_id: str) -> Instances:
    """Return ``make(count, group="ng-1")``: that many fake Sahara instances of the cluster."""

    def make(count: int, group: str = "ng-1") -> list[FakeInstance]:
        return [FakeInstance(cluster_id, number, group) for number in range(count)]

    return make
