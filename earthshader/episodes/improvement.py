"""The episode's own rewards and logs: what the last turn gained over the first, and the first turn's figure,
read from the completions.

    from earthshader.episodes.improvement import FirstTurnReward, ImprovementReward
    reward_funcs = [*picture_mix, ImprovementReward(), FirstTurnReward()]  # improvement at weight 0: logged only
    reward_weights = [*mix_weights, improvement_weight, first_turn_weight]

TRL calls it as any reward (`completions`, the dataset columns, `environments`, `log_metric`). For each
episode it reads every turn's program from the completion (`earthshader.glsl.extract.turn_texts`: a program
TRL parsed into the tool call `glsl(code)` reads as its fenced block), never the environment's count: TRL
rolls back an observation that would overflow `max_completion_length` and the environment keeps its record.
Its value is `figure(last turn) - figure(turn 1)`, where `figure` is the mean of the structure and appearance
skills (`earthshader.episodes.observation.picture_figures`; a program that drew nothing scores as a black
image); 0 for an episode of one turn; None for a flat target.

`FirstTurnReward` is `figure(turn 1)` alone. Rewarding the improvement alone rewards a worse first answer as
much as a better last one (GRPO gives every token of an episode the same advantage): with weights w on
`improvement` and w1 on `first_turn` the episode earns w figure(last turn) + (w1 - w) figure(turn 1) beyond
the picture mix, so w1 > w keeps a better first answer worth having. Its figures are the ones the observation
already computed (read from the rollout's environment), so it renders nothing when turn 1 was observed.

Logged beside the rewards each step (`log_metric`, means over the batch): `episode/turns`,
`episode/turn1_structure` and `episode/final_structure`, `episode/turn1_appearance` and
`episode/final_appearance`, `episode/turn1_rendered` and `episode/final_rendered`, `episode/repaired` (of the
episodes whose turn 1 drew nothing, the share whose last turn rendered), `episode/rolled_back` (episodes whose
environment rendered more programs than the completion shows observations), `time/observation_s` (the
environments' render and observation time), `time/episode_scoring_s` (this reward's own) and, within it,
`time/episode_render_s` (its one render call: mostly the final programs, which a single-turn step renders too;
the picture rewards then read them from the cache).
"""

from __future__ import annotations

import math
import time

import numpy as np

from earthshader.episodes.observation import FIGURES, TargetFigures
from earthshader.glsl.extract import extract_glsl, turn_texts
from rewards.cache import RenderRequest, shared_cache
from rewards.inputs import NOT_COLUMNS, RewardError, UnscorableTarget, as_image_array, column_rows, times_of


def episode_figure(figures: dict) -> float:
    """The one number an episode's turn is judged by: the mean of its figures that exist (NaN if none)."""
    values = [figures[name] for name in FIGURES if not math.isnan(figures[name])]
    return float(np.mean(values)) if values else math.nan


