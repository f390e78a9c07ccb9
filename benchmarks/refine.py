"""Benchmark constant refinement: perturb a shader's numbers, then refine back toward its own render.

    python benchmarks/refine.py                      # 20 cases, budget 300, 64 x 64 (a few minutes)
    python benchmarks/refine.py --cases 50 --budget 500 --size 96 --source generators

Cases come from ../shared/data/shadertoys.jsonl.gz when it is present (a fixed sample of its
permissive shaders: render at time 0 within --max-ms at the bench size, are not flat, and lift into
uniforms without changing their render), else from the procedural `textures` generators. For each
case, --perturb of the literals the refiner lifts are moved by 10-40% of max(|x|, 0.1) in a random
direction, redrawn until the perturbed render's SSIM to the original is below 0.95; then
`earthshader.answering.refine.refine` starts from the perturbed source with the original's render as target,
fitting for `--objective` (default mix).

Prints per case and in total: share recovered to SSIM >= 0.95, the median objective value and SSIM
before and after, both figures after (structure, appearance), renders used and seconds per case on this
machine.
Disk shader caches are turned off (MESA_SHADER_CACHE_DISABLE, __GL_SHADER_DISK_CACHE).
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "shadertoys.jsonl.gz"
RECOVERED_SSIM = 0.95


def corpus_candidates(path: Path, seed: int):
    """(name, code) of the corpus's permissive shaders in a fixed shuffled order."""
    from earthshader.data.sources import ShaderRow, read_source

    rows = sorted((r for r in read_source(str(path)) if isinstance(r, ShaderRow) and r.permissive), key=lambda r: r.id)
    random.Random(seed).shuffle(rows)
    for row in rows:
        yield f"{row.id} ({row.author})", row.code


def generator_candidates(seed: int):
    from earthshader.data.generators import generate

    for k in range(10_000):
        sample = generate("textures", seed=seed * 10_000 + k)
        yield f"{sample.family} #{sample.seed}", sample.code


