"""GRPO, expert iteration, and expert iteration then GRPO, from one starting model, for the same training time.

    python benchmarks/expert_vs_grpo.py --start runs/sft-tiny                        # 3 seeds x 3 arms x 20 min
    python benchmarks/expert_vs_grpo.py --start runs/sft-tiny --minutes 1 --seeds 0 --targets-n 8 --eval-n 4 \\
        --best-of 2 --refine-budget 20 --expert-args="--generated_examples 16"      # a smoke run

Each arm trains from `--start` on the same training pictures (`--targets`, through the one target loader;
GRPO gets the same generator seeds, or `--targets` as its `--dataset_path` when it is a folder) for
`--minutes` of wall time per seed: (1) `earthshader.grpo` (`--grpo-recipe`), stopped by a time limit;
(2) `earthshader.expert` (`--expert-recipe`), starting no round that would end past the limit;
(3) expert iteration for half the time, then GRPO from its model for the rest. Every model, and the
starting one, is scored on the same held-out pictures (`--heldout`, never trained on): the greedy answer
and the best of `--best-of` samples, each as answered and after test-time refinement
(`earthshader.refine`, `--refine-budget` renders), beside the mean-colour image (skill 0) and the
model-free search baseline where `earthshader.evaluation.search` is installed.

Printed: each arm's skill and its change from the starting model paired by target (± the standard
error over targets; per seed, then pooled over seeds as the mean per target), the minutes each arm
trained, and whether the goals of the comparison hold. Figures go to OUT/expert_vs_grpo.json.

The time is equal only to within a round or a step: a started expert round finishes (and scores its own
few held-out pictures, `--heldout_n 8`, inside the arm's time), and GRPO stops after the step that
passes the limit; the minutes column says what each arm took.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

# The repository first: `python benchmarks/x.py` puts benchmarks/ first, where rewards.py would hide the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

MODES = ("greedy", "greedy+refine", "best", "best+refine")
ARMS = ("grpo", "expert", "expert+grpo")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=Path, required=True, help="the model every arm starts from (an SFT run)")
    parser.add_argument("--expert-recipe", default="tiny")
    parser.add_argument("--grpo-recipe", default="tiny")
    parser.add_argument("--targets", default="generator:textures", help="training pictures (load_targets)")
    parser.add_argument("--targets-start", type=int, default=700_000, help="generator:NAME: first seed")
    parser.add_argument("--targets-n", type=int, default=256)
    parser.add_argument("--heldout", default="generator:textures", help="held-out pictures (load_targets)")
    parser.add_argument("--eval-n", type=int, default=128)
    parser.add_argument("--difficulty", type=int, default=0, help="generator:NAME: one level (-1: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall time per arm and seed")
    parser.add_argument("--best-of", type=int, default=8)
    parser.add_argument("--refine-budget", type=int, default=60, help="test-time refinement renders per picture")
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--workers", type=int, default=None, help="render processes (default: all cores)")
    parser.add_argument("--expert-args", default="", help="more flags for earthshader.expert, one quoted string")
    parser.add_argument("--grpo-args", default="", help="more flags for earthshader.grpo, one quoted string")
    parser.add_argument("--out", type=Path, default=Path("runs/expert-vs-grpo"))
    return parser.parse_args(argv)


def target_flags(args, size: int) -> tuple[list[str], list[str]]:
    """The same training pictures as flags for expert iteration and for GRPO."""
    level = [] if args.difficulty < 0 else [str(args.difficulty)]
    expert = ["--targets", args.targets, "--targets_n", str(args.targets_n), "--targets_start",
              str(args.targets_start), "--image_size", str(size)] + (["--target_difficulty", *level] if level else [])
    if args.targets.startswith("generator:"):
        grpo = ["--generators", args.targets.split(":", 1)[1], "--generated_examples", str(args.targets_n),
                "--generator_seed", str(args.targets_start)] + (["--generator_difficulty", *level] if level else [])
    else:
        grpo = ["--dataset_path", args.targets]
    return expert + shlex.split(args.expert_args), grpo + ["--image_size", str(size)] + shlex.split(args.grpo_args)


def train_grpo(recipe: str, model: str, out: Path, seed: int, seconds: float, flags: list[str]) -> Path:
    """`earthshader.grpo`'s trainer from `model`, stopped once `seconds` have passed; the saved model."""
    from transformers import TrainerCallback

    from earthshader import grpo
    from earthshader.training.saving import save_trained

    class TimeLimit(TrainerCallback):
        def __init__(self):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = time.perf_counter() - self.started > seconds

    script_args, training_args, model_args = grpo.parse(
        ["--recipe", recipe, "--model_name_or_path", model, "--output_dir", str(out), "--seed", str(seed),
         "--max_steps", "1000000", "--save_strategy", "no", *flags])
    trainer, sample_log = grpo.build_trainer(script_args, training_args, model_args, "cpu")
    sample_log.start_fresh()
    trainer.add_callback(TimeLimit())
    trainer.train()
    info = {"image_size": script_args.image_size, "base_model": model, "backend": "cpu"}
    return save_trained(trainer, out, info, merged=trainer.merged_policy)


