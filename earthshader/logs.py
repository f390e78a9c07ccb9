"""Read a GRPO or expert-iteration run directory in the terminal, finished or in progress.

    python -m earthshader.logs runs/grpo-tiny                 # reward curves, recent steps, top samples
    python -m earthshader.logs runs/grpo-tiny --step 120      # the samples of one step
    python -m earthshader.logs runs/grpo-tiny --top 3         # the three best samples with their code
    python -m earthshader.logs runs/grpo-tiny --follow        # refresh every few seconds until Ctrl-C

Reads `metrics.jsonl` (one line per logging step) and `samples.jsonl` (one line per completion), as
`earthshader.training.run_log` writes them, line by line as bytes: a torn last line of a file still being
written (even one cut inside a multi-byte character) is skipped, and so is a damaged line, with a count of
them; numbers that are not finite (TRL logs NaN when every reward is None) are shown as "-". An
expert-iteration run (`rounds.jsonl`, `python -m earthshader.expert`) prints its rounds table; a damaged
file of it is named on one line (exit status 2). What it shows is `earthshader.training.run_view`'s.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from earthshader.cli import ArgumentParser, existing_folder, non_negative_int, positive_float, run_entry_point
from earthshader.training.run_view import view


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m earthshader.logs", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=existing_folder, help="a training run's output folder")
    parser.add_argument("--step", type=non_negative_int, help="show the samples of one step")
    parser.add_argument("--top", type=non_negative_int, default=1,
                        help="best samples to show with their code (default 1)")
    parser.add_argument("--follow", action="store_true", help="refresh until Ctrl-C")
    parser.add_argument("--interval", type=positive_float, default=5.0, help="seconds between refreshes with --follow")
    args = parser.parse_args(argv)
    console = Console()
    if not args.follow:
        console.print(view(args.run_dir, args.step, args.top))
        return 0
    try:
        while True:
            console.clear()
            console.print(view(args.run_dir, args.step, args.top))
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    run_entry_point(main)
