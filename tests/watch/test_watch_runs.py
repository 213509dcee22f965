"""``bams3 watch`` for real (subprocesses, a stand-in for snakemake): runs, retries, crashes, races."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.helpers.s3server import S3Server

from .conftest import Lab, process_gone, wait_for


def test_each_new_bam_runs_once_and_unchanged_sources_start_nothing(lab: Lab) -> None:
    for name in ("S1", "S2", "S3"):
        lab.bam(name, index=name == "S1")
    (lab.root / "base.yaml").write_text("output_dir: out\n")
    args = ("--max-batch", "2", "--configfile", "base.yaml", "--", "--cores", "3")

    first = lab.once(*args)
    assert first.returncode == 0 and "tick: 3 new, 3 waiting, 0 pending" in first.stderr
    assert lab.runs() == []  # seen once: not yet known to be complete
    assert lab.once(*args).returncode == 0
    assert lab.runs() == [["S1", "S2"]]  # one run at a time, two BAMs per run
    lab.once(*args)
    assert lab.runs() == [["S1", "S2"], ["S3"]]
    assert lab.states() == {"S1": ("done", 1), "S2": ("done", 1), "S3": ("done", 1)}

    generation = lab.cursor().generation
    idle = lab.once(*args)
    assert idle.returncode == 0 and "0 new, 0 waiting, 0 pending, 0 running, 3 done, 0 failed" in idle.stderr
    assert len(lab.runs()) == 2 and lab.cursor().generation == generation  # nothing run, nothing written

    lab.bam("S4")
    lab.once(*args)
    lab.once(*args)
    assert lab.runs() == [["S1", "S2"], ["S3"], ["S4"]]
    assert sorted(lab.done()) == ["S1", "S2", "S3", "S4"]

    first_run = lab.invocations()[0]
    assert first_run["configfiles"][0] == "base.yaml" and first_run["configfiles"][1].endswith("config.yaml")
    assert first_run["argv"][-3:] == ["--rerun-incomplete", "--cores", "3"]
    sheet = Path(first_run["configfiles"][1]).with_name("samples.tsv").read_text().splitlines()
    assert sheet == ["sample\tbam\tindex", f"S1\t{lab.drop}/S1.bam\t{lab.drop}/S1.bam.bai", f"S2\t{lab.drop}/S2.bam\t"]


def test_an_upload_in_progress_waits_until_stable_and_indexed(lab: Lab) -> None:
    data = b"B" * 4000
    bam = lab.bam("S1", data[:1000])  # a copy still running
    lab.once("--require-index")
    bam.write_bytes(data)
    changed = lab.once("--require-index")
    assert "1 waiting" in changed.stderr and lab.runs() == []
    lab.once("--require-index")
    status = lab.watch("--status")
    assert "waiting for an index" in status.stdout and lab.runs() == []
    Path(f"{bam}.bai").write_bytes(b"BAI\x01")
    lab.once("--require-index")  # the index just appeared: it might still be growing
    assert lab.runs() == []
    lab.once("--require-index")
    assert lab.runs() == [["S1"]] and lab.states() == {"S1": ("done", 1)}


def test_a_failing_bam_is_retried_then_reported_until_reset(lab: Lab) -> None:
    lab.bam("good")
    lab.bam("bad")
    (lab.control / "fail").write_text("bad\n")
    args = ("--max-attempts", "2", "--max-runs", "2")
    lab.once(*args)
    batch = lab.once(*args)
    assert batch.returncode == 1 and lab.runs() == [["bad", "good"]]
    assert lab.states() == {"bad": ("pending", 0), "good": ("pending", 0)}  # a failed batch counts for neither
    alone = lab.once(*args)
    assert alone.returncode == 1 and sorted(lab.runs()[1:]) == [["bad"], ["good"]]
    assert lab.states() == {"bad": ("pending", 1), "good": ("done", 1)}
    last = lab.once(*args)
    assert last.returncode == 1 and lab.runs()[3:] == [["bad"]]
    assert lab.states() == {"bad": ("failed", 2), "good": ("done", 1)}
    quiet = lab.once(*args)
    assert quiet.returncode == 0 and len(lab.runs()) == 4  # left alone

    table = lab.watch("--status").stdout
    row = next(line for line in table.splitlines() if line.startswith("bad "))
    assert row.split()[1:3] == ["failed", "2"] and "bams3 watch --reset bad" in row
    document = json.loads(lab.watch("--status", "--json").stdout)
    assert document["counts"] == {"waiting": 0, "pending": 0, "running": 0, "done": 1, "failed": 1}
    bad = next(item for item in document["items"] if item["sample"] == "bad")
    assert [a["outcome"] for a in bad["history"]] == ["failed", "failed", "failed"]
    assert "exit status 1" in bad["history"][-1]["detail"] and bad["history"][-1]["run"] == bad["run"]

    (lab.control / "fail").unlink()
    reset = lab.watch("--reset", "bad")
    assert reset.returncode == 0 and reset.stdout.startswith("reset bad (failed")
    assert lab.watch("--reset", "bad").returncode == 2  # nothing of that name any more
    lab.once(*args)
    lab.once(*args)
    assert lab.runs()[4:] == [["bad"]] and lab.states() == {"bad": ("done", 1), "good": ("done", 1)}
    assert sorted(lab.done()) == ["bad", "good"]


def test_a_run_command_that_cannot_start_stops_the_watcher_and_blames_no_bam(lab: Lab) -> None:
    lab.bam("S1")
    lab.once()
    broken = lab.watch("--folder", str(lab.drop), "--once", "--command", "no-such-command-here --flag")
    assert broken.returncode == 2
    assert broken.stderr.splitlines()[-1].startswith("bams3 watch: error: could not start a run: ")
    assert "no-such-command-here" in broken.stderr.splitlines()[-1]
    assert lab.states() == {"S1": ("pending", 0)} and lab.cursor().state.runs == {}
    lab.once()
    assert lab.runs() == [["S1"]] and lab.states() == {"S1": ("done", 1)}


def test_a_killed_watcher_loses_nothing_and_repeats_nothing(lab: Lab, stop_later) -> None:
    lab.bam("S1")
    (lab.control / "hang").touch()
    watcher = stop_later(lab.start("--folder", str(lab.drop), "--interval", "0.2", "--lease", "2"))
    started = wait_for(lambda: list(lab.control.glob("started.*")), "the run to start")
    child = int(started[0].read_text())
    watcher.send_signal(signal.SIGKILL)
    watcher.wait()
    wait_for(lambda: process_gone(child), "the run to die with its watcher", timeout=30)
    (lab.control / "hang").unlink()

    snapshot = lab.cursor()
    item = next(iter(snapshot.state.items.values()))
    assert item.state == "running" and item.run in snapshot.state.runs
    expires = snapshot.state.runs[item.run].expires
    assert lab.done() == []
    time.sleep(max(0.0, expires - time.time()) + 0.1)  # until the killed watcher's lease has expired

    retry = lab.once("--lease", "2")  # a new watcher, after a restart
    assert retry.returncode == 0, retry.stderr
    assert lab.runs() == [["S1"], ["S1"]] and lab.done() == ["S1"]
    item = next(iter(lab.cursor().state.items.values()))
    assert item.state == "done" and [a.outcome for a in item.history] == ["abandoned", "succeeded"]
    lab.once()
    assert len(lab.runs()) == 2 and lab.done() == ["S1"]


def test_stopping_the_watcher_stops_its_runs_and_gives_their_bams_back(lab: Lab, stop_later) -> None:
    lab.bam("S1")
    (lab.control / "hang").touch()
    watcher = stop_later(lab.start("--folder", str(lab.drop), "--interval", "0.2"))
    started = wait_for(lambda: list(lab.control.glob("started.*")), "the run to start")
    child = int(started[0].read_text())
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(timeout=60) == 0
    assert process_gone(child)
    item = next(iter(lab.cursor().state.items.values()))
    assert (item.state, item.attempts, item.history[-1].outcome) == ("pending", 0, "interrupted")
    assert lab.cursor().state.runs == {}
    (lab.control / "hang").unlink()
    lab.once()
    assert lab.runs() == [["S1"], ["S1"]] and lab.states() == {"S1": ("done", 1)}


def test_two_watchers_on_one_s3_cursor_never_both_process_a_bam(lab: Lab, s3_server: S3Server, stop_later) -> None:
    bucket = s3_server.make_bucket()
    names = [f"S{n}" for n in range(6)]
    for name in names:
        s3_server.client().put_object(Bucket=bucket, Key=f"drop/{name}.bam", Body=name.encode() * 10)
    (lab.control / "sleep").write_text("0.3")
    cursor = f"s3://{bucket}/watch/cursor/"
    args = ("--folder", f"s3://{bucket}/drop/", "--cursor", cursor, "--interval", "0.2", "--max-batch", "1",
            "--max-runs", "2")
    watchers = [stop_later(lab.start(*args)) for _ in range(2)]
    wait_for(lambda: lab.cursor(cursor).state.counts()["done"] == len(names), "every BAM to be done", timeout=90)
    for watcher in watchers:
        watcher.send_signal(signal.SIGTERM)
    assert [w.wait(timeout=60) for w in watchers] == [0, 0]
    assert sorted(lab.done()) == names  # each exactly once
    assert sorted(s for run in lab.runs() for s in run) == names
    run_ids = [record["run"] for record in lab.invocations()]
    assert len(set(run_ids)) == len(run_ids)
    items = lab.cursor(cursor).state.items.values()
    assert all(i.state == "done" and [a.outcome for a in i.history] == ["succeeded"] for i in items)
