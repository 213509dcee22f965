"""The dataset through a real S3 API (moto on loopback): writes, reads, request counts, failures."""
from __future__ import annotations

from pathlib import Path

import pytest

from bams3.dataset import Dataset, convert
from bams3.dataset.export import write_bam
from bams3.dataset.keys import METADATA_KEY
from bams3.errors import Bams3Error
from bams3.io.metrics import IO_STATS
from tests.helpers.faultproxy import FaultProxy
from tests.helpers.s3server import S3Server

from .conftest import BIN, FRAME, records_stream, samtools_count


@pytest.fixture(scope="module")
def s3_dataset(s3_server: S3Server, edge_bam: Path, fmt: int) -> str:
    """The edge-case BAM uploaded to S3 and converted from there, into S3 (once per format)."""
    bucket = s3_server.make_bucket()
    s3_server.client().upload_file(str(edge_bam), bucket, "in/edge.bam")
    url = f"s3://{bucket}/datasets/edge.bams3"
    convert(f"s3://{bucket}/in/edge.bam", url, bin_size=BIN, frame_bytes=FRAME, workers=2, format=fmt,
            show_progress=False)
    return url


def _keys(s3_server: S3Server, bucket: str) -> list[str]:
    listing = s3_server.client().list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_round_trip_through_s3(s3_dataset: str, edge_bam: Path, tmp_path: Path) -> None:
    out = tmp_path / "back.bam"
    write_bam(Dataset.open(s3_dataset), str(out))
    assert records_stream(out) == records_stream(edge_bam)


def test_stats_is_one_get(s3_dataset: str) -> None:
    with IO_STATS.scope() as scope:
        stats = Dataset.open(s3_dataset).stats()
    assert stats["reads"]["total"] > 8_000
    assert scope.counts().requests == 1
    assert scope.counts("s3", "get").requests == 1


@pytest.mark.parametrize("region", ["chr1:70001-71000", "chr1:100000-200000", "chr2:1-150000"])
def test_query_reads_little(s3_dataset: str, edge_bam: Path, region: str) -> None:
    """Metadata, the footers of the chunks that can overlap, their overlapping frames: no more
    requests than htslib's 7 for one region, and a fraction of the data."""
    with IO_STATS.scope() as counting:
        count = Dataset.open(s3_dataset).count(region)
    with IO_STATS.scope() as querying:
        dataset = Dataset.open(s3_dataset)
        records = sum(len(b) for b in dataset.query(region))
    assert count == records == samtools_count(edge_bam, region)
    for scope in (counting, querying):
        assert scope.counts().requests <= 7, scope.format_table()
        assert scope.counts().bytes_in < dataset.metadata.totals.stored_size / 3, scope.format_table()


def test_counts_read_only_the_core_streams(s3_dataset: str, edge_bam: Path, fmt: int) -> None:
    """Version 2 counts fetch the core stream (positions, ends, flags) of the edge blocks only:
    a fraction of what returning the same records reads; version 1 decodes whole frames."""
    region = "chr1:70001-71000"
    counter, reader = Dataset.open(s3_dataset), Dataset.open(s3_dataset)
    for dataset in (counter, reader):  # footers first: the scopes below see block reads only
        for chunk in dataset.plan(region).chunks.tolist():
            dataset.footer(chunk)
    with IO_STATS.scope() as counting:
        count = counter.count(region)
    with IO_STATS.scope() as querying:
        records = sum(len(b) for b in reader.query(region))
    assert count == records == samtools_count(edge_bam, region)
    if fmt == 2:
        assert counting.counts().bytes_in * 3 < querying.counts().bytes_in, (counting.format_table(),
                                                                             querying.format_table())


def test_count_of_whole_bins_needs_only_the_metadata(s3_dataset: str, edge_bam: Path) -> None:
    dataset = Dataset.open(s3_dataset)
    chunks = dataset.metadata.chunks
    first = int(chunks.min_pos[0])
    last = int(chunks.max_pos[chunks.ref_id == 0].max())
    region = f"chr1:{first + 1}-{last + 1}"
    with IO_STATS.scope() as scope:
        assert dataset.count(region) == samtools_count(edge_bam, region)
    assert scope.counts().requests == 0


def test_failed_upload_leaves_no_dataset(s3_server: S3Server, edge_bam: Path, fault_proxy: FaultProxy,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3_server.make_bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
    fault_proxy.inject("status", method="PUT", path=r"/0/2\.bch", status=403, code="AccessDenied",
                       message="denied", times=None)
    url = f"s3://{bucket}/d.bams3"
    with pytest.raises(Bams3Error):
        convert(str(edge_bam), url, bin_size=BIN, frame_bytes=FRAME, workers=2, show_progress=False)
    assert _keys(s3_server, bucket) == []  # chunks written before the failure were deleted
    assert s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    fault_proxy.clear_faults()
    convert(str(edge_bam), url, bin_size=BIN, frame_bytes=FRAME, show_progress=False)
    assert METADATA_KEY in [k.rsplit("/", 1)[-1] for k in _keys(s3_server, bucket)]


def test_metadata_is_committed_create_only(s3_server: S3Server, edge_bam: Path) -> None:
    """Two conversions racing for one destination: the loser fails and removes its chunks."""
    from bams3.dataset import writer
    from bams3.io import open_store

    bucket = s3_server.make_bucket()
    url = f"s3://{bucket}/race.bams3"
    store = open_store(url)
    real_commit = writer._commit

    def other_commits_first(store_: object, data: bytes, previous: object) -> None:
        store.put(METADATA_KEY, b'{"format": "bams3"}', mode="overwrite")  # the other run wins
        real_commit(store_, data, previous)  # type: ignore[arg-type]

    writer._commit = other_commits_first  # type: ignore[assignment]
    try:
        with pytest.raises(Bams3Error, match="another conversion committed"):
            convert(str(edge_bam), url, bin_size=BIN, show_progress=False)
    finally:
        writer._commit = real_commit  # type: ignore[assignment]
    assert _keys(s3_server, bucket) == [f"race.bams3/{METADATA_KEY}"]
