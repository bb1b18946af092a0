"""Span records into rows: pure functions, no database.

Each :class:`~otel_provlog.exporter.records.SpanRecord` becomes the column values of one
row (an operation, a step, or an event) plus what it says about its cluster, or a
:class:`Rejected` with the reason. Values are cleaned so that no single record can fail a
batch on any backend:

- ids that identify something (trace and span ids, the cluster id) must be present and
  well formed, or the record is rejected;
- ids taken from span data (cluster, tenant, node group, instance, error) are compared as
  :func:`clean_id` makes them: Unicode NFC, no leading or trailing whitespace, case kept;
  a cluster id longer than its column is rejected, never cut;
- descriptive values of the wrong type are coerced (numbers to text, numeric text to
  numbers) or dropped;
- NUL bytes are removed, lone surrogates become U+FFFD, text is cut to its column's
  length; an event's ``event_info`` keeps at most :data:`EVENT_INFO_LIMIT` characters and
  its ``stacktrace`` :data:`STACKTRACE_LIMIT` (each its head and its tail).

A failed event's message and its stack come from separate fields and stay apart:
``event_info`` is ``provisioning.event.info``, else the ``exception`` event's
``exception.message`` (else its ``exception.type``, else the span's status message);
``stacktrace`` is ``exception.stacktrace`` and nothing else. No text is looked into: a
message of many lines is still a message. A failed event also gets its ``error_fingerprint``
and ``error_pattern`` from its stored ``event_info``
(:func:`~otel_provlog.exporter.fingerprints.fingerprint_message`); other events get None.

Row ids come from :func:`~otel_provlog.exporter.models.span_row_id` (operations and steps)
and :func:`~otel_provlog._ids.event_row_id` (events, ordered by their end), so an event
names its step (the parent span) without asking the database.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from otel_provlog import attributes as attr
from otel_provlog._ids import event_row_id
from otel_provlog.exporter.fingerprints import fingerprint_message
from otel_provlog.exporter.models import (
    EXTERNAL_ID_LENGTH,
    NAME_LENGTH,
    ROW_ID_LENGTH,
    SPAN_ID_LENGTH,
    STATUS_LENGTH,
    STEP_NAME_LENGTH,
    TRACE_ID_LENGTH,
    RunStatus,
    span_row_id,
)

__all__ = [
    "EVENT_INFO_LIMIT",
    "PLAN_LIMIT",
    "STACKTRACE_LIMIT",
    "MappedRecords",
    "MappedSpan",
    "Rejected",
    "RowMap",
    "bound_text",
    "clean_id",
    "clean_text",
    "map_records",
    "to_datetime",
]

EVENT_INFO_LIMIT: Final = 4096
"""Most characters kept of an event's ``event_info``, a message (its head and tail)."""
STACKTRACE_LIMIT: Final = 64 * 1024
"""Most characters kept of an event's ``stacktrace`` (the head and tail of a long stack)."""
PLAN_LIMIT: Final = 1000
"""Most step names kept of an operation's plan."""

RowMap = dict[str, Any]
"""The column values of one row."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST_NS: Final = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1) * 1000
"""Nanoseconds of the latest time a datetime holds: later ones are out of range."""
_HEX: Final = "0123456789abcdef"


class _Unusable(ValueError):
    """A record the store cannot use; the message is the reason."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that cannot be stored, as it was given, and why."""

    record: object
    reason: str


class MappedSpan(NamedTuple):
    """Who one mapped record says it is, with the values the writer stores (for ownership)."""

    position: int
    """Its index in the batch."""
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    cluster_id: str
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class _Mapped:
    kind: str
    key: tuple[str, str]
    parent_span_id: str | None
    cluster: RowMap
    row: RowMap


@dataclass
class MappedRecords:
    """The rows a batch of records makes, by table, with the records that were unusable.

    ``operation_markers`` hold running operation rows from ``operation.start`` markers
    (keyed by the operation's span); ``markers`` hold step columns from ``step.start``
    markers (keyed by the step's span);
    ``steps`` hold step columns from ended step spans; ``placeholders`` hold a running,
    nameless step row for each step that events name, begun at its earliest event.
    ``clusters`` maps each cluster id to ``name``, ``tenant_id`` (None when no record gave
    one), ``first_at`` and ``last_at`` (the earliest start and latest end of its records).
    ``repeated`` counts records whose kind and (trace id, span id) came earlier in the same
    batch; only the first is mapped. ``spans`` says who each mapped record is.
    """

    clusters: dict[str, RowMap] = field(default_factory=dict)
    operations: list[RowMap] = field(default_factory=list)
    operation_markers: list[RowMap] = field(default_factory=list)
    steps: list[RowMap] = field(default_factory=list)
    markers: list[RowMap] = field(default_factory=list)
    events: list[RowMap] = field(default_factory=list)
    placeholders: list[RowMap] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    repeated: int = 0
    spans: list[MappedSpan] = field(default_factory=list)


