"""region-count, query-summary and dataset-stats against a dataset in the loopback S3 server."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pysam
import pytest

from bams3.dataset import Dataset
from bams3.handlers import invoke

from .conftest import assert_clean

REGIONS = ("chr1", "chr1:100000-165000", "chr2:1-70000", "chrEmpty")


@pytest.mark.parametrize("region", REGIONS)
def test_region_count_is_samtools_view_c(s3_dataset: str, handler_bam: Path, region: str) -> None:
    response = invoke("region-count", {"dataset": s3_dataset, "region": region})
    assert response["success"], response
    assert response["result"]["count"] == int(pysam.view("-c", str(handler_bam), region))
    assert response["result"]["dataset"].rstrip("/") == s3_dataset


def _expected_summary(bam: Path, region: str) -> dict[str, Any]:
    with pysam.AlignmentFile(str(bam)) as f:
        records = list(f.fetch(region=region))
    mapped = [r for r in records if not r.is_unmapped]
    with_mapq = [r.mapping_quality for r in mapped if r.mapping_quality != 255]
    return {
        "records": len(records),
        "mapped": len(mapped),
        "unmapped": len(records) - len(mapped),
        "duplicates": sum(r.is_duplicate for r in records),
        "secondary": sum(r.is_secondary for r in records),
        "supplementary": sum(r.is_supplementary for r in records),
        "qc_failed": sum(r.is_qcfail for r in records),
        "mean_mapq": round(sum(with_mapq) / len(with_mapq), 4) if with_mapq else None,
        "first_pos": records[0].reference_start + 1 if records else None,
        "sam": [r.to_string() for r in records[:3]],
    }


@pytest.mark.parametrize("region", ["chr1:100000-165000", "chr2"])
def test_query_summary_counts_records_like_samtools(s3_dataset: str, handler_bam: Path, region: str) -> None:
    response = invoke("query-summary", {"dataset": s3_dataset, "region": region, "show": 3})
    assert response["success"], response
    result, expected = response["result"], _expected_summary(handler_bam, region)
    for key in ("records", "mapped", "unmapped", "duplicates", "secondary", "supplementary", "qc_failed", "mean_mapq"):
        assert result[key] == expected[key], key
    assert result["first"]["pos"] == expected["first_pos"]
    assert result["sam"] == expected["sam"]
    assert sum(result["mapq_histogram"].values()) == result["mapped"]
    assert result["chunks"] >= 1 and result["io"]["requests"] >= 1 and result["io"]["bytes_fetched"] > 0


def test_query_summary_of_an_empty_region(s3_dataset: str) -> None:
    response = invoke("query-summary", {"dataset": s3_dataset, "region": "chrEmpty"})
    assert response["success"], response
    result = response["result"]
    assert result["records"] == 0 and result["mean_mapq"] is None and result["first"] is None and result["sam"] == []


def test_dataset_stats_are_the_metadata_statistics(s3_dataset: str, handler_bam: Path) -> None:
    response = invoke("dataset-stats", {"dataset": s3_dataset})
    assert response["success"], response
    assert response["result"] == json.loads(json.dumps(Dataset.open(s3_dataset).stats()))
    flagstat = json.loads(pysam.flagstat("-O", "json", str(handler_bam)))
    assert response["result"]["reads"]["total"] == sum(flagstat[k]["total"] for k in flagstat)


@pytest.mark.parametrize(("name", "event", "kind", "fragment"), [
    ("region-count", {"dataset": "DS", "region": "chr1:500-100"}, "RegionError", "end 100 is before start 500"),
    ("region-count", {"dataset": "DS", "region": "chrX:1-100"}, "RegionError", "unknown reference 'chrX'"),
    ("region-count", {"dataset": "DS"}, "ValidationError", "region: Field required"),
    ("region-count", {"dataset": "DS", "region": "chr1", "workers": 0}, "ValidationError", "workers"),
    ("query-summary", {"dataset": "DS", "region": "chr1", "show": 5000}, "ValidationError", "show"),
    ("query-summary", {"dataset": "MISSING", "region": "chr1"}, "DatasetError", "not a complete BAMS3 dataset"),
    ("dataset-stats", {"dataset": "MISSING"}, "DatasetError", "no _metadata.json"),
    ("dataset-stats", {"dataset": 42}, "ValidationError", "dataset: Input should be a valid string"),
])
def test_bad_dataset_requests_get_clean_errors(s3_dataset: str, name: str, event: dict[str, Any], kind: str,
                                               fragment: str, caplog: pytest.LogCaptureFixture) -> None:
    missing = s3_dataset.replace("edge.bams3", "missing.bams3")
    event = {k: {"DS": s3_dataset, "MISSING": missing}.get(v, v) if isinstance(v, str) else v
             for k, v in event.items()}
    response = invoke(name, event)
    assert response["success"] is False and "result" not in response
    assert response["error"]["type"] == kind
    assert fragment in response["error"]["message"]
    assert "\n" not in response["error"]["message"]
    assert_clean(json.dumps(response) + caplog.text)
