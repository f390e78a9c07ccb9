"""Learning from pictures alone: GRPO, expert iteration, and expert iteration then GRPO, from one grammar school.

    python benchmarks/learn_from_pictures.py                                  # 3 arms x 3 seeds x 5 min, ~2 h on 2 cores
    python benchmarks/learn_from_pictures.py --arms grpo                      # GRPO against the starting model only
    python benchmarks/learn_from_pictures.py --reuse-trained --eval-n 96      # the same models, more held-out pictures
    python benchmarks/learn_from_pictures.py --minutes 0.5 --seeds 0 --train-n 8 --eval-n 4 --best-of 2 \\
        --refine-budget 20 --expert-args="--samples_per_picture 2"           # a smoke run

1. The grammar school (`--start`; trained there when it does not exist): `earthshader.sft --recipe tiny`
   on the `primitives` families and `gradient` only (`--sft-args`), so no picture kind below has programs
   the model was taught.
2. Picture-only targets of each kind of `earthshader.data.picture_kinds` (`--kinds`: unseen texture
   families, code-withheld renders of corpus shaders, crops of photographs, optionally terrains):
   `--train-n` training pictures per kind, written as PNG files to OUT/train (the learner sees pixels
   only), and `--eval-n` held-out pictures per kind that share no program and no photograph with them.
   `--train-pictures KIND=SPEC` trains a kind on other pictures (its held-out ones stay), for example
   `photos=crops:skimage:more?size=128&count={n}&seed=0` (`{n}`: `--train-n`).
3. Each arm (`--arms`) trains from the start on OUT/train for `--minutes` of wall time per seed, through the
   stages' `time_limit_minutes`: `grpo` (`earthshader.training.grpo_stage`, recipe `tiny` with `dataset_path`
   OUT/train, starting no step that would end past the limit), `expert` (`earthshader.training.expert_stage`,
   recipe `tiny`, starting no round that would end past it), `expert+grpo` (expert iteration for half the
   time, then GRPO from its model for the rest).
4. The start and every trained model answer the same held-out pictures, paired by target, through the one
   answer pipeline (`earthshader.answering.answer`, picking and fitting for `--objective`, default
   `appearance`): the greedy answer and the best of `--best-of` samples (temperature 1), each as answered
   and after test-time refinement (`--refine-budget` renders), beside the mean-colour image (0 on both
   figures), the trivial answers (`earthshader.answering.trivial`: the best straight colour gradient, the
   picture's own pixels shuffled) and the model-free search (`earthshader.answering.search`) fitted for the
   same objective with the renders best-of-K plus refinement uses (`--best-of` + `--refine-budget`). The
   expert teacher picks and fits for `--objective` too.

Printed, per kind and per figure (structure, then appearance): the mean per mode and its change from the
start paired by target (± the standard error over targets; per seed, then pooled over seeds as the mean
per target, with the spread of the per-seed changes), greedy compile and non-flat rates, the median of
best-of-K + refinement, minutes trained; then whether the goals hold (the appearance gain >= 3 standard
errors with structure not falling by more than one; best-of-K + refinement above the search and the
trivial answers on the median picture, by the objective). Figures go to OUT/learn_from_pictures.json.

Time is equal only to within a round or a step: each stops before a round or step that, as long as the
average one so far, would end past the limit (an expert round scores its own 8 held-out pictures inside the
arm's time); the minutes column says what each arm took.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from earthshader.evaluation.objectives import OBJECTIVES, objective_value
from earthshader.evaluation.statistics import paired_change, pooled_over_seeds, seed_spread

MODES = ("greedy", "greedy+refine", "best", "best+refine")
ARMS = ("grpo", "expert", "expert+grpo")
FIGURES = ("structure", "appearance")
#: The trivial answers every kind's table shows beside the mean colour.
TRIVIAL = ("gradient", "shuffled")


def parse_args(argv):
    from earthshader.data.picture_kinds import DEFAULT_CORPUS, GRAMMAR_SCHOOL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/learn-from-pictures"))
    parser.add_argument("--start", type=Path, default=None, help="the starting model (default: OUT/sft-grammar, "
                                                                 "trained there when missing)")
    parser.add_argument("--sft-args", default=shlex.join(GRAMMAR_SCHOOL), help="the grammar school's earthshader.sft flags")
    parser.add_argument("--kinds", nargs="+", default=["textures", "renders", "photos"])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS, help="Shadertoy programs for the renders kind")
    parser.add_argument("--train-n", type=int, default=128, help="training pictures per kind")
    parser.add_argument("--train-pictures", type=kind_and_spec, action="append", default=[], metavar="KIND=SPEC",
                        help="train a kind on other pictures (a load_rows spec; held-out ones stay the kind's), "
                             "for example photos=crops:skimage:more?size=128&count={n}&seed=0; repeatable")
    parser.add_argument("--eval-n", type=int, default=32, help="held-out pictures per kind")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=5.0, help="training wall time per arm and seed")
    parser.add_argument("--grpo-steps", type=int, default=None,
                        help="also stop GRPO after this many steps: the same training on any machine (default: time only)")
    parser.add_argument("--expert-recipe", default="tiny")
    parser.add_argument("--grpo-recipe", default="tiny")
    parser.add_argument("--best-of", type=int, default=8)
    parser.add_argument("--refine-budget", type=int, default=60, help="test-time refinement renders per answer")
    parser.add_argument("--objective", choices=OBJECTIVES, default="appearance",
                        help="what answers are picked and refined for, the search fitted for, and the expert "
                             "teacher's objective (default appearance)")
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--workers", type=int, default=None, help="render processes (default: all cores)")
    parser.add_argument("--reuse-trained", action="store_true",
                        help="score the models an earlier run saved under OUT instead of training again "
                             "(for example on more held-out pictures; minutes then show nan)")
    parser.add_argument("--expert-args", default="", help="more flags for earthshader.expert, one quoted string")
    parser.add_argument("--grpo-args", default="", help="more flags for earthshader.grpo, one quoted string")
    args = parser.parse_args(argv)
    stray = sorted({kind for kind, _ in args.train_pictures} - set(args.kinds))
    if stray:
        parser.error(f"--train-pictures names kinds not in --kinds: {', '.join(stray)}")
    args.train_pictures = dict(args.train_pictures)
    return args


def kind_and_spec(text: str) -> tuple[str, str]:
    """`KIND=SPEC` of `--train-pictures`, the spec checked as `--dataset` checks one.

    >>> kind_and_spec("photos=skimage:more")
    ('photos', 'skimage:more')
    >>> kind_and_spec("photos")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: 'photos': give KIND=SPEC, for example photos=skimage:more
    """
    from earthshader.data.picture_kinds import KINDS
    from earthshader.data.rows import picture_spec

    kind, sep, spec = text.partition("=")
    if not sep or not spec:
        raise argparse.ArgumentTypeError(f"{text!r}: give KIND=SPEC, for example photos=skimage:more")
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"{text!r}: unknown kind {kind!r}; kinds: {', '.join(sorted(KINDS))}")
    picture_spec(spec.replace("{n}", "1"))  # an ArgumentTypeError for a spec no source reads
    return kind, spec


def starting_model(args) -> Path:
    """`--start`, or the grammar school trained at OUT/sft-grammar when it is not there yet."""
    from earthshader.training.grammar_school import grammar_school

    return grammar_school(args.start or args.out / "sft-grammar", base=args.out / "tiny-qwen2-vl",
                          flags=shlex.split(args.sft_args))


def build_pictures(args, size: int, pool):
    """Training PNGs under OUT/train/KIND, and the held-out targets (each one's `source` its kind) in memory."""
    from earthshader.data import picture_kinds

    kinds, skipped = picture_kinds.available_kinds(args.kinds, args.corpus)
    for line in skipped:
        print(f"kind skipped: {line}")
    by_kind = picture_kinds.write_sets(kinds, args.out, train_n=args.train_n, heldout_n=args.eval_n, size=size,
                                       corpus=args.corpus, pool=pool, train_specs=args.train_pictures)
    for kind, rows in by_kind.items():
        print(f"{kind}: {args.train_n} training pictures asked, {len(rows)} held-out")
    return kinds, [row for rows in by_kind.values() for row in rows]


def train_grpo(recipe: str, model: str, out: Path, seed: int, seconds: float, arm: tuple[dict, list[str]],
               max_steps: int | None = None) -> Path:
    """The GRPO stage from `model`, starting no step that would end past `seconds` (and stopping after
    `max_steps` when given); the saved model. `arm`: the benchmark's settings for it and the user's
    `--grpo-args` flags."""
    from earthshader.training import grpo_stage
    from earthshader.training.recipes import recipe_arguments

    settings, flags = arm
    return grpo_stage.run(*recipe_arguments("grpo", recipe, flags=flags, model_name_or_path=model, output_dir=out,
                                            seed=seed, max_steps=max_steps or 1_000_000, save_strategy="no",
                                            time_limit_minutes=seconds / 60, **settings))


def train_expert(recipe: str, model: str, out: Path, seed: int, seconds: float, arm: tuple[dict, list[str]]) -> Path:
    """Expert iteration from `model`, starting no round that would end past `seconds`; the last round's model."""
    from earthshader.training import expert_stage
    from earthshader.training.recipes import recipe_arguments

    settings, flags = arm
    return expert_stage.run(*recipe_arguments("expert", recipe, flags=flags, model_name_or_path=model, output_dir=out,
                                              seed=seed, rounds=1000, time_limit_minutes=seconds / 60,
                                              eval_start=False, heldout_n=8, **settings))


def train_arm(arm: str, args, start: Path, out: Path, seed: int, stages: dict) -> Path:
    seconds = 60 * args.minutes
    if arm == "grpo":
        return train_grpo(args.grpo_recipe, str(start), out, seed, seconds, stages["grpo"], args.grpo_steps)
    if arm == "expert":
        return train_expert(args.expert_recipe, str(start), out, seed, seconds, stages["expert"])
    began = time.perf_counter()
    half = train_expert(args.expert_recipe, str(start), out / "expert", seed, seconds / 2, stages["expert"])
    left = seconds - (time.perf_counter() - began)
    return train_grpo(args.grpo_recipe, str(half), out / "grpo", seed, max(left, 1.0), stages["grpo"], args.grpo_steps)


def trained_model(arm: str, out: Path) -> Path | None:
    """The model an earlier run of `arm` saved under `out` (None when there is none)."""
    from earthshader.modeling.run_info import RUN_INFO

    if arm == "expert":
        rounds = sorted(out.glob("round-*/model"))
        return rounds[-1] if rounds and (rounds[-1] / RUN_INFO).exists() else None
    model = out / "grpo" if arm == "expert+grpo" else out
    return model if (model / RUN_INFO).exists() else None


def model_scores(model_dir: Path, heldout, args, pool) -> dict:
    """Per held-out picture, both figures of each mode in `MODES` ({mode: {figure: [...]}}), each answer picked
    and refined by the one answer pipeline for `--objective`; and per picture whether the greedy answer
    rendered and was not flat."""
    from earthshader.answering.answer import answer
    from earthshader.evaluation.run import evaluate
    from earthshader.modeling import load_model

    model, processor = load_model(str(model_dir), "cpu")
    common = {"seed": 0, "pool": pool, "labels": False, "max_new_tokens": args.max_new_tokens,
              "objective": args.objective}
    greedy = [row[0] for row in evaluate(model, processor, heldout, samples=1, **common).scored]
    sampled = evaluate(model, processor, heldout, samples=args.best_of, **common).scored
    scores = {mode: {figure: [] for figure in FIGURES} for mode in MODES}
    for target, first, rows in zip(heldout, greedy, sampled):
        answers = {}
        for name, given in (("greedy", [first]), ("best", rows)):
            found = answer(target.image, [r.code for r in given], images=[r.image if r.rendered else None for r in given],
                           objective=args.objective, refine_budget=args.refine_budget if args.refine_budget >= 16 else 0,
                           pool=pool, time=target.time)
            picked = given[found.scored.index(found.sample)] if found.sample is not None else given[0]
            answers[name] = picked.figures  # as answered: a sample that fails counts as the black image it shows
            answers[f"{name}+refine"] = found.figures if found.code is not None else picked.figures
        for mode in MODES:
            for figure in FIGURES:
                scores[mode][figure].append(answers[mode][figure])
    return {**scores, "compiles": [float(s.rendered) for s in greedy], "nonflat": [float(s.nonflat) for s in greedy]}


def baseline_scores(heldout, budget: int, objective: str, pool) -> dict:
    """Per picture, both figures of the model-free search fitted for `objective` with `budget` renders, and of the
    trivial answers: {"search": {figure: [...]}, "gradient": ..., "shuffled": ...}."""
    from earthshader.answering.search import SearchLibrary, search
    from earthshader.answering.trivial import trivial_answers

    library = SearchLibrary()
    out = {name: {figure: [] for figure in FIGURES} for name in ("search", *TRIVIAL)}
    for target in heldout:
        found = search(target.image, budget=budget, pool=pool, library=library, time=target.time, objective=objective)
        trivial = trivial_answers(target.image, objective=objective, pool=pool, time=target.time)
        for figure in FIGURES:
            out["search"][figure].append(found.figures.get(figure, math.nan))
            for name in TRIVIAL:
                out[name][figure].append(trivial[name].figures[figure])
    return out


def starting_scores(start_dir: Path, heldout, args, budget: int, pool) -> tuple[dict, dict]:
    """The starting model's scores and the baselines' (search, trivial answers), kept in OUT/start.json and read
    back by a later run with the same model, held-out pictures and settings (another arm, another seed)."""
    import hashlib

    from earthshader.data.pictures import picture_digest

    key = hashlib.sha256(json.dumps([str(start_dir.resolve()), [picture_digest(t.image) for t in heldout],
                                     args.best_of, args.refine_budget, args.max_new_tokens, args.objective,
                                     "figures"]).encode()).hexdigest()
    path = args.out / "start.json"
    if path.exists() and (saved := json.loads(path.read_text())).get("key") == key:
        print(f"starting model and baseline scores read from {path}")
        return saved["start"], saved["baselines"]
    start, baselines = model_scores(start_dir, heldout, args, pool), baseline_scores(heldout, budget, args.objective,
                                                                                      pool)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "start": start, "baselines": baselines}, default=float) + "\n")
    return start, baselines


