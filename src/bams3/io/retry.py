"""Retry policy and timeouts: the one retry layer of every remote request.

Only one layer retries. botocore's own retries are switched off and urllib3's too,
because stacked layers multiply (10 x 5 attempts of a dead endpoint is minutes of
silence) and because only this layer knows how to *resume* a body that broke midway
instead of starting the transfer again.

What is retried: 5xx responses, 429 and S3 throttling codes (``SlowDown``...),
connection failures, read timeouts, dropped connections and responses shorter than
they claim. What is not: 400, 403, 404, 412 and other permanent answers, which would
fail again. Retries are bounded both in number and in total time
(``retry_timeout``): a stalled transfer ends, it never hangs, and a retried request
never outlives the credentials it was signed with by much.

Backoff is exponential with full jitter (a delay drawn uniformly from
``[0, min(max_backoff, initial_backoff * base**n)]``) so that many jobs hitting the
same throttled prefix spread out instead of retrying in lock step.
"""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from ..errors import IntegrityError, TransientIOError, UsageError
from .metrics import IO_STATS

__all__ = [
    "RetryPolicy",
    "Timeouts",
    "RetryBudget",
    "BadResponseError",
    "is_retryable",
    "call_with_retries",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class BadResponseError(IntegrityError):
    """A response that does not hold what it claims: a body shorter than its headers or
    the request promise, a range other than the one asked for, a failed checksum.

    Retried like a transient failure (a proxy or a load balancer cut or mangled it);
    raised as a plain :class:`~bams3.errors.IntegrityError` once retries are exhausted.
    """


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc``, raised by one attempt, is worth another attempt."""
    return isinstance(exc, (TransientIOError, BadResponseError))


def _env_number(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"${name}={raw!r} is not a number") from None
    if value < minimum:
        raise UsageError(f"${name}={raw!r} must be at least {minimum}")
    return value


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure.

    Parameters
    ----------
    max_retries
        Attempts after the first one (so at most ``max_retries + 1`` requests).
    initial_backoff
        Upper bound of the first delay, in seconds.
    max_backoff
        Cap of any single delay, in seconds.
    backoff_base
        Growth factor of the delay bound per retry.
    retry_timeout
        Total time (seconds, from the first attempt) after which no new retry starts.
    """

    max_retries: int = 10
    initial_backoff: float = 0.1
    max_backoff: float = 15.0
    backoff_base: float = 2.0
    retry_timeout: float = 180.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.initial_backoff < 0 or self.max_backoff < 0 or self.retry_timeout < 0:
            raise UsageError(f"retry policy values must not be negative: {self}")
        if self.backoff_base < 1:
            raise UsageError(f"retry backoff base must be at least 1: {self}")

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """The defaults, overridden by ``$BAMS3_RETRY_MAX``, ``$BAMS3_RETRY_BACKOFF``
        (initial backoff, seconds) and ``$BAMS3_RETRY_TIMEOUT`` (seconds).

        Fault-injection tests set these so that ten retries take milliseconds.
        """
        default = cls()
        return cls(
            max_retries=int(_env_number("BAMS3_RETRY_MAX", default.max_retries)),
            initial_backoff=_env_number("BAMS3_RETRY_BACKOFF", default.initial_backoff),
            max_backoff=default.max_backoff,
            backoff_base=default.backoff_base,
            retry_timeout=_env_number("BAMS3_RETRY_TIMEOUT", default.retry_timeout),
        )

    def with_changes(self, **changes: float) -> RetryPolicy:
        """A copy with some fields changed (the policy itself is immutable)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def backoff_bound(self, retry_number: int) -> float:
        """Upper bound of the delay before retry ``retry_number`` (1-based)."""
        return min(self.max_backoff, self.initial_backoff * self.backoff_base ** (retry_number - 1))

    def budget(self, *, cancel: threading.Event | None = None) -> RetryBudget:
        """Start counting retries and time for one logical request."""
        return RetryBudget(self, cancel=cancel)


class RetryBudget:
    """The retries and time left for one logical request (one object, one range, one part)."""

    def __init__(self, policy: RetryPolicy, *, cancel: threading.Event | None = None) -> None:
        self.policy = policy
        self.retries = 0
        self._started = time.monotonic()
        self._cancel = cancel

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def wait_before_retry(self) -> bool:
        """Sleep the backoff delay and return True, or return False if the budget is spent.

        The sleep is cut short (and False returned) when the cancel event is set, so a
        closed stream's read-ahead does not keep retrying in the background.
        """
        if self.retries >= self.policy.max_retries or self.elapsed >= self.policy.retry_timeout:
            return False
        self.retries += 1
        remaining = self.policy.retry_timeout - self.elapsed
        delay = min(random.uniform(0.0, self.policy.backoff_bound(self.retries)), max(remaining, 0.0))
        if self._cancel is not None:
            return not self._cancel.wait(delay)
        time.sleep(delay)
        return True

    def give_up(self, exc: BaseException) -> BaseException:
        """The exception to raise when retries are exhausted: ``exc``'s type, with the count."""
        attempts = self.retries + 1
        message = f"{exc} (gave up after {attempts} attempt{'s' if attempts > 1 else ''} in {self.elapsed:.1f} s)"
        if isinstance(exc, BadResponseError):
            return IntegrityError(message)
        return type(exc)(message)


def call_with_retries(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    scheme: str,
    op: str,
    what: str,
    cancel: threading.Event | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, fails permanently, or the budget is spent.

    Each call of ``attempt`` is counted as one request of ``(scheme, op)``; failed
    attempts count as errors, the repeats as retries. ``attempt`` must translate its
    backend's exceptions into :mod:`bams3.errors` types (retryable ones as
    :class:`~bams3.errors.TransientIOError` or :class:`BadResponseError`).
    ``what`` names the request for the log (already redacted).
    """
    budget = policy.budget(cancel=cancel)
    while True:
        IO_STATS.record(scheme, op, requests=1)
        try:
            return attempt()
        except (TransientIOError, BadResponseError) as exc:
            IO_STATS.record(scheme, op, errors=1)
            log.info("retrying %s after: %s", what, exc)
            if not budget.wait_before_retry():
                raise budget.give_up(exc) from exc
            IO_STATS.record(scheme, op, retries=1)
        except BaseException:
            IO_STATS.record(scheme, op, errors=1)
            raise


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Connect and read timeouts (seconds) applied to every request.

    The read timeout bounds the silence between two packets, not the whole transfer:
    a slow but steady download of a large block is fine, a stalled one is cut and
    resumed.
    """

    connect: float = 10.0
    read: float = 60.0

    @classmethod
    def from_env(cls) -> Timeouts:
        """The defaults, overridden by ``$BAMS3_CONNECT_TIMEOUT`` and ``$BAMS3_READ_TIMEOUT``."""
        default = cls()
        return cls(
            connect=_env_number("BAMS3_CONNECT_TIMEOUT", default.connect, minimum=0.001),
            read=_env_number("BAMS3_READ_TIMEOUT", default.read, minimum=0.001),
        )
