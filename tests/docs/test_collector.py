"""docs/collector.yaml: a Collector configuration that feeds the ingest endpoint, checked.

No Collector binary installs here, so its structure is checked against what the Collector
requires (every component a pipeline names is defined, extensions are enabled) and against
this project: the exporter reaches the API's ingest path, retries and queues on disk, and
only provisioning spans pass the filter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from otel_provlog import attributes
from otel_provlog.api.openapi import openapi_document

CONFIG = Path(__file__).resolve().parents[2] / "docs" / "collector.yaml"
KINDS = ("receivers", "processors", "exporters")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The parsed configuration."""
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return loaded


def _of_type(section: dict[str, Any], kind: str) -> dict[str, Any]:
    """Components of a section whose type (the id before '/') is ``kind``."""
    return {key: value for key, value in section.items() if key.split("/")[0] == kind}


def test_every_component_a_pipeline_names_is_defined(config):
    """The Collector refuses a pipeline naming an undefined receiver, processor or exporter."""
    pipelines = config["service"]["pipelines"]
    assert pipelines
    for pipeline in pipelines.values():
        for kind in KINDS:
            for name in pipeline.get(kind, []):
                assert name in config[kind], f"{name} is not among the {kind}"
    for name in config["service"]["extensions"]:
        assert name in config["extensions"]


def test_an_otlp_receiver_takes_grpc_and_http(config):
    """Engines send OTLP on the standard ports, gRPC 4317 and HTTP 4318."""
    (receiver,) = _of_type(config["receivers"], "otlp").values()
    protocols = receiver["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")


def test_the_otlphttp_exporter_reaches_the_ingest_endpoint(config):
    """The exporter adds /v1/traces to its endpoint: that is the API's ingest path."""
    exporters = _of_type(config["exporters"], "otlphttp")
    (name,) = exporters
    exporter = exporters[name]
    base = urlsplit(exporter["endpoint"])
    assert base.scheme in ("http", "https")
    assert base.path.rstrip("/") + "/v1/traces" in openapi_document()["paths"]
    assert exporter["headers"]["Authorization"].startswith("Bearer ")  # a writer token
    (pipeline,) = (p for p in config["service"]["pipelines"].values() if name in p["exporters"])
    assert any(receiver.split("/")[0] == "otlp" for receiver in pipeline["receivers"])


def test_batches_are_retried_and_queued_on_disk(config):
    """Retries never give up and the queue is persistent (file_storage, an enabled extension)."""
    (exporter,) = _of_type(config["exporters"], "otlphttp").values()
    retry = exporter["retry_on_failure"]
    assert retry["enabled"] is True
    assert retry["max_elapsed_time"] == 0  # 0: retry for ever
    queue = exporter["sending_queue"]
    assert queue["enabled"] is True
    storage = queue["storage"]
    assert storage.split("/")[0] == "file_storage"
    assert config["extensions"][storage]["directory"]
    assert storage in config["service"]["extensions"]


def test_only_provisioning_spans_pass_the_filter(config):
    """The filter drops spans without the contract's kind attribute, and only those."""
    (pipeline,) = config["service"]["pipelines"].values()
    filters = [name for name in pipeline["processors"] if name.split("/")[0] == "filter"]
    (condition,) = [
        rule for name in filters for rule in config["processors"][name]["traces"]["span"]
    ]
    assert condition == f'attributes["{attributes.SPAN_KIND}"] == nil'
    processors = pipeline["processors"]
    assert processors[0].startswith("memory_limiter")  # first, as the Collector advises
    assert processors[-1].startswith("batch")  # batches are made of kept spans only
