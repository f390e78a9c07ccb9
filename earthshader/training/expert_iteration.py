"""Expert iteration's teacher: for each picture, the model's best sample, its constants fitted by re-rendering.

    from earthshader.training.expert_iteration import RoundSettings, collect_round
    settings = RoundSettings(k=8, refine_budget=120, margin=0.05, seed=0)
    collected = collect_round(model, processor, targets, settings, pool=pool)
    collected.pairs       # kept: picture index, teacher, program, skill sampled / refined / recorded
    collected.pictures    # one record per picture: "kept", or why not ("no_render", "below_margin", ...)
    collected.timing      # seconds to sample, render and refine; refinement renders and renders per second

Each step is the project's one implementation: the shared prompt and sampler
(`earthshader.modeling.generation`), the evaluation's render-and-score (`earthshader.evaluation.scoring`,
whose `skill` is the mean of the SSIM, edge and blurred-pixel skills over the target's mean-colour image),
and `earthshader.refine.refine` for the constants. Refinement optimises SSIM skill only, so the refined
program is taken when it raises the evaluation's skill, and the sample otherwise. A pair is kept when its
skill beats the mean-colour image by `margin` and a fresh render scores it again within `tolerance`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from earthshader.errors import UsageError
from earthshader.evaluation.scoring import TargetScorer, score_programs
from earthshader.glsl.extract import extract_glsl
from earthshader.modeling import generation, prompts

#: What happened to a picture in a round; every picture gets exactly one.
OUTCOMES = ("kept", "no_render", "flat_target", "below_margin", "rerender_mismatch")

#: Teachers a recipe may name. "model": the model's best sample, refined ("model+refine" in the data when
#: refinement raised its skill, "model" when the sample was kept as it was).
#: "search": the model-free search baseline (`earthshader.evaluation.search.search`, its own render budget),
#: where that module is installed.
TEACHERS = ("model", "search")


class TeacherUnavailable(UsageError, ValueError):
    """A recipe names a teacher this installation cannot run."""


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


@dataclass
class Collected:
    """A round's teaching: the kept pairs, one record per picture, and the time each part took."""

    pairs: list[dict]
    pictures: list[dict]
    timing: dict

    def counts(self) -> dict[str, int]:
        """Pictures per outcome (every name of `OUTCOMES`, zeros included)."""
        return {name: sum(p["outcome"] == name for p in self.pictures) for name in OUTCOMES}


def check_teachers(names: list[str]) -> None:
    """Refuse unknown teachers, and the search teacher where its module is missing, before any work starts."""
    unknown = [n for n in names if n not in TEACHERS]
    if unknown or not names:
        raise TeacherUnavailable(f"--teachers {names}: valid teachers are {', '.join(TEACHERS)} (at least one)")
    if "search" in names:
        _search_module()


def _search_module():
    try:
        from earthshader.evaluation import search  # the model-free search baseline
    except ImportError as err:
        raise TeacherUnavailable("--teachers search needs earthshader.evaluation.search (the model-free search "
                                 "baseline), which this installation lacks; use --teachers model") from err
    if not (hasattr(search, "search") and hasattr(search, "SearchLibrary")):
        raise TeacherUnavailable("earthshader.evaluation.search has no search() and SearchLibrary: the search "
                                 "teacher cannot call it")
    return search


