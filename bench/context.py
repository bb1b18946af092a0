"""What every benchmark of one backend gets: the sizes, a work folder, the stores."""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

from stores import Databases, StepRef, seed


@dataclass
class Context:
    """One backend's run: sizes, a work folder, and the seeded stores made once and shared."""

    backend: str
    databases: Databases
    work: Path
    sizes: argparse.Namespace
    _seeded: dict[str, tuple[str, list[StepRef]]] = field(default_factory=dict)
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def folder(self, label: str) -> Path:
        """Return a new, empty folder for one use."""
        path = self.work / f"{label}-{next(self._names)}"
        path.mkdir(parents=True)
        return path

    def _seed(self, kind: str, clusters: int) -> tuple[str, list[StepRef]]:
        if kind not in self._seeded:
            url = self.databases.new(kind)
            started = time.perf_counter()
            steps = seed(url, kind, clusters=clusters, events=self.sizes.events)
            print(
                f"  [{self.backend}] seeded {self.sizes.events:,} events in {clusters:,} "
                f"cluster(s) in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            self._seeded[kind] = (url, steps)
        return self._seeded[kind]

    def one_trace(self) -> tuple[str, StepRef]:
        """A store holding ``--events`` events in one step of one trace."""
        url, steps = self._seed("one", 1)
        return url, steps[0]

    def spread(self) -> tuple[str, list[StepRef]]:
        """A store holding ``--events`` events spread over ``--spread-clusters`` traces."""
        return self._seed("spread", self.sizes.spread_clusters)
