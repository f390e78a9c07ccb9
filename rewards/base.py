"""Base classes for rewards in TRL's calling convention, and the target images they compare against.

A reward is a callable object called as TRL's `GRPOTrainer` calls reward functions:

    scores = reward(prompts=prompts, completions=completions, image=images, **other_columns, log_metric=fn)

and returns one float (or None: "does not apply") per completion. Subclass one of:

- `TextReward`: scores the extracted program's text; implement `score_shader(shader, row)`.
- `RenderReward`: renders each completion once (through the shared `RenderCache`) and scores the
  image; implement `score(image, target)` (target: H x W x 3 uint8 or None), or `score_result`.
- `SimilarityReward`: a `RenderReward` whose `similarity(candidate, target)` is 1 for identical images;
  the reward is its `skill` against the target's mean-colour image, clipped to [0, 1].

Set `name` (it becomes `__name__`, which TRL logs as `rewards/<name>/mean`). Instances are picklable.

Columns read from the dataset (each a list with one value per completion, as TRL passes them):
`image` (PIL image or H x W x 3|4 uint8 array; or `images`, a list whose first image is used), and for
animated targets `frames` (a list of images) with `times` (their `iTime` values, same length).

Failure policy: a completion can be anything (empty, garbage, an endless loop, NaN colours, an int,
bytes, a dict of another shape: see `completion_shader`) and never makes a reward raise: it gets the
reward's `failure_value`. A target image that cannot be scored (smaller than `metrics.MIN_SIDE`, not
uint8 colour, size 0; frames of different sizes; or non-finite `times`) should have been refused when the
dataset was loaded (`earthshader.image.metrics.target_image`); if one reaches a reward anyway, rewards that
need a target give None ("does not apply") for that row with a `RuntimeWarning` saying why, and `compiles` /
`entropy` score the render as if there were no target. A reward whose own code fails, a dataset without the
columns it needs, or a reward that returns NaN or a value of the wrong type raises `RewardError` naming
the reward: a bug must stop the run, not quietly score 0.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from earthshader.glsl.extract import ExtractedShader
from earthshader.image.metrics import mean_colour_image, skill
from earthshader.render.result import RenderResult
from rewards.cache import RenderCache, RenderRequest, shared_cache
from rewards.inputs import (
    NOT_COLUMNS,
    RewardError,
    Target,
    UnscorableTarget,
    as_image_array,
    column_rows,
    completion_shader,
    times_of,
)

#: Render size (pixels, square) for rewards that need a render but find no target image.
DEFAULT_RENDER_SIZE = 64


class Reward:
    """Base of every reward: TRL's calling convention, extraction, validation, loud failures."""

    #: Name logged by TRL (`rewards/<name>/mean`) and used by the registry.
    name = "reward"
    #: True if the reward is thread-safe and may run beside the step's other rewards: `rewards.for_trl`
    #: then hands it to TRL as an async callable, which TRL gathers concurrently.
    concurrent = False

    def __init__(self) -> None:
        self.__name__ = self.name

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()) if not k.startswith("_"))
        return f"{type(self).__name__}({options})"

    def __call__(self, prompts=None, completions=None, **kwargs) -> list[float | None]:
        if completions is None:
            raise RewardError(f"reward {self.__name__!r} was called without `completions`")
        log_metric = kwargs.get("log_metric")
        columns = {k: v for k, v in kwargs.items() if k not in NOT_COLUMNS}
        try:
            shaders = [completion_shader(c) for c in completions]
            rows = column_rows(columns, len(shaders))
            values = self.score_batch(shaders, rows, log_metric)
        except RewardError:
            raise
        except Exception as error:
            raise RewardError(f"reward {self.__name__!r} failed: {type(error).__name__}: {error}") from error
        return self._checked(values, len(shaders))

    def score_batch(self, shaders: list[ExtractedShader], rows: list[dict], log_metric=None) -> list[float | None]:
        """One value per completion; `rows[i]` holds completion i's dataset columns."""
        raise NotImplementedError

    def _checked(self, values, expected: int) -> list[float | None]:
        values = list(values)
        if len(values) != expected:
            raise RewardError(f"reward {self.__name__!r} returned {len(values)} values for {expected} completions")
        checked = []
        for index, value in enumerate(values):
            if value is None:
                checked.append(None)
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise RewardError(f"reward {self.__name__!r} returned {value!r} for completion {index}: not a float")
            if not math.isfinite(float(value)):
                raise RewardError(f"reward {self.__name__!r} returned {value} for completion {index}")
            checked.append(float(value))
        return checked


