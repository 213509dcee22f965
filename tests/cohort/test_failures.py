"""Partial failure: a missing, incomplete or corrupt dataset fails alone, the others complete."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bams3.cohort import CohortSample, run_cohort
from bams3.errors import Bams3Error, DatasetError, IntegrityError
from bams3.regions import Region, parse_regions
from tests.helpers.bamgen import write_bam
from tests.helpers.faultproxy import Fault, FaultProxy

from .conftest import REFERENCES, Cohort, convert_small, samtools_count

REGIONS = parse_regions(["chr1:20000-90000", "chr2:1000-1500", "chrM"])


def _copy(sample: CohortSample, directory: Path, name: str) -> Path:
    target = directory / f"{name}.bams3"
    shutil.copytree(sample.url, target)
    return target


def _expected(cohort: Cohort, names: list[str]) -> list[list[int]]:
    return [[samtools_count(cohort.bam(n), r.to_samtools()) for r in REGIONS] for n in names]


def _chunk_files(dataset: Path) -> list[Path]:
    return sorted(p for p in dataset.rglob("*.bch"))


@pytest.fixture
def broken(local_cohort: Cohort, tmp_path: Path) -> dict[str, Path]:
    """Copies of S0 broken in every way a cohort meets."""
    source = local_cohort.samples[0]
    out = {"missing": tmp_path / "missing.bams3"}
    unfinished = _copy(source, tmp_path, "unfinished")
    (unfinished / "_metadata.json").unlink()
    out["unfinished"] = unfinished
    garbage = _copy(source, tmp_path, "garbage")
    (garbage / "_metadata.json").write_text('{"format": "bams3", "format_version": 1, "run_id": 3')
    out["garbage"] = garbage
    lost = _copy(source, tmp_path, "lost_chunk")
    metadata = json.loads((lost / "_metadata.json").read_text())
    run = metadata["run_id"]
    (lost / "chunks" / run / "0" / "0.bch").unlink()  # chr1 bin 0 (0-32 kbp): at the first region's edge
    out["lost_chunk"] = lost
    flipped = _copy(source, tmp_path, "flipped")
    chunk = flipped / "chunks" / run / "0" / "0.bch"
    data = bytearray(chunk.read_bytes())
    data[-12] ^= 0xFF  # in the frame table at the end (the frames wholly inside are counted from it)
    chunk.write_bytes(bytes(data))
    out["flipped"] = flipped
    return out


def test_broken_datasets_fail_alone(local_cohort: Cohort, broken: dict[str, Path]) -> None:
    good = local_cohort.samples[1:3]
    samples = [good[0], *(CohortSample(name, str(path)) for name, path in broken.items()), good[1]]
    result = run_cohort(samples, REGIONS, jobs=4, show_progress=False)
    by_name = {o.sample: o for o in result.outcomes}
    assert [o.sample for o in result.outcomes] == [s.name for s in samples]
    assert by_name["S1"].ok and by_name["S2"].ok
    assert result.counts[[0, -1]].tolist() == _expected(local_cohort, ["S1", "S2"])
    for name, path in broken.items():
        error = by_name[name].error
        assert error is not None and "\n" not in error, name
        assert str(path) in error, (name, error)  # the message names the dataset
    assert "not a complete BAMS3 dataset" in by_name["missing"].error  # type: ignore[operator]
    assert "not a complete BAMS3 dataset" in by_name["unfinished"].error  # type: ignore[operator]
    assert "not valid JSON" in by_name["garbage"].error  # type: ignore[operator]
    assert "missing" in by_name["lost_chunk"].error  # type: ignore[operator]
    assert (result.counts[1:-1] == -1).all()
    for name in ("lost_chunk", "flipped"):  # the message names the chunk object at fault
        assert "/0/0.bch: " in str(by_name[name].error), by_name[name].error


def test_a_corrupt_chunk_no_region_touches_does_not_matter(local_cohort: Cohort, broken: dict[str, Path]) -> None:
    """Only the chunks a region needs are read: damage elsewhere goes unnoticed (validate finds it)."""
    region = [Region("chr2", 1000, 1500)]
    result = run_cohort([CohortSample("lost_chunk", str(broken["lost_chunk"]))], region, show_progress=False)
    assert not result.failed
    assert result.counts.tolist() == [[samtools_count(local_cohort.bam("S0"), "chr2:1001-1500")]]


def test_fail_fast_raises_the_first_error(local_cohort: Cohort, broken: dict[str, Path]) -> None:
    samples = [local_cohort.samples[1], CohortSample("garbage", str(broken["garbage"]))]
    with pytest.raises(DatasetError, match="not valid JSON"):
        run_cohort(samples, REGIONS, fail_fast=True, show_progress=False)
    with pytest.raises(IntegrityError, match="missing"):
        run_cohort([CohortSample("lost", str(broken["lost_chunk"]))], REGIONS, jobs=1, fail_fast=True,
                   show_progress=False)


def test_other_references_fail_the_sample(local_cohort: Cohort, tmp_path: Path) -> None:
    """A dataset without a region's reference, and one whose chr1 has another length (another build)."""
    renamed = write_bam(tmp_path / "renamed.bam", n_pairs=300, seed=7, edge_cases=False,
                        references=[("1", 200_000), ("chr2", 150_000), ("chrM", 16_569)])
    longer = write_bam(tmp_path / "longer.bam", n_pairs=300, seed=8, edge_cases=False,
                       references=[("chr1", 248_956), ("chr2", 150_000), ("chrM", 16_569)])
    convert_small(renamed, str(tmp_path / "renamed.bams3"))
    convert_small(longer, str(tmp_path / "longer.bams3"))
    samples = [*local_cohort.samples[:2], CohortSample("renamed", str(tmp_path / "renamed.bams3")),
               CohortSample("longer", str(tmp_path / "longer.bams3"))]
    result = run_cohort(samples, REGIONS, jobs=3, show_progress=False)
    errors = {o.sample: o.error for o in result.outcomes}
    assert errors["S0"] is None and errors["S1"] is None
    assert "unknown reference 'chr1'" in str(errors["renamed"])
    assert "reference chr1 is 248,956 bp here but 200,000 bp in most samples" in str(errors["longer"])
    assert result.reference_lengths()["chr1"] == dict(REFERENCES)["chr1"]
    assert result.counts[:2].tolist() == _expected(local_cohort, ["S0", "S1"])


