"""Pure rows -> JSON, table-driven over unsaved model objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from otel_provlog.api import serialize
from otel_provlog.exporter.models import Cluster, ClusterEvent, ProvisionStep

T0 = datetime(2026, 5, 4, 10, 0, 0, 250000, tzinfo=UTC)
TRACE = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom'
MESSAGE = 'boom\n  File "looks/like/a/frame.py", line 2'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (T0, "2026-05-04T10:00:00.250000Z"),
        (datetime(2026, 5, 4, 10, 0), "2026-05-04T10:00:00.000000Z"),
        (
            datetime(2026, 5, 4, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
            "2026-05-04T10:00:00.000001Z",
        ),
    ],
)
def test_iso(value, text):
    """Timestamps are ISO 8601 UTC with microseconds."""
    assert serialize.iso(value) == text


def _step(**overrides):
    values = {
        "id": "s-1",
        "cluster_id": "c-1",
        "operation_id": None,
        "step_name": "Launching",
        "step_type": "creating",
        "position": 0,
        "completed": 3,
        "failed": 1,
        "total": 4,
        "successful": False,
        "status": "failed",
        "created_at": T0,
        "started_at": T0,
        "completed_at": T0 + timedelta(minutes=2),
        "updated_at": T0 + timedelta(minutes=2),
        "duration": 120.0,
    }
    values.update(overrides)
    return ProvisionStep(**values)


def _event(**overrides):
    values = {
        "id": "e-1",
        "cluster_id": "c-1",
        "provision_step_id": "s-1",
        "node_group_id": "ng",
        "instance_id": "i-1",
        "instance_name": "worker-1",
        "event_info": MESSAGE,
        "stacktrace": TRACE,
        "successful": False,
        "error_id": "err-1",
        "started_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(overrides)
    return ClusterEvent(**values)


def test_step_json_has_the_spec_fields_and_a_summary():
    """A step carries the spec's fields, the failed count and its summary."""
    body = serialize.step_json(_step(), now=T0)
    assert body["progress"] == "Launching failed: completed 3 out of 4, 1 failed in 2 minutes"
    assert body["completed_at"] == "2026-05-04T10:02:00.250000Z"
    assert "estimate" not in body


def test_running_step_summary_uses_no_duration():
    """A running step's summary counts without a duration."""
    body = serialize.step_json(
        _step(status="running", successful=None, completed_at=None, duration=None),
        now=T0 + timedelta(seconds=30),
        estimate={"seconds_left": 10.0},
    )
    assert body["progress"] == "Launching completed 3 out of 4, 1 failed"
    assert body["estimate"] == {"seconds_left": 10.0}


@pytest.mark.parametrize(
    ("tenant_key", "events", "keys"),
    [
        ("tenant_id", None, {"tenant_id"}),
        ("project_id", None, {"project_id"}),
        ("tenant_id", [], {"tenant_id", "events"}),
    ],
)
def test_sahara_step_json(tenant_key, events, keys):
    """Sahara's step has its own field set, with the tenant under v1.1's or v2's name."""
    body = serialize.sahara_step_json(
        _step(), tenant_id="t-1", tenant_key=tenant_key, events=events
    )
    common = {
        "id",
        "cluster_id",
        "step_name",
        "step_type",
        "total",
        "successful",
        "created_at",
        "updated_at",
    }
    assert set(body) == common | keys


@pytest.mark.parametrize(("admin", "stacktrace"), [(True, TRACE), (False, None)])
def test_event_json_shows_the_stack_to_admins_only(admin, stacktrace):
    """The stack is for admins only, in both vocabularies; the message is shown whole to all."""
    ours = serialize.event_json(_event(), show_stacktrace=admin)
    sahara = serialize.sahara_event_json(_event(), show_stacktrace=admin)
    for body in (ours, sahara):
        assert body["event_info"] == MESSAGE
        assert body["stacktrace"] == stacktrace
    assert sahara["step_id"] == "s-1"


def test_cluster_json_names_the_tenant_per_version():
    """The cluster's tenant is ``tenant_id`` in v1.1 and ``project_id`` in v2."""
    cluster = Cluster(
        id="c-1",
        name="hadoop",
        tenant_id="t-1",
        status="Active",
        status_description=None,
        created_at=T0,
        updated_at=T0,
    )
    assert serialize.cluster_json(cluster)["tenant_id"] == "t-1"
    assert serialize.cluster_json(cluster, tenant_key="project_id")["project_id"] == "t-1"
