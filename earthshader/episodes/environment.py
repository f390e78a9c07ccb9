"""TRL's side of look and fix: the environment each GRPO rollout gets, and the trainer options that use it.

    from earthshader.episodes.environment import episode_options
    options = episode_options(processor, training_args, max_turns=2, observation_size=84)
    trainer = RenderGRPOTrainer(..., **options)          # environment_factory=...
    ...; drop_agent_templates(processor)                # the stock templates back before saving

TRL 1.16's `environment_factory` (experimental) gives every rollout its own `LookEnvironment`: `reset(**row)`
hands it the dataset row (its target picture), and every public method is a tool. The one tool is `glsl(code)`:
the agent template (`earthshader.episodes.agent_template`) makes each fenced program of an answer a call of it,
so after every answer that holds a program TRL renders it here and appends the observation
(`earthshader.episodes.observation.observe`) as a `tool` turn, which the template shows as a `user` turn, and
samples the next answer on the same token ids. The observation's tokens get no loss (TRL's `tool_mask`), its
images reach the training forward (tests/test_episodes_grpo.py checks both), a group is `num_generations`
whole episodes of one target, and every token of an episode gets the episode's advantage.

Renders go through the rewards' shared `RenderCache` at the rewards' size and times, so the final rewards of an
episode whose last program is its first one render nothing again. TRL calls tools one rollout after another,
so observation renders are serial (docs/look-and-fix.md, "Cost"). `max_tool_calling_iterations` is
`max_turns - 1`: the last answer is parsed but never executed. An observation that would overflow
`max_completion_length` is rolled back by TRL while this environment keeps its record: count turns from the
completions (`earthshader.episodes.improvement`), never from here.
"""

from __future__ import annotations

import functools
import logging
import time

from earthshader.episodes.agent_template import use_agent_templates
from earthshader.episodes.observation import TargetFigures, observe
from earthshader.errors import UsageError
from earthshader.modeling import prompts
from rewards.cache import RenderRequest, shared_cache
from rewards.inputs import as_image_array, times_of

logger = logging.getLogger("earthshader.episodes")

#: The fewest tokens a turn's program may be left by `max_completion_length` once the observations are paid.
MIN_PROGRAM_TOKENS = 32


class LookEnvironment:
    """One rollout's episode: the target (from `reset`), then an observation for every program the model writes.

    `turns` records, per `glsl` call, the program, whether it rendered and its figures; `seconds` the time spent
    rendering and observing; `error` an exception raised inside `glsl` (TRL turns it into a tool answer; the
    improvement reward raises it again, so a bug here stops the run).
    """

    def __init__(self, observation_size: int = prompts.DEFAULT_IMAGE_SIZE, blank: bool = False):
        self._observation_size = observation_size
        self._blank = blank
        self._target = None
        self._times = (0.0,)
        self._turns: list[dict] = []
        self._seconds = 0.0
        self._error: Exception | None = None

    def reset(self, **row) -> None:
        """Start an episode on the row's target (`image`, or the first of `images` / `frames`)."""
        frames = row.get("frames")
        image = frames[0] if frames else row.get("image")
        if image is None and row.get("images"):
            image = row["images"][0]
        self._target = as_image_array(image)
        self._times = times_of(row["times"]) if "times" in row else (0.0,)
        self._turns, self._seconds, self._error = [], 0.0, None

    def glsl(self, code: str) -> list:
        """Render a Shadertoy GLSL program and look at it beside the target picture.

        Args:
            code: The whole program, defining mainImage.

        Returns:
            The render and its difference from the target as images, then the figures or the renderer's messages.
        """
        started = time.perf_counter()
        try:
            code = code.strip() if isinstance(code, str) else ""
            height, width = self._target.shape[:2]
            result = shared_cache().render([RenderRequest(code, width, height, self._times) if code else None])[0]
            observation = observe(self._target, code, result, TargetFigures.of(self._target),
                                  size=self._observation_size)
            self._turns.append({"code": code, "rendered": observation.failure is None,
                                "figures": observation.figures})
            return (observation.blanked() if self._blank else observation).content()
        except Exception as error:
            self._error = error
            raise
        finally:
            self._seconds += time.perf_counter() - started

    @property
    def turns(self) -> list[dict]:
        return list(self._turns)

    @property
    def seconds(self) -> float:
        return self._seconds

    @property
    def error(self) -> Exception | None:
        return self._error


