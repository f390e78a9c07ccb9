"""The steps every answer to a picture is made of: score K programs, pick the best, refine its numbers, keep the
refinement only if it improves.

    from earthshader.answering.pick import best_of, refine_if_better, render_programs, score_images
    images = render_programs(codes, target, pool=pool, time=0.0)          # None where a program fails
    scored = score_images(["0", "1"], codes, images, scorer, "mix")       # one batched call of the scorer
    best = best_of(scored)                                                 # highest objective value, first on ties
    step = refine_if_better(best, target, scorer, "mix", budget=120, pool=pool)
    step.candidate, step.refined, step.renders, step.note

`earthshader.answering.answer` (the model's samples, then the search as a fallback) and
`earthshader.answering.search` (the generators' programs) are these steps with different programs. Every
value is the objective's (`earthshader.evaluation.objectives`) through the evaluation's own `TargetScorer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from earthshader.answering import refine as refining
from earthshader.evaluation.objectives import objective_values, ranking_key
from earthshader.evaluation.scoring import TargetScorer


@dataclass
class Scored:
    """One program and its render's objective value (`score`; NaN when it did not render or the target is flat)."""

    name: str
    code: str
    image: np.ndarray | None  # None: it did not render
    score: float

    @property
    def rendered(self) -> bool:
        return self.image is not None


@dataclass
class Step:
    """What `refine_if_better` did: the candidate kept (the refined one only when it scores higher), whether it
    was refined, the renders it cost (failed starts included), why it was not refined, and refine's result."""

    candidate: Scored
    refined: bool
    renders: int
    note: str | None = None
    result: refining.RefineResult | None = None


class CountingPool:
    """A `RenderPool` stand-in that counts every source it is asked to render."""

    def __init__(self, pool):
        self.pool, self.count = pool, 0

    def render_many(self, codes, *args, **kwargs):
        codes = list(codes)
        self.count += len(codes)
        return self.pool.render_many(codes, *args, **kwargs)

    def render(self, code, *args, **kwargs):
        return self.render_many([code], *args, **kwargs)[0]


def render_programs(codes: list[str], target: np.ndarray, *, pool, time: float = 0.0) -> list[np.ndarray | None]:
    """Each program rendered at the target's size and `time`, in one `render_many` call (None where it fails)."""
    if not codes:
        return []
    results = pool.render_many(list(codes), width=target.shape[1], height=target.shape[0], time=time)
    return [r.image if r.ok else None for r in results]


def score_images(names: list[str], codes: list[str], images: list[np.ndarray | None], scorer: TargetScorer,
                 objective: str) -> list[Scored]:
    """`Scored` programs: the renders that exist scored by `objective` in one batched call, the others NaN."""
    rendered = [image for image in images if image is not None]
    values = iter(objective_values(objective, scorer, rendered) if rendered else [])
    return [Scored(name, code, image, float(next(values)) if image is not None else math.nan)
            for name, code, image in zip(names, codes, images)]


def best_of(scored: list[Scored]) -> Scored | None:
    """The rendered program with the highest value (the first on ties; NaN below every number); None when none
    rendered."""
    rendered = [s for s in scored if s.rendered]
    return max(rendered, key=lambda s: ranking_key(s.score)) if rendered else None


def refine_if_better(candidate: Scored, target: np.ndarray, scorer: TargetScorer, objective: str, *, budget: int,
                     pool, time: float = 0.0, seed: int = 0) -> Step:
    """Fit `candidate`'s numbers for `objective` (`earthshader.answering.refine.refine`, `budget` renders) and keep
    the refined program only when its render scores above the candidate's.

    A refinement that cannot start (no literal to fit, a lift that changes the picture, a flat target) or that
    the `cma` package rejects ("not yet initialized (dimension needed)") keeps the candidate and says why in
    `note`; its renders still count. Any other error is raised.
    """
    counter = CountingPool(pool)
    try:
        result = refining.refine(candidate.code, target, budget=budget, pool=counter, time=time, seed=seed,
                                 objective=objective, scorer=scorer)
    except refining.RefineError as err:
        return Step(candidate, False, counter.count, str(err))
    except ValueError as err:  # the cma package on a one-constant fit
        if "dimension needed" not in str(err):
            raise
        return Step(candidate, False, counter.count, f"cma rejected the fit ({err})")
    if result.improved and ranking_key(result.score_after) > ranking_key(candidate.score):
        better = Scored(f"{candidate.name}, refined", result.source, result.image, result.score_after)
        return Step(better, True, counter.count, None, result)
    return Step(candidate, False, counter.count, f"no better values found in {result.renders} renders", result)
