"""The CPU demo, measured: train the `tiny` SFT recipe, then score greedy shaders for held-out procedural targets.

    python benchmarks/tiny_sft_demo.py                    # train (recipe tiny) + evaluate; prints the figures
    python benchmarks/tiny_sft_demo.py --skip_train --model runs/sft-tiny --n 64

Held-out targets are generator programs with seeds from 1,000,000 on (training uses seeds from 0), of
the recipe's group and difficulty, rendered at the size the model was trained with. For each target
the model answers once, greedily; the answer's code (`extract_glsl`) is rendered and compared.
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

import numpy as np


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
    from earthshader import metrics, models, sft_data
    from earthshader.extract import extract_glsl
    from earthshader.generate import generate_completions
    from earthshader.render import RenderPool

    info = models.read_run_info(model_dir)
    size = info["image_size"]
    targets = sft_data.render_targets(sft_data.generated_programs([group], n, seed, difficulty), size)
    model, processor = models.load_model(model_dir, "cpu")
    start = time.perf_counter()
    answers = generate_completions(model, processor, [t["image"] for t in targets], image_size=size,
                                   max_new_tokens=max_new_tokens, batch_size=16)
    generation_s = time.perf_counter() - start
    codes = [extract_glsl(a[0]).code for a in answers]
    with RenderPool(timeout=10.0) as pool:
        renders = pool.render_many(codes, width=size, height=size)
    ok = [r.ok for r in renders]
    non_flat = [r.ok and not metrics.is_flat(r.image) for r in renders]
    scores, baselines = [], []
    for target, render in zip(targets, renders):
        image = render.image if render.ok else np.zeros_like(target["image"])
        scores.append(metrics.ssim(image, target["image"]))
        baselines.append(metrics.ssim(metrics.mean_colour_image(target["image"]), target["image"]))
    exact = sum(code.strip() == t["code"].strip() for code, t in zip(codes, targets))
    return {
        "targets": len(targets),
        "compile_pct": 100 * float(np.mean(ok)),
        "non_flat_pct": 100 * float(np.mean(non_flat)),
        "ssim": float(np.mean(scores)),
        "ssim_mean_colour": float(np.mean(baselines)),
        "ssim_skill": float(np.mean([metrics.skill(s, b) for s, b in zip(scores, baselines)])),
        "exact_programs": exact,
        "generation_s": generation_s,
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
