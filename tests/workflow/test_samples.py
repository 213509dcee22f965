"""bams3.workflow.samples: the one sheet parser shared by common.smk (DAG) and the rule scripts (jobs)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bams3.errors import ConfigError
from bams3.workflow.samples import SampleBam, job_bam, load_sample_table, resolve_sample, sample_name_from_url

SIGNED = "https://host/d/NA1.bam?X-Amz-Signature=deadbeef&X-Amz-Expires=60"


def test_names_from_urls() -> None:
    assert sample_name_from_url(SIGNED) == "NA1"
    assert sample_name_from_url("/data/x.y.bam") == "x.y"
    with pytest.raises(ConfigError, match="cannot make a sample name"):
        sample_name_from_url("https://host/.hidden.bam")


def test_sheet_is_stripped_and_commented(tmp_path: Path) -> None:
    sheet = tmp_path / "s.tsv"
    sheet.write_text(f"# comment\n sample \tbam\tindex\n a \t{SIGNED} \t\nb\t/x/b.bam\t/x/b.bai\n")
    table, where = load_sample_table({"samples": str(sheet), "bam_urls": []})
    assert list(table.columns) == ["sample", "bam", "index"] and where == f"sample sheet {sheet}"
    assert resolve_sample({"samples": str(sheet)}, "a") == SampleBam("a", SIGNED, None)
    assert resolve_sample({"samples": str(sheet)}, "b") == SampleBam("b", "/x/b.bam", "/x/b.bai")


def test_bam_urls_win_over_the_sheet(tmp_path: Path) -> None:
    config = {"samples": str(tmp_path / "absent.tsv"), "bam_urls": [SIGNED]}
    assert resolve_sample(config, "NA1") == SampleBam("NA1", SIGNED, None)


def test_errors_are_config_errors(tmp_path: Path) -> None:
    sheet = tmp_path / "s.tsv"
    sheet.write_text("sample\tbam\na\t/a.bam\na\t/b.bam\n")
    with pytest.raises(ConfigError, match="repeated: a"):
        load_sample_table({"samples": str(sheet)})
    with pytest.raises(ConfigError, match="not found"):
        load_sample_table({"samples": str(tmp_path / "nope.tsv")})
    sheet.write_text("sample\tbam\na\t/a.bam\n")
    with pytest.raises(ConfigError, match="no sample 'z'"):
        resolve_sample({"samples": str(sheet)}, "z")


def test_job_bam_reads_the_sheet_not_the_params(tmp_path: Path) -> None:
    sheet = tmp_path / "s.tsv"
    sheet.write_text(f"sample\tbam\na\t{SIGNED}\n")
    got = job_bam({"samples": str(sheet), "bam_urls": []}, "a", shown_bam="https://host/d/NA1.bam?<redacted>")
    assert got.bam == SIGNED


def test_job_bam_without_a_sample_source_uses_unredacted_params_only() -> None:
    assert job_bam({}, "a", shown_bam="/x/a.bam") == SampleBam("a", "/x/a.bam", None)
    with pytest.raises(ConfigError, match="names no sample sheet"):
        job_bam({}, "a", shown_bam="https://host/a.bam?<redacted>")
