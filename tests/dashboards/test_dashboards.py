"""The Grafana dashboards: their shape, their links, and every panel's SQL on a demo store.

The SQL runs on PostgreSQL and MariaDB (Grafana's SQL data sources; SQLite is none), with
Grafana's macros and the dashboard variables expanded by :mod:`tests.dashboards.grafana_sql`,
against a store holding a demo run, one interrupted operation and one stuck operation.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

import otel_provlog
from otel_provlog.cli import demo_simulation
from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.interruption import expire_stale_steps
from otel_provlog.exporter.records import record_from_span
from otel_provlog.exporter.writer import write_records
from otel_provlog.testing import SpanCapture, capture_spans
from tests.conftest import DatabaseFactory
from tests.dashboards.grafana_sql import MACROS, expand

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
PLUGINS = {"postgresql": "grafana-postgresql-datasource", "mysql": "mysql"}
FILES = sorted(DASHBOARDS.glob("*/*.json"))
PAGE_ROUTES = [  # the web page's URLs in the contract
    re.compile(r"^/$"),
    re.compile(r"^/clusters/[^/]+$"),
    re.compile(r"^/clusters/[^/]+/instances/[^/]+$"),
]
BUILT_IN = {"__data", "__value", "__url_time_range", "__interval", "__field", "__series"}
TRACING_PLUGINS = {"tempo", "jaeger"}
_VARIABLE = re.compile(r"\$\{(\w+)[^}]*\}|\$(\w+)")
DEMO_CLUSTER = "demo-dashboards"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards_build", DASHBOARDS / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _links(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from board["links"]
    for panel in board["panels"]:
        config = panel["fieldConfig"]
        yield from config["defaults"].get("links", [])
        for override in config["overrides"]:
            for prop in override["properties"]:
                if prop["id"] == "links":
                    yield from prop["value"]


def _variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in board["templating"]["list"]}


def test_the_dashboard_files_are_what_the_generator_writes():
    """Each committed JSON file is exactly build.py's output, and there is no other."""
    rendered = _build_module().render()
    on_disk = {str(path.relative_to(DASHBOARDS)): path.read_text("utf-8") for path in FILES}
    assert on_disk == rendered


def test_each_store_has_the_same_dashboards_but_for_the_data_source_type():
    """postgresql/ and mysql/ hold the same dashboards, which differ in the plugin type only."""
    names = {folder: {p.name for p in FILES if p.parent.name == folder} for folder in PLUGINS}
    assert (
        names["postgresql"]
        == names["mysql"]
        == {
            "provisioning-overview.json",
            "cluster-event-log.json",
        }
    )
    for name in names["mysql"]:
        postgresql = (DASHBOARDS / "postgresql" / name).read_text("utf-8")
        mysql = (DASHBOARDS / "mysql" / name).read_text("utf-8")
        assert postgresql.replace('"grafana-postgresql-datasource"', '"mysql"') == mysql


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_dashboard_structure(path):
    """Current schema, unique panel ids, every query on the store variable, nothing undefined."""
    board = _load(path)
    plugin = PLUGINS[path.parent.name]
    assert board["schemaVersion"] >= 41
    assert board["uid"]
    assert board["title"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) for i in ids)
    variables = _variables(board)
    store = variables["datasource"]
    assert (store["type"], store["query"]) == ("datasource", plugin)
    on_store = {"type": plugin, "uid": "${datasource}"}
    for panel in board["panels"]:
        assert panel["datasource"] == on_store, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == on_store, panel["title"]
            assert target["rawQuery"] is True, panel["title"]
            assert target["rawSql"].strip(), panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == on_store, variable["name"]
    used = {a or b for s in _strings(board) for a, b in _VARIABLE.findall(s)}
    macros = {name for name in used if name.startswith("__") and name not in BUILT_IN}
    assert not {name for name in used - macros - BUILT_IN if name not in variables}
    assert macros <= MACROS, macros


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_data_links_point_at_pages_dashboards_and_traces(path):
    """Links go to the web page's routes, to our dashboards or to a trace in Explore."""
    board = _load(path)
    variables = _variables(board)
    uids = {_load(other)["uid"] for other in FILES}
    links = list(_links(board))
    assert links
    seen = set()
    for link in links:
        url = link["url"]
        if url.startswith("${provlog_url}"):
            path_part = re.sub(r"\$\{[^}]+\}", "x", url.removeprefix("${provlog_url}"))
            assert any(route.match(path_part) for route in PAGE_ROUTES), url
            assert variables["provlog_url"]["type"] in ("textbox", "constant")
            seen.add("page")
        elif url.startswith("/d/"):
            assert url.split("/")[2].split("?")[0] in uids, url
            seen.add("dashboard")
        elif url.startswith("/explore?"):
            assert "${tracing}" in url, url
            assert "${__value.raw}" in url, url
            assert variables["tracing"]["type"] == "datasource"
            assert variables["tracing"]["query"] in TRACING_PLUGINS
            seen.add("trace")
        else:
            pytest.fail(f"a link to nowhere we know: {url}")
    assert {"page", "trace"} <= seen


