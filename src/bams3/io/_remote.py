"""What the HTTP-based backends (S3, HTTP(S)) share: checked ranged reads that resume.

A backend supplies two primitives, :meth:`RemoteStore._open_range` (send one GET,
check its headers, return a :class:`Response` for its body) and
:meth:`RemoteStore._stat_once`; this module turns them into ``get`` and ``open_read``
with one retry loop that

* trusts a 200/206 only when its headers describe exactly the bytes asked for, and
  its body has exactly that many bytes;
* resumes a body that broke off (dropped connection, read timeout, truncated body)
  with a new ranged GET from the first missing byte, pinned to the first response's
  ETag (``If-Match``) so that the pieces always come from one version of the object;
* counts every attempt, byte, retry and failure in :data:`bams3.io.metrics.IO_STATS`.

It also maps HTTP statuses and S3 error codes to :mod:`bams3.errors` types, in one
place for both backends.
"""
from __future__ import annotations

import logging
import re
import threading
from abc import abstractmethod
from collections.abc import Callable
from typing import BinaryIO, ClassVar

from ..errors import (
    AccessDeniedError,
    AuthenticationError,
    Bams3Error,
    ExpiredUrlError,
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailedError,
    TransientIOError,
    UsageError,
)
from ._stream import RangedReader
from .metrics import IO_STATS
from .ranges import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    SuffixByteRequest,
)
from .redact import redact_text
from .retry import BadResponseError, RetryPolicy, Timeouts, call_with_retries
from .store import ObjectInfo, Store

__all__ = ["Response", "RemoteStore", "StreamCancelled", "error_for_response", "parse_content_range", "check_span"]

log = logging.getLogger(__name__)

#: bytes asked of a response body per read call
READ_CHUNK = 1024 * 1024
#: bytes asked per read call when a body is streamed to a file (see ``_fetch_to``)
STREAM_CHUNK = 1024 * 1024

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchUpload", "NoSuchVersion"})
_AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "AuthorizationHeaderMalformed",
        "InvalidSecurity",
        "MissingSecurityHeader",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        "ConditionalRequestConflict",
        "PriorRequestNotComplete",
        "IDPCommunicationError",
    }
)
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


def error_for_response(url: str, status: int, code: str | None, message: str | None) -> Bams3Error:
    """The :mod:`bams3.errors` exception for an HTTP error answer (``url`` already redacted).

    Retryable answers come back as :class:`~bams3.errors.TransientIOError`: 5xx,
    408, 429 and S3's throttling and timeout codes (``SlowDown``, ``RequestTimeout``,
    which S3 sends with status 400...). 403 becomes :class:`ExpiredUrlError` when the
    server says the request or signature expired, :class:`AuthenticationError` for
    bad credentials, :class:`AccessDeniedError` otherwise.
    """
    code = code or ""
    detail = redact_text(" ".join(f"{code} {message or ''}".split()))
    suffix = f" ({detail})" if detail else ""
    if status == 404 or code in _NOT_FOUND_CODES:
        return ObjectNotFoundError(f"{url}: no such object{suffix}")
    if code in _AUTH_CODES or status == 401:
        return AuthenticationError(f"{url}: credentials rejected{suffix}")
    if status == 403 or code == "AccessDenied":
        if "expire" in detail.lower():
            return ExpiredUrlError(f"{url}: the signed URL or request has expired{suffix}")
        return AccessDeniedError(f"{url}: access denied{suffix}")
    if status == 412 or code == "PreconditionFailed":
        return PreconditionFailedError(f"{url}: precondition failed: the object exists or changed{suffix}")
    if status >= 500 or status in (408, 429) or code in _TRANSIENT_CODES:
        return TransientIOError(f"{url}: HTTP {status}{suffix}")
    return Bams3Error(f"{url}: HTTP {status}{suffix}")


def parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """``"bytes 0-9/100"`` -> ``(0, 10, 100)`` (end exclusive); ``"bytes */100"`` -> ``(None, None, 100)``."""
    if not value:
        return None, None, None
    match = _CONTENT_RANGE.match(value)
    if not match:
        return None, None, None
    first, last, total = match.groups()
    start = int(first) if first is not None else None
    end = int(last) + 1 if last is not None else None
    return start, end, (int(total) if total != "*" else None)


