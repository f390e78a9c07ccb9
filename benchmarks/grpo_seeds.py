"""GRPO over several training seeds: how much of a change in the figures is the recipe's, and how much the draw.

    python benchmarks/grpo_seeds.py --sft runs/sft-tiny                           # seeds 0 1 2, 512 targets: ~40 min on 2 cores
    python benchmarks/grpo_seeds.py --sft runs/sft-tiny --seeds 0 1 --eval-n 64 -- --learning_rate 5e-5

Trains the GRPO recipe (`--recipe`, default `tiny`) from one SFT model once per seed, each run in
OUT/seed-S, and evaluates the SFT model and every GRPO model on the same held-out procedural targets,
as the demo does (`earthshader.evaluation.run.evaluate_model`): the greedy answer, and `--eval-samples`
answers per target at the recipe's temperature. Arguments after `--` are GRPO flags, as
`python -m earthshader.grpo` takes them (the GRPO stage, `earthshader.training.grpo_stage`, runs in this
process).

Printed for each seed and pooled: both figures (structure, appearance) and their changes paired by target
(± the standard error over targets), and the answers that fail to render. Pooled is the per-target change averaged over the seeds;
"seed spread" is the standard deviation of the per-seed means, the part of a single run's result that
is the training draw. Figures go to OUT/seeds.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

FIGURES = ("structure", "appearance")
MODES = ("greedy", "sampled")


def seed_rows(before: dict, runs: dict[int, dict]) -> tuple[list[list[str]], str]:
    """Table rows (one per seed, then the pooled one: per mode, each figure and its change ± SE, then the failed
    answers) and a line with the seed spread of each mode's and figure's change. Pooled pairs each target's
    figure, averaged over the seeds, with the SFT model's."""
    from earthshader.evaluation.statistics import missed_answers, paired_change, pooled_over_seeds, seed_spread

    def per_target(summary, figure):
        return summary[f"target_{figure}"]

    changes = {(mode, figure): [paired_change(per_target(before[mode], figure), per_target(run[mode], figure))
                                for run in runs.values()] for mode in MODES for figure in FIGURES}
    rows = []
    for i, (seed, after) in enumerate(runs.items()):
        row = [f"seed {seed}"]
        for mode in MODES:
            for figure in FIGURES:
                row += [f"{after[mode][figure]:.3f}", str(changes[mode, figure][i])]
            row.append(f"{missed_answers(after[mode])}")
        rows.append(row)
    pooled, spreads = ["pooled"], []
    for mode in MODES:
        for figure in FIGURES:
            spread = seed_spread([change.mean for change in changes[mode, figure]])
            spreads.append(f"{mode} {figure} {spread:.3f}" if len(runs) > 1 else f"{mode} {figure} n/a")
            pooled += [f"{np.mean([run[mode][figure] for run in runs.values()]):.3f}",
                       str(paired_change(per_target(before[mode], figure),
                                         pooled_over_seeds([per_target(run[mode], figure) for run in runs.values()])))]
        pooled.append(f"{np.mean([missed_answers(run[mode]) for run in runs.values()]):.1f}")
    return rows + [pooled], "seed spread (standard deviation of the per-seed changes): " + ", ".join(spreads)


def figures(summary: dict) -> dict:
    """An evaluation summary's scalar figures, for seeds.json."""
    return {key: value for key, value in summary.items() if not key.startswith("target_") and not isinstance(value, dict)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    grpo_extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sft", type=Path, required=True, help="the SFT output directory GRPO starts from")
    parser.add_argument("--recipe", default="tiny")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-n", type=int, default=512)
    parser.add_argument("--eval-samples", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("runs/grpo-seeds"))
    args = parser.parse_args(own)

    from earthshader.evaluation import load_targets
    from earthshader.evaluation.run import evaluate_model
    from earthshader.evaluation.statistics import missed_answers
    from earthshader.modeling import model_image_size
    from earthshader.training import grpo_stage
    from earthshader.training.recipes import recipe_arguments

    size = model_image_size(None, args.sft)
    targets = load_targets("generator:textures", n=args.eval_n, size=size, difficulty=0)
    settings = {"recipe": args.recipe, "model_name_or_path": str(args.sft), "image_size": size, "flags": grpo_extra}

    def grpo_arguments(**run):
        return recipe_arguments("grpo", args.recipe, flags=grpo_extra, model_name_or_path=args.sft, image_size=size,
                                **run)

    sampling = (args.eval_samples, grpo_arguments()[1].temperature)
    before = evaluate_model(args.sft, targets, args.out / "eval-sft", 0, sampling)
    runs, minutes = {}, {}
    for seed in args.seeds:
        run_dir = args.out / f"seed-{seed}"
        started = time.perf_counter()
        grpo_stage.run(*grpo_arguments(output_dir=run_dir, seed=seed))
        minutes[seed] = (time.perf_counter() - started) / 60
        runs[seed] = evaluate_model(run_dir, targets, run_dir / "eval", 0, sampling)

    samples, temperature = sampling
    table = Table(title=f"GRPO ({args.recipe}{' ' + ' '.join(grpo_extra) if grpo_extra else ''}) from {args.sft}, "
                        f"{len(targets)} held-out targets; change paired by target ± SE", title_justify="left")
    table.add_column("")
    for mode in ("greedy", f"{samples}×T{temperature:g}"):
        for figure in FIGURES:
            table.add_column(f"{mode} {figure}", justify="right")
            table.add_column("change", justify="right", no_wrap=True)
        table.add_column("failed", justify="right")
    table.add_row("SFT", *(cell for mode in MODES
                           for cell in (*(c for f in FIGURES for c in (f"{before[mode][f]:.3f}", "")),
                                        f"{missed_answers(before[mode])}")),
                  end_section=True)
    rows, spread = seed_rows(before, runs)
    for row in rows:
        table.add_row(*row, end_section=row is rows[-2])
    console = Console()
    console.print(table)
    console.print(spread)
    console.print(f"failed: answers that fail to render (of {len(targets)} greedy, {len(targets) * samples} sampled; "
                  "pooled: the mean a run)")
    console.print("GRPO minutes per seed: " + ", ".join(f"{seed}: {m:.1f}" for seed, m in minutes.items()))
    (args.out / "seeds.json").write_text(json.dumps({
        "sft": {mode: figures(summary) for mode, summary in before.items()},
        "runs": {seed: {mode: figures(summary) for mode, summary in run.items()} for seed, run in runs.items()},
        "grpo_minutes": minutes, "grpo_args": settings, "targets": len(targets)}, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
