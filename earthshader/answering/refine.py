"""Refine a shader's numbers toward a target image by re-rendering (CMA-ES over its float literals).

    from earthshader.answering.refine import refine
    result = refine(source, target_image, budget=300, objective="mix")   # target: H x W x 3 uint8
    result.source, result.score_before, result.score_after, result.figures_after, result.trajectory, result.renders

`python -m earthshader.refine SHADER.glsl TARGET.png -o OUT.glsl` is its command line.

How: the float literals become uniforms (`earthshader.glsl.literals`), so every candidate renders
without recompiling; the lifted shader must render like the original before anything moves.
Then two rounds. Round 1 nudges each literal up and down by 10% (two renders each) and fits the
ones whose nudge helps most (at most `max_dims`: by default one per 100 renders of budget, 2
to 12) with CMA-ES (the `cma` package), one population per `render_many` call. Round 2 nudges the
most visible literals again from the new best (a smaller error shows once the largest is fixed)
and fits the best of those with the rest of the budget. The best values are written back into the
original text, rounded to the fewest digits that keep the score. Every render counts against
`budget`: the checks and the final render of the written-back source too.

Score: the objective's value (`earthshader.evaluation.objectives`: `structure`, `appearance` or `mix`) of
each render, through the evaluation's own scorer (`TargetScorer`; each population scored in one batched
call), so a refined program is better by the figure the evaluation reports. The refined source is kept only
when its own render scores above the original's; otherwise the original comes back unchanged. (Scoring a
3-level SSIM pyramid and fitting more literals at once were tried on the benchmark and recovered no more
cases: see docs/refine.md.)
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, FIGURES_OF, check_objective, objective_values
from earthshader.evaluation.scoring import TargetScorer
from earthshader.glsl.literals import LiftedShader, lift_literals, round_value
from earthshader.image import metrics

#: Lifting policies tried in order until the lifted shader renders like the original.
LIFT_LEVELS = ({}, {"macros": False}, {"macros": False, "globals_": False},
               {"macros": False, "globals_": False, "local_consts": False})
#: Mean absolute difference (grey levels) below which the lifted render counts as the original's.
LIFT_TOLERANCE = 0.5
#: CMA-ES works on z = (x - x0) / scale with scale = max(|x0|, MIN_SCALE): relative steps.
MIN_SCALE = 0.1
SIGMA0 = 0.2  # initial step, as a share of each literal's scale
BOUND = 2.0  # each literal stays within x0 +- BOUND * scale
SCREEN_STEP = 0.1  # the nudge used to rank literals
#: Score changes at or below this are no change: the same picture scored in batches of different sizes
#: differs by about 1e-9 (the appearance statistics are float32), which must not make an unseen literal
#: (an alpha the screen ignores) look visible.
SCORE_NOISE = 1e-6
SCREEN_SHARE = 0.4  # most of a round's renders spent on nudging (two renders a literal)
FIRST_ROUND_SHARE = 0.6  # of the search renders; the rest re-nudges the visible literals and fits again
FINISH_RENDERS = 4  # kept back from the search: 3 roundings + the written-back source
FAILED = 1e3  # CMA-ES fitness (minimised) of a candidate that fails to render
MIN_BUDGET = 16  # renders: the checks, a few nudges and the written-back source
MIN_TARGET_SIDE = 3  # pixels: SSIM's smallest window


class RefineError(ValueError):
    """Refinement cannot start: no literals to fit, a shader that does not render, a flat target."""


@dataclass
class RefineResult:
    """What `refine` found. `score_*`: the objective's value (`objective`) of the original's render and of
    `image`, the refined source's; `figures_*`: both of the evaluation's figures (`structure`, `appearance`)
    of those renders; `trajectory`: the best score of the search so far."""

    source: str  # the refined program (the original text with new literals), or the original unchanged
    original: str
    image: np.ndarray  # render of `source`
    objective: str
    score_before: float
    score_after: float
    figures_before: dict[str, float]
    figures_after: dict[str, float]
    trajectory: list[tuple[int, float]]  # (renders used, best search score so far)
    renders: int
    seconds: float
    lifted: int  # literals turned into uniforms
    kept: int  # float literals that stayed constant
    fitted: list[int] = field(default_factory=list)  # indices (into the lifted literals) searched
    lift_note: str = ""
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (line, old text, new text)

    @property
    def improved(self) -> bool:
        return self.source != self.original


class _Renderer:
    """Counts renders and turns results into the objective's values (None for a failed render)."""

    def __init__(self, pool, width: int, height: int, time: float, scorer: TargetScorer, objective: str):
        self.pool, self.size, self.time, self.scorer, self.objective = pool, (width, height), time, scorer, objective
        self.count = 0

    def render(self, code: str, uniform_sets: list[dict], declarations: str = "") -> list:
        self.count += len(uniform_sets)
        return self.pool.render_many([code] * len(uniform_sets), width=self.size[0], height=self.size[1],
                                     time=self.time, uniforms=uniform_sets, uniform_declarations=declarations)

    def score(self, image: np.ndarray) -> float:
        return float(self.values([image])[0])

    def values(self, images: list[np.ndarray]) -> np.ndarray:
        return objective_values(self.objective, self.scorer, images) if images else np.zeros(0)

    def scores(self, lifted: LiftedShader, value_sets) -> list[float | None]:
        results = self.render(lifted.code, [lifted.uniforms(v) for v in value_sets], lifted.declarations)
        values = iter(self.values([r.image for r in results if r.ok]))
        return [float(next(values)) if r.ok else None for r in results]