def test_trace_links_open_the_row_trace_id_on_the_tracing_data_source():
    """The Explore link's pane names the tracing data source and the row's trace id."""
    from urllib.parse import parse_qs, urlsplit

    board = _load(DASHBOARDS / "postgresql" / "cluster-event-log.json")
    (url,) = {link["url"] for link in _links(board) if link["url"].startswith("/explore")}
    panes = json.loads(parse_qs(urlsplit(url).query)["panes"][0])
    (pane,) = panes.values()
    (query,) = pane["queries"]
    assert pane["datasource"] == query["datasource"]["uid"] == "${tracing}"
    assert query["query"] == "${__value.raw}"


def test_the_provisioning_files_load_the_dashboards_from_the_data_sources_they_define():
    """Data sources of both plugin types; a dashboard provider per store folder."""
    sources = yaml.safe_load((DASHBOARDS / "provisioning" / "datasources.yaml").read_text())
    types = {source["type"] for source in sources["datasources"]}
    assert set(PLUGINS.values()) <= types
    for source in sources["datasources"]:
        if source["type"] == "mysql":
            assert source["jsonData"]["timezone"] == "+00:00"  # the macros' FROM_UNIXTIME
    providers = yaml.safe_load((DASHBOARDS / "provisioning" / "dashboards.yaml").read_text())
    folders = {Path(p["options"]["path"]).name for p in providers["providers"]}
    assert folders == set(PLUGINS)


# --- the SQL, run on a demo store --------------------------------------------------------


def _store(capture: SpanCapture, url: str, taken: int) -> int:
    spans = capture.spans()
    records = [r for r in map(record_from_span, spans[taken:]) if r is not None]
    engine = create_store_engine(url)
    with session_factory(engine).begin() as session:
        write_records(session, records)
    engine.dispose()
    return len(spans)


