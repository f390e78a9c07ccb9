"""A model-free search baseline: the generators' programs, their constants fitted to a picture.

    from earthshader.answering.search import SearchLibrary, search
    library = SearchLibrary()                        # every family, seeds 0 and 1, lowest and highest level
    result = search(target_image, budget=200, pool=pool, library=library, objective="mix")   # H x W x 3 uint8
    result.code, result.score, result.figures, result.renders, result.seconds, result.origin

What it answers: how far does a picture get with no model at all? It is the answer pipeline
(`earthshader.answering.pick`) with the library's programs instead of a model's samples. For each target,
in two stages:

1. Screening: every candidate program of the library (each generator family at a few seeds and levels)
   is rendered at the target's size and scored by the objective (`earthshader.evaluation.objectives`:
   structure, appearance or their mean, through the evaluation's `TargetScorer`, all candidates in one
   batched call). The candidates are the same for every target, so a library renders each one once per
   (size, iTime) and later targets reuse its images; each target's search still counts them as renders
   it used.
2. Refinement: the best-scoring candidates (the best of each family, best first) have their float
   literals fitted to the target for the same objective (`pick.refine_if_better`: CMA-ES, one population
   per `render_many` batch, kept only when it improves): `top` of them share the rest of the budget, and
   what a refinement leaves unused goes to the next family's best while at least `MIN_REFINE_RENDERS`
   remain.

The best program seen (screened or refined, by the objective) is kept, and both of the evaluation's
figures of its render are reported. `budget` bounds every render: at most `SCREEN_SHARE` of it screens (a
budget too small for the whole library screens a subset, one program per family first), the rest refines.
`renders` in the result is the count actually used. A refinement that cannot start (no literal to fit, a
lift that changes the picture) or that the `cma` package rejects (a one-constant fit can raise "not yet
initialized (dimension needed)") is skipped and named in `notes`; its renders still count.

A doctest with a real render pool (a few seconds):

>>> from earthshader.data.generators import generate
>>> from earthshader.render import RenderPool
>>> with RenderPool(workers=2) as pool:
...     target = pool.render(generate("stripes", 7, difficulty=0).code, 56, 56).image
...     library = SearchLibrary(families=["checker", "stripes"], seeds=(0, 1))
...     result = search(target, budget=60, pool=pool, library=library, objective="structure")
>>> result.renders <= 60, result.score > 0.0, result.origin.split("-")[0]
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

from earthshader.answering.pick import CountingPool, best_of, refine_if_better, score_images
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, FIGURES_OF, check_objective, ranking_key
from earthshader.evaluation.scoring import FIGURES, TargetScorer, using_pool

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

    `score` is the objective's value of `image` and `figures` both of the evaluation's figures of it
    (`TargetScorer`); `origin` names the library program it started from and whether refinement improved
    it; `code` is None only when no candidate rendered at all.
    """

    code: str | None
    image: np.ndarray | None
    score: float
    figures: dict
    objective: str
    origin: str
    renders: int
    seconds: float
    budget: int
    screened: int
    refined: list[tuple[str, float, float]] = field(default_factory=list)  # (candidate, score before, after)
    notes: list[str] = field(default_factory=list)


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
           top: int = DEFAULT_TOP, time: float = 0.0, seed: int = 0, objective: str = DEFAULT_OBJECTIVE,
           scorer: TargetScorer | None = None) -> SearchResult:
    """The best library program for `target` (H x W x 3 uint8) by `objective` within `budget` renders; see the
    module docstring. `scorer` is the target's `TargetScorer` when the caller has one."""
    target = np.ascontiguousarray(np.asarray(target)[..., :3])
    if target.ndim != 3 or target.dtype != np.uint8:
        raise ValueError(f"the target must be an H x W x 3 uint8 image, got {target.dtype} {target.shape}")
    if budget < 1:
        raise ValueError(f"the search budget must be at least 1 render, got {budget}")
    check_objective(objective)
    library = library or SearchLibrary()
    scorer = scorer if scorer is not None else TargetScorer(target)
    scorer.check_figures(FIGURES_OF[objective])
    with using_pool(pool) as render_pool:
        return _search(target, budget, render_pool, library, top, time, seed, objective, scorer)


