"""A plain OpenTelemetry program reporting provisioning progress over OTLP/HTTP.

No ``otel_provlog`` import: this is what an engine in any language does. It makes spans
with the attributes of the span contract (``provisioning.*``, see the docs' Concepts page)
and exports them with the standard OTLP/HTTP exporter to the API's ingest endpoint,
``POST /v1/traces`` (or to an OpenTelemetry Collector that forwards there)::

    provlog serve &
    export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:8080/v1/traces
    # with PROVLOG_AUTH=tokens on the server, a writer token:
    # export OTEL_EXPORTER_OTLP_TRACES_HEADERS="Authorization=Bearer <writer token>"
    python examples/otlp_plain.py --cluster-id c-otlp --fail worker-2

Needs only ``opentelemetry-sdk`` and ``opentelemetry-exporter-otlp-proto-http``.
"""

from __future__ import annotations

import argparse
import uuid

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

STEPS = ["Launching instances", "Waiting for ssh"]


def run_step(
    tracer: Tracer, cluster: dict[str, str], name: str, instances: list[str], fail: set[str]
) -> bool:
    """One step span, its start marker, and one event span per instance."""
    attributes: dict[str, AttributeValue] = {
        **cluster,
        "provisioning.span": "step",
        "provisioning.step.name": name,
        "provisioning.step.type": "creating",
        "provisioning.step.total": len(instances),
    }
    ok = True
    with tracer.start_as_current_span(name, attributes=attributes) as step_span:
        # A zero-length marker: the running step shows before the step span ends.
        tracer.start_span(
            f"{name} started", attributes={**attributes, "provisioning.span": "step.start"}
        ).end()
        for instance in instances:
            event: dict[str, AttributeValue] = {
                "provisioning.span": "event",
                "provisioning.cluster.id": cluster["provisioning.cluster.id"],
                "provisioning.node_group.id": "workers",
                "provisioning.instance.id": f"{cluster['provisioning.cluster.id']}-{instance}",
                "provisioning.instance.name": instance,
            }
            with tracer.start_as_current_span(instance, attributes=event) as span:
                if name == "Waiting for ssh" and instance in fail:
                    error = TimeoutError(f"ssh to {instance} timed out after 300 s")
                    span.set_attribute("provisioning.event.error_id", str(uuid.uuid4()))
                    span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR, str(error)))
                    ok = False
        if not ok:
            step_span.set_status(Status(StatusCode.ERROR, "an instance failed"))
    return ok


def main() -> int:
    """Report one cluster creation through OTLP/HTTP; exit 1 if a span could not be sent."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-id", default="c-otlp")
    parser.add_argument("--tenant-id", default="demo")
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--fail", action="append", default=[], help="an instance name to fail")
    options = parser.parse_args()

    # The endpoint and headers come from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/_HEADERS.
    provider = TracerProvider(resource=Resource.create({"service.name": "example-engine"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer("example-engine")

    cluster = {
        "provisioning.cluster.id": options.cluster_id,
        "provisioning.tenant.id": options.tenant_id,
    }
    operation: dict[str, AttributeValue] = {
        **cluster,
        "provisioning.span": "operation",
        "provisioning.cluster.name": "otlp-example",
        "provisioning.step.type": "creating",
        "provisioning.plan": STEPS,
    }
    instances = [f"worker-{n}" for n in range(1, options.instances + 1)]
    with tracer.start_as_current_span("creating cluster", attributes=operation) as root:
        tracer.start_span(
            "creating cluster started",
            attributes={**operation, "provisioning.span": "operation.start"},
        ).end()
        for name in STEPS:
            if not run_step(tracer, cluster, name, instances, set(options.fail)):
                root.set_status(Status(StatusCode.ERROR, f"{name} failed"))
                break
    sent = provider.force_flush(30_000)
    provider.shutdown()
    print(f"cluster {options.cluster_id}: spans sent={sent}")
    return 0 if sent else 1


if __name__ == "__main__":
    raise SystemExit(main())
