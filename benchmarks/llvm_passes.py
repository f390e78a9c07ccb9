"""llvmpipe with and without LLVM's optimisation passes: seconds per shader and whether any pixel moves.

    python benchmarks/llvm_passes.py                        # textures at 84 px, terrains and real shaders at 256 px
    python benchmarks/llvm_passes.py --n 20 --real 0        # a quick look, procedural suites only
    python benchmarks/llvm_passes.py --only nopt            # one setting alone (to time whole runs, e.g. in turn)

On a CPU every program is compiled by Mesa's llvmpipe, and for the programs this project renders (one small
frame of a new program) compiling, not drawing, takes most of the time. The render workers start with
`GALLIVM_PERF=nopt` (`earthshader.render.gl.create_gl_context`), which skips LLVM's optimisation passes
("disable optimization passes to speed up shader compilation", in Mesa's own words); a `GALLIVM_PERF` already
set, even empty, is kept. This script renders each suite twice, in two pools of one worker each, one with the
passes (`GALLIVM_PERF=` empty) and one as the workers start by default, shader by shader in turn (the order
alternates, so drift of the machine's speed falls on both), and prints per suite and setting: seconds per
shader (median, mean, 95th percentile, slowest, the pool's round trip included), how many rendered, and
between the two: the per-shader ratio (median, and how many were over 1.2x slower without the passes), the
shaders whose outcome differs and those whose pixels differ (and by how much at most).

Suites: procedural textures at `--small` px (the size GRPO renders at), raymarched terrains and, when
`../shared/data/shadertoys.jsonl.gz` is present, a fixed sample of real Shadertoy shaders at `--size` px.
Every source is unique and Mesa's disk shader cache is off, so each render compiles.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

# Before any GL library loads, here and in the spawned workers (they inherit the environment).
os.environ["MESA_SHADER_CACHE_DISABLE"] = "true"

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from earthshader.data.generators import generate  # noqa: E402
from earthshader.data.sources import ShaderRow, read_source  # noqa: E402
from earthshader.render import RenderPool  # noqa: E402
from earthshader.render.gl import LLVMPIPE_FLAGS_ENV  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "shadertoys.jsonl.gz"
#: The settings compared: what each pool's workers see as GALLIVM_PERF (None: unset, the workers' default).
SETTINGS = {"passes": "", "nopt": None}


def suites(n: int, real: int, small: int, size: int) -> dict[str, tuple[int, list[str]]]:
    """{suite: (pixels a side, unique sources)}."""
    found = {"textures": (small, [generate("textures", 50_000 + seed).code for seed in range(n)]),
             "terrains": (size, [generate("terrains", 50_000 + seed).code for seed in range(n)])}
    if real and CORPUS.exists():
        rows = [row.code for row in read_source(str(CORPUS)) if isinstance(row, ShaderRow)]
        found["real shaders"] = (size, random.Random(1).sample(rows, min(real, len(rows))))
    return {name: (px, [f"// {name} #{i}\n{code}" for i, code in enumerate(codes)])
            for name, (px, codes) in found.items()}


def start_pool(value: str | None, timeout: float) -> RenderPool:
    """A one-worker pool whose worker sees GALLIVM_PERF=value (None: unset), started before the variable is
    put back as it was."""
    saved = os.environ.pop(LLVMPIPE_FLAGS_ENV, None)
    if value is not None:
        os.environ[LLVMPIPE_FLAGS_ENV] = value
    try:
        pool = RenderPool(workers=1, timeout=timeout)
        pool.render_many(["void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }"], width=8, height=8)
    finally:
        os.environ.pop(LLVMPIPE_FLAGS_ENV, None)
        if saved is not None:
            os.environ[LLVMPIPE_FLAGS_ENV] = saved
    return pool


def run_suite(pools: dict[str, RenderPool], codes: list[str], px: int) -> dict[str, tuple[list, list]]:
    """{setting: (seconds per shader, results)}, the settings taking turns shader by shader."""
    out = {name: ([], []) for name in pools}
    names = list(pools)
    for i, code in enumerate(codes):
        for name in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            result = pools[name].render_many([code], width=px, height=px, times=(1.0,))[0]
            out[name][0].append(time.perf_counter() - start)
            out[name][1].append(result)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60, help="procedural shaders per suite")
    parser.add_argument("--real", type=int, default=300, help="real shaders (0 to skip)")
    parser.add_argument("--small", type=int, default=84, help="pixels a side for the textures")
    parser.add_argument("--size", type=int, default=256, help="pixels a side for terrains and real shaders")
    parser.add_argument("--timeout", type=float, default=20.0, help="the pools' seconds a shader may take")
    parser.add_argument("--only", choices=list(SETTINGS), help="render with one setting alone")
    args = parser.parse_args()
    settings = {args.only: SETTINGS[args.only]} if args.only else dict(SETTINGS)
    console = Console(width=120)
    pools = {name: start_pool(value, args.timeout) for name, value in settings.items()}
    try:
        table = Table(title="Seconds per shader, one worker, each shader compiled anew")
        for column in ("suite", "px", "setting", "median", "mean", "p95", "slowest", "rendered"):
            table.add_column(column, justify="left" if column in ("suite", "setting") else "right")
        compared = []
        for suite, (px, codes) in suites(args.n, args.real, args.small, args.size).items():
            runs = run_suite(pools, codes, px)
            for name, (seconds, results) in runs.items():
                table.add_row(suite, str(px), name, f"{statistics.median(seconds):.4f}",
                              f"{statistics.fmean(seconds):.4f}", f"{np.percentile(seconds, 95):.4f}",
                              f"{max(seconds):.3f}", f"{sum(r.ok for r in results)} / {len(results)}")
            if len(runs) == 2:
                compared.append((suite, *runs.values()))
        console.print(table)
        if compared:
            console.print(agreement_table(compared))
    finally:
        for pool in pools.values():
            pool.close()


def agreement_table(compared: list) -> Table:
    """Per suite: time ratio default / passes, and what differs between the two settings' results."""
    table = Table(title="nopt (the default) against LLVM's passes, shader by shader")
    for column in ("suite", "time ratio, median", "over 1.2x slower", "outcome differs", "pixels differ",
                   "largest pixel difference"):
        table.add_column(column, justify="left" if column == "suite" else "right")
    for suite, (t_passes, r_passes), (t_default, r_default) in compared:
        ratios = [d / p for d, p in zip(t_default, t_passes)]
        outcome = sum(a.ok != b.ok or (not a.ok and a.error.kind != b.error.kind) for a, b in zip(r_passes, r_default))
        both = [(a.image.astype(int), b.image.astype(int)) for a, b in zip(r_passes, r_default) if a.ok and b.ok]
        diffs = [int(np.abs(a - b).max()) for a, b in both]
        table.add_row(suite, f"{statistics.median(ratios):.2f}", str(sum(r > 1.2 for r in ratios)), str(outcome),
                      f"{sum(d > 0 for d in diffs)} / {len(diffs)}", str(max(diffs, default=0)))
    return table


if __name__ == "__main__":
    main()