def _search(target, budget, pool, library, top, time_, seed, objective, scorer) -> SearchResult:
    started = _now()
    height, width = target.shape[:2]
    n_screen = min(len(library.candidates), max(1, int(SCREEN_SHARE * budget)))
    if budget - n_screen < MIN_REFINE_RENDERS:  # too little left to refine anything: screen with all of it
        n_screen = min(len(library.candidates), budget)
    images = library.images(n_screen, width, height, time_, pool)
    candidates = library.candidates[:n_screen]
    screened = score_images([c.name for c in candidates], [c.code for c in candidates], images, scorer, objective)
    family = {c.name: c.family for c in candidates}
    ranked = sorted((s for s in screened if s.rendered), key=lambda s: ranking_key(s.score), reverse=True)
    best = best_of(screened)

    counter = CountingPool(pool)
    notes: list[str] = []
    refined: list[tuple[str, float, float]] = []
    picks, families = [], set()
    for entry in ranked:  # the best candidate of each family, best first
        if family[entry.name] not in families:
            picks.append(entry)
            families.add(family[entry.name])
    done = 0
    for entry in picks:
        left = budget - n_screen - counter.count
        if left < MIN_REFINE_RENDERS:
            break
        # `top` refinements share what is left; a refinement that stops early leaves its renders to the next
        share = left // max(1, min(top - done, left // MIN_REFINE_RENDERS)) if done < top else left
        done += 1
        step = refine_if_better(entry, target, scorer, objective, budget=share, pool=counter, time=time_, seed=seed)
        if step.result is None:
            notes.append(f"{entry.name}: not refined: {step.note}")
            continue
        refined.append((entry.name, entry.score, step.result.score_after))
        if step.refined and ranking_key(step.candidate.score) > ranking_key(best.score):
            best = step.candidate
    figures = {}
    if best is not None:
        scores = scorer.scores(best.image)
        figures = {name: scores[name] for name in FIGURES}
    return SearchResult(
        code=best.code if best else None, image=best.image if best else None,
        score=best.score if best else math.nan, figures=figures, objective=objective,
        origin=best.name if best else "nothing rendered", renders=n_screen + counter.count,
        seconds=_now() - started, budget=budget, screened=n_screen, refined=refined, notes=notes)


def _now() -> float:
    return time.perf_counter()


def search_targets(targets, budget: int, *, pool=None, library: SearchLibrary | None = None,
                   top: int = DEFAULT_TOP, seed: int = 0, objective: str = DEFAULT_OBJECTIVE) -> list[SearchResult]:
    """`search` for every evaluation target (its `.image`, at its `.time`), one library for all."""
    library = library or SearchLibrary()
    with using_pool(pool) as render_pool:
        return [search(t.image, budget=budget, pool=render_pool, library=library, top=top,
                       time=float(getattr(t, "time", 0.0) or 0.0), seed=seed, objective=objective) for t in targets]


def search_baseline(rows, results: list[SearchResult], flat_scores) -> dict:
    """The report's `baselines["search"]`: the summary of the search programs' rows (scored by the
    evaluation, like the model's samples) plus the objective it was fitted for and what it cost, per target."""
    from earthshader.evaluation.aggregate import summarise

    seconds = sum(r.seconds for r in results)
    renders = sum(r.renders for r in results)
    return summarise(rows, flat_scores) | {
        "objective": results[0].objective if results else None,
        "budget": results[0].budget if results else None,
        "renders": renders / len(results) if results else None,
        "seconds": seconds / len(results) if results else None,
        "renders_per_s": renders / seconds if seconds > 0 else None,
    }


def cost_line(summary: dict) -> str:
    """One line on what the search baseline cost, for the terminal and the markdown report."""
    return (f"search baseline, fitted for {summary.get('objective')}: budget {summary['budget']} renders a target; "
            f"used {summary['renders']:.0f} renders and {summary['seconds']:.2f} s a target "
            f"({summary['renders_per_s'] or 0:.0f} renders/s, the library's first render included)")