class TextReward(Reward):
    """A reward computed from the extracted program's text alone (no render)."""

    def score_batch(self, shaders, rows, log_metric=None):
        return [self.score_shader(shader, row) for shader, row in zip(shaders, rows)]

    def score_shader(self, shader: ExtractedShader, row: dict) -> float | None:
        raise NotImplementedError


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _scoring_executor() -> ThreadPoolExecutor:
    """Threads for scoring (scikit-image and SciPy filters release the GIL)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            _executor = ThreadPoolExecutor(max_workers=max(1, min(8, cores)), thread_name_prefix="reward-score")
        return _executor


class RenderReward(Reward):
    """A reward computed from each completion's render (shared through the render cache).

    Args:
        size: render and compare at `size` x `size` (the target is resized by the prompt policy,
            `earthshader.modeling.prompts.prepare_image`); None: at the target's own size.
        cache: a `RenderCache`; None uses the process's shared one (`rewards.cache.shared_cache()`).
        parallel_scoring: score the batch on a thread pool (one per process).
    """

    #: What a completion gets when nothing could be rendered (no code, compile error, timeout, ...).
    failure_value: float | None = 0.0
    #: Whether the reward needs a target image (`image` / `frames` column).
    needs_target = True
    #: Render rewards run together, sharing one stream of renders (`rewards.concurrent`).
    concurrent = True
    #: Score the batch's renders together (`score_results`) once the last one is in, instead of each on a
    #: scoring thread as it arrives: for scores much cheaper in batches (texture statistics).
    batched = False

    def __init__(self, size: int | None = None, cache: RenderCache | None = None, parallel_scoring: bool = True):
        super().__init__()
        self.size = size
        self.cache = cache
        self.parallel_scoring = parallel_scoring
        self._targets: dict[tuple, Target] = {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_targets"] = {}
        return state

    def score(self, image: np.ndarray, target: np.ndarray | None) -> float | None:
        """Score one rendered frame (H x W x 3 uint8) against the matching target frame (or None)."""
        raise NotImplementedError

    def score_result(self, result: RenderResult, target: Target | None) -> float | None:
        """Score one render: `failure_value` if it failed, else the mean of `score` over its frames."""
        if not result.ok:
            return self.failure_value
        frames = result.frames or [result.image]
        references = target.frames if target is not None else [None] * len(frames)
        return _mean_of_frames([self.score(frame, reference) for frame, reference in zip(frames, references)])

    def score_results(self, pairs: list[tuple[RenderResult, Target | None]]) -> list[float | None]:
        """Score several renders (for `batched` rewards); by default `score_result` on each."""
        return [self.score_result(result, target) for result, target in pairs]

    def score_batch(self, shaders, rows, log_metric=None):
        targets, unscorable = [], []
        for row in rows:
            try:
                targets.append(self.target(row))
                unscorable.append(False)
            except UnscorableTarget as problem:
                outcome = "the completion gets None" if self.needs_target else "scored without a target"
                warnings.warn(f"reward {self.__name__!r}: {problem}; {outcome}", RuntimeWarning, stacklevel=2)
                targets.append(None)
                unscorable.append(self.needs_target)
        requests = [None if skip else self.request(shader, target)
                    for shader, target, skip in zip(shaders, targets, unscorable)]
        cache = self.cache if self.cache is not None else shared_cache()
        self.prepare_targets([t for t in {id(t): t for t in targets if t is not None}.values()])
        # Each render is scored as soon as it arrives, on the scoring threads, while the rest still render.
        # A group often repeats a completion: each distinct (render, target) pair is scored once.
        executor = _scoring_executor() if self.parallel_scoring and len(requests) > 1 else None
        scores: dict[tuple, object] = {}  # (id(result), id(target)) -> Future or value
        together: list[tuple[tuple, RenderResult, Target | None]] = []  # `batched`: scored after the last render

        def score_when_rendered(index: int, result: RenderResult) -> None:
            key = (id(result), id(targets[index]))
            if key not in scores:
                job = (result, targets[index])
                if self.batched:
                    scores[key] = None
                    together.append((key, *job))
                else:
                    scores[key] = executor.submit(self.score_result, *job) if executor else self.score_result(*job)

        start = time.perf_counter()
        results = cache.render(requests, on_result=score_when_rendered)
        rendered = time.perf_counter()
        if together:
            values = self.score_results([(result, target) for _, result, target in together])
            scores.update((key, value) for (key, _, _), value in zip(together, values, strict=True))
        values = [None if skip else self._value(scores[(id(result), id(target))])
                  for result, target, skip in zip(results, targets, unscorable)]
        if log_metric is not None:
            log_metric(f"rewards/{self.__name__}/render_s", rendered - start)  # includes scoring done meanwhile
            log_metric(f"rewards/{self.__name__}/score_s", time.perf_counter() - rendered)  # scoring left after
            log_metric("render/failed_frac", float(np.mean([not r.ok for r in results])) if results else 0.0)
        return values

    @staticmethod
    def _value(score):
        return score.result() if isinstance(score, Future) else score

    def prepare_targets(self, targets: list[Target]) -> None:
        """Called with the batch's distinct targets before scoring (serially): precompute per-target work."""

    def request(self, shader: ExtractedShader, target: Target | None) -> RenderRequest | None:
        """What to render for a completion (None: nothing to render)."""
        if not shader.code:
            return None
        if target is None:
            side = self.size or DEFAULT_RENDER_SIZE
            return RenderRequest(shader.code, side, side)
        return RenderRequest(shader.code, target.width, target.height, target.times)

    def target(self, row: dict) -> Target | None:
        """The row's target (`image`, or `frames` + `times`), converted once per distinct content.

        Raises `RewardError` when the columns are missing or do not fit together (the dataset is wrong),
        `UnscorableTarget` when this row's image cannot be scored (`earthshader.image.metrics.target_image`).
        """
        if "frames" in row or "times" in row:
            if "frames" not in row or "times" not in row:
                raise RewardError(f"reward {self.__name__!r}: the `frames` and `times` columns go together")
            images, times = list(row["frames"]), times_of(row["times"])
            if len(images) != len(times) or not images:
                raise RewardError(f"reward {self.__name__!r}: {len(images)} frames for {len(times)} times")
        elif row.get("image") is not None:
            images, times = [row["image"]], (0.0,)
        elif isinstance(row.get("images"), (list, tuple)) and row["images"]:
            images, times = [row["images"][0]], (0.0,)
        elif "image" in row or "images" in row:
            image = row.get("image", row.get("images"))
            raise UnscorableTarget(f"a target cannot be scored (the row's image is {image!r})")
        elif self.needs_target:
            raise RewardError(
                f"reward {self.__name__!r} needs a target: an `image` (or `images`, or `frames` + `times`) column; "
                f"got columns {sorted(row)}"
            )
        else:
            return None
        try:
            frames = tuple(as_image_array(image, self.size) for image in images)
        except ValueError as error:
            raise UnscorableTarget(f"a target cannot be scored ({error})") from None
        if len({frame.shape for frame in frames}) > 1:  # one render size: every frame must have it
            sizes = ", ".join(f"{f.shape[1]} x {f.shape[0]}" for f in frames)
            raise UnscorableTarget(f"a target cannot be scored (its frames differ in size: {sizes})")
        digest = hashlib.blake2b(digest_size=16)
        for frame in frames:
            digest.update(str(frame.shape).encode())
            digest.update(frame.tobytes())
        key = (digest.hexdigest(), times)
        if key not in self._targets:
            if len(self._targets) > 512:
                self._targets.clear()
            self._targets[key] = Target(frames, times, digest.hexdigest())
        return self._targets[key]


