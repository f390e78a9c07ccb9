"""Evaluate a model held in memory, or completions already generated, on a list of targets.

    from earthshader.evaluation import load_targets
    from earthshader.evaluation.run import evaluate, evaluate_completions, evaluate_model, run_evaluation
    targets = load_targets("generator:textures", n=16, size=84)
    report = evaluate(model, processor, targets, samples=4, seed=0)   # K = 4 sampled completions each
    report.summary["structure"], report.summary["appearance"], report.summary["baseline_ssim"]
    report.summary["compile_rate"], report.summary["nonflat_rate"]

    report = evaluate_completions([["```glsl ...```"], ...], targets)  # no model: score given answers
    summaries = evaluate_model("runs/sft-tiny", targets, Path("runs/eval"), seed=0, sampling=(4, 0.5))
                                                                        # a saved model: greedy and sampled
    report = run_evaluation(model="runs/sft-tiny", dataset="generator:textures", n=16, out="runs/eval")
    report = evaluate(model, processor, targets, turns=2)             # look and fix: every turn scored
    report.turns[1]["summary"]["structure"], report.turns[1]["change_from_turn_1"]["structure"]["mean"]

`run_evaluation` is what `python -m earthshader.eval` runs after parsing: it loads the targets and the model
and calls `evaluate`, so the GRPO demo's before/after table and the CLI report the same numbers. `objective`
(`earthshader.evaluation.objectives`, default `mix`) is what the best-of-K pick and the search baseline are
chosen and fitted by; every report shows both figures. With `turns` N > 1 each of the K samples starts a
look-and-fix episode (`earthshader.episodes.runner`; turn 1 is drawn exactly as the single-turn samples are)
and every turn is scored as one evaluation (`evaluate_turns`): the report's model rows are the last turn's,
and `report.turns` holds each turn's figures and their paired change from turn 1. Sampling is seeded (`seed`), so
the same model, targets and seed give the same report, timings apart; the caller's torch RNG state is
left as it was (a trainer's run does not change because it was evaluated in between).
"""

from __future__ import annotations

import time
from pathlib import Path

from earthshader.answering.search import search_baseline, search_targets
from earthshader.evaluation.aggregate import breakdown, summarise, summarise_best_of_k
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, check_objective
from earthshader.evaluation.picture_dependence import picture_dependence
from earthshader.evaluation.report import EvalReport, report_console
from earthshader.evaluation.scoring import FIGURES, TargetScorer, mean_colour_program, score_programs, using_pool
from earthshader.evaluation.statistics import paired_change, scored_mean
from earthshader.glsl.extract import completion_text, extract_glsl
from earthshader.modeling import prompts


def default_temperature(samples: int) -> float:
    """Greedy decoding for one sample, temperature 1 for best-of-K (K greedy answers would be equal)."""
    return 0.0 if samples == 1 else 1.0


def evaluate(model, processor, targets, *, samples: int = 1, temperature: float | None = None, top_p: float = 1.0,
             max_new_tokens: int = 1024, seed: int = 0, batch_size: int = 8, pool=None, labels: bool = True,
             settings: dict | None = None, search_budget: int = 0, objective: str = DEFAULT_OBJECTIVE,
             scorers: list[TargetScorer] | None = None, turns: int = 1) -> EvalReport:
    """Generate `samples` completions per target with `model`, render and score them (see `evaluate_completions`).

    `turns` > 1: each completion starts a look-and-fix episode of that many turns (`evaluate_turns`)."""
    import torch

    if not targets:
        raise ValueError("no targets to evaluate")
    if samples < 1 or turns < 1:
        raise ValueError(f"samples and turns must be at least 1, got {samples} and {turns}")
    temperature = default_temperature(samples) if temperature is None else temperature
    size = prompts.image_size(int(targets[0].image.shape[0]))
    options = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
               "batch_size": batch_size}
    if turns > 1:
        from earthshader.episodes.runner import EpisodeSettings, check_episode_fits

        episode = EpisodeSettings(max_turns=turns, samples=samples, image_size=size, **options)
        check_episode_fits(model, processor, episode)  # before any work: a UsageError naming --turns
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=devices):  # seeded sampling; the caller's RNG state (a trainer's) is kept
        torch.manual_seed(seed)
        if turns > 1:
            completions = episode_completions(model, processor, targets, episode, pool=pool)
        else:
            from earthshader.modeling.generation import generate_completions

            completions = generate_completions(model, processor, [t.image for t in targets], image_size=size,
                                               k=samples, **options)
    generation_s = time.perf_counter() - start
    settings = {**(settings or {}), "samples": samples, "temperature": temperature, "top_p": top_p,
                "max_new_tokens": max_new_tokens, "seed": seed, "size": size}
    score = {"pool": pool, "tokenizer": processor.tokenizer, "labels": labels, "settings": settings,
             "objective": objective, "scorers": scorers}
    if turns > 1:
        return evaluate_turns(completions, targets, generation_s=generation_s, search_budget=search_budget, **score)
    return evaluate_completions(completions, targets, generation_s=generation_s, search_budget=search_budget, **score)