def collect_round(model, processor, targets, settings: RoundSettings, *, pool, sampler=None,
                  refine_pools: list | None = None) -> Collected:
    """Sample, render, pick, refine and verify for every target; see the module docstring.

    `sampler` stands in for `generate_completions` (same arguments); `refine_pools` are render pools that
    refine one picture each at a time, in threads (default: `[pool]`, one picture at a time).
    """
    import torch

    from earthshader.refine import RefineError, refine

    check_teachers(settings.teachers)
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

    # 2. Render and score every sample: the best one per picture
    started = time.perf_counter()
    rows = score_programs(targets, programs, pool=pool, labels=False, scorers=scorers) if programs[0] else []
    timing["render_s"] = time.perf_counter() - started

    # 3. Refine each picture's best sample (and ask the search teacher), several pictures at once
    library = _search_library(targets, pool) if "search" in settings.teachers else None

    def teach(i: int, refine_pool) -> list[dict]:
        proposals = []
        rendered = [r for r in rows[i] if r.rendered] if rows else []
        if rendered:
            best = max(rendered, key=lambda r: r.skill)
            proposals.append(_refined(best, targets[i], scorers[i], settings, refine_pool, refine, RefineError))
        if "search" in settings.teachers:
            proposals += _searched(targets[i], settings, refine_pool, library)
        return proposals

    started = time.perf_counter()
    flat = [math.isnan(s.scores(s.flat_image)["skill"]) for s in scorers]
    proposals = _on_pools(teach, [i for i in range(len(targets)) if not flat[i]], refine_pools or [pool])
    timing["refine_s"] = time.perf_counter() - started
    pictures, candidates = [], []
    for i, target in enumerate(targets):
        record = {"picture": i, "id": target.id, "samples": len(programs[i]),
                  "rendered": sum(r.rendered for r in rows[i]) if rows else 0}
        timing["refine_renders"] += sum(p["refine_renders"] for p in proposals.get(i, []))
        if flat[i] or not proposals[i]:
            pictures.append({**record, "outcome": "flat_target" if flat[i] else "no_render"})
            continue
        record.update(max(proposals[i], key=lambda p: p["skill"]))
        if not record["skill"] > settings.margin:
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
            candidate["rerender_skill"] = row.skill
            close = row.rendered and abs(row.skill - candidate["skill"]) <= settings.tolerance
            candidate["outcome"] = "kept" if close else "rerender_mismatch"
    timing["render_s"] += time.perf_counter() - started
    timing["renders_per_s"] = timing["refine_renders"] / timing["refine_s"] if timing["refine_renders"] else None
    pairs = [p for p in pictures if p["outcome"] == "kept"]
    return Collected(pairs=pairs, pictures=pictures, timing=timing)


def _refined(best, target, scorer: TargetScorer, settings: RoundSettings, pool, refine, RefineError) -> dict:
    """The model's proposal: its best sample, refined when refinement raises the evaluation's skill."""
    proposal = {"teacher": "model", "code": best.code, "sample_code": best.code,
                "sample_skill": float(best.skill), "skill": float(best.skill), "refined": False,
                "refine_renders": 0, "refine_note": ""}
    if settings.refine_budget <= 0:
        proposal["refine_note"] = "refinement off"
        return proposal
    try:
        result = refine(best.code, target.image, budget=settings.refine_budget, pool=pool, time=target.time,
                        seed=settings.seed)
    except RefineError as err:
        proposal["refine_note"] = str(err)
        return proposal
    proposal["refine_renders"] = result.renders
    skill = float(scorer.scores(result.image)["skill"])
    proposal["refined_skill"] = skill
    if result.source != best.code and skill > best.skill:
        proposal.update(teacher="model+refine", code=result.source, skill=skill, refined=True)
    else:
        proposal["refine_note"] = "refinement did not raise the skill"
    return proposal


def _search_library(targets, pool):
    """The search's candidate programs, rendered here at every target size and time before threads share it."""
    library = _search_module().SearchLibrary()
    for height, width, time_ in {(*t.image.shape[:2], float(t.time)) for t in targets}:
        library.images(len(library.candidates), width, height, time_, pool)
    return library


def _searched(target, settings: RoundSettings, pool, library) -> list[dict]:
    """The search teacher's proposal (`earthshader.evaluation.search.search`; none when nothing rendered)."""
    result = _search_module().search(target.image, budget=settings.search_budget, pool=pool, library=library,
                                     time=target.time, seed=settings.seed)
    if result.code is None:
        return []
    return [{"teacher": "search", "code": result.code, "sample_code": "", "sample_skill": None,
             "skill": float(result.skill), "refined": True, "refine_renders": int(result.renders),
             "refine_note": "; ".join(result.notes), "search_origin": result.origin}]


def _on_pools(work, items: list[int], pools: list) -> dict[int, list]:
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
