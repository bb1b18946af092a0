"""The store and an OTLP receiver agree: progress from SQL equals progress from the spans."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import select

import otel_provlog
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.models import ProvisionStep
from otel_provlog.exporter.otlp_ingest import records_from_request
from otel_provlog.exporter.pipeline import configure
from otel_provlog.exporter.progress import StepProgress, progress_from_records
from otel_provlog.exporter.records import SpanRecord
from tests.otlp_receivers import GrpcReceiver, HttpReceiver

CLUSTER = "c-eq"
PLAN = {"creating": ["Launching", "Configuring"], "scaling": ["Launching new"]}


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GrpcReceiver | HttpReceiver]:
    """A real OTLP receiver, over gRPC and over HTTP."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", request.param)
    made = GrpcReceiver() if request.param == "grpc" else HttpReceiver()
    with made:
        yield made


def _from_store(database_url: str) -> list[tuple[Any, ...]]:
    engine = create_store_engine(database_url, writer=False)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(
                select(ProvisionStep)
                .where(ProvisionStep.cluster_id == CLUSTER)
                .order_by(ProvisionStep.created_at, ProvisionStep.id)
            ).all()
            return [
                astuple(
                    StepProgress(
                        id=row.id,
                        cluster_id=row.cluster_id,
                        step_name=row.step_name,
                        step_type=row.step_type,
                        operation_id=row.operation_id,
                        position=row.position,
                        completed=row.completed,
                        failed=row.failed,
                        total=row.total,
                        successful=row.successful,
                        status=row.status,
                        created_at=row.created_at,
                        started_at=row.started_at,
                        completed_at=row.completed_at,
                    )
                )
                for row in rows
            ]
    finally:
        engine.dispose()


def _from_receiver(receiver: GrpcReceiver | HttpReceiver) -> list[tuple[Any, ...]]:
    with receiver.lock:
        requests = list(receiver.items)
    records: list[SpanRecord] = []
    for request in requests:
        result = records_from_request(request)
        assert result.rejected == []
        records.extend(result.records)
    return [astuple(step) for step in progress_from_records(records).get(CLUSTER, [])]


class _Checker:
    """Flushes both paths and compares the two views of progress, counting checks."""

    def __init__(self, handle: Any, receiver: GrpcReceiver | HttpReceiver, url: str) -> None:
        self.handle = handle
        self.receiver = receiver
        self.url = url
        self.seen: list[list[tuple[Any, ...]]] = []

    def __call__(self, steps: int) -> None:
        assert self.handle.force_flush(30_000)
        assert self.handle.forwarding.force_flush(10_000)
        stored = _from_store(self.url)
        assert stored == _from_receiver(self.receiver)
        assert len(stored) == steps
        self.seen.append(stored)


def _instances(
    step: otel_provlog.Step, names: list[str], fail: set[str], pause: threading.Event | None
) -> Callable[[str], None]:
    def work(name: str) -> None:
        if pause is not None and name not in names[: len(names) // 2]:
            pause.wait(30)
        try:
            with step.event(instance_id=name, instance_name=name, node_group_id="workers"):
                if name in fail:
                    raise ConnectionError(f"{name}: ssh refused")
        except ConnectionError:
            pass

    return work


def test_store_and_receiver_agree_during_and_after_provisioning(
    receiver: GrpcReceiver | HttpReceiver,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Threads, failures and a scale-out: both views of progress match at every moment."""
    monkeypatch.chdir(tmp_path)
    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        drain="thread",
        database_url=database_url,
        spool_dir=str(tmp_path / "spool"),
        otlp_endpoint=receiver.endpoint,
    )
    assert handle.forwarding is not None
    check = _Checker(handle, receiver, database_url)
    workers = [f"w-{n}" for n in range(8)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            with otel_provlog.operation(
                CLUSTER, "creating", tenant_id="t", plan=PLAN, tracer_provider=provider
            ):
                with otel_provlog.step(
                    CLUSTER, "Launching", total=len(workers), tracer_provider=provider
                ) as step:
                    go_on = threading.Event()
                    work = _instances(step, workers, {"w-1", "w-6"}, go_on)
                    futures = [pool.submit(otel_provlog.bind(work), name) for name in workers]
                    for future in futures[:4]:
                        future.result(30)
                    check(steps=1)  # running, one failure already
                    go_on.set()
                    for future in futures:
                        future.result(30)
                    check(steps=1)  # every event in, the step span still open
                check(steps=1)  # ended, failed
                with otel_provlog.step(
                    CLUSTER, "Configuring", total=len(workers), tracer_provider=provider
                ) as step:
                    work = _instances(step, workers, set(), None)
                    list(pool.map(otel_provlog.bind(work), workers))
                check(steps=2)
            new = [f"w-{n}" for n in range(8, 12)]
            with (
                otel_provlog.operation(
                    CLUSTER, "scaling", tenant_id="t", plan=PLAN, tracer_provider=provider
                ),
                otel_provlog.step(
                    CLUSTER, "Launching new", total=len(new), tracer_provider=provider
                ) as step,
            ):
                check(steps=3)  # just started: the marker alone
                work = _instances(step, new, {"w-11"}, None)
                list(pool.map(otel_provlog.bind(work), new))
            check(steps=3)
    finally:
        handle.shutdown()
    final = check.seen[-1]
    assert [(row[2], row[5], row[6], row[7], row[10]) for row in final] == [
        ("Launching", 0, 6, 2, "failed"),
        ("Configuring", 1, 8, 0, "successful"),
        ("Launching new", 0, 3, 1, "failed"),
    ]
    assert len({row[4] for row in final}) == 2  # the creating and the scaling operation
    assert len({tuple(map(tuple, seen)) for seen in check.seen}) == len(check.seen)