def select(scores, index: list[int]):
    """The same nested figures for the pictures `index` only."""
    if isinstance(scores, dict):
        return {key: select(value, index) for key, value in scores.items()}
    return [scores[i] for i in index]


def objective_series(figures: dict, objective: str) -> list[float]:
    """Per picture, the objective's value of {figure: [...]}."""
    return [objective_value(objective, dict(zip(FIGURES, values))) for values in zip(*(figures[f] for f in FIGURES))]


def skill_cell(after: list[float], before: list[float] | None = None) -> str:
    """The mean, and with `before` its change paired by target ± the standard error."""
    if before is None:
        return f"{np.nanmean(after):.3f}"
    return f"{np.nanmean(after):.3f}  {paired_change(before, after)}"


def pooled_over_seeds_by_figure(by_seed: dict) -> dict:
    """Each mode's figures (and the rates) as the per-target mean over the seeds."""
    first = next(iter(by_seed.values()))
    return {key: ({figure: pooled_over_seeds([scores[key][figure] for scores in by_seed.values()])
                   for figure in FIGURES} if isinstance(first[key], dict)
                  else pooled_over_seeds([scores[key] for scores in by_seed.values()])) for key in first}


def mode_spread(start: list[float], by_seed: dict, mode: str, figure: str) -> float:
    """Standard deviation over seeds of the mean per-target change of one figure in `mode` (nan for one seed)."""
    return seed_spread([paired_change(start, scores[mode][figure]).mean for scores in by_seed.values()])


