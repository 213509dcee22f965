"""S3 (and S3-compatible servers) through botocore.

Clients: one per endpoint, region and credential source, cached for the process
(botocore clients are thread-safe, sessions are not, so sessions are created under a lock
and used only to make the client). The endpoint comes from the ``endpoint_url`` option,
else ``$AWS_ENDPOINT_URL_S3``, else ``$AWS_ENDPOINT_URL`` (read when the store is
opened, so tests can point a store at a proxy); with an endpoint, addressing is
path-style, which local servers and most S3-compatible stores need.

botocore's own retries are off (one attempt per call): :mod:`bams3.io.retry` is the
only retry layer, and it resumes broken downloads instead of repeating them. Every
call has the connect and read timeouts of :class:`~bams3.io.retry.Timeouts`.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import botocore.config
import botocore.exceptions
import botocore.session
from botocore import UNSIGNED

from ..errors import (
    AuthenticationError,
    Bams3Error,
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailedError,
    TransientIOError,
    UsageError,
)
from ._remote import RemoteStore, Response, check_span, error_for_response, parse_content_range
from .keys import check_key
from .metrics import IO_STATS
from .multipart import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, PartSizer
from .ranges import ByteRequest, http_range_header
from .redact import redact_logger, redact_text
from .retry import BadResponseError, RetryPolicy, Timeouts, call_with_retries
from .store import ObjectInfo, ObjectWriter, PutMode, Store, open_source_file

__all__ = ["S3Store", "S3Settings", "s3_client"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: largest object CopyObject copies in one request; larger ones use UploadPartCopy
COPY_OBJECT_LIMIT = 5 * 1024**3
#: part size of server-side multipart copies (no bytes pass through us: big parts are fine)
COPY_PART_SIZE = 512 * 1024**2
#: keys per listing request (S3's maximum)
LIST_PAGE_SIZE = 1000
#: connections per client (stream read-ahead, range fetches and part uploads share them)
MAX_POOL_CONNECTIONS = 64
#: a single-part ETag that is the hex MD5 of the object (multipart ones end in "-<parts>")
_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
#: largest object read back to tell whether a create-only write whose answer was lost was ours,
#: when its ETag cannot say (SSE-KMS, SSE-C, some S3-compatible servers)
_READ_BACK_LIMIT = 16 * 1024 * 1024
#: bytes of file parts held in memory at once by all file uploads of the process together
#: (``$BAMS3_UPLOAD_BUFFER_MB`` overrides): what bounds a sync's memory however many jobs
#: upload however large files
UPLOAD_BUFFER_LIMIT = 256 * 1024 * 1024
#: files up to this size are uploaded in one PUT streamed from disk (fewer requests, no parts to
#: assemble or leave behind; as ``rclone``'s upload cutoff), larger ones in parallel multipart parts;
#: an explicit ``part_size`` makes every file larger than one part multipart
UPLOAD_CUTOFF = 128 * 1024 * 1024
#: bodies up to this size are sent without ``Expect: 100-continue`` (the extra round trip
#: costs more than sending a small body that may be refused)
_NO_CONTINUE_LIMIT = 1024 * 1024


class _ByteBudget:
    """A process-wide allowance of bytes in memory: ``reserve(n)`` blocks until ``n`` bytes fit.

    A request larger than the whole budget is let through alone (when nothing else is
    reserved), so that one huge part can never wait forever.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def reserve(self, n: int, cancel: threading.Event | None = None) -> Iterator[None]:
        with self._cond:
            while self.used and self.used + n > self.limit:
                if cancel is not None and cancel.is_set():
                    raise _Cancelled()
                self._cond.wait(0.1 if cancel is not None else None)
            self.used += n
        try:
            yield
        finally:
            with self._cond:
                self.used -= n
                self._cond.notify_all()


class _Cancelled(Exception):
    """A part of an upload that failed elsewhere: it is not uploaded (never reaches callers)."""


def _upload_budget_limit() -> int:
    raw = os.environ.get("BAMS3_UPLOAD_BUFFER_MB", "").strip()
    if not raw:
        return UPLOAD_BUFFER_LIMIT
    try:
        value = int(float(raw) * 1024 * 1024)
    except ValueError:
        raise UsageError(f"$BAMS3_UPLOAD_BUFFER_MB={raw!r} is not a number") from None
    if value < MIN_PART_SIZE:
        raise UsageError(f"$BAMS3_UPLOAD_BUFFER_MB={raw!r} must be at least 5")
    return value


