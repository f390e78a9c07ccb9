"""Hard-target selection for GRPO: keep the targets the starting model finds hard and can learn from.

    from earthshader.training.hard_targets import decide, sample_targets, score_targets, select_hard_targets
    selection = select_hard_targets(model, processor, dataset, reward_funcs, weights, samples=4,
                                    max_mean_reward=None, min_reward_std=0.01, image_size=84)
    dataset = dataset.select(selection.kept)          # the indices kept, in dataset order
    selection.print(); selection.write("runs/grpo")   # a rich table; runs/grpo/hard_targets.jsonl

    # the three steps apart: sample once, score with any rewards, decide with any thresholds
    completions = sample_targets(model, processor, dataset, samples=4, image_size=84)
    selection = decide(score_targets(dataset, completions, reward_funcs, weights), 1.5, 0.01)

Each candidate target gets `samples` completions from the model (`earthshader.modeling.generation`, the
generation code evaluation and inference use), scored by the training rewards exactly as TRL's
`GRPOTrainer` scores a group: every reward function called with the dataset's columns
(`rewards.call_rewards`), the values weighted and summed, rewards that do not apply (None) skipped,
a completion no reward applies to left out. A target is kept when

- its group has a spread: the rewards' standard deviation (TRL's, Bessel-corrected) is above
  `min_reward_std`. A group whose samples all score the same has zero advantages: it teaches nothing;
- the model is weak on it: the mean reward is below `max_mean_reward` (None: at or below the median
  mean of the targets that pass the spread test, so the weaker half of those is kept). As in
  cadrille and RLRF, the training is spent where the model is not yet good.

In GRPO, recipes switch it on with `select_hard_targets: true` (fields `selection_samples`,
`selection_max_mean_reward`, `selection_min_reward_std`; docs/grpo.md); `select_for_grpo` is that hook.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from earthshader.cli import UsageError

logger = logging.getLogger("earthshader.grpo")

#: The JSONL file in the run directory: one line per candidate target.
SELECTION_FILE = "hard_targets.jsonl"



class SelectionError(UsageError, ValueError):
    """Hard-target selection kept no target: the recipe's thresholds (the message says which to move)."""

@dataclass
class TargetScore:
    """One candidate: its group's rewards and the decision."""

    index: int
    id: str
    rewards: list[float]  # the weighted total of each completion (NaN: no reward applied)
    mean: float
    std: float
    kept: bool = False
    reason: str = ""


@dataclass
class Selection:
    """What `select_hard_targets` decided; `kept` holds dataset indices in order."""

    scores: list[TargetScore]
    max_mean_reward: float
    min_reward_std: float
    samples: int
    seconds: float
    kept: list[int] = field(default_factory=list)
    median_ceiling: bool = False  # max_mean_reward is the median of the spread groups' means (kept when <=)

    def summary(self) -> str:
        flat = sum(1 for s in self.scores if not s.kept and s.reason.startswith("no spread"))
        good = sum(1 for s in self.scores if not s.kept and s.reason.startswith("already good"))
        return (f"hard targets: kept {len(self.kept)} of {len(self.scores)} ({flat} without reward spread, "
                f"{good} already good dropped); kept when reward std > {self.min_reward_std:g} and mean "
                f"{'at most the median' if self.median_ceiling else 'below'} {self.max_mean_reward:.3f}; "
                f"{self.samples} samples a target, {self.seconds:.1f} s")

    def print(self, console=None, rows: int = 20) -> None:
        """A rich table of the first `rows` candidates, then the summary line."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        console = console or Console()
        table = Table(title="Hard-target selection", title_justify="left")
        for column in ("target", "mean reward", "std", "rewards", "decision"):
            table.add_column(column, justify="right" if column in ("mean reward", "std") else "left")
        for s in self.scores[:rows]:
            table.add_row(escape(str(s.id)), f"{s.mean:.3f}", f"{s.std:.3f}", " ".join(f"{r:.2f}" for r in s.rewards),
                          f"[green]{s.reason}[/]" if s.kept else f"[dim]{s.reason}[/]")
        if len(self.scores) > rows:
            table.add_row("...", "", "", "", f"{len(self.scores) - rows} more in {SELECTION_FILE}")
        console.print(table)
        console.print(self.summary())

    def write(self, run_dir: str | Path) -> Path:
        """`run_dir/hard_targets.jsonl`: one line per candidate (rewards, mean, std, kept, reason)."""
        path = Path(run_dir) / SELECTION_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            for s in self.scores:
                line = {"index": s.index, "id": s.id, "mean": _finite(s.mean), "std": _finite(s.std),
                        "rewards": [_finite(r) for r in s.rewards], "kept": s.kept, "reason": s.reason,
                        "max_mean_reward": self.max_mean_reward, "min_reward_std": self.min_reward_std}
                handle.write(json.dumps(line) + "\n")
        return path


def group_rewards(reward_funcs, weights, prompt, completions: list[str], row: dict) -> list[float]:
    """The total reward of each completion for one target, as TRL's GRPOTrainer computes it."""
    from rewards import call_rewards, for_trl

    n = len(completions)
    columns = {key: [value] * n for key, value in row.items() if key not in ("prompt", "completion")}
    values = call_rewards(for_trl(reward_funcs), prompts=[prompt] * n,
                          completions=[[{"role": "assistant", "content": text}] for text in completions], **columns)
    table = np.array([[np.nan if v is None else float(v) for v in per_func] for per_func in values]).T  # n x funcs
    totals = np.nansum(table * np.asarray(weights, dtype=float)[None, :], axis=1)
    totals[np.isnan(table).all(axis=1)] = np.nan  # no reward applied: unscorable, as TRL marks it
    return [float(t) for t in totals]


