"""Scaling out, as far as one machine allows: many producers, two API replicas, one PostgreSQL.

As in ``docs/scaling-out.md``: engines on several "hosts" (processes with spools of their
own, each draining into the database with ``drain="process"``), engines in other languages
sending OTLP/HTTP to whichever replica a load balancer picks, and a Collector's retry
delivering one batch to both replicas at once. Both ``provlog serve`` replicas share one
PostgreSQL database and nothing else. Nothing may be lost or stored twice, and both
replicas must serve the same progress, during the run and after it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from sqlalchemy import func, select

import otel_provlog
from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.models import ClusterEvent, ProvisionStep
from otel_provlog.testing import capture_spans
from tests.conftest import DatabaseFactory
from tests.served_api import ServedApi, output_once_ended

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HOSTS = 3
ENGINE_INSTANCES = 40
OTLP_INSTANCES = 30
REPLAYED_EVENTS = 25
RUN_SECONDS = 180


@pytest.fixture
def postgresql_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new, migrated PostgreSQL database of the test session's server, dropped afterwards."""
    factory = DatabaseFactory("postgresql", tmp_path_factory.mktemp("scale-out"))
    try:
        url = factory.new_url()
        engine = create_store_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        factory.drop_all()


def _start(script: str, *args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _replayed_batch() -> bytes:
    """One OTLP/HTTP body: a whole creating operation of ``REPLAYED_EVENTS`` instances."""
    with capture_spans() as captured:
        provider = captured.tracer_provider
        with (
            otel_provlog.operation(
                "c-replayed", "creating", tenant_id="demo", tracer_provider=provider
            ),
            otel_provlog.step(
                "c-replayed", "Launching instances", total=REPLAYED_EVENTS, tracer_provider=provider
            ) as step,
        ):
            for n in range(REPLAYED_EVENTS):
                step.add_success(instance_id=f"i-{n}", instance_name=f"vm-{n}", node_group_id="ng")
        return bytes(encode_spans(captured.spans()).SerializeToString())


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(
        f"{url}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return int(response.status)


def _progress(api: ServedApi, cluster_id: str) -> list[tuple[str, int, int, Any, Any]] | None:
    status, body = api.get(f"/v1.1/demo/clusters/{cluster_id}", timeout=30)
    if status == 404:
        return None
    assert status == 200, body
    return [
        (s["step_name"], s["completed"], s["failed"], s["total"], s["successful"])
        for s in body["cluster"]["provisioning_progress"]
    ]


class AlternatingReader(threading.Thread):
    """Reads one cluster from each replica in turn while it is written; records what it saw."""

    def __init__(self, replicas: list[ServedApi], cluster_id: str) -> None:
        super().__init__(daemon=True)
        self.replicas = replicas
        self.cluster_id = cluster_id
        self.seen: list[tuple[int, int]] = []  # (replica, events counted)
        self.errors: list[BaseException] = []
        self.stop = threading.Event()

    def run(self) -> None:
        """Read until stopped; keep the first error."""
        turn = 0
        while not self.stop.is_set():
            try:
                progress = _progress(self.replicas[turn % 2], self.cluster_id) or []
                self.seen.append(
                    (turn % 2, sum(done + failed for _, done, failed, _, _ in progress))
                )
            except BaseException as error:  # reported by the test
                self.errors.append(error)
                return
            turn += 1
            time.sleep(0.05)


def test_producers_on_many_hosts_and_two_replicas_on_one_database(postgresql_url, tmp_path):
    """Spooled engines and OTLP senders over two replicas: all stored once, served alike."""
    env = {"PROVLOG_DATABASE_URL": postgresql_url, "PROVLOG_AUTH": "none"}
    with contextlib.ExitStack() as stack:
        replicas = [ServedApi(env, workers=2, cwd=tmp_path) for _ in range(2)]
        for replica in replicas:
            stack.enter_context(replica)
        reader = AlternatingReader(replicas, "c-host-0")
        reader.start()

        producers: list[subprocess.Popen[str]] = []
        for host in range(HOSTS):  # an engine per host, each with the spool of its host
            fail = ["--fail", "worker-7"] if host == 1 else []
            home = tmp_path / f"host-{host}"
            producers.append(
                _start(
                    "native_engine.py",
                    "--cluster-id",
                    f"c-host-{host}",
                    "--instances",
                    str(ENGINE_INSTANCES),
                    "--work-seconds",
                    "0.5",  # about 8 s in all: the readers see the steps advance
                    *fail,
                    env={**env, "PROVLOG_SPOOL_DIR": str(home / "spool")},
                    cwd=home,
                )
            )
        for index, replica in enumerate(replicas):  # OTLP senders, one behind each replica
            producers.append(
                _start(
                    "otlp_plain.py",
                    "--cluster-id",
                    f"c-otlp-{index}",
                    "--instances",
                    str(OTLP_INSTANCES),
                    env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{replica.url}/v1/traces"},
                    cwd=tmp_path / f"otlp-{index}",
                )
            )
        # A Collector's retry: the same batch reaches both replicas, twice, at the same time.
        body = _replayed_batch()
        answers: list[int] = []
        posts = [
            threading.Thread(target=lambda url=replica.url: answers.append(_post(url, body)))
            for replica in replicas * 2
        ]
        for post in posts:
            post.start()
        for post in posts:
            post.join(90)

        outputs = [output_once_ended(producer, RUN_SECONDS) for producer in producers]
        codes = [producer.returncode for producer in producers]
        reader.stop.set()
        reader.join(60)

        assert answers == [200] * 4
        assert codes == [0, 1, 0, 0, 0], outputs
        for output in outputs[:HOSTS]:
            assert "stored=True" in output, output
        assert not reader.errors, reader.errors
        engine_steps = ["Launching instances", "Waiting for ssh", "Configuring instances"]
        # Reads alternate between the replicas; neither ever shows less than the other had.
        counts = [count for _, count in reader.seen]
        assert {replica for replica, _ in reader.seen} == {0, 1}
        assert counts == sorted(counts), reader.seen
        assert counts[-1] == len(engine_steps) * ENGINE_INSTANCES
        assert len(set(counts)) > 2, reader.seen  # it did watch the steps advance

        expected: dict[str, list[tuple[str, int, int, Any, Any]]] = {
            f"c-host-{host}": [
                (name, ENGINE_INSTANCES, 0, ENGINE_INSTANCES, True) for name in engine_steps
            ]
            for host in range(HOSTS)
        }
        expected["c-host-1"][-1] = (
            engine_steps[-1],
            ENGINE_INSTANCES - 1,
            1,
            ENGINE_INSTANCES,
            False,
        )
        for index in range(2):
            expected[f"c-otlp-{index}"] = [
                (name, OTLP_INSTANCES, 0, OTLP_INSTANCES, True)
                for name in ("Launching instances", "Waiting for ssh")
            ]
        expected["c-replayed"] = [
            ("Launching instances", REPLAYED_EVENTS, 0, REPLAYED_EVENTS, True)
        ]
        for cluster_id, progress in expected.items():
            assert [_progress(replica, cluster_id) for replica in replicas] == [progress] * 2
        listed = [
            sorted(
                c["id"] for c in replica.get("/v2/clusters?limit=100", timeout=30)[1]["clusters"]
            )
            for replica in replicas
        ]
        assert listed == [sorted(expected)] * 2

    engine = create_store_engine(postgresql_url)
    with engine.connect() as connection:
        events = dict(
            connection.execute(
                select(ClusterEvent.cluster_id, func.count()).group_by(ClusterEvent.cluster_id)
            ).all()
        )
        steps = connection.execute(select(func.count()).select_from(ProvisionStep)).scalar()
    engine.dispose()
    assert events == {
        cluster_id: sum(done + failed for _, done, failed, _, _ in progress)
        for cluster_id, progress in expected.items()
    }
    assert steps == sum(len(progress) for progress in expected.values())
