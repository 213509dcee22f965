"""Robustness against a misbehaving network, through the fault-injecting proxy in front of S3.

Each test installs faults on the proxy, points a store at the proxy, and checks both
the outcome (identical bytes, the right error type) and the traffic (how many requests
reached the server, how many were retried), since "it worked" can hide a retry storm
and "it failed" can hide a retry of something permanent.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from bams3.errors import (
    AccessDeniedError,
    AuthenticationError,
    ExpiredUrlError,
    IntegrityError,
    ObjectNotFoundError,
    TransientIOError,
)
from bams3.io import Store, open_store
from bams3.io.metrics import IO_STATS
from tests.helpers.faultproxy import FaultProxy
from tests.helpers.s3server import S3Server

from .conformance import payload

MiB = 1024 * 1024


@pytest.fixture
def bucket(s3_server: S3Server, s3_bucket: str) -> str:
    return s3_bucket


@pytest.fixture
def store(bucket: str, fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A store whose every request goes through the proxy, with short timeouts."""
    monkeypatch.setenv("BAMS3_READ_TIMEOUT", "1")
    monkeypatch.setenv("BAMS3_RETRY_MAX", "4")
    return open_store(f"s3://{bucket}", endpoint_url=fault_proxy.url)


def put(s3_server: S3Server, bucket: str, key: str, data: bytes) -> None:
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=data)


# ------------------------------------------------------------------ reads that resume


def test_stream_resumes_after_dropped_connections(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy
) -> None:
    data = payload(3 * MiB + 123)
    put(s3_server, bucket, "obj", data)
    fault = fault_proxy.inject("drop", method="GET", path=r"/obj", skip=1, times=3, after_bytes=50_000)
    with IO_STATS.scope() as scope, store.open_read("obj", block_size=MiB, readahead=1) as stream:
        assert stream.read() == data
    assert fault.applied == 3
    assert scope.counts("s3", "get").retries == 3
    gets = [r for r in fault_proxy.records if r.method == "GET"]
    # every dropped body was resumed from its first missing byte, not started again
    resumed = [r for r in gets if r.fault is None]
    assert sum(r.bytes_delivered for r in resumed) + 3 * 50_000 == len(data)


def test_get_resumes_after_truncated_body_with_valid_looking_headers(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy
) -> None:
    data = payload(2 * MiB)
    put(s3_server, bucket, "obj", data)
    fault_proxy.inject("truncate", method="GET", path=r"/obj", times=2, after_bytes=5000)
    with IO_STATS.scope() as scope:
        assert store.get("obj", (1000, 2 * MiB)) == data[1000:]
    assert scope.counts("s3", "get").retries == 2
    assert fault_proxy.count("GET", r"/obj") == 3


def test_persistently_truncated_body_is_an_integrity_error(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy
) -> None:
    put(s3_server, bucket, "obj", payload(100_000))
    fault_proxy.inject("truncate", method="GET", path=r"/obj", times=None, after_bytes=10)
    with pytest.raises(IntegrityError, match="gave up after 5 attempts"):
        store.get("obj")
    assert fault_proxy.count("GET", r"/obj") == 5


def test_stalled_transfer_times_out_and_resumes(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy
) -> None:
    data = payload(600_000)
    put(s3_server, bucket, "obj", data)
    fault_proxy.inject("stall", method="GET", path=r"/obj", after_bytes=50_000, seconds=5)
    fault_proxy.inject("stall", method="GET", path=r"/obj", seconds=5)  # stalls before the headers
    with IO_STATS.scope() as scope:
        assert store.get("obj") == data
    assert scope.counts("s3", "get").retries == 2


def test_get_file_resumes_from_the_partial_file(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy, tmp_path
) -> None:
    data = payload(2 * MiB)
    put(s3_server, bucket, "obj", data)
    # the whole-object GET always breaks after 786,432 body bytes
    fault_proxy.inject("drop", method="GET", path=r"/obj", header=("Range", r"^bytes=0-"), times=None,
                       after_bytes=786432)
    monkey_retry = pytest.MonkeyPatch()
    monkey_retry.setenv("BAMS3_RETRY_MAX", "0")
    try:
        failing = open_store(f"s3://{bucket}", endpoint_url=fault_proxy.url)
        with pytest.raises(TransientIOError):
            failing.get_file("obj", tmp_path / "obj")
    finally:
        monkey_retry.undo()
    partial = (tmp_path / "obj.part").stat().st_size
    assert partial == 786432 and not (tmp_path / "obj").exists()  # the bytes received were kept
    fault_proxy.clear_faults()
    fault_proxy.reset()
    store.get_file("obj", tmp_path / "obj")
    assert (tmp_path / "obj").read_bytes() == data
    # only the missing bytes were fetched, in one request
    gets = [r for r in fault_proxy.records if r.method == "GET"]
    assert len(gets) == 1 and gets[0].bytes_delivered == len(data) - partial
    assert not (tmp_path / "obj.part").exists()


