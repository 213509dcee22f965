"""HTTP(S) URLs, typically signed URLs handed out for one object: read-only, ranged.

Requests go through one urllib3 ``PoolManager`` per timeout setting (thread-safe,
keep-alive), with urllib3's retries off except for following redirects: the retry
layer is :mod:`bams3.io.retry`. Metadata comes from a one-byte ranged GET rather than
HEAD because a signed URL is usually signed for GET only.

The query string of a signed URL is sent with every request of the store it was opened
with and never appears in ``str()``, :class:`~bams3.io.ObjectInfo` URLs or messages.
"""
from __future__ import annotations

import email.utils
import re
import threading
from typing import Any
from urllib.parse import quote

import urllib3
import urllib3.exceptions

from ..errors import Bams3Error, IntegrityError, TransientIOError, UsageError
from ._remote import RemoteStore, Response, check_span, error_for_response, parse_content_range
from .ranges import ByteRequest, RangeByteRequest, http_range_header
from .redact import REDACTED, redact, redact_logger, redact_text
from .retry import RetryPolicy, Timeouts
from .store import ObjectInfo

__all__ = ["HttpStore", "http_pool"]

#: most bytes of an error body read to find its code and message
ERROR_BODY_LIMIT = 64 * 1024
#: characters a key may keep unquoted in a URL path (``%`` too: keys may arrive quoted)
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"

# urllib3 logs every request line, signature included, at DEBUG level
redact_logger("urllib3.connectionpool")

_POOLS: dict[Timeouts, urllib3.PoolManager] = {}
_POOLS_LOCK = threading.Lock()


def http_pool(timeouts: Timeouts) -> urllib3.PoolManager:
    """The shared connection pool for ``timeouts``."""
    with _POOLS_LOCK:
        pool = _POOLS.get(timeouts)
        if pool is None:
            pool = urllib3.PoolManager(
                num_pools=32,
                maxsize=32,
                timeout=urllib3.Timeout(connect=timeouts.connect, read=timeouts.read),
                retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5),
                headers={"User-Agent": "bams3", "Accept-Encoding": "identity"},
            )
            _POOLS[timeouts] = pool
        return pool


