"""Write the Grafana dashboards of ``dashboards/`` from the panels and SQL below.

Run ``python dashboards/build.py`` after changing this file; ``tests/test_dashboards.py``
fails while a committed JSON file differs from what this writes. Standard library only.

One SQL text serves both stores: it is written in the SQL that PostgreSQL and MariaDB/MySQL
share, with Grafana's macros for the time range. Only the data-source variable differs (a
Grafana data-source variable lists data sources of one plugin type), so each dashboard is
written twice, to ``postgresql/`` and ``mysql/``, the same but for that one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

HERE: Final = Path(__file__).resolve().parent
SCHEMA_VERSION: Final = 41
"""The dashboard JSON version of Grafana 11.6 (12.x migrates it on load)."""
PLUGINS: Final = {"postgresql": "grafana-postgresql-datasource", "mysql": "mysql"}
"""The Grafana data-source plugin of each folder's dashboards."""
TRACING_PLUGIN: Final = "tempo"
"""The plugin type the ``tracing`` variable lists (``jaeger`` for Jaeger)."""
OVERVIEW_UID: Final = "provlog-overview"
EVENT_LOG_UID: Final = "provlog-cluster-event-log"

Json = dict[str, Any]

# --- SQL: the same text on PostgreSQL and MariaDB/MySQL -----------------------------------
# Portable forms used throughout: ORDER BY/GROUP BY by position (MySQL reads ORDER BY "time"
# as a string constant), CASE instead of boolean aggregates (MySQL booleans are TINYINT),
# NULLIF(x, 0) under every division, CONCAT() for text, `t + INTERVAL 'n' MINUTE` for time
# arithmetic, percentiles by ROW_NUMBER() (neither has one percentile function of the other).

RUNNING_OPERATIONS = (
    "SELECT COUNT(*) AS running_operations FROM cluster_operations WHERE status = 'running'"
)
RUNNING_STEPS = "SELECT COUNT(*) AS running_steps FROM provision_steps WHERE status = 'running'"
OPERATION_SUCCESS = """\
SELECT 100.0 * SUM(CASE WHEN status = 'successful' THEN 1 ELSE 0 END)
       / NULLIF(COUNT(*), 0) AS success_rate
FROM cluster_operations
WHERE status <> 'running' AND $__timeFilter(completed_at)"""
EVENT_SUCCESS = """\
SELECT 100.0 * SUM(completed) / NULLIF(SUM(completed) + SUM(failed), 0) AS event_success_rate
FROM provision_steps
WHERE $__timeFilter(updated_at)"""
STARTED_PER_HOUR = """\
SELECT $__timeGroupAlias(started_at, '1h'), step_type AS metric, COUNT(*) AS started
FROM cluster_operations
WHERE $__timeFilter(started_at)
GROUP BY 1, 2
ORDER BY 1"""
FINISHED_PER_HOUR = """\
SELECT $__timeGroupAlias(completed_at, '1h'), status AS metric, COUNT(*) AS finished
FROM cluster_operations
WHERE status <> 'running' AND $__timeFilter(completed_at)
GROUP BY 1, 2
ORDER BY 1"""
STEP_DURATIONS = """\
SELECT step_name,
       COUNT(*) AS runs,
       MAX(CASE WHEN run = CEIL(0.5 * runs_of_step) THEN duration END) AS median_seconds,
       MAX(CASE WHEN run = CEIL(0.95 * runs_of_step) THEN duration END) AS p95_seconds,
       MAX(duration) AS max_seconds
FROM (
  SELECT step_name, duration,
         ROW_NUMBER() OVER (PARTITION BY step_name ORDER BY duration) AS run,
         COUNT(*) OVER (PARTITION BY step_name) AS runs_of_step
  FROM provision_steps
  WHERE duration IS NOT NULL AND $__timeFilter(completed_at)
) ranked
GROUP BY step_name
ORDER BY 4 DESC"""
SLOWEST_STEPS = """\
SELECT s.cluster_id, c.name AS cluster_name, s.step_name, s.step_type, s.status,
       s.duration AS duration_seconds, s.started_at, s.completed_at
FROM provision_steps s
JOIN clusters c ON c.id = s.cluster_id
WHERE s.duration IS NOT NULL AND $__timeFilter(s.completed_at)
ORDER BY s.duration DESC
LIMIT 10"""
FAILING_STEPS = """\
SELECT step_name,
       SUM(failed) AS failed_events,
       SUM(CASE WHEN status IN ('failed', 'interrupted') THEN 1 ELSE 0 END) AS failed_runs,
       COUNT(*) AS runs,
       COUNT(DISTINCT cluster_id) AS clusters
FROM provision_steps
WHERE $__timeFilter(updated_at)
GROUP BY step_name
HAVING SUM(failed) > 0 OR SUM(CASE WHEN status IN ('failed', 'interrupted') THEN 1 ELSE 0 END) > 0
ORDER BY 2 DESC, 3 DESC
LIMIT 10"""
FAILURE_GROUPS = """\
SELECT error_fingerprint, MAX(error_pattern) AS error_pattern, COUNT(*) AS failures,
       COUNT(DISTINCT cluster_id) AS clusters, MAX(cluster_id) AS cluster_id,
       MIN(created_at) AS first_seen, MAX(created_at) AS last_seen
FROM cluster_events
WHERE NOT successful AND error_fingerprint IS NOT NULL AND $__timeFilter(created_at)
GROUP BY error_fingerprint
ORDER BY 3 DESC, 1
LIMIT 10"""
STUCK_CLUSTERS = """\
SELECT c.id AS cluster_id, c.name AS cluster_name, c.tenant_id, c.status AS cluster_status,
       o.step_type AS operation,
       CASE WHEN o.status = 'running' THEN 'stuck' ELSE 'interrupted' END AS problem,
       o.started_at, o.updated_at AS last_news, o.trace_id
FROM cluster_operations o
JOIN clusters c ON c.id = o.cluster_id
WHERE (o.status = 'interrupted' AND $__timeFilter(o.completed_at))
   OR (o.status = 'running'
       AND o.updated_at + INTERVAL '$stuck_minutes' MINUTE < $__timeTo()
       AND NOT EXISTS (
         SELECT 1 FROM provision_steps s
         WHERE s.trace_id = o.trace_id AND s.status <> 'interrupted'
           AND s.updated_at + INTERVAL '$stuck_minutes' MINUTE >= $__timeTo()))
ORDER BY o.updated_at DESC
LIMIT 100"""

