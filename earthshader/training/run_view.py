"""What `python -m earthshader.logs RUN_DIR` shows of a GRPO or expert-iteration run directory, finished or in
progress, as rich renderables: reward curves, recent steps, the best samples with their code, one step's samples.

    from rich.console import Console
    from earthshader.training.run_view import view
    Console().print(view(Path("runs/grpo-tiny"), step=None, top=1))

Reads `metrics.jsonl` (one line per logging step) and `samples.jsonl` (one line per completion), as
`earthshader.training.run_log` writes them, line by line as bytes: a torn last line of a file still being
written (even one cut inside a multi-byte character) is skipped, and so is a damaged line, with a count of
them; numbers that are not finite (TRL logs NaN when every reward is None) are shown as "-". An
expert-iteration run (`pictures.json` in it) is `earthshader.training.expert_runs.view`'s rounds table; a
damaged file of it raises `expert_runs.RunStateError`, naming the file.

>>> sparkline([0.0, 0.5, 1.0, float("nan"), None])
'▁▄█'
"""

from __future__ import annotations

from math import isfinite
from pathlib import Path

from rich.console import Group
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from earthshader.data.picture_reader import printable_id
from earthshader.training import expert_runs
from earthshader.training.run_log import METRICS_FILE, SAMPLES_FILE, read_jsonl, reward_table

SPARK = "▁▂▃▄▅▆▇█"


#: What a sample line must hold for the tables (name: type).
SAMPLE_FIELDS = {"step": int, "total": (int, float), "rewards": dict, "prompt_id": str}


def read_samples(path: Path) -> tuple[list[dict], int]:
    """(the sample lines of `path` that hold what the tables read, how many lines were torn or damaged)."""
    rows, damaged = read_jsonl(path)
    kept = [row for row in rows if all(isinstance(row.get(k), t) and not isinstance(row.get(k), bool)
                                       for k, t in SAMPLE_FIELDS.items())
            and _number(row["total"]) is not None and (row.get("error") is None or isinstance(row.get("error"), str))]
    return kept, damaged + len(rows) - len(kept)


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and isfinite(value) \
        else None


def sparkline(values: list[float], width: int = 48) -> str:
    """Values as a line of block characters, resampled to at most `width` points (None and NaN left out)."""
    values = [v for v in map(_number, values) if v is not None]
    if not values:
        return ""
    if len(values) > width:
        values = [values[int(i * len(values) / width)] for i in range(width)]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[int((v - low) / span * (len(SPARK) - 1))] for v in values)


def curves(metrics: list[dict]) -> Table:
    """Each reward's mean (and the total) over the logging steps: first, last and a sparkline."""
    table = Table(title="reward curves (one point per logging step)", title_justify="left", show_edge=False)
    table.add_column("reward")
    table.add_column("first", justify="right")
    table.add_column("last", justify="right")
    table.add_column("curve")
    names = sorted({k.split("/")[1] for row in metrics for k in row
                    if k.startswith("rewards/") and k.endswith("/mean")})
    for key, label in [(f"rewards/{n}/mean", escape(n)) for n in names] + [("reward", "[bold]total[/]")]:
        values = [v for v in (_number(row.get(key)) for row in metrics) if v is not None]
        if values:
            table.add_row(label, f"{values[0]:.3f}", f"{values[-1]:.3f}", sparkline(values))
    return table


def recent_steps(samples: list[dict], count: int = 8) -> Table:
    """The last `count` steps' samples: how many, the compile rate, mean and best total, render errors."""
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
            if r.get("error"):
                errors[r["error"]] = errors.get(r["error"], 0) + 1
        table.add_row(str(step), str(len(rows)), f"{sum(r.get('error') is None for r in rows) / len(rows):.2f}",
                      f"{sum(totals) / len(totals):.3f}", f"{max(totals):.3f}",
                      escape(printable_id(", ".join(f"{k} {v}" for k, v in sorted(errors.items())))) or "-")
    return table


def top_samples(samples: list[dict], k: int) -> list:
    """The `k` samples of highest total, each a heading line and its code."""
    parts = []
    for rank, row in enumerate(sorted(samples, key=lambda r: r["total"], reverse=True)[:k], 1):
        scores = ", ".join(f"{n} {v:.2f}" for n, v in row["rewards"].items() if _number(v) is not None)
        parts.append(f"[bold]#{rank}[/] step {row['step']}, prompt {escape(printable_id(row['prompt_id']))}, "
                     f"total {row['total']:.3f} ({escape(printable_id(scores))})")
        code = row.get("code") or row.get("completion") or "(empty)"
        code = code.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(code, str) else "(damaged)"
        parts.append(Syntax(code, "glsl", theme="ansi_dark"))
    return parts


def view(run_dir: Path, step: int | None, top: int) -> Group:
    """Everything the command prints for `run_dir`: one step's samples with `step`, else the whole run."""
    if (run_dir / expert_runs.PICTURES_FILE).is_file():
        return expert_runs.view(run_dir)
    (metrics, torn_metrics), (samples, torn_samples) = read_jsonl(run_dir / METRICS_FILE), read_samples(
        run_dir / SAMPLES_FILE)
    where = escape(printable_id(str(run_dir)))
    notes = [f"[dim]{count} torn or damaged lines of {name} skipped[/]"
             for name, count in ((METRICS_FILE, torn_metrics), (SAMPLES_FILE, torn_samples)) if count]
    if not metrics and not samples:
        return Group(f"[yellow]{where}: no {METRICS_FILE} or {SAMPLES_FILE} lines yet (is this a GRPO run "
                     "directory?)[/]", *notes)
    if step is not None:
        chosen = [r for r in samples if r["step"] == step]
        logs = next((m for m in reversed(metrics) if m.get("step") == step and "reward" in m), {})
        if not chosen:
            steps = sorted({r["step"] for r in samples})
            logged = f"steps logged: {steps[0]}..{steps[-1]}" if steps else f"no samples logged yet in {SAMPLES_FILE}"
            return Group(f"[yellow]no samples for step {step}; {logged}[/]", *notes)
        return Group(reward_table(step, logs, chosen), *top_samples(chosen, top), *notes)
    parts = [f"[bold]{where}[/]: {len(metrics)} logging steps, {len(samples)} samples", *notes]
    if metrics:
        parts.append(curves(metrics))
    if samples:
        parts += [recent_steps(samples), *top_samples(samples, top)]
    return Group(*parts)
