"""A slow client holds a connection to ``provlog serve`` while others are served."""

from __future__ import annotations

import socket
import threading
import time

from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine
from tests.served_api import ServedApi

ANSWER_SECONDS = 2.0
"""Bound on one quick request while the slow client holds its connection."""


def _trickle(connection: socket.socket, stop: threading.Event) -> None:
    """Send a request one header byte at a time, then its end once told to stop."""
    connection.sendall(b"GET /v2/clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    while not stop.wait(0.1):
        connection.sendall(b"x")
    connection.sendall(b"\r\nConnection: close\r\n\r\n")


def test_a_slow_client_does_not_hold_up_the_others(tmp_path):
    """While one client trickles its request and another never reads, others get answers."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_store_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    env = {"PROVLOG_DATABASE_URL": url, "PROVLOG_AUTH": "none"}
    with ServedApi(env, workers=2, cwd=tmp_path) as api:
        slow = socket.create_connection(("127.0.0.1", api.port))
        deaf = socket.create_connection(("127.0.0.1", api.port))  # asks, never reads
        stop = threading.Event()
        trickler = threading.Thread(target=_trickle, args=(slow, stop))
        try:
            trickler.start()
            deaf.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            time.sleep(0.5)  # both hold their connections now
            for _ in range(20):
                started = time.monotonic()
                status, body = api.get("/v2/clusters", timeout=ANSWER_SECONDS)
                assert (status, body["clusters"]) == (200, [])
                assert time.monotonic() - started < ANSWER_SECONDS
            assert trickler.is_alive()  # it was slow all along
            stop.set()
            trickler.join(10)
            slow.settimeout(10)
            assert slow.recv(64).startswith(b"HTTP/1.1 200")  # and is served in the end
        finally:
            stop.set()
            slow.close()
            deaf.close()
    assert api.returncode == 0
