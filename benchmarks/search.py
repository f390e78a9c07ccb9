"""What the model-free search baseline reaches, and what it costs, at a few render budgets.

    python benchmarks/search.py                                     # generator textures + primitives, 84 px
    python benchmarks/search.py --dataset generator:textures --n 16 --budgets 100 200 400 --workers 2

For each budget a fresh `SearchLibrary` (so its one-off render of the candidate programs is in the
time), then `earthshader.answering.search.search` on every target, fitted for `--objective` (default mix).
Prints one row per budget: the median and mean objective value, the mean of both of the evaluation's
figures (structure: the SSIM, edge and pixel skills over the mean-colour image; appearance: texture
statistics and palette), renders used a target, seconds a target (with and without the library's first
render) and renders a second. Disk shader caches are off (MESA_SHADER_CACHE_DISABLE,
__GL_SHADER_DISK_CACHE=0), so compilation is timed as a first run pays it.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, OBJECTIVES


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", action="append", default=None,
                        help="targets, as `earthshader.eval --dataset` takes them (repeatable; default "
                             "generator:textures and generator:primitives)")
    parser.add_argument("--n", type=int, default=8, help="targets per dataset (default 8)")
    parser.add_argument("--size", type=int, default=84)
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--workers", type=int, default=None, help="render processes (default: all cores)")
    parser.add_argument("--start", type=int, default=2_000_000, help="first generator seed of the targets")
    parser.add_argument("--objective", choices=OBJECTIVES, default=DEFAULT_OBJECTIVE, help="what the search fits for")
    args = parser.parse_args(argv)
    os.environ.setdefault("MESA_SHADER_CACHE_DISABLE", "true")
    os.environ.setdefault("__GL_SHADER_DISK_CACHE", "0")

    from rich.console import Console
    from rich.table import Table

    from earthshader.answering.search import SearchLibrary, search
    from earthshader.evaluation.targets import load_targets
    from earthshader.render import RenderPool

    with RenderPool(workers=args.workers) as pool:
        targets = [t for name in (args.dataset or ["generator:textures", "generator:primitives"])
                   for t in load_targets(name, n=args.n, size=args.size, pool=pool, start=args.start)]
        table = Table(title=f"Search baseline fitted for {args.objective}: {len(targets)} targets at {args.size} px, "
                            f"{pool.workers} render workers")
        for column in ("budget", f"median {args.objective}", f"mean {args.objective}", "mean structure",
                       "mean appearance", "renders a target", "s a target", "s a target, library apart", "renders/s",
                       "library"):
            table.add_column(column, justify="right")
        for budget in args.budgets:
            library = SearchLibrary()
            started = time.perf_counter()
            results = [search(t.image, budget=budget, pool=pool, library=library, time=t.time,
                              objective=args.objective) for t in targets]
            seconds = time.perf_counter() - started
            scores = [r.score for r in results]
            renders = sum(r.renders for r in results)
            table.add_row(str(budget), f"{np.nanmedian(scores):.3f}", f"{np.nanmean(scores):.3f}",
                          *(f"{np.nanmean([r.figures.get(f, np.nan) for r in results]):.3f}"
                            for f in ("structure", "appearance")),
                          f"{renders / len(results):.0f}", f"{seconds / len(results):.2f}",
                          f"{(seconds - library.render_s) / len(results):.2f}", f"{renders / seconds:.0f}",
                          f"{library.renders} programs, {library.render_s:.1f} s")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
