"""Expert iteration's teacher: for each picture, the one answer pipeline on the model's samples.

    from earthshader.training.expert_iteration import RoundSettings, collect_round
    settings = RoundSettings(k=8, refine_budget=120, margin=0.05, seed=0, objective="mix")
    collected = collect_round(model, processor, targets, settings, pool=pool)
    collected.pairs       # kept: picture index, teacher, program, the objective's value sampled / kept, both figures
    collected.pictures    # one record per picture: "kept", or why not ("no_render", "below_margin", ...)
    collected.timing      # seconds to sample, render and refine; refinement renders and renders per second

Each step is the project's one implementation: the shared prompt and sampler
(`earthshader.modeling.generation`), the evaluation's render-and-score (`earthshader.evaluation.scoring`), and
the one way to answer a picture (`earthshader.answering.answer`: the best sample by the round's objective,
its numbers refined for that objective and kept only if it scores higher, the search teacher as the fallback
when the recipe names it). A pair is kept when its objective value beats the mean-colour image (0) by
`margin` and a fresh render scores it again within `tolerance`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from earthshader.answering.answer import answer
from earthshader.errors import UsageError
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, check_objective, objective_value
from earthshader.evaluation.scoring import TargetScorer, score_programs
from earthshader.glsl.extract import extract_glsl
from earthshader.modeling import generation, prompts

#: What happened to a picture in a round; every picture gets exactly one.
OUTCOMES = ("kept", "no_render", "flat_target", "below_margin", "rerender_mismatch")

#: Teachers a recipe may name. "model": the model's best sample, refined ("model+refine" in the data when
#: refinement raised its value, "model" when the sample was kept as it was). "search": the model-free search
#: baseline (`earthshader.answering.search`, its own render budget), kept where it scores above the model.
TEACHERS = ("model", "search")


class TeacherUnavailable(UsageError, ValueError):
    """A recipe names a teacher that does not exist."""


@dataclass
class RoundSettings:
    """How one round samples, refines and keeps (the recipe's fields, see `ExpertScriptArguments`)."""

    k: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    batch_size: int = 8
    refine_budget: int = 120
    search_budget: int = 200
    margin: float = 0.05
    tolerance: float = 1e-3
    seed: int = 0
    teachers: list[str] = field(default_factory=lambda: ["model"])
    objective: str = DEFAULT_OBJECTIVE


@dataclass
class Collected:
    """A round's teaching: the kept pairs, one record per picture, and the time each part took."""

    pairs: list[dict]
    pictures: list[dict]
    timing: dict
    objective: str | None = None  # what the teacher picked and fitted for

    def counts(self) -> dict[str, int]:
        """Pictures per outcome (every name of `OUTCOMES`, zeros included)."""
        return {name: sum(p["outcome"] == name for p in self.pictures) for name in OUTCOMES}


def check_teachers(names: list[str]) -> None:
    """Refuse unknown teachers before any work starts."""
    unknown = [n for n in names if n not in TEACHERS]
    if unknown or not names:
        raise TeacherUnavailable(f"--teachers {names}: valid teachers are {', '.join(TEACHERS)} (at least one)")


def collect_round(model, processor, targets, settings: RoundSettings, *, pool, sampler=None,
                  refine_pools: list | None = None) -> Collected:
    """Sample, render, answer and verify for every target; see the module docstring.

    `sampler` stands in for `generate_completions` (same arguments); `refine_pools` are render pools that
    answer one picture each at a time, in threads (default: `[pool]`, one picture at a time).
    """
    import torch

    check_teachers(settings.teachers)
    check_objective(settings.objective)
    sampler = sampler or generation.generate_completions
    timing = {"sample_s": 0.0, "render_s": 0.0, "refine_s": 0.0, "refine_renders": 0}
    scorers = [TargetScorer(t.image) for t in targets]

    # 1. Sample K programs per picture (seeded; the caller's RNG state is kept)
    started = time.perf_counter()
    programs = [[] for _ in targets]
    if "model" in settings.teachers:
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(settings.seed)
            completions = sampler(model, processor, [t.image for t in targets],
                                  image_size=prompts.image_size(int(targets[0].image.shape[0])), k=settings.k,
                                  max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                                  top_p=settings.top_p, batch_size=settings.batch_size)
        programs = [[extract_glsl(c).code for c in row] for row in completions]
    timing["sample_s"] = time.perf_counter() - started

    # 2. Render every sample, all pictures in one batch
    started = time.perf_counter()
    rows = score_programs(targets, programs, pool=pool, labels=False, scorers=scorers) if programs[0] else []
    timing["render_s"] = time.perf_counter() - started

    # 3. Answer each picture: its best sample refined, the search teacher as the fallback; several at once
    searching = "search" in settings.teachers
    library = _search_library(targets, pool) if searching else None

    def teach(i: int, refine_pool):
        given = rows[i] if rows else []
        images = [r.image if r.rendered else None for r in given]
        return answer(targets[i].image, [r.code for r in given], images=images,
                      objective=settings.objective, refine_budget=max(settings.refine_budget, 0),
                      search_budget=settings.search_budget if searching else 0, library=library, pool=refine_pool,
                      time=targets[i].time, seed=settings.seed, scorer=scorers[i])

    started = time.perf_counter()
    flat = [scorer.flat_target for scorer in scorers]
    answers = _on_pools(teach, [i for i in range(len(targets)) if not flat[i]], refine_pools or [pool])
    timing["refine_s"] = time.perf_counter() - started
    pictures, candidates = [], []
    for i, target in enumerate(targets):
        record = {"picture": i, "id": target.id, "samples": len(programs[i]),
                  "rendered": sum(r.rendered for r in rows[i]) if rows else 0}
        found = answers.get(i)
        if found is not None:
            timing["refine_renders"] += found.refine_renders + (found.search.renders if found.search else 0)
        if flat[i] or found is None or found.code is None:
            pictures.append({**record, "outcome": "flat_target" if flat[i] else "no_render"})
            continue
        record.update(_proposal(found, settings))
        if not record["score"] > settings.margin:
            record["outcome"] = "below_margin"
        else:
            candidates.append(record)
        pictures.append(record)

    # 4. Re-render each candidate from its text: kept only when it scores what was recorded
    started = time.perf_counter()
    if candidates:
        again = score_programs([targets[c["picture"]] for c in candidates], [[c["code"]] for c in candidates],
                               pool=pool, labels=False, scorers=[scorers[c["picture"]] for c in candidates])
        for candidate, (row,) in zip(candidates, again):
            candidate["rerender_score"] = objective_value(settings.objective, row.figures)
            close = row.rendered and abs(candidate["rerender_score"] - candidate["score"]) <= settings.tolerance
            candidate["outcome"] = "kept" if close else "rerender_mismatch"
    timing["render_s"] += time.perf_counter() - started
    timing["renders_per_s"] = timing["refine_renders"] / timing["refine_s"] if timing["refine_renders"] else None
    pairs = [p for p in pictures if p["outcome"] == "kept"]
    return Collected(pairs=pairs, pictures=pictures, timing=timing, objective=settings.objective)


def _proposal(found, settings: RoundSettings) -> dict:
    """A picture's record from its answer: the teacher, the program, the objective's value sampled and kept, both
    figures of the kept program, and what refinement and the search did."""
    note = "refinement off" if settings.refine_budget <= 0 else (found.refine_note or "")
    return {"teacher": found.origin, "objective": found.objective, "code": found.code,
            "sample_code": found.sample.code if found.sample else "",
            "sample_score": found.sample.score if found.sample else None, "score": float(found.score),
            "structure": found.figures["structure"], "appearance": found.figures["appearance"],
            "refined": found.origin != "model", "refine_renders": found.refine_renders, "refine_note": note,
            "search_origin": found.search.origin if found.search else None,
            "search_score": found.search.score if found.search and found.search.code else None}


def _search_library(targets, pool):
    """The search's candidate programs, rendered here at every target size and time before threads share it."""
    from earthshader.answering.search import SearchLibrary

    library = SearchLibrary()
    for height, width, time_ in {(*t.image.shape[:2], float(t.time)) for t in targets}:
        library.images(len(library.candidates), width, height, time_, pool)
    return library


def _on_pools(work, items: list[int], pools: list) -> dict[int, object]:
    """`{item: work(item, pool)}`, each call holding one of `pools` (one thread per pool; in order if one)."""
    if len(pools) == 1:
        return {i: work(i, pools[0]) for i in items}
    import queue
    from concurrent.futures import ThreadPoolExecutor

    free = queue.Queue()
    for p in pools:
        free.put(p)

    def run(i):
        held = free.get()
        try:
            return work(i, held)
        finally:
            free.put(held)

    with ThreadPoolExecutor(max_workers=len(pools)) as executor:
        return dict(zip(items, executor.map(run, items)))
