"""Look-and-fix episodes for inference, evaluation and benchmarks: answer a picture, see the render, answer again.

    from earthshader.episodes.runner import EpisodeSettings, run_episodes, turn_table
    settings = EpisodeSettings(max_turns=2, image_size=84)
    episodes = run_episodes(model, processor, images, settings, pool=pool)     # one episode per picture
    episodes[0].turns[0].code, episodes[0].turns[1].figures, episodes[0].turns[0].observation.text
    table = turn_table(episodes)        # {"structure": targets x turns, "appearance": ..., "rendered": ...}
    episodes, table = score_turns(model, processor, targets, settings, pool=pool)   # evaluation targets

Turn 1 is today's answer (`earthshader.modeling.generation`, the shared prompt). Each later turn sees the
conversation so far: the picture and instruction, every earlier answer, and after each one its observation
(`earthshader.episodes.observation.observe`: the render and the difference map as images, and the figures or
the renderer's messages), and writes a whole new program. Every turn is generated for all pictures at once,
then rendered in one `render_many` call over the pool's workers; every episode runs `max_turns` turns (an
answer with no program is observed as such, where GRPO's episodes end: docs/look-and-fix.md).

`first_answers` replaces turn 1 with given answers (the benchmark's broken programs: does turn 2 repair
them?); `blank_observations` shows black images in every observation, with the same words (does the next
turn use what it sees?). Each turn keeps its answer, program, render, figures and observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from earthshader.episodes.observation import FIGURES, Observation, TargetFigures, observe
from earthshader.glsl.extract import extract_glsl
from earthshader.modeling import generation, prompts


@dataclass
class EpisodeSettings:
    """How episodes are run: turns, image sizes (the observation's by `prompts.observation_image_size`),
    sampling, and the controls."""

    max_turns: int = 2
    image_size: int = prompts.DEFAULT_IMAGE_SIZE
    observation_size: int | None = None
    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    batch_size: int = 8
    blank_observations: bool = False

    def __post_init__(self):
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")

    @property
    def observation_side(self) -> int:
        return prompts.observation_image_size(self.image_size, self.observation_size)


@dataclass
class Turn:
    """One answer of an episode, its program, its render (None: nothing to render) and what was observed."""

    answer: str
    code: str
    result: object = field(repr=False)
    observation: Observation = field(repr=False)

    scores: dict = field(default_factory=dict)  # the figures as the evaluation counts them (a failure: black)

    @property
    def figures(self) -> dict | None:
        """The figures the observation showed (None when nothing rendered)."""
        return self.observation.figures

    @property
    def rendered(self) -> bool:
        return self.observation.failure is None


@dataclass
class Episode:
    turns: list[Turn]

    @property
    def final(self) -> Turn:
        return self.turns[-1]


def run_episodes(model, processor, images, settings: EpisodeSettings, *, pool, times: list[float] | None = None,
                 first_answers: list[str] | None = None, sampler=None) -> list[Episode]:
    """One episode of `settings.max_turns` turns for each picture (see the module docstring).

    `times[i]` is picture i's `iTime` (default 0); `sampler` stands in for `generation.generate_replies`.
    """
    sampler = sampler or generation.generate_replies
    targets = [np.asarray(prompts.prepare_image(image, settings.image_size)) for image in images]
    times = [0.0] * len(targets) if times is None else [float(t) for t in times]
    if len(times) != len(targets) or (first_answers is not None and len(first_answers) != len(targets)):
        raise ValueError(f"{len(targets)} pictures, {len(times)} times"
                         + ("" if first_answers is None else f", {len(first_answers)} first answers"))
    scorers = [TargetFigures.of(t) for t in targets]
    conversations = [prompts.make_prompt() for _ in targets]
    shown = [[prompts.prepare_image(t, settings.image_size)] for t in targets]
    episodes = [Episode([]) for _ in targets]
    for turn in range(settings.max_turns):
        if turn == 0 and first_answers is not None:
            answers = list(first_answers)
        else:
            replies = sampler(model, processor, conversations, shown, k=1, max_new_tokens=settings.max_new_tokens,
                              temperature=settings.temperature, top_p=settings.top_p, batch_size=settings.batch_size)
            answers = [row[0] for row in replies]
        codes = [extract_glsl(answer).code for answer in answers]
        results = render_at_times(pool, codes, targets, times)
        for i, (answer, code, result) in enumerate(zip(answers, codes, results)):
            observation = observe(targets[i], code, result, scorers[i], size=settings.observation_side)
            scores = observation.figures or scorers[i].failed()
            episodes[i].turns.append(Turn(answer, code, result, observation, scores))
            if turn + 1 < settings.max_turns:
                seen = observation.blanked() if settings.blank_observations else observation
                conversations[i] = [*conversations[i], prompts.make_answer_turn(answer),
                                    prompts.make_observation_turn(seen.text, len(seen.images))]
                shown[i] = [*shown[i], *seen.images]
    return episodes


def render_at_times(pool, codes: list[str], targets: list[np.ndarray], times: list[float]) -> list:
    """Each non-empty program rendered at its target's size and time, one `render_many` call per (size, time);
    None where there is no program."""
    results: list = [None] * len(codes)
    groups: dict[tuple, list[int]] = {}
    for i, code in enumerate(codes):
        if code:
            groups.setdefault((*targets[i].shape[:2], times[i]), []).append(i)
    for (height, width, time), indices in groups.items():
        rendered = pool.render_many([codes[i] for i in indices], width=width, height=height, time=time)
        for i, result in zip(indices, rendered):
            results[i] = result
    return results


def turn_table(episodes: list[Episode]) -> dict[str, np.ndarray]:
    """Per figure (and `rendered`), a pictures x turns array: the figure of every turn as the evaluation counts
    it (a turn that drew nothing scores as a black image; NaN for a flat target, or past an episode's last turn),
    and whether it rendered (0 or 1)."""
    turns = max((len(e.turns) for e in episodes), default=0)
    table = {name: np.full((len(episodes), turns), np.nan) for name in (*FIGURES, "rendered")}
    for i, episode in enumerate(episodes):
        for t, turn in enumerate(episode.turns):
            table["rendered"][i, t] = float(turn.rendered)
            for name in FIGURES:
                table[name][i, t] = turn.scores[name]
    return table


def score_turns(model, processor, targets, settings: EpisodeSettings, *, pool) -> tuple[list[Episode], dict]:
    """Episodes for targets that carry `.image` and `.time` (evaluation targets, data rows), and their
    `turn_table`: what `eval --turns N` and the benchmarks report for every turn."""
    episodes = run_episodes(model, processor, [t.image for t in targets], settings, pool=pool,
                            times=[float(getattr(t, "time", 0.0) or 0.0) for t in targets])
    return episodes, turn_table(episodes)