CLUSTERS = """\
SELECT id FROM clusters
ORDER BY updated_at DESC
LIMIT 1000"""
# Ids only: MariaDB/MySQL refuse to CONCAT a name (utf8mb4_bin) with an id (a NO PAD binary
# collation, migration 0008), and no cast to text is spelled alike on both stores.
OPERATIONS = """\
SELECT o.cluster_id, c.name AS cluster_name, c.tenant_id, c.status AS cluster_status,
       o.step_type AS operation, o.status, o.started_at, o.completed_at, o.trace_id
FROM cluster_operations o
JOIN clusters c ON c.id = o.cluster_id
WHERE o.cluster_id = '$cluster'
ORDER BY o.created_at DESC"""
_IN_RANGE = """\
cluster_id = '$cluster' AND started_at IS NOT NULL AND started_at <= $__timeTo()
  AND (completed_at IS NULL OR completed_at >= $__timeFrom())"""
STEP_TIMELINE = f"""\
SELECT started_at AS "time", step_name AS metric,
       CASE status WHEN 'running' THEN 1 WHEN 'successful' THEN 2 WHEN 'failed' THEN 3
                   ELSE 4 END AS state
FROM provision_steps
WHERE {_IN_RANGE}
UNION ALL
SELECT completed_at AS "time", step_name AS metric, 0 AS state
FROM provision_steps
WHERE completed_at IS NOT NULL AND {_IN_RANGE}
ORDER BY 1"""
STEP_PROGRESS = f"""\
SELECT CONCAT(step_name, ' (', COALESCE(step_type, '-'), ')') AS step,
       100.0 * completed / NULLIF(COALESCE(total, completed + failed), 0) AS progress
FROM provision_steps
WHERE {_IN_RANGE}
ORDER BY started_at"""
STEPS = f"""\
SELECT cluster_id, step_name, step_type, status,
       CONCAT(completed, ' / ', COALESCE(total, completed + failed)) AS progress,
       failed, duration AS duration_seconds, started_at, completed_at, trace_id
FROM provision_steps
WHERE {_IN_RANGE}
ORDER BY started_at"""
CLUSTER_FAILURE_GROUPS = """\
SELECT cluster_id, error_fingerprint, MAX(error_pattern) AS error_pattern,
       COUNT(*) AS failures, COUNT(DISTINCT node_group_id) AS node_groups,
       COUNT(DISTINCT instance_id) AS instances, MIN(created_at) AS first_seen,
       MAX(created_at) AS last_seen, MAX(error_id) AS example_error_id
FROM cluster_events
WHERE cluster_id = '$cluster' AND NOT successful AND error_fingerprint IS NOT NULL
  AND $__timeFilter(created_at)
GROUP BY cluster_id, error_fingerprint
ORDER BY 4 DESC, 2"""
NODE_GROUPS = """\
SELECT $__timeGroupAlias(created_at, $__interval), node_group_id AS metric,
       MAX(CASE WHEN successful THEN 0 ELSE 1 END) AS failed
FROM cluster_events
WHERE cluster_id = '$cluster' AND node_group_id IS NOT NULL AND $__timeFilter(created_at)
GROUP BY 1, 2
ORDER BY 1"""
FAILED_EVENTS = """\
SELECT e.created_at AS "time", s.step_name, e.node_group_id, e.instance_name, e.instance_id,
       e.event_info AS message, e.error_id, e.error_fingerprint, e.trace_id, e.cluster_id
FROM cluster_events e
JOIN provision_steps s ON s.id = e.provision_step_id
WHERE e.cluster_id = '$cluster' AND NOT e.successful AND $__timeFilter(e.created_at)
ORDER BY 1 DESC
LIMIT 500"""