def _translate(exc: urllib3.exceptions.HTTPError, url: str) -> Bams3Error:
    """The :mod:`bams3.errors` exception for a urllib3 failure (messages are redacted)."""
    reason: BaseException = exc
    while isinstance(reason, urllib3.exceptions.MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        return Bams3Error(f"{url}: too many redirects")
    if isinstance(reason, urllib3.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(reason):
        return Bams3Error(f"{url}: TLS certificate verification failed")
    if isinstance(reason, (urllib3.exceptions.LocationValueError, urllib3.exceptions.LocationParseError)):
        return UsageError(f"{url}: malformed URL")
    kind = {
        urllib3.exceptions.ConnectTimeoutError: "connect timeout",
        urllib3.exceptions.ReadTimeoutError: "read timeout",
        urllib3.exceptions.NewConnectionError: "cannot connect",
        urllib3.exceptions.ProtocolError: "connection broken",
    }
    label = next((text for cls, text in kind.items() if isinstance(reason, cls)), type(reason).__name__)
    # urllib3's messages may quote the request line, query string included: redact them
    return TransientIOError(f"{url}: {label}: {redact_text(str(reason))}")


_XML_FIELD = re.compile(r"<(Code|Message)>([^<]{0,500})</\1>")


def _error_detail(body: bytes) -> tuple[str | None, str | None]:
    """``(code, message)`` from an S3-style XML error body, or the start of a text body."""
    text = body.decode("utf-8", "replace")
    fields = dict(_XML_FIELD.findall(text))
    if fields:
        return fields.get("Code"), fields.get("Message")
    return None, " ".join(text.split())[:300] or None


def _mtime(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


#: largest rest of a body read to keep its connection (rather than closing it)
_DRAIN_LIMIT = 64 * 1024


def _release(answer: Any) -> None:
    """Give ``answer``'s connection back to the pool.

    A small rest of body (the one byte of a stat's ranged GET) is read, so that the
    connection is reused: that costs less than a new connection, let alone a TLS handshake.
    A large or unknown rest (a server that sent the whole object) closes the connection.
    """
    length = answer.headers.get("Content-Length")
    try:
        if answer.status != 200 and length is not None and length.isdigit() and int(length) <= _DRAIN_LIMIT:
            answer.read()
        else:
            answer.close()
    except urllib3.exceptions.HTTPError:
        answer.close()
    answer.release_conn()


class _HttpBody(Response):
    def __init__(self, answer: Any, url: str, **span: Any) -> None:
        super().__init__(**span)
        self._answer = answer
        self._url = url
        self._left = self.end - self.start

    def read(self, n: int) -> bytes:
        try:
            data = self._answer.read(min(n, self._left))
        except urllib3.exceptions.HTTPError as exc:
            raise _translate(exc, self._url) from exc
        self._left -= len(data)
        return data

    def close(self) -> None:
        if self._left > 0 or not self._answer.isclosed():
            self._answer.close()  # an unread body: the connection cannot be reused
        self._answer.release_conn()


class HttpStore(RemoteStore):
    """Read-only objects under an HTTP(S) base URL.

    Parameters
    ----------
    base_url
        The root URL without query string (a trailing ``/`` is added if missing).
    query
        A query string (e.g. a signature) sent with every request; never shown.
    headers
        Extra request headers (e.g. ``Authorization``); never shown.
    retry, timeouts
        Retry policy and timeouts (default: from the environment).
    """

    scheme = "http"
    supports_writes = False
    supports_listing = False

    def __init__(
        self,
        base_url: str,
        *,
        query: str | None = None,
        headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        super().__init__(retry=retry, timeouts=timeouts)
        if "?" in base_url or "#" in base_url:
            raise UsageError(f"{redact(base_url)}: pass the query string separately")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._query = query or None
        self._headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"HttpStore({self.url!r})"

    def _identity(self) -> tuple[object, ...]:
        return (self.base_url, self._query)

    @property
    def url(self) -> str:
        return redact(self.base_url)

    def key_url(self, key: str) -> str:
        return redact(self.base_url) + quote(key, safe=_PATH_SAFE) + (f"?{REDACTED}" if self._query else "")

    def _request_url(self, key: str) -> str:
        url = self.base_url + quote(key, safe=_PATH_SAFE)
        return f"{url}?{self._query}" if self._query else url

    def _send(self, key: str, headers: dict[str, str]) -> Any:
        try:
            return http_pool(self.timeouts).request(
                "GET",
                self._request_url(key),
                headers={**self._headers, **headers},
                preload_content=False,
                decode_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise _translate(exc, self.key_url(key)) from exc

    def _fail(self, answer: Any, url: str) -> Bams3Error:
        """Read (a bounded part of) an error answer and build its exception."""
        try:
            body = answer.read(ERROR_BODY_LIMIT)
        except urllib3.exceptions.HTTPError:
            body = b""
        finally:
            answer.close()
            answer.release_conn()
        code, message = _error_detail(body)
        return error_for_response(url, answer.status, code, message)

    def _stat_once(self, key: str) -> ObjectInfo | None:
        url = self.key_url(key)
        answer = self._send(key, {"Range": "bytes=0-0"})
        try:
            if answer.status == 404:
                return None
            if answer.status == 206:
                size = parse_content_range(answer.headers.get("Content-Range"))[2]
            elif answer.status == 416:  # empty object
                size = parse_content_range(answer.headers.get("Content-Range"))[2] or 0
            elif answer.status == 200:
                size = int(answer.headers.get("Content-Length", -1))
            else:
                raise self._fail(answer, url)
            if size is None or size < 0:
                raise TransientIOError(f"{url}: the server did not report the object size")
            return ObjectInfo(key, size, answer.headers.get("ETag"), _mtime(answer.headers.get("Last-Modified")), url)
        finally:
            _release(answer)

    def _open_range(self, key: str, request: ByteRequest | None, *, if_match: str | None) -> Response | None:
        url = self.key_url(key)
        headers: dict[str, str] = {}
        header = http_range_header(request)
        if header:
            headers["Range"] = header
        if if_match and not if_match.startswith("W/"):  # If-Match needs a strong ETag
            headers["If-Match"] = if_match
        answer = self._send(key, headers)
        try:
            status = answer.status
            if status == 404:
                self._fail(answer, url)
                return None
            if status == 416:
                size = parse_content_range(answer.headers.get("Content-Range"))[2]
                self._fail(answer, url)
                at = size if size is not None else (request.start if isinstance(request, RangeByteRequest) else 0)
                return Response(start=at, end=at, size=size, etag=None)
            if status == 412 and "If-Match" in headers:
                self._fail(answer, url)
                raise IntegrityError(f"{url}: object changed while being read (ETag no longer matches)")
            if status not in (200, 206):
                raise self._fail(answer, url)
            length = answer.headers.get("Content-Length")
            start, end, size = check_span(
                url,
                request,
                status=status,
                content_length=int(length) if length is not None and length.isdigit() else None,
                content_range=answer.headers.get("Content-Range"),
            )
        except BaseException:
            answer.close()
            answer.release_conn()
            raise
        return _HttpBody(answer, url, start=start, end=end, size=size, etag=answer.headers.get("ETag"))