def _mean_of_frames(values: list) -> float | None:
    """A render's value: the mean over its frames of those that have one; None if none has."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


class SimilarityReward(RenderReward):
    """Similarity to the target, as skill over the target's mean-colour image, clipped to [floor, 1].

    reward = clip((s - s_flat) / (1 - s_flat), floor, 1), with s = `similarity(render, target)` and s_flat
    the same similarity for the target's mean-colour image: 1 for a perfect match, 0 for the flat image of
    the right mean colour. None ("does not apply") when the target frame is itself flat (nothing can beat
    the baseline).

    `floor` (default 0) is where worse-than-flat renders stop: with 0 anything no better than the flat
    image scores 0, the same as a failed render. With -1 the reward is the evaluation's skill
    (`earthshader.evaluation`), which also tells a pattern out of phase (skill < 0) from a flat image; a
    failed render then scores `floor`, the worst value, so that failing never beats trying.

    Implement `similarity(candidate, target)`. To compute the target's side once per target instead of
    once per completion, override `prepare(target)` (its result is cached) and `compare(candidate, prepared)`;
    with `batched = True`, `compare_many(candidates, prepared)` scores each target's renders in one call.
    """

    def __init__(self, floor: float = 0.0, size: int | None = None, cache: RenderCache | None = None,
                 parallel_scoring: bool = True):
        super().__init__(size=size, cache=cache, parallel_scoring=parallel_scoring)
        if not -1.0 <= floor <= 0.0:
            raise ValueError(f"floor must be in [-1, 0], got {floor}")
        self.floor = float(floor)
        if self.floor < 0:
            self.failure_value = self.floor
        self._prepared: dict[str, tuple] = {}

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_prepared"] = {}
        return state

    def similarity(self, candidate: np.ndarray, target: np.ndarray) -> float:
        """Raw similarity, 1 for identical images and at most 1 otherwise."""
        raise NotImplementedError

    def prepare(self, target: np.ndarray):
        """Per-target work for `compare` (default: the target image itself)."""
        return target

    def compare(self, candidate: np.ndarray, prepared) -> float:
        """`similarity` of a candidate to a prepared target (default: `similarity(candidate, prepared)`)."""
        return self.similarity(candidate, prepared)

    def compare_many(self, candidates: list[np.ndarray], prepared) -> list[float]:
        """`compare` of several candidates to one prepared target (override where a batch is cheaper)."""
        return [self.compare(candidate, prepared) for candidate in candidates]

    def score(self, image, target):
        prepared, flat_score = self.prepared(target)
        return self._clipped(self.compare(image, prepared), flat_score)

    def _clipped(self, similarity: float, flat_score: float) -> float | None:
        value = skill(similarity, flat_score)
        return None if math.isnan(value) else float(np.clip(value, self.floor, 1.0))

    def score_results(self, pairs):
        """With `batched`: the frames of every render compared to each distinct target frame in one call."""
        if not self.batched:
            return super().score_results(pairs)
        per_render: list[list] = [[] for _ in pairs]
        groups: dict[int, tuple[np.ndarray, list]] = {}  # id(target frame) -> (frame, [(render index, frame)])
        for index, (result, target) in enumerate(pairs):
            if result.ok:
                for frame, reference in zip(result.frames or [result.image], target.frames):
                    groups.setdefault(id(reference), (reference, []))[1].append((index, frame))
        for reference, items in groups.values():
            prepared, flat_score = self.prepared(reference)
            similarities = self.compare_many([frame for _, frame in items], prepared)
            for (index, _), value in zip(items, similarities, strict=True):
                per_render[index].append(self._clipped(value, flat_score))
        return [_mean_of_frames(values) if result.ok else self.failure_value
                for values, (result, _) in zip(per_render, pairs)]

    def prepare_targets(self, targets):
        for target in targets:
            for frame in target.frames:
                self.prepared(frame)

    def prepared(self, target: np.ndarray) -> tuple:
        """(`prepare(target)`, the mean-colour image's similarity to the target), computed once per target."""
        key = hashlib.blake2b(target.tobytes(), digest_size=16).hexdigest() + str(target.shape)
        if key not in self._prepared:
            if len(self._prepared) > 256:
                self._prepared.clear()
            prepared = self.prepare(target)
            self._prepared[key] = (prepared, self.compare(mean_colour_image(target), prepared))
        return self._prepared[key]
