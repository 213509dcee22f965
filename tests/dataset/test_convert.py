"""convert's guarantees: sorted input only, nothing committed on failure, clean reruns, stale runs removed."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bams3.dataset import Dataset, convert
from bams3.dataset.export import write_bam
from bams3.dataset.keys import METADATA_KEY
from bams3.errors import BamFormatError, Bams3Error, DatasetError, UsageError

from .conftest import convert_small, records_stream


def _chunk_files(dataset: Path) -> list[Path]:
    return sorted(p for p in (dataset / "chunks").rglob("*") if p.is_file())


def test_unsorted_input_is_refused(make_bam: Callable[..., Path], tmp_path: Path) -> None:
    unsorted = make_bam("unsorted", n_pairs=3_000, sort=False, index=False, seed=5)
    with pytest.raises(BamFormatError, match="header says SO:unsorted"):
        convert(str(unsorted), str(tmp_path / "u.bams3"), show_progress=False)
    assert not (tmp_path / "u.bams3" / METADATA_KEY).exists()


def test_disorder_found_in_the_data(edge_bam: Path, tmp_path: Path) -> None:
    """A header claiming coordinate order does not make it so: the records are checked."""
    import pysam

    source = tmp_path / "liar.bam"
    with pysam.AlignmentFile(str(edge_bam)) as bam, pysam.AlignmentFile(str(source), "wb", template=bam) as out:
        records = [r for r, _ in zip(bam, range(3_000))]
        for record in records[1_500:] + records[:1_500]:
            out.write(record)
    with pytest.raises(BamFormatError, match="not sorted by coordinate.*samtools sort"):
        convert_small(source, tmp_path / "l.bams3")
    assert not (tmp_path / "l.bams3" / METADATA_KEY).exists()
    assert _chunk_files(tmp_path / "l.bams3") == []  # this run's chunks were removed


def test_interrupted_conversion_leaves_no_dataset_and_a_rerun_works(edge_bam: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.bam"
    data = edge_bam.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])
    destination = tmp_path / "t.bams3"
    with pytest.raises(Bams3Error):
        convert_small(truncated, destination)
    assert not (destination / METADATA_KEY).exists()
    assert _chunk_files(destination) == []
    with pytest.raises(DatasetError, match="not a complete BAMS3 dataset"):
        Dataset.open(str(destination))
    dataset = convert_small(edge_bam, destination)
    out = tmp_path / "back.bam"
    write_bam(dataset, str(out))
    assert records_stream(out) == records_stream(edge_bam)


def test_existing_dataset_needs_overwrite_and_stale_runs_are_removed(edge_bam: Path, tmp_path: Path) -> None:
    destination = tmp_path / "o.bams3"
    first = convert_small(edge_bam, destination)
    # leftovers of an abandoned older run, and an object that is not ours
    abandoned = destination / "chunks" / "20200101T000000Z-00000000" / "0" / "0.bch"
    abandoned.parent.mkdir(parents=True)
    abandoned.write_bytes(b"stale")
    (destination / "README.txt").write_text("readers ignore objects they do not know")
    with pytest.raises(UsageError, match="already exists.*--overwrite"):
        convert_small(edge_bam, destination)
    second = convert_small(edge_bam, destination, overwrite=True)
    assert second.metadata.run_id != first.metadata.run_id
    runs = {p.relative_to(destination / "chunks").parts[0] for p in _chunk_files(destination)}
    assert runs == {second.metadata.run_id}
    assert (destination / "README.txt").exists()
    assert json.loads((destination / METADATA_KEY).read_text())["run_id"] == second.metadata.run_id


def test_chunks_of_another_run_are_never_read(edge_bam: Path, tmp_path: Path) -> None:
    """Chunk keys carry the run id: a replaced chunk under another run id changes nothing."""
    destination = tmp_path / "r.bams3"
    dataset = convert_small(edge_bam, destination)
    other = destination / "chunks" / "29990101T000000Z-ffffffff"
    shutil.copytree(destination / "chunks" / dataset.metadata.run_id, other)
    for path in other.rglob("*.bch"):
        path.write_bytes(b"garbage")
    assert Dataset.open(str(destination)).count("chr1") == dataset.count("chr1")


def test_bad_knobs(edge_bam: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        convert(str(edge_bam), str(tmp_path / "x"), workers=0)
    with pytest.raises(UsageError):
        convert(str(edge_bam), str(tmp_path / "x"), bin_size=10)
    with pytest.raises(DatasetError):
        convert(str(edge_bam), str(tmp_path / "x"), level=0)
    with pytest.raises(UsageError, match="format must be one of 1, 2"):
        convert(str(edge_bam), str(tmp_path / "x"), format=3)