def check_span(
    url: str,
    request: ByteRequest | None,
    *,
    status: int,
    content_length: int | None,
    content_range: str | None,
) -> tuple[int, int, int | None]:
    """Check that a 200/206 answer is exactly what ``request`` asked for.

    Returns
    -------
    (start, end, size)
        The absolute span of the body (end exclusive) and the object size if known.

    Raises
    ------
    BadResponseError
        Missing or inconsistent ``Content-Length``/``Content-Range``, or a span other
        than the one requested (retryable: a proxy or cache answered badly).
    bams3.errors.UsageError
        A server that ignores ``Range`` for a request not starting at byte 0 (it would
        send the whole object every time).
    """
    if content_length is None:
        raise BadResponseError(f"{url}: response without Content-Length")
    if status == 206:
        start, end, size = parse_content_range(content_range)
        if start is None or end is None:
            raise BadResponseError(f"{url}: 206 response with bad Content-Range {content_range!r}")
    elif status == 200:
        start, end, size = 0, content_length, content_length
        if request is not None and _request_start(request, size) != 0:
            raise UsageError(f"{url}: the server ignores byte-range requests")
    else:
        raise BadResponseError(f"{url}: unexpected HTTP status {status} for a read")
    if end - start != content_length:
        raise BadResponseError(
            f"{url}: Content-Length {content_length} does not match Content-Range {content_range!r}"
        )
    expected = _expected_span(request, size)
    if status == 206 and expected is not None and size is None:  # total unknown ("*"): the end may be short
        if start != expected[0] or end > expected[1]:
            raise BadResponseError(f"{url}: asked for bytes {expected}, got {(start, end)}")
    elif status == 206 and expected is not None and (start, end) != expected:
        raise BadResponseError(f"{url}: asked for bytes {expected}, got {(start, end)}")
    if expected is not None and status == 200 and end > expected[1]:
        end = expected[1]  # whole object sent for a prefix request: read only the prefix
    return start, end, size


def _request_start(request: ByteRequest, size: int | None) -> int | None:
    if isinstance(request, RangeByteRequest):
        return request.start
    if isinstance(request, OffsetByteRequest):
        return request.offset
    if isinstance(request, SuffixByteRequest):
        return None if size is None else max(0, size - request.suffix)
    raise TypeError(f"unsupported byte range {request!r}")


def _expected_span(request: ByteRequest | None, size: int | None) -> tuple[int, int] | None:
    if size is None:
        if isinstance(request, RangeByteRequest):
            return request.start, request.end
        return None
    if request is None:
        return 0, size
    if isinstance(request, RangeByteRequest):
        return request.start, min(request.end, size)
    if isinstance(request, OffsetByteRequest):
        return request.offset, size
    if isinstance(request, SuffixByteRequest):
        return max(0, size - request.suffix), size
    raise TypeError(f"unsupported byte range {request!r}")


class StreamCancelled(Exception):
    """Raised inside a read-ahead fetch whose stream was closed (never reaches callers)."""


