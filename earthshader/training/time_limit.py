"""The time limit of a training run (`time_limit_minutes`): no piece of work starts that would end past it.

SFT and GRPO check it after every optimiser step (`earthshader.training.callbacks.TimeLimit`), expert iteration
before every round (`earthshader.training.expert_runs.over_time`); each expects the next piece to take as long
as the average one so far, and the first one always runs.

    >>> past_limit(spent_s=240.0, next_s=50.0, minutes=5)   # 290 s: the next step still fits in 300 s
    False
    >>> past_limit(spent_s=260.0, next_s=50.0, minutes=5)
    True
    >>> past_limit(spent_s=1e9, next_s=1.0, minutes=0)      # 0: no limit
    False
"""

from __future__ import annotations


def past_limit(spent_s: float, next_s: float, minutes: float) -> bool:
    """Whether work expected to take `next_s` seconds, started after `spent_s`, would end past `minutes`."""
    return minutes > 0 and spent_s + next_s > 60 * minutes