def test_get_file_fetches_a_whole_object_with_one_get(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy, tmp_path
) -> None:
    """A download is one GET streamed to the file, not a series of ranged blocks; with the
    object's info given, no metadata request either."""
    data = payload(20 * MiB + 17)
    put(s3_server, bucket, "obj", data)
    info = store.stat("obj")
    assert info is not None
    fault_proxy.reset()
    store.get_file("obj", tmp_path / "obj", info=info)
    assert (tmp_path / "obj").read_bytes() == data
    assert [r.method for r in fault_proxy.records] == ["GET"]
    assert fault_proxy.records[0].bytes_delivered == len(data)


def test_get_file_resumes_a_dropped_body_in_place(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy, tmp_path
) -> None:
    """A body that breaks off is continued from its first missing byte by the same download."""
    data = payload(3 * MiB + 5)
    put(s3_server, bucket, "obj", data)
    fault_proxy.inject("drop", method="GET", path=r"/obj", times=2, after_bytes=100_000)
    with IO_STATS.scope() as scope:
        store.get_file("obj", tmp_path / "obj")
    assert (tmp_path / "obj").read_bytes() == data
    assert scope.counts("s3", "get").retries == 2
    gets = [r for r in fault_proxy.records if r.method == "GET"]
    assert len(gets) == 3 and sum(r.bytes_delivered for r in gets) == len(data)


def test_corrupting_proxy_changes_one_byte(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy
) -> None:
    """The proxy's corruption reaches the caller intact (BGZF/zstd checksums catch it upstream)."""
    data = payload(10_000)
    put(s3_server, bucket, "obj", data)
    fault_proxy.inject("corrupt", method="GET", path=r"/obj", after_bytes=4321)
    got = store.get("obj", (0, 10_000))
    assert got is not None and len(got) == len(data)
    assert [i for i in range(len(data)) if got[i] != data[i]] == [4321]


# ------------------------------------------------------------------ transient answers


@pytest.mark.parametrize(
    ("status", "code"), [(503, "SlowDown"), (500, "InternalError"), (429, "TooManyRequests"), (400, "RequestTimeout")]
)
def test_transient_answers_are_retried(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy, status: int, code: str
) -> None:
    put(s3_server, bucket, "obj", b"payload")
    fault_proxy.inject("status", method="GET", path=r"/obj", times=2, status=status, code=code)
    with IO_STATS.scope() as scope:
        assert store.get("obj") == b"payload"
    assert fault_proxy.count("GET", r"/obj") == 3
    assert scope.counts("s3", "get").retries == 2


def test_every_operation_retries_throttling(bucket: str, store: Store, fault_proxy: FaultProxy) -> None:
    fault_proxy.inject("status", method="PUT", path=r"/obj", times=1)
    fault_proxy.inject("status", method="HEAD", path=r"/obj", times=1)
    fault_proxy.inject("status", method="GET", path=r"list-type=2", times=1)
    fault_proxy.inject("status", method="DELETE", path=r"/obj", times=1)
    with IO_STATS.scope() as scope:
        store.put("obj", b"x")
        assert store.stat("obj") is not None
        assert [i.key for i in store.list()] == ["obj"]
        store.delete("obj")
    for op in ("put", "stat", "list", "delete"):
        assert scope.counts("s3", op).retries == 1, op
    assert fault_proxy.count() == 8


def test_retries_are_bounded(bucket: str, store: Store, fault_proxy: FaultProxy) -> None:
    fault_proxy.inject("status", method="GET", path=r"/obj", times=None, status=503)
    with pytest.raises(TransientIOError, match=r"503.*gave up after 5 attempts") as caught:
        store.get("obj")
    assert f"s3://{bucket}/obj" in str(caught.value)
    assert fault_proxy.count("GET") == 5