# --- links ---------------------------------------------------------------------------------


def _field(name: str) -> str:
    return "${__data.fields." + name + ":percentencode}"


def page_link(title: str, *, instance: bool = False) -> Json:
    """Return a link to the web page's cluster page, or to an instance's page (contract URLs)."""
    url = "${provlog_url}/clusters/" + _field("cluster_id")
    if instance:
        url += "/instances/" + _field("instance_id")
    return {"title": title, "url": url, "targetBlank": True}


def event_log_link() -> Json:
    """Return a link to the cluster event log dashboard, for the row's cluster."""
    return {
        "title": "Cluster event log",
        "url": f"/d/{EVENT_LOG_UID}/cluster-event-log?var-cluster={_field('cluster_id')}"
        "&${datasource:queryparam}&${__url_time_range}",
    }


def trace_link() -> Json:
    """Return a link to the row's trace in Explore, on the ``tracing`` data source."""
    pane = {
        "trace": {
            "datasource": "TRACING",
            "queries": [
                {
                    "refId": "A",
                    "datasource": {"type": TRACING_PLUGIN, "uid": "TRACING"},
                    "queryType": "traceql",
                    "query": "TRACE_ID",
                }
            ],
            "range": {"from": "now-7d", "to": "now"},
        }
    }
    panes = quote(json.dumps(pane, separators=(",", ":")), safe="")
    panes = panes.replace("TRACING", "${tracing}").replace("TRACE_ID", "${__value.raw}")
    return {"title": "Trace in Explore", "url": f"/explore?schemaVersion=1&panes={panes}"}


def links_on(field: str, *links: Json) -> Json:
    """Return a field override giving the column ``field`` these data links."""
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": "links", "value": list(links)}],
    }


def unit_on(field: str, unit: str) -> Json:
    """Return a field override setting the unit of column ``field``."""
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": "unit", "value": unit}],
    }


# --- panels --------------------------------------------------------------------------------

STATES: Final = {
    0: ("ended", "transparent"),
    1: ("running", "blue"),
    2: ("successful", "green"),
    3: ("failed", "red"),
    4: ("interrupted", "orange"),
}
"""The step states of the timeline: numbers for Grafana's SQL time series, named by mappings."""


def _mappings(states: dict[int, tuple[str, str]]) -> list[Json]:
    options = {
        str(value): {"text": text, "color": color, "index": index}
        for index, (value, (text, color)) in enumerate(states.items())
    }
    return [{"type": "value", "options": options}]