def _unended(capture: SpanCapture, cluster_id: str) -> tuple[Any, Any]:
    operation = otel_provlog.start_operation(
        cluster_id,
        "creating",
        cluster_name=cluster_id,
        tenant_id="demo",
        tracer_provider=capture.tracer_provider,
    )
    step = otel_provlog.start_step(cluster_id, "Create Heat stack", total=1)
    return operation, step


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def demo_store(request, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A store on a server holding a demo run, an interrupted and a stuck operation."""
    factory = DatabaseFactory(request.param, tmp_path_factory.mktemp(request.param))
    url = factory.new_url()  # skips when the server's URL is not set
    engine = create_store_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    scenario = demo_simulation.Scenario(
        cluster_id=DEMO_CLUSTER,
        instances=40,
        scale_out=6,
        speed=0,
        failure_rate=0.3,
        workers=4,
        seed=14,
    )
    with capture_spans() as capture:
        demo_simulation.run(
            scenario, report=lambda _: None, tracer_provider=capture.tracer_provider
        )
        taken = _store(capture, url, 0)
        lost = _unended(capture, "c-interrupted")
        taken = _store(capture, url, taken)
        engine = create_store_engine(url)
        with session_factory(engine).begin() as session:
            assert expire_stale_steps(session, now=datetime.now(UTC), stale_after=0) == 2
        engine.dispose()
        stuck = _unended(capture, "c-stuck")
        _store(capture, url, taken)
        for operation, step in (stuck, lost):
            step.end()
            operation.end()  # not stored: the store keeps them as they were
    yield request.param, url
    factory.drop_all()


def _queries(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    for panel in _load(path)["panels"]:
        for target in panel["targets"]:
            yield panel, target["rawSql"]


def _run(url: str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name != "postgresql":
                connection.execute(text("SET time_zone = '+00:00'"))  # as the data source
            result = connection.exec_driver_sql(sql.replace("%", "%%"))
            return list(result.keys()), [tuple(row) for row in result]
    finally:
        engine.dispose()


def _needed_columns(panel: dict[str, Any]) -> set[str]:
    """The columns a panel names: in overrides, data links and its options."""
    needed = set()
    for override in panel["fieldConfig"]["overrides"]:
        if override["matcher"]["id"] == "byName":
            needed.add(override["matcher"]["options"])
    for value in _strings(panel["fieldConfig"]):
        needed.update(re.findall(r"__data\.fields\.(\w+)", value))
    if panel["type"] == "barchart":
        needed.add(panel["options"]["xField"])
    if panel["type"] == "bargauge":
        needed.add(panel["options"]["reduceOptions"]["fields"].strip("/^$"))
    return needed


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


VALUES = {
    "cluster": DEMO_CLUSTER,
    "stuck_minutes": "30",
    "provlog_url": "http://127.0.0.1:8080",
    "tracing": "tempo",
    "datasource": "store",
}


def _expanded(sql: str, dialect: str) -> str:
    """``sql`` as Grafana sends it for the last 6 hours to 2 hours ahead (stuck: 30 minutes)."""
    now = datetime.now(UTC)
    return expand(
        sql,
        dialect,
        start=now - timedelta(hours=6),
        end=now + timedelta(hours=2),
        variables=VALUES,
        interval="1m",
    )


def _dialect(backend: str) -> str:
    return "postgresql" if backend == "postgresql" else "mysql"


def _panel(demo_store: tuple[str, str], name: str, title: str) -> list[dict[str, Any]]:
    backend, url = demo_store
    dialect = _dialect(backend)
    (sql,) = [
        sql for panel, sql in _queries(DASHBOARDS / dialect / name) if panel["title"] == title
    ]
    columns, rows = _run(url, _expanded(sql, dialect))
    return [dict(zip(columns, row, strict=True)) for row in rows]


@pytest.mark.parametrize("name", ["provisioning-overview.json", "cluster-event-log.json"])
def test_every_panel_query_runs_and_returns_what_its_panel_shows(demo_store, name):
    """Each query succeeds, has its panel's columns, and the demo data fills it."""
    backend, url = demo_store
    dialect = _dialect(backend)
    for panel, sql in _queries(DASHBOARDS / dialect / name):
        columns, rows = _run(url, _expanded(sql, dialect))
        title = panel["title"]
        assert rows, f"{title}: no rows"
        assert _needed_columns(panel) <= set(columns), (title, columns)
        if panel["targets"][0]["format"] == "time_series":
            assert columns[:2] == ["time", "metric"], (title, columns)
            assert len(columns) == 3, (title, columns)
            assert all(row[0] is not None and _is_number(row[2]) for row in rows), title
            times = [
                float(row[0].timestamp()) if isinstance(row[0], datetime) else float(row[0])
                for row in rows
            ]
            assert times == sorted(times), f"{title}: not sorted by time"
        if panel["type"] == "stat":
            assert len(rows) == 1, (title, rows)
            assert _is_number(rows[0][0]), (title, rows)
        if panel["type"] == "bargauge":
            assert all(_is_number(row[columns.index("progress")]) for row in rows), title


def test_the_cluster_variable_lists_every_cluster_newest_first(demo_store):
    """The ``cluster`` variable's query gives each cluster's id, the latest news first."""
    backend, url = demo_store
    dialect = _dialect(backend)
    board = _load(DASHBOARDS / dialect / "cluster-event-log.json")
    columns, rows = _run(url, _expanded(_variables(board)["cluster"]["query"], dialect))
    assert columns == ["id"]
    assert [row[0] for row in rows] == ["c-stuck", "c-interrupted", DEMO_CLUSTER]


def test_stuck_and_interrupted_clusters_are_listed_and_healthy_ones_are_not(demo_store):
    """An operation without news for the chosen minutes is stuck; an expired one interrupted."""
    rows = _panel(demo_store, "provisioning-overview.json", "Clusters stuck or interrupted")
    assert sorted((r["cluster_id"], r["problem"], r["operation"]) for r in rows) == [
        ("c-interrupted", "interrupted", "creating"),
        ("c-stuck", "stuck", "creating"),
    ]
    assert all(len(r["trace_id"]) == 32 for r in rows)


def test_step_durations_have_a_median_within_p95_within_the_longest_run(demo_store):
    """Each step name of the demo has its runs, median <= p95 <= max."""
    rows = _panel(demo_store, "provisioning-overview.json", "Step durations by step name")
    assert {r["step_name"] for r in rows} == set(demo_simulation.CREATING_STEPS)
    for row in rows:
        longest = row["max_seconds"] * (1 + 1e-5)  # MariaDB: FLOAT, MAX() to 6 digits
        assert 0 <= row["median_seconds"] <= row["p95_seconds"] <= longest, row
    runs = {r["step_name"]: r["runs"] for r in rows}
    assert runs["Configure YARN"] == 1
    assert runs["Configure HDFS"] == 2  # created, then scaled


def test_failed_events_carry_their_error_ids_and_the_page_link_fields(demo_store):
    """Every failed event of the cluster is listed once, with error id, instance and trace."""
    rows = _panel(demo_store, "cluster-event-log.json", "Failed events")
    steps = _panel(demo_store, "cluster-event-log.json", "Steps")
    assert len(rows) == sum(step["failed"] for step in steps) > 0
    assert len({r["error_id"] for r in rows}) == len(rows)
    assert all(r["cluster_id"] == DEMO_CLUSTER and r["instance_id"] for r in rows)
    assert {r["step_name"] for r in rows} <= {
        "Wait for instance accessibility",
        "Start Hadoop services",
    }
    assert all("Traceback" not in r["message"] for r in rows)  # stacks stay off panels
    for step in steps:  # the demo retries failed instances: every step completes
        done, total = step["progress"].split(" / ")
        assert done == total, step


def test_failure_groups_are_the_groups_of_the_api(demo_store):
    """The event log's groups are page_failure_groups' (the API's and the page's), counts too."""
    from otel_provlog.exporter.failure_groups import page_failure_groups

    _backend, url = demo_store
    rows = _panel(demo_store, "cluster-event-log.json", "Failure groups")
    engine = create_store_engine(url, writer=False)
    try:
        with session_factory(engine)() as session:
            groups = page_failure_groups(session, DEMO_CLUSTER).items
    finally:
        engine.dispose()
    assert [(r["error_fingerprint"], r["failures"]) for r in rows] == [
        (g.fingerprint, g.count) for g in groups
    ]
    assert [r["error_pattern"] for r in rows] == [g.pattern for g in groups]
    failed = _panel(demo_store, "cluster-event-log.json", "Failed events")
    assert len(rows) < len(failed)  # the demo's failures have two causes, many instances
    assert sum(r["failures"] for r in rows) == len(failed)
    across = _panel(demo_store, "provisioning-overview.json", "Most frequent failure groups")
    assert {(r["error_fingerprint"], r["failures"], r["clusters"]) for r in across} == {
        (g.fingerprint, g.count, 1) for g in groups
    }
