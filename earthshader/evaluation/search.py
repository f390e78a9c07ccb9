"""A model-free search baseline: the generators' programs, their constants fitted to a picture.

    from earthshader.evaluation.search import SearchLibrary, search
    library = SearchLibrary()                        # every family, seeds 0 and 1, lowest and highest level
    result = search(target_image, budget=200, pool=pool, library=library)   # H x W x 3 uint8
    result.code, result.skill, result.renders, result.seconds, result.origin

What it answers: how far does a picture get with no model at all? For each target, in two stages:

1. Screening: every candidate program of the library (each generator family at a few seeds and levels)
   is rendered at the target's size and scored by the evaluation's `skill` (`TargetScorer`: the mean
   of the SSIM, edge and pixel skills against the target's mean-colour image). The candidates are
   the same for every target, so a library renders each one once per (size, iTime) and later
   targets reuse its images; each target's search still counts them as renders it used.
2. Refinement: the best-scoring candidates (the best of each family, best first) have their float
   literals fitted to the target by `earthshader.refine.refine` (CMA-ES, one population per
   `render_many` batch): `top` of them share the rest of the budget, and what a refinement leaves
   unused goes to the next family's best while at least `MIN_REFINE_RENDERS` remain.

The best program seen (screened or refined, by `skill`) is kept. `budget` bounds every render: at
most `SCREEN_SHARE` of it screens (a budget too small for the whole library screens a subset, one
program per family first), the rest refines. `renders` in the result is the count actually used.
A refinement that cannot start (no literal to fit, a lift that changes the picture) or that the `cma`
package rejects (a one-constant fit can raise "not yet initialized (dimension needed)") is skipped
and named in `notes`; its renders still count.

A doctest with a real render pool (a few seconds):

>>> from earthshader.data.generators import generate
>>> from earthshader.render import RenderPool
>>> with RenderPool(workers=2) as pool:
...     target = pool.render(generate("stripes", 7, difficulty=0).code, 56, 56).image
...     library = SearchLibrary(families=["checker", "stripes"], seeds=(0, 1))
...     result = search(target, budget=60, pool=pool, library=library)
>>> result.renders <= 60, result.skill > 0.0, result.origin.split("-")[0]
(True, True, 'stripes')

In an evaluation (`evaluate_completions(..., search_budget=200)`, `python -m earthshader.eval --search 200`)
`search_targets` runs it for every target and `search_baseline` turns the rows scored by the evaluation
into `report.baselines["search"]`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from earthshader.evaluation.scoring import TargetScorer

#: Renders of one refinement below which the search does not start it (refine needs at least 16).
MIN_REFINE_RENDERS = 40
#: The largest share of the budget spent on screening the library.
SCREEN_SHARE = 0.5
#: Default seeds of every family in the library.
DEFAULT_SEEDS = (0, 1)
#: Candidates refined per target: one deep fit beat two or three shallow ones at 200 and 400 renders (docs/eval.md).
DEFAULT_TOP = 1


@dataclass(frozen=True)
class Candidate:
    """A library program: `earthshader.data.sources.generated_program(family, seed, level).code`."""

    family: str
    seed: int
    level: int
    code: str

    @property
    def name(self) -> str:
        return f"{self.family}-{self.level}-{self.seed}"


@dataclass
class SearchResult:
    """The best program the search found for one target, and what it cost.

    `skill` and `scores` are the evaluation's (`TargetScorer.scores` of `image`); `origin` names the
    library program it started from and whether refinement improved it; `code` is None only when
    no candidate rendered at all.
    """

    code: str | None
    image: np.ndarray | None
    skill: float
    scores: dict
    origin: str
    renders: int
    seconds: float
    budget: int
    screened: int
    refined: list[tuple[str, float, float]] = field(default_factory=list)  # (candidate, skill before, after)
    notes: list[str] = field(default_factory=list)


class _CountingPool:
    """A `RenderPool` stand-in that counts every source it is asked to render."""

    def __init__(self, pool):
        self.pool, self.count = pool, 0

    def render_many(self, codes, *args, **kwargs):
        codes = list(codes)
        self.count += len(codes)
        return self.pool.render_many(codes, *args, **kwargs)

    def render(self, code, *args, **kwargs):
        return self.render_many([code], *args, **kwargs)[0]


def library_programs(families=None, seeds=DEFAULT_SEEDS, levels: str = "ends") -> list[Candidate]:
    """The candidates: each family (default all) at `seeds` and levels, in screening order.

    `levels`: "ends" (the family's lowest and highest), "all", or "lowest". The order interleaves
    families (every family's first program, then every family's second, ...), so that a budget that
    screens only a prefix still covers every family it can.
    """
    from earthshader.data.generators import FAMILIES
    from earthshader.data.sources import generated_program

    names = list(FAMILIES) if families is None else list(families)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown or not names:
        raise ValueError(f"unknown generator families {unknown}; valid: {sorted(FAMILIES)}")
    if levels not in ("ends", "all", "lowest"):
        raise ValueError(f"levels must be 'ends', 'all' or 'lowest', got {levels!r}")
    per_family = {}
    for name in names:
        span = FAMILIES[name].difficulties
        chosen = {"all": list(span), "lowest": [span.start], "ends": sorted({span.start, span.stop - 1})}[levels]
        per_family[name] = [(seed, level) for seed in seeds for level in chosen]
    order = []
    for rank in range(max(len(v) for v in per_family.values())):
        for name in names:
            if rank < len(per_family[name]):
                seed, level = per_family[name][rank]
                order.append(Candidate(name, seed, level, generated_program(name, seed, level).code))
    return order


class SearchLibrary:
    """The candidate programs and their renders, one batch per (size, iTime) and reused across targets."""

    def __init__(self, families=None, seeds=DEFAULT_SEEDS, levels: str = "ends"):
        self.candidates = library_programs(families, seeds, levels)
        self._images: dict[tuple[int, int, float], list[np.ndarray | None]] = {}
        self.render_s = 0.0  # seconds spent rendering the library (once per size and time)
        self.renders = 0

    def images(self, count: int, width: int, height: int, time_: float, pool) -> list[np.ndarray | None]:
        """Renders of the first `count` candidates (None where one failed), rendering what is missing."""
        cached = self._images.setdefault((width, height, float(time_)), [])
        if len(cached) < count:
            started = time.perf_counter()
            missing = self.candidates[len(cached):count]
            results = pool.render_many([c.code for c in missing], width=width, height=height, time=time_)
            cached.extend(r.image if r.ok else None for r in results)
            self.render_s += time.perf_counter() - started
            self.renders += len(missing)
        return cached[:count]


def search(target: np.ndarray, *, budget: int = 200, pool=None, library: SearchLibrary | None = None,
           top: int = DEFAULT_TOP, time: float = 0.0, seed: int = 0) -> SearchResult:
    """The best library program for `target` (H x W x 3 uint8) within `budget` renders; see the module docstring."""
    from earthshader.evaluation.scoring import using_pool

    target = np.ascontiguousarray(np.asarray(target)[..., :3])
    if target.ndim != 3 or target.dtype != np.uint8:
        raise ValueError(f"the target must be an H x W x 3 uint8 image, got {target.dtype} {target.shape}")
    if budget < 1:
        raise ValueError(f"the search budget must be at least 1 render, got {budget}")
    library = library or SearchLibrary()
    with using_pool(pool) as render_pool:
        return _search(target, budget, render_pool, library, top, time, seed)


def _search(target, budget, pool, library, top, time_, seed) -> SearchResult:
    from earthshader.refine import RefineError, refine

    started = _now()
    scorer = TargetScorer(target)
    height, width = target.shape[:2]
    n_screen = min(len(library.candidates), max(1, int(SCREEN_SHARE * budget)))
    if budget - n_screen < MIN_REFINE_RENDERS:  # too little left to refine anything: screen with all of it
        n_screen = min(len(library.candidates), budget)
    images = library.images(n_screen, width, height, time_, pool)
    screened = [(scorer.scores(image) if image is not None else None, c, image)
                for c, image in zip(library.candidates, images)]
    ranked = sorted((s for s in screened if s[0] is not None), key=lambda s: _key(s[0]), reverse=True)
    # best: (scores, code, image, origin)
    best = (ranked[0][0], ranked[0][1].code, ranked[0][2], ranked[0][1].name) if ranked else None

    counter = _CountingPool(pool)
    notes: list[str] = []
    refined: list[tuple[str, float, float]] = []
    picks, families = [], set()
    for entry in ranked:  # the best candidate of each family, best first
        if entry[1].family not in families:
            picks.append(entry)
            families.add(entry[1].family)
    done = 0
    for scores, candidate, _ in picks:
        left = budget - n_screen - counter.count
        if left < MIN_REFINE_RENDERS:
            break
        # `top` refinements share what is left; a refinement that stops early leaves its renders to the next
        share = left // max(1, min(top - done, left // MIN_REFINE_RENDERS)) if done < top else left
        done += 1
        try:
            result = refine(candidate.code, target, budget=share, pool=counter, time=time_, seed=seed)
        except RefineError as err:
            notes.append(f"{candidate.name}: not refined: {err}")
            continue
        except ValueError as err:  # the cma package on a one-constant fit; see the module docstring
            if "dimension needed" not in str(err):
                raise
            notes.append(f"{candidate.name}: not refined: cma rejected the fit ({err})")
            continue
        after = scorer.scores(result.image)
        refined.append((candidate.name, scores["skill"], after["skill"]))
        if _key(after) > _key(best[0]):
            best = (after, result.source, result.image, f"{candidate.name}, refined")
    if best is None:
        best = ({}, None, None, "nothing rendered")
    return SearchResult(
        code=best[1], image=best[2], skill=best[0].get("skill", float("nan")), scores=best[0], origin=best[3],
        renders=n_screen + counter.count, seconds=_now() - started, budget=budget, screened=n_screen,
        refined=refined, notes=notes)


def _key(scores: dict) -> float:
    value = scores["skill"]
    return -math.inf if math.isnan(value) else value


def _now() -> float:
    return time.perf_counter()


def search_targets(targets, budget: int, *, pool=None, library: SearchLibrary | None = None,
                   top: int = DEFAULT_TOP, seed: int = 0) -> list[SearchResult]:
    """`search` for every evaluation target (its `.image`, at its `.time`), one library for all."""
    from earthshader.evaluation.scoring import using_pool

    library = library or SearchLibrary()
    with using_pool(pool) as render_pool:
        return [search(t.image, budget=budget, pool=render_pool, library=library, top=top,
                       time=float(getattr(t, "time", 0.0) or 0.0), seed=seed) for t in targets]


def search_baseline(rows, results: list[SearchResult], flat_scores) -> dict:
    """The report's `baselines["search"]`: the summary of the search programs' rows (scored by the
    evaluation, like the model's samples) plus what the search cost, per target."""
    from earthshader.evaluation.aggregate import summarise

    seconds = sum(r.seconds for r in results)
    renders = sum(r.renders for r in results)
    return summarise(rows, flat_scores) | {
        "budget": results[0].budget if results else None,
        "renders": renders / len(results) if results else None,
        "seconds": seconds / len(results) if results else None,
        "renders_per_s": renders / seconds if seconds > 0 else None,
    }


def cost_line(summary: dict) -> str:
    """One line on what the search baseline cost, for the terminal and the markdown report."""
    return (f"search baseline: budget {summary['budget']} renders a target; used {summary['renders']:.0f} "
            f"renders and {summary['seconds']:.2f} s a target ({summary['renders_per_s'] or 0:.0f} renders/s, "
            "the library's first render included)")