def panel(
    kind: str,
    title: str,
    sql: str,
    grid: tuple[int, int, int, int],
    *,
    description: str,
    fmt: str = "table",
    defaults: Json | None = None,
    overrides: list[Json] | None = None,
    options: Json | None = None,
) -> Json:
    """Return a panel of ``kind`` with one raw SQL target on the ``datasource`` variable."""
    x, y, w, h = grid
    return {
        "type": kind,
        "title": title,
        "description": description,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": {"type": "PLUGIN", "uid": "${datasource}"},
        "targets": [
            {
                "refId": "A",
                "datasource": {"type": "PLUGIN", "uid": "${datasource}"},
                "editorMode": "code",
                "format": fmt,
                "rawQuery": True,
                "rawSql": sql,
            }
        ],
        "fieldConfig": {"defaults": defaults or {}, "overrides": overrides or []},
        "options": options or {},
    }


def stat(
    title: str, sql: str, grid: tuple[int, int, int, int], description: str, **extra: Any
) -> Json:
    """Return a single-number panel."""
    return panel(
        "stat",
        title,
        sql,
        grid,
        description=description,
        defaults={"color": {"mode": "thresholds"}, **extra},
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    )


def table(
    title: str, sql: str, grid: tuple[int, int, int, int], description: str, **extra: Any
) -> Json:
    """Return a table panel."""
    return panel("table", title, sql, grid, description=description, **extra)


