"""The watcher's rules, one at a time, on cursor states built by hand (no I/O, no clock)."""
from __future__ import annotations

import itertools

import pytest

from bams3.errors import UsageError
from bams3.watch.sources import Candidate, Listing
from bams3.watch.state import CursorState, Seen, Version
from bams3.watch.transitions import claim, expire_runs, finish_run, observe, renew_runs, reset_items

SOURCE = "drop"
_ids = itertools.count(1)


def cand(name: str, *, size: int = 100, etag: str = "e1", mtime: float = 10.0,
         index: Version | None = None, sample: str | None = None) -> Candidate:
    url = f"s3://lab/drop/{name}.bam"
    return Candidate(url=url, key=url, sample=sample or name, seen=Seen(Version(size, etag, mtime), index),
                     index_url=None if index is None else url + ".bai")


def listing(*candidates: Candidate, source: str = SOURCE) -> Listing:
    return Listing(source, tuple(candidates))


def see(state: CursorState, *candidates: Candidate, now: float = 100.0, require_index: bool = False,
        reprocess_changed: bool = False) -> CursorState:
    state, _ = observe(state, [listing(*candidates)], now=now, require_index=require_index,
                       reprocess_changed=reprocess_changed)
    return state


def states(state: CursorState) -> dict[str, str]:
    return {item.sample: item.state for item in state.items.values()}


def available(*candidates: Candidate) -> dict:
    return {(SOURCE, c.key): c for c in candidates}


def take(state: CursorState, *candidates: Candidate, slots: int = 1, max_batch: int = 10, now: float = 100.0,
         watcher: str = "w1"):
    return claim(state, available(*candidates), watcher=watcher, now=now, lease=60.0, max_batch=max_batch,
                 slots=slots, new_run=lambda: (f"run{next(_ids)}", "/logs/run.log"))


def test_a_bam_waits_for_a_second_unchanged_listing() -> None:
    state, new = observe(CursorState(), [listing(cand("S1", size=50))], now=1.0, require_index=False,
                         reprocess_changed=False)
    assert new == 1 and states(state) == {"S1": "waiting"}
    state = see(state, cand("S1", size=80, etag="e2"))  # still being uploaded
    assert states(state) == {"S1": "waiting"} and "changed" in state.items[(SOURCE, cand("S1").key)].reason
    state = see(state, cand("S1", size=80, etag="e2"))
    assert states(state) == {"S1": "pending"}
    state = see(state, cand("S1", size=90, etag="e3"))  # changed again before it was started
    assert states(state) == {"S1": "waiting"}


def test_nothing_changes_when_nothing_changed() -> None:
    state = see(see(CursorState(), cand("S1")), cand("S1"))
    assert see(state, cand("S1")) == state
    state, runs = take(state, cand("S1"))
    state = finish_run(state, runs[0].id, "succeeded", "exit status 0", now=200.0, max_attempts=3)
    assert see(state, cand("S1"), now=300.0) == state


def test_require_index_waits_for_an_index_at_least_as_new_as_the_bam() -> None:
    state = see(see(CursorState(), cand("S1"), require_index=True), cand("S1"), require_index=True)
    assert states(state) == {"S1": "waiting"} and "index" in next(iter(state.items.values())).reason
    old_index = Version(10, "i1", mtime=5.0)
    state = see(state, cand("S1", index=old_index), require_index=True)
    state = see(state, cand("S1", index=old_index), require_index=True)
    assert states(state) == {"S1": "waiting"} and "older" in next(iter(state.items.values())).reason
    new_index = Version(10, "i2", mtime=11.0)
    state = see(state, cand("S1", index=new_index), require_index=True)
    assert states(state) == {"S1": "waiting"}  # the index just changed: one more listing
    state = see(state, cand("S1", index=new_index), require_index=True)
    assert states(state) == {"S1": "pending"}
    assert next(iter(state.items.values())).index == "s3://lab/drop/S1.bam.bai"


def test_pending_bams_are_batched_oldest_first_and_claimed_once() -> None:
    names = [f"S{n}" for n in range(5)]
    state = CursorState()
    for n, name in enumerate(names):  # first seen one after the other
        for _ in range(2):
            state = see(state, *[cand(x) for x in names[: n + 1]], now=float(n))
    assert set(states(state).values()) == {"pending"}
    state, runs = take(state, *[cand(x) for x in names], slots=2, max_batch=2)
    assert [[k[1].rsplit("/", 1)[1] for k in r.items] for r in runs] == [["S0.bam", "S1.bam"], ["S2.bam", "S3.bam"]]
    assert states(state) == {"S0": "running", "S1": "running", "S2": "running", "S3": "running", "S4": "pending"}
    again, more = take(state, *[cand(x) for x in names], slots=5)
    assert [len(r.items) for r in more] == [1]  # only S4 is left to claim
    # a BAM missing from this tick's listing (its source failed to list) is not claimed
    _, none = take(state, cand("S0"), slots=5)
    assert none == []


def test_a_failed_batch_retries_each_bam_alone_without_counting_an_attempt() -> None:
    state = see(see(CursorState(), cand("good"), cand("bad")), cand("good"), cand("bad"))
    state, [run] = take(state, cand("good"), cand("bad"))
    state = finish_run(state, run.id, "failed", "exit status 1", now=150.0, max_attempts=1)
    items = {i.sample: i for i in state.items.values()}
    assert {i.state for i in items.values()} == {"pending"} and all(i.alone and i.attempts == 0 for i in items.values())
    state, runs = take(state, cand("good"), cand("bad"), slots=2)
    assert sorted(len(r.items) for r in runs) == [1, 1] and not state.runs.keys() - {r.id for r in runs}
    for r in runs:
        bad = r.items[0][1].endswith("bad.bam")
        state = finish_run(state, r.id, "failed" if bad else "succeeded", "x", now=160.0, max_attempts=1)
    items = {i.sample: i for i in state.items.values()}
    assert items["good"].state == "done" and items["good"].processed == Version(100, "e1", 10.0)
    assert items["bad"].state == "failed" and "--reset bad" in items["bad"].reason
    assert [a.outcome for a in items["bad"].history] == ["failed", "failed"] and items["bad"].attempts == 1
    assert state.runs == {}


