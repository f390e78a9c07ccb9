"""Does an answer depend on its picture? Each target's first answer scored against another picture of its kind.

    from earthshader.evaluation.picture_dependence import picture_dependence
    dependence = picture_dependence(scored, targets, scorers)    # `scored[i]`: target i's rows (`score_programs`)
    dependence["appearance"]["gain"], dependence["appearance"]["standard_error"], dependence["appearance"]["perfect"]
    paired_change(before["appearance"]["target_gain"], after["appearance"]["target_gain"])   # two models, paired

A model can score above the flat colour without looking: a favourite program in the right palette does. The
question this answers is whether the answers are this picture's: each target's first answer is scored a second
time, against its partner (the next target of the same `source`, in the evaluation's order, the last one's partner
the first), and `gain` is own figure minus partner's figure, paired by target (`statistics.paired_change`: mean ±
standard error over targets); one answer a target keeps the cost at one more scoring a target, whatever K is.
Because partners go round in a cycle, a model that gives every picture of a source the same program scores exactly
0 when none of them is flat (each render is counted once against its own picture and once against another's);
answers that fit their own pictures score above 0. `perfect` is the gain the targets themselves would score (1
against their own picture, less their figure against the partner's): the scale of the figure for these pictures,
small when the pictures of a kind look alike. A source with one target has no partner; a flat target has no
figures (NaN, skipped).
"""

from __future__ import annotations

import math

from earthshader.evaluation.scoring import FIGURES
from earthshader.evaluation.statistics import paired_change, scored_mean


def partners(targets) -> list[int | None]:
    """Each target's partner: the next target of its source in order, the last one's the first; None alone.

    >>> from types import SimpleNamespace as T
    >>> partners([T(source="a"), T(source="b"), T(source="a"), T(source="a"), T(source="c")])
    [2, None, 3, 0, None]
    """
    by_source: dict[object, list[int]] = {}
    for i, target in enumerate(targets):
        by_source.setdefault(target.source, []).append(i)
    partner: list[int | None] = [None] * len(targets)
    for members in by_source.values():
        if len(members) > 1:
            for position, i in enumerate(members):
                partner[i] = members[(position + 1) % len(members)]
    return partner


def picture_dependence(scored, targets, scorers) -> dict:
    """{figure: {"own", "other", "gain", "standard_error", "n", "perfect", "target_gain"}} for both figures (module
    docstring; `target_gain[i]`: target i's own figure minus its partner's, NaN without one, for pairing two models
    by target); empty when no target has a partner. `scorers[i]` is target i's `TargetScorer`; `scored[i][0]`, its first
    answer's row, holds the render scored against the partner's scorer (with the target itself)."""
    partner = partners(targets)
    if all(j is None for j in partner):
        return {}
    nan = [math.nan] * len(targets)
    own = {figure: list(nan) for figure in FIGURES}
    other = {figure: list(nan) for figure in FIGURES}
    itself = {figure: list(nan) for figure in FIGURES}  # the target's own image against its partner's scorer
    for i, (rows, j) in enumerate(zip(scored, partner)):
        if j is None or not rows:
            continue
        figures = scorers[j].figures([rows[0].image, scorers[i].target], FIGURES)
        for figure in FIGURES:
            own[figure][i] = getattr(rows[0], figure)
            other[figure][i], itself[figure][i] = (float(value) for value in figures[figure])
    result = {}
    for figure in FIGURES:
        change = paired_change(other[figure], own[figure])
        result[figure] = {"own": scored_mean(own[figure]), "other": scored_mean(other[figure]), "gain": change.mean,
                          "standard_error": change.standard_error, "n": change.n,
                          "perfect": scored_mean([1.0 - value for value in itself[figure]]),
                          "target_gain": [a - b for a, b in zip(own[figure], other[figure])]}
    return result


def dependence_line(dependence: dict) -> str:
    """The report's sentence on it ("" when there is nothing to say).

    >>> figure = {"own": 0.1, "other": -0.2, "gain": 0.3, "standard_error": 0.05, "n": 8, "perfect": 1.2}
    >>> dependence_line({"structure": figure, "appearance": figure})[:60]
    'Reads the picture: own figure minus another picture of its k'
    """
    if not dependence:
        return ""
    gains = ", ".join(f"{name} {entry['gain']:+.3f} ± {entry['standard_error']:.3f}"
                      for name, entry in dependence.items())
    perfect = ", ".join(f"{entry['perfect']:+.3f}" for entry in dependence.values())
    n = max(entry["n"] for entry in dependence.values())
    return (f"Reads the picture: own figure minus another picture of its kind's, paired over {n} targets: {gains} "
            f"(the targets themselves: {perfect}; 0: every picture gets the same answer).")
