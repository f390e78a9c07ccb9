"""One way to answer a picture: take K programs, pick the best, refine its numbers, keep it only if it improves,
fall back to the search.

    from earthshader.answering.answer import answer
    found = answer(target_image, codes, objective="mix", refine_budget=120, search_budget=200, pool=pool)
    found.code, found.image, found.score, found.figures      # the program kept, its render, its objective value,
                                                             # its structure and appearance
    found.origin                                             # "model", "model+refine" or "search"
    found.sample, found.refine_note, found.search            # the best sample, why it was not refined, the search

Every command that answers a picture calls it: `python -m earthshader.infer` (the model's samples),
expert iteration's teacher (`earthshader.training.expert_iteration`), the learning benchmark
(`benchmarks/learn_from_pictures.py`); the search baseline (`earthshader.answering.search`) is the same
steps (`earthshader.answering.pick`) with the generators' programs instead of a model's samples. Steps:

1. Score: each program is rendered at the target's size and `time` (one `render_many` call; or its render
   is given as `images`) and scored by `objective` (`earthshader.evaluation.objectives`) through the
   evaluation's own `TargetScorer`, the renders of one target in one batched call.
2. Pick the best (the highest value, the first on ties; a program that does not render is never picked).
3. Refine it (`refine_budget` renders, 0: off): its float literals fitted for the same objective; the
   refined program replaces it only when its render scores higher (`origin` "model+refine").
4. Fall back to the search (`search_budget` renders, 0: off): the model-free search, fitted for the same
   objective, is the answer when it scores above the (refined) best sample, or when no sample rendered
   (`origin` "search").

The answer's render is scored on both figures (`figures`), whatever the objective. Renders spent: K (unless
given) + at most `refine_budget` + at most `search_budget`. A flat target has no figures: every value is NaN,
nothing is refined (the note says why), and the first sample that renders is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from earthshader.answering import search as searching
from earthshader.answering.pick import Scored, best_of, refine_if_better, render_programs, score_images
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, FIGURES_OF, check_objective, ranking_key
from earthshader.evaluation.scoring import FIGURES, TargetScorer, using_pool

#: Where an answer's program came from (expert iteration's teacher names).
ORIGINS = ("model", "model+refine", "search")


@dataclass
class Answer:
    """The program kept for one picture (`code` None: no program rendered, and no search or none that did)."""

    code: str | None
    image: np.ndarray | None
    score: float  # the objective's value of `image` (NaN: no program, or a flat target)
    figures: dict[str, float]  # structure and appearance of `image` ({} when there is none)
    objective: str
    origin: str  # one of ORIGINS, or "none"
    samples: int  # programs given
    rendered: int  # of those, how many rendered
    sample: Scored | None = None  # the best of them, before refinement
    refined_sample: Scored | None = None  # that sample refined, when refinement raised its value
    refine_renders: int = 0
    refine_note: str | None = None  # why the best sample was not refined (None: it was, or refinement is off)
    search: searching.SearchResult | None = None
    scored: list[Scored] = field(default_factory=list, repr=False)  # every given program, scored

    @property
    def refined(self) -> bool:
        return self.origin == "model+refine"


def answer(target: np.ndarray, programs: list[str], *, objective: str = DEFAULT_OBJECTIVE, refine_budget: int = 0,
           search_budget: int = 0, library: searching.SearchLibrary | None = None, pool=None, time: float = 0.0,
           seed: int = 0, scorer: TargetScorer | None = None,
           images: list[np.ndarray | None] | None = None) -> Answer:
    """Answer `target` (H x W x 3 uint8) from `programs` (see the module docstring).

    `images[k]` is program k's render when the caller has it (None where it failed), so nothing is rendered
    twice; `scorer` is the target's `TargetScorer` when the caller has one; `library` the search's
    (`SearchLibrary`, shared by the pictures of a run). Raises `ObjectiveError` for an unknown objective or
    one the target cannot be scored on (appearance under 32 px a side).
    """
    check_objective(objective)
    target = np.ascontiguousarray(np.asarray(target)[..., :3])
    scorer = scorer if scorer is not None else TargetScorer(target)
    scorer.check_figures(FIGURES_OF[objective])
    if images is not None and len(images) != len(programs):
        raise ValueError(f"got {len(images)} renders for {len(programs)} programs")
    with using_pool(pool) as render_pool:
        if images is None:
            images = render_programs(programs, target, pool=render_pool, time=time)
        scored = score_images([f"sample {k}" for k in range(len(programs))], list(programs), images, scorer, objective)
        sample = best_of(scored)
        chosen, origin, renders, note, refined_sample = sample, "model", 0, None, None
        if sample is not None and refine_budget > 0:
            step = refine_if_better(sample, target, scorer, objective, budget=refine_budget, pool=render_pool,
                                    time=time, seed=seed)
            renders, note = step.renders, step.note
            if step.refined:
                chosen, origin, refined_sample = step.candidate, "model+refine", step.candidate
        elif sample is None and programs and refine_budget > 0:
            note = "no sample rendered, nothing to refine"
        found = None
        if search_budget > 0:
            found = searching.search(target, budget=search_budget, pool=render_pool, library=library, time=time,
                                     seed=seed, objective=objective, scorer=scorer)
            if found.code is not None and (chosen is None or ranking_key(found.score) > ranking_key(chosen.score)):
                chosen, origin = Scored(found.origin, found.code, found.image, found.score), "search"
    figures = {}
    if chosen is not None:
        scores = scorer.scores(chosen.image)
        figures = {name: scores[name] for name in FIGURES}
    return Answer(code=chosen.code if chosen else None, image=chosen.image if chosen else None,
                  score=chosen.score if chosen else math.nan, figures=figures, objective=objective,
                  origin=origin if chosen else "none", samples=len(programs),
                  rendered=sum(s.rendered for s in scored), sample=sample, refined_sample=refined_sample,
                  refine_renders=renders, refine_note=note,
                  search=found, scored=scored)
