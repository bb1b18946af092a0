"""Rendered cluster pages, shared so that many viewers cost about one render per change.

A running cluster's page changes whenever an event is stored; a hundred open pages asking
for it every second would otherwise render it a hundred times. Here:

- a rendered page is kept gzipped, by a key naming the URL and the viewer's scope, with
  the ETag of the version it shows, for the threads of a process (:class:`PageCache`) and,
  under gunicorn, for every worker of the same server through files in a private folder;
- :meth:`PageCache.lock` lets one request render a version while the others wait for it
  (threads and processes alike: an ``flock`` on a file per key);
- :meth:`PageCache.refresh` renders a newer version on a background thread while the
  requests at hand are answered with the page already made (a live update may be a
  fraction of a second old; a reload never is);
- :class:`VersionCache` keeps a cluster's version for a fraction of a second, so live
  updates cost one small query per tick and process, whatever the number of viewers.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, NamedTuple

__all__ = ["Page", "PageCache", "VersionCache", "shared_folder"]

_log = logging.getLogger(__name__)

VERSION_SECONDS: Final = 0.25
"""How long a live update reuses a cluster's version (the ETag query) in one process."""
FILE_SECONDS: Final = 600.0
"""Files of pages older than this are removed from the shared folder."""


class Page(NamedTuple):
    """A rendered page: its ETag, its HTML gzipped, and when it was made (``time.time``)."""

    etag: str
    body: bytes
    made: float

    @classmethod
    def of(cls, etag: str, html: str) -> Page:
        """Return the page of ``html`` (gzipped once, for every viewer)."""
        return cls(etag, gzip.compress(html.encode(), compresslevel=5), time.time())

    def html(self) -> bytes:
        """Return the page's HTML, for a client that does not accept gzip."""
        return gzip.decompress(self.body)


def shared_folder() -> Path | None:
    """Return a folder only this user may use, for the workers of one server; None if unsafe."""
    folder = Path(tempfile.gettempdir()) / f"provlog-pages-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = folder.lstat()
    except OSError:
        return None
    if found.st_uid != os.getuid() or found.st_mode & 0o077 or not folder.is_dir():
        return None
    return folder


class PageCache:
    """Rendered pages by key, in memory and, given a folder, in files shared by processes."""

    def __init__(self, folder: Path | None = None, size: int = 64) -> None:
        self._folder = folder
        self._size = size
        self._pages: OrderedDict[str, Page] = OrderedDict()
        self._lock = threading.Lock()
        self._rendering: set[str] = set()
        self._refreshing: set[str] = set()
        self._puts = 0

    def _file(self, key: str, suffix: str) -> Path | None:
        return None if self._folder is None else self._folder / f"{key}.{suffix}"

    def get(self, key: str) -> Page | None:
        """Return the newest page made for ``key`` by any thread or worker, if any."""
        with self._lock:
            page = self._pages.get(key)
        path = self._file(key, "page")
        if path is None:
            return page
        try:
            if page is not None and path.stat().st_mtime <= page.made:
                return page
            data = path.read_bytes()
        except OSError:
            return page
        etag, _, body = data.partition(b"\n")
        found = Page(etag.decode(), body, path.stat().st_mtime if body else 0.0)
        if page is not None and page.made >= found.made:
            return page
        self._remember(key, found)
        return found

    def _remember(self, key: str, page: Page) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self._size:
                self._pages.popitem(last=False)

    def put(self, key: str, page: Page) -> None:
        """Keep ``page`` for ``key``, for this process and (with a folder) the others."""
        self._remember(key, page)
        path = self._file(key, "page")
        if path is None:
            return
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            temporary.write_bytes(page.etag.encode() + b"\n" + page.body)
            os.utime(temporary, (page.made, page.made))
            os.replace(temporary, path)
        except OSError:
            _log.warning("could not share a rendered page in %s", self._folder, exc_info=True)
        self._puts += 1
        if self._puts % 100 == 1:
            self._clean()

    def _clean(self) -> None:
        """Remove files of pages nobody asked for in a while."""
        assert self._folder is not None
        old = time.time() - FILE_SECONDS
        for path in self._folder.iterdir():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < old:
                    path.unlink()

    def _take(self, key: str) -> bool:
        with self._lock:
            if key in self._rendering:
                return False
            self._rendering.add(key)
            return True

    @contextlib.contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold the key's render lock (threads and processes); yield False if not taken."""
        path = self._file(key, "lock")
        if path is None:
            taken = self._take(key)
            while not taken and wait:
                time.sleep(0.01)
                taken = self._take(key)
            try:
                yield taken
            finally:
                if taken:
                    with self._lock:
                        self._rendering.discard(key)
            return
        with open(path, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def refresh(self, key: str, etag: str, render: Callable[[], str]) -> None:
        """Render the page of ``etag`` on a background thread unless one already does."""
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def work() -> None:
            try:
                found = self.get(key)
                if found is not None and found.etag == etag:
                    return
                with self.lock(key, wait=False) as taken:
                    if taken:
                        self.put(key, Page.of(etag, render()))
            except Exception:
                _log.exception("could not render a page in the background")
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=work, name="provlog-page-render", daemon=True).start()


class VersionCache:
    """A cluster's version for :data:`VERSION_SECONDS`, shared by a process's threads."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._found: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, read: Callable[[], Any]) -> Any:
        """Return the version under ``key``, reading it again once it is too old."""
        now = time.monotonic()
        with self._lock:
            found = self._found.get(key)
        if found is not None and now - found[0] < VERSION_SECONDS:
            return found[1]
        version = read()
        with self._lock:
            self._found[key] = (now, version)
            self._found.move_to_end(key)
            while len(self._found) > self._size:
                self._found.popitem(last=False)
        return version
