"""Run statistics: how a model's figures changed, paired by target, and what several training seeds say together.

    from earthshader.evaluation.statistics import paired_change, pooled_over_seeds, seed_spread
    change = paired_change(before, after)        # per-target figures (nan: not scored); mean, standard error, n
    print(f"structure change {change}")          # 'structure change +0.050 ± 0.029'
    pooled = pooled_over_seeds([after_seed0, after_seed1, after_seed2])   # each target's mean over the seeds
    paired_change(before, pooled)                # the pooled change and its standard error over targets
    seed_spread([paired_change(before, a).mean for a in afters])         # how much of one run is the draw

Pairing by target removes the spread between easy and hard targets from the error bar: the standard
error is that of the per-target changes. The demo (`earthshader.demo`) and the benchmarks that compare
runs (`benchmarks/grpo_seeds.py`, `benchmarks/learn_from_pictures.py`) report these figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class PairedChange(NamedTuple):
    """The mean per-target change, its standard error over targets (nan for fewer than 2), and how many
    targets were scored both times. Prints as `+0.050 ± 0.029`."""

    mean: float
    standard_error: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:+.3f} ± {self.standard_error:.3f}"


def paired_change(before: Sequence[float], after: Sequence[float]) -> PairedChange:
    """The change `after - before` per target, over the targets scored in both (nan marks an unscored one).

    >>> change = paired_change([0.1, 0.5, math.nan, 0.2], [0.2, 0.6, 0.9, 0.2])
    >>> change.n, str(change)
    (3, '+0.067 ± 0.033')
    >>> paired_change([0.25], [0.5])
    PairedChange(mean=0.25, standard_error=nan, n=1)
    >>> paired_change([math.nan], [0.5])
    PairedChange(mean=nan, standard_error=nan, n=0)
    """
    if len(before) != len(after):
        raise ValueError(f"paired_change needs one value per target on both sides, got {len(before)} and {len(after)}")
    changes = np.array([a - b for b, a in zip(before, after) if not (math.isnan(a) or math.isnan(b))], dtype=float)
    if len(changes) < 2:
        return PairedChange(float(changes.mean()) if len(changes) else math.nan, math.nan, len(changes))
    return PairedChange(float(changes.mean()), float(changes.std(ddof=1) / math.sqrt(len(changes))), len(changes))


def pooled_over_seeds(per_seed: Sequence[Sequence[float]]) -> list[float]:
    """Each target's mean over the seeds' runs, ignoring the runs that left it unscored (nan when all did).

    >>> pooled_over_seeds([[0.25, 0.5, math.nan], [0.75, math.nan, math.nan]])
    [0.5, 0.5, nan]
    """
    if not per_seed or len({len(skills) for skills in per_seed}) != 1:
        raise ValueError("pooled_over_seeds needs one list of per-target skills per seed, all of one length")
    table = np.array(per_seed, dtype=float)
    scored = ~np.isnan(table)
    counts = scored.sum(axis=0)
    sums = np.where(scored, table, 0.0).sum(axis=0)
    return [float(s / c) if c else math.nan for s, c in zip(sums, counts)]


def scored_mean(values: Sequence[float]) -> float:
    """The mean of the values that were scored (nan marks one that was not); nan when none was.

    >>> scored_mean([0.25, math.nan, 0.75]), scored_mean([math.nan])
    (0.5, nan)
    """
    kept = [float(v) for v in values if not math.isnan(float(v))]
    return float(np.mean(kept)) if kept else math.nan


def seed_spread(changes: Sequence[float]) -> float:
    """The sample standard deviation of the per-seed mean changes: the part of a single run's result that is
    the training draw (nan for fewer than two seeds).

    >>> round(seed_spread([0.25, 0.75]), 4), seed_spread([0.25])
    (0.3536, nan)
    """
    if len(changes) < 2:
        return math.nan
    return float(np.std(np.asarray(changes, dtype=float), ddof=1))


def missed_answers(summary: dict, rate: str = "compile_rate") -> int:
    """How many answers an evaluation summary's `rate` (`compile_rate`, `nonflat_rate`) leaves out: the
    rates round one broken answer in a thousand away, counts do not.

    >>> missed_answers({"n_samples": 1024, "compile_rate": 1020 / 1024})
    4
    """
    n = summary["n_samples"]
    return round((1 - summary[rate]) * n) if n else 0