class ImprovementReward:
    """`figure(last turn) - figure(turn 1)` per episode, with the turn-1 and final figures logged (module docstring)."""

    name = "improvement"
    #: The turns scored: the first and the last (`FirstTurnReward`: the first alone), and whether the episode's
    #: figures and times are logged (once a step: by this reward, not by `FirstTurnReward`).
    scores_last = logs_episodes = True

    def __init__(self):
        self.__name__ = self.name

    def __call__(self, prompts=None, completions=None, environments=None, log_metric=None, **kwargs):
        if completions is None:
            raise RewardError(f"reward {self.name!r} was called without `completions`")
        started = time.perf_counter()
        environments = list(environments or [None] * len(completions))
        for environment in environments:
            if environment is not None and environment.error is not None:
                raise RewardError(f"the look-and-fix environment failed: {type(environment.error).__name__}: "
                                  f"{environment.error}") from environment.error
        rows = column_rows({k: v for k, v in kwargs.items() if k not in NOT_COLUMNS}, len(completions))
        episodes = [self._episode(c, row, env) for c, row, env in zip(completions, rows, environments)]
        render_seconds = self._score(episodes, last=self.scores_last)
        if log_metric is not None and self.logs_episodes:
            self._log(log_metric, episodes, environments, time.perf_counter() - started, render_seconds)
        return [self._value(episode) if "turn1" in episode else None for episode in episodes]

    @staticmethod
    def _value(episode: dict) -> float | None:
        gain = episode_figure(episode["final"]) - episode_figure(episode["turn1"])
        return None if math.isnan(gain) else float(gain)

    def _episode(self, completion, row: dict, environment) -> dict:
        """An episode's turns read from its completion, its target, and turn 1's figures when the environment
        already scored that very program; `_score` fills in the rest."""
        turns = turn_texts(completion) if isinstance(completion, (str, list, tuple, dict)) else []
        codes = [extract_glsl(text).code for text in turns] or [""]
        observed = sum(1 for m in completion if isinstance(m, dict) and m.get("role") == "tool") \
            if isinstance(completion, (list, tuple)) else 0
        recorded = len(environment.turns) if environment is not None else observed
        episode = {"turns": len(codes), "rolled_back": recorded > observed,
                   "codes": (codes[0], codes[-1]) if len(codes) > 1 else (codes[0],)}
        try:
            target, episode["times"] = self._target(row)
        except UnscorableTarget:
            return episode
        episode["scorer"] = TargetFigures.of(target)
        known = environment.turns[0] if environment is not None and environment.turns else None
        episode["scored"] = ({0: (known["figures"], True)} if known is not None and known["code"] == codes[0]
                             and known["figures"] is not None else {})  # turn: (figures, rendered)
        return episode

    @staticmethod
    def _score(episodes: list[dict], last: bool = True) -> float:
        """Every scorable episode's turn-1 figures (and with `last` its final ones): the programs not yet scored
        rendered in one call of the shared cache (in parallel), their figures in one batched call per target.
        Returns the seconds that render call took."""
        jobs = [(episode, turn) for episode in episodes if "scorer" in episode
                for turn in (range(len(episode["codes"])) if last else (0,)) if turn not in episode["scored"]]
        requests = []
        for episode, turn in jobs:
            code, (height, width) = episode["codes"][turn], episode["scorer"].target.shape[:2]
            requests.append(RenderRequest(code, width, height, episode["times"]) if code else None)
        began = time.perf_counter()
        results = shared_cache().render(requests) if requests else []
        render_seconds = time.perf_counter() - began
        rendered: dict[TargetFigures, list[tuple[dict, int, np.ndarray]]] = {}
        for (episode, turn), result in zip(jobs, results):
            if result.ok:
                rendered.setdefault(episode["scorer"], []).append((episode, turn, result.image))
            else:
                episode["scored"][turn] = (episode["scorer"].failed(), False)
        for scorer, items in rendered.items():
            for (episode, turn, _), figures in zip(items, scorer.figures([image for _, _, image in items])):
                episode["scored"][turn] = (figures, True)
        for episode in episodes:
            if "scorer" in episode:
                scored = episode["scored"]
                (episode["turn1"], episode["turn1_rendered"]) = scored[0]
                if last:
                    (episode["final"], episode["final_rendered"]) = scored[len(episode["codes"]) - 1]
        return render_seconds

    @staticmethod
    def _target(row: dict):
        frames = row.get("frames")
        image = frames[0] if frames else row.get("image", (row.get("images") or [None])[0])
        if image is None:
            raise UnscorableTarget("no target image")
        try:
            return as_image_array(image), (times_of(row["times"]) if "times" in row else (0.0,))
        except ValueError as error:
            raise UnscorableTarget(str(error)) from None

    @staticmethod
    def _log(log_metric, episodes: list[dict], environments: list, seconds: float, render_seconds: float) -> None:
        scored = [e for e in episodes if "turn1" in e]
        log_metric("episode/turns", float(np.mean([e["turns"] for e in episodes])))
        log_metric("episode/rolled_back", float(np.mean([e["rolled_back"] for e in episodes])))
        for when in ("turn1", "final"):
            for name in FIGURES:
                values = [e[when][name] for e in scored if not math.isnan(e[when][name])]
                if values:
                    log_metric(f"episode/{when}_{name}", float(np.mean(values)))
            if scored:
                log_metric(f"episode/{when}_rendered", float(np.mean([e[f"{when}_rendered"] for e in scored])))
        failed_first = [e for e in scored if not e["turn1_rendered"] and e["turns"] > 1]
        if failed_first:
            log_metric("episode/repaired", float(np.mean([e["final_rendered"] for e in failed_first])))
        log_metric("time/observation_s", float(sum(env.seconds for env in environments if env is not None)))
        log_metric("time/episode_scoring_s", seconds)
        log_metric("time/episode_render_s", render_seconds)


class FirstTurnReward(ImprovementReward):
    """`figure(turn 1)` per episode: the first program's figure, as its observation scored it (module docstring).

    Weighted above `improvement`, it keeps a worse first answer from paying; it logs nothing of its own (the
    improvement reward logs both turns' figures).
    """

    name = "first_turn"
    scores_last = logs_episodes = False

    @staticmethod
    def _value(episode: dict) -> float | None:
        figure = episode_figure(episode["turn1"])
        return None if math.isnan(figure) else figure
