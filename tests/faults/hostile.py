"""Hypothesis strategies of hostile span data: batches of span records, some broken.

:func:`batches` draws one provisioning trace (an operation, its start marker, a step, its
start marker, events) whose descriptive values are hostile (NUL bytes, lone surrogates,
markup, SQL, huge and multi-byte text, numbers where text belongs, text where numbers
belong), with some records left out, in any order, plus a few records each broken in one
known way. It returns ``(valid, broken)``: the valid ones must be stored, each broken one
set aside in ``rejected_spans``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from otel_provlog import attributes as attr
from otel_provlog.exporter.models import EXTERNAL_ID_LENGTH

NASTY = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "<script>alert(1)</script>",
    "'; DROP TABLE clusters; --",
    "%s%s%n",
    "\\",
    "\u202e",
    "e\u0301",
    "\U0001f600",
    "\ufeff",
    "\r\n\t",
    " ",
    "",
    "x" * 300,
    "é" * 2000,
]

texts = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Zs", "Mn", "So"]), max_size=20),
)
"""Hostile text, lone surrogates included."""
values = st.one_of(
    texts,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3),
)
"""Anything an attribute might hold, text or not."""
ids = st.one_of(st.sampled_from(NASTY), st.text(max_size=60)).map(
    lambda text: ("c-" + text)[:EXTERNAL_ID_LENGTH]
)
"""Cluster ids a store must take: never empty once cleaned, never longer than its column."""


def _hex(length: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=length, max_size=length).filter(any).map(bytes.hex)


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Draw ``(valid records, broken records)`` of one hostile trace."""
    trace = draw(_hex(16))
    spans = draw(st.lists(_hex(8), min_size=7, max_size=7, unique=True))
    operation, step, events = spans[0], spans[1], spans[2 : 2 + draw(st.integers(1, 5))]
    cluster = draw(ids)
    tenant = draw(values)  # one cluster, one owner: spans of a trace never disagree on them
    start = draw(st.integers(1, 2**62))

    def record(kind: str, span: str, parent: str | None, **attributes: Any) -> dict[str, Any]:
        mine = {
            attr.SPAN_KIND: kind,
            attr.CLUSTER_ID: cluster,
            attr.TENANT_ID: tenant,
            attr.CLUSTER_NAME: draw(values),
            **attributes,
        }
        exception = draw(
            st.none()
            | st.fixed_dictionaries({"type": texts, "message": texts, "stacktrace": texts})
        )
        return {
            "v": 1,
            "trace_id": draw(st.sampled_from([trace, trace.upper()])),
            "span_id": span,
            "parent_span_id": parent,
            "kind": kind,
            "name": draw(texts),
            "start_ns": start,
            "end_ns": start + draw(st.integers(-5, 10**12)),
            "status": draw(st.sampled_from(["ok", "error", "unset", "ERROR"]) | texts),
            "status_message": draw(st.none() | texts),
            "attributes": mine,
            "exception": exception,
        }

    step_attributes = {
        attr.STEP_NAME: draw(values),
        attr.STEP_TYPE: draw(st.sampled_from(["creating", "scaling"]) | texts),
        attr.STEP_TOTAL: draw(values),
    }
    valid = [
        record(
            attr.SPAN_OPERATION,
            operation,
            None,
            **{attr.STEP_TYPE: "creating", attr.PLAN: draw(values | st.lists(values, max_size=3))},
        ),
        record(attr.SPAN_OPERATION_START, draw(_hex(8)), operation, **{attr.STEP_TYPE: "x"}),
        record(attr.SPAN_STEP, step, operation, **step_attributes),
        record(attr.SPAN_STEP_START, draw(_hex(8)), step, **step_attributes),
    ]
    for span in events:
        valid.append(
            record(
                attr.SPAN_EVENT,
                span,
                step,
                **{
                    attr.INSTANCE_ID: draw(values),
                    attr.INSTANCE_NAME: draw(values),
                    attr.NODE_GROUP_ID: draw(values),
                    attr.EVENT_INFO: draw(values),
                    attr.ERROR_ID: draw(values),
                },
            )
        )
    kept = [r for r in valid if draw(st.booleans()) or r["attributes"][attr.SPAN_KIND] == "event"]
    broken = [
        _break(dict(draw(st.sampled_from(valid))), draw) for _ in range(draw(st.integers(0, 2)))
    ]
    return draw(st.permutations(kept)), broken


def _break(record: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """Return ``record`` broken in one way the store must refuse."""
    defect = draw(st.sampled_from(["trace", "span", "kind", "time", "cluster", "attributes"]))
    if defect == "trace":
        record["trace_id"] = draw(st.sampled_from(["", "0" * 32, "z" * 32, "abc"]))
    elif defect == "span":
        record["span_id"] = draw(st.sampled_from(["0" * 16, "g" * 16, "1" * 15]))
    elif defect == "kind":
        record["kind"] = draw(texts.filter(lambda kind: kind not in attr.SPAN_KINDS))
    elif defect == "time":
        record["start_ns"] = draw(st.sampled_from([0, -1, "soon", None, 2**80]))
    elif defect == "cluster":
        attributes = dict(record["attributes"])
        attributes[attr.CLUSTER_ID] = draw(st.sampled_from(["", "\x00", None, "x" * 300]))
        record["attributes"] = attributes
    else:
        record["attributes"] = draw(st.sampled_from([None, [], "attributes"]))
    return record