def test_s3_missing_dataset_and_transient_errors(s3_cohort: object, fault_proxy: FaultProxy,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a faulty proxy: 503s and dropped connections are retried; a missing prefix fails alone."""
    cohort: Cohort = s3_cohort()  # type: ignore[operator]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
    bucket = cohort.samples[0].url.split("/")[2]
    fault_proxy.add(Fault("status", method="GET", path=r".*\.bch", status=503, times=3))
    fault_proxy.add(Fault("drop", method="GET", path=r".*_metadata\.json", after_bytes=100, times=2))
    samples = [*cohort.samples, CohortSample("absent", f"s3://{bucket}/cohort/absent.bams3")]
    result = run_cohort(samples, REGIONS, jobs=8, show_progress=False)
    assert [o.sample for o in result.failed] == ["absent"]
    assert "not a complete BAMS3 dataset" in str(result.failed[0].error)
    assert result.counts[:-1].tolist() == _expected(cohort, [s.name for s in cohort.samples])
    assert result.io.retries >= 5


def test_an_error_that_is_a_bug_is_not_swallowed(local_cohort: Cohort, monkeypatch: pytest.MonkeyPatch) -> None:
    from bams3.cohort._measure import SampleWork

    def broken(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(SampleWork, "fetch_task", broken)
    with pytest.raises(ZeroDivisionError):
        run_cohort(local_cohort.samples, REGIONS, show_progress=False)
    assert issubclass(DatasetError, Bams3Error)
