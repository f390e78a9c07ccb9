"""The trainer callbacks of a training run: `metrics.jsonl`, the reward table, a quiet progress bar, the time limit.

    trainer.add_callback(MetricsLog(run_dir))                 # metrics.jsonl, one line per logging step
    trainer.add_callback(RewardTable(sample_log))             # a rich table at each logging step (GRPO)
    trainer.add_callback(TimeLimit(minutes=5))                # no step starts that would end past 5 minutes

What they write and print is `earthshader.training.run_log`'s (read back by `python -m earthshader.logs`).
Importing this module imports transformers: training stages import it after the backend is selected.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from earthshader.training.run_log import METRICS_FILE, SampleLog, append_lines, reward_table
from earthshader.training.time_limit import past_limit


class MetricsLog(TrainerCallback):
    """Appends the trainer's logs to `metrics.jsonl` (one line per logging step, with its step)."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / METRICS_FILE

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            append_lines(self.path, [{"step": state.global_step, "time": time.time(), **logs}])


class QuietProgress(ProgressCallback):
    """transformers' progress bar without its dump of every log dict (RewardTable shows them).

    Only for a terminal: in a log file a progress bar is a stream of carriage returns, and the reward
    table already names each logging step.
    """

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


class RewardTable(TrainerCallback):
    """At each logging step, a rich table of the rewards, render outcomes, times and the best sample."""

    def __init__(self, sample_log: SampleLog, console: Console | None = None, show_code: bool = True):
        self.sample_log = sample_log
        self.console = console or Console()
        self.show_code = show_code

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs and "reward" not in logs:
            return
        rows, self.sample_log.recent = self.sample_log.recent, []
        self.console.print(reward_table(state.global_step, logs, rows))
        if self.show_code and rows:
            best = max(rows, key=lambda r: r["total"])
            self.console.print(f"best sample (prompt {escape(best['prompt_id'])}, total {best['total']:.3f}):")
            self.console.print(Syntax(best["code"] or best["completion"] or "(empty)", "glsl",
                                      theme="ansi_dark", line_numbers=False, word_wrap=True))


class TimeLimit(TrainerCallback):
    """Stops training before a step that would end past `minutes` of training in this process (0: no limit),
    expecting it to take as long as the average step so far; the first step always runs (`time_limit.past_limit`).
    The trainer then ends as after its last step: the stage saves the model as usual."""

    def __init__(self, minutes: float, clock=time.monotonic):
        self.minutes, self.clock = minutes, clock
        self.started, self.first_step = None, 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started, self.first_step = self.clock(), state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        steps, spent = state.global_step - self.first_step, self.clock() - self.started
        if steps > 0 and past_limit(spent, spent / steps, self.minutes):
            control.should_training_stop = True