def bars(title: str, sql: str, grid: tuple[int, int, int, int], description: str) -> Json:
    """Return a stacked bar time series from a ``time, metric, value`` query."""
    return panel(
        "timeseries",
        title,
        sql,
        grid,
        description=description,
        fmt="time_series",
        defaults={
            "custom": {"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}},
            "unit": "short",
        },
    )


CLUSTER_LINKS = links_on("cluster_id", event_log_link(), page_link("Cluster page"))
NAME_LINKS = links_on("cluster_name", event_log_link(), page_link("Cluster page"))


def overview() -> tuple[list[Json], list[Json]]:
    """Return the panels and variables of the Provisioning overview."""
    percent = {"unit": "percent", "min": 0, "max": 100}
    panels = [
        stat(
            "Operations running now",
            RUNNING_OPERATIONS,
            (0, 0, 6, 4),
            "Creating, scaling or deleting operations running now, over every cluster.",
        ),
        stat(
            "Steps running now",
            RUNNING_STEPS,
            (6, 0, 6, 4),
            "Provisioning steps running now, over every cluster.",
        ),
        stat(
            "Operation success rate",
            OPERATION_SUCCESS,
            (12, 0, 6, 4),
            "Operations that ended in the time range and succeeded (failed and interrupted "
            "ones count against).",
            **percent,
        ),
        stat(
            "Event success rate",
            EVENT_SUCCESS,
            (18, 0, 6, 4),
            "Per-instance events that succeeded, from the steps' kept counts.",
            **percent,
        ),
        bars(
            "Operations started per hour",
            STARTED_PER_HOUR,
            (0, 4, 12, 8),
            "Operations started in each hour, by type.",
        ),
        bars(
            "Operations finished per hour",
            FINISHED_PER_HOUR,
            (12, 4, 12, 8),
            "Operations that ended in each hour, by outcome.",
        ),
        panel(
            "barchart",
            "Step durations: median and p95",
            STEP_DURATIONS,
            (0, 12, 12, 9),
            description="Duration of each step name over the runs that ended in the time "
            "range: median and 95th percentile (nearest rank).",
            defaults={"unit": "s"},
            overrides=[
                {
                    "matcher": {"id": "byName", "options": name},
                    "properties": [
                        {
                            "id": "custom.hideFrom",
                            "value": {"viz": True, "legend": True, "tooltip": False},
                        }
                    ],
                }
                for name in ("runs", "max_seconds")
            ],
            options={
                "xField": "step_name",
                "orientation": "horizontal",
                "barWidth": 0.8,
                "groupWidth": 0.7,
                "showValue": "never",
                "stacking": "none",
            },
        ),
        table(
            "Step durations by step name",
            STEP_DURATIONS,
            (12, 12, 12, 9),
            "Runs, median, p95 and longest duration of each step name, slowest first.",
            overrides=[
                unit_on(name, "s") for name in ("median_seconds", "p95_seconds", "max_seconds")
            ],
        ),
        table(
            "Slowest steps",
            SLOWEST_STEPS,
            (0, 21, 12, 9),
            "The ten longest step runs that ended in the time range.",
            overrides=[unit_on("duration_seconds", "s"), CLUSTER_LINKS, NAME_LINKS],
        ),
        table(
            "Most failing steps",
            FAILING_STEPS,
            (12, 21, 12, 9),
            "Step names with the most failed events, and runs that failed or were "
            "interrupted, in the time range.",
        ),
        table(
            "Clusters stuck or interrupted",
            STUCK_CLUSTERS,
            (0, 30, 24, 8),
            "Operations interrupted in the time range (their process died), and running "
            "operations without news from them or their steps for $stuck_minutes minutes.",
            overrides=[CLUSTER_LINKS, NAME_LINKS, links_on("trace_id", trace_link())],
        ),
        table(
            "Most frequent failure groups",
            FAILURE_GROUPS,
            (0, 38, 24, 8),
            "Failed events of the time range grouped by cause (the fingerprint of their "
            "normalised message) across clusters, largest first; cluster_id is one of them.",
            overrides=[CLUSTER_LINKS],
        ),
    ]
    stuck = {
        "name": "stuck_minutes",
        "label": "Stuck after (minutes)",
        "type": "custom",
        "query": "15,30,60,180,360",
        "current": {"text": "30", "value": "30"},
        "options": [
            {"text": v, "value": v, "selected": v == "30"} for v in ("15", "30", "60", "180", "360")
        ],
        "hide": 0,
    }
    return panels, [stuck, provlog_url(), tracing()]


def event_log() -> tuple[list[Json], list[Json]]:
    """Return the panels and variables of the Cluster event log."""
    states = _mappings(STATES)
    node_states = _mappings({0: ("ok", "green"), 1: ("failed", "red")})
    panels = [
        table(
            "Operations",
            OPERATIONS,
            (0, 0, 24, 5),
            "The cluster's operations, newest first, with their traces.",
            overrides=[CLUSTER_LINKS, NAME_LINKS, links_on("trace_id", trace_link())],
        ),
        panel(
            "state-timeline",
            "Step timeline",
            STEP_TIMELINE,
            (0, 5, 24, 9),
            fmt="time_series",
            description="Each step from its start to its end, coloured by its status.",
            defaults={
                "mappings": states,
                "color": {"mode": "thresholds"},
                "custom": {"fillOpacity": 80, "lineWidth": 0, "spanNulls": True},
            },
            options={
                "mergeValues": True,
                "showValue": "never",
                "rowHeight": 0.8,
                "alignValue": "left",
                "legend": {"showLegend": False},
            },
        ),
        panel(
            "bargauge",
            "Progress per step",
            STEP_PROGRESS,
            (0, 14, 10, 10),
            description="Events completed out of each step's total.",
            defaults={
                "unit": "percent",
                "min": 0,
                "max": 100,
                "color": {"mode": "thresholds"},
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": "blue", "value": None}, {"color": "green", "value": 100}],
                },
            },
            options={
                "reduceOptions": {"calcs": [], "fields": "/^progress$/", "values": True},
                "orientation": "horizontal",
                "displayMode": "basic",
                "showUnfilled": True,
            },
        ),
        table(
            "Steps",
            STEPS,
            (10, 14, 14, 10),
            "Each step with its progress (completed / total), failures and duration.",
            overrides=[
                unit_on("duration_seconds", "s"),
                links_on("step_name", page_link("Cluster page")),
                links_on("trace_id", trace_link()),
            ],
        ),
        panel(
            "status-history",
            "Node groups",
            NODE_GROUPS,
            (0, 24, 24, 7),
            fmt="time_series",
            description="Per node group and time slot: failed when one of its events failed.",
            defaults={
                "mappings": node_states,
                "color": {"mode": "thresholds"},
                "custom": {"fillOpacity": 80, "lineWidth": 1},
            },
            options={"showValue": "never", "rowHeight": 0.9, "legend": {"showLegend": False}},
        ),
        table(
            "Failure groups",
            CLUSTER_FAILURE_GROUPS,
            (0, 31, 24, 8),
            "The cluster's failed events grouped by cause (the fingerprint of their normalised "
            "message), largest first: the same groups as the web page and the API.",
            overrides=[
                links_on("error_fingerprint", page_link("Cluster page")),
                links_on("example_error_id", page_link("Cluster page")),
            ],
        ),
        table(
            "Failed events",
            FAILED_EVENTS,
            (0, 39, 24, 10),
            "Every failed event with its message and error id (stacks stay in the store "
            "for admins); the instance opens its page, the trace id its trace.",
            overrides=[
                links_on("instance_name", page_link("Instance page", instance=True)),
                links_on("instance_id", page_link("Instance page", instance=True)),
                links_on("error_id", page_link("Instance page", instance=True)),
                links_on("trace_id", trace_link()),
            ],
        ),
    ]
    cluster = {
        "name": "cluster",
        "label": "Cluster",
        "type": "query",
        "datasource": {"type": "PLUGIN", "uid": "${datasource}"},
        "query": CLUSTERS,
        "definition": CLUSTERS,
        "refresh": 2,
        "sort": 0,
        "current": {},
        "options": [],
        "includeAll": False,
        "multi": False,
        "hide": 0,
    }
    return panels, [cluster, provlog_url(), tracing()]


