"""Look-and-fix episodes for inference, evaluation and benchmarks: answer a picture, see the render, answer again.

    from earthshader.episodes.runner import EpisodeSettings, run_episodes, turn_table
    settings = EpisodeSettings(max_turns=2, image_size=84)
    episodes = run_episodes(model, processor, images, settings, pool=pool)     # one episode per picture
    episodes[0].turns[0].code, episodes[0].turns[1].figures, episodes[0].turns[0].observation.text
    table = turn_table(episodes)        # {"structure": episodes x turns, "appearance": ..., "rendered": ...}
    EpisodeSettings(max_turns=2, samples=4, temperature=1.0)   # 4 episodes a picture, picture-major
    check_episode_fits(model, processor, settings)              # a `UsageError` when turns overflow the model

Turn 1 is today's answer (`earthshader.modeling.generation`, the shared prompt): with `samples` K, turn 1 is
drawn as `generate_completions` draws K answers from one prompt (the same call, so the same seed gives the
same turn 1 as a single-turn run), and each of the K answers starts an episode of its own. Each later turn sees
the conversation so far: the picture and instruction, every earlier answer, and after each one its observation
(`earthshader.episodes.observation.observe`: the render and the difference map as images, and the figures or
the renderer's messages), and writes a whole new program, one reply an episode. Every turn is generated for
all episodes at once, then rendered in one `render_many` call over the pool's workers; every episode runs
`max_turns` turns (an answer with no program is observed as such, where GRPO's episodes end:
docs/look-and-fix.md). Episodes come back picture-major: picture i's K episodes are `i * K` to `i * K + K - 1`.

`first_answers` replaces turn 1 with given answers (the benchmark's broken programs: does turn 2 repair
them?); `blank_observations` shows black images in every observation, with the same words (does the next
turn use what it sees?); `observed_from[i]` shows episode i the observation of episode `observed_from[i]`'s
answer, rendered and scored against episode i's own picture (does the next turn read what the render shows, or
only need a render there?). Each turn keeps its answer, program, render, figures and observation: its own, whatever
it was shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from earthshader.episodes.observation import FIGURES, Observation, TargetFigures, observe
from earthshader.errors import UsageError
from earthshader.glsl.extract import extract_glsl
from earthshader.modeling import generation, prompts

#: The most turns an episode may have (`infer --turns`, `eval --turns`, GRPO's `max_turns`).
MAX_TURNS = 8
#: Tokens that close an answer turn before its observation (`<|im_end|>` and a newline).
ANSWER_END_TOKENS = 2


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
    samples: int = 1  # episodes a picture (K): turn 1 drawn K times from one prompt

    def __post_init__(self):
        if self.max_turns < 1 or self.samples < 1:
            raise ValueError(f"max_turns and samples must be at least 1, got {self.max_turns} and {self.samples}")

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
                 first_answers: list[str] | None = None, observed_from: list[int] | None = None,
                 sampler=None) -> list[Episode]:
    """`settings.samples` episodes of `settings.max_turns` turns for each picture, picture-major (see the module
    docstring).

    `times[i]` is picture i's `iTime` (default 0); `first_answers[i]` (one a picture, `samples` 1 only) is
    picture i's turn 1; `observed_from[i]` (one an episode) is the episode whose answers episode i is shown;
    `sampler` stands in for `generation.generate_replies`.
    """
    sampler = sampler or generation.generate_replies
    k = settings.samples
    pictures = [np.asarray(prompts.prepare_image(image, settings.image_size)) for image in images]
    times = [0.0] * len(pictures) if times is None else [float(t) for t in times]
    if len(times) != len(pictures) or (first_answers is not None and len(first_answers) != len(pictures)):
        raise ValueError(f"{len(pictures)} pictures, {len(times)} times"
                         + ("" if first_answers is None else f", {len(first_answers)} first answers"))
    if first_answers is not None and k > 1:
        raise ValueError(f"first_answers give one turn 1 a picture; got samples={k}")
    options = {"max_new_tokens": settings.max_new_tokens, "temperature": settings.temperature,
               "top_p": settings.top_p, "batch_size": settings.batch_size}
    # Turn 1: K answers to one prompt a picture, as `generate_completions` draws them
    prompt_images = [[prompts.prepare_image(p, settings.image_size)] for p in pictures]
    if first_answers is not None:
        drawn = [[answer] for answer in first_answers]
    else:
        drawn = sampler(model, processor, [prompts.make_prompt() for _ in pictures], prompt_images, k=k, **options)
    # One episode per answer from here on, picture-major
    picture_of = [i for i in range(len(pictures)) for _ in range(k)]
    if observed_from is not None and sorted(observed_from) != list(range(len(picture_of))):
        raise ValueError(f"observed_from must reorder the {len(picture_of)} episodes, got {observed_from}")
    targets, episode_times = [pictures[i] for i in picture_of], [times[i] for i in picture_of]
    scorers = [TargetFigures.of(t) for t in targets]
    conversations = [prompts.make_prompt() for _ in targets]
    shown = [list(prompt_images[i]) for i in picture_of]
    episodes = [Episode([]) for _ in targets]
    for turn in range(settings.max_turns):
        if turn == 0:
            answers = [answer for row in drawn for answer in row]
        else:
            answers = [row[0] for row in sampler(model, processor, conversations, shown, k=1, **options)]
        codes = [extract_glsl(answer).code for answer in answers]
        results = render_at_times(pool, codes, targets, episode_times)
        for i, (answer, code, result) in enumerate(zip(answers, codes, results)):
            observation = observe(targets[i], code, result, scorers[i], size=settings.observation_side)
            scores = observation.figures or scorers[i].failed()
            episodes[i].turns.append(Turn(answer, code, result, observation, scores))
        if turn + 1 == settings.max_turns:
            break
        for i, answer in enumerate(answers):
            j = i if observed_from is None else observed_from[i]
            seen = episodes[i].turns[-1].observation if j == i else observe(
                targets[i], codes[j], results[j], scorers[i], size=settings.observation_side)
            seen = seen.blanked() if settings.blank_observations else seen
            conversations[i] = [*conversations[i], prompts.make_answer_turn(answer),
                                prompts.make_observation_turn(seen.text, len(seen.images))]
            shown[i] = [*shown[i], *seen.images]
    return episodes


def check_episode_fits(model, processor, settings: EpisodeSettings) -> int:
    """The tokens an episode may reach (the prompt, `max_turns` answers of `max_new_tokens` and the observations
    between them, each as long as `environment.observation_tokens` counts a long one); a `UsageError` naming
    `--turns` when that passes the model's `max_position_embeddings` (the last turns would run past the positions
    it was trained on). A model that does not say how far it reaches is not checked."""
    from earthshader.episodes.environment import observation_tokens

    config = getattr(model, "config", None)
    limit = getattr(getattr(config, "text_config", None), "max_position_embeddings", None) or getattr(
        config, "max_position_embeddings", None)
    prompt_tokens = prompts.prompt_tokens(processor, settings.image_size)
    observed = observation_tokens(processor, settings.observation_side) + ANSWER_END_TOKENS
    turns, answer = settings.max_turns, settings.max_new_tokens
    needed = prompt_tokens + turns * answer + (turns - 1) * observed
    if isinstance(limit, int) and needed > limit:
        room = (limit - prompt_tokens - (turns - 1) * observed) // turns
        raise UsageError(f"argument --turns: {turns} turns of up to {answer} new tokens (--max-new-tokens) and "
                         f"{turns - 1} observation(s) of up to {observed} tokens reach {needed} tokens, past the "
                         f"model's {limit} positions; "
                         + (f"set --max-new-tokens to at most {room} or ask for fewer turns" if room > 0
                            else "ask for fewer turns"))
    return needed


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
    """Per figure (and `rendered`), an episodes x turns array: the figure of every turn as the evaluation counts
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
