"""The CPU demo as a function: a grammar school, then GRPO on pictures that have no program, before and after.

    from earthshader.training.demo_run import run_demo
    summary = run_demo(out=Path("runs/demo"), grpo_steps=100, eval_n=16, eval_samples=2, search=0)

What `python -m earthshader.demo` runs after parsing (its docstring says what each step does). Stages are
called as functions (`grammar_school.grammar_school`, `grpo_stage.run` with `recipe_arguments`); the evaluations are
`earthshader.evaluation.run.evaluate_model` and the tables `earthshader.evaluation.comparison`. Writes
OUT/demo.json: per picture kind both figures before and after in each mode, their paired changes, and the
search baseline's row (fitted for `objective`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE

#: The picture kinds the demo trains and scores on: both build offline, with no corpus.
DEMO_KINDS = ("textures", "photos")


def run_demo(*, out: Path = Path("runs/demo"), sft_epochs: float | None = None, grpo_steps: int | None = None,
             train_n: int = 192, eval_n: int = 64, eval_samples: int = 4, search: int = 100, seed: int = 0,
             objective: str = DEFAULT_OBJECTIVE, console=None) -> dict:
    """The demo's five steps (see `earthshader.demo`); returns what OUT/demo.json holds."""
    from earthshader.data.picture_kinds import write_sets
    from earthshader.evaluation import comparison
    from earthshader.evaluation.report import report_console
    from earthshader.evaluation.run import evaluate_model
    from earthshader.modeling import model_image_size
    from earthshader.render import RenderPool
    from earthshader.training import grpo_stage
    from earthshader.training.grammar_school import grammar_school
    from earthshader.training.recipes import recipe_arguments

    console = console or report_console()
    out = Path(out)
    started = time.perf_counter()
    timings = {}

    # 1. The grammar school (builds the tiny model first)
    epochs = {} if sft_epochs is None else {"num_train_epochs": sft_epochs}
    t = time.perf_counter()
    sft_dir = grammar_school(out / "sft-tiny", base=out / "tiny-qwen2-vl", reuse=False, **epochs)
    timings["sft_s"] = time.perf_counter() - t

    # 2. Pictures with no program, at the size SFT trained on; 3. the SFT model's figures and the search baseline
    size = model_image_size(None, sft_dir)
    t = time.perf_counter()
    with RenderPool() as pool:
        heldout = write_sets(DEMO_KINDS, out / "pictures", train_n=train_n, heldout_n=eval_n, size=size, pool=pool)
    steps = {} if grpo_steps is None else {"max_steps": grpo_steps}
    grpo_args = recipe_arguments("grpo", "tiny", model_name_or_path=sft_dir, output_dir=out / "grpo-tiny",
                                 image_size=size, dataset_path=out / "pictures" / "train", seed=seed, **steps)
    sampling = (eval_samples, grpo_args[1].temperature)
    before = {kind: evaluate_model(sft_dir, targets, out / "eval-sft" / kind, seed, sampling, search, objective)
              for kind, targets in heldout.items()}
    timings["eval_s"] = time.perf_counter() - t

    # 4. GRPO from the SFT model, on the training pictures
    t = time.perf_counter()
    grpo_dir = grpo_stage.run(*grpo_args)
    timings["grpo_s"] = time.perf_counter() - t

    # 5. The GRPO model on the same pictures, and the comparison
    after = {kind: evaluate_model(grpo_dir, targets, out / "eval-grpo" / kind, seed, sampling, objective=objective)
             for kind, targets in heldout.items()}
    timings["total_s"] = time.perf_counter() - started
    summary = {}
    for kind, targets in heldout.items():
        console.print(comparison.comparison_table(before[kind], after[kind], sampling, kind, len(targets)))
        for line in comparison.change_lines(before[kind], after[kind], kind):
            console.print(line)
        console.print(f"{kind}: {comparison.failure_counts(before[kind], after[kind])}")
        summary[kind] = {
            "before": {mode: comparison.figures(before[kind][mode]) for mode in ("greedy", "sampled", "search")
                       if mode in before[kind]},
            "after": {mode: comparison.figures(after[kind][mode]) for mode in ("greedy", "sampled")},
            "changes": comparison.changes(before[kind], after[kind]),
            "targets": len(targets)}
    console.print("minutes: " + ", ".join(f"{k[:-2]} {v / 60:.1f}" for k, v in timings.items()))
    record = {"kinds": summary, "sampling": {"samples": sampling[0], "temperature": sampling[1]},
              "search": {"budget": search, "objective": objective}, "timings_s": timings}
    (out / "demo.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