def episode_completions(model, processor, targets, settings, *, pool=None) -> list[list[list[str]]]:
    """Per turn, per target, the answers of its `settings.samples` look-and-fix episodes
    (`earthshader.episodes.runner.run_episodes`, at each target's `time`)."""
    from earthshader.episodes.runner import run_episodes

    with using_pool(pool) as render_pool:
        episodes = run_episodes(model, processor, [t.image for t in targets], settings, pool=render_pool,
                                times=[float(t.time or 0.0) for t in targets])
    k = settings.samples
    return [[[episodes[i * k + j].turns[turn].answer for j in range(k)] for i in range(len(targets))]
            for turn in range(settings.max_turns)]


def evaluate_turns(per_turn: list[list[list]], targets, *, generation_s: float | None = None,
                   search_budget: int = 0, settings: dict | None = None, **score) -> EvalReport:
    """Every turn's answers (`per_turn[t][i]`: target i's K answers at turn t + 1) scored as `evaluate_completions`
    scores one set. The report is the last turn's (the model's answer after looking back; the search baseline
    runs with it), plus `turns`: each turn's summary, best of K, paired change from turn 1 and repair rate
    (`turn_entries`), and each turn's rows."""
    settings = {**(settings or {}), "turns": len(per_turn)}
    reports = [evaluate_completions(completions, targets, settings=settings, **score,
                                    generation_s=generation_s if last else None,
                                    search_budget=search_budget if last else 0)
               for completions, last in zip(per_turn, [False] * (len(per_turn) - 1) + [True])]
    final = reports[-1]
    final.timing["scoring_s_every_turn"] = sum(report.timing["scoring_s"] for report in reports)
    final.turns = turn_entries(reports)
    final.turn_scored = [report.scored for report in reports]
    final.turn_completions = [report.completions for report in reports]
    return final


def turn_entries(reports: list[EvalReport]) -> list[dict]:
    """One entry a turn: its summary and best of K, the paired change of each figure from turn 1 (each target's
    mean over its samples, paired by target: `statistics.paired_change`) and, from turn 2 on, the share of the
    samples that failed to render at turn 1 that render at this turn (`repaired`: rate and of how many)."""
    first = per_target_figures(reports[0].scored)
    failed = [[not row.rendered for row in rows] for rows in reports[0].scored]
    entries = []
    for turn, report in enumerate(reports, start=1):
        now = per_target_figures(report.scored)
        change = {figure: paired_change(first[f"target_{figure}"], now[f"target_{figure}"])._asdict()
                  for figure in FIGURES}
        fixed = [row.rendered for rows, flags in zip(report.scored, failed) for row, flag in zip(rows, flags) if flag]
        repaired = {"rate": (sum(fixed) / len(fixed) if fixed else None) if turn > 1 else None, "of": len(fixed)}
        entries.append({"turn": turn, "summary": report.summary, "best_of_k": report.best_of_k,
                        "change_from_turn_1": change, "repaired": repaired})
    return entries


