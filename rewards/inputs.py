"""What TRL hands a reward, made safe to read: completions of any shape, dataset columns, target images.

    >>> completion_shader(42).code, completion_shader(b"void mainImage").code
    ('', '')
    >>> answer = "```glsl\\nvoid mainImage(out vec4 c, in vec2 p) {}\\n```"
    >>> completion_shader([{"role": "assistant", "content": answer}]).code
    'void mainImage(out vec4 c, in vec2 p) {}'
    >>> column_rows({"image": [1, 2]}, 2)
    [{'image': 1}, {'image': 2}]
    >>> completion_answer([]), completion_answer([{"role": "assistant"}]), completion_answer(7)
    ('', '', '')

See `rewards.base` for the failure policy these serve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from earthshader.glsl.extract import ExtractedShader, completion_text, extract_glsl
from earthshader.image.metrics import target_image


class RewardError(RuntimeError):
    """A reward itself failed (a bug, or a dataset without the columns it needs), not the completion."""


#: Keyword arguments TRL passes that are not dataset columns.
NOT_COLUMNS = frozenset({"trainer_state", "log_extra", "log_metric", "environments", "completion_ids"})

class UnscorableTarget(ValueError):
    """A row's target image cannot be scored (too small, not uint8 colour, ...) or its `times` are not finite."""


def times_of(values) -> tuple[float, ...]:
    """A row's `iTime` values as floats; `UnscorableTarget` if one is not a finite number."""
    try:
        times = tuple(float(t) for t in values)
    except (TypeError, ValueError):
        raise UnscorableTarget(f"the `times` column holds {values!r}, not numbers") from None
    if not all(math.isfinite(t) for t in times):
        raise UnscorableTarget(f"the `times` column holds {times}, not finite numbers")
    return times


@dataclass(frozen=True)
class Target:
    """What a completion is compared against: one frame per `iTime` value, and a content hash."""

    frames: tuple[np.ndarray, ...]
    times: tuple[float, ...]
    key: str

    @property
    def height(self) -> int:
        return self.frames[0].shape[0]

    @property
    def width(self) -> int:
        return self.frames[0].shape[1]


def as_image_array(image, size: int | None = None) -> np.ndarray:
    """An H x W x 3 uint8 array from a PIL image or an array; with `size`, resized by the prompt policy.

    `ValueError` (from `earthshader.image.metrics.target_image`) for anything that cannot be a target.
    """
    array = target_image(image)
    if size is not None:
        from earthshader.modeling.prompts import prepare_image

        return np.asarray(prepare_image(array, size))
    return array


#: What a completion that is not text gets: no code, so every reward gives it its failure value.
NO_SHADER = ExtractedShader(code="")


def completion_shader(completion) -> ExtractedShader:
    """The program in a completion, as every reward reads it (the failure policy's one entry point).

    A completion is a str, None, a message `{"role", "content"}` or a list of messages, where `content` is
    a str, None or a list of `{"type": "text", "text": str}` parts. Anything else (an int, bytes, a dict
    of another shape, a message whose content is a number, ...) is not an answer: it holds no code.
    """
    return extract_glsl(completion) if _is_completion(completion) else NO_SHADER


def completion_answer(completion) -> str:
    """The answer text of a completion, read by the same rules as `completion_shader` ("" for anything that
    is not a completion, an empty list, a message without `content`)."""
    return completion_text(completion) if _is_completion(completion) else ""


def _is_completion(completion) -> bool:
    if completion is None or isinstance(completion, str):
        return True
    if isinstance(completion, dict):
        return _is_message(completion)
    return isinstance(completion, (list, tuple)) and all(_is_message(m) for m in completion)


def _is_message(message) -> bool:
    if not isinstance(message, dict) or not isinstance(message.get("role", "assistant"), str):
        return False
    content = message.get("content")
    if content is None or isinstance(content, str):
        return True
    return isinstance(content, (list, tuple)) and all(
        isinstance(part, dict) and isinstance(part.get("type", "text"), str)
        and isinstance(part.get("text", ""), str) for part in content)


def column_rows(columns: dict, count: int) -> list[dict]:
    """Per-completion dicts of the dataset columns (each column must hold one value per completion)."""
    for name, values in columns.items():
        if not isinstance(values, (list, tuple)) or len(values) != count:
            got = f"{len(values)} values" if isinstance(values, (list, tuple)) else type(values).__name__
            raise RewardError(f"column {name!r} must be a list with one value per completion ({count}), got {got}")
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]
