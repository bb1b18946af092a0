"""configure() end to end on every backend: live, durable across kill -9, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import func, select

from otel_provlog import attributes as attr
from otel_provlog.exporter import spool
from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.models import ClusterEvent, ProvisionStep
from otel_provlog.exporter.pipeline import NoopStorePath, StorePath, configure

CHILD = """
import sys, time
from opentelemetry.sdk.trace import TracerProvider
from otel_provlog.exporter.pipeline import configure

url, spool_dir, drain, cluster, count = sys.argv[1:6]
provider = TracerProvider()
store = configure(
    tracer_provider=provider, database_url=url, spool_dir=spool_dir, drain=drain, linger=20
)
tracer = provider.get_tracer("child")
step = {
    "provisioning.span": "step", "provisioning.cluster.id": cluster,
    "provisioning.tenant.id": "t-1", "provisioning.step.name": "Waiting for ssh",
    "provisioning.step.type": "creating", "provisioning.step.total": int(count),
}
with tracer.start_as_current_span("Waiting for ssh", attributes=step):
    tracer.start_span("started", attributes={**step, "provisioning.span": "step.start"}).end()
    for n in range(int(count)):
        with tracer.start_as_current_span("event", attributes={
            "provisioning.span": "event", "provisioning.cluster.id": cluster,
            "provisioning.node_group.id": "ng-1", "provisioning.instance.id": f"i-{n}",
            "provisioning.instance.name": f"worker-{n}",
        }):
            pass
    if sys.argv[6:] == ["flush"]:
        assert store.force_flush(60_000)
        store.shutdown()
        sys.exit(0)
    print("ended", flush=True)
    time.sleep(120)
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run from tmp_path, so no process started here sees the source tree."""
    monkeypatch.chdir(tmp_path)


def _step(cluster: str, total: int = 0) -> dict[str, object]:
    return {
        attr.SPAN_KIND: attr.SPAN_STEP,
        attr.CLUSTER_ID: cluster,
        attr.TENANT_ID: "t-1",
        attr.STEP_NAME: "Launching instances",
        attr.STEP_TYPE: "creating",
        attr.STEP_TOTAL: total,
    }


def _event(cluster: str, n: int) -> dict[str, object]:
    return {
        attr.SPAN_KIND: attr.SPAN_EVENT,
        attr.CLUSTER_ID: cluster,
        attr.NODE_GROUP_ID: "ng-1",
        attr.INSTANCE_ID: f"i-{n}",
        attr.INSTANCE_NAME: f"worker-{n}",
    }


def _counts(url: str, cluster: str) -> tuple[int, int]:
    engine = create_store_engine(url, writer=False)
    try:
        with engine.connect() as connection:
            steps = connection.execute(
                select(func.count()).where(ProvisionStep.cluster_id == cluster)
            ).scalar_one()
            events = connection.execute(
                select(func.count()).where(ClusterEvent.cluster_id == cluster)
            ).scalar_one()
    finally:
        engine.dispose()
    return steps, events


def _wait_for(url: str, cluster: str, expected: tuple[int, int], timeout: float) -> float:
    started = time.monotonic()
    while _counts(url, cluster) != expected:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{_counts(url, cluster)} != {expected} after {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


def _configure(url: str, tmp_path, **options) -> StorePath:
    provider = TracerProvider(shutdown_on_exit=False)
    options.setdefault("linger", 5)
    handle = configure(
        tracer_provider=provider, database_url=url, spool_dir=str(tmp_path / "spool"), **options
    )
    assert isinstance(handle, StorePath)
    return handle


def _child(url: str, tmp_path, drain: str, cluster: str, count: int, *extra: str):
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            url,
            str(tmp_path / "spool"),
            drain,
            cluster,
            str(count),
            *list(extra),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
    )


def _kill_when_ended(child: subprocess.Popen[bytes]) -> None:
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == b"ended\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()


def test_events_are_live_within_a_second_without_flush(database_url, tmp_path):
    """A running step shows at once, then each event within a second of ending, unflushed."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    store = _configure(database_url, tmp_path)
    tracer = store.tracer_provider.get_tracer("test")
    try:
        with tracer.start_as_current_span("Launching instances", attributes=_step(cluster, 5)):
            marker = {**_step(cluster, 5), attr.SPAN_KIND: attr.SPAN_STEP_START}
            tracer.start_span("started", attributes=marker).end()
            _wait_for(database_url, cluster, (1, 0), timeout=30)  # includes the drain's start
            for n in range(5):
                with tracer.start_as_current_span("event", attributes=_event(cluster, n)):
                    pass
                assert _wait_for(database_url, cluster, (1, n + 1), timeout=5) < 1.0
        assert store.force_flush(10_000)
        counters = store.counters()
        assert (counters.appended, counters.dropped) == (7, 0)
    finally:
        store.shutdown()


