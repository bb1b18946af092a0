"""otel-provlog: a live event log of infrastructure provisioning, built on OpenTelemetry."""