def evaluate_completions(completions: list[list], targets, *, pool=None, tokenizer=None, labels: bool = True,
                         settings: dict | None = None, generation_s: float | None = None,
                         search_budget: int = 0, objective: str = DEFAULT_OBJECTIVE,
                         scorers: list[TargetScorer] | None = None) -> EvalReport:
    """Score `completions[i]` (K answers: strings or TRL message lists) against `targets[i]`, with the baselines.

    Baselines, scored through the same render and metrics: the target's mean-colour image, drawn by a
    one-line program (`scoring.mean_colour_program`), the target's own program, taught or withheld (its
    `program`: SSIM 1 when the pipeline is right and the dataset was rendered at this size) and, with
    `search_budget` > 0, the model-free search's program (`earthshader.answering.search`, fitted for
    `objective`, that many renders a target). Best-of-K picks each target's sample by `objective`. The report's
    `picture_dependence` says whether the answers are their own pictures' (`evaluation.picture_dependence`).
    `scorers[i]` is target i's `TargetScorer` when the caller has one (its statistics are then reused).
    """
    if len(completions) != len(targets):
        raise ValueError(f"got completions for {len(completions)} targets, but {len(targets)} targets")
    if not targets:
        raise ValueError("no targets to evaluate")
    samples = len(completions[0])
    if samples < 1 or any(len(row) != samples for row in completions):
        raise ValueError("every target needs the same number of completions, at least one")
    check_objective(objective)
    scorers = scorers or [TargetScorer(t.image) for t in targets]
    searched = search_targets(targets, search_budget, pool=pool, objective=objective) if search_budget > 0 else []
    start = time.perf_counter()
    extracted = [[extract_glsl(c) for c in row] for row in completions]
    programs = [[e.code for e in row] + [mean_colour_program(t.image), t.program] for row, t in zip(extracted, targets)]
    names = [[*range(samples), "mean_colour", "reference"] for _ in targets]
    for i, found in enumerate(searched):
        programs[i].append(found.code or "")
        names[i].append("search")
    meta = [[*row, None, None, None] for row in extracted]
    rows = score_programs(targets, programs, pool=pool, tokenizer=tokenizer, labels=labels,
                          completions_meta=meta, names=names, scorers=scorers)
    scored = [row[:samples] for row in rows]
    mean_colour = [row[samples] for row in rows]
    reference = [row[samples + 1] for row, t in zip(rows, targets) if t.program]
    search_rows = [row[samples + 2] for row in rows] if searched else []
    baselines = {i: scorer.flat_scores for i, scorer in enumerate(scorers)}
    all_samples = [r for row in scored for r in row]
    dependence = picture_dependence(scored, targets, scorers)
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
                  "size": int(targets[0].image.shape[0]), "objective": objective},
        summary=summarise(all_samples, baselines),
        best_of_k=summarise_best_of_k(scored, baselines, objective),
        baselines=summaries,
        by_source=_groups(scored, search_rows, targets, lambda t: t.source, baselines),
        by_difficulty=_groups(scored, search_rows, targets, lambda t: t.difficulty, baselines),
        by_family=(_groups(scored, search_rows, targets, lambda t: t.family, baselines)
                   if any(t.family for t in targets) else {}),
        timing=timing,
        picture_dependence=dependence,
        targets=list(targets),
        scored=scored,
        reference_rows=[row[samples + 1] for row in rows],
        completions=[[completion_text(c) for c in row] for row in completions],
        search=list(zip(search_rows, searched)),
    )


def _groups(scored, search_rows, targets, key, baselines) -> dict[str, dict]:
    """`breakdown` of the model's samples, each group with its search baseline's figures (`search_structure`,
    `search_appearance`) when the evaluation ran the search."""
    groups = breakdown(scored, targets, key, baselines)
    if search_rows:
        searched = breakdown([[row] for row in search_rows], targets, key, baselines)
        for name, group in groups.items():
            group.update({f"search_{figure}": searched[name][figure] for figure in FIGURES})
    return groups


