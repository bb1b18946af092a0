"""Real OTLP receivers on 127.0.0.1 for the tests: gRPC, HTTP, one that hangs, one that is down.

Each receiver binds a free port, keeps every ``ExportTraceServiceRequest`` it got, and is a
context manager that stops it. ``spans()`` flattens what arrived.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

ExportRequest = trace_service_pb2.ExportTraceServiceRequest
ExportResponse = trace_service_pb2.ExportTraceServiceResponse


class _Requests:
    """Requests received so far, shared with the serving threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[Any] = []
        self.arrived = threading.Condition(self.lock)

    def add(self, request: Any) -> None:
        with self.arrived:
            self.items.append(request)
            self.arrived.notify_all()

    def spans(self) -> list[trace_pb2.Span]:
        with self.lock:
            requests = list(self.items)
        return [
            span
            for request in requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def wait_for(self, count: int, timeout: float) -> list[trace_pb2.Span]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.spans()
            left = deadline - time.monotonic()
            if len(found) >= count or left <= 0:
                return found
            with self.arrived:
                self.arrived.wait(min(left, 0.05))


class _Receiver(_Requests):
    endpoint = ""

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        raise NotImplementedError


class GrpcReceiver(_Receiver):
    """An OTLP/gRPC trace receiver (``opentelemetry-proto`` + ``grpcio``)."""

    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class _Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver.add(request)
                return ExportResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Servicer(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop(grace=None).wait(5)


class HttpReceiver(_Receiver):
    """An OTLP/HTTP trace receiver (protobuf, optionally gzip) on the stdlib HTTP server."""

    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportRequest()
                request.ParseFromString(body)
                receiver.add(request)
                payload = ExportResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class HangingReceiver(_Receiver):
    """A TCP port that accepts connections and never answers (a stuck collector)."""

    def __init__(self) -> None:
        super().__init__()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            self.connections.append(connection)

    def stop(self) -> None:
        """Close every connection and the port."""
        self._stopped.set()
        self._thread.join(5)
        for connection in self.connections:
            connection.close()
        self._socket.close()


def down_endpoint() -> str:
    """Return the URL of a free 127.0.0.1 port where nothing listens (a receiver that is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def attributes_of(span: trace_pb2.Span) -> dict[str, Any]:
    """Return a protobuf span's attributes as a plain dict of Python values."""
    found: dict[str, Any] = {}
    for item in span.attributes:
        value = item.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            found[item.key] = tuple(
                getattr(v, v.WhichOneof("value") or "string_value")
                for v in value.array_value.values
            )
        elif kind is not None:
            found[item.key] = getattr(value, kind)
    return found