def test_unreachable_endpoint_is_transient(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.s3server import free_port

    monkeypatch.setenv("BAMS3_RETRY_MAX", "1")
    store = open_store(f"s3://{bucket}", endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransientIOError, match="gave up after 2 attempts"):
        store.get("obj")


# ------------------------------------------------------------------ permanent answers


def test_forbidden_is_not_retried(bucket: str, store: Store, fault_proxy: FaultProxy) -> None:
    fault_proxy.inject("status", method="GET", path=r"/obj", times=None, status=403, code="AccessDenied",
                       message="Access Denied")
    with IO_STATS.scope() as scope, pytest.raises(AccessDeniedError) as caught:
        store.get("obj")
    assert not isinstance(caught.value, ExpiredUrlError)
    assert fault_proxy.count("GET") == 1
    assert scope.counts("s3", "get").retries == 0


def test_expired_request_is_reported_as_such(bucket: str, store: Store, fault_proxy: FaultProxy) -> None:
    fault_proxy.inject("status", method="GET", path=r"/obj", status=403, code="AccessDenied",
                       message="Request has expired")
    with pytest.raises(ExpiredUrlError, match="expired"):
        store.get("obj")
    assert fault_proxy.count("GET") == 1


def test_missing_object_is_not_retried(bucket: str, store: Store, fault_proxy: FaultProxy) -> None:
    assert store.get("missing") is None
    assert store.stat("missing") is None
    with pytest.raises(ObjectNotFoundError, match=f"s3://{bucket}/missing"):
        store.open_read("missing")
    assert fault_proxy.count() == 3


def test_object_replaced_during_a_stream_is_detected(
    s3_server: S3Server, bucket: str, store: Store
) -> None:
    put(s3_server, bucket, "obj", payload(2 * MiB, seed=1))
    with store.open_read("obj", block_size=256 * 1024, readahead=0) as stream:
        stream.read(1000)
        put(s3_server, bucket, "obj", payload(2 * MiB, seed=2))
        with pytest.raises(IntegrityError, match="changed while being read"):
            stream.read()


@pytest.fixture(scope="module")
def auth_server() -> Iterator[S3Server]:
    """A second S3 server that checks credentials (moto skips the check by default)."""
    with S3Server.start(extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        yield server


def test_unknown_access_key_is_an_authentication_error(
    auth_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    store = open_store("s3://some-bucket", endpoint_url=auth_server.endpoint_url)
    with IO_STATS.scope() as scope, pytest.raises(AuthenticationError, match="InvalidAccessKeyId") as caught:
        store.get("obj")
    assert scope.counts("s3").requests == 1
    assert "wrong-secret" not in str(caught.value)


# ------------------------------------------------------------------ uploads


def test_multipart_part_failures_are_retried(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy
) -> None:
    data = payload(11 * MiB + 5)
    fault_proxy.inject("status", method="PUT", path=r"partNumber=2", times=2, status=500, code="InternalError")
    with store.open_write("big", part_size=5 * MiB) as writer:
        for i in range(0, len(data), MiB):
            writer.write(data[i : i + MiB])
    assert s3_server.client().get_object(Bucket=bucket, Key="big")["Body"].read() == data
    assert fault_proxy.count("PUT", r"partNumber=2") == 3


def test_failed_multipart_upload_is_aborted(
    s3_server: S3Server, bucket: str, store: Store, fault_proxy: FaultProxy
) -> None:
    fault_proxy.inject("status", method="PUT", path=r"partNumber=2", times=None, status=403, code="AccessDenied")
    with pytest.raises(AccessDeniedError):
        with store.open_write("big", part_size=5 * MiB, max_concurrency=2) as writer:
            for _ in range(16):
                writer.write(payload(MiB))
    client = s3_server.client()
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert fault_proxy.count("DELETE", r"uploadId=") == 1


def test_caller_failure_aborts_the_upload(s3_server: S3Server, bucket: str, store: Store) -> None:
    with pytest.raises(ValueError, match="caller"):
        with store.open_write("big", part_size=5 * MiB) as writer:
            writer.write(payload(12 * MiB))
            raise ValueError("caller failed midway")
    client = s3_server.client()
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


# ------------------------------------------------------------------ secrets


def test_debug_logs_carry_no_signatures(
    s3_server: S3Server, bucket: str, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # botocore's own level too: a CLI test run earlier in the session may have quieted it
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="botocore"):
        store.put("obj", b"x")
        store.get("obj")
    assert "Credential=" in caplog.text or "Signature" in caplog.text  # botocore did log its auth
    assert re.search(r"Signature[=:]\s*[0-9a-f]{64}", caplog.text) is None
    assert re.search(r"Credential=testing", caplog.text) is None
