"""The store path while the database is down: nothing lost, nothing doubled, nobody waits."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from otel_provlog import attributes as attr
from otel_provlog.cli.commands import provlog
from otel_provlog.exporter import spool
from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.metrics import install_metrics, snapshot
from otel_provlog.exporter.models import ClusterEvent, ProvisionStep
from otel_provlog.exporter.pipeline import StorePath, configure
from otel_provlog.exporter.processor import Counters

EXITING_CHILD = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from otel_provlog.exporter.pipeline import configure

url, spool_dir, drain = sys.argv[1:4]
provider = TracerProvider()
configure(tracer_provider=provider, database_url=url, spool_dir=spool_dir, drain=drain,
          shutdown_timeout_millis=1000, linger=1)
tracer = provider.get_tracer("child")
step = {"provisioning.span": "step", "provisioning.cluster.id": "c-exit",
        "provisioning.step.name": "Waiting for ssh", "provisioning.step.type": "creating"}
with tracer.start_as_current_span("Waiting for ssh", attributes=step):
    for n in range(100):
        tracer.start_span("e", attributes={
            "provisioning.span": "event", "provisioning.cluster.id": "c-exit",
            "provisioning.instance.id": f"i-{n}"}).end()
"""


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 that a test can stop (refusing, cutting) and restart."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Listen and forward until stopped."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


