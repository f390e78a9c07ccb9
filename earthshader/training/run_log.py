"""What a GRPO run leaves on disk and prints: per-sample JSONL, metrics JSONL, PNG grids, reward tables.

    sample_log = SampleLog(run_dir, reward_names, weights, grid_every=10)
    reward_funcs = [sample_log.wrap(f) for f in for_trl(reward_funcs)]  # records every reward of every sample
    trainer.add_callback(MetricsLog(run_dir))       # metrics.jsonl, one line per log step
    trainer.add_callback(RewardTable(sample_log))   # a rich table at each logging step

This module imports no transformers (`python -m earthshader.logs` reads runs with it); the trainer callbacks
that write and print these live in `earthshader.training.callbacks`.

Files under the run directory (read them with `python -m earthshader.logs RUN_DIR`):
- `samples.jsonl`: one line per completion: step, prompt id, completion, extracted code, each reward,
  the weighted total, the render error; for a look-and-fix episode, `turn_codes`: every turn's program.
  Lines are written (and fsynced) once every reward of the batch is in, so a killed run loses at most the
  batch in flight, never half a line.
- `metrics.jsonl`: one line per logging step, the trainer's logs (reward means and spreads, loss,
  times; `time/rewards_s` is the wall-clock time from the first reward's start to the last one's end).
- `grids/step_NNNNNN.png`: for a few prompts of a batch, target | best | median | worst renders; for episodes,
  target | turn 1 | last turn of the best episode | turn 1 | last turn of the worst.

On resume from a checkpoint at step S, `truncate_after(S)` drops the lines of later steps, which the
resumed run redoes: no step is duplicated or lost. In multi-process runs each rank writes its own
`samples.rankN.jsonl`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rich.markup import escape
from rich.table import Table

from earthshader.data.picture_reader import printable_id
from earthshader.glsl.extract import turn_texts
from rewards.base import RewardError
from rewards.cache import RenderRequest, shared_cache
from rewards.concurrent import ConcurrentReward, is_async
from rewards.inputs import as_image_array, completion_answer, completion_shader

SAMPLES_FILE = "samples.jsonl"
METRICS_FILE = "metrics.jsonl"


def truncate_jsonl(path: Path, last_step: int) -> int:
    """Keep the lines of `path` whose `step` is at most `last_step` (and drop a torn last line).

    Lines are read as bytes and decoded one at a time, so a line cut inside a multi-byte character by a
    kill is dropped like any other torn line. Returns how many lines were dropped. Rewrites atomically
    (write a temporary file, then rename).
    """
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for raw in path.read_bytes().splitlines(keepends=True):
        row = _json_line(raw)
        if row is None:
            dropped += int(bool(raw.strip()))  # a line cut by a kill, or damaged
            continue
        step = row.get("step", 0)
        if isinstance(step, (int, float)) and step <= last_step:
            kept.append(raw if raw.endswith(b"\n") else raw + b"\n")
        else:
            dropped += 1
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"".join(kept))
    os.replace(tmp, path)
    return dropped


def _json_line(raw: bytes) -> dict | None:
    """The JSON object of one line of a run file, or None when the line is not one (torn, damaged)."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return row if isinstance(row, dict) else None


def read_jsonl(path: Path) -> tuple[list[dict], int]:
    """(every JSON object line of `path`, how many lines were not one): a run's logs as `logs` reads them,
    while the run may still be writing the last line (none if the file does not exist yet)."""
    if not path.exists():
        return [], 0
    rows, damaged = [], 0
    for raw in path.read_bytes().splitlines():
        row = _json_line(raw)
        if row is None:
            damaged += int(bool(raw.strip()))
        else:
            rows.append(row)
    return rows, damaged