_UPLOAD_BUDGET: _ByteBudget | None = None
_UPLOAD_BUDGET_LOCK = threading.Lock()


def _upload_budget() -> _ByteBudget:
    global _UPLOAD_BUDGET
    with _UPLOAD_BUDGET_LOCK:
        if _UPLOAD_BUDGET is None:
            _UPLOAD_BUDGET = _ByteBudget(_upload_budget_limit())
        return _UPLOAD_BUDGET


def _skip_continue_for_small_bodies(params: dict[str, Any], **_: Any) -> None:
    """``before-call`` hook: no ``Expect: 100-continue`` for small bodies (one round trip less).

    botocore asks for it on every upload with a file-like body, and it turns bytes into one:
    a small PUT then waits for the server's ``100 Continue`` before sending its body.
    """
    headers = params.get("headers")
    if not headers or "Expect" not in headers:
        return
    body = params.get("body")
    size: int | None = None
    if isinstance(body, (bytes, bytearray)):
        size = len(body)
    elif isinstance(body, io.BytesIO):  # not getbuffer(): that would copy the bytes it shares
        at = body.tell()
        size = body.seek(0, io.SEEK_END) - at
        body.seek(at)
    if size is not None and size <= _NO_CONTINUE_LIMIT:
        del headers["Expect"]


def _etag_is_md5(etag: str | None, md5_hex: str) -> bool:
    """Whether ``etag`` is the MD5 ``md5_hex`` (S3's ETag of a single-part PUT of unencrypted or
    SSE-S3 data). A mismatch proves nothing: SSE-KMS and SSE-C ETags are not MD5s."""
    match = _MD5_ETAG.match(etag or "")
    return match is not None and match.group(1).lower() == md5_hex


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True, slots=True)
class S3Settings:
    """What identifies a client: two stores with equal settings share one."""

    endpoint_url: str | None
    region: str
    anonymous: bool
    timeouts: Timeouts

    @classmethod
    def resolve(
        cls,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        anonymous: bool = False,
        timeouts: Timeouts | None = None,
    ) -> S3Settings:
        """Fill unset values from the environment, as the AWS tools do."""
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return cls(endpoint or None, region, bool(anonymous), timeouts or Timeouts.from_env())


# botocore's DEBUG output quotes Authorization headers (Credential=..., Signature=...)
for _name in ("botocore.endpoint", "botocore.auth", "botocore.httpsession", "botocore.parsers"):
    redact_logger(_name)
redact_logger("urllib3.connectionpool")

_CLIENTS: dict[tuple[S3Settings, str, int], Any] = {}
_CLIENTS_LOCK = threading.Lock()
_CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)


def _credential_source() -> str:
    """A digest of the environment that selects credentials (never the values themselves)."""
    text = "\0".join(os.environ.get(name, "") for name in _CREDENTIAL_ENV)
    return hashlib.sha256(text.encode()).hexdigest()


def s3_client(settings: S3Settings) -> Any:
    """The cached botocore S3 client for ``settings`` (and the current credential env, process)."""
    key = (settings, _credential_source(), os.getpid())  # clients do not survive fork()
    client = _CLIENTS.get(key)
    if client is not None:
        return client
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            config = botocore.config.Config(
                connect_timeout=settings.timeouts.connect,
                read_timeout=settings.timeouts.read,
                retries={"total_max_attempts": 1, "mode": "standard"},
                max_pool_connections=MAX_POOL_CONNECTIONS,
                tcp_keepalive=True,
                s3={"addressing_style": "path"} if settings.endpoint_url else None,
                signature_version=UNSIGNED if settings.anonymous else None,
                user_agent_extra="bams3",
            )
            # botocore's own session, not boto3's: boto3 (and s3transfer, which it imports) add
            # a tenth of a second to every command's start and nothing this module uses
            session = botocore.session.Session()
            client = session.create_client(
                "s3", region_name=settings.region, endpoint_url=settings.endpoint_url, config=config
            )
            # on "before-call.s3", where botocore adds the header (a more specific event runs earlier)
            client.meta.events.register_last("before-call.s3", _skip_continue_for_small_bodies)
            _CLIENTS[key] = client
    return client


# --------------------------------------------------------------------------- errors


def _status_and_code(exc: botocore.exceptions.ClientError) -> tuple[int, str, str]:
    response = exc.response or {}
    error = response.get("Error", {}) or {}
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return status, str(error.get("Code") or ""), str(error.get("Message") or "")


def _is_not_found(exc: botocore.exceptions.ClientError) -> bool:
    status, code, _ = _status_and_code(exc)
    return status == 404 or code in ("NoSuchKey", "NotFound", "404")