class Outage:
    """A store that can be taken down and brought back, on any backend."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        url = make_url(database_url)
        self.proxy: TcpProxy | None = None
        if url.get_backend_name() == "sqlite":
            # Down: the directory of the file does not exist yet. Back: it does.
            self._directory = tmp_path / "later"
            self.url = f"sqlite:///{self._directory / 'store.db'}"
            self.check_url = self.url
        else:
            default = 5432 if url.get_backend_name() == "postgresql" else 3306
            self.proxy = TcpProxy(url.host or "127.0.0.1", url.port or default)
            self.url = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
                hide_password=False
            )
            self.check_url = database_url

    def down(self) -> None:
        """Take the store away."""
        if self.proxy is not None:
            self.proxy.stop()

    def back(self) -> None:
        """Bring the store back."""
        if self.proxy is not None:
            self.proxy.start()
        else:
            self._directory.mkdir(exist_ok=True)

    def counts(self, cluster: str) -> tuple[int, int, int]:
        """Return (steps, events, the step's completed count) of ``cluster``."""
        with contextlib.suppress(Exception):
            engine = create_store_engine(self.check_url, writer=False)
            try:
                with engine.connect() as connection:
                    steps = connection.execute(
                        select(
                            func.count(), func.coalesce(func.sum(ProvisionStep.completed), 0)
                        ).where(ProvisionStep.cluster_id == cluster)
                    ).one()
                    events = connection.execute(
                        select(func.count()).where(ClusterEvent.cluster_id == cluster)
                    ).scalar_one()
                    return int(steps[0]), int(events), int(steps[1])
            finally:
                engine.dispose()
        return 0, 0, 0


@pytest.fixture
def outage(database_url, tmp_path, monkeypatch):
    """A store that starts down."""
    monkeypatch.chdir(tmp_path)
    store = Outage(database_url, tmp_path)
    yield store
    store.down()


def _configure(url: str, tmp_path, **options) -> StorePath:
    handle = configure(
        tracer_provider=TracerProvider(shutdown_on_exit=False),
        database_url=url,
        spool_dir=str(tmp_path / "spool"),
        **options,
    )
    assert isinstance(handle, StorePath)
    return handle


def _emit(store: StorePath, cluster: str, count: int) -> list[float]:
    tracer = store.tracer_provider.get_tracer("test")
    step = {
        attr.SPAN_KIND: attr.SPAN_STEP,
        attr.CLUSTER_ID: cluster,
        attr.TENANT_ID: "t-1",
        attr.STEP_NAME: "Launching instances",
        attr.STEP_TYPE: "creating",
        attr.STEP_TOTAL: count,
    }
    costs = []
    with tracer.start_as_current_span("Launching instances", attributes=step):
        tracer.start_span("started", attributes={**step, attr.SPAN_KIND: "step.start"}).end()
        for n in range(count):
            event = {
                attr.SPAN_KIND: attr.SPAN_EVENT,
                attr.CLUSTER_ID: cluster,
                attr.INSTANCE_ID: f"i-{n}",
                attr.INSTANCE_NAME: f"worker-{n}",
            }
            started = time.perf_counter()
            with tracer.start_as_current_span("event", attributes=event):
                pass
            costs.append(time.perf_counter() - started)
    return costs


@pytest.mark.parametrize("drain", ["process", "thread"])
def test_database_down_then_back_loses_and_doubles_nothing(outage, tmp_path, drain):
    """Spans made while the store is down wait on disk and are stored exactly once after."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    store = _configure(outage.url, tmp_path, drain=drain, linger=2)
    try:
        costs = _emit(store, cluster, 500)
        assert sum(costs) / len(costs) < 0.001  # the instrumented thread never waits
        # A span may wait for the GIL (a drain thread, a loaded machine), not for a store.
        assert max(costs) < 1.0
        time.sleep(1.0)
        assert store.force_flush(timeout_millis=100) is False
        assert outage.counts(cluster) == (0, 0, 0)
        assert sum(s.path.stat().st_size for s in spool.list_segments(store.spool_dir)) > 0
        outage.back()
        assert store.force_flush(timeout_millis=30_000)
        assert outage.counts(cluster) == (1, 500, 500)
        assert store.counters().appended == 502
    finally:
        store.shutdown(timeout_millis=1000)


def test_shutdown_is_bounded_while_the_database_is_down(outage, tmp_path):
    """shutdown() returns within its bound; the next configure() stores the rest once."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    store = _configure(outage.url, tmp_path, linger=1)
    _emit(store, cluster, 100)
    started = time.monotonic()
    store.shutdown(timeout_millis=500)
    assert time.monotonic() - started < 1.5
    assert spool.list_segments(tmp_path / "spool")
    outage.back()
    again = _configure(outage.url, tmp_path)
    try:
        assert again.force_flush(timeout_millis=30_000)
        assert outage.counts(cluster) == (1, 100, 100)
    finally:
        again.shutdown()


@pytest.mark.parametrize("drain", ["process", "thread"])
def test_a_program_exits_promptly_while_the_database_is_down(outage, tmp_path, drain):
    """A program whose store is down still exits within the shutdown bound, spans kept."""
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", EXITING_CHILD, outage.url, str(tmp_path / "spool"), drain],
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0
    assert time.monotonic() - started < 8
    outage.back()
    store = _configure(outage.url, tmp_path)
    try:
        assert store.force_flush(timeout_millis=30_000)
        assert outage.counts("c-exit") == (1, 100, 100)
    finally:
        store.shutdown()


@pytest.mark.parametrize("drain", ["process", "thread"])
def test_retries_while_the_database_is_down_are_counted(outage, tmp_path, drain):
    """Each attempt after a failed one counts its spans as retried; each span is stored once."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    store = _configure(outage.url, tmp_path, drain=drain, linger=2)
    try:
        install_metrics(store, meter_provider=meters)
        _emit(store, cluster, 50)
        deadline = time.monotonic() + 60
        while store.counters().retried < 2 * 52:  # two attempts after the first at least
            assert time.monotonic() < deadline, store.counters()
            time.sleep(0.1)
        assert outage.counts(cluster) == (0, 0, 0)
        outage.back()
        assert store.force_flush(timeout_millis=30_000)
        assert outage.counts(cluster) == (1, 50, 50)
        stored = _reported(store, written=52)
        assert (stored.appended, stored.written, stored.duplicates) == (52, 52, 0)
        assert stored.retried >= 2 * 52
        _emit(store, f"{cluster}-later", 10)  # the store is up: no more retries
        assert store.force_flush(timeout_millis=30_000)
        later = _reported(store, written=64)
        assert (later.written, later.retried) == (64, stored.retried)
        assert _store_points(reader)["retried"] == later.retried
        assert snapshot(store)["store"]["retried"] == later.retried
    finally:
        store.shutdown(timeout_millis=1000)
        meters.shutdown()
    arguments = ["stats", "--database-url", outage.url, "--spool-dir", str(tmp_path / "spool")]
    result = CliRunner().invoke(provlog, [*arguments, "-f", "json"])
    assert result.exit_code == 0, result.output
    (process,) = json.loads(result.output)["processes"]
    assert (process["store"]["written"], process["store"]["retried"]) == (64, later.retried)
    table = CliRunner().invoke(provlog, arguments)
    assert f"retried {later.retried}" in table.output


def _reported(store: StorePath, *, written: int) -> Counters:
    """Return the counters once the drain reported ``written`` spans (a process reports late)."""
    deadline = time.monotonic() + 30
    while (counters := store.counters()).written < written:
        assert time.monotonic() < deadline, counters
        time.sleep(0.05)
    return counters


def _store_points(reader: InMemoryMetricReader) -> dict[str, int]:
    """Return outcome -> value of ``provlog.store.spans`` as the reader collects it."""
    found: dict[str, int] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == "provlog.store.spans":
                    for point in metric.data.data_points:
                        found[str(point.attributes["outcome"])] = int(point.value)
    return found