#: A long compiler message, as budgets count them (an observation holds up to `prompts.MAX_DETAILS`).
LONG_DETAIL = "line 12: error: initializer of type float cannot be assigned to variable of type vec2"


def observation_tokens(processor, observation_size: int) -> int:
    """Tokens of a long observation turn (`prompts.MAX_DETAILS` long compiler messages) with the next turn's
    opening, its image placeholders expanded: what an episode pays for an observation, give or take its words."""
    details = [LONG_DETAIL] * prompts.MAX_DETAILS
    turn = prompts.make_observation_turn(prompts.observation_text(None, failure="compile", details=details))
    before = [{"role": "user", "content": [{"type": "text", "text": "x"}]}]
    prefix = processor.apply_chat_template(before, add_generation_prompt=False, tokenize=False)
    text = processor.apply_chat_template([*before, turn], add_generation_prompt=True, tokenize=False)
    images = prompts.OBSERVATION_IMAGES * (prompts.image_tokens(observation_size) - 1)
    return prompts.text_tokens(processor.tokenizer, text[len(prefix):]) + images


def check_completion_budget(processor, max_completion_length: int, max_turns: int, observation_size: int) -> int:
    """Tokens each turn's program is left (`max_completion_length` less the observations, shared by the turns);
    a `UsageError` when that is under `MIN_PROGRAM_TOKENS` (every observation would be rolled back)."""
    observed = observation_tokens(processor, observation_size)
    per_turn = (max_completion_length - (max_turns - 1) * observed) // max_turns
    if per_turn < MIN_PROGRAM_TOKENS:
        raise UsageError(f"--max_completion_length {max_completion_length}: {max_turns} turns need "
                         f"{max_turns - 1} observation(s) of up to {observed} tokens each plus at least "
                         f"{MIN_PROGRAM_TOKENS} tokens a program; set it to at least "
                         f"{(max_turns - 1) * observed + max_turns * MIN_PROGRAM_TOKENS}")
    return per_turn


def without_vision_tokens(generation_kwargs: dict | None, processor, use_vllm: bool) -> dict:
    """Generation options that forbid sampling `<|image_pad|>` and `<|video_pad|>` (and keep the user's own).

    With tool images TRL 1.16 rebuilds the token types of the whole sequence, completions included: a sampled
    `<|video_pad|>` becomes a video with no frames and the forward fails; a sampled `<|image_pad|>` leaves more
    image tokens than features, and TRL then drops every image of the batch. TRL suppresses the image token
    alone, in transformers' `generate` only (vLLM's own ban: `earthshader.training.grpo_trainer`)."""
    kwargs = dict(generation_kwargs or {})
    tokens = [processor.image_token, "<|video_pad|>"]
    if use_vllm:
        kwargs["bad_words"] = [*kwargs.get("bad_words", []), "<|video_pad|>"]
    else:
        ids = [processor.tokenizer.convert_tokens_to_ids(token) for token in tokens]
        kwargs["suppress_tokens"] = sorted({*kwargs.get("suppress_tokens", []), *ids})
    return kwargs


def episode_options(processor, training_args, *, max_turns: int, observation_size: int, blank: bool = False) -> dict:
    """Keyword arguments for the GRPO trainer (`environment_factory`), with the agent templates set on `processor`
    (`earthshader.episodes.agent_template`), `max_tool_calling_iterations` = `max_turns - 1`, the budget checked."""
    per_turn = check_completion_budget(processor, training_args.max_completion_length, max_turns, observation_size)
    use_agent_templates(processor)
    training_args.max_tool_calling_iterations = max_turns - 1
    training_args.generation_kwargs = without_vision_tokens(training_args.generation_kwargs, processor,
                                                            training_args.use_vllm)
    logger.info("look and fix: %d turns; observations of %d px; each program can use about %d of the %d completion "
                "tokens", max_turns, observation_size, per_turn, training_args.max_completion_length)
    factory = functools.partial(LookEnvironment, observation_size=observation_size, blank=blank)
    return {"environment_factory": factory}

