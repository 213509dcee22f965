"""The profiles: their keys, how they combine with profiles/default, and a dry run through each.

Dry runs start from the repository root, as users do, so Snakemake applies profiles/default as the workflow
profile on top of the profile named with --profile (it wins for keys set in both).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import job_resources, load_profile, run_in_repo, write_sheet
from .dagscale import make_workdir, parse_job_stats

NAMES = ("default", "cluster", "aws-batch")
EXECUTOR_PROFILES = ("cluster", "aws-batch")


def snakemake_options() -> set[str]:
    from snakemake.cli import get_argument_parser

    parser = get_argument_parser()
    return {opt[2:] for action in parser._actions for opt in action.option_strings if opt.startswith("--")}


def workflow_rules(tmp_path: Path) -> set[str]:
    run = run_in_repo(tmp_path, {"samples": None, "bam_urls": ["x.bam"]}, "--list-rules")
    assert run.returncode == 0, run.stderr[-3000:]
    return {line.strip() for line in run.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("name", NAMES)
def test_every_profile_key_is_a_snakemake_option(name: str) -> None:
    # a misspelt key would be an unknown command-line option: snakemake stops, but only when that profile is used
    unknown = set(load_profile(name)) - snakemake_options()
    assert not unknown, f"profiles/{name}: not snakemake options: {sorted(unknown)}"


@pytest.mark.parametrize("name", EXECUTOR_PROFILES)
def test_keys_shared_with_the_default_profile_have_the_same_values(name: str) -> None:
    # from the repository root profiles/default overrides these keys: a different value would be silently lost
    default, profile = load_profile("default"), load_profile(name)
    shared = sorted(set(default) & set(profile))
    assert {k: profile[k] for k in shared} == {k: default[k] for k in shared}
    # and the keys an executor profile needs for itself are not in profiles/default
    for key in ("default-resources", "groups", "group-components", "jobs", "executor", "set-resources"):
        assert key not in default, f"profiles/default must not set {key}: it would replace profiles/{name}'s"


def test_profiles_name_only_rules_of_the_workflow(tmp_path: Path) -> None:
    # Snakemake ignores a rule name it does not know in groups and set-resources: a renamed rule would
    # silently lose its grouping
    rules = workflow_rules(tmp_path)
    for name in NAMES:
        profile = load_profile(name)
        for key in ("groups", "set-resources", "set-threads"):
            assert set(profile.get(key) or {}) <= rules, f"profiles/{name} {key}: unknown rules"
    assert set(load_profile("cluster")["groups"]) and set(load_profile("aws-batch")["groups"])


def test_default_profile_dry_run(tiny_bams: dict[str, Path], tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "samples.tsv", {name: str(path) for name, path in tiny_bams.items()})
    run = run_in_repo(tmp_path, {"samples": str(sheet), "dataset": {"activate": True}},
                      "-n", "--profile", "profiles/default")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = parse_job_stats(run.stdout + run.stderr)
    assert jobs["plan_chunks"] == jobs["aggregate_chunks"] == jobs["convert_dataset"] == 2
    assert "Using profiles profiles/default and workflow specific profile profiles/default" in run.stderr


@pytest.mark.parametrize("partition, account", [("main", "lab42"), (None, None)])
def test_cluster_profile_dry_run_partition_and_account_from_the_environment(
        tiny_bams: dict[str, Path], tmp_path: Path, partition: str | None, account: str | None) -> None:
    sheet = write_sheet(tmp_path / "samples.tsv", {"tiny": str(tiny_bams["tiny"])})
    run = run_in_repo(tmp_path, {"samples": str(sheet), "dataset": {"activate": True}},
                      "-n", "--profile", "profiles/cluster",
                      env={"SBATCH_PARTITION": partition, "SBATCH_ACCOUNT": account})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "workflow specific profile profiles/default" in run.stderr  # the combination users get
    jobs = job_resources(run.stdout + run.stderr)
    assert len(jobs) >= 3
    for resources in jobs:
        # unset: empty, so that the executor picks the default partition (not the text "$SBATCH_PARTITION")
        assert resources["slurm_partition"] == (partition or "")
        assert resources["slurm_account"] == (account or "")
        assert int(resources["mem_mb"]) >= 512 and int(resources["runtime"]) >= 10


@pytest.mark.parametrize("name", EXECUTOR_PROFILES)
def test_executor_profiles_never_merge_group_components(name: str) -> None:
    # snakemake 9.27.1 crashes at random when group components are merged downstream of a checkpoint, and
    # Slurm arrays hang under a job limit (both reproduced; see profiles/cluster): groups of connected jobs only
    profile = load_profile(name)
    assert "group-components" not in profile and "slurm-array-jobs" not in profile
    assert set(profile["groups"]) == {"aggregate_chunks", "report_sample_plots"}


def test_cluster_profile_runs_each_samples_summary_as_one_job(tmp_path: Path) -> None:
    config_path = make_workdir(tmp_path, 2, 25)  # fabricated plans: the dry run shows every job
    run = run_in_repo(tmp_path, yaml.safe_load(config_path.read_text()), "-n", "--profile", "profiles/cluster")
    assert run.returncode == 0, run.stderr[-3000:]
    output = run.stdout + run.stderr
    assert parse_job_stats(output)["chunk_stats"] == 50
    # one group job per sample: its aggregation and its report figures
    assert output.count("Group job sample_summary ") == 2
    assert output.count("    rule report_sample_plots:") == 2


@pytest.fixture
def aws_batch_env(s3_server: Any, s3_bucket: str, tiny_bams: dict[str, Path]) -> dict[str, str]:
    client = s3_server.client()
    client.upload_file(str(tiny_bams["tiny"]), s3_bucket, "bams/tiny.bam")
    client.upload_file(str(tiny_bams["tiny"]) + ".bai", s3_bucket, "bams/tiny.bam.bai")
    return {
        "SNAKEMAKE_AWS_BATCH_JOB_QUEUE": "arn:aws:batch:us-east-1:123456789012:job-queue/bams3",
        "SNAKEMAKE_AWS_BATCH_JOB_ROLE": "arn:aws:iam::123456789012:role/bams3-batch-job",
        "BAMS3_S3_PREFIX": f"s3://{s3_bucket}/run",
        "BAMS3_REGISTRY": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "BUCKET": s3_bucket,
    }


def test_aws_batch_profile_dry_run_against_loopback_s3(aws_batch_env: dict[str, str], tmp_path: Path) -> None:
    bucket = aws_batch_env["BUCKET"]
    config = {"bam_urls": [f"s3://{bucket}/bams/tiny.bam"], "samples": None,
              "dataset": {"activate": True, "root": f"s3://{bucket}/datasets"}}
    # the storage plugin finds the loopback server through SNAKEMAKE_STORAGE_S3_ENDPOINT_URL (s3_server's env)
    run = run_in_repo(tmp_path, config, "-n", "--profile", "profiles/aws-batch", env=aws_batch_env)
    assert run.returncode == 0, run.stderr[-3000:]
    output = run.stdout + run.stderr
    assert parse_job_stats(output)["plan_chunks"] == 1
    assert f"s3://{bucket}/run/results/chunks/tiny/plan.json" in output  # results live under the prefix

    # every job is killed after aws-batch-task-timeout: it must outlast the longest rule, on its retry too
    profile = load_profile("aws-batch")
    longest = max(int(r["runtime"]) for r in job_resources(output))
    assert longest >= 240  # convert_dataset is among the jobs
    assert profile["aws-batch-task-timeout"] >= longest * 60 * (1 + profile["retries"])


@pytest.mark.parametrize("missing, message", [
    ("BAMS3_S3_PREFIX", "must start with s3"),
    ("SNAKEMAKE_AWS_BATCH_JOB_QUEUE", "SNAKEMAKE_AWS_BATCH_JOB_QUEUE"),
])
def test_aws_batch_profile_says_which_setting_is_missing(aws_batch_env: dict[str, str], tmp_path: Path,
                                                        missing: str, message: str) -> None:
    config = {"bam_urls": [f"s3://{aws_batch_env['BUCKET']}/bams/tiny.bam"], "samples": None}
    run = run_in_repo(tmp_path, config, "-n", "--profile", "profiles/aws-batch", env={**aws_batch_env, missing: None})
    assert run.returncode != 0 and message in run.stdout + run.stderr
