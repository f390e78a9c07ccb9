"""Look and fix in `infer --turns N`: K episodes a picture, what each turn found, and the strip of turns.

    from earthshader.answering.turns import episode_programs, turn_picks, turn_strip, turns_table
    episodes = run_episodes(model, processor, pictures, EpisodeSettings(max_turns=2, samples=4), pool=pool)
    mine = episodes[i * 4:(i + 1) * 4]                       # picture i's K episodes (picture-major)
    codes, images = episode_programs(mine)                   # their last turns: what `answer` picks from
    picks = turn_picks(mine, "mix")                          # per turn: the best of K by the objective
    picks[1].figures["structure"], picks[1].rendered         # its figures, and how many of the K rendered
    turn_strip(target, mine[0])                              # target | turn 1 | turn 2 ... as one image

With `--turns N` each of the K samples of `earthshader.answering.inference` is a look-and-fix episode
(`earthshader.episodes.runner`): the model sees the render of its answer beside the picture and writes a whole
new program, N answers in all. The K last turns are the programs the one answer pipeline picks from
(`earthshader.answering.answer`: the best by the objective, then refinement and the search as without turns).
Every turn is reported as the pick would be had the episode stopped there: the turn's best program of the K by
the objective (a rendered one; when none of the K rendered, its figures are a black image's, as the evaluation
counts a failure), and the change of each figure from turn 1, per picture and, over the pictures, paired with
its standard error (`earthshader.evaluation.statistics.paired_change`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from earthshader.evaluation.objectives import objective_value, ranking_key
from earthshader.evaluation.scoring import FIGURES
from earthshader.evaluation.statistics import paired_change, scored_mean


@dataclass
class TurnPick:
    """One turn of a picture's K episodes: the episode the objective picks (the first when none rendered), how
    many of the K rendered, and the picked turn's objective value and figures."""

    turn: int
    episode: int
    rendered: int
    samples: int
    score: float
    figures: dict


def episode_programs(episodes) -> tuple[list[str], list[np.ndarray | None]]:
    """The programs of the episodes' last turns and their renders (None where one did not render): `answer`'s
    `programs` and `images`, so nothing is rendered twice."""
    finals = [episode.final for episode in episodes]
    return [turn.code for turn in finals], [turn.result.image if turn.rendered else None for turn in finals]


def turn_picks(episodes, objective: str) -> list[TurnPick]:
    """Per turn, the pick of the K episodes (see the module docstring)."""
    picks = []
    for t in range(len(episodes[0].turns)):
        turns = [episode.turns[t] for episode in episodes]
        values = [objective_value(objective, turn.scores) if turn.rendered else float("nan") for turn in turns]
        rendered = [k for k, turn in enumerate(turns) if turn.rendered]
        best = max(rendered, key=lambda k: ranking_key(values[k])) if rendered else 0
        picks.append(TurnPick(t + 1, best, len(rendered), len(turns), values[best],
                              {name: float(turns[best].scores[name]) for name in FIGURES}))
    return picks


def turn_strip(target: np.ndarray, episode) -> np.ndarray:
    """target | turn 1 | turn 2 ... side by side (a turn that drew nothing is black)."""
    target = np.asarray(target)
    tiles = [turn.result.image if turn.rendered else np.zeros_like(target) for turn in episode.turns]
    return np.concatenate([target, *tiles], axis=1)


def turns_table(results, objective: str):
    """A rich table: per picture and turn, the pick's figures and how many of the K rendered, the change from
    turn 1; then per turn over all pictures, the mean figures and the paired change ± its standard error."""
    from rich.markup import escape
    from rich.table import Table

    results = [item for item in results if item.turns]
    turns = len(results[0].turns) if results else 0
    table = Table(title=f"Every turn: the best of each turn's samples by {objective} (a turn that drew nothing "
                        "scores as a black image)", title_justify="left")
    for column in ("image", "turn", "rendered", "structure", "appearance", "structure - turn 1",
                   "appearance - turn 1"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for item in results:
        first = item.turns[0].figures
        for pick in item.turns:
            table.add_row(escape(item.name) if pick.turn == 1 else "", str(pick.turn),
                          f"{pick.rendered}/{pick.samples}",
                          *(_value(pick.figures[name]) for name in FIGURES),
                          *(_value(pick.figures[name] - first[name], "+.3f") for name in FIGURES),
                          end_section=pick.turn == turns)
    if len(results) > 1:
        for t in range(turns):
            picks = [item.turns[t] for item in results]
            rendered = sum(p.rendered for p in picks), sum(p.samples for p in picks)
            changes = [str(paired_change([item.turns[0].figures[name] for item in results],
                                         [p.figures[name] for p in picks])) for name in FIGURES]
            table.add_row(f"all {len(results)}" if t == 0 else "", str(t + 1), f"{rendered[0]}/{rendered[1]}",
                          *(_value(scored_mean([p.figures[name] for p in picks])) for name in FIGURES), *changes)
    return table


def _value(value: float, form: str = ".3f") -> str:
    return "-" if value is None or value != value else format(value, form)