def episode_share(run_dir: Path, *, final_renders: bool = True) -> float:
    """What look and fix adds to a GRPO run's steps: the observations' render and figures
    (`time/observation_s`) plus the improvement reward's (`time/episode_scoring_s`) over `step_time`, summed over
    the steps of `metrics.jsonl` after the first logged one, whose time holds the run's one-off set-up (the
    render pool's start, the appearance measure's first layout); NaN for a run with no such steps.
    `final_renders=False` leaves out the improvement reward's render of the final programs
    (`time/episode_render_s`), which a single-turn step makes too: what the episode adds and nothing else.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> rows = [{"step_time": 4.0, "time/observation_s": 2.0}, {"step_time": 2.0, "time/observation_s": 0.1,
    ...         "time/episode_scoring_s": 0.1, "time/episode_render_s": 0.05},
    ...         {"step_time": 2.0, "time/observation_s": 0.3}, {"loss": 0.5}]
    >>> append_lines(folder / METRICS_FILE, rows)
    >>> episode_share(folder), episode_share(folder, final_renders=False)
    (0.125, 0.1125)
    """
    rows = [row for row in read_jsonl(Path(run_dir) / METRICS_FILE)[0]
            if "step_time" in row and "time/observation_s" in row][1:]
    if not rows:
        return math.nan
    extra = sum(row["time/observation_s"] + row.get("time/episode_scoring_s", 0.0)
                - (0.0 if final_renders else row.get("time/episode_render_s", 0.0)) for row in rows)
    return extra / sum(row["step_time"] for row in rows)


def _text(value) -> str:
    """Text that can be written as UTF-8 whatever it holds (a lone surrogate becomes `\\udcNN`)."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(value, str) else ""


def append_lines(path: Path, rows: list[dict]) -> None:
    """Append `rows` as JSON lines, flushed to disk: a killed run keeps every line written before."""
    with path.open("a", encoding="utf-8", errors="backslashreplace") as out:
        out.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        out.flush()
        os.fsync(out.fileno())


class SampleLog:
    """Collects each batch's rewards through wrapped reward functions and writes one line per sample."""

    def __init__(self, run_dir: str | Path, reward_names: list[str], weights: list[float] | None = None,
                 grid_every: int = 0, rank: int = 0):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / (SAMPLES_FILE if rank == 0 else f"samples.rank{rank}.jsonl")
        self.reward_names = list(reward_names)
        self.weights = list(weights) if weights is not None else [1.0] * len(reward_names)
        self.grid_every = grid_every
        self.rank = rank
        self.recent: list[dict] = []  # rows since the last logging step (read by RewardTable)
        self._pending: dict[int, dict] = {}
        self._lock = threading.Lock()

    def wrap(self, reward):
        """A reward function that behaves like `reward` (async if it is) and records what it returned."""
        return (_AsyncRecordedReward if is_async(reward) else _RecordedReward)(reward, self)

    def truncate_after(self, step: int) -> int:
        return truncate_jsonl(self.path, step)

    def start_fresh(self) -> None:
        """Keep an earlier run's log beside the new one instead of mixing them."""
        if self.path.exists() and self.path.stat().st_size:
            self.path.rename(self.path.with_name(f"{self.path.stem}.{int(time.time())}.jsonl"))

    # -- called by the wrapped rewards -----------------------------------------------------
    def record(self, name: str, completions, values, started: float, columns: dict) -> None:
        """Keep one reward's values (`started`: its `time.perf_counter()` at call); once every reward of
        the batch is in, log the rewards' wall-clock time and write the batch's lines."""
        with self._lock:
            batch = self._pending.setdefault(id(completions), {"values": {}, "started": started})
            batch["values"][name] = values
            batch["started"] = min(batch["started"], started)
            if len(batch["values"]) < len(self.reward_names):
                return
            del self._pending[id(completions)]
            self._write_batch(completions, batch, columns)

    def _write_batch(self, completions, batch: dict, columns: dict) -> None:
        if columns.get("log_metric") is not None:
            columns["log_metric"]("time/rewards_s", time.perf_counter() - batch["started"])
        state = columns.get("trainer_state")
        step = (state.global_step if state is not None else 0) + 1  # the step this batch trains
        rows = self._rows(step, completions, batch["values"], columns)
        append_lines(self.path, [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows])
        self.recent.extend(rows)
        if self.grid_every and step % self.grid_every == 0 and self.rank == 0:
            save_grid(self.run_dir / "grids" / f"step_{step:06d}.png", rows)

    def _rows(self, step: int, completions, values: dict, columns: dict) -> list[dict]:
        """One row per completion, read as the rewards read them (`rewards.inputs`): a completion of any shape
        and a missing or unscorable image give the rewards' defined outcome (no code, no target), never an
        exception; ids are made printable (`printable_id`)."""
        texts = [_text(completion_answer(c)) for c in completions]
        codes = [_text(completion_shader(c).code) for c in completions]
        turn_codes = [_turn_codes(c) for c in completions]
        images = columns.get("image")
        targets = [_target(images[i] if isinstance(images, (list, tuple)) and i < len(images) else None)
                   for i in range(len(texts))]
        requests = [RenderRequest(code, t.shape[1], t.shape[0]) if code and t is not None else None
                    for code, t in zip(codes, targets)]
        firsts = [RenderRequest(turns[0], t.shape[1], t.shape[0]) if turns and turns[0] and t is not None else None
                  for turns, t in zip(turn_codes, targets)]
        renders = shared_cache().render(requests)  # the rewards rendered these: cache hits
        first_renders = shared_cache().render(firsts) if any(firsts) else [None] * len(firsts)  # the episodes' too
        ids = columns.get("id")
        rows = []
        for i, (text, code, render) in enumerate(zip(texts, codes, renders)):
            rewards = {name: values[name][i] for name in self.reward_names}
            total = sum(w * v for w, v in zip(self.weights, rewards.values()) if v is not None)
            prompt_id = ids[i] if isinstance(ids, (list, tuple)) and i < len(ids) else i
            rows.append({
                "step": step, "prompt_id": printable_id(str(prompt_id)), "completion": text,
                "code": code, "rewards": rewards, "total": total,
                "error": render.error_kind, "error_message": _text(render.error.message) if render.error else None,
                "_target": targets[i], "_image": render.image,
            })
            if turn_codes[i]:  # a look-and-fix episode: every turn's program, and turn 1's render for the grid
                rows[-1]["turn_codes"] = turn_codes[i]
                rows[-1]["_turn1_image"] = first_renders[i].image if first_renders[i] is not None else None
        return rows


