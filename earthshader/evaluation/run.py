"""Evaluate a model held in memory, or completions already generated, on a list of targets.

    from earthshader.evaluation import evaluate, load_targets
    targets = load_targets("generator:textures", n=16, size=84)
    report = evaluate(model, processor, targets, samples=4, seed=0)   # K = 4 sampled completions each
    report.summary["ssim"], report.summary["baseline_ssim"], report.summary["skill"]
    report.summary["compile_rate"], report.summary["nonflat_rate"]

    report = evaluate_completions([["```glsl ...```"], ...], targets)  # no model: score given answers
    summaries = evaluate_model("runs/sft-tiny", targets, Path("runs/eval"), seed=0, sampling=(4, 0.5))
                                                                        # a saved model: greedy and sampled

`evaluate` is what `python -m earthshader.eval` runs after loading the model and the targets, so the
GRPO demo's before/after table and the CLI report the same numbers. Sampling is seeded (`seed`), so
the same model, targets and seed give the same report, timings apart; the caller's torch RNG state is
left as it was (a trainer's run does not change because it was evaluated in between).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from earthshader.evaluation.aggregate import breakdown, summarise, summarise_best_of_k
from earthshader.evaluation.report import EvalReport
from earthshader.evaluation.scoring import TargetScorer, mean_colour_program, score_programs
from earthshader.evaluation.search import search_baseline, search_targets
from earthshader.glsl.extract import completion_text, extract_glsl
from earthshader.modeling import prompts


def default_temperature(samples: int) -> float:
    """Greedy decoding for one sample, temperature 1 for best-of-K (K greedy answers would be equal)."""
    return 0.0 if samples == 1 else 1.0


def evaluate(model, processor, targets, *, samples: int = 1, temperature: float | None = None, top_p: float = 1.0,
             max_new_tokens: int = 1024, seed: int = 0, batch_size: int = 8, pool=None, labels: bool = True,
             settings: dict | None = None, search_budget: int = 0) -> EvalReport:
    """Generate `samples` completions per target with `model`, render and score them (see `evaluate_completions`)."""
    import torch

    from earthshader.modeling.generation import generate_completions

    if not targets:
        raise ValueError("no targets to evaluate")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    temperature = default_temperature(samples) if temperature is None else temperature
    size = prompts.image_size(int(targets[0].image.shape[0]))
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=devices):  # seeded sampling; the caller's RNG state (a trainer's) is kept
        torch.manual_seed(seed)
        completions = generate_completions(
            model, processor, [t.image for t in targets], image_size=size, k=samples,
            max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, batch_size=batch_size,
        )
    generation_s = time.perf_counter() - start
    settings = {**(settings or {}), "samples": samples, "temperature": temperature, "top_p": top_p,
                "max_new_tokens": max_new_tokens, "seed": seed, "size": size}
    return evaluate_completions(completions, targets, pool=pool, tokenizer=processor.tokenizer, labels=labels,
                                settings=settings, generation_s=generation_s, search_budget=search_budget)


def evaluate_completions(completions: list[list], targets, *, pool=None, tokenizer=None, labels: bool = True,
                         settings: dict | None = None, generation_s: float | None = None,
                         search_budget: int = 0) -> EvalReport:
    """Score `completions[i]` (K answers: strings or TRL message lists) against `targets[i]`, with the baselines.

    Baselines, scored through the same render and metrics: the target's mean-colour image, drawn by a
    one-line program (`scoring.mean_colour_program`), the target's reference program (SSIM 1 when the
    pipeline is right and the dataset was rendered at this size) and, with `search_budget` > 0, the
    model-free search's program (`earthshader.evaluation.search`, that many renders a target).
    """
    if len(completions) != len(targets):
        raise ValueError(f"got completions for {len(completions)} targets, but {len(targets)} targets")
    if not targets:
        raise ValueError("no targets to evaluate")
    samples = len(completions[0])
    if samples < 1 or any(len(row) != samples for row in completions):
        raise ValueError("every target needs the same number of completions, at least one")
    searched = search_targets(targets, search_budget, pool=pool) if search_budget > 0 else []
    start = time.perf_counter()
    extracted = [[extract_glsl(c) for c in row] for row in completions]
    programs = [[e.code for e in row] + [mean_colour_program(t.image), t.code] for row, t in zip(extracted, targets)]
    names = [[*range(samples), "mean_colour", "reference"] for _ in targets]
    for i, found in enumerate(searched):
        programs[i].append(found.code or "")
        names[i].append("search")
    meta = [[*row, None, None, None] for row in extracted]
    scorers = [TargetScorer(t.image) for t in targets]
    rows = score_programs(targets, programs, pool=pool, tokenizer=tokenizer, labels=labels,
                          completions_meta=meta, names=names, scorers=scorers)
    scored = [row[:samples] for row in rows]
    mean_colour = [row[samples] for row in rows]
    reference = [row[samples + 1] for row, t in zip(rows, targets) if t.code]
    search_rows = [row[samples + 2] for row in rows] if searched else []
    baselines = {i: scorer.flat_scores for i, scorer in enumerate(scorers)}
    all_samples = [r for row in scored for r in row]
    scoring_s = time.perf_counter() - start

    n = len(all_samples)
    timing = {"scoring_s": scoring_s,
              "render_and_score_s_per_sample": scoring_s / (n + (2 + bool(searched)) * len(targets))}
    summaries = {"mean_colour": summarise(mean_colour, baselines), "reference": summarise(reference, baselines)}
    if searched:
        summaries["search"] = search_baseline(search_rows, searched, baselines)
        timing |= {"search_s": sum(r.seconds for r in searched), "search_s_per_target": summaries["search"]["seconds"]}
        settings = {**(settings or {}), "search_budget": search_budget}
    if generation_s is not None:
        timing |= {"generation_s": generation_s, "generation_s_per_sample": generation_s / n,
                   "s_per_sample": (generation_s + scoring_s) / n}
    return EvalReport(
        settings={**(settings or {}), "samples": samples, "n_targets": len(targets), "labels": labels,
                  "size": int(targets[0].image.shape[0])},
        summary=summarise(all_samples, baselines),
        best_of_k=summarise_best_of_k(scored, baselines),
        baselines=summaries,
        by_source=breakdown(scored, targets, lambda t: t.source, baselines),
        by_difficulty=breakdown(scored, targets, lambda t: t.difficulty, baselines),
        by_family=breakdown(scored, targets, lambda t: t.family, baselines) if any(t.family for t in targets) else {},
        timing=timing,
        targets=list(targets),
        scored=scored,
        reference_rows=[row[samples + 1] for row in rows],
        completions=[[completion_text(c) for c in row] for row in completions],
        search=list(zip(search_rows, searched)),
    )


def evaluate_model(model_dir: Path, targets, out: Path, seed: int, sampling: tuple[int, float],
                   search_budget: int = 0) -> dict:
    """Load a saved model and evaluate it on `targets` twice: greedily (one answer per target) and as a
    sampled policy (`sampling` = (samples per target, temperature)). Writes both reports under `out`;
    returns {"greedy": summary, "sampled": summary}, plus "search" (the search baseline's summary, run
    with the greedy evaluation) when `search_budget` > 0."""
    from earthshader.modeling import load_model

    model, processor = load_model(str(model_dir), "cpu")
    samples, temperature = sampling
    summaries = {}
    for name, k, t in (("greedy", 1, 0.0), ("sampled", samples, temperature)):
        report = evaluate(model, processor, targets, samples=k, temperature=t, seed=seed, max_new_tokens=256,
                          settings={"model": str(model_dir)}, search_budget=search_budget if name == "greedy" else 0)
        report.write(out / name)
        if name == "greedy":
            report.print()
            if "search" in report.baselines:
                summaries["search"] = report.baselines["search"]
        summaries[name] = {**report.summary, "target_skills": [_mean_skill(row) for row in report.scored]}
    return summaries


def _mean_skill(samples) -> float:
    skills = [s.skill for s in samples if not math.isnan(s.skill)]
    return float(np.mean(skills)) if skills else math.nan
