"""Where a ``configure()`` handle's drain runs: a child process, or a thread of this one.

:class:`DrainProcess` runs ``provlog drain --watch-stdin --report`` (``python -m
otel_provlog.cli``) as a child process; it finishes once this process closes its end of
the child's standard input (or dies), and is started again after a pause if it dies while
this process runs. :class:`DrainThread` runs a :class:`~otel_provlog.exporter.drain.Drain`
in a daemon thread. Both report the drain's counters and stop within a bound.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from otel_provlog.config import Settings
from otel_provlog.exporter.drain import Drain
from otel_provlog.exporter.processor import Counters

__all__ = ["DrainProcess", "DrainRunner", "DrainThread"]

logger = logging.getLogger("otel_provlog.exporter")


class DrainThread:
    """A drain running in a daemon thread of this process."""

    def __init__(self, drain: Drain, linger: float) -> None:
        self._drain = drain
        self._finish = threading.Event()
        self._abort = threading.Event()
        self._thread = threading.Thread(
            target=drain.run,
            kwargs={"finish": self._finish, "abort": self._abort, "linger": linger},
            name="provlog-drain",
            daemon=True,
        )
        self._thread.start()

    pid: None = None
    """No process of its own."""

    def counters(self) -> Counters:
        """Return the drain's counters."""
        return self._drain.counters

    def stop(self, seconds: float) -> None:
        """Ask the drain to finish; after ``seconds``, to stop after the batch in hand."""
        self._finish.set()
        self._thread.join(seconds)
        self._abort.set()


class DrainProcess:
    """A drain running as a child process; it finishes once our end of its stdin closes.

    A drain process that dies while we still run (killed, crashed) is started again after
    a pause (1 s doubling to a minute); what it had not stored waits in the spool. The
    database URL reaches it through its environment, not its command line.
    """

    def __init__(self, settings: Settings, spool_dir: Path, *, upgrade: bool, linger: float):
        self._command = [
            sys.executable,
            "-P",  # the working directory must not shadow the installed package
            "-m",
            "otel_provlog.cli",
            "drain",
            "--spool-dir",
            str(spool_dir),
            "--watch-stdin",
            "--report",
            "--linger",
            repr(linger),
            "--stale-after",
            repr(settings.stale_after),
        ]
        if not upgrade:
            self._command.append("--no-upgrade")
        self._env = dict(os.environ, PROVLOG_DATABASE_URL=settings.database_url)
        self._env.pop("PROVLOG_SPOOL_DIR", None)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._earlier = Counters()
        self._counters = Counters()
        self._process = self._spawn()
        threading.Thread(target=self._watch, name="provlog-drain-watch", daemon=True).start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=self._env,
            close_fds=True,
        )

    def _watch(self) -> None:
        pause = 1.0
        while True:
            process = self._process
            started = time.monotonic()
            self._read_reports(process)
            code = process.wait()
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
            if self._stopping.is_set():
                return
            pause = 1.0 if time.monotonic() - started > 60 else pause
            logger.warning(
                "otel_provlog: the drain process exited (%s); starting another in %.0f s",
                code,
                pause,
            )
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, 60.0)
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._process = self._spawn()
                except OSError:
                    logger.exception("otel_provlog: the drain process could not start")
                    return
                self._earlier = self.counters()
                self._counters = Counters()

    def _read_reports(self, process: subprocess.Popen[bytes]) -> None:
        stream = process.stdout
        if stream is None:  # pragma: no cover - always a pipe
            return
        with contextlib.suppress(Exception), stream:
            for line in stream:
                with contextlib.suppress(ValueError, TypeError):
                    self._counters = Counters(**json.loads(line))

    @property
    def pid(self) -> int:
        """The drain process's id."""
        return self._process.pid

    def counters(self) -> Counters:
        """Return the counters the drain processes reported, the earlier ones' included."""
        return self._earlier.plus(self._counters)

    def stop(self, seconds: float) -> None:
        """Close the drain's stdin (it finishes) and wait for it at most half a second.

        A drain still storing after that goes on alone (bounded by its ``linger``); the
        watcher thread collects its exit status.
        """
        with self._lock:
            self._stopping.set()
            process = self._process
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(min(seconds, 0.5))


DrainRunner = DrainThread | DrainProcess
"""A running drain of a ``configure()`` handle."""
