"""A loopback HTTP file server with expiring signed URLs, like a CDN or S3 presigning.

Files under ``root`` are served with ``Range`` support (206 with ``Content-Range``;
416 past the end), ``ETag``/``Last-Modified`` and ``If-Match``. A URL may carry
``?Expires=<epoch seconds>&Signature=<hex HMAC-SHA256 of "path\\nexpires">`` (see
:func:`sign`); a present signature is always checked (403 "Request has expired" after
expiry, 403 "invalid signature" for a wrong one), and with ``require_signature`` (the
default) unsigned requests get 403 too. Missing files get 404.

Usable without pytest::

    with SignedFileServer(tmpdir) as server:
        url = server.signed_url("sample.bam", expires_in=60)
"""
from __future__ import annotations

import email.utils
import hashlib
import hmac
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = ["SignedFileServer", "sign", "SECRET"]

#: the key the server signs and checks with
SECRET = b"bams3-test-signing-key"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def sign(path: str, expires: int, *, secret: bytes = SECRET) -> str:
    """The hex signature of URL path ``path`` (as sent, percent-encoded) valid until ``expires``."""
    return hmac.new(secret, f"{path}\n{int(expires)}".encode(), hashlib.sha256).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _FileServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _reply(self, status: int, text: str = "", headers: dict[str, str] | None = None) -> None:
        body = text.encode() if self.command != "HEAD" else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text.encode())))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self, path: str, query: str) -> bool:
        params = parse_qs(query)
        signature = params.get("Signature", [None])[0]
        expires = params.get("Expires", [None])[0]
        if signature is None:
            if self.server.require_signature:
                self._reply(403, "403 Forbidden: missing signature")
                return False
            return True
        if expires is None or not expires.isdigit() or not hmac.compare_digest(signature, sign(path, int(expires))):
            self._reply(403, "403 Forbidden: invalid signature")
            return False
        if int(expires) < time.time():
            self._reply(403, "403 Forbidden: Request has expired")
            return False
        return True

    def do_GET(self) -> None:  # http.server's naming
        with self.server.lock:
            self.server.request_count += 1
        parts = urlsplit(self.path)
        if not self._authorised(parts.path, parts.query):
            return
        root = self.server.root
        target = (root / unquote(parts.path).lstrip("/")).resolve()
        if root not in target.parents or not target.is_file():
            self._reply(404, "404 Not Found")
            return
        st = target.stat()
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        common = {"ETag": etag, "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
                  "Accept-Ranges": "bytes"}
        if_match = self.headers.get("If-Match")
        if if_match is not None and if_match not in ("*", etag):
            self._reply(412, "412 Precondition Failed")
            return
        start, end, status = 0, size, 200
        match = _RANGE.match(self.headers.get("Range", "").strip())
        if match and not self.server.ignore_ranges:
            first, last = match.groups()
            if first == "" and last == "":
                match = None
            elif first == "":
                start, end = max(0, size - int(last)), size
            else:
                start, end = int(first), size if last == "" else min(size, int(last) + 1)
            if match and (start >= size or start >= end):
                self._reply(416, "416 Range Not Satisfiable", {"Content-Range": f"bytes */{size}"})
                return
            status = 206 if match else 200
        self.send_response(status)
        for name, value in common.items():
            self.send_header(name, value)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(target, "rb") as f:
            f.seek(start)
            left = end - start
            while left:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    do_HEAD = do_GET


class _FileServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.require_signature = True
        self.ignore_ranges = False
        self.request_count = 0
        self.lock = threading.Lock()


class SignedFileServer:
    """Serve ``root`` on a loopback port (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._server = _FileServer(self.root)
        self._thread: threading.Thread | None = None

    # settings the tests flip
    @property
    def require_signature(self) -> bool:
        return self._server.require_signature

    @require_signature.setter
    def require_signature(self, value: bool) -> None:
        self._server.require_signature = value

    @property
    def ignore_ranges(self) -> bool:
        """Behave like a server without Range support (always 200 with the whole file)."""
        return self._server.ignore_ranges

    @ignore_ranges.setter
    def ignore_ranges(self, value: bool) -> None:
        self._server.ignore_ranges = value

    @property
    def request_count(self) -> int:
        return self._server.request_count

    @property
    def url(self) -> str:
        """Base URL (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def path_url(self, relpath: str) -> str:
        """The URL path of a file (percent-encoded), as the signature covers it."""
        return "/" + quote(relpath.lstrip("/"))

    def unsigned_url(self, relpath: str) -> str:
        return self.url + self.path_url(relpath)

    def signed_url(self, relpath: str, *, expires_in: float = 3600, expires: int | None = None) -> str:
        """A URL for ``relpath`` valid for ``expires_in`` seconds (or until ``expires``)."""
        when = int(expires if expires is not None else time.time() + expires_in)
        path = self.path_url(relpath)
        return f"{self.url}{path}?Expires={when}&Signature={sign(path, when)}"

    def write(self, relpath: str, data: bytes) -> Path:
        """Create a file to serve (a back door for tests)."""
        target = self.root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    def start(self) -> SignedFileServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="httpserver", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SignedFileServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