def test_events_made_at_full_speed_are_stored_while_their_step_runs(database_url, tmp_path):
    """Thousands of events made at full speed are all stored while their step still runs.

    Nothing waits for the step's end; how fast they arrive is measured by ``bench/``
    (freshness and the burst).
    """
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    store = _configure(database_url, tmp_path)
    tracer = store.tracer_provider.get_tracer("test")
    try:
        with tracer.start_as_current_span("Launching instances", attributes=_step(cluster)):
            marker = {**_step(cluster), attr.SPAN_KIND: attr.SPAN_STEP_START}
            tracer.start_span("started", attributes=marker).end()
            _wait_for(database_url, cluster, (1, 0), timeout=30)
            for n in range(3000):
                with tracer.start_as_current_span("event", attributes=_event(cluster, n)):
                    pass
            _wait_for(database_url, cluster, (1, 3000), timeout=60)
            assert _step_status(database_url, cluster, "running", timeout=0) == "running"
    finally:
        store.shutdown()


def _step_status(url: str, cluster: str, expected: str, timeout: float) -> str:
    """Wait up to ``timeout`` seconds for the cluster's step to reach ``expected``."""
    engine = create_store_engine(url, writer=False)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as connection:
                status = connection.execute(
                    select(ProvisionStep.status).where(ProvisionStep.cluster_id == cluster)
                ).scalar_one()
            if status == expected or time.monotonic() > deadline:
                return str(status)
            time.sleep(0.02)
    finally:
        engine.dispose()


@pytest.mark.parametrize("drain", ["none", "process"])
def test_spans_of_a_killed_process_reach_the_store(database_url, tmp_path, drain):
    """After kill -9: every span is stored once, and the open step is interrupted at once."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    _kill_when_ended(_child(database_url, tmp_path, drain, cluster, 200))
    if drain == "process":  # its drain process outlived it
        _wait_for(database_url, cluster, (1, 200), timeout=30)
    store = _configure(database_url, tmp_path)
    try:
        assert store.force_flush(30_000)
        assert _counts(database_url, cluster) == (1, 200)
        assert list((tmp_path / "spool").glob("*.seg")) == []
        assert list((tmp_path / "spool").glob("*.reserve")) == []  # the dead child's is gone
        assert _step_status(database_url, cluster, "interrupted", timeout=10) == "interrupted"
    finally:
        store.shutdown()


def test_processes_write_one_store_while_a_reader_reads(database_url, tmp_path):
    """Four processes with drains of their own fill one store; a reader reads throughout."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                database_url,
                str(tmp_path / f"spool-{n}"),
                "process",
                f"{cluster}-{n}",
                "150",
                "flush",
            ],
            cwd=tmp_path,
        )
        for n in range(4)
    ]
    reads = 0
    while any(child.poll() is None for child in children):
        _counts(database_url, f"{cluster}-0")
        reads += 1
    assert [child.wait(timeout=60) for child in children] == [0, 0, 0, 0]
    assert reads > 0
    for n in range(4):
        assert _counts(database_url, f"{cluster}-{n}") == (1, 150)


