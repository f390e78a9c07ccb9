"""The CPU demo, end to end: tiny model, SFT, GRPO, and evaluation before and after GRPO.

    python -m earthshader.demo                       # what `make demo` runs (about 20 minutes on 2 cores)
    python -m earthshader.demo --out runs/demo --grpo-steps 100 --eval-n 32

1. `python -m earthshader.sft --recipe tiny` builds the tiny Qwen2-VL (its tokenizer trained on GLSL) and
   teaches it the simplest procedural textures;
2. the SFT model is evaluated on held-out targets (generator seeds from 1,000,000, the level SFT saw);
3. `python -m earthshader.grpo --recipe tiny` trains it from rendered rewards, printing reward tables;
4. the GRPO model is evaluated on the same targets, and a table compares the two: compile rate, non-flat
   rate, mean SSIM, the mean-colour image's SSIM, and skill over that baseline (the figure that a flat
   grey image cannot fake). Reports land in OUT/eval-sft and OUT/eval-grpo.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

#: (summary key, title) of the before/after table.
COLUMNS = [("compile_rate", "compile rate"), ("nonflat_rate", "non-flat rate"), ("ssim", "mean SSIM"),
           ("baseline_ssim", "mean-colour SSIM"), ("skill", "skill vs mean colour")]


def evaluate_model(model_dir: Path, targets, out: Path, seed: int):
    """Load a saved model, evaluate it greedily on `targets`, write its report, return the summary."""
    from earthshader.evaluation import evaluate
    from earthshader.models import load_model

    model, processor = load_model(str(model_dir), "cpu")
    report = evaluate(model, processor, targets, samples=1, seed=seed, max_new_tokens=256,
                      settings={"model": str(model_dir)})
    report.write(out)
    report.print()
    return report.summary


def comparison_table(before: dict, after: dict) -> Table:
    table = Table(title="Tiny model on held-out procedural targets: before and after GRPO", title_justify="left")
    table.add_column("")
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    for name, summary in (("after SFT", before), ("after SFT + GRPO", after)):
        table.add_row(name, *(f"{summary[key]:.3f}" for key, _ in COLUMNS))
    table.add_row("change", *(f"{after[key] - before[key]:+.3f}" for key, _ in COLUMNS))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m earthshader.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--sft-epochs", type=float, default=None, help="override the tiny SFT recipe's epochs")
    parser.add_argument("--grpo-steps", type=int, default=None, help="override the tiny GRPO recipe's max_steps")
    parser.add_argument("--eval-n", type=int, default=64, help="held-out targets (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    console = Console()
    out = args.out
    started = time.perf_counter()
    timings = {}

    # 1. SFT (builds the tiny model first)
    from earthshader import grpo, sft

    sft_args = ["--recipe", "tiny", "--model_name_or_path", str(out / "tiny-qwen2-vl"),
                "--output_dir", str(out / "sft-tiny")]
    if args.sft_epochs is not None:
        sft_args += ["--num_train_epochs", str(args.sft_epochs)]
    t = time.perf_counter()
    sft_dir = sft.main(sft_args)
    timings["sft_s"] = time.perf_counter() - t

    # 2. Held-out targets at the size SFT trained on, and the SFT model's figures
    from earthshader.evaluation import load_targets

    size = json.loads((sft_dir / "earthshader.json").read_text())["image_size"]
    targets = load_targets("generator:textures", n=args.eval_n, size=size, difficulty=0)
    t = time.perf_counter()
    before = evaluate_model(sft_dir, targets, out / "eval-sft", args.seed)
    timings["eval_s"] = time.perf_counter() - t

    # 3. GRPO from the SFT model
    grpo_args = ["--recipe", "tiny", "--model_name_or_path", str(sft_dir), "--output_dir", str(out / "grpo-tiny"),
                 "--image_size", str(size)]
    if args.grpo_steps is not None:
        grpo_args += ["--max_steps", str(args.grpo_steps)]
    t = time.perf_counter()
    grpo_dir = grpo.main(grpo_args)
    timings["grpo_s"] = time.perf_counter() - t

    # 4. The GRPO model on the same targets, and the comparison
    after = evaluate_model(grpo_dir, targets, out / "eval-grpo", args.seed)
    timings["total_s"] = time.perf_counter() - started
    console.print(comparison_table(before, after))
    console.print("minutes: " + ", ".join(f"{k[:-2]} {v / 60:.1f}" for k, v in timings.items()))
    (out / "demo.json").write_text(json.dumps({"before": _figures(before), "after": _figures(after),
                                               "timings_s": timings}, indent=2) + "\n")
    if after["skill"] <= 0:
        console.print("[yellow]The GRPO model does not beat the mean-colour image yet (skill <= 0).[/]")
    return 0


def _figures(summary: dict) -> dict:
    return {key: summary[key] for key, _ in COLUMNS}


if __name__ == "__main__":
    sys.exit(main())
