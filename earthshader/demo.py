"""The CPU demo, end to end: a grammar school, then GRPO on pictures that have no program, before and after.

    python -m earthshader.demo                       # what `make demo` runs (about 14 minutes on 2 idle cores)
    python -m earthshader.demo --out runs/demo --grpo-steps 100 --eval-n 16 --eval-samples 2 --search 0

1. the SFT stage (`earthshader.training.sft_stage`, the `tiny` recipe with `--generators primitives gradient`)
   builds the tiny Qwen2-VL (its tokenizer trained on GLSL) and teaches it the grammar school: circles, boxes
   and gradients, as programs;
2. pictures with no program (`earthshader.data.picture_kinds`): textures of six families the grammar
   school never saw (`textures`) and crops of scikit-image's photographs (`photos`); `--train-n` training
   pictures of each, written as PNG files to OUT/pictures/train, and `--eval-n` held-out pictures of each
   (other generator seeds; crops of other photographs) in OUT/pictures/heldout;
3. the SFT model is evaluated on each kind's held-out pictures, beside the model-free search baseline
   (`--search` renders a picture; `earthshader.evaluation.search`);
4. the GRPO stage (`earthshader.training.grpo_stage`, the `tiny` recipe with `dataset_path`
   OUT/pictures/train) trains it from rendered rewards alone: no program of any training picture exists for
   it to imitate;
5. the GRPO model is evaluated on the same pictures, and a table per kind compares the two: compile rate,
   non-flat rate, mean SSIM, the mean-colour image's SSIM, and skill over that baseline (the figure that a
   flat grey image cannot fake). Both models are evaluated twice: the greedy answer (one per picture),
   and the sampled policy that GRPO trains (`--eval-samples` answers per picture at the GRPO recipe's
   temperature, figures averaged over all answers). Reports land in OUT/eval-{sft,grpo}/KIND/{greedy,sampled}.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from earthshader.cli import ArgumentParser, folder_path, non_negative_int, positive_float, positive_int, run_entry_point
from earthshader.evaluation.run import evaluate_model
from earthshader.evaluation.statistics import missed_answers, paired_change

#: (summary key, title) of the before/after table.
COLUMNS = [("compile_rate", "compile"), ("nonflat_rate", "non-flat"), ("ssim", "SSIM"),
           ("baseline_ssim", "mean-colour SSIM"), ("skill", "skill")]


def comparison_table(before: dict, after: dict, sampling: tuple[int, float], kind: str = "procedural targets",
                     n: int | None = None) -> Table:
    """Before/after rows for the greedy answer and for the sampled policy, each with its change; then the
    search baseline's row when `before` has one."""
    count = f"{n} " if n else ""
    table = Table(title=f"Tiny model on {count}held-out pictures, {kind}: before and after GRPO", title_justify="left",
                  caption="greedy: one answer per picture; N×T: N sampled answers per picture at temperature T, "
                          "as GRPO samples. compile, non-flat: share of answers; skill: mean SSIM, edge and pixel "
                          "skill over the mean-colour image (0 = no better than it, 1 = exact)",
                  caption_justify="left")
    table.add_column("", no_wrap=True)
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    samples, temperature = sampling
    for mode, label in (("greedy", "greedy"), ("sampled", f"{samples}×T{temperature:g}")):
        for name, summaries in (("SFT", before), ("SFT + GRPO", after)):
            table.add_row(f"{name}, {label}", *(f"{summaries[mode][key]:.3f}" for key, _ in COLUMNS))
        table.add_row("change", *(f"{after[mode][key] - before[mode][key]:+.3f}" for key, _ in COLUMNS),
                      end_section=True)
    if "search" in before:
        search = before["search"]
        table.add_row(f"search, {search['budget']} renders", *(f"{search[key]:.3f}" for key, _ in COLUMNS))
    return table


