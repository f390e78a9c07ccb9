"""What an answer to a picture is chosen and fitted for: `structure`, `appearance` or `mix`.

    from earthshader.evaluation.objectives import OBJECTIVES, objective_value, objective_values
    scores = scorer.scores(image)                      # a `TargetScorer`'s figures for one render
    objective_value("mix", scores)                     # the mean of its structure and appearance
    objective_values("appearance", scorer, renders)    # one value per render, only the figures it needs

Each objective is a function of the evaluation scorer's two figures (`earthshader.evaluation.scoring`), so
every command that answers a picture (`infer`, `refine`, the search baseline of `eval`, expert iteration's
teacher, the benchmarks) picks and fits by the numbers the evaluation reports:

- `structure`: the structure figure (the mean of the SSIM, edge and pixel skills over the target's
  mean-colour image): do the features line up? For a picture with a layout: a rendered scene, a shape in
  a place, a terrain seen from a camera.
- `appearance`: the appearance figure (texture statistics and palette, `earthshader.image.appearance`): is
  it the same stuff, wherever its features sit? For a stochastic texture, where any phase, offset or seed
  of the right process is right.
- `mix`: the mean of the two: the right look in the right place. For a photograph, or a picture of
  unknown kind; the default everywhere, because each figure alone can be satisfied by an answer that fails
  the other (a blur of the right layout; the right texture anywhere).

All three are 0 for the target's mean-colour image and 1 for the target itself; NaN for a flat target
(nothing beats its own colour), and `mix` is NaN when either figure is.

>>> objective_value("mix", {"structure": 0.2, "appearance": 0.6})
0.4
>>> objective_value("appearance", {"structure": 0.2, "appearance": 0.6})
0.6
>>> check_objective("ssim")
Traceback (most recent call last):
earthshader.evaluation.objectives.ObjectiveError: unknown objective 'ssim': choose structure, appearance or mix
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from earthshader.errors import UsageError

#: The objectives, in the order commands list them.
OBJECTIVES = ("structure", "appearance", "mix")
#: The objective every command uses unless told otherwise (docs/eval.md, "Which figure for which picture").
DEFAULT_OBJECTIVE = "mix"
#: The scorer's figures each objective reads.
FIGURES_OF = {"structure": ("structure",), "appearance": ("appearance",), "mix": ("structure", "appearance")}
#: One line per objective, for help texts and captions.
DESCRIPTIONS = {
    "structure": "structure: do the features line up (SSIM, edge and pixel skills)",
    "appearance": "appearance: the same texture and palette anywhere",
    "mix": "mix: the mean of structure and appearance",
}


class ObjectiveError(UsageError, ValueError):
    """An unknown objective, or one the target cannot be scored on (appearance on a target under 32 px)."""


def check_objective(name: str) -> str:
    """`name` if it is an objective, else an `ObjectiveError` naming the valid ones."""
    if name not in OBJECTIVES:
        raise ObjectiveError(f"unknown objective {name!r}: choose {', '.join(OBJECTIVES[:-1])} or {OBJECTIVES[-1]}")
    return name


def objective_value(name: str, scores: Mapping[str, float]) -> float:
    """The objective's value from a scorer's figures (`scores["structure"]`, `scores["appearance"]`)."""
    values = [float(scores[figure]) for figure in FIGURES_OF[check_objective(name)]]
    return math.nan if any(math.isnan(v) for v in values) else float(np.mean(values))


def objective_values(name: str, scorer, images) -> np.ndarray:
    """The objective's value for each of `images`, computing only the figures it reads, in one batched call of
    the scorer (`TargetScorer.figures`)."""
    figures = scorer.figures(images, FIGURES_OF[check_objective(name)])
    stacked = np.stack([np.asarray(figures[f], dtype=float) for f in FIGURES_OF[name]])
    return stacked.mean(axis=0)  # NaN wherever a figure is NaN


def ranking_key(value: float) -> float:
    """A value to sort by: NaN (nothing scored) below every number.

    >>> sorted([0.2, math.nan, -0.5], key=ranking_key)
    [nan, -0.5, 0.2]
    """
    return -math.inf if math.isnan(value) else value