def _turn_codes(completion) -> list[str]:
    """Each turn's program of a look-and-fix episode (`earthshader.glsl.extract.turn_texts`), read as the rewards
    read a completion; [] for an answer of one turn or anything that is not a completion."""
    if not isinstance(completion, (list, tuple)) or not all(isinstance(m, dict) for m in completion):
        return []
    texts = turn_texts(completion)
    return [_text(completion_shader(text).code) for text in texts] if len(texts) > 1 else []


def _target(image) -> np.ndarray | None:
    """A row's target as the rewards read it, or None when there is none or it cannot be scored."""
    if image is None:
        return None
    try:
        return as_image_array(image)
    except ValueError:
        return None


class _RecordedReward:
    def __init__(self, reward, log: SampleLog):
        self.reward = reward
        self.log = log
        self.__name__ = getattr(reward, "__name__", type(reward).__name__)

    def __call__(self, prompts=None, completions=None, **columns):
        started = time.perf_counter()
        with self._naming_errors():
            values = self.reward(prompts=prompts, completions=completions, **columns)
        self.log.record(self.__name__, completions, values, started, columns)
        return values

    @contextlib.contextmanager
    def _naming_errors(self):
        try:
            yield
        except RewardError:
            raise
        except Exception as error:  # a plugin's bug must stop the run, and say whose bug it is
            raise RewardError(f"reward {self.__name__!r} ({_origin(self.reward)}) failed: "
                              f"{type(error).__name__}: {error}") from error


class _AsyncRecordedReward(_RecordedReward):
    """The same for an async reward (TRL gathers those concurrently)."""

    async def __call__(self, prompts=None, completions=None, **columns):
        started = time.perf_counter()
        with self._naming_errors():
            values = await self.reward(prompts=prompts, completions=completions, **columns)
        self.log.record(self.__name__, completions, values, started, columns)
        return values


def _origin(reward) -> str:
    reward = reward.reward if isinstance(reward, ConcurrentReward) else reward  # name the plugin, not our wrapper
    target = reward if callable(reward) and hasattr(reward, "__module__") else type(reward)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(reward).__name__)}"