def clean_text(value: object, limit: int | None = None) -> str | None:
    """Return ``value`` as text any backend stores, or None when it is no scalar.

    Numbers and booleans become their text; NUL bytes are removed, lone surrogates become
    U+FFFD, and the text is cut to ``limit`` characters.
    """
    if value is None:
        return None
    if type(value) is str and value.isascii() and "\x00" not in value:
        return value if limit is None or len(value) <= limit else value[:limit]  # most text
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float):
        text = str(value)
    else:
        return None
    if limit is not None and len(text) > limit:
        text = text[:limit]
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def clean_id(value: object, limit: int | None = None) -> str | None:
    """Return ``value`` as an id, the form it is stored and looked up in; None when empty.

    The text is cleaned as by :func:`clean_text`, put in Unicode NFC, stripped of leading
    and trailing whitespace, and cut to ``limit`` characters; its case is kept. So ``"c1 "``
    and ``"c1"`` name the same cluster, as do the composed and decomposed forms of ``"é"``,
    while ``"C1"`` names another, on every backend.
    """
    if value is None:
        return None
    if type(value) is str and value.isascii() and "\x00" not in value:
        text = value.strip()  # most ids: ASCII is NFC already
    else:
        cleaned = clean_text(value)
        if cleaned is None:
            return None
        text = unicodedata.normalize("NFC", cleaned).strip()
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip()
    return text or None


def bound_text(value: object, limit: int) -> str | None:
    """Like :func:`clean_text`, but a long text keeps its head and tail around a marker."""
    if not isinstance(value, str) or len(value) <= limit:
        return clean_text(value)
    omitted = len(value) - limit
    marker = f"\n[... {omitted} characters omitted ...]\n"
    head = limit // 4
    tail = max(limit - head - len(marker), 0)
    return clean_text(value[:head] + marker + value[len(value) - tail :])