def train_expert(recipe: str, model: str, out: Path, seed: int, seconds: float, flags: list[str]) -> Path:
    from earthshader import expert

    return expert.main(["--recipe", recipe, "--model_name_or_path", model, "--output_dir", str(out), "--seed",
                        str(seed), "--rounds", "1000", "--time_limit_minutes", str(seconds / 60),
                        "--eval_start", "false", "--heldout_n", "8", *flags])


def per_target_skills(model_dir: Path, heldout, args, pool) -> dict[str, list[float]]:
    """Per held-out picture, the skill of each mode in `MODES`."""
    from earthshader.evaluation import evaluate
    from earthshader.modeling import load_model

    model, processor = load_model(str(model_dir), "cpu")
    common = {"seed": 0, "pool": pool, "labels": False, "max_new_tokens": args.max_new_tokens}
    greedy = evaluate(model, processor, heldout, samples=1, **common).scored
    sampled = evaluate(model, processor, heldout, samples=args.best_of, **common).scored
    best = [max(row, key=lambda s: -math.inf if math.isnan(s.skill) else s.skill) for row in sampled]
    first = [row[0] for row in greedy]
    return {"greedy": [s.skill for s in first], "greedy+refine": refined(first, heldout, args, pool),
            "best": [s.skill for s in best], "best+refine": refined(best, heldout, args, pool)}


def refined(samples, heldout, args, pool) -> list[float]:
    """Each sample's skill after test-time refinement (as answered when it cannot be refined or gains nothing)."""
    from earthshader.evaluation.scoring import TargetScorer
    from earthshader.refine import RefineError, refine

    skills = []
    for sample, target in zip(samples, heldout):
        skill = sample.skill
        if sample.rendered and args.refine_budget >= 16:
            try:
                result = refine(sample.code, target.image, budget=args.refine_budget, pool=pool, time=target.time)
                skill = max(skill, TargetScorer(target.image).scores(result.image)["skill"])
            except RefineError:
                pass
        skills.append(skill)
    return skills


def search_skills(heldout, args, pool) -> list[float] | None:
    """The model-free search baseline's skill per picture at the refinement budget (None where not installed)."""
    try:
        from earthshader.evaluation.search import SearchLibrary, search
    except ImportError:
        return None
    library = SearchLibrary()
    results = [search(t.image, budget=args.refine_budget, pool=pool, library=library, time=t.time) for t in heldout]
    return [r.skill if r.code is not None else math.nan for r in results]


def skill_cell(after: list[float], before: list[float] | None = None) -> str:
    """Mean skill, and with `before` its change paired by target ± the standard error."""
    from earthshader.demo import paired_change

    if before is None:
        return f"{np.nanmean(after):.3f}"
    mean, se, _ = paired_change(before, after)
    return f"{np.nanmean(after):.3f}  {mean:+.3f} ± {se:.3f}"