class Response:
    """The body of one checked GET: bytes ``[start, end)`` of an object.

    Backends subclass it to read from their client's body object and translate its
    errors (a dropped connection or read timeout must surface as
    :class:`~bams3.errors.TransientIOError`).
    """

    def __init__(self, *, start: int, end: int, size: int | None, etag: str | None) -> None:
        self.start = start
        self.end = end
        self.size = size
        self.etag = etag

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body; ``b""`` at its end."""
        return b""

    def close(self) -> None:
        """Release the connection (closing it if the body was not read to the end)."""


class RemoteStore(Store):
    """Base of the S3 and HTTP(S) stores: retries, resumption and checks in one place."""

    scheme: ClassVar[str]

    def __init__(self, *, retry: RetryPolicy | None = None, timeouts: Timeouts | None = None) -> None:
        self.retry = retry if retry is not None else RetryPolicy.from_env()
        self.timeouts = timeouts if timeouts is not None else Timeouts.from_env()

    # ----------------------------------------------------------------- primitives

    @abstractmethod
    def _open_range(self, key: str, request: ByteRequest | None, *, if_match: str | None) -> Response | None:
        """Send one GET for ``request`` of ``key``; None if the object does not exist.

        Must check status and headers with :func:`check_span`, answer a range
        starting at or past the end (416) with an empty :class:`Response`, and raise
        :class:`~bams3.errors.IntegrityError` (not retried) when ``if_match`` no longer
        matches. One call is one request; the caller counts and retries it.
        """

    @abstractmethod
    def _stat_once(self, key: str) -> ObjectInfo | None:
        """One metadata request for ``key`` (None if missing); retried by the caller."""

    # ----------------------------------------------------------------- Store hooks

    def _stat(self, key: str) -> ObjectInfo | None:
        return call_with_retries(
            lambda: self._stat_once(key),
            policy=self.retry,
            scheme=self.scheme,
            op="stat",
            what=f"stat {self.key_url(key)}",
        )

    def _get(self, key: str, request: ByteRequest | None) -> bytes | None:
        empty = (isinstance(request, RangeByteRequest) and request.start == request.end) or (
            isinstance(request, SuffixByteRequest) and request.suffix == 0
        )
        if empty:  # HTTP cannot ask for zero bytes; answer after checking existence
            return b"" if self._stat(key) is not None else None
        # A whole object is asked for as "bytes=0-": the 206 answer then states the
        # object's size (Content-Range), so a body cut short together with its
        # Content-Length (a 200 would look complete) is still caught.
        return self._read_resuming(key, request or OffsetByteRequest(0), if_match=None, cancel=None)

    def _open_read(
        self,
        key: str,
        start: int,
        end: int | None,
        *,
        block_size: int,
        readahead: int,
        info: ObjectInfo | None = None,
    ) -> BinaryIO:
        if info is None:
            info = self._stat(key)
            if info is None:
                raise ObjectNotFoundError(f"{self.key_url(key)}: no such object")
        stop = info.size if end is None else min(end, info.size)
        etag = info.etag

        def fetch(block_start: int, block_end: int, cancel: threading.Event) -> bytes:
            data = self._read_resuming(key, RangeByteRequest(block_start, block_end), if_match=etag, cancel=cancel)
            if data is None:
                raise IntegrityError(f"{info.url}: object disappeared while being read")
            if len(data) != block_end - block_start:
                raise IntegrityError(
                    f"{info.url}: object is shorter than its reported size {info.size} (changed while being read?)"
                )
            return data

        return RangedReader(  # type: ignore[return-value]
            fetch, url=info.url, start=min(start, stop), end=stop, block_size=block_size, readahead=readahead
        )

    # ----------------------------------------------------------------- the loop

    def _read_resuming(
        self,
        key: str,
        request: ByteRequest | None,
        *,
        if_match: str | None,
        cancel: threading.Event | None,
    ) -> bytes | None:
        """Read ``request`` of ``key`` completely, resuming broken bodies (None if missing)."""
        pieces: list[bytes] = []
        if not self._transfer(key, request, if_match=if_match, cancel=cancel, consume=pieces.append):
            return None
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _fetch_to(
        self, info: ObjectInfo, start: int, write: Callable[[bytes], object]
    ) -> None:
        """Bytes ``[start, info.size)`` of the object, handed to ``write`` as they arrive.

        One GET for the whole span (not a stream of ranged blocks): no block is held in
        memory, nothing is fetched twice, and the bytes reach the file as they come. A body
        that breaks off is resumed from its first missing byte (pinned to ``info.etag``),
        so every byte handed to ``write`` before a failure is final.
        """
        if start >= info.size:
            return
        found = self._transfer(
            info.key,
            RangeByteRequest(start, info.size),
            if_match=info.etag,
            cancel=None,
            consume=write,
            chunk=STREAM_CHUNK,
        )
        if not found:  # gone since ``info`` was taken (a listing, a stat)
            raise ObjectNotFoundError(f"{info.url}: no such object")

    # ----------------------------------------------------------------- the loop

    def _transfer(
        self,
        key: str,
        request: ByteRequest | None,
        *,
        if_match: str | None,
        cancel: threading.Event | None,
        consume: Callable[[bytes], object],
        chunk: int = READ_CHUNK,
    ) -> bool:
        """Read ``request`` of ``key`` completely into ``consume``, resuming broken bodies.

        Returns False (having consumed nothing) if the object does not exist. A failure
        of ``consume`` itself (a local disk error) is not retried.
        """
        url = self.key_url(key)
        budget = self.retry.budget(cancel=cancel)
        got = 0
        span: tuple[int, int] | None = None  # absolute span, known after the first answer
        etag = if_match
        while True:
            attempt = request if span is None else RangeByteRequest(span[0] + got, span[1])
            IO_STATS.record(self.scheme, "get", requests=1)
            response: Response | None = None
            received = 0
            try:
                response = self._open_range(key, attempt, if_match=etag)
                if response is None:
                    if span is None:
                        return False
                    raise IntegrityError(f"{url}: object disappeared while being read")
                if span is None:
                    span = (response.start, response.end)
                    etag = etag or response.etag
                elif (response.start, response.end) != (span[0] + got, span[1]):
                    raise BadResponseError(f"{url}: resumed read answered with the wrong byte range")
                want = span[1] - span[0]
                while got < want:
                    if cancel is not None and cancel.is_set():
                        raise StreamCancelled(url)
                    data = response.read(min(chunk, want - got))
                    if not data:
                        raise BadResponseError(f"{url}: response body ended after {got} of {want} bytes")
                    if len(data) > want - got:
                        raise BadResponseError(f"{url}: response body longer than the {want} bytes announced")
                    got += len(data)
                    received += len(data)
                    consume(data)
                return True
            except (TransientIOError, BadResponseError) as exc:
                IO_STATS.record(self.scheme, "get", errors=1)
                log.info("resuming %s at byte %d after: %s", url, got, exc)
                if not budget.wait_before_retry():
                    raise budget.give_up(exc) from exc
                IO_STATS.record(self.scheme, "get", retries=1)
            except StreamCancelled:
                raise
            except BaseException:
                IO_STATS.record(self.scheme, "get", errors=1)
                raise
            finally:
                if received:
                    IO_STATS.record(self.scheme, "get", bytes_in=received)
                if response is not None:
                    response.close()
