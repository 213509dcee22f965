"""Pure sync logic: include/exclude rules, skip decisions, and the JSON models."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from bams3.errors import ConfigError, UsageError
from bams3.sync._diff import decide, diff
from bams3.sync._filters import FilterRule, PathFilter
from bams3.sync.models import (
    Batch,
    BatchSyncRequest,
    ItemResult,
    PlanRequest,
    SyncItem,
    SyncOptions,
    SyncPlan,
    SyncReport,
    SyncRequest,
)


@dataclass(frozen=True)
class Info:
    size: int
    mtime: float | datetime | None


def rules(*pairs: tuple[str, str]) -> PathFilter:
    return PathFilter(tuple(FilterRule(kind, pattern) for kind, pattern in pairs))  # type: ignore[arg-type]


# ---- include / exclude ---------------------------------------------------------------------------

def test_everything_is_included_without_rules() -> None:
    assert PathFilter().matches("a/b/c.bam")


def test_last_matching_rule_wins() -> None:
    only_bams = rules(("exclude", "*"), ("include", "*.bam"))
    assert only_bams.matches("s1/x.bam")
    assert not only_bams.matches("s1/x.bam.bai")
    no_tmp_but_keep = rules(("exclude", "tmp/*"), ("include", "tmp/keep.txt"))
    assert not no_tmp_but_keep.matches("tmp/x")
    assert no_tmp_but_keep.matches("tmp/keep.txt")
    assert no_tmp_but_keep.matches("data/tmp/x")  # anchored at the root


def test_star_crosses_slashes_and_matching_is_case_sensitive() -> None:
    f = rules(("exclude", "*.bai"))
    assert not f.matches("deep/er/sample.bai")
    assert f.matches("deep/er/sample.BAI")


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError):
        FilterRule("keep", "*")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FilterRule("include", "")
    with pytest.raises(ValueError):
        PathFilter.from_list([{"include": "a", "exclude": "b"}])


# ---- decisions -----------------------------------------------------------------------------------

ITEM = SyncItem("a.bam", 10)


def test_mtime_rule_skips_when_destination_is_as_new() -> None:
    assert decide(ITEM, Info(10, 100.9), Info(10, 100.0), "mtime").kind == "skip"  # same second
    assert decide(ITEM, Info(10, 100.0), Info(10, 250.0), "mtime").kind == "skip"
    newer = decide(ITEM, Info(10, 101.0), Info(10, 100.5), "mtime")
    assert (newer.kind, newer.reason) == ("copy", "source newer")


def test_datetimes_and_floats_compare_alike() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert decide(ITEM, Info(10, when.timestamp()), Info(10, when), "mtime").kind == "skip"


def test_size_and_absence_always_copy() -> None:
    assert decide(ITEM, Info(10, 1.0), None, "size").reason == "new"
    for mode in ("mtime", "size", "checksum"):
        assert decide(ITEM, Info(10, 1.0), Info(11, 9.0), mode).reason == "size differs"  # type: ignore[arg-type]


def test_checksum_mode_defers_equal_sizes_to_a_content_check() -> None:
    assert decide(ITEM, Info(10, 1.0), Info(10, 9.0), "checksum").kind == "verify"
    assert decide(ITEM, Info(10, 1.0), Info(10, 0.0), "size").kind == "skip"


def test_diff_deletes_only_when_asked_and_only_unmatched_targets() -> None:
    sources = [(SyncItem("a", 1), Info(1, 5.0)), (SyncItem("b", 2, dest_key="renamed"), Info(2, 5.0))]
    dest = {"a": Info(1, 9.0), "renamed": Info(3, 9.0), "zombie": Info(4, 1.0)}
    kinds = {d.item.key: d.kind for d in diff(sources, dest, compare="mtime", delete=False)}
    assert kinds == {"a": "skip", "b": "copy"}
    with_delete = diff(sources, dest, compare="mtime", delete=True)
    assert [(d.item.key, d.kind) for d in with_delete][-1] == ("zombie", "delete")
    assert sum(d.kind == "delete" for d in with_delete) == 1


# ---- models --------------------------------------------------------------------------------------

def roundtrip(obj):  # type: ignore[no-untyped-def]
    return type(obj).from_dict(json.loads(json.dumps(obj.to_dict())))


def test_requests_round_trip_through_json() -> None:
    options = SyncOptions(compare="checksum", jobs=8, filters=rules(("exclude", "*.tmp")), part_size=8 << 20)
    assert roundtrip(SyncRequest("data/", "s3://b/p/", options)) == SyncRequest("data/", "s3://b/p/", options)
    assert roundtrip(PlanRequest("a", "s3://b/", 100, options)).options == options
    batch = BatchSyncRequest("a", "s3://b/", (SyncItem("x", 1), SyncItem("y", 2, "z")), options, 3)
    assert roundtrip(batch) == batch


def test_options_are_validated() -> None:
    with pytest.raises(UsageError):
        SyncOptions(jobs=0)
    with pytest.raises(UsageError):
        SyncOptions(move=True, compare="size")
    assert SyncOptions(move=True).skip_compare == "checksum"
    with pytest.raises(ConfigError, match="unknown field"):
        SyncOptions.from_dict({"jobz": 3})
    with pytest.raises(ConfigError, match="jobs"):
        SyncOptions.from_dict({"jobs": -1})
    with pytest.raises(UsageError, match="does not delete"):
        PlanRequest("a", "b", 10, SyncOptions(delete=True))


def test_plan_round_trip_and_validation() -> None:
    plan = SyncPlan("/data", "s3://b/x", 100, SyncOptions(),
                    (Batch(0, (SyncItem("big", 90),)), Batch(1, (SyncItem("s1", 40), SyncItem("s2", 30)))), 2, 5)
    again = roundtrip(plan)
    assert again == plan
    assert plan.to_dict()["summary"] == {"batches": 2, "objects": 3, "bytes": 160, "skipped_objects": 2,
                                         "skipped_bytes": 5}
    request = plan.request_for(1, allow_partial_failure=True)
    assert request.items == plan.batches[1].items and request.options.allow_partial_failure
    with pytest.raises(UsageError, match="out of range"):
        plan.request_for(2)
    bad = plan.to_dict() | {"version": 99}
    with pytest.raises(ConfigError, match="version 99"):
        SyncPlan.from_dict(bad)
    with pytest.raises(ConfigError, match="not a sync plan"):
        SyncPlan.from_dict(plan.to_dict() | {"format": "other"})
    broken = plan.to_dict()
    broken["batches"][1]["items"][0]["size"] = "40"
    with pytest.raises(ConfigError, match="'size'"):
        SyncPlan.from_dict(broken)


def test_report_groups_items_and_totals_bytes() -> None:
    report = SyncReport("src", "dst", (
        ItemResult("a", "copied", 10, "new"),
        ItemResult("b", "copied", 5, "size differs", source_deleted=True),
        ItemResult("c", "skipped", 7, "unchanged"),
        ItemResult("d", "failed", 3, "boom"),
    ))
    data = report.to_dict()
    assert data["summary"]["copied"] == {"count": 2, "bytes": 15}
    assert data["summary"]["deleted"] == {"count": 0, "bytes": 0}
    assert [i["key"] for i in data["failed"]] == ["d"]
    assert roundtrip(report) == report
    assert not report.ok
    assert "copied 2" in report.summary_line() and "failed 1" in report.summary_line()
    merged = SyncReport.merge("src", "dst", [report, SyncReport("src", "dst", (ItemResult("e", "copied", 1, "new"),))])
    assert merged.count("copied") == 3 and merged.bytes("copied") == 16
    assert SyncReport.merge("s", "d", []).to_dict()["summary"]["copied"] == {"count": 0, "bytes": 0}