def _describe(result) -> str:
    """The render error and up to two more compiler messages, each once."""
    error = str(result.error)
    more = [str(d) for d in result.diagnostics if str(d) not in error]
    return "; ".join([error] + list(dict.fromkeys(more))[:2])


def _lift_verified(source: str, renderer: _Renderer):
    """The first lifting policy whose render matches the original's; (lifted, reference, note)."""
    reference = renderer.render(source, [{}])[0]
    if not reference.ok:
        raise RefineError(f"the shader does not render: {_describe(reference)}")
    first = lift_literals(source)
    if not first.literals:
        raise RefineError(f"no float literals to refine: {first.kept} float literals found, all of them "
                          "constants that must stay (loop bounds, array sizes, zeros, hash constants)")
    problems = []
    for level in LIFT_LEVELS:
        excluded: set[int] = set()
        for _ in range(3):
            lifted = lift_literals(source, exclude_lines=excluded, **level)
            if not lifted.literals:
                break
            result = renderer.render(lifted.code, [lifted.uniforms()], lifted.declarations)[0]
            if result.ok:
                difference = np.abs(result.image.astype(np.int16) - reference.image).mean()
                if difference <= LIFT_TOLERANCE:
                    note = "identical" if difference == 0 else f"mean difference {difference:.3f} levels"
                    return lifted, reference, f"{note}; policy {level or 'all'}"
                problems.append(f"render changed by {difference:.1f} levels")
                break
            problems.append(_describe(result))
            lines = {d.line for d in result.diagnostics if d.line is not None}
            if not lines or lines <= excluded:
                break
            excluded |= lines
    raise RefineError("lifting the literals into uniforms changes this shader's render (undefined "
                      "behaviour such as pow() of a negative number or a division by zero is the usual "
                      f"cause): {problems[-1] if problems else 'nothing liftable'}")


def _screen(lifted: LiftedShader, renderer: _Renderer, best: tuple[float, np.ndarray],
            candidates: list[int]) -> list[tuple[float, float, int]]:
    """Nudge each candidate literal up and down from `best`: (gain, spread, index), best gain first.

    gain: the better nudge's score minus the current one; spread: how much the two nudges differ
    (how visible the literal is at all).
    """
    base, x0 = best
    scale = np.maximum(np.abs(np.array(lifted.values)), MIN_SCALE)
    value_sets = []
    for i in candidates:
        for sign in (1, -1):
            x = x0.copy()
            x[i] += sign * SCREEN_STEP * scale[i]
            value_sets.append(x)
    scores = renderer.scores(lifted, value_sets)
    gains = []
    for k, i in enumerate(candidates):
        pair = [s for s in scores[2 * k:2 * k + 2] if s is not None]
        if pair:
            gains.append((max(pair) - base, abs(pair[0] - pair[-1]), int(i)))
    return sorted(gains, reverse=True)


