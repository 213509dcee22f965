"""A loopback HTTP proxy that delays every request by a fixed time: S3's latency on a laptop.

A ranged GET from S3 takes roughly 10-50 ms to its first byte; from a loopback moto server a few ms,
spent on the CPU. What parallel requests buy shows only with the former, so the cohort benchmark
(``python -m bench cohort --latency-ms 20``) can put this proxy in front of moto for both tools.

It forwards each request on a persistent upstream connection per thread and sets ``TCP_NODELAY`` on
both sides (without it, a response written as header then body meets delayed ACKs
and every request gains ~40 ms, which would swamp the latency being simulated).
"""
from __future__ import annotations

import http.client
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["LatencyProxy"]

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _upstream(self) -> http.client.HTTPConnection:
        local = self.server.local
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=60)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            local.conn = conn
        return conn

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        time.sleep(self.server.latency)
        conn = self._upstream()
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.server.local.conn = None
            conn.close()
            raise
        with self.server.lock:
            self.server.requests += 1
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            # a HEAD answer keeps the object's Content-Length (clients read the size from it)
            if name.lower() not in _HOP_BY_HOP and (name.lower() != "content-length" or self.command == "HEAD"):
                self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:  # the client hung up early (htslib aborts its whole-object GETs): not an error
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, latency: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.latency = latency
        self.local = threading.local()
        self.lock = threading.Lock()
        self.requests = 0

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about clients that hang up (htslib aborts whole-object GETs); loud about the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class LatencyProxy:
    """``with LatencyProxy(upstream_url, seconds) as proxy:`` point clients at ``proxy.url``."""

    def __init__(self, upstream: str, latency: float) -> None:
        self._server = _Server(upstream, latency)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="latency-proxy", daemon=True)

    @property
    def requests(self) -> int:
        return self._server.requests

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
