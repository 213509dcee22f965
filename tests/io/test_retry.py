"""Retry policy values, environment overrides and the retry loop (no network)."""
from __future__ import annotations

import dataclasses

import pytest

from bams3.errors import AccessDeniedError, TransientIOError, UsageError
from bams3.io import RetryPolicy, Timeouts
from bams3.io.metrics import IO_STATS
from bams3.io.retry import BadResponseError, call_with_retries


def test_defaults_and_backoff_bounds() -> None:
    policy = RetryPolicy()
    assert (policy.max_retries, policy.initial_backoff, policy.max_backoff, policy.retry_timeout) == (
        10, 0.1, 15.0, 180.0
    )
    assert [policy.backoff_bound(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert policy.backoff_bound(20) == 15.0
    with pytest.raises(UsageError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(dataclasses.FrozenInstanceError):  # a value object
        policy.max_retries = 3  # type: ignore[misc]


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAMS3_RETRY_MAX", "3")
    monkeypatch.setenv("BAMS3_RETRY_BACKOFF", "0.5")
    monkeypatch.setenv("BAMS3_RETRY_TIMEOUT", "7")
    monkeypatch.setenv("BAMS3_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("BAMS3_READ_TIMEOUT", "9")
    policy = RetryPolicy.from_env()
    assert (policy.max_retries, policy.initial_backoff, policy.retry_timeout) == (3, 0.5, 7.0)
    assert Timeouts.from_env() == Timeouts(connect=2.0, read=9.0)
    monkeypatch.setenv("BAMS3_READ_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="BAMS3_READ_TIMEOUT"):
        Timeouts.from_env()


def run(attempt, policy: RetryPolicy):  # type: ignore[no-untyped-def]
    return call_with_retries(attempt, policy=policy, scheme="test", op="get", what="test request")


def test_transient_failures_are_retried_then_succeed() -> None:
    outcomes = [TransientIOError("x: 503"), BadResponseError("x: short"), "ok"]

    def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with IO_STATS.scope() as scope:
        assert run(attempt, RetryPolicy(initial_backoff=0.001)) == "ok"
    assert scope.counts("test", "get").requests == 3
    assert scope.counts("test", "get").retries == 2
    assert scope.counts("test", "get").errors == 2


def test_permanent_failures_are_not_retried() -> None:
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise AccessDeniedError("x: 403")

    with pytest.raises(AccessDeniedError):
        run(attempt, RetryPolicy(initial_backoff=0.001))
    assert len(calls) == 1


def test_retries_stop_at_the_count_and_the_time_limit() -> None:
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise TransientIOError("x: 500")

    with pytest.raises(TransientIOError, match="gave up after 4 attempts"):
        run(attempt, RetryPolicy(max_retries=3, initial_backoff=0.001))
    assert len(calls) == 4
    calls.clear()
    with pytest.raises(TransientIOError, match="gave up after 1 attempt "):
        run(attempt, RetryPolicy(max_retries=10, retry_timeout=0.0))
    assert len(calls) == 1