def _pick(gains: list[tuple[float, float, int]], max_dims: int) -> list[int]:
    """The literals to fit: the best gains among those that change the score at all (beyond `SCORE_NOISE`).

    >>> _pick([(0.05, 0.1, 0), (1.5e-09, 0.0, 1), (-0.01, 0.02, 2)], max_dims=8)
    [0, 2]
    """
    return sorted(i for gain, spread, i in gains[:max_dims] if gain > SCORE_NOISE or spread > SCORE_NOISE)


def _search(lifted: LiftedShader, renderer: _Renderer, chosen: list[int], until: int, seed: int,
            best: tuple[float, np.ndarray], trajectory: list) -> tuple[float, np.ndarray]:
    """CMA-ES over the chosen literals, from `best`, until `until` renders are used; the new best."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cma warns that matplotlib is missing
        import cma
    start = best[1].copy()
    scale = np.maximum(np.abs(np.array(lifted.values)[chosen]), MIN_SCALE)
    shift = (start[chosen] - np.array(lifted.values)[chosen]) / scale  # keep the bounds around x0
    # Samples come from a generator of this search's own: cma's default draws from numpy's global one,
    # which searches running at once in threads (expert iteration refines on several pools) would share.
    # RandomState(seed + 1) gives the very samples cma's `seed` option gave with the global generator.
    own_normal = np.random.RandomState(seed + 1).randn
    options = {"bounds": [list(-BOUND - shift), list(BOUND - shift)], "seed": seed + 1, "verbose": -9,
               "CMA_diagonal": len(chosen) > 24, "randn": own_normal}
    if len(chosen) == 1:
        # cma (4.x) cannot cap a single coordinate's step: when the step outgrows `maxstd` (which it
        # derives from the bounds) it raises "not yet initialized (dimension needed)". The bounds
        # still hold every sample, so in one dimension the cap is not needed.
        options["maxstd"] = np.inf
    es = cma.CMAEvolutionStrategy(np.zeros(len(chosen)), SIGMA0, options)
    while renderer.count + es.popsize <= until and not es.stop():
        population = es.ask()
        value_sets = []
        for z in population:
            x = start.copy()
            x[chosen] = start[chosen] + scale * np.asarray(z)
            value_sets.append(x)
        scores = renderer.scores(lifted, value_sets)
        es.tell(population, [FAILED if s is None or not np.isfinite(s) else -s for s in scores])
        for s, x in zip(scores, value_sets):
            if s is not None and s > best[0]:
                best = (s, x)
        trajectory.append((renderer.count, best[0]))
    return best


def _fit(lifted: LiftedShader, renderer: _Renderer, best: tuple[float, np.ndarray], search_end: int,
         max_dims: int, seed: int, trajectory: list) -> tuple[tuple[float, np.ndarray], list[int]]:
    """The two rounds of nudging and CMA-ES, until `search_end` renders; (best, literals fitted)."""
    # Round 1: nudge every literal (a random subset when the budget is short), fit the best.
    order = [int(i) for i in np.random.default_rng(seed).permutation(len(lifted.literals))]
    gains = _screen(lifted, renderer, best, order[:max(1, int(SCREEN_SHARE * search_end) // 2)])
    chosen = _pick(gains, max_dims)
    trajectory.append((renderer.count, best[0]))
    fitted = set(chosen)
    if chosen:
        until = renderer.count + int(FIRST_ROUND_SHARE * (search_end - renderer.count))
        best = _search(lifted, renderer, chosen, until, seed, best, trajectory)
    # Round 2: nudge the most visible literals of round 1 again, from the new best.
    visible = [i for _, _, i in sorted(gains, key=lambda g: g[1], reverse=True)[:3 * max_dims]]
    if visible and search_end - renderer.count >= 2 * len(visible) + 24:
        chosen = _pick(_screen(lifted, renderer, best, visible), max_dims)
        trajectory.append((renderer.count, best[0]))
        if chosen:
            best = _search(lifted, renderer, chosen, search_end, seed + 1, best, trajectory)
            fitted.update(chosen)
    return best, sorted(fitted)


def _finish(lifted: LiftedShader, renderer: _Renderer, best: tuple[float, np.ndarray]) -> tuple[str, list]:
    """Write the best values back with as few digits as keep the score; (source, changes)."""
    values = best[1]
    roundings = {digits: [round_value(v, digits) if v != o else o for v, o in zip(values, lifted.values)]
                 for digits in (3, 4, 6)}
    scores = renderer.scores(lifted, list(roundings.values()))
    digits = 6
    for d, s in zip(roundings, scores):
        if s is not None and s >= best[0] - 0.002:
            digits = d
            break
    source = lifted.write_back(roundings[digits], digits=digits)
    changes = []
    for lit, value in zip(lifted.literals, roundings[digits]):
        if value != lit.value:
            changes.append((lit.line, lit.text, f"{value:.{digits}g}"))
    return source, changes


def refine(source: str, target: np.ndarray, *, budget: int = 300, pool=None, time: float = 0.0,
           max_dims: int | None = None, seed: int = 0, objective: str = DEFAULT_OBJECTIVE,
           scorer: TargetScorer | None = None) -> RefineResult:
    """Fit the float literals of `source` so that its render scores best on `objective` against `target`.

    `target` is H x W x 3 uint8; renders are made at its size; `pool` is an `earthshader.render.RenderPool`
    (one is started when None); `scorer` is the target's `TargetScorer` when the caller has one. Raises
    `RefineError` when there is nothing to fit, the shader does not render, or the target cannot be scored
    on the objective (a flat target; appearance on a target under 32 px).
    """
    from earthshader.render import RenderPool

    if pool is None:
        with RenderPool() as own_pool:
            return refine(source, target, budget=budget, pool=own_pool, time=time, max_dims=max_dims, seed=seed,
                          objective=objective, scorer=scorer)
    started = _now()
    try:
        target = metrics.target_image(target)
        check_objective(objective)
    except ValueError as err:
        raise RefineError(f"the target cannot be scored: {err}") from None
    if budget < MIN_BUDGET:
        raise RefineError(f"a budget of {budget} renders is too small; use at least {MIN_BUDGET}")
    if max_dims is None:
        max_dims = min(12, max(2, budget // 100))
    scorer = scorer if scorer is not None else TargetScorer(target)
    try:
        scorer.check_figures(FIGURES_OF[objective])
    except ValueError as err:
        raise RefineError(f"{err}; fit it for structure (--objective structure) or give a larger picture") from None
    if scorer.flat_target:
        raise RefineError("the target is a single colour: its mean-colour image already matches it")
    renderer = _Renderer(pool, target.shape[1], target.shape[0], time, scorer, objective)
    lifted, reference, note = _lift_verified(source, renderer)
    base = renderer.score(reference.image)
    trajectory = [(renderer.count, base)]
    best = (base, np.array(lifted.values))
    best, fitted = _fit(lifted, renderer, best, budget - FINISH_RENDERS, max_dims, seed, trajectory)
    refined, changes, image, after = source, [], reference.image, base
    if best[0] > base + SCORE_NOISE:  # a gain within the scores' noise changes nothing worth writing
        refined, changes = _finish(lifted, renderer, best)
        final = renderer.render(refined, [{}])[0]
        if not final.ok:
            raise RefineError(f"internal error: the refined source does not render: {_describe(final)}")
        final_score = renderer.score(final.image)
        if final_score > base + SCORE_NOISE:
            image, after = final.image, final_score
        else:  # rounding lost the gain: keep the original
            refined, changes = source, []
    figures_before, figures_after = ({name: s[name] for name in ("structure", "appearance")}
                                     for s in scorer.scores_many([reference.image, image]))
    return RefineResult(
        source=refined, original=source, image=image, objective=objective, score_before=base, score_after=after,
        figures_before=figures_before, figures_after=figures_after, trajectory=trajectory, renders=renderer.count,
        seconds=_now() - started, lifted=len(lifted.literals), kept=lifted.kept, fitted=fitted, lift_note=note,
        changes=changes)


def _now() -> float:
    return time.perf_counter()
