"""The benchmark suite of the store path: one command, every speed and memory target.

Run from the repository root (any directory works)::

    python bench/run.py [--quick] [--backends sqlite,postgresql,mariadb] [--only NAME]

PostgreSQL and MariaDB come from ``--postgresql-url``/``--mariadb-url`` or the
``PROVLOG_TEST_POSTGRESQL_URL``/``PROVLOG_TEST_MARIADB_URL`` variables (a server URL whose
user may create databases: each store is a database of its own, dropped at the end).
Without ``--backends``, SQLite and every backend with a URL are measured. ``--quick`` runs
every benchmark on small sizes (the CI test does, so none rots); the defaults are the
full sizes the targets are set at, which take long. The table is printed and written to
``docs/benchmarks.md`` (``--output``). Exit code 0 once every benchmark ran (a FAIL verdict
is a figure, not an error; ``--strict`` makes it exit 1), 1 when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from context import Context
from report import Figure, machine, print_table, write_markdown
from stores import BACKENDS, URL_VARIABLES, Databases

BENCHMARKS: Final = {
    "drain-rate": "drain_rate",
    "freshness": "freshness",
    "burst": "burst",
    "reads": "reads",
    "thread": "thread_cost",
    "switch-off": "switch_off",
    "until-empty": "until_empty",
    "memory": "memory",
    "page": "page",
    "viewers": "viewers",
    "live": "live_delay",
}
"""Benchmark name -> module of bench/ with ``run(context) -> list[Figure]``."""

FULL: Final = {
    "events": 1_000_000,
    "spread_clusters": 1_000,
    "drain_events": 50_000,
    "rounds": 5,
    "rate": 5_000,
    "seconds": 60.0,
    "burst_events": 100_000,
    "read_events": 100_000,
    "few_events": 100,
    "clusters": 10_000,
    "requests": 30,
    "thread_events": 20_000,
    "sahara_events": 1_000,
    "spool_events": 300_000,
    "memory_events": 1_000_000,
    "page_instances": 10_000,
    "viewers": 100,
    "viewer_instances": 10_000,
}
QUICK: Final = {
    "events": 5_000,
    "spread_clusters": 20,
    "drain_events": 500,
    "rounds": 2,
    "rate": 1_000,
    "seconds": 1.5,
    "burst_events": 1_000,
    "read_events": 1_000,
    "few_events": 100,
    "clusters": 200,
    "requests": 3,
    "thread_events": 500,
    "sahara_events": 30,
    "spool_events": 2_000,
    "memory_events": 5_000,
    "page_instances": 500,
    "viewers": 10,
    "viewer_instances": 500,
}
HELP: Final = {
    "events": "events in the seeded stores (drain rate, freshness)",
    "spread_clusters": "traces the spread store's events are spread over",
    "drain_events": "events the drain stores per round",
    "rounds": "interleaved rounds per figure",
    "rate": "freshness: events per second",
    "seconds": "freshness: seconds of production",
    "burst_events": "events of the burst",
    "read_events": "events in the step of the large read store",
    "few_events": "events in the step of the small read store",
    "clusters": "clusters of the large read store (the list)",
    "requests": "requests per endpoint and store per round",
    "thread_events": "events per round on the instrumented thread",
    "sahara_events": "events into the step for Sahara's way",
    "spool_events": "events in the spool of drain --until-empty",
    "memory_events": "events for the memory figures",
    "page_instances": "instances of the operation of the cluster page",
    "viewers": "clients polling the running cluster's page",
    "viewer_instances": "instances of the running cluster the viewers watch (and 1,000)",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--backends", help="comma-separated: sqlite,postgresql,mariadb")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--postgresql-url", default=os.environ.get(URL_VARIABLES["postgresql"]))
    parser.add_argument("--mariadb-url", default=os.environ.get(URL_VARIABLES["mariadb"]))
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md",
        help="Markdown file to write ('-' for none)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    for name, help_text in HELP.items():
        kind = float if name == "seconds" else int
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"{help_text} (full {FULL[name]:,}, quick {QUICK[name]:,})",
        )
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name in HELP:
        if getattr(args, name) is None:
            setattr(args, name, defaults[name])
    urls = {"postgresql": args.postgresql_url, "mariadb": args.mariadb_url}
    if args.backends:
        args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        for backend in args.backends:
            if backend not in BACKENDS:
                parser.error(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
            if backend != "sqlite" and not urls[backend]:
                parser.error(f"{backend} needs --{backend}-url or {URL_VARIABLES[backend]}")
    else:
        args.backends = ["sqlite", *(b for b in ("postgresql", "mariadb") if urls[b])]
    args.urls = urls
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = args.only or list(BENCHMARKS)
    started = time.perf_counter()
    command = shlex.join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"{command}  ({date}; backends {', '.join(args.backends)}; {', '.join(names)})", flush=True
    )
    figures: list[Figure] = []
    broken: list[str] = []
    with tempfile.TemporaryDirectory(prefix="provlog-bench-") as directory:
        for backend in args.backends:
            databases = Databases(backend, args.urls.get(backend), Path(directory) / backend)
            databases.work.mkdir()
            context = Context(backend, databases, databases.work / "work", args)
            context.work.mkdir()
            try:
                for name in names:
                    module = importlib.import_module(BENCHMARKS[name])
                    if backend not in getattr(module, "BACKENDS", BACKENDS):
                        continue
                    if getattr(module, "ONCE", False) and backend != args.backends[0]:
                        continue
                    began = time.perf_counter()
                    print(f"[{backend}] {name} ...", flush=True)
                    try:
                        found = module.run(context)
                    except Exception:
                        traceback.print_exc()
                        broken.append(f"{name} on {backend}")
                        continue
                    figures.extend(found)
                    print(f"[{backend}] {name}: {time.perf_counter() - began:.1f} s", flush=True)
                    print_table(found)
            finally:
                databases.drop_all()
    elapsed = time.perf_counter() - started
    print(flush=True)
    print_table(figures)
    failed = [f for f in figures if f.verdict == "FAIL"]
    print(
        f"\n{len(figures)} figures, {sum(f.verdict == 'PASS' for f in figures)} PASS, "
        f"{len(failed)} FAIL, in {elapsed:.0f} s",
        flush=True,
    )
    if broken:
        print(f"could not run: {', '.join(broken)}", flush=True)
    if str(args.output) != "-":
        sizes = [(name.replace("_", "-"), f"{getattr(args, name):,}") for name in HELP]
        write_markdown(
            args.output,
            figures,
            about=machine({b: args.urls.get(b) for b in args.backends}),
            command=command,
            date=date,
            sizes=sizes,
            elapsed=elapsed,
            quick=args.quick,
        )
        print(f"wrote {args.output}", flush=True)
    if broken:
        return 1
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
