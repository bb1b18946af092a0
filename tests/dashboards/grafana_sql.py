"""Expand a panel's SQL the way Grafana's PostgreSQL and MySQL data sources do, to run it.

Grafana interpolates dashboard variables in the browser, then the data source's backend
replaces its ``$__`` macros. This module does both for what our dashboards use, with the
output of Grafana's own macro code (``pkg/tsdb/grafana-postgresql-datasource/macros.go``
and ``pkg/tsdb/mysql/macros.go``):

- ``$__timeFilter(c)``: PostgreSQL ``c BETWEEN '<from>' AND '<to>'`` (RFC 3339, UTC);
  MySQL ``c BETWEEN FROM_UNIXTIME(<from>) AND FROM_UNIXTIME(<to>)`` (epoch seconds);
- ``$__timeFrom()``, ``$__timeTo()``: ``'<from>'``; ``FROM_UNIXTIME(<from>)``;
- ``$__timeGroup(c, i)``: ``floor(extract(epoch from c)/i)*i``; ``UNIX_TIMESTAMP(c) DIV i * i``
  (``i`` in seconds: ``'1h'`` is 3600);
- ``$__timeGroupAlias(c, i)``: the same followed by ``AS "time"``;
- ``$__unixEpochFrom()``, ``$__unixEpochTo()``: epoch seconds on both.

Variables: ``$__interval`` becomes the interval given; ``$name``, ``${name}`` and
``${name:raw}`` the variable's value with single quotes doubled (Grafana's SQL data sources
do so for a variable that is neither multi-value nor "include all"; ours are all single).
An unknown macro or variable raises :class:`KeyError`, so a dashboard cannot use one that
this module (and so the tests) does not know.

Grafana's MySQL data source runs ``FROM_UNIXTIME`` and ``UNIX_TIMESTAMP`` in the session time
zone it is configured with; the provisioning file sets UTC, and so must the test connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

DIALECTS: Final = ("postgresql", "mysql")
MACROS: Final = frozenset(
    {"__timeFilter", "__timeFrom", "__timeTo", "__timeGroup", "__timeGroupAlias"}
    | {"__unixEpochFrom", "__unixEpochTo"}
)
"""The macros :func:`expand` knows, by the name a query uses."""
_MACRO: Final = re.compile(r"\$__(\w+)\(([^)]*)\)")
_VARIABLE: Final = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_UNITS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_INTERVAL: Final = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$")


def interval_seconds(text: str) -> float:
    """Read a Grafana interval such as ``'1h'``, ``5m`` or ``30s`` as seconds."""
    match = _INTERVAL.match(text.strip().strip("'\""))
    if match is None:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _seconds(value: float, dialect: str) -> str:
    if dialect == "mysql":
        return f"{value:.0f}"  # Go's %.0f
    return f"{value:g}"  # Go's %v of a float64: 3600, 0.5


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _macro(name: str, args: list[str], dialect: str, start: datetime, end: datetime) -> str:
    first, last = int(start.timestamp()), int(end.timestamp())
    pg = dialect == "postgresql"
    if name == "timeFilter":
        if pg:
            return f"{args[0]} BETWEEN '{_rfc3339(start)}' AND '{_rfc3339(end)}'"
        return f"{args[0]} BETWEEN FROM_UNIXTIME({first}) AND FROM_UNIXTIME({last})"
    if name in ("timeFrom", "timeTo"):
        moment = start if name == "timeFrom" else end
        return f"'{_rfc3339(moment)}'" if pg else f"FROM_UNIXTIME({int(moment.timestamp())})"
    if name in ("timeGroup", "timeGroupAlias"):
        seconds = _seconds(interval_seconds(args[1]), dialect)
        if pg:
            group = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
        else:
            group = f"UNIX_TIMESTAMP({args[0]}) DIV {seconds} * {seconds}"
        return group + ' AS "time"' if name == "timeGroupAlias" else group
    if name == "unixEpochFrom":
        return str(first)
    if name == "unixEpochTo":
        return str(last)
    raise KeyError(f"macro $__{name} is not expanded by the tests")


def expand(
    sql: str,
    dialect: str,
    *,
    start: datetime,
    end: datetime,
    variables: Mapping[str, str],
    interval: str = "1m",
) -> str:
    """Return ``sql`` as the data source sends it to the database.

    Args:
        sql: the panel's ``rawSql`` (or a query variable's query).
        dialect: ``postgresql`` or ``mysql``.
        start: the dashboard's time range start (aware).
        end: its end.
        variables: the dashboard variables' current values.
        interval: what ``$__interval`` is for this panel (Grafana derives it from the range
            and the panel's width).
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}")

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        fmt = match.group(2)
        if name.startswith("__"):
            if name == "__interval":
                return interval
            return match.group(0)  # a macro: expanded below
        if fmt not in (None, "raw"):
            raise KeyError(f"format {fmt!r} of ${{{name}}} is not expanded by the tests")
        return variables[name].replace("'", "''")

    text = _VARIABLE.sub(variable, sql)

    def macro(match: re.Match[str]) -> str:
        args = [arg.strip() for arg in match.group(2).split(",")] if match.group(2) else []
        return _macro(match.group(1), args, dialect, start, end)

    expanded = _MACRO.sub(macro, text)
    if "$" in expanded:
        raise KeyError(f"unexpanded $ left in {expanded!r}")
    return expanded
