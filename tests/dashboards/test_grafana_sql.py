"""The tests' Grafana macro expander writes what Grafana's SQL data sources send."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.dashboards.grafana_sql import expand, interval_seconds

START = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)  # 1796119200
END = datetime(2026, 12, 1, 16, 30, 0, tzinfo=UTC)  # 1796142600


@pytest.mark.parametrize(
    ("sql", "postgresql", "mysql"),
    [
        (
            "$__timeFilter(e.created_at)",
            "e.created_at BETWEEN '2026-12-01T10:00:00Z' AND '2026-12-01T16:30:00Z'",
            "e.created_at BETWEEN FROM_UNIXTIME(1796119200) AND FROM_UNIXTIME(1796142600)",
        ),
        ("$__timeFrom()", "'2026-12-01T10:00:00Z'", "FROM_UNIXTIME(1796119200)"),
        ("$__timeTo()", "'2026-12-01T16:30:00Z'", "FROM_UNIXTIME(1796142600)"),
        (
            "$__timeGroupAlias(started_at, '1h')",
            'floor(extract(epoch from started_at)/3600)*3600 AS "time"',
            'UNIX_TIMESTAMP(started_at) DIV 3600 * 3600 AS "time"',
        ),
        (
            "$__timeGroup(created_at, $__interval)",
            "floor(extract(epoch from created_at)/30)*30",
            "UNIX_TIMESTAMP(created_at) DIV 30 * 30",
        ),
        ("$__unixEpochFrom() $__unixEpochTo()", "1796119200 1796142600", "1796119200 1796142600"),
        (
            "cluster_id = '$cluster' AND x = '${cluster}'",
            "cluster_id = 'it''s' AND x = 'it''s'",
            "cluster_id = 'it''s' AND x = 'it''s'",
        ),
    ],
)
def test_macros_and_variables_expand_as_grafana_sends_them(sql, postgresql, mysql):
    """Each dialect gets its data source's text; a variable's quotes are doubled."""
    for dialect, expected in (("postgresql", postgresql), ("mysql", mysql)):
        got = expand(
            sql, dialect, start=START, end=END, variables={"cluster": "it's"}, interval="30s"
        )
        assert got == expected


@pytest.mark.parametrize("sql", ["$__timeEpoch(x)", "$undefined", "${cluster:csv}"])
def test_what_the_expander_does_not_know_is_an_error(sql):
    """An unknown macro, variable or format fails instead of reaching the database."""
    with pytest.raises(KeyError):
        expand(sql, "mysql", start=START, end=END, variables={"cluster": "c"})


@pytest.mark.parametrize(
    ("text", "seconds"), [("'1h'", 3600), ("5m", 300), ("30s", 30), ("'1d'", 86400), ("500ms", 0.5)]
)
def test_intervals_read_as_grafana_reads_them(text, seconds):
    """Grafana's interval units, quoted or not."""
    assert interval_seconds(text) == seconds