def comparison_rows(start: dict, results: dict, baselines: dict, minutes: dict, budget: int, figure: str):
    """One kind's table rows for one figure as (cells, ends a section), and each arm's figures pooled over seeds."""
    def extra(scores):
        return [f"{np.mean(scores['compiles']):.2f}", f"{np.mean(scores['nonflat']):.2f}",
                f"{np.nanmedian(scores['best+refine'][figure]):+.3f}"]

    def baseline(name, values):
        return ([name, *[skill_cell(values)] * len(MODES), "", "", f"{np.nanmedian(values):+.3f}", ""], False)

    rows = [(["mean colour", *["0.000"] * len(MODES), "", "", "+0.000", ""], False),
            baseline("straight gradient", baselines["gradient"][figure]),
            baseline("shuffled pixels", baselines["shuffled"][figure]),
            baseline(f"search ({budget} renders)", baselines["search"][figure]),
            (["start", *[skill_cell(start[m][figure]) for m in MODES], *extra(start), ""], True)]
    pooled = {}
    for arm, by_seed in results.items():
        for seed, scores in by_seed.items():
            rows.append(([f"{arm}, seed {seed}", *[skill_cell(scores[m][figure], start[m][figure]) for m in MODES],
                          *extra(scores), f"{minutes[arm][seed]:.1f}"], False))
        pooled[arm] = pooled_over_seeds_by_figure(by_seed)
        spread = [f"{mode_spread(start[m][figure], by_seed, m, figure):.3f}" for m in MODES]
        rows.append(([f"{arm}, pooled", *[skill_cell(pooled[arm][m][figure], start[m][figure]) for m in MODES],
                      *extra(pooled[arm]), f"{np.mean(list(minutes[arm].values())):.1f}"], False))
        rows.append(([f"{arm}, seed sd", *spread, "", "", "", ""], True))
    return rows, pooled