def make_case(name: str, code: str, pool, args, rng, skipped: dict):
    """(target image, perturbed source, perturbed indices) or None (reason counted in `skipped`)."""
    from earthshader.glsl.literals import lift_literals, perturbed_values
    from earthshader.image import metrics

    def skip(reason: str):
        skipped[reason] = skipped.get(reason, 0) + 1

    original = pool.render(code, args.size, args.size)
    if not original.ok:
        return skip("does not render")
    # The first draw of a program includes llvmpipe's JIT: time a second one (a dummy uniform
    # keeps the pool from answering it from the first).
    warm = pool.render(code, args.size, args.size, uniforms={"_bench_warm": 0.0})
    if warm.render_ms > args.max_ms:
        return skip(f"slower than {args.max_ms:g} ms")
    if metrics.is_flat(original.image):
        return skip("flat")
    lifted = lift_literals(code)
    if len(lifted.literals) < args.perturb:
        return skip(f"fewer than {args.perturb} liftable literals")
    check = pool.render(lifted.code, args.size, args.size, uniforms=lifted.uniforms(),
                        uniform_declarations=lifted.declarations)
    if not check.ok or np.abs(check.image.astype(np.int16) - original.image).mean() > 0.5:
        return skip("lifting changes the render")
    for _ in range(10):
        values, chosen = perturbed_values(lifted.values, args.perturb, rng)
        source = lifted.write_back(values, digits=3)
        moved = pool.render(source, args.size, args.size)
        if moved.ok and not metrics.is_flat(moved.image) and metrics.ssim(moved.image, original.image) < RECOVERED_SSIM:
            return original.image, source, chosen
    return skip("perturbation not visible (or flat)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--budget", type=int, default=300, help="renders per case, checks included")
    parser.add_argument("--size", type=int, default=64, help="square render size in pixels")
    parser.add_argument("--perturb", type=int, default=3, help="literals moved per case")
    parser.add_argument("--source", choices=["auto", "corpus", "generators"], default="auto")
    parser.add_argument("--max-ms", type=float, default=40.0, help="skip shaders slower than this per frame")
    parser.add_argument("--max-dims", type=int, default=None, help="default: the refiner's (budget / 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--objective", choices=("structure", "appearance", "mix"), default="mix",
                        help="what refinement fits for (default mix)")
    args = parser.parse_args()
    os.environ.setdefault("MESA_SHADER_CACHE_DISABLE", "true")
    os.environ.setdefault("__GL_SHADER_DISK_CACHE", "0")

    from rich.console import Console
    from rich.table import Table

    from earthshader.answering.refine import RefineError, refine
    from earthshader.image import metrics
    from earthshader.render import RenderPool

    use_corpus = args.source == "corpus" or (args.source == "auto" and CORPUS.exists())
    candidates = corpus_candidates(CORPUS, args.seed) if use_corpus else generator_candidates(args.seed)
    console = Console(width=130)
    rng = np.random.default_rng(args.seed)
    table = Table(title=f"refine: {'corpus (permissive)' if use_corpus else 'textures generators'}, "
                  f"{args.size}x{args.size}, budget {args.budget}, {args.perturb} literals perturbed, "
                  f"fitted for {args.objective}")
    for column in ("case", "lifted", "fitted", "hit", "SSIM0", "SSIM1", f"{args.objective}0", f"{args.objective}1",
                   "structure1", "appearance1", "renders", "s"):
        table.add_column(column, justify="left" if column == "case" else "right")
    rows, skipped, errors = [], {}, 0
    with RenderPool(workers=args.workers) as pool:
        for name, code in candidates:
            if len(rows) >= args.cases:
                break
            case = make_case(name, code, pool, args, rng, skipped)
            if case is None:
                continue
            target, source, chosen = case
            try:
                result = refine(source, target, budget=args.budget, pool=pool, max_dims=args.max_dims,
                                seed=args.seed, objective=args.objective)
            except RefineError as err:
                console.print(f"[red]{name}: {err}")
                errors += 1
                continue
            ssim_before = metrics.ssim(pool.render(source, args.size, args.size).image, target)
            ssim_after = metrics.ssim(result.image, target)
            hit = len(set(chosen) & set(result.fitted))
            after = result.figures_after
            rows.append((ssim_before, ssim_after, result.score_before, result.score_after, result.renders,
                         result.seconds, after["structure"], after["appearance"]))
            table.add_row(name[:40], str(result.lifted), str(len(result.fitted)), f"{hit}/{len(chosen)}",
                          f"{ssim_before:.3f}", f"{ssim_after:.3f}", f"{result.score_before:.3f}",
                          f"{result.score_after:.3f}", f"{after['structure']:.3f}", f"{after['appearance']:.3f}",
                          str(result.renders), f"{result.seconds:.1f}")
    console.print(table)
    if not rows:
        console.print("no cases")
        return
    data = np.array(rows)
    recovered = float(np.mean(data[:, 1] >= RECOVERED_SSIM))
    console.print(f"cases {len(rows)} (skipped: {skipped or 'none'}; refine errors: {errors})")
    console.print(f"recovered to SSIM >= {RECOVERED_SSIM}: {recovered:.0%} "
                  f"({int(round(recovered * len(rows)))}/{len(rows)})")
    console.print(f"median {args.objective}: before {np.median(data[:, 2]):.3f}, after {np.median(data[:, 3]):.3f}; "
                  f"median SSIM: before {np.median(data[:, 0]):.3f}, after {np.median(data[:, 1]):.3f}; after: median "
                  f"structure {np.nanmedian(data[:, 6]):.3f}, appearance {np.nanmedian(data[:, 7]):.3f}")
    console.print(f"renders per case: median {np.median(data[:, 4]):.0f}, max {data[:, 4].max():.0f}; "
                  f"seconds per case: median {np.median(data[:, 5]):.1f}, total {data[:, 5].sum():.0f} "
                  f"({pool.workers} render workers, {pool.renderer or 'renderer unknown'}, disk shader cache off)")


if __name__ == "__main__":
    main()
