"""The CPU demo, measured: train the `tiny` SFT recipe, then score greedy shaders for held-out procedural targets.

    python benchmarks/tiny_sft_demo.py                    # train (recipe tiny) + evaluate; prints the figures
    python benchmarks/tiny_sft_demo.py --skip_train --model runs/sft-tiny --n 64

Held-out targets are generator programs with seeds from 1,000,000 on (training uses seeds from 0), of
the recipe's group and difficulty, rendered at the size the model was trained with. For each target
the model answers once, greedily, and `earthshader.evaluation` renders and scores the answer.
Printed: training wall time and CPU time (model build, rendering and training together), compile %,
non-flat % (compiled and not a single colour), mean SSIM of the renders against the targets (a failed
render is scored as a black image) beside the SSIM of each target's mean-colour image (the trivial
baseline), and the mean SSIM skill. Set MESA_SHADER_CACHE_DISABLE=true for a fair timing.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def train(recipe: str, extra: list[str]) -> tuple[float, float]:
    """Run `python -m earthshader.sft --recipe RECIPE`: (wall seconds, CPU seconds of it and its workers).

    The CPU time tells what the wall time would be on idle cores when others share the machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "earthshader.sft", "--recipe", recipe, *extra], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def evaluate(model_dir: str, group: str, difficulty: int | None, n: int, seed: int, max_new_tokens: int) -> dict:
    """The model's greedy answers for `n` held-out targets, scored by `earthshader.evaluation`."""
    from earthshader import modeling
    from earthshader.evaluation import load_targets
    from earthshader.evaluation.run import evaluate as evaluate_model

    size = modeling.model_image_size(None, model_dir)
    targets = load_targets(f"generator:{group}", n=n, size=size, start=seed, difficulty=difficulty)
    model, processor = modeling.load_model(model_dir, "cpu")
    report = evaluate_model(model, processor, targets, max_new_tokens=max_new_tokens, batch_size=16)
    summary = report.summary
    return {
        "targets": len(targets),
        "compile_pct": 100 * summary["compile_rate"],
        "non_flat_pct": 100 * summary["nonflat_rate"],
        "ssim": summary["ssim"],
        "ssim_mean_colour": summary["baseline_ssim"],
        "ssim_skill": summary["ssim_skill"],
        "structure": summary["structure"],
        "appearance": summary["appearance"],
        "exact_programs": round(summary["labels"].get("c0-clone", 0.0) * len(targets)),
        "generation_s": report.timing["generation_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="tiny", help="SFT recipe to train (default tiny)")
    parser.add_argument("--model", default="runs/sft-tiny", help="trained output_dir to evaluate")
    parser.add_argument("--skip_train", action="store_true", help="only evaluate --model")
    parser.add_argument("--group", default="textures", help="generator group of the held-out targets")
    parser.add_argument("--difficulty", type=int, default=0, help="difficulty of the targets (-1: any)")
    parser.add_argument("--n", type=int, default=64, help="held-out targets")
    parser.add_argument("--seed", type=int, default=1_000_000, help="first held-out seed")
    parser.add_argument("--max_new_tokens", type=int, default=256)
    args, extra = parser.parse_known_args()
    figures = {}
    if not args.skip_train:
        figures["train_wall_s"], figures["train_cpu_s"] = train(args.recipe, extra)
        figures["load_average_1min"] = os.getloadavg()[0]
    difficulty = None if args.difficulty < 0 else args.difficulty
    figures.update(evaluate(args.model, args.group, difficulty, args.n, args.seed, args.max_new_tokens))
    for key, value in figures.items():
        print(f"{key:>18}: {value:.3f}" if isinstance(value, float) else f"{key:>18}: {value}")


if __name__ == "__main__":
    main()
