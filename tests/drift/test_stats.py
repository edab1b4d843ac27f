"""The population drift estimate: the Wilson interval's coverage on synthetic populations.

A synthetic population of N users with exactly K drifted ones is sampled without replacement,
as drift samples the ledger, many times over; the share of intervals that contain K/N is the
interval's real coverage, which must be close to the promised 95%.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.drift.stats import Interval, wilson

TRIALS = 1000


def coverage(population: int, sample: int, rate: float, seed: int = 1) -> float:
    drifted = round(population * rate)
    truth = drifted / population
    rng = random.Random(seed)
    covered = 0
    for _ in range(TRIALS):
        hits = sum(1 for i in rng.sample(range(population), sample) if i < drifted)
        interval = wilson(hits, sample, population)
        covered += interval.low <= truth <= interval.high
    return covered / TRIALS


GRID = [
    (20_000, 500, 0.02),  # drift's default sample on a mid-size workspace
    (20_000, 500, 0.3),
    (100_000, 100, 0.05),
    (1_000, 500, 0.1),  # half the population sampled: the finite population correction
    (1_000, 900, 0.05),
    (200, 50, 0.1),
]


@pytest.mark.parametrize(("population", "sample", "rate"), GRID)
def test_the_interval_covers_a_known_drift_rate_about_95_percent_of_the_time(
    population: int, sample: int, rate: float
) -> None:
    got = coverage(population, sample, rate)
    assert 0.93 <= got <= 0.99, got


def test_coverage_stays_near_nominal_for_rare_drift_where_the_normal_interval_fails() -> None:
    # n·p = 0.5: the Wilson interval dips a little below 95% (a known property), the
    # textbook normal (Wald) interval collapses to [0, 0] whenever the sample shows no drift.
    population, sample, drifted = 20_000, 500, 20
    assert coverage(population, sample, drifted / population) >= 0.89
    rng = random.Random(2)
    wald = 0
    for _ in range(TRIALS):
        p = sum(1 for i in rng.sample(range(population), sample) if i < drifted) / sample
        half = 1.96 * math.sqrt(p * (1 - p) / sample)
        wald += p - half <= drifted / population <= p + half
    assert wald / TRIALS < 0.5


def test_a_sample_of_the_whole_population_is_exact() -> None:
    assert wilson(3, 40, 40) == Interval(0.075, 0.075, 0.075, 40, 40)


def test_no_drift_in_the_sample_is_not_proof_of_none() -> None:
    interval = wilson(0, 500, 1_000_000)
    assert interval.low == 0.0
    assert 0.007 < interval.high < 0.008  # the classic "rule of three" is 0.006
    assert interval.counts() == (0, 0, math.ceil(interval.high * 1_000_000))


def test_known_values() -> None:
    # 10 of 100 from an effectively infinite population: Wilson 95% is [0.0552, 0.1744].
    interval = wilson(10, 100, 10**12)
    assert interval.low == pytest.approx(0.0552, abs=1e-4)
    assert interval.high == pytest.approx(0.1744, abs=1e-4)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        wilson(0, 0, 10)
    with pytest.raises(ValueError, match="outside"):
        wilson(5, 4, 10)


@given(st.data())
def test_bounds_are_ordered_and_respect_what_the_sample_proves(data: st.DataObject) -> None:
    population = data.draw(st.integers(1, 10**7))
    sample = data.draw(st.integers(1, min(population, 10_000)))
    hits = data.draw(st.integers(0, sample))
    iv = wilson(hits, sample, population)
    assert 0.0 <= iv.low <= iv.estimate <= iv.high <= 1.0
    assert iv.low >= hits / population - 1e-12  # the hits seen drifted
    assert iv.high <= 1 - (sample - hits) / population + 1e-12  # the misses seen did not
    if hits < sample:
        assert wilson(hits + 1, sample, population).high >= iv.high
