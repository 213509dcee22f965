"""A loopback reverse proxy that counts traffic and injects faults.

Put it between the code under test and an upstream (the moto S3 server, the signed
file server) and point the code at ``proxy.url``. Every request is logged (method,
target, status, body bytes delivered), which makes it the "counting proxy" of the
benchmarks too; and requests matching a :class:`Fault` get a failure instead of (or on
top of) the upstream's answer:

``status``    answer ``status`` with an S3-style XML error body (``code``) without
              asking the upstream (503 SlowDown, 500 InternalError, 429, 403...)
``drop``      send the real headers and ``after_bytes`` bytes of the body, then close
              the connection (a connection reset mid-body)
``truncate``  send only ``after_bytes`` bytes of the body with a Content-Length that
              matches them, on a healthy connection (a short but "valid" response)
``corrupt``   flip the body byte at offset ``after_bytes``
``stall``     wait ``seconds`` before answering, or after ``after_bytes`` body bytes
              when ``after_bytes`` is set (a stalled transfer)
``lose``      forward the request (the upstream acts on it: a PUT is stored) and then
              close the connection without answering: the response is lost after the
              server committed, as when a load balancer times out or resets
``truncate_request``  forward only ``after_bytes`` bytes of the request body (with a
              Content-Length that matches them) and relay the answer: a broken
              intermediary that cuts an upload; only a server that checks the body's
              checksum notices (moto does not, real S3 does)

Usable without pytest::

    with FaultProxy("http://127.0.0.1:5000") as proxy:
        proxy.add(Fault("status", method="GET", path=r"/bucket/key", status=503))
        ...
        proxy.count("GET"), proxy.bytes_delivered()
"""
from __future__ import annotations

import http.client
import re
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultProxy", "RequestRecord", "s3_error_body"]

FaultKind = Literal["status", "drop", "truncate", "corrupt", "stall", "lose", "truncate_request"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "content-length"}
)


#: healthy answers are relayed in pieces of this size, through a client socket send buffer of this size
_RELAY_CHUNK = 64 * 1024
_SEND_BUFFER = 256 * 1024


