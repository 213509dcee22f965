"""The counting proxy charges a client for the bytes it was sent, not for whole objects.

Benchmarks compare bytes read by bams3 and by htslib through this proxy; htslib opens a BAM
with an unranged GET and closes the connection once it has the header. Counting that GET as
the whole object would overstate what htslib reads by orders of magnitude.
"""
from __future__ import annotations

import http.client
import os
import time
from urllib.parse import urlsplit

import boto3

from tests.helpers.faultproxy import FaultProxy
from tests.helpers.s3server import S3Server

SIZE = 32 * 1024 * 1024


def _get(url: str, read: int | None) -> bytes:
    """A GET of a presigned URL that reads ``read`` bytes of the body, or all of it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        answer = conn.getresponse()
        assert answer.status == 200
        return answer.read() if read is None else answer.read(read)
    finally:
        conn.close()


def test_a_client_that_stops_early_is_charged_what_it_was_sent(
        s3_server: S3Server, s3_bucket: str, fault_proxy: FaultProxy) -> None:
    body = os.urandom(SIZE)
    s3_server.client().put_object(Bucket=s3_bucket, Key="big.bin", Body=body)
    url = boto3.client("s3", endpoint_url=fault_proxy.url).generate_presigned_url(
        "get_object", Params={"Bucket": s3_bucket, "Key": "big.bin"})

    assert _get(url, None) == body
    assert fault_proxy.bytes_delivered() == SIZE  # a complete read is counted exactly

    fault_proxy.reset()
    assert _get(url, 100_000) == body[:100_000]
    deadline = time.monotonic() + 10
    while fault_proxy.records[0].status == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the relay notices the closed connection at its next write
    sent = fault_proxy.bytes_delivered()
    assert 100_000 <= sent < SIZE // 2, sent
