"""A provisioning process for fault cases: real instrumentation, a ledger of what ended.

Run as ``python provisioner.py '<json options>'`` (see :data:`DEFAULTS`). It configures
the store path on an SDK provider between two ledger processors
(:mod:`ledger`), prints ``ready``, provisions as :data:`workload.WORKLOAD` says, then:

- ``finish="flush"``: waits until everything is stored, shuts down, prints ``stored``;
- ``finish="exit"``: exits at once (the provider's bounded shutdown at exit);
- ``finish="wait"``: prints ``ended`` and sleeps, to be killed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ledger import LedgerSpanProcessor
from opentelemetry.sdk.trace import TracerProvider
from workload import provision

import otel_provlog

DEFAULTS = {
    "database_url": None,
    "spool_dir": None,
    "ledger": None,
    "drain": "process",
    "upgrade": False,
    "otlp_endpoint": None,
    "finish": "flush",
}


def main() -> None:
    """Configure, provision, finish as asked."""
    options = {**DEFAULTS, **json.loads(sys.argv[1])}
    provider = TracerProvider()
    provider.add_span_processor(LedgerSpanProcessor(options["ledger"], "ending"))
    store = otel_provlog.configure(
        tracer_provider=provider,
        database_url=options["database_url"],
        spool_dir=options["spool_dir"],
        drain=options["drain"],
        upgrade=options["upgrade"],
        otlp_endpoint=options["otlp_endpoint"],
        linger=30,
    )
    provider.add_span_processor(LedgerSpanProcessor(options["ledger"], "ended"))
    print("ready", flush=True)
    provision(provider, options)
    if options["finish"] == "flush":
        assert store.force_flush(120_000), "not stored within 120 s"
        store.shutdown()
        print("stored", flush=True)
    elif options["finish"] == "wait":
        print("ended", flush=True)
        time.sleep(300)


if __name__ == "__main__":
    main()