def test_disabled_attaches_nothing(tmp_path):
    """With recording off configure() returns a no-op handle and adds no processor."""
    provider = TracerProvider(shutdown_on_exit=False)
    handle = configure(tracer_provider=provider, enabled=False, spool_dir=str(tmp_path / "s"))
    assert isinstance(handle, NoopStorePath)
    assert handle.force_flush() is True
    handle.shutdown()
    assert provider._active_span_processor._span_processors == ()
    assert not (tmp_path / "s").exists()


def test_configure_is_idempotent_and_checks_its_arguments(tmp_path):
    """Configuring the same provider and spool twice returns one handle; bad options raise."""
    provider = TracerProvider(shutdown_on_exit=False)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first = configure(tracer_provider=provider, database_url=url, spool_dir="s", drain="none")
    try:
        again = configure(tracer_provider=provider, database_url=url, spool_dir="s", drain="none")
        assert again is first
        assert first.spool_dir == tmp_path / "s"
        assert first.settings.database_url == url
    finally:
        first.shutdown()
    with pytest.raises(ValueError, match="drain"):
        configure(tracer_provider=provider, drain="fork")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown setting"):
        configure(tracer_provider=provider, colour="blue")


def test_relative_sqlite_paths_are_made_absolute(tmp_path):
    """A relative SQLite URL names the same file for the drain, wherever it runs."""
    provider = TracerProvider(shutdown_on_exit=False)
    handle = configure(tracer_provider=provider, database_url="sqlite:///rel.db", drain="none")
    try:
        assert handle.settings.database_url == f"sqlite:///{tmp_path / 'rel.db'}"
        assert handle.spool_dir == spool.default_spool_dir(handle.settings.database_url)
    finally:
        handle.shutdown()


GLOBAL_PROVIDER = """
import sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
import otel_provlog

preset = TracerProvider() if sys.argv[2] == "preset" else None
if preset is not None:
    trace.set_tracer_provider(preset)
store = otel_provlog.configure(database_url=sys.argv[1], spool_dir="spool", drain="none")
assert store.tracer_provider is trace.get_tracer_provider()
assert preset is None or store.tracer_provider is preset
assert otel_provlog.configure(database_url=sys.argv[1], spool_dir="spool", drain="none") is store
store.shutdown()
"""


