"""The population drift rate from a sample: a Wilson score interval, finite-population aware.

Why Wilson: drift rates live near 0, where the textbook normal interval collapses to [0, 0]
whenever the sample shows no drift, and undercovers for small rates. The Wilson score interval
keeps close to its nominal 95% coverage there (Brown, Cai & DasGupta 2001).

Sampling is without replacement, so when the sample is a real share of the population the
interval narrows by the finite population correction: n is replaced by the effective size
n·(N−1)/(N−n). A sample of the whole population is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the 97.5th percentile of the standard normal
METHOD = "Wilson score interval, 95%, finite population corrected"


@dataclass(frozen=True)
class Interval:
    """An estimated share with its 95% confidence bounds, all in [0, 1]."""

    estimate: float
    low: float
    high: float
    sample: int
    population: int
    method: str = METHOD

    def counts(self) -> tuple[int, int, int]:
        """Estimated drifted users in the population: (estimate, low, high)."""
        n = self.population
        return round(self.estimate * n), math.floor(self.low * n), math.ceil(self.high * n)


def wilson(hits: int, sample: int, population: int, z: float = Z_95) -> Interval:
    """The Wilson score interval for `hits` out of `sample` drawn from `population`."""
    if sample <= 0:
        raise ValueError("an interval needs a sample of at least one")
    if not 0 <= hits <= sample:
        raise ValueError(f"hits {hits} outside 0..{sample}")
    population = max(population, sample)
    p = hits / sample
    if sample >= population:
        return Interval(p, p, p, sample, population)
    n = sample * (population - 1) / (population - sample)  # finite population correction
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # What the sample proves outright: its hits drifted, its misses did not.
    floor, ceiling = hits / population, 1 - (sample - hits) / population
    low = floor if hits == 0 else max(floor, centre - half)
    high = ceiling if hits == sample else min(ceiling, centre + half)
    return Interval(p, low, high, sample, population)
