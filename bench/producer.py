"""The instrumented process's side: a tracer provider with the store path attached."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from spans import event_attributes, step_attributes

from otel_provlog.exporter.pipeline import StorePath, configure


def store_path(
    url: str, spool_dir: Path, *, drain: str = "process"
) -> tuple[TracerProvider, StorePath]:
    """Return a provider with the store path attached (its drain started and warmed up)."""
    provider = TracerProvider(shutdown_on_exit=False)
    handle = configure(
        tracer_provider=provider,
        database_url=url,
        spool_dir=str(spool_dir),
        drain=drain,  # type: ignore[arg-type]
        linger=600,
    )
    assert isinstance(handle, StorePath)
    tracer = provider.get_tracer("bench")
    with tracer.start_as_current_span("warm-up", attributes=step_attributes("c-warm-up")):
        for n in range(100):
            with tracer.start_as_current_span("event", attributes=event_attributes("c-warm-up", n)):
                pass
    if not handle.force_flush(120_000):
        raise RuntimeError("the warm-up events were not stored within 120 s")
    return provider, handle


def close(provider: TracerProvider, handle: StorePath) -> None:
    """Shut the store path and the provider down."""
    handle.shutdown(120_000)
    provider.shutdown()