def provlog_url() -> Json:
    """Return the textbox variable holding the web page's base URL."""
    default = "http://127.0.0.1:8080"
    return {
        "name": "provlog_url",
        "label": "Web page URL",
        "type": "textbox",
        "query": default,
        "current": {"text": default, "value": default},
        "hide": 0,
    }


def tracing() -> Json:
    """Return the data-source variable naming the Jaeger or Tempo data source of trace links."""
    return {
        "name": "tracing",
        "label": "Traces",
        "type": "datasource",
        "query": TRACING_PLUGIN,
        "current": {},
        "options": [],
        "regex": "",
        "refresh": 1,
        "hide": 0,
    }


def dashboard(uid: str, title: str, description: str, build: Any, time_from: str) -> Json:
    """Return a whole dashboard (data-source plugin still ``PLUGIN``), panels numbered from 1."""
    panels, variables = build()
    panels = [{"id": number, **item} for number, item in enumerate(panels, start=1)]
    other_uid, other_title = (
        (EVENT_LOG_UID, "Cluster event log")
        if uid == OVERVIEW_UID
        else (OVERVIEW_UID, "Provisioning overview")
    )
    store = {
        "name": "datasource",
        "label": "Store",
        "type": "datasource",
        "query": "PLUGIN",
        "current": {},
        "options": [],
        "regex": "",
        "refresh": 1,
        "hide": 0,
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["otel-provlog", "provisioning"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "utc",
        "refresh": "30s",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [
            {
                "title": other_title,
                "type": "link",
                "url": f"/d/{other_uid}",
                "keepTime": True,
                "includeVars": False,
            }
        ],
        "templating": {"list": [store, *variables]},
        "panels": panels,
    }


DASHBOARDS: Final = {
    "provisioning-overview.json": (
        OVERVIEW_UID,
        "Provisioning overview",
        "Operations, steps and failures over every cluster of the otel-provlog store.",
        overview,
        "now-24h",
    ),
    "cluster-event-log.json": (
        EVENT_LOG_UID,
        "Cluster event log",
        "One cluster's operations, steps, node groups and failed events.",
        event_log,
        "now-6h",
    ),
}


def _with_plugin(value: Any, plugin: str) -> Any:
    if isinstance(value, dict):
        return {key: _with_plugin(item, plugin) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_plugin(item, plugin) for item in value]
    return plugin if value == "PLUGIN" else value


def render() -> dict[str, str]:
    """Return the text of every dashboard file, keyed by its path under ``dashboards/``."""
    files = {}
    for name, (uid, title, description, build, time_from) in DASHBOARDS.items():
        board = dashboard(uid, title, description, build, time_from)
        for folder, plugin in PLUGINS.items():
            text = json.dumps(_with_plugin(board, plugin), indent=2, ensure_ascii=False)
            files[f"{folder}/{name}"] = text + "\n"
    return files


def main() -> int:
    """Write every dashboard file; return the exit code."""
    for relative, text in render().items():
        path = HERE / relative
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
