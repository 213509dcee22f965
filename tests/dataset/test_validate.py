"""validate finds what is wrong with chunks, and only that."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from bams3.dataset import Dataset
from bams3.dataset.keys import METADATA_KEY
from bams3.dataset.metadata import ChunkTable
from bams3.dataset.validate import validate


def test_a_good_dataset_validates(edge_dataset: Dataset) -> None:
    report = validate(edge_dataset.url)
    assert report.ok, report.problems
    assert report.records == edge_dataset.metadata.totals.records
    assert report.bytes_checked == edge_dataset.metadata.totals.stored_size
    assert validate(edge_dataset.url, quick=True).ok


def test_counts_that_disagree_with_the_chunks(edge_dataset: Dataset, tmp_path: Path) -> None:
    """Metadata that is consistent in itself but lies about one chunk's content."""
    copy = tmp_path / "lie.bams3"
    shutil.copytree(edge_dataset.url, copy)
    meta = edge_dataset.metadata
    columns = {k: np.array(v) for k, v in meta.chunks.columns.items()}
    columns["bases"][1] += 10
    columns["max_end"][2] += 1
    totals = dataclasses.replace(meta.totals, bases=meta.totals.bases + 10)
    lie = dataclasses.replace(meta, chunks=ChunkTable(columns), totals=totals)
    (copy / METADATA_KEY).write_bytes(lie.to_json())
    report = validate(str(copy), workers=2)
    assert len(report.problems) == 2, report.problems
    assert all("the metadata says" in p for p in report.problems)
    assert validate(str(copy), quick=True).ok