#: The picture kinds the demo trains and scores on: both build offline, with no corpus.
DEMO_KINDS = ("textures", "photos")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m earthshader.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=folder_path, default=Path("runs/demo"))
    parser.add_argument("--sft-epochs", type=positive_float, default=None, help="override the tiny SFT recipe's epochs")
    parser.add_argument("--grpo-steps", type=positive_int, default=None,
                        help="override the tiny GRPO recipe's max_steps")
    parser.add_argument("--train-n", type=positive_int, default=192, help="training pictures of each kind")
    parser.add_argument("--eval-n", type=positive_int, default=64, help="held-out pictures of each kind")
    parser.add_argument("--eval-samples", type=positive_int, default=4,
                        help="samples per picture for the sampled-policy figures (at the GRPO temperature)")
    parser.add_argument("--search", type=non_negative_int, default=100,
                        help="renders the search baseline spends per held-out picture (0: no search row)")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    args = parser.parse_args(argv)
    console = Console()
    out = args.out
    started = time.perf_counter()
    timings = {}

    # 1. The grammar school (builds the tiny model first)
    from earthshader.data.picture_kinds import GRAMMAR_SCHOOL
    from earthshader.training import grpo_stage, sft_stage
    from earthshader.training.recipes import recipe_arguments

    epochs = {} if args.sft_epochs is None else {"num_train_epochs": args.sft_epochs}
    t = time.perf_counter()
    sft_dir = sft_stage.run(*recipe_arguments("sft", flags=GRAMMAR_SCHOOL, model_name_or_path=out / "tiny-qwen2-vl",
                                              output_dir=out / "sft-tiny", **epochs))
    timings["sft_s"] = time.perf_counter() - t

    # 2. Pictures with no program, at the size SFT trained on; 3. the SFT model's figures and the search baseline
    from earthshader.modeling import model_image_size

    size = model_image_size(None, sft_dir)
    t = time.perf_counter()
    from earthshader.data.picture_kinds import write_sets
    from earthshader.render import RenderPool

    with RenderPool() as pool:
        heldout = write_sets(DEMO_KINDS, out / "pictures", train_n=args.train_n, heldout_n=args.eval_n, size=size,
                             pool=pool)
    steps = {} if args.grpo_steps is None else {"max_steps": args.grpo_steps}
    grpo_args = recipe_arguments("grpo", "tiny", model_name_or_path=sft_dir, output_dir=out / "grpo-tiny",
                                 image_size=size, dataset_path=out / "pictures" / "train", seed=args.seed, **steps)
    sampling = (args.eval_samples, grpo_args[1].temperature)
    before = {kind: evaluate_model(sft_dir, targets, out / "eval-sft" / kind, args.seed, sampling, args.search)
              for kind, targets in heldout.items()}
    timings["eval_s"] = time.perf_counter() - t

    # 4. GRPO from the SFT model, on the training pictures
    t = time.perf_counter()
    grpo_dir = grpo_stage.run(*grpo_args)
    timings["grpo_s"] = time.perf_counter() - t

    # 5. The GRPO model on the same pictures, and the comparison
    after = {kind: evaluate_model(grpo_dir, targets, out / "eval-grpo" / kind, args.seed, sampling)
             for kind, targets in heldout.items()}
    timings["total_s"] = time.perf_counter() - started
    summary = {}
    for kind, targets in heldout.items():
        console.print(comparison_table(before[kind], after[kind], sampling, kind, len(targets)))
        changes = {mode: paired_change(before[kind][mode]["target_skills"], after[kind][mode]["target_skills"])
                   for mode in ("greedy", "sampled")}
        console.print(f"{kind}: skill change (paired by target, ± standard error): " + ", ".join(
            f"{mode} {change}" for mode, change in changes.items()))
        console.print(f"{kind}: {failure_counts(before[kind], after[kind])}")
        summary[kind] = {
            "before": {mode: _figures(before[kind][mode]) for mode in ("greedy", "sampled", "search")
                       if mode in before[kind]},
            "after": {mode: _figures(after[kind][mode]) for mode in ("greedy", "sampled")},
            "skill_change": {mode: {"mean": m, "standard_error": se, "targets": n}
                             for mode, (m, se, n) in changes.items()},
            "targets": len(targets)}
    console.print("minutes: " + ", ".join(f"{k[:-2]} {v / 60:.1f}" for k, v in timings.items()))
    (out / "demo.json").write_text(json.dumps({
        "kinds": summary, "sampling": {"samples": sampling[0], "temperature": sampling[1]},
        "search_budget": args.search, "timings_s": timings}, indent=2) + "\n")
    return 0


def failure_counts(before: dict, after: dict) -> str:
    """The answers that fail to render, and those that fail or are flat, counted before -> after GRPO for
    each mode: the rates in the table round one broken answer in a thousand away, counts do not."""

    def missed(summary: dict, rate: str) -> str:
        return f"{missed_answers(summary, rate)} of {summary['n_samples']}"

    return "answers that fail to render | fail or are flat, SFT → SFT + GRPO: " + "; ".join(
        f"{mode} {missed(before[mode], 'compile_rate')} → {missed(after[mode], 'compile_rate')} | "
        f"{missed(before[mode], 'nonflat_rate')} → {missed(after[mode], 'nonflat_rate')}"
        for mode in ("greedy", "sampled"))


def _figures(summary: dict) -> dict:
    return {key: summary[key] for key, _ in COLUMNS}


if __name__ == "__main__":
    run_entry_point(main)