def s3_error_body(code: str, message: str) -> bytes:
    """An S3-style XML error document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>faultproxy</RequestId></Error>"
    ).encode()


@dataclass
class Fault:
    """A failure to inject into matching requests.

    A request matches when its method equals ``method`` (any if None), ``path`` (a
    regex) is found in its target (path and query), and, if ``header`` is given as
    ``(name, regex)``, the regex is found in that request header (e.g.
    ``("Range", r"^bytes=1024-")`` for one block of a stream). The first ``skip`` matching
    requests pass untouched; the next ``times`` (all if None) get the fault.
    ``matched`` and ``applied`` count what happened.
    """

    kind: FaultKind
    method: str | None = None
    path: str = ""
    header: tuple[str, str] | None = None
    skip: int = 0
    times: int | None = 1
    status: int = 503
    code: str = "SlowDown"
    message: str = "Please reduce your request rate."
    after_bytes: int | None = None
    seconds: float = 0.0
    matched: int = 0
    applied: int = 0

    def _matches(self, method: str, target: str, headers: Mapping[str, str]) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        if re.search(self.path, target) is None:
            return False
        if self.header is not None:
            return re.search(self.header[1], headers.get(self.header[0]) or "") is not None
        return True


@dataclass
class RequestRecord:
    """One proxied request.

    Logged when the request arrives; ``status`` and ``bytes_delivered`` are filled in
    before the bytes are written, so a client that has its answer always finds it
    counted. Healthy answers are streamed: a client that closes the connection early is
    charged what was handed to its socket, not the whole body.
    """

    method: str
    target: str
    status: int = 0
    bytes_delivered: int = 0
    fault: FaultKind | None = None
    #: the request headers as received (tests look for the credentials a client sent)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _State:
    faults: list[Fault] = field(default_factory=list)
    records: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    sockets: set[socket.socket] = field(default_factory=set)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response, which distorts latency measurements.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A small send buffer keeps "bytes delivered" close to what a client that stops early read.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
        with self.server.state.lock:
            self.server.state.sockets.add(self.connection)
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        with self.server.state.lock:
            self.server.state.sockets.discard(self.connection)
        if self._upstream is not None:
            self._upstream.close()

    def do_GET(self) -> None:  # http.server's naming
        self._proxy()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    # ----------------------------------------------------------------- request

    def _read_request_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _choose_fault(self) -> Fault | None:
        chosen = None
        with self.server.state.lock:
            for fault in self.server.state.faults:
                if not fault._matches(self.command, self.path, self.headers):
                    continue
                fault.matched += 1
                active = fault.matched > fault.skip and (fault.times is None or fault.applied < fault.times)
                if chosen is None and active:
                    fault.applied += 1
                    chosen = fault
        return chosen

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """The upstream's whole answer (faults that cut or alter a body need all of it first)."""
        answer = self._ask_upstream(body)
        try:
            return answer.status, answer.getheaders(), answer.read()
        except (http.client.HTTPException, OSError):
            self._drop_upstream()
            raise

    def _drop_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def _ask_upstream(self, body: bytes) -> http.client.HTTPResponse:
        """Send the request upstream; the response's body is left unread."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if "x-amz-decoded-content-length" in (k.lower() for k in headers) and body:
            # an aws-chunked upload cut by truncate_request: say how much is left of it
            headers = {k: v for k, v in headers.items() if k.lower() != "x-amz-decoded-content-length"}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        for attempt in range(2):  # a kept-alive upstream connection may have gone stale
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(
                    self.server.upstream_host, self.server.upstream_port, timeout=60
                )
                self._upstream.connect()
                self._upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                return self._upstream.getresponse()
            except (http.client.HTTPException, OSError):
                self._drop_upstream()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- response

    def _send(
        self, record: RequestRecord, status: int, headers: list[tuple[str, str]], body: bytes, length: int
    ) -> None:
        record.status = status
        record.bytes_delivered += len(body) if self.command != "HEAD" else 0
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _relay(self, record: RequestRecord, answer: http.client.HTTPResponse) -> None:
        """Stream a healthy answer to the client, counting only what was handed to its socket.

        A client that closes early (htslib opening a BAM with an unranged GET and reading only
        the header) is charged for what it was sent, not for the whole object: the count may
        exceed what it read by what sat in the socket buffers (the send side is kept small).
        """
        record.status = answer.status
        length = answer.getheader("Content-Length")
        self.send_response_only(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        if length is None:  # not seen from moto; keep the framing simple: read it all
            data = answer.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            record.bytes_delivered += len(data)
            self.wfile.write(data)
            self.wfile.flush()
            return
        self.send_header("Content-Length", length)
        self.end_headers()
        try:
            self.wfile.flush()
            while chunk := answer.read(_RELAY_CHUNK):
                record.bytes_delivered += len(chunk)  # counted before it is written (see RequestRecord)
                try:
                    self.wfile.write(chunk)
                except OSError:
                    record.bytes_delivered -= len(chunk)
                    raise
            self.wfile.flush()
        except OSError:  # the client has what it wanted (or gave up): the upstream body stays unread
            self.close_connection = True
            self._drop_upstream()
        except http.client.HTTPException:
            self.close_connection = True
            self._drop_upstream()

    def _proxy(self) -> None:
        body = self._read_request_body()
        fault = self._choose_fault()
        record = RequestRecord(self.command, self.path, fault=fault.kind if fault else None,
                               headers=dict(self.headers.items()))
        with self.server.state.lock:
            self.server.state.records.append(record)
        stop = self.server.state.stop
        if fault is not None and fault.kind == "status":
            error = s3_error_body(fault.code, fault.message) if self.command != "HEAD" else b""
            self._send(record, fault.status, [("Content-Type", "application/xml")], error, len(error))
            return
        if fault is not None and fault.kind == "stall" and fault.after_bytes is None:
            stop.wait(fault.seconds)
        if fault is not None and fault.kind == "truncate_request":
            body = body[: fault.after_bytes or 0]
        if fault is None and self.command != "HEAD":
            try:
                answer = self._ask_upstream(body)
            except (http.client.HTTPException, OSError):
                self._send(record, 502, [], b"", 0)
                return
            self._relay(record, answer)
            return
        try:
            status, headers, data = self._forward(body)
        except (http.client.HTTPException, OSError):
            self._send(record, 502, [], b"", 0)
            return
        if fault is not None and fault.kind == "lose":
            record.status = status  # what the server did, though the client never hears it
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if self.command == "HEAD":
            length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
            self._send(record, status, headers, b"", length)
            return
        kind = fault.kind if fault is not None else None
        cut = min(fault.after_bytes or 0, len(data)) if fault is not None else len(data)
        try:
            if kind == "corrupt" and fault is not None:
                at = min(fault.after_bytes or 0, len(data) - 1)
                if at >= 0:
                    data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
                self._send(record, status, headers, data, len(data))
            elif kind == "truncate":
                self._send(record, status, headers, data[:cut], cut)
            elif kind == "drop":
                self._send(record, status, headers, data[:cut], len(data))
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif kind == "stall" and fault is not None and fault.after_bytes is not None:
                self._send(record, status, headers, data[:cut], len(data))
                stop.wait(fault.seconds)
                record.bytes_delivered += len(data) - cut
                self.wfile.write(data[cut:])
                self.wfile.flush()
            else:
                self._send(record, status, headers, data, len(data))
        except OSError:  # the client gave up (timeout) or the proxy is closing
            self.close_connection = True


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: listen backlog: socketserver's default of 5 overflows when a client opens 8 connections at
    #: once, and each dropped SYN costs that connection a 1 s retransmit (parallel clients measured slow)
    request_queue_size = 128

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.state = _State()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (htslib once it has what it needs, a test's injected drop) is normal here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FaultProxy:
    """The proxy (see the module docstring). ``start()`` it, or use it as a context manager."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream_url!r}")
        self.upstream_url = upstream_url
        self._server = _ProxyServer(parts.hostname, parts.port or 80)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="faultproxy", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and cut every open connection (stalls end at once)."""
        state = self._server.state
        state.stop.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with state.lock:
            sockets = list(state.sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- faults

    def add(self, fault: Fault) -> Fault:
        """Install ``fault`` (after the ones already installed) and return it."""
        with self._server.state.lock:
            self._server.state.faults.append(fault)
        return fault

    def inject(self, kind: FaultKind, **options: object) -> Fault:
        """Shortcut for ``add(Fault(kind, **options))``."""
        return self.add(Fault(kind, **options))  # type: ignore[arg-type]

    def clear_faults(self) -> None:
        with self._server.state.lock:
            self._server.state.faults.clear()

    # ----------------------------------------------------------------- counting

    @property
    def records(self) -> list[RequestRecord]:
        """A copy of the request log."""
        with self._server.state.lock:
            return list(self._server.state.records)

    def _select(self, method: str | None, path: str | None) -> list[RequestRecord]:
        return [
            r
            for r in self.records
            if (method is None or r.method == method.upper()) and (path is None or re.search(path, r.target))
        ]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests seen, optionally only those of ``method`` whose target matches ``path``."""
        return len(self._select(method, path))

    def bytes_delivered(self, method: str | None = None, path: str | None = None) -> int:
        """Response body bytes sent to clients (for the selected requests)."""
        return sum(r.bytes_delivered for r in self._select(method, path))

    def reset(self) -> None:
        """Forget the request log (faults stay)."""
        with self._server.state.lock:
            self._server.state.records.clear()