def _translate(exc: Exception, url: str) -> Exception:
    """The :mod:`bams3.errors` exception for a boto3/botocore failure."""
    if isinstance(exc, botocore.exceptions.ClientError):
        status, code, message = _status_and_code(exc)
        return error_for_response(url, status, code, message)
    if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return AuthenticationError(
            f"{url}: no usable AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, botocore.exceptions.CredentialRetrievalError):
        return AuthenticationError(f"{url}: could not obtain AWS credentials: {redact_text(str(exc))}")
    if isinstance(exc, botocore.exceptions.IncompleteReadError):  # the connection closed early
        return TransientIOError(f"{url}: connection closed mid-body: {redact_text(str(exc))}")
    if isinstance(exc, botocore.exceptions.FlexibleChecksumError):
        return BadResponseError(f"{url}: {redact_text(str(exc))}")
    if isinstance(exc, botocore.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return Bams3Error(f"{url}: TLS certificate verification failed")
    if isinstance(exc, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return TransientIOError(f"{url}: {type(exc).__name__}: {redact_text(str(exc))}")
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return UsageError(f"{url}: {redact_text(str(exc))}")
    return exc


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """Re-raise boto3/botocore failures as :mod:`bams3.errors` types (one-line, redacted)."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        translated = _translate(exc, url)
        if translated is exc:
            raise
        raise translated from exc


# --------------------------------------------------------------------------- store


class _S3Body(Response):
    def __init__(self, body: Any, url: str, **span: Any) -> None:
        super().__init__(**span)
        self._body = body
        self._url = url

    def read(self, n: int) -> bytes:
        with _translated(self._url):
            return self._body.read(n)

    def close(self) -> None:
        self._body.close()


class S3Store(RemoteStore):
    """Objects under ``s3://bucket/prefix/``.

    Parameters
    ----------
    bucket, prefix
        The root; keys are appended to ``prefix``.
    endpoint_url, region, anonymous
        Client settings (see :class:`S3Settings`); ``anonymous`` sends unsigned
        requests, for public buckets.
    retry, timeouts
        Retry policy and timeouts (default: from the environment).
    """

    scheme = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        anonymous: bool = False,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        super().__init__(retry=retry, timeouts=timeouts)
        if not bucket or "/" in bucket:
            raise UsageError(f"invalid S3 bucket name {bucket!r}")
        self.bucket = bucket
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix, where=f"s3://{bucket}")
        self.prefix = prefix + "/" if prefix else ""
        self.settings = S3Settings.resolve(
            endpoint_url=endpoint_url, region=region, anonymous=anonymous, timeouts=self.timeouts
        )

    def _identity(self) -> tuple[object, ...]:
        return (self.bucket, self.prefix, self.settings.endpoint_url)

    @property
    def client(self) -> Any:
        """The shared botocore client of this store's settings."""
        return s3_client(self.settings)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key_url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _full(self, key: str) -> str:
        return self.prefix + key

    def _call(self, op: str, url: str, attempt: Callable[[], T], *, cancel: threading.Event | None = None) -> T:
        """One retried S3 call; ``attempt`` runs with errors translated.

        Setting ``cancel`` stops further retries (an aborted upload's parts).
        """

        def translated() -> T:
            with _translated(url):
                return attempt()

        return call_with_retries(
            translated, policy=self.retry, scheme="s3", op=op, what=f"{op} {url}", cancel=cancel
        )

    # ----------------------------------------------------------------- reading

    def _info(self, key: str, size: int, etag: str | None, last_modified: Any) -> ObjectInfo:
        mtime = last_modified.timestamp() if last_modified is not None else None
        return ObjectInfo(key, int(size), etag, mtime, self.key_url(key))

    def _stat_once(self, key: str) -> ObjectInfo | None:
        with _translated(self.key_url(key)):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            except botocore.exceptions.ClientError as exc:
                if _is_not_found(exc):
                    return None
                status, code, _ = _status_and_code(exc)
                if status in (400, 401, 403) and code in ("", str(status)):
                    return self._stat_by_get(key, exc)
                raise
        return self._info(key, head["ContentLength"], head.get("ETag"), head.get("LastModified"))

    def _stat_by_get(self, key: str, head_error: botocore.exceptions.ClientError) -> ObjectInfo:
        """Ask again with a one-byte GET after a HEAD refused without saying why.

        A HEAD answer has no body, so a 403 cannot tell wrong credentials
        (``InvalidAccessKeyId``, ``SignatureDoesNotMatch``, ``ExpiredToken``) from a missing
        permission: users were told "access denied" when their keys were wrong. The GET's
        error names the reason; and where a policy allows GET but not HEAD, it answers the stat.
        """
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._full(key), Range="bytes=0-0")
        except botocore.exceptions.ClientError as probe:
            status, code, _ = _status_and_code(probe)
            if code and code != str(status):
                raise probe from None
            raise head_error from None
        answer["Body"].close()
        size = parse_content_range(answer.get("ContentRange"))[2]
        if size is None:
            raise head_error
        return self._info(key, size, answer.get("ETag"), answer.get("LastModified"))

    def _open_range(self, key: str, request: ByteRequest | None, *, if_match: str | None) -> Response | None:
        url = self.key_url(key)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        header = http_range_header(request)
        if header:
            kwargs["Range"] = header
        if if_match:
            kwargs["IfMatch"] = if_match
        with _translated(url):
            try:
                answer = self.client.get_object(**kwargs)
            except botocore.exceptions.ClientError as exc:
                status, code, _ = _status_and_code(exc)
                if _is_not_found(exc):
                    return None
                if status == 416 or code == "InvalidRange":  # starts at or past the end
                    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                    size = parse_content_range(headers.get("content-range"))[2]
                    at = size if size is not None else 0
                    return Response(start=at, end=at, size=size, etag=None)
                if if_match and (status == 412 or code == "PreconditionFailed"):
                    raise IntegrityError(f"{url}: object changed while being read (ETag no longer matches)") from None
                raise
        body = answer["Body"]
        try:
            metadata = answer.get("ResponseMetadata", {})
            start, end, size = check_span(
                url,
                request,
                status=int(metadata.get("HTTPStatusCode") or 0),
                content_length=answer.get("ContentLength"),
                content_range=answer.get("ContentRange"),
            )
        except BaseException:
            body.close()
            raise
        return _S3Body(body, url, start=start, end=end, size=size, etag=answer.get("ETag"))

    def _list(self, prefix: str, *, recursive: bool) -> Iterator[ObjectInfo]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._full(prefix), "MaxKeys": LIST_PAGE_SIZE}
        if not recursive:
            kwargs["Delimiter"] = "/"
        url = self.key_url(prefix) if prefix else self.url
        while True:
            page = self._call("list", url, lambda: self.client.list_objects_v2(**kwargs))
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix) :]
                if key.endswith("/"):  # a "folder" marker made by a console: not an object
                    continue
                try:
                    check_key(key)
                except UsageError as exc:
                    log.warning("skipping S3 object that cannot be addressed safely: %s", exc)
                    continue
                yield self._info(key, item["Size"], item.get("ETag"), item.get("LastModified"))
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    # ----------------------------------------------------------------- writing

    def _put_once(self, key: str, data: bytes, *, mode: PutMode) -> ObjectInfo:
        """One PUT (retried), trusted only when the server shows it holds ``data``.

        Two things a 200 does not prove are checked. The server stored all of ``data``:
        the answer's ETag equals its MD5, or else a HEAD shows the full size (an upload
        cut by an intermediary is stored short by a server that checks no checksum); a
        short object is sent again, and when the write was create-only it is deleted
        first (its create succeeded, so it is this write's own). And a create-only write
        that meets "precondition failed" on a retry may have met its own earlier attempt,
        whose answer was lost: when the object there holds exactly ``data``, the write
        succeeded.
        """
        url = self.key_url(key)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key), "Body": data}
        if mode == "create":
            kwargs["IfNoneMatch"] = "*"
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        attempts = 0

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            IO_STATS.record("s3", "put", bytes_out=len(data))
            answer = self.client.put_object(**kwargs)
            if not _etag_is_md5(answer.get("ETag"), digest):
                self._check_stored_size(key, len(data), etag=answer.get("ETag"), created=mode == "create")
            return answer

        try:
            answer = self._call("put", url, attempt)
        except PreconditionFailedError:
            if attempts > 1 and mode == "create":
                info = self._holds(key, data, digest)
                if info is not None:
                    log.info("%s: an earlier attempt of this create-only write was stored (its answer was lost)", url)
                    return info
            raise
        return ObjectInfo(key, len(data), answer.get("ETag"), None, url)

    def _check_stored_size(self, key: str, size: int, *, etag: str | None, created: bool) -> None:
        """Raise :class:`BadResponseError` (retried) if ``key`` does not hold ``size`` bytes after a PUT.

        A short object that is this write's own (``created``: a create-only PUT succeeded;
        or it has the ETag the PUT answered with) is deleted first: nothing short stays
        under the name if the retries fail too, and a create-only retry can create it again.
        """
        IO_STATS.record("s3", "stat", requests=1)
        info = self._stat_once(key)
        if info is not None and info.size == size:
            return
        url = self.key_url(key)
        if info is not None and (created or (etag is not None and info.etag == etag)):
            with _translated(url):
                self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        found = "nothing" if info is None else f"{info.size} bytes"
        raise BadResponseError(f"{url}: the server holds {found} after a PUT of {size} bytes")

    def _holds(self, key: str, data: bytes, digest: str) -> ObjectInfo | None:
        """The object ``key`` if it holds exactly ``data`` (by ETag, or read back when small), else None."""
        info = self._stat(key)
        if info is None or info.size != len(data):
            return None
        if _etag_is_md5(info.etag, digest):
            return info
        if len(data) <= _READ_BACK_LIMIT and self._get(key, None) == data:
            return info
        return None

    def _put(self, key: str, data: bytes, *, mode: PutMode) -> ObjectInfo:
        if len(data) <= MAX_PART_SIZE:
            return self._put_once(key, data, mode=mode)
        return super()._put(key, data, mode=mode)

    def _open_write(
        self, key: str, *, part_size: int | None, size_hint: int | None, mode: PutMode, max_concurrency: int
    ) -> ObjectWriter:
        sizer = PartSizer.plan(part_size, size_hint)
        return _S3Writer(self, key, sizer=sizer, mode=mode, max_concurrency=max_concurrency)

    def _put_file(
        self, key: str, path: Path, *, mode: PutMode, part_size: int | None, max_concurrency: int
    ) -> ObjectInfo:
        """One PUT of the whole file when it fits in one part, else a multipart upload whose
        parts are read from the file by the threads that send them.

        Memory: at most ``max_concurrency`` parts of this file, and all file uploads of the
        process together at most :data:`UPLOAD_BUFFER_LIMIT` bytes of parts (whatever the
        file sizes and however many files are uploaded at once).
        """
        with open_source_file(path) as src:
            fd = src.fileno()
            size = os.fstat(fd).st_size
            sizer = PartSizer.plan(part_size, size)
            if size <= sizer.size_of(1):
                with _upload_budget().reserve(size):
                    data = _read_part(fd, 0, size, path)
                    _check_unchanged(fd, size, path)
                    return self._put_once(key, data, mode=mode)
            if part_size is None and size <= UPLOAD_CUTOFF:
                info = self._put_stream_once(key, path, size, mode=mode)
                _check_unchanged(fd, size, path)
                return info
            return self._put_file_parts(key, fd, size, sizer, path, mode=mode, max_concurrency=max_concurrency)

    def _put_stream_once(self, key: str, path: Path, size: int, *, mode: PutMode) -> ObjectInfo:
        """One PUT whose body is streamed from the file (nothing held in memory), trusted once a
        HEAD shows all ``size`` bytes (botocore's CRC32 header lets the server check the content).

        Each retry sends the file again from its start.
        """
        from ._local import open_local

        url = self.key_url(key)
        attempts = 0

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            IO_STATS.record("s3", "put", bytes_out=size)
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key), "ContentLength": size}
            if mode == "create":
                kwargs["IfNoneMatch"] = "*"
            with open_local(path, 0, size, url=str(path)) as body:  # reads stop at ``size`` even if it grows
                answer = self.client.put_object(Body=body, **kwargs)
            self._check_stored_size(key, size, etag=answer.get("ETag"), created=mode == "create")
            return answer

        try:
            answer = self._call("put", url, attempt)
        except PreconditionFailedError:
            if attempts > 1 and mode == "create":
                info = self._stat(key)
                if info is not None and info.size == size and _etag_is_md5(info.etag, _md5_of_file(path, size)):
                    log.info("%s: an earlier attempt of this create-only write was stored (its answer was lost)", url)
                    return info
            raise
        return ObjectInfo(key, size, answer.get("ETag"), None, url)

    def _put_file_parts(
        self, key: str, fd: int, size: int, sizer: PartSizer, path: Path, *, mode: PutMode, max_concurrency: int
    ) -> ObjectInfo:
        spans: list[tuple[int, int]] = []
        offset = 0
        while offset < size:
            if len(spans) >= MAX_PARTS:
                raise UsageError(f"{path}: too large for S3 ({MAX_PARTS} parts of the chosen size)")
            length = min(size - offset, sizer.size_of(len(spans) + 1))
            spans.append((offset, length))
            offset += length
        if mode == "create" and self._stat(key) is not None:
            raise PreconditionFailedError(f"{self.key_url(key)}: already exists (create-only write)")
        upload_id = self._create_upload(key)
        cancel = threading.Event()
        budget = _upload_budget()

        def send(number: int, start: int, length: int) -> str:
            with budget.reserve(length, cancel):
                if cancel.is_set():
                    raise _Cancelled()
                data = _read_part(fd, start, length, path)
                return self._upload_part(key, upload_id, number, data, cancel=cancel)

        pool = ThreadPoolExecutor(max_workers=min(max_concurrency, len(spans)), thread_name_prefix="bams3-upload")
        futures: dict[int, Future[str]] = {}
        try:
            for number, (start, length) in enumerate(spans, start=1):
                futures[number] = pool.submit(send, number, start, length)
            wait(futures.values(), return_when=FIRST_EXCEPTION)  # the first failure stops the upload at once
            for future in futures.values():
                if future.done() and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
            _check_unchanged(fd, size, path)
            etags = {n: f.result() for n, f in futures.items()}
            etag = self._complete_upload(key, upload_id, etags, mode=mode, size=size)
        except BaseException:
            cancel.set()
            for future in futures.values():
                future.cancel()
            pool.shutdown(wait=True)  # parts still uploading finish first: an abort must come after them
            try:
                self._abort_upload(key, upload_id)
            except Bams3Error as exc:  # keep the original failure; say what is left over
                log.error("could not abort multipart upload %s of %s: %s", upload_id, self.key_url(key), exc)
            raise
        pool.shutdown(wait=True)
        info = self._check_completed(key, size, etag)
        return ObjectInfo(key, size, info.etag, info.mtime, self.key_url(key))

    def _delete(self, key: str) -> None:
        url = self.key_url(key)

        def attempt() -> None:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
            except botocore.exceptions.ClientError as exc:
                if not _is_not_found(exc):
                    raise

        self._call("delete", url, attempt)

    # ----------------------------------------------------------------- multipart

    def _create_upload(self, key: str) -> str:
        answer = self._call(
            "multipart",
            self.key_url(key),
            lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=self._full(key)),
        )
        return str(answer["UploadId"])

    def _upload_part(
        self, key: str, upload_id: str, number: int, data: bytes, *, cancel: threading.Event | None = None
    ) -> str:
        def attempt() -> Any:
            IO_STATS.record("s3", "multipart", bytes_out=len(data))
            return self.client.upload_part(
                Bucket=self.bucket, Key=self._full(key), UploadId=upload_id, PartNumber=number, Body=data
            )

        return str(self._call("multipart", f"{self.key_url(key)} part {number}", attempt, cancel=cancel)["ETag"])

    def _complete_upload(
        self, key: str, upload_id: str, etags: dict[int, str], *, mode: PutMode, size: int | None = None
    ) -> str:
        """Complete a multipart upload; ``size``, when known, lets a retry recognise its own lost success."""
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._full(key),
            "UploadId": upload_id,
            "MultipartUpload": {"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]},
        }
        if mode == "create":
            kwargs["IfNoneMatch"] = "*"
        url = self.key_url(key)
        attempts = 0

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            return self.client.complete_multipart_upload(**kwargs)

        try:
            answer = self._call("multipart", url, attempt)
        except ObjectNotFoundError:
            # NoSuchUpload on a retry: an earlier attempt completed the upload and its answer was lost
            done = self._stat(key) if attempts > 1 else None
            if done is None or size is None or done.size != size:
                raise
            log.info("%s: an earlier attempt completed the multipart upload (its answer was lost)", url)
            return str(done.etag)
        return str(answer.get("ETag"))

    def _check_completed(self, key: str, size: int, etag: str | None) -> ObjectInfo:
        """The object a multipart upload completed, once a HEAD shows all ``size`` bytes.

        A part cut on its way is stored short by a server that checks no checksum, and
        the completed object is then short too: it is deleted (it is this upload's own
        when its ETag is the one the completion returned) and the write fails.
        """
        info = self._stat(key)
        if info is not None and info.size == size:
            return info
        url = self.key_url(key)
        if info is not None and etag is not None and info.etag == etag:
            try:
                self._delete(key)
            except Bams3Error as exc:  # keep the integrity error; say what is left over
                log.error("could not delete the short object %s: %s", url, exc)
        found = "nothing" if info is None else f"{info.size} bytes"
        raise IntegrityError(f"{url}: holds {found} after a multipart upload of {size} bytes")

    def _abort_upload(self, key: str, upload_id: str) -> None:
        def attempt() -> None:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._full(key), UploadId=upload_id)
            except botocore.exceptions.ClientError as exc:
                if not _is_not_found(exc):  # NoSuchUpload: already gone
                    raise

        self._call("multipart", self.key_url(key), attempt)

    # ----------------------------------------------------------------- copies

    def _copy_to(
        self, key: str, dst_store: Store, dst_key: str, *, mode: PutMode, part_size: int | None, max_concurrency: int
    ) -> ObjectInfo:
        if not (isinstance(dst_store, S3Store) and dst_store.settings == self.settings):
            return super()._copy_to(
                key, dst_store, dst_key, mode=mode, part_size=part_size, max_concurrency=max_concurrency
            )
        info = self._stat(key)
        if info is None:
            raise ObjectNotFoundError(f"{self.key_url(key)}: no such object")
        source = {"Bucket": self.bucket, "Key": self._full(key)}
        condition: dict[str, Any] = {"CopySourceIfMatch": info.etag} if info.etag else {}
        dst_url = dst_store.key_url(dst_key)
        if mode == "create" and dst_store._stat(dst_key) is not None:
            # CopyObject's If-None-Match is not honoured by every S3-compatible server;
            # the request below still carries it for the race this check cannot see.
            raise PreconditionFailedError(f"{dst_url}: already exists (create-only copy)")
        if info.size <= COPY_OBJECT_LIMIT:
            kwargs: dict[str, Any] = {
                "Bucket": dst_store.bucket,
                "Key": dst_store._full(dst_key),
                "CopySource": source,
                **condition,
            }
            if mode == "create":
                kwargs["IfNoneMatch"] = "*"
            answer = self._call("copy", dst_url, lambda: self.client.copy_object(**kwargs))
            etag = answer.get("CopyObjectResult", {}).get("ETag")
        else:
            etag = self._multipart_copy(
                info,
                source,
                condition,
                dst_store,
                dst_key,
                mode=mode,
                part_size=part_size,
                max_concurrency=max_concurrency,
            )
        return dst_store._confirm_copy(info, dst_key, etag)

    def _confirm_copy(self, source: ObjectInfo, dst_key: str, etag: str | None) -> ObjectInfo:
        """The destination of a server-side copy, once a HEAD shows it has the source's size.

        Neither CopyObject nor CompleteMultipartUpload answers with a size, and a 200 is
        trusted only with a matching size. A destination of the wrong size that is the
        copy's own result (its ETag is the one the copy returned) is deleted: it must not
        stay where a complete object is expected.
        """
        written = self._stat(dst_key)
        if written is not None and written.size == source.size:
            return written
        dst_url = self.key_url(dst_key)
        if written is not None and etag is not None and written.etag == etag:
            try:
                self._delete(dst_key)
            except Bams3Error as exc:  # keep the integrity error; say what is left over
                log.error("could not delete the bad copy %s: %s", dst_url, exc)
        found = "nothing" if written is None else f"{written.size} bytes"
        raise IntegrityError(
            f"{dst_url}: server-side copy of {source.url} left {found}, expected {source.size} bytes"
        )

    def _multipart_copy(
        self,
        info: ObjectInfo,
        source: dict[str, str],
        condition: dict[str, Any],
        dst: S3Store,
        dst_key: str,
        *,
        mode: PutMode,
        part_size: int | None,
        max_concurrency: int,
    ) -> str:
        """Server-side copy of an object over the single-request limit, part by part; returns the ETag.

        Parts are ``part_size`` bytes (default :data:`COPY_PART_SIZE`), grown if the
        object would otherwise need more than 10,000 of them.
        """
        part = max(MIN_PART_SIZE, part_size or COPY_PART_SIZE, -(-info.size // MAX_PARTS))
        ranges = [(start, min(info.size, start + part)) for start in range(0, info.size, part)]
        upload_id = dst._create_upload(dst_key)
        dst_url = dst.key_url(dst_key)

        def copy_part(number: int, start: int, end: int) -> str:
            answer = self._call(
                "copy",
                f"{dst_url} part {number}",
                lambda: self.client.upload_part_copy(
                    Bucket=dst.bucket,
                    Key=dst._full(dst_key),
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={start}-{end - 1}",
                    **condition,
                ),
            )
            return str(answer["CopyPartResult"]["ETag"])

        try:
            with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="bams3-copy") as pool:
                futures = {n: pool.submit(copy_part, n, s, e) for n, (s, e) in enumerate(ranges, start=1)}
                etags = {n: f.result() for n, f in futures.items()}
            etag = dst._complete_upload(dst_key, upload_id, etags, mode=mode)
        except BaseException:
            dst._abort_upload(dst_key, upload_id)
            raise
        return etag


def _read_part(fd: int, start: int, length: int, path: Path) -> bytes:
    """Bytes ``[start, start + length)`` of the open file ``fd`` (``os.pread``: threads share ``fd``)."""
    data = os.pread(fd, length, start)
    if len(data) < length:  # short reads happen only at the end of the file (or on odd file systems)
        pieces = [data]
        got = len(data)
        while got < length:
            more = os.pread(fd, length - got, start + got)
            if not more:
                raise IntegrityError(f"{path}: file changed size during the upload (shorter than {start + length} bytes)")
            pieces.append(more)
            got += len(more)
        data = b"".join(pieces)
    return data


def _md5_of_file(path: Path, size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        left = size
        while left > 0 and (block := f.read(min(left, 8 * 1024 * 1024))):
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def _check_unchanged(fd: int, size: int, path: Path) -> None:
    now = os.fstat(fd).st_size
    if now != size:
        raise IntegrityError(f"{path}: file changed size during the upload ({size} -> {now} bytes)")


class _S3Writer(ObjectWriter):
    """Buffer, then one PUT (small objects) or a multipart upload (large ones).

    Parts are cut as soon as the buffer holds one and uploaded on a small thread pool;
    ``write`` blocks while ``max_concurrency`` parts are in flight, which bounds memory
    to about ``(max_concurrency + 1) * part size``. Any failure (in a part, at the
    commit, or in the caller's ``with`` block) aborts the upload so that no parts are
    left behind to be billed.
    """

    def __init__(self, store: S3Store, key: str, *, sizer: PartSizer, mode: PutMode, max_concurrency: int) -> None:
        super().__init__(store.key_url(key))
        self._store = store
        self._key = key
        self._sizer = sizer
        self._mode = mode
        self._max_concurrency = max_concurrency
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._next_part = 1
        self._futures: dict[int, Future[str]] = {}
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._cancel = threading.Event()

    def _write(self, data: memoryview) -> None:
        self._buffer += data
        while len(self._buffer) >= self._sizer.size_of(min(self._next_part, MAX_PARTS)):
            size = self._sizer.size_of(min(self._next_part, MAX_PARTS))
            part = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._submit(part)

    def _raise_failed(self) -> None:
        for future in self._futures.values():
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def _submit(self, part: bytes) -> None:
        self._raise_failed()
        if self._next_part > MAX_PARTS:
            raise UsageError(f"{self.url}: object too large for S3 ({MAX_PARTS} parts used)")
        if self._upload_id is None:
            if self._mode == "create" and self._store._stat(self._key) is not None:
                raise PreconditionFailedError(f"{self.url}: already exists (create-only write)")
            self._upload_id = self._store._create_upload(self._key)
            self._pool = ThreadPoolExecutor(max_workers=self._max_concurrency, thread_name_prefix="bams3-upload")
        number = self._next_part
        self._next_part += 1
        self._slots.acquire()  # wait while max_concurrency parts are in flight
        assert self._pool is not None
        future = self._pool.submit(
            self._store._upload_part, self._key, self._upload_id, number, part, cancel=self._cancel
        )
        future.add_done_callback(lambda _: self._slots.release())
        self._futures[number] = future

    def _commit(self) -> ObjectInfo:
        if self._upload_id is None:
            data = bytes(self._buffer)
            self._buffer = bytearray()
            return self._store._put_once(self._key, data, mode=self._mode)
        if self._buffer:
            self._submit(bytes(self._buffer))
            self._buffer = bytearray()
        wait(list(self._futures.values()))
        self._raise_failed()
        etags = {n: f.result() for n, f in self._futures.items()}
        etag = self._store._complete_upload(self._key, self._upload_id, etags, mode=self._mode, size=self._written)
        self._upload_id = None  # completed: nothing left to abort
        self._shutdown()
        info = self._store._check_completed(self._key, self._written, etag)
        return ObjectInfo(self._key, self._written, info.etag, None, self.url)

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _abort(self) -> None:
        self._buffer = bytearray()
        self._cancel.set()  # parts being retried stop retrying
        for future in self._futures.values():
            future.cancel()
        self._shutdown()  # parts still uploading finish first: an abort must come after them
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._store._abort_upload(self._key, upload_id)
            except Bams3Error as exc:  # keep the original failure; say what is left over
                log.error("could not abort multipart upload %s of %s: %s", upload_id, self.url, exc)