def save_grid(path: Path, rows: list[dict], prompts: int = 4, cell: int = 96) -> None:
    """A PNG with one line per prompt: target | best | median | worst render (black where none); for look-and-fix
    episodes, target | turn 1 | last turn of the best and of the worst episode."""
    by_prompt: dict[str, list[dict]] = {}
    for row in rows:
        by_prompt.setdefault(row["prompt_id"], []).append(row)
    lines = []
    for group in list(by_prompt.values())[:prompts]:
        ranked = sorted(group, key=lambda r: r["total"], reverse=True)
        picks = [group[0]["_target"], ranked[0]["_image"], ranked[len(ranked) // 2]["_image"], ranked[-1]["_image"]]
        if any("turn_codes" in r for r in group):
            picks = [group[0]["_target"], *_turn_strip(ranked[0]), *_turn_strip(ranked[-1])]
        cells = [Image.fromarray(p).resize((cell, cell), Image.NEAREST) if p is not None
                 else Image.new("RGB", (cell, cell)) for p in picks]
        lines.append(cells)
    if not lines:
        return
    columns = max(len(cells) for cells in lines)
    grid = Image.new("RGB", (columns * (cell + 2) - 2, len(lines) * (cell + 2)), (40, 40, 40))
    for y, cells in enumerate(lines):
        for x, image in enumerate(cells):
            grid.paste(image, (x * (cell + 2), y * (cell + 2)))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)


def _turn_strip(row: dict) -> list:
    """Turn 1's render and the last turn's (an episode of one turn: its render twice)."""
    return [row.get("_turn1_image", row["_image"]) if "turn_codes" in row else row["_image"], row["_image"]]


def reward_table(step: int, logs: dict, rows: list[dict]) -> Table:
    """The table `callbacks.RewardTable` prints; also used by `python -m earthshader.logs`."""
    table = Table(title=f"step {step}", title_justify="left", show_edge=False)
    table.add_column("reward")
    table.add_column("mean", justify="right")
    table.add_column("std", justify="right")
    names = sorted({k.split("/")[1] for k in logs if k.startswith("rewards/") and k.endswith("/mean")})
    for name in names:
        table.add_row(escape(name), _fmt(logs.get(f"rewards/{name}/mean")), _fmt(logs.get(f"rewards/{name}/std")))
    table.add_row("[bold]total[/]", _fmt(logs.get("reward")), _fmt(logs.get("reward_std")))
    if rows:
        ok = [r for r in rows if r.get("error") is None]  # a line read back may lack it
        table.add_row("compile rate", _fmt(len(ok) / len(rows)), "")
        ssim = sorted(r["rewards"]["ssim"] for r in rows if _finite(r["rewards"].get("ssim")))
        if ssim:
            table.add_row("ssim best / median", _fmt(ssim[-1]), _fmt(ssim[len(ssim) // 2]))
    if "episode/turns" in logs:  # look and fix: turn 1 beside the last turn ("mean" | "std" read "turn 1" | "last")
        table.add_row("[bold]episode[/]", "turn 1", "last")
        for name in ("structure", "appearance", "rendered"):
            table.add_row(f"  {name}", _fmt(logs.get(f"episode/turn1_{name}")), _fmt(logs.get(f"episode/final_{name}")))
        table.add_row("  turns, repaired", _fmt(logs.get("episode/turns")), _fmt(logs.get("episode/repaired")))
    generate_and_score = logs.get("time/generate_and_score_s")
    rewards_s = logs.get("time/rewards_s")
    step_s = logs.get("step_time")
    if _finite(generate_and_score) and _finite(rewards_s):
        table.add_row("time: generation s", _fmt(generate_and_score - rewards_s), "")
        table.add_row("time: render + rewards s", _fmt(rewards_s), "")
        if _finite(step_s):
            table.add_row("time: optimisation s", _fmt(max(0.0, step_s - generate_and_score)), "")
    return table


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value) -> str:
    """A number with three decimals; "-" for None, NaN (TRL logs NaN when every reward is None) or anything else."""
    return f"{value:.3f}" if _finite(value) else "-"