def evaluate_model(model_dir: Path, targets, out: Path, seed: int, sampling: tuple[int, float],
                   search_budget: int = 0, objective: str = DEFAULT_OBJECTIVE) -> dict:
    """Load a saved model and evaluate it on `targets` twice: greedily (one answer per target) and as a
    sampled policy (`sampling` = (samples per target, temperature)). Writes both reports under `out`;
    returns {"greedy": summary, "sampled": summary}, each with `target_structure` and `target_appearance` (each
    target's mean over its answers), plus "search" (the search baseline's summary, fitted for `objective` and
    run with the greedy evaluation) when `search_budget` > 0."""
    from earthshader.modeling import load_model

    model, processor = load_model(str(model_dir), "cpu")
    samples, temperature = sampling
    scorers = [TargetScorer(t.image) for t in targets]  # the targets' statistics, once for both evaluations
    summaries = {}
    for name, k, t in (("greedy", 1, 0.0), ("sampled", samples, temperature)):
        report = evaluate(model, processor, targets, samples=k, temperature=t, seed=seed, max_new_tokens=256,
                          settings={"model": str(model_dir)}, search_budget=search_budget if name == "greedy" else 0,
                          objective=objective, scorers=scorers)
        report.write(out / name)
        if name == "greedy":
            report.print()
            if "search" in report.baselines:
                summaries["search"] = report.baselines["search"] | per_target_figures(report.search_rows())
        summaries[name] = {**report.summary, **per_target_figures(report.scored)}
    return summaries


def per_target_figures(scored) -> dict[str, list[float]]:
    """`target_structure`, `target_appearance`: each target's mean figure over its rows (NaN: none scored), the
    lists that paired changes are computed from."""
    return {f"target_{figure}": [scored_mean([getattr(s, figure) for s in rows]) for rows in scored]
            for figure in FIGURES}


def run_evaluation(*, model: str, dataset: str, out: Path = Path("runs/eval"), adapter: str | None = None,
                   split: str = "test", n: int | None = None, samples: int = 1, difficulty: int | None = None,
                   size: int | None = None, seed: int = 0, temperature: float | None = None, top_p: float = 1.0,
                   max_new_tokens: int = 1024, batch_size: int = 8, backend: str = "auto", start: int | None = None,
                   workers: int | None = None, timeout: float = 20.0, no_labels: bool = False, sheet: int = 12,
                   search: int = 0, objective: str = DEFAULT_OBJECTIVE, turns: int = 1, console=None) -> EvalReport:
    """What `python -m earthshader.eval` does after parsing: load the targets and the model, evaluate, print the
    tables and write the report under `out`. Raises `UsageError` naming the argument for a dataset or model
    that cannot be used."""

    from rich.markup import escape

    from earthshader import modeling
    from earthshader.data.picture_reader import printable_id
    from earthshader.errors import UsageError
    from earthshader.evaluation.targets import HELD_OUT_SEED, load_targets
    from earthshader.render import RenderPool

    backend = modeling.select_backend(backend)  # Unsloth, if chosen, before transformers / peft
    console = console or report_console()
    size = modeling.model_image_size(size, adapter, model)
    settings = {"model": printable_id(model), "adapter": adapter and printable_id(adapter),
                "dataset": printable_id(dataset), "split": split}
    with RenderPool(workers=workers, timeout=timeout) as pool:
        try:
            targets = load_targets(dataset, split=split, n=n, seed=seed, size=size, pool=pool,
                                   start=HELD_OUT_SEED if start is None else start, difficulty=difficulty)
        except UsageError as err:  # what the loader refuses: named, with the reason
            raise UsageError(str(err) if str(err).startswith("--n") else f"argument --dataset: {err}") from None
        console.print(f"{len(targets)} targets from {escape(printable_id(dataset))} at {size} px")
        try:
            loaded, processor = modeling.load_model_and_adapter(model, adapter, backend)
        except (UsageError, ValueError) as err:  # no such model or adapter, an architecture we do not train
            raise UsageError(str(err) if str(err).startswith("--adapter") else f"argument --model: {err}") from None
        report = evaluate(loaded, processor, targets, samples=samples, temperature=temperature, top_p=top_p,
                          max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size, pool=pool,
                          labels=not no_labels, settings=settings, search_budget=search, objective=objective,
                          turns=turns)
    report.print(console)
    paths = report.write(out, sheet_targets=sheet)
    console.print(escape("wrote " + ", ".join(printable_id(str(p)) for p in paths.values())))
    return report
