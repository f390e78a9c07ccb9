"""Read a GRPO or expert-iteration run directory in the terminal, finished or in progress.

    python -m earthshader.logs runs/grpo-tiny                 # reward curves, recent steps, top samples
    python -m earthshader.logs runs/grpo-tiny --step 120      # the samples of one step
    python -m earthshader.logs runs/grpo-tiny --top 3         # the three best samples with their code
    python -m earthshader.logs runs/grpo-tiny --follow        # refresh every few seconds until Ctrl-C

Reads `metrics.jsonl` (one line per logging step) and `samples.jsonl` (one line per completion), as
`earthshader.training.run_log` writes them; a torn last line of a file still being written is skipped.
An expert-iteration run (`rounds.jsonl`, `python -m earthshader.expert`) prints its rounds table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console, Group
from rich.syntax import Syntax
from rich.table import Table

from earthshader.cli import ArgumentParser, existing_folder, non_negative_int, positive_float
from earthshader.training import expert_runs
from earthshader.training.run_log import METRICS_FILE, SAMPLES_FILE, reward_table

SPARK = "▁▂▃▄▅▆▇█"


def read_jsonl(path: Path) -> list[dict]:
    """Every complete JSON line of `path` (none if it does not exist yet)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the line being written right now
    return rows


def sparkline(values: list[float], width: int = 48) -> str:
    """Values as a line of block characters, resampled to at most `width` points."""
    values = [v for v in values if v is not None]
    if not values:
        return ""
    if len(values) > width:
        values = [values[int(i * len(values) / width)] for i in range(width)]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[int((v - low) / span * (len(SPARK) - 1))] for v in values)


def curves(metrics: list[dict]) -> Table:
    table = Table(title="reward curves (one point per logging step)", title_justify="left", show_edge=False)
    table.add_column("reward")
    table.add_column("first", justify="right")
    table.add_column("last", justify="right")
    table.add_column("curve")
    names = sorted({k.split("/")[1] for row in metrics for k in row
                    if k.startswith("rewards/") and k.endswith("/mean")})
    for key, label in [(f"rewards/{n}/mean", n) for n in names] + [("reward", "[bold]total[/]")]:
        values = [row[key] for row in metrics if isinstance(row.get(key), (int, float))]
        if values:
            table.add_row(label, f"{values[0]:.3f}", f"{values[-1]:.3f}", sparkline(values))
    return table


def recent_steps(samples: list[dict], count: int = 8) -> Table:
    table = Table(title="recent steps", title_justify="left", show_edge=False)
    for column in ("step", "samples", "compile rate", "mean total", "best total", "errors"):
        table.add_column(column, justify="right")
    by_step: dict[int, list[dict]] = {}
    for row in samples:
        by_step.setdefault(row["step"], []).append(row)
    for step in sorted(by_step)[-count:]:
        rows = by_step[step]
        totals = [r["total"] for r in rows]
        errors: dict[str, int] = {}
        for r in rows:
            if r["error"]:
                errors[r["error"]] = errors.get(r["error"], 0) + 1
        table.add_row(str(step), str(len(rows)), f"{sum(r['error'] is None for r in rows) / len(rows):.2f}",
                      f"{sum(totals) / len(totals):.3f}", f"{max(totals):.3f}",
                      ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "-")
    return table


def top_samples(samples: list[dict], k: int) -> list:
    parts = []
    for rank, row in enumerate(sorted(samples, key=lambda r: r["total"], reverse=True)[:k], 1):
        scores = ", ".join(f"{n} {v:.2f}" for n, v in row["rewards"].items() if v is not None)
        parts.append(f"[bold]#{rank}[/] step {row['step']}, prompt {row['prompt_id']}, "
                     f"total {row['total']:.3f} ({scores})")
        parts.append(Syntax(row["code"] or row["completion"] or "(empty)", "glsl", theme="ansi_dark"))
    return parts


def view(run_dir: Path, step: int | None, top: int) -> Group:
    if (run_dir / expert_runs.PICTURES_FILE).is_file():
        return expert_runs.view(run_dir)
    metrics, samples = read_jsonl(run_dir / METRICS_FILE), read_jsonl(run_dir / SAMPLES_FILE)
    if not metrics and not samples:
        return Group(f"[yellow]{run_dir}: no {METRICS_FILE} or {SAMPLES_FILE} yet (is this a GRPO run directory?)[/]")
    if step is not None:
        samples = [r for r in samples if r["step"] == step]
        logs = next((m for m in reversed(metrics) if m.get("step") == step and "reward" in m), {})
        if not samples:
            steps = sorted({r["step"] for r in read_jsonl(run_dir / SAMPLES_FILE)})
            return Group(f"[yellow]no samples for step {step}; steps logged: {steps[0]}..{steps[-1]}[/]")
        return Group(reward_table(step, logs, samples), *top_samples(samples, top))
    parts = [f"[bold]{run_dir}[/]: {len(metrics)} logging steps, {len(samples)} samples"]
    if metrics:
        parts.append(curves(metrics))
    if samples:
        parts += [recent_steps(samples), *top_samples(samples, top)]
    return Group(*parts)


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
    sys.exit(main())
