"""Typed results of the client: frozen dataclasses read from the API's JSON documents."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

__all__ = [
    "Cluster",
    "Event",
    "FailureExample",
    "FailureGroup",
    "Operation",
    "Page",
    "Step",
    "to_json",
]

Json = Mapping[str, Any]
T = TypeVar("T")


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


_INSTANCE_FIELDS = ("instance_id", "instance_name", "node_group_id", "error_id")
"""The fields an event and a failure example both carry, under the same keys."""
_RUN_TIMES = ("created_at", "started_at", "completed_at", "updated_at")
"""The timestamps of a step or an operation."""


def _read(
    body: Json,
    *,
    required: Sequence[str] = (),
    optional: Sequence[str] = (),
    times: Sequence[str] = (),
    renamed: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return the fields of a result read as they stand in ``body``.

    ``required`` keys must be there; ``optional`` ones are None when absent; ``times`` are
    ISO 8601 timestamps (None when absent); ``renamed`` maps a field to its JSON key.
    """
    values = {name: body[name] for name in required}
    values.update((name, body.get(name)) for name in optional)
    values.update((name, _time(body.get(name))) for name in times)
    values.update((name, body.get(key)) for name, key in (renamed or {}).items())
    return values


@dataclass(frozen=True, slots=True)
class Step:
    """A provisioning step: its counts, outcome, times and the API's estimate of time left."""

    id: str
    cluster_id: str
    operation_id: str | None
    step_name: str
    step_type: str | None
    completed: int
    """Events that finished successfully."""
    failed: int
    """Events that failed."""
    total: int | None
    """Events the step expects (None when unknown)."""
    successful: bool | None
    """None while it runs with no failure, False once an event failed, then its outcome."""
    status: str
    """``running``, ``successful``, ``failed`` or ``interrupted``."""
    progress: str
    """The one-line summary: ``"Waiting for ssh completed 59 out of 1000"``."""
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    duration: float | None = None
    """Seconds the step took, once ended."""
    seconds_left: float | None = None
    """The API's estimate of the seconds left (0 once ended; None when unknown)."""
    expected_duration: float | None = None
    """The median duration of earlier successful runs of the same step, if any."""

    @property
    def running(self) -> bool:
        """Whether the step has not ended yet."""
        return self.status == "running"

    @classmethod
    def from_json(cls, body: Json) -> Step:
        """Read a step of ``provisioning_progress`` or of a step list."""
        estimate = body.get("estimate") or {}
        return cls(
            **_read(
                body,
                required=("id", "cluster_id", "step_name"),
                optional=("operation_id", "step_type", "total", "successful"),
                times=_RUN_TIMES,
            ),
            completed=int(body.get("completed") or 0),
            failed=int(body.get("failed") or 0),
            status=body.get("status") or "running",
            progress=body.get("progress") or body["step_name"],
            duration=_seconds(body.get("duration")),
            seconds_left=_seconds(estimate.get("seconds_left")),
            expected_duration=_seconds(estimate.get("expected_duration")),
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """A cluster operation (creating, scaling, deleting) and its estimate of time left."""

    id: str
    step_type: str
    status: str
    """``running``, ``successful``, ``failed`` or ``interrupted``."""
    successful: bool | None
    plan: tuple[str, ...] | None
    """The step names the plugin declared, when it did."""
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    seconds_left: float | None = None
    """The API's estimate of the seconds left, while it runs."""

    @property
    def running(self) -> bool:
        """Whether the operation has not ended yet."""
        return self.status == "running"

    @classmethod
    def from_json(cls, body: Json) -> Operation:
        """Read the ``operation`` of a cluster document."""
        estimate = body.get("estimate") or {}
        plan = body.get("plan")
        return cls(
            **_read(
                body,
                required=("id", "step_type", "status"),
                optional=("successful",),
                times=_RUN_TIMES,
            ),
            plan=tuple(plan) if plan is not None else None,
            seconds_left=_seconds(estimate.get("seconds_left")),
        )


@dataclass(frozen=True, slots=True)
class Cluster:
    """A cluster, its latest operation and its steps, oldest first."""

    id: str
    name: str | None
    tenant_id: str | None
    status: str
    status_description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    operation: Operation | None = None
    """The cluster's latest operation, if any was recorded."""
    steps: tuple[Step, ...] = ()

    @classmethod
    def from_json(cls, body: Json) -> Cluster:
        """Read a cluster document (v1.1's ``tenant_id`` or v2's ``project_id``)."""
        operation = body.get("operation")
        return cls(
            **_read(
                body,
                required=("id",),
                optional=("name", "status_description"),
                times=("created_at", "updated_at"),
            ),
            tenant_id=body.get("tenant_id", body.get("project_id")),
            status=body.get("status") or "Unknown",
            operation=Operation.from_json(operation) if operation else None,
            steps=tuple(Step.from_json(s) for s in body.get("provisioning_progress") or ()),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One per-instance event of a step; ``stacktrace`` is shown to admins only."""

    id: str
    cluster_id: str
    step_id: str | None
    node_group_id: str | None
    instance_id: str | None
    instance_name: str | None
    event_info: str | None
    successful: bool | None
    error_id: str | None = None
    stacktrace: str | None = None
    started_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, body: Json) -> Event:
        """Read an event of an event or failure list."""
        return cls(
            **_read(
                body,
                required=("id", "cluster_id"),
                optional=(*_INSTANCE_FIELDS, "event_info", "successful", "stacktrace"),
                times=("started_at", "created_at", "updated_at"),
                renamed={"step_id": "provisioning_step_id"},
            )
        )


@dataclass(frozen=True, slots=True)
class FailureExample:
    """One failed event standing for its failure group."""

    event_id: str
    instance_id: str | None
    instance_name: str | None
    node_group_id: str | None
    error_id: str | None
    step_id: str | None

    @classmethod
    def from_json(cls, body: Json) -> FailureExample:
        """Read an entry of a failure group's ``examples``."""
        return cls(
            **_read(
                body,
                required=("event_id",),
                optional=_INSTANCE_FIELDS,
                renamed={"step_id": "provisioning_step_id"},
            )
        )


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failed events sharing one cause: the fingerprint of their error message."""

    fingerprint: str
    pattern: str
    """The message with its variable parts (names, numbers, addresses) masked."""
    message: str
    """One message of the group, as recorded."""
    count: int
    node_groups: Mapping[str, int] = field(default_factory=dict)
    """Failed events per node group."""
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    examples: tuple[FailureExample, ...] = ()

    @classmethod
    def from_json(cls, body: Json) -> FailureGroup:
        """Read an entry of ``failure_groups``."""
        return cls(
            fingerprint=body["fingerprint"],
            pattern=body.get("pattern") or body.get("message") or "",
            message=body.get("message") or "",
            count=int(body.get("count") or 0),
            node_groups={str(k): int(v) for k, v in (body.get("node_groups") or {}).items()},
            **_read(body, times=("first_seen", "last_seen")),
            examples=tuple(FailureExample.from_json(e) for e in body.get("examples") or ()),
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the markers of its neighbours (None when there is none)."""

    items: tuple[T, ...]
    next_marker: str | None = None
    """Pass it as ``marker`` to get the next page."""
    prev_marker: str | None = None

    def __iter__(self) -> Iterator[T]:
        """Iterate over the items of this page."""
        return iter(self.items)

    def __len__(self) -> int:
        """Return the number of items in this page."""
        return len(self.items)

    @classmethod
    def from_json(cls, body: Json, key: str, item: Callable[[Json], T]) -> Page[T]:
        """Read a list response: ``{key: [...], "markers": {"prev", "next"}}``."""
        markers = body.get("markers") or {}
        return cls(
            items=tuple(item(entry) for entry in body.get(key) or ()),
            next_marker=markers.get("next"),
            prev_marker=markers.get("prev"),
        )


def to_json(value: Any) -> Any:
    """Return a result (a dataclass, or a list of them) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value
