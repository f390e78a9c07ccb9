"""Command line of the ground-truth factory.

    python -m earthshader.data build --source textures --out data/textures --size 256 --n 1000
    python -m earthshader.data build --source ../shared/data/shadertoys.jsonl.gz --out data/real --size 256
    python -m earthshader.data build --source Vipitis/Shadereval-inputs --split test --out data/eval
    python -m earthshader.data sample fbm --seed 3 [--difficulty 2]     # print one generated program
    python -m earthshader.data families                                 # groups, families, levels

SOURCE: a generator group (textures, primitives, terrains) or family (fbm, ridged_terrain, ...), a
.jsonl / .jsonl.gz / .parquet file with an `image_code` column, a folder of .glsl files, a folder
written by `datasets.save_to_disk`, or a Hugging Face dataset id. Rerunning the same command
resumes an interrupted build. Exit status: 0 done, 1 the build failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from earthshader.cli import (
    MAX_SIDE,
    ArgumentParser,
    fail,
    finite_float,
    float_range,
    folder_path,
    fraction,
    int_range,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    run_entry_point,
)
from earthshader.data.build import BuildConfig, BuildError, BuildReport, Filters, build
from earthshader.data.generators import FAMILIES, GROUPS, difficulty_range, generate
from earthshader.data.sources import SourceError, describe

MAX_PROBLEMS_SHOWN = 20


def source_name(text: str) -> str:
    """A SOURCE that names something readable: a generator, an existing file or folder, or a Hub id."""
    try:
        describe(text)
    except SourceError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m earthshader.data", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="render, filter and save a dataset")
    b.add_argument("--source", required=True, type=source_name,
                   help="generator, file, folder or Hugging Face dataset id")
    b.add_argument("--out", required=True, type=folder_path,
                   help="folder for the dataset (resumes if it holds this build)")
    b.add_argument("--size", type=int_range(1, MAX_SIDE), default=256,
                   help=f"image side in pixels, 1 to {MAX_SIDE} (default 256)")
    b.add_argument("--n", type=positive_int, default=None, help="rows to read; generators: number of seeds (required)")
    b.add_argument("--time", type=finite_float, default=0.0, help="iTime of the render (default 0)")
    b.add_argument("--start", type=non_negative_int, default=0, help="first row, or first seed (default 0)")
    b.add_argument("--difficulty", type=non_negative_int, default=None,
                   help="generators: fixed level (default: per seed)")
    b.add_argument("--split", default="train", help="split to read from a Hub or saved dataset")
    b.add_argument("--test-fraction", type=fraction, default=0.1, help="share of programs in the test split, 0..1")
    b.add_argument("--shard-size", type=positive_int, default=256, help="rows per shard (the unit of resuming)")
    b.add_argument("--workers", type=positive_int, default=None, help="render processes (default: all cores)")
    b.add_argument("--timeout", type=positive_float, default=10.0, help="seconds one shader may compile and render")
    defaults = Filters()
    b.add_argument("--black-level", type=int_range(0, 255), default=defaults.black_level,
                   help="brightest value (0..255) of a 'black' image")
    b.add_argument("--min-entropy", type=fraction, default=defaults.min_entropy, help="visual entropy (0..1) to keep")
    b.add_argument("--min-correlation", type=float_range(-1.0, 1.0), default=defaults.min_correlation,
                   help="neighbour correlation (-1..1) to keep; lower is 'noise'")
    b.add_argument("--max-nonfinite", type=fraction, default=defaults.max_nonfinite,
                   help="share of NaN / infinite pixels above which an image is rejected")
    b.add_argument("--near-duplicate", type=non_negative_float, default=defaults.near_duplicate,
                   help="mean grey-level difference of 32x32 thumbnails under which images are duplicates")
    b.add_argument("--overwrite", action="store_true", help="delete an existing build in --out first")
    b.set_defaults(command_parser=b)  # for errors that need two flags, with this command's name
    s = commands.add_parser("sample", help="print one generated program")
    s.add_argument("name", help="group or family")
    s.add_argument("--seed", type=int_range(), default=0)
    s.add_argument("--difficulty", type=non_negative_int, default=None)
    commands.add_parser("families", help="list generator groups, families and difficulty levels")
    return parser


def report_table(report: BuildReport) -> Table:
    """Kept and rejected rows by reason; the rows add up to the input total."""
    table = Table(title="rows by outcome")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    for split, count in report.splits.items():
        table.add_row(escape(f"kept: {split}"), str(count))
    for reason, count in sorted(report.counts.items()):
        if reason != "kept" and count:
            table.add_row(escape(f"rejected: {reason}"), str(count))
    table.add_section()
    table.add_row("[bold]total input rows", f"[bold]{report.total}")
    return table


def run_build(args: argparse.Namespace, console: Console) -> int:
    out = Path(args.out)
    if args.overwrite and out.exists():
        if not (out / "build.json").exists():
            return fail(f"--overwrite: {out} exists and is not a build folder (no build.json); not deleting it")
        shutil.rmtree(out)
    filters = Filters(black_level=args.black_level, min_entropy=args.min_entropy,
                      min_correlation=args.min_correlation, max_nonfinite=args.max_nonfinite,
                      near_duplicate=args.near_duplicate)
    config = BuildConfig(source=args.source, out=str(args.out), size=args.size, n=args.n, time=args.time,
                         start=args.start, difficulty=args.difficulty, split=args.split,
                         test_fraction=args.test_fraction, shard_size=args.shard_size,
                         workers=args.workers, timeout=args.timeout, filters=filters)
    try:
        report = build(config, console=console)
    except (SourceError, BuildError) as err:
        fail(str(err))
        return 1
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        console.print(f"[yellow]corrupt row[/yellow] {escape(problem)}")
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        console.print(escape(f"... and {len(report.problems) - MAX_PROBLEMS_SHOWN} more in {out / 'report.json'}"))
    console.print(report_table(report))
    console.print(escape(f"saved to {out} (datasets.load_from_disk); report in {out / 'report.json'}"))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    if args.command == "build":
        if describe(args.source) == "generator" and args.n is None:
            args.command_parser.error(f"argument --n: the generator source {args.source!r} needs --n, "
                                      "the number of seeds")
        if args.difficulty is not None and describe(args.source) == "generator":
            levels = difficulty_range(args.source)
            if args.difficulty not in levels:
                args.command_parser.error(f"argument --difficulty: {args.source} offers levels {levels.start} to "
                             f"{levels.stop - 1}, got {args.difficulty}")
        return run_build(args, console)
    if args.command == "sample":
        try:
            sample = generate(args.name, args.seed, args.difficulty)
        except ValueError as err:
            return fail(f"argument name: {err}")
        console.print(f"[bold]{sample.family}[/bold] ({sample.group}), difficulty {sample.difficulty}, "
                      f"seed {sample.seed}: {json.dumps(sample.params)}")
        console.print(Syntax(sample.code, "glsl", line_numbers=True))
        return 0
    table = Table(title="generators")
    for column in ("group", "family", "difficulties"):
        table.add_column(column)
    for group, names in GROUPS.items():
        for name in names:
            levels = difficulty_range(name)
            table.add_row(group, name, f"{levels.start}..{levels.stop - 1}")
    console.print(table)
    console.print(f"{len(FAMILIES)} families")
    return 0


if __name__ == "__main__":
    run_entry_point(main)
