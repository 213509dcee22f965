"""First-fit-decreasing batch planning, checked on random sizes against exact optima.

The FFD guarantee is ``FFD <= 11/9 * OPT + 6/9``. ``ceil(total / limit)`` is only a lower
bound of OPT, and checking FFD against ``11/9 * ceil(total/limit) + 6/9`` would fail on
honest packings (ten items of 51% of the limit need ten bins, not six), so the bound is
checked against the exact optimum on instances small enough to solve, and against the
lower bound where the lower bound is the optimum's own floor (items no larger than a
third of the limit). On every instance the first-fit invariant is checked too: an item
sits in a later bin only because it did not fit in any earlier one.
"""
from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bams3.sync._pack import first_fit_decreasing


def exact_optimum(sizes: list[int], limit: int) -> int:
    """Fewest bins for items that all fit (DP over subsets: (full bins, open bin load))."""
    n = len(sizes)
    best: list[tuple[int, int]] = [(n + 1, 0)] * (1 << n)
    best[0] = (1, 0)  # one open, empty bin
    for mask in range(1 << n):
        bins, load = best[mask]
        if bins > n:
            continue
        for i in range(n):
            if mask & (1 << i):
                continue
            nxt = mask | (1 << i)
            cand = (bins, load + sizes[i]) if load + sizes[i] <= limit else (bins + 1, sizes[i])
            if cand < best[nxt]:
                best[nxt] = cand
    return best[(1 << n) - 1][0] if n else 0


def check_invariants(sizes: list[int], limit: int, bins: list[list[int]]) -> None:
    placed = sorted(i for b in bins for i in b)
    assert placed == list(range(len(sizes))), "every item in exactly one batch"
    assert all(b for b in bins), "no empty batch"
    loads = [sum(sizes[i] for i in b) for b in bins]
    for b, load in zip(bins, loads):
        assert load <= limit or len(b) == 1, "only a lone oversized item may exceed the limit"
    regular = [(b, load) for b, load in zip(bins, loads) if load <= limit]
    for j, (later, _) in enumerate(regular):
        smallest = min(sizes[i] for i in later)
        for earlier, load in regular[:j]:
            assert load + smallest > limit, "first fit: a later batch's item fitted an earlier batch"


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=100),
    sizes=st.lists(st.integers(min_value=0, max_value=250), max_size=11),
)
def test_ffd_within_bound_of_exact_optimum(limit: int, sizes: list[int]) -> None:
    bins = first_fit_decreasing(sizes, limit)
    check_invariants(sizes, limit, bins)
    oversized = sum(1 for s in sizes if s > limit)
    fitting = [s for s in sizes if s <= limit]
    opt = oversized + exact_optimum(fitting, limit)
    lower = oversized + math.ceil(sum(fitting) / limit)
    assert lower <= opt  # sanity of the DP
    assert len(bins) <= 11 / 9 * opt + 6 / 9


@settings(max_examples=100, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=10**12),
    sizes=st.lists(st.integers(min_value=0, max_value=3 * 10**12), max_size=400),
)
def test_ffd_invariants_on_large_random_trees(limit: int, sizes: list[int]) -> None:
    check_invariants(sizes, limit, first_fit_decreasing(sizes, limit))


@settings(max_examples=100, deadline=None)
@given(
    limit=st.integers(min_value=3, max_value=10**9),
    fractions=st.lists(st.floats(min_value=0, max_value=1 / 3), max_size=300),
)
def test_ffd_bound_against_total_when_items_are_small(limit: int, fractions: list[float]) -> None:
    # With every item <= limit/3, first fit leaves every batch but the last more than 2/3 full
    # (the next item would have fitted otherwise), so the count stays within 3/2 * ceil(total/limit) + 1.
    sizes = [int(f * limit) for f in fractions]
    bins = first_fit_decreasing(sizes, limit)
    check_invariants(sizes, limit, bins)
    lower = math.ceil(sum(sizes) / limit)
    assert len(bins) <= 1.5 * lower + 1


def test_oversized_objects_travel_alone_even_with_empty_files() -> None:
    sizes = [0, 50, 0, 7, 3]
    bins = first_fit_decreasing(sizes, 10)
    assert [1] in bins
    check_invariants(sizes, 10, bins)


def test_plan_is_deterministic_and_large_inputs_are_fast_enough_to_plan() -> None:
    rng = random.Random(7)
    sizes = [rng.randrange(1, 2**34) for _ in range(200_000)]
    first = first_fit_decreasing(sizes, 2**36)
    assert first == first_fit_decreasing(sizes, 2**36)
    assert sorted(i for b in first for i in b) == list(range(len(sizes)))


def test_bad_limits_are_refused() -> None:
    import pytest

    with pytest.raises(ValueError):
        first_fit_decreasing([1], 0)
    with pytest.raises(ValueError):
        first_fit_decreasing([-1], 10)