def goal_lines(kind: str, start: dict, pooled: dict, baselines: dict, objective: str) -> list[str]:
    """Whether the goals hold on one kind, each with its figures: the greedy appearance gain >= 3 SE while
    structure falls by no more than one SE; best-of-K + refinement above the search and the trivial answers on
    the median picture, by the objective."""
    lines = []
    for arm, scores in pooled.items():
        gain = paired_change(start["greedy"]["appearance"], scores["greedy"]["appearance"])
        loss = paired_change(start["greedy"]["structure"], scores["greedy"]["structure"])
        rises = bool(gain.mean > 0 and gain.mean >= 3 * gain.standard_error)  # a rise of 0, or 1 picture, is none
        lines.append(f"{kind}: {arm} greedy appearance {gain}: rises by >= 3 SE {rises}; "
                     f"structure {loss}: falls by no more than 1 SE {bool(loss.mean >= -loss.standard_error)}; "
                     f"compile {np.mean(scores['compiles']) - np.mean(start['compiles']):+.2f}, "
                     f"non-flat {np.mean(scores['nonflat']) - np.mean(start['nonflat']):+.2f}")
    medians = {name: float(np.nanmedian(objective_series(baselines[name], objective)))
               for name in ("search", *TRIVIAL)}
    for arm, scores in {"start": start, **pooled}.items():
        median = float(np.nanmedian(objective_series(scores["best+refine"], objective)))
        lines.append(f"{kind}: {arm} best-of-K + refine median {objective} {median:+.3f}: above the mean colour "
                     f"{median > 0}, " + ", ".join(f"above {name} ({value:+.3f}) {median > value}"
                                                   for name, value in medians.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from earthshader.modeling import read_run_info
    from earthshader.render import RenderPool

    console = Console(width=None if sys.stdout.isatty() else 200)
    began = time.perf_counter()
    start_dir = starting_model(args)
    size = read_run_info(start_dir).get("image_size", 84)
    stages = {"grpo": ({"dataset_path": args.out / "train", "image_size": size}, shlex.split(args.grpo_args)),
              "expert": ({"targets": args.out / "train", "targets_n": 100_000, "heldout": args.out / "heldout",
                          "image_size": size, "objective": args.objective}, shlex.split(args.expert_args))}
    budget = args.best_of + args.refine_budget
    with RenderPool(workers=args.workers) as pool:
        kinds, heldout = build_pictures(args, size, pool)
        start, baselines = starting_scores(start_dir, heldout, args, budget, pool)
        results, minutes = {arm: {} for arm in args.arms}, {arm: {} for arm in args.arms}
        for seed in args.seeds:
            for arm in args.arms:
                out, t = args.out / f"seed-{seed}" / arm, time.perf_counter()
                model = trained_model(arm, out) if args.reuse_trained else None
                if model is None:
                    model = train_arm(arm, args, start_dir, out, seed, stages)
                    minutes[arm][seed] = (time.perf_counter() - t) / 60
                else:
                    print(f"{arm}, seed {seed}: scoring the model an earlier run trained, {model}")
                    minutes[arm][seed] = math.nan
                results[arm][seed] = model_scores(model, heldout, args, pool)

    goals, report = [], {}
    for kind in kinds:
        index = [i for i, t in enumerate(heldout) if t.source == kind]
        kind_start, kind_baselines = select(start, index), select(baselines, index)
        kind_results = {arm: {seed: select(s, index) for seed, s in by_seed.items()} for arm, by_seed in results.items()}
        for figure in FIGURES:
            table = Table(title=f"{kind}, {figure}: {len(index)} held-out pictures, from {start_dir}, {args.minutes:g} "
                                f"min per arm and seed; answers picked and refined for {args.objective}; the mean, "
                                "and its change from the start paired by target ± SE", title_justify="left")
            for name in ("", "greedy", "greedy+refine", f"best of {args.best_of}", f"best of {args.best_of}+refine",
                         "compile", "non-flat", "median best+ref.", "minutes"):
                table.add_column(name, justify="left" if not name else "right", no_wrap=bool(name))
            rows, pooled = comparison_rows(kind_start, kind_results, kind_baselines, minutes, budget, figure)
            for row, end in rows:
                table.add_row(*row, end_section=end)
            console.print(table)
        goals += goal_lines(kind, kind_start, pooled, kind_baselines, args.objective)
        report[kind] = {"start": kind_start, "baselines": kind_baselines, "results": kind_results, "pooled": pooled}
    console.print("compile, non-flat: the greedy answer's; seed sd: the spread over seeds of the mean change per mode; "
                  "search: fitted for the same objective with the renders best-of-K plus refinement uses")
    for line in goals:
        console.print(line)
    console.print(f"total {(time.perf_counter() - began) / 60:.1f} min")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "learn_from_pictures.json").write_text(json.dumps(
        {"kinds": report, "minutes": minutes, "settings": {k: str(v) for k, v in vars(args).items()},
         "start": str(start_dir)}, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