def comparison_rows(start: dict, results: dict, search, minutes: dict, budget: int):
    """The table's rows as (cells, ends a section), and each arm's per-target skills pooled over seeds (the
    mean per target)."""
    rows = [(["mean colour", *["0.000"] * len(MODES), ""], False)]
    if search is not None:
        rows.append(([f"search ({budget} renders)", *[skill_cell(search)] * len(MODES), ""], False))
    rows.append((["start", *[skill_cell(start[m]) for m in MODES], ""], True))
    pooled = {}
    for arm, by_seed in results.items():
        for seed, skills in by_seed.items():
            rows.append(([f"{arm}, seed {seed}", *[skill_cell(skills[m], start[m]) for m in MODES],
                          f"{minutes[arm][seed]:.1f}"], False))
        pooled[arm] = {m: list(np.nanmean([s[m] for s in by_seed.values()], axis=0)) for m in MODES}
        rows.append(([f"{arm}, pooled", *[skill_cell(pooled[arm][m], start[m]) for m in MODES],
                      f"{np.mean(list(minutes[arm].values())):.1f}"], True))
    return rows, pooled


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from earthshader.evaluation import load_targets
    from earthshader.modeling import read_run_info
    from earthshader.render import RenderPool

    size = read_run_info(args.start).get("image_size", 84)
    expert_flags, grpo_flags = target_flags(args, size)
    seconds = 60 * args.minutes
    console = Console(width=None if sys.stdout.isatty() else 160)
    with RenderPool(workers=args.workers) as pool:
        heldout = load_targets(args.heldout, n=args.eval_n, size=size, pool=pool,
                               difficulty=None if args.difficulty < 0 else args.difficulty)
        start = per_target_skills(args.start, heldout, args, pool)
        search = search_skills(heldout, args, pool)
        results, minutes = {arm: {} for arm in ARMS}, {arm: {} for arm in ARMS}
        for seed in args.seeds:
            for arm in ARMS:
                out = args.out / f"seed-{seed}" / arm
                began = time.perf_counter()
                if arm == "grpo":
                    model = train_grpo(args.grpo_recipe, str(args.start), out, seed, seconds, grpo_flags)
                elif arm == "expert":
                    model = train_expert(args.expert_recipe, str(args.start), out, seed, seconds, expert_flags)
                else:
                    half = train_expert(args.expert_recipe, str(args.start), out / "expert", seed, seconds / 2,
                                        expert_flags)
                    left = seconds - (time.perf_counter() - began)
                    model = train_grpo(args.grpo_recipe, str(half), out / "grpo", seed, max(left, 1.0), grpo_flags)
                minutes[arm][seed] = (time.perf_counter() - began) / 60
                results[arm][seed] = per_target_skills(model, heldout, args, pool)

    table = Table(title=f"from {args.start}: {len(heldout)} held-out pictures ({args.heldout}), {args.minutes:g} min "
                        f"per arm; skill, and its change from the start paired by target ± SE", title_justify="left")
    for name in ("", *MODES, "minutes"):
        table.add_column(name, justify="left" if not name else "right", no_wrap=bool(name))
    rows, pooled = comparison_rows(start, results, search, minutes, args.refine_budget)
    for row, end in rows:
        table.add_row(*row, end_section=end)
    console.print(table)
    if search is None:
        console.print("search baseline: not shown (earthshader.evaluation.search is not installed)")

    from earthshader.demo import paired_change

    gains = {arm: paired_change(start["greedy"], pooled[arm]["greedy"]) for arm in ARMS}
    console.print(f"goals (greedy, pooled): expert gain {gains['expert'][0]:+.3f} >= GRPO's {gains['grpo'][0]:+.3f}: "
                  f"{gains['expert'][0] >= gains['grpo'][0]}; >= 3 SE ({3 * gains['expert'][1]:.3f}): "
                  f"{gains['expert'][0] >= 3 * gains['expert'][1]}; expert+grpo beats both: "
                  f"{gains['expert+grpo'][0] > max(gains['expert'][0], gains['grpo'][0])}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "expert_vs_grpo.json").write_text(json.dumps(
        {"start": start, "search": search, "results": results, "minutes": minutes, "pooled": pooled,
         "settings": {k: str(v) for k, v in vars(args).items()}}, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