def select_hard_targets(model, processor, dataset, reward_funcs, weights, *, samples: int = 4,
                        max_mean_reward: float | None = None, min_reward_std: float = 0.01,
                        image_size: int = 224, temperature: float = 1.0, max_new_tokens: int = 512,
                        batch_size: int = 8, seed: int = 0) -> Selection:
    """Score every row of `dataset` (a `prompt` and an `image` column, as GRPO's) with `samples`
    completions of `model` and decide which to keep; see the module docstring."""
    if samples < 2:
        raise ValueError(f"hard-target selection needs at least 2 samples a target for a spread, got {samples}")
    started = time.perf_counter()
    completions = sample_targets(model, processor, dataset, samples=samples, image_size=image_size,
                                 temperature=temperature, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                 seed=seed)
    scores = score_targets(dataset, completions, reward_funcs, weights)
    return decide(scores, max_mean_reward, min_reward_std, samples, time.perf_counter() - started)


def sample_targets(model, processor, dataset, *, samples: int, image_size: int, temperature: float = 1.0,
                   max_new_tokens: int = 512, batch_size: int = 8, seed: int = 0) -> list[list[str]]:
    """`samples` completions for each row's `image`, seeded; the caller's torch RNG state is kept."""
    import torch

    from earthshader.modeling.generation import generate_completions

    if len(dataset) == 0:
        raise ValueError("hard-target selection got no candidate targets")
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):  # the trainer's RNG stream is left as it was
        torch.manual_seed(seed)
        return generate_completions(model, processor, [dataset[i]["image"] for i in range(len(dataset))],
                                    image_size=image_size, k=samples, temperature=temperature,
                                    max_new_tokens=max_new_tokens, batch_size=batch_size)


def score_targets(dataset, completions: list[list[str]], reward_funcs, weights) -> list[TargetScore]:
    """Each row's group of completions scored by the training rewards: totals, mean and std."""
    if len(weights) != len(reward_funcs):
        raise ValueError(f"got {len(weights)} reward weights for {len(reward_funcs)} rewards")
    if len(completions) != len(dataset):
        raise ValueError(f"got completions for {len(completions)} targets, but {len(dataset)} targets")
    scores = []
    for i, texts in enumerate(completions):
        row = dataset[i]
        totals = group_rewards(reward_funcs, weights, row["prompt"], texts, row)
        scorable = [t for t in totals if not math.isnan(t)]
        mean = float(np.mean(scorable)) if scorable else math.nan
        std = float(np.std(scorable, ddof=1)) if len(scorable) > 1 else 0.0
        scores.append(TargetScore(i, str(row.get("id", i)), totals, mean, std))
    return scores


def decide(scores: list[TargetScore], max_mean_reward: float | None = None, min_reward_std: float = 0.01,
           samples: int | None = None, seconds: float = 0.0) -> Selection:
    """Keep the targets with reward std above `min_reward_std` and mean below `max_mean_reward` (None:
    at or below the median mean of the targets with that spread). Sets each score's `kept` and `reason`."""
    spread = [s.mean for s in scores if not math.isnan(s.mean) and s.std > min_reward_std]
    median_ceiling = max_mean_reward is None
    if median_ceiling:  # the weaker half of the targets that can teach at all
        max_mean_reward = float(np.median(spread)) if spread else math.inf
    for s in scores:
        s.kept = False
        if math.isnan(s.mean):
            s.reason = "no reward applied to any sample"
        elif not s.std > min_reward_std:
            s.reason = f"no spread: std {s.std:.3f} <= {min_reward_std:g}"
        # the median itself is kept too (with two targets, or several sharing it, a strict < would drop it)
        elif not (s.mean <= max_mean_reward if median_ceiling else s.mean < max_mean_reward):
            s.reason = f"already good: mean {s.mean:.3f}, ceiling {max_mean_reward:.3f}"
        else:
            s.kept = True
            s.reason = f"kept: std {s.std:.3f}, mean {s.mean:.3f}"
    samples = samples if samples is not None else max((len(s.rewards) for s in scores), default=0)
    return Selection(scores, float(max_mean_reward), float(min_reward_std), samples, seconds,
                     kept=[s.index for s in scores if s.kept], median_ceiling=median_ceiling)


def select_for_grpo(model, processor, dataset, reward_funcs, script_args, training_args, console=None):
    """GRPO's hook: select with the recipe's fields, print and log the decisions, return the kept rows."""
    selection = select_hard_targets(
        model, processor, dataset, reward_funcs, training_args.reward_weights, samples=script_args.selection_samples,
        max_mean_reward=script_args.selection_max_mean_reward, min_reward_std=script_args.selection_min_reward_std,
        image_size=script_args.image_size, temperature=training_args.temperature or 1.0,
        max_new_tokens=training_args.max_completion_length, seed=training_args.seed)
    if int(getattr(training_args, "process_index", 0)) == 0:
        selection.print(console)
        path = selection.write(training_args.output_dir)
        logger.info("%s; decisions in %s", selection.summary(), path)
    if not selection.kept:
        raise SelectionError(f"hard-target selection kept none of {len(dataset)} targets (see "
                         f"{Path(training_args.output_dir) / SELECTION_FILE}): raise selection_max_mean_reward "
                         f"or lower selection_min_reward_std (with no spread at all, more selection_samples or a "
                         f"higher temperature)")
    return dataset.select(selection.kept)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
