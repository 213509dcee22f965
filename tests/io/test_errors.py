"""HTTP/S3 answers mapped to the project's error types, and the checks a 200/206 must pass."""
from __future__ import annotations

import pytest

from bams3.errors import (
    AccessDeniedError,
    AuthenticationError,
    Bams3Error,
    ExpiredUrlError,
    ObjectNotFoundError,
    PreconditionFailedError,
    TransientIOError,
    UsageError,
)
from bams3.io._remote import check_span, error_for_response, parse_content_range
from bams3.io.ranges import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from bams3.io.retry import BadResponseError

URL = "https://host/x.bam?<redacted>"


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (404, "NoSuchKey", "The specified key does not exist.", ObjectNotFoundError),
        (404, "NoSuchBucket", "", ObjectNotFoundError),
        (403, "AccessDenied", "Access Denied", AccessDeniedError),
        (403, "AccessDenied", "Request has expired", ExpiredUrlError),
        (403, None, "403 Forbidden: URL has expired", ExpiredUrlError),
        (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist", AuthenticationError),
        (403, "SignatureDoesNotMatch", "...", AuthenticationError),
        (400, "ExpiredToken", "The provided token has expired.", AuthenticationError),
        (412, "PreconditionFailed", "At least one of the pre-conditions did not hold", PreconditionFailedError),
        (503, "SlowDown", "Please reduce your request rate.", TransientIOError),
        (500, "InternalError", "", TransientIOError),
        (429, None, None, TransientIOError),
        (400, "RequestTimeout", "Your socket connection to the server was not read from", TransientIOError),
        (400, "InvalidArgument", "bad", Bams3Error),
    ],
)
def test_error_mapping(status: int, code: str | None, message: str | None, expected: type) -> None:
    error = error_for_response(URL, status, code, message)
    assert type(error) is expected
    assert str(error).startswith(URL)
    assert "\n" not in str(error)


def test_error_messages_are_redacted() -> None:
    error = error_for_response(URL, 403, "AccessDenied", "denied for https://h/k?Signature=deadbeef")
    assert "deadbeef" not in str(error)


def test_permanent_errors_are_builtin_catchable() -> None:
    assert isinstance(error_for_response(URL, 404, None, None), FileNotFoundError)
    assert isinstance(error_for_response(URL, 403, None, None), PermissionError)


def test_content_range_parsing() -> None:
    assert parse_content_range("bytes 0-9/100") == (0, 10, 100)
    assert parse_content_range("bytes */100") == (None, None, 100)
    assert parse_content_range("bytes 5-9/*") == (5, 10, None)
    assert parse_content_range("garbage") == (None, None, None)


def test_span_checks() -> None:
    ok = check_span(URL, RangeByteRequest(10, 20), status=206, content_length=10, content_range="bytes 10-19/100")
    assert ok == (10, 20, 100)
    # at the end of the object the answer is legitimately shorter than asked
    end_of_object = check_span(
        URL, RangeByteRequest(95, 200), status=206, content_length=5, content_range="bytes 95-99/100"
    )
    assert end_of_object[:2] == (95, 100)
    suffix = check_span(URL, SuffixByteRequest(3), status=206, content_length=3, content_range="bytes 97-99/100")
    assert suffix[:2] == (97, 100)
    assert check_span(URL, OffsetByteRequest(0), status=200, content_length=50, content_range=None) == (0, 50, 50)
    # a prefix answered with the whole object: read only the prefix
    assert check_span(URL, RangeByteRequest(0, 10), status=200, content_length=50, content_range=None)[:2] == (0, 10)
    bad = [
        dict(request=RangeByteRequest(10, 20), status=206, content_length=9, content_range="bytes 10-19/100"),
        dict(request=RangeByteRequest(10, 20), status=206, content_length=10, content_range="bytes 0-9/100"),
        dict(request=RangeByteRequest(10, 20), status=206, content_length=10, content_range=None),
        dict(request=OffsetByteRequest(0), status=206, content_length=10, content_range="bytes 0-9/100"),
        dict(request=RangeByteRequest(0, 10), status=206, content_length=None, content_range="bytes 0-9/100"),
        dict(request=RangeByteRequest(0, 10), status=204, content_length=0, content_range=None),
    ]
    for case in bad:
        with pytest.raises(BadResponseError):
            check_span(URL, **case)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="ignores byte-range"):
        check_span(URL, RangeByteRequest(10, 20), status=200, content_length=50, content_range=None)
