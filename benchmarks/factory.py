"""Throughput of the ground-truth factory: samples per second, end to end (generate, render, judge,
encode PNG, save shards, finalise), for procedural textures and terrains, with the ratio of a full
pool to a single render worker.

    python benchmarks/factory.py                            # 1,000 textures + 200 terrains at 128 x 128
    python benchmarks/factory.py --textures 200 --terrains 40 --size 256 --workers 4

Mesa's and NVIDIA's on-disk shader caches are turned off (a rerun would otherwise skip most
compiles), so every run pays for every compile as a fresh build does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ["MESA_SHADER_CACHE_DISABLE"] = "true"  # read by the render workers when they start
os.environ["__GL_SHADER_DISK_CACHE"] = "0"

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from earthshader.data.build import BuildConfig, build  # noqa: E402
from earthshader.render import default_workers  # noqa: E402


def run(source: str, n: int, size: int, workers: int, console: Console) -> tuple[float, int]:
    """Seconds for a whole build of `n` samples, and the rows kept."""
    with tempfile.TemporaryDirectory() as folder:
        config = BuildConfig(source=source, out=folder, size=size, n=n, workers=workers, timeout=60.0)
        start = time.perf_counter()
        report = build(config, console=console)
        return time.perf_counter() - start, report.counts["kept"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--textures", type=int, default=1000, help="textures to build (default 1000)")
    parser.add_argument("--terrains", type=int, default=200, help="terrains to build (default 200)")
    parser.add_argument("--size", type=int, default=128, help="image side (default 128)")
    parser.add_argument("--workers", type=int, default=default_workers(), help="pool size to compare with 1")
    args = parser.parse_args()

    console = Console()
    quiet = Console(quiet=True)
    table = Table(title=f"factory throughput at {args.size} x {args.size} (shader disk caches off)")
    for column in ("source", "samples", "workers", "seconds", "samples/s", "kept", "x 1 worker"):
        table.add_column(column, justify="right")
    for source, n in (("textures", args.textures), ("terrains", args.terrains)):
        if n <= 0:
            continue
        single = None
        for workers in (1, args.workers):
            console.print(f"{source}: {n} samples, {workers} worker(s) ...")
            seconds, kept = run(source, n, args.size, workers, quiet)
            rate = n / seconds
            single = single or rate
            table.add_row(source, str(n), str(workers), f"{seconds:.1f}", f"{rate:.1f}", str(kept),
                          f"{rate / single:.2f}")
    console.print(table)
    console.print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end "
                  "(other processes on the machine lower the figures)")


if __name__ == "__main__":
    main()
