"""Writes whose outcome the network hides: a lost answer, an upload cut on its way.

S3 answers a PUT once the object is stored; the answer can still be lost (a load
balancer times out, a connection resets), and a broken intermediary can cut a body
and still get a 200 from a server that does not check checksums. bams3.io must never
report a write as done when the server holds other bytes, and must not mistake its own
earlier, successful attempt for another writer's (that mistake made ``convert`` delete
the chunks of the dataset it had just committed).
"""
from __future__ import annotations

import hashlib

import pytest

from bams3.errors import IntegrityError, PreconditionFailedError
from bams3.io import Store, open_store
from tests.helpers.faultproxy import FaultProxy
from tests.helpers.s3server import S3Server

MiB = 1024 * 1024


@pytest.fixture
def store(s3_bucket: str, fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A store whose every request goes through the proxy."""
    monkeypatch.setenv("BAMS3_RETRY_MAX", "4")
    return open_store(f"s3://{s3_bucket}/w", endpoint_url=fault_proxy.url)


def stored(s3_server: S3Server, bucket: str, key: str) -> bytes | None:
    """The bytes the server holds under ``key`` (None if nothing), asked directly, not through the proxy."""
    client = s3_server.client()
    try:
        return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def blob(size: int, seed: int) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "little")).digest(size)


@pytest.mark.parametrize("mode", ["overwrite", "create"])
def test_a_cut_upload_is_sent_again(s3_server: S3Server, s3_bucket: str, store: Store, fault_proxy: FaultProxy,
                                    mode: str) -> None:
    """The server answers 200 to a body cut to 1,000 bytes; the write notices and sends it again.

    Create-only, the short object the first attempt created is this write's own: it is
    removed, so that the retry is not refused as if another writer had been first.
    """
    data = blob(200_000, 1)
    cut = fault_proxy.inject("truncate_request", method="PUT", path=r"/w/obj$", after_bytes=1_000)
    info = store.put("obj", data, mode=mode)  # type: ignore[arg-type]
    assert cut.applied == 1 and fault_proxy.count("PUT") == 2
    assert info.size == len(data) and stored(s3_server, s3_bucket, "w/obj") == data


def test_a_lost_answer_to_a_create_only_put_is_not_a_conflict(s3_server: S3Server, s3_bucket: str, store: Store,
                                                              fault_proxy: FaultProxy) -> None:
    data = blob(5_000, 2)
    lost = fault_proxy.inject("lose", method="PUT", path=r"/w/meta\.json$")
    info = store.put("meta.json", data, mode="create")
    assert lost.applied == 1 and info.size == len(data)
    assert stored(s3_server, s3_bucket, "w/meta.json") == data


def test_a_lost_answer_does_not_hide_another_writer(s3_server: S3Server, s3_bucket: str, store: Store,
                                                    fault_proxy: FaultProxy) -> None:
    theirs = blob(5_000, 3)
    s3_server.client().put_object(Bucket=s3_bucket, Key="w/meta.json", Body=theirs)
    fault_proxy.inject("lose", method="PUT", path=r"/w/meta\.json$")
    with pytest.raises(PreconditionFailedError):
        store.put("meta.json", blob(5_000, 4), mode="create")
    assert stored(s3_server, s3_bucket, "w/meta.json") == theirs


def test_a_cut_multipart_part_leaves_no_object(s3_server: S3Server, s3_bucket: str, store: Store,
                                               fault_proxy: FaultProxy) -> None:
    data = blob(11 * MiB, 5)
    # the last part (others must be 5 MiB or the server refuses the completion anyway)
    fault_proxy.inject("truncate_request", method="PUT", path=r"partNumber=3", after_bytes=1_000, times=None)
    with pytest.raises(IntegrityError, match="s3://.*/w/big"):
        with store.open_write("big", part_size=5 * MiB) as writer:
            writer.write(data)
    assert stored(s3_server, s3_bucket, "w/big") is None
    assert not s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_an_upload_cut_every_time_leaves_nothing_under_its_name(s3_server: S3Server, s3_bucket: str, store: Store,
                                                                fault_proxy: FaultProxy) -> None:
    s3_server.client().put_object(Bucket=s3_bucket, Key="w/obj", Body=b"the previous version")
    fault_proxy.inject("truncate_request", method="PUT", path=r"/w/obj$", after_bytes=1_000, times=None)
    with pytest.raises(IntegrityError, match=r"s3://.*/w/obj: the server holds 1000 bytes after a PUT of 200000 bytes"):
        store.put("obj", blob(200_000, 6))
    assert stored(s3_server, s3_bucket, "w/obj") is None


def test_wrong_credentials_are_named_even_when_a_head_is_refused(auth_server: S3Server) -> None:
    """A HEAD's 403 has no body; the store asks again with a GET whose error says the key is unknown."""
    from bams3.errors import AuthenticationError

    store = open_store("s3://any-bucket/w", endpoint_url=auth_server.endpoint_url)
    with pytest.raises(AuthenticationError, match=r"s3://any-bucket/w/obj: credentials rejected \(InvalidAccessKeyId"):
        store.stat("obj")


def test_a_head_refused_where_a_get_is_allowed_still_answers(s3_server: S3Server, s3_bucket: str, store: Store,
                                                            fault_proxy: FaultProxy) -> None:
    s3_server.client().put_object(Bucket=s3_bucket, Key="w/obj", Body=b"12345")
    fault_proxy.inject("status", method="HEAD", path=r"/w/obj$", status=403, code="", message="", times=None)
    info = store.stat("obj")
    assert info is not None and info.size == 5