@pytest.mark.parametrize("preset", ["preset", "unset"])
def test_configure_uses_or_installs_the_global_provider(tmp_path, preset):
    """Without a provider, configure() attaches to the global SDK one, or installs its own."""
    child = subprocess.run(
        [sys.executable, "-c", GLOBAL_PROVIDER, f"sqlite:///{tmp_path / 's.db'}", preset],
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0


def test_silent_steps_are_marked_interrupted(database_url, tmp_path):
    """A step whose process went silent is marked interrupted after stale_after."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    store = _configure(database_url, tmp_path, drain="thread", stale_after=1.0)
    try:
        tracer = store.tracer_provider.get_tracer("test")
        step = tracer.start_span("Launching instances", attributes=_step(cluster, 3))
        marker = {**_step(cluster, 3), attr.SPAN_KIND: attr.SPAN_STEP_START}
        with trace.use_span(step):
            tracer.start_span("started", attributes=marker).end()
        assert store.force_flush(10_000)
        engine = create_store_engine(database_url, writer=False)
        deadline = time.monotonic() + 15
        status = None
        while status != "interrupted" and time.monotonic() < deadline:
            time.sleep(0.2)
            with engine.connect() as connection:
                status = connection.execute(
                    select(ProvisionStep.status).where(ProvisionStep.cluster_id == cluster)
                ).scalar_one()
        engine.dispose()
        assert status == "interrupted"
    finally:
        store.shutdown()


def test_the_instrumentation_api_end_to_end(database_url, tmp_path):
    """otel_provlog.configure() plus operation/step/event: steps and events land in the store."""
    import otel_provlog

    cluster = f"c-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(shutdown_on_exit=False)
    store = otel_provlog.configure(
        tracer_provider=provider, database_url=database_url, spool_dir=str(tmp_path / "spool")
    )
    try:
        with (
            otel_provlog.operation(cluster, "creating", tenant_id="t-1", tracer_provider=provider),
            otel_provlog.step(cluster, "Launching instances", 3, tracer_provider=provider) as s,
        ):
            for n in range(2):
                with s.event(instance_id=f"i-{n}", instance_name=f"worker-{n}"):
                    pass
            with (
                pytest.raises(RuntimeError),
                s.event(instance_id="i-2", instance_name="worker-2"),
            ):
                raise RuntimeError("no ssh")
        assert store.force_flush(30_000)
        engine = create_store_engine(database_url, writer=False)
        with engine.connect() as connection:
            row = connection.execute(
                select(
                    ProvisionStep.completed, ProvisionStep.failed, ProvisionStep.successful
                ).where(ProvisionStep.cluster_id == cluster)
            ).one()
            stored_ids = (
                connection.execute(
                    select(ProvisionStep.id).where(ProvisionStep.cluster_id == cluster)
                )
                .scalars()
                .all()
            )
        engine.dispose()
        assert tuple(row) == (2, 1, False)
        assert _counts(database_url, cluster) == (1, 3)
        assert stored_ids == [s.id]
    finally:
        store.shutdown()


def test_sahara_step_ids_are_the_stored_ids(database_url, tmp_path):
    """The id add_provisioning_step returns is the id of the stored step row (and the API's)."""
    import otel_provlog
    from otel_provlog import sahara

    cluster = f"c-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(shutdown_on_exit=False)
    store = otel_provlog.configure(
        tracer_provider=provider, database_url=database_url, spool_dir=str(tmp_path / "spool")
    )
    try:
        with otel_provlog.operation(cluster, "creating", tracer_provider=provider):
            step_id = sahara.add_provisioning_step(cluster, "Wait for ssh", 1)
            assert sahara.get_current_provisioning_step(cluster) == step_id
        assert store.force_flush(30_000)
        engine = create_store_engine(database_url, writer=False)
        with engine.connect() as connection:
            stored = connection.execute(
                select(ProvisionStep.id, ProvisionStep.step_name).where(
                    ProvisionStep.cluster_id == cluster
                )
            ).all()
        engine.dispose()
        assert [tuple(r) for r in stored] == [(step_id, "Wait for ssh")]
    finally:
        store.shutdown()


def test_a_killed_drain_process_is_replaced(database_url, tmp_path):
    """When the drain process dies, another one starts and stores what waited."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    store = _configure(database_url, tmp_path)
    try:
        first = store.drain_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        tracer = store.tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("Launching instances", attributes=_step(cluster, 3)):
            for n in range(3):
                with tracer.start_as_current_span("event", attributes=_event(cluster, n)):
                    pass
        assert store.force_flush(30_000)
        assert _counts(database_url, cluster) == (1, 3)
        assert store.drain_pid not in (None, first)
    finally:
        store.shutdown()


def test_otlp_forwarding_is_attached_and_bounded(tmp_path):
    """With an OTLP endpoint the handle forwards too, and a dead receiver delays nothing long."""
    store = _configure(
        f"sqlite:///{tmp_path / 's.db'}", tmp_path, drain="none", otlp_endpoint="http://127.0.0.1:9"
    )
    assert store.forwarding is not None
    tracer = store.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("Launching instances", attributes=_step("c-f")):
        pass
    started = time.monotonic()
    store.force_flush(timeout_millis=500)
    store.shutdown(timeout_millis=1000)
    assert time.monotonic() - started < 3
    assert store.counters().appended == 1