def to_datetime(nanoseconds: int) -> datetime:
    """Return the UTC time of ``nanoseconds`` since the epoch, to the microsecond."""
    return _EPOCH + timedelta(microseconds=nanoseconds // 1000)


def _hex_id(value: object, length: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != length:
        raise _Unusable(f"{what} is not {length} hex digits")
    text = value.lower()
    if text.strip(_HEX) or not text.strip("0"):
        raise _Unusable(f"{what} is not {length} hex digits, or is all zeros")
    return text


def _time(record: Mapping[str, Any], key: str) -> tuple[int, datetime]:
    value = record.get(key)
    if type(value) is int and 0 < value < _LATEST_NS:  # as spooled: most records
        return value, to_datetime(value)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unusable(f"{key} is not a number of nanoseconds")
    try:
        nanoseconds = int(value)
        if nanoseconds <= 0:
            raise _Unusable(f"{key} is not a positive number of nanoseconds")
        return nanoseconds, to_datetime(nanoseconds)
    except (ValueError, OverflowError):
        raise _Unusable(f"{key} is out of range") from None


def _count(value: object) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        return None
    return value


def _plan(value: object) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return None
    names = [clean_text(name, STEP_NAME_LENGTH) for name in value[:PLAN_LIMIT]]
    return [name for name in names if name is not None]


def _cluster_id(attributes: Mapping[str, Any]) -> str:
    cluster_id = clean_id(attributes.get(attr.CLUSTER_ID))
    if cluster_id is None:
        raise _Unusable(f"{attr.CLUSTER_ID} is missing")
    if len(cluster_id) > EXTERNAL_ID_LENGTH:
        raise _Unusable(f"{attr.CLUSTER_ID} is longer than {EXTERNAL_ID_LENGTH} characters")
    return cluster_id


def _step_columns(record: Mapping[str, Any], attributes: Mapping[str, Any]) -> RowMap:
    name = clean_text(attributes.get(attr.STEP_NAME), STEP_NAME_LENGTH)
    if name is None:
        name = clean_text(record.get("name"), STEP_NAME_LENGTH) or ""
    return {
        "step_name": name,
        "step_type": clean_text(attributes.get(attr.STEP_TYPE), STATUS_LENGTH),
        "total": _count(attributes.get(attr.STEP_TOTAL)),
    }


def _failure_text(
    record: Mapping[str, Any], attributes: Mapping[str, Any], failed: bool
) -> tuple[str | None, str | None]:
    """Return an event's ``event_info`` and ``stacktrace``, each from its own fields."""
    exception = record.get("exception")
    info = attributes.get(attr.EVENT_INFO)
    if exception is None and info is None and not failed:  # most events
        return None, None
    if not isinstance(exception, Mapping):
        exception = {}
    if info is None and failed:
        info = exception.get("message") or exception.get("type") or record.get("status_message")
    stacktrace = bound_text(exception.get("stacktrace"), STACKTRACE_LIMIT)
    return bound_text(info, EVENT_INFO_LIMIT), stacktrace or None


@functools.lru_cache(maxsize=1024)
def _step_row_id(trace_id: str, span_id: str) -> str:
    """:func:`span_row_id` of an event's step: the events of a batch share a few steps."""
    return span_row_id(trace_id, span_id)


def _map_record(record: Mapping[str, Any]) -> _Mapped:
    """Map one record, or raise :class:`ValueError` saying why it cannot be used."""
    if not isinstance(record, Mapping):
        raise _Unusable("not a mapping")
    if record.get("v", 1) != 1:
        raise _Unusable(f"unknown record version {record.get('v')!r}")
    trace_id = _hex_id(record.get("trace_id"), TRACE_ID_LENGTH, "trace_id")
    span_id = _hex_id(record.get("span_id"), SPAN_ID_LENGTH, "span_id")
    parent = record.get("parent_span_id")
    parent_id = None if parent is None else _hex_id(parent, SPAN_ID_LENGTH, "parent_span_id")
    attributes = record.get("attributes")
    if not isinstance(attributes, Mapping):
        raise _Unusable("attributes is not an object")
    kind = record.get("kind", attributes.get(attr.SPAN_KIND))
    if kind not in attr.SPAN_KINDS:
        raise _Unusable(f"unknown {attr.SPAN_KIND} {clean_text(kind, 64)!r}")
    start_ns, start = _time(record, "start_ns")
    end_ns, end = _time(record, "end_ns")
    if end_ns < start_ns:
        end_ns, end = start_ns, start
    failed = str(record.get("status", "")).lower() == "error"
    cluster_id = _cluster_id(attributes)
    cluster: RowMap = {
        "name": clean_text(attributes.get(attr.CLUSTER_NAME), NAME_LENGTH) or None,
        "tenant_id": clean_id(attributes.get(attr.TENANT_ID), EXTERNAL_ID_LENGTH),
        "first_at": start,
        "last_at": end,
    }
    row: RowMap = {"cluster_id": cluster_id, "trace_id": trace_id}
    if kind in (attr.SPAN_OPERATION, attr.SPAN_OPERATION_START):
        step_type = clean_text(attributes.get(attr.STEP_TYPE), STATUS_LENGTH)
        if not step_type:
            raise _Unusable(f"{attr.STEP_TYPE} of the operation is missing")
        if kind == attr.SPAN_OPERATION:
            operation_id = span_id
            ended: RowMap = {
                "status": RunStatus.FAILED if failed else RunStatus.SUCCESSFUL,
                "successful": not failed,
                "completed_at": end,
            }
        elif parent_id is None:
            raise _Unusable(f"a {kind} span needs its operation as parent_span_id")
        else:
            operation_id = parent_id
            ended = {"status": RunStatus.RUNNING, "successful": None, "completed_at": None}
        row |= ended | {
            "id": span_row_id(trace_id, operation_id),
            "span_id": operation_id,
            "step_type": step_type,
            "plan": _plan(attributes.get(attr.PLAN)),
            "started_at": start,
            "created_at": start,
            "updated_at": end,
        }
    elif kind == attr.SPAN_STEP:
        row |= _step_columns(record, attributes) | {
            "id": span_row_id(trace_id, span_id),
            "span_id": span_id,
            "parent_span_id": parent_id,
            "status": RunStatus.FAILED if failed else RunStatus.SUCCESSFUL,
            "successful": not failed,
            "started_at": start,
            "completed_at": end,
            "duration": (end_ns - start_ns) / 1e9,
            "created_at": start,
            "updated_at": end,
        }
    elif parent_id is None:
        raise _Unusable(f"a {kind} span needs its step as parent_span_id")
    elif kind == attr.SPAN_STEP_START:
        row |= _step_columns(record, attributes) | {
            "id": span_row_id(trace_id, parent_id),
            "span_id": parent_id,
            "status": RunStatus.RUNNING,
            "successful": None,
            "completed": 0,
            "failed": 0,
            "started_at": start,
            "created_at": start,
            "updated_at": end,
        }
    else:
        info, stacktrace = _failure_text(record, attributes, failed)
        error_fingerprint, error_pattern = fingerprint_message(info) if failed else (None, None)
        row |= {
            "id": event_row_id(trace_id, span_id, end_ns),
            "span_id": span_id,
            "provision_step_id": _step_row_id(trace_id, parent_id),
            "node_group_id": clean_id(attributes.get(attr.NODE_GROUP_ID), EXTERNAL_ID_LENGTH),
            "instance_id": clean_id(attributes.get(attr.INSTANCE_ID), EXTERNAL_ID_LENGTH),
            "instance_name": clean_text(attributes.get(attr.INSTANCE_NAME), NAME_LENGTH),
            "event_info": info,
            "stacktrace": stacktrace,
            "successful": not failed,
            "error_id": clean_id(attributes.get(attr.ERROR_ID), ROW_ID_LENGTH),
            "error_fingerprint": error_fingerprint,
            "error_pattern": error_pattern,
            "started_at": start,
            "created_at": end,
            "updated_at": end,
        }
    return _Mapped(str(kind), (trace_id, span_id), parent_id, cluster, row)


def _merge_cluster(clusters: dict[str, RowMap], cluster_id: str, info: RowMap) -> None:
    known = clusters.get(cluster_id)
    if known is None:
        clusters[cluster_id] = dict(info)
        return
    known["name"] = info["name"] or known["name"]
    known["tenant_id"] = info["tenant_id"] or known["tenant_id"]
    known["first_at"] = min(known["first_at"], info["first_at"])
    known["last_at"] = max(known["last_at"], info["last_at"])


def _add_placeholder(placeholders: dict[str, RowMap], item: _Mapped) -> None:
    event = item.row
    began = event["started_at"]
    known = placeholders.get(event["provision_step_id"])
    if known is not None:
        known["created_at"] = known["updated_at"] = min(known["created_at"], began)
        return
    placeholders[event["provision_step_id"]] = {
        "id": event["provision_step_id"],
        "trace_id": event["trace_id"],
        "span_id": item.parent_span_id,
        "cluster_id": event["cluster_id"],
        "step_name": "",
        "status": RunStatus.RUNNING,
        "created_at": began,
        "updated_at": began,
    }


def map_records(records: Iterable[Mapping[str, Any]]) -> MappedRecords:
    """Map a batch of records to rows by table; an unusable record never affects the others."""
    mapped = MappedRecords()
    placeholders: dict[str, RowMap] = {}
    seen: set[tuple[str, str, str]] = set()
    tables = {
        attr.SPAN_OPERATION: mapped.operations,
        attr.SPAN_OPERATION_START: mapped.operation_markers,
        attr.SPAN_STEP: mapped.steps,
        attr.SPAN_STEP_START: mapped.markers,
        attr.SPAN_EVENT: mapped.events,
    }
    for index, record in enumerate(records):
        try:
            item = _map_record(record)
        except (ValueError, TypeError, AttributeError) as error:
            mapped.rejected.append(Rejected(record, str(error) or type(error).__name__))
            continue
        # A repeat is the same span again: two kinds of span under one id (hostile data)
        # are two records, so the batch's outcome never depends on which came first.
        if (item.kind, *item.key) in seen:
            mapped.repeated += 1
            continue
        seen.add((item.kind, *item.key))
        cluster_id = item.row["cluster_id"]
        mapped.spans.append(
            MappedSpan(
                index,
                item.kind,
                *item.key,
                item.parent_span_id,
                cluster_id,
                item.cluster["tenant_id"],
            )
        )
        tables[item.kind].append(item.row)
        _merge_cluster(mapped.clusters, cluster_id, item.cluster)
        if item.kind == attr.SPAN_EVENT:
            _add_placeholder(placeholders, item)
    mapped.placeholders = list(placeholders.values())
    return mapped
