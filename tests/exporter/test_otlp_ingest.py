"""OTLP payloads into span records: protobuf and JSON, the same records as the spool's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

import otel_provlog
from otel_provlog import attributes
from otel_provlog.exporter.mapping import map_records
from otel_provlog.exporter.otlp_ingest import (
    OtlpPayloadError,
    records_from_json,
    records_from_protobuf,
)
from otel_provlog.exporter.records import record_from_span
from otel_provlog.testing import capture_spans


def _made_spans() -> list[ReadableSpan]:
    plan = {"creating": ["Launching", "Configuring"]}
    with capture_spans() as captured:
        provider = captured.tracer_provider
        with otel_provlog.operation(
            "c-1",
            "creating",
            cluster_name="demo",
            tenant_id="t-1",
            plan=plan,
            tracer_provider=provider,
        ):
            with otel_provlog.step("c-1", "Launching", total=2, tracer_provider=provider) as step:
                step.add_success(instance_id="i-1", instance_name="w-1", node_group_id="ng")
                with pytest.raises(KeyError), step.event(instance_id="i-2", info="ä ✓"):
                    raise KeyError("gone")
            provider.get_tracer("other").start_span("not ours").end()
    return captured.spans()


def _sort(records: list[Any]) -> list[Any]:
    return sorted(records, key=lambda r: r["span_id"])


def test_protobuf_gives_the_spools_records() -> None:
    """Every provisioning span read from protobuf equals the record the spool would hold."""
    spans = _made_spans()
    body = encode_spans(spans).SerializeToString()
    result = records_from_protobuf(body)
    expected = [r for r in (record_from_span(s) for s in spans) if r is not None]
    assert len(expected) == 6
    assert _sort(result.records) == _sort(expected)
    (marker,) = [r for r in result.records if r["kind"] == attributes.SPAN_OPERATION_START]
    assert marker["attributes"][attributes.PLAN] == ["Launching", "Configuring"]
    assert map_records(result.records).rejected == []
    assert (result.ignored, result.rejected) == (1, [])
    failed = next(r for r in result.records if r["status"] == "error")
    assert failed["exception"] is not None
    assert failed["exception"]["type"] == "KeyError"
    assert "Traceback" in failed["exception"]["stacktrace"]
    assert failed["attributes"][attributes.ERROR_ID]


def test_json_gives_the_same_records_as_protobuf(otlp_json: Any) -> None:
    """The OTLP JSON encoding of a request reads into the same records."""
    request = encode_spans(_made_spans())
    body = request.SerializeToString()
    from_json = records_from_json(json.dumps(otlp_json(request)).encode())
    assert _sort(from_json.records) == _sort(records_from_protobuf(body).records)
    assert from_json.ignored == 1


def test_hand_written_json() -> None:
    """A JSON body as another SDK writes it: string int64s, enum numbers, unknown fields."""
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "go"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "engine"},
                        "spans": [
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "parentSpanId": "",
                                "name": "Waiting for ssh",
                                "kind": 1,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [
                                    {"key": "provisioning.span", "value": {"stringValue": "step"}},
                                    {
                                        "key": "provisioning.cluster.id",
                                        "value": {"stringValue": "c-9"},
                                    },
                                    {"key": "provisioning.step.total", "value": {"intValue": "3"}},
                                    {
                                        "key": "provisioning.plan",
                                        "value": {"arrayValue": {"values": [{"stringValue": "a"}]}},
                                    },
                                    {"key": "http.method", "value": {"stringValue": "GET"}},
                                ],
                                "status": {"code": 2, "message": "boom"},
                                "futureField": True,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    (record,) = records_from_json(json.dumps(body)).records
    assert record == {
        "v": 1,
        "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "eee19b7ec3c1b174",
        "parent_span_id": None,
        "kind": "step",
        "name": "Waiting for ssh",
        "start_ns": 1544712660000000000,
        "end_ns": 1544712661000000000,
        "status": "error",
        "status_message": "boom",
        "attributes": {
            "provisioning.span": "step",
            "provisioning.cluster.id": "c-9",
            "provisioning.step.total": 3,
            "provisioning.plan": ["a"],
        },
        "exception": None,
    }


def _json_span(**fields: Any) -> bytes:
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "x",
        "attributes": [{"key": "provisioning.span", "value": {"stringValue": "event"}}],
        **fields,
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"traceId": ""}, "trace_id"),
        ({"traceId": "00000000000000000000000000000000"}, "trace_id"),
        ({"spanId": "abcd"}, "span_id"),
        ({"parentSpanId": "abcd"}, "parent_span_id"),
    ],
)
def test_spans_with_bad_ids_are_rejected_one_by_one(fields: dict[str, Any], reason: str) -> None:
    """A provisioning span without usable ids is rejected with its reason; the rest goes on."""
    result = records_from_json(_json_span(**fields))
    assert result.records == []
    (message,) = result.rejected
    assert reason in message


def test_end_time_defaults_to_start() -> None:
    """A span without an end time ends when it starts."""
    (record,) = records_from_json(_json_span(startTimeUnixNano="42")).records
    assert (record["start_ns"], record["end_ns"]) == (42, 42)


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (records_from_protobuf, b"\xff\xff\xff garbage"),
        (records_from_json, b"{not json"),
        (records_from_json, b"[1, 2]"),
        (records_from_json, b'{"resourceSpans": "many"}'),
        (records_from_json, _json_span(spanId="not hex")),
        (records_from_json, _json_span(startTimeUnixNano="soon")),
    ],
)
def test_unreadable_bodies_raise_a_clear_error(decode: Any, body: bytes) -> None:
    """A body that is no ExportTraceServiceRequest raises OtlpPayloadError."""
    with pytest.raises(OtlpPayloadError, match=r"\w"):
        decode(body)


def test_an_empty_request_has_no_records() -> None:
    """An empty request is fine and yields nothing."""
    assert records_from_protobuf(b"").records == []
    assert records_from_json(b"{}").records == []