def test_a_failing_bam_is_retried_up_to_max_attempts() -> None:
    state = see(see(CursorState(), cand("S1")), cand("S1"))
    for attempt in (1, 2, 3):
        state, [run] = take(state, cand("S1"))
        state = finish_run(state, run.id, "failed", f"exit status {attempt}", now=100.0 + attempt, max_attempts=3)
        item = next(iter(state.items.values()))
        assert item.attempts == attempt
        assert item.state == ("failed" if attempt == 3 else "pending")
    assert take(state, cand("S1"))[1] == []  # left alone
    assert see(state, cand("S1", etag="e2", size=7)) == state  # even when it changes (not opted in)
    changed = see(state, cand("S1", etag="e2", size=7), reprocess_changed=True)
    assert states(changed) == {"S1": "waiting"} and next(iter(changed.items.values())).attempts == 0


def test_an_expired_lease_abandons_the_run_and_a_lost_run_is_reported() -> None:
    state = see(see(CursorState(), cand("S1")), cand("S1"))
    state, [run] = take(state, cand("S1"), now=100.0, watcher="w1")
    assert expire_runs(state, now=159.0, max_attempts=3) == state  # lease = 60 s
    renewed, lost = renew_runs(state, [run.id], watcher="w1", expires=300.0)
    assert not lost and renewed.runs[run.id].expires == 300.0
    expired = expire_runs(state, now=161.0, max_attempts=3)
    item = next(iter(expired.items.values()))
    assert item.state == "pending" and item.attempts == 1 and item.history[-1].outcome == "abandoned"
    assert expired.runs == {}
    _, lost = renew_runs(expired, [run.id], watcher="w1", expires=400.0)
    assert lost == {run.id}
    # the late success of the lost run changes nothing
    assert finish_run(expired, run.id, "succeeded", "exit status 0", now=170.0, max_attempts=3) == expired


def test_an_interrupted_run_gives_its_bams_back_without_counting() -> None:
    state = see(see(CursorState(), cand("S1")), cand("S1"))
    state, [run] = take(state, cand("S1"))
    state = finish_run(state, run.id, "interrupted", "stopped", now=120.0, max_attempts=1)
    item = next(iter(state.items.values()))
    assert item.state == "pending" and item.attempts == 0


def test_a_sample_name_is_used_once() -> None:
    other = Candidate(url="s3://lab/other/S1.bam", key="s3://lab/other/S1.bam", sample="S1",
                      seen=Seen(Version(5, "x")))
    state = see(see(CursorState(), cand("S1")), cand("S1"))
    state, _ = observe(state, [listing(other, source="other")], now=1.0, require_index=False, reprocess_changed=False)
    state, _ = observe(state, [listing(other, source="other")], now=2.0, require_index=False, reprocess_changed=False)
    clash = state.items[("other", other.key)]
    assert clash.state == "failed" and "already used by s3://lab/drop/S1.bam" in clash.reason


def test_vanished_bams_are_forgotten_unless_processed_and_failed_listings_change_nothing() -> None:
    state = see(see(CursorState(), cand("A"), cand("B")), cand("A"), cand("B"))
    state, [run] = take(state, cand("A"), max_batch=1)
    state = finish_run(state, run.id, "succeeded", "ok", now=150.0, max_attempts=3)
    assert see(state, cand("C")).items.keys() == {(SOURCE, cand("A").key), (SOURCE, cand("C").key)}
    broken, new = observe(state, [Listing(SOURCE, error="403")], now=200.0, require_index=False,
                          reprocess_changed=False)
    assert broken == state and new == 0


def test_reset_forgets_by_sample_url_or_failed_source_but_not_live_runs() -> None:
    state = see(see(CursorState(), cand("S1"), cand("S2")), cand("S1"), cand("S2"))
    state, [run] = take(state, cand("S1"), max_batch=1)
    with pytest.raises(UsageError, match="being processed"):
        reset_items(state, ["S1"], now=110.0)
    with pytest.raises(UsageError, match="no BAM"):
        reset_items(state, ["nope"], now=110.0)
    with pytest.raises(UsageError, match="no BAM"):  # a source name resets only failed BAMs
        reset_items(state, [SOURCE], now=110.0)
    after, removed = reset_items(state, ["s3://lab/drop/S2.bam"], now=110.0)
    assert [i.sample for i in removed] == ["S2"] and states(after) == {"S1": "running"}
    after, removed = reset_items(state, ["S1"], now=1000.0)  # its lease has expired
    assert [i.sample for i in removed] == ["S1"]


def test_the_state_survives_its_json_form() -> None:
    state = see(see(CursorState(), cand("S1", index=Version(3, "i", 11.0)), cand("S2")),
                cand("S1", index=Version(3, "i", 11.0)), cand("S2"))
    state, [run] = take(state, cand("S1", index=Version(3, "i", 11.0)), cand("S2"), max_batch=1)
    state = finish_run(state, run.id, "failed", "exit status 1", now=130.25, max_attempts=3)
    state, _ = take(state, cand("S1", index=Version(3, "i", 11.0)), cand("S2"), max_batch=1, now=140.5)
    assert CursorState.from_json(state.to_json(), where="test") == state
