"""The one place that builds an observation: what the model sees of its own program beside the target.

    from earthshader.episodes.observation import TargetFigures, observe
    scorer = TargetFigures.of(target)                 # the target's scorers, made once per target
    obs = observe(target, code, result, scorer, size=84)   # result: the program's RenderResult (None: no program)
    obs.figures          # {"structure": ..., "appearance": ...}, or None when nothing rendered
    obs.images           # [render, difference map]: PIL images of `size` px (black render when it failed)
    obs.text             # the words (`earthshader.modeling.prompts.observation_text`): figures, or diagnostics
    obs.content()        # the observation turn's content blocks, images inline (TRL's tool answer)
    prompts.make_observation_turn(obs.text)           # the same turn with image placeholders (SFT rows)

The figures are `picture_figures`: the evaluation's own two (`earthshader.evaluation.scoring.TargetScorer`:
`structure`, the mean of the SSIM, edge and blurred-pixel skills over the target's mean-colour image, and
`appearance`, texture statistics and palette). Both read 1 for the target itself and 0 for its mean-colour
image. A failed program shows a black render (what Shadertoy shows)
and the renderer's messages in the program's own line numbers (`RenderResult.diagnostics`, errors first); an
answer with no program says so. Every observation holds `OBSERVATION_IMAGES` images, so it costs the same
image tokens whatever happened.

The difference map is |target - render|, averaged over the colour channels, doubled and clipped, in grey:
black where the render is right, white where it is off by half the range or more. It is not stretched to its
own maximum, so a near miss stays dark. docs/look-and-fix.md says why it is kept.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from earthshader.evaluation.scoring import TargetScorer
from earthshader.image import metrics
from earthshader.modeling import prompts

#: The figures an observation, an episode and the benchmark report, in this order.
FIGURES = ("structure", "appearance")

#: How a compiler ends a wrong call's message before it lists every overload (Mesa: "...; candidates are:").
CANDIDATES_SUFFIX = "candidates are:"
#: One listed overload: "float mix(float, float, float)".
CANDIDATE = re.compile(r"^[\w ]+ \w+\([\w ,\[\]]*\)$")

#: How many targets' scorers `TargetFigures.of` keeps (a GRPO batch holds a few targets, each in several rollouts).
SCORERS_KEPT = 64


def picture_figures(scorer: TargetScorer, images: list) -> list[dict]:
    """The figures of each image against one target: the evaluation's own (`TargetScorer.figures`, both
    floored at -1, appearance in one batched call), one dict per image."""
    figures = scorer.figures(list(images), FIGURES)
    return [{name: float(figures[name][i]) for name in FIGURES} for i in range(len(images))]


class TargetFigures:
    """One target's scorer (made once), and `picture_figures` against it."""

    _kept: OrderedDict[str, TargetFigures] = OrderedDict()

    def __init__(self, target: np.ndarray):
        self.target = np.asarray(target)
        self.scorer = TargetScorer(self.target)

    @classmethod
    def of(cls, target) -> TargetFigures:
        """The scorers of `target` (an H x W x 3 uint8 array or a PIL image), kept for the next call."""
        array = np.asarray(target.convert("RGB") if isinstance(target, Image.Image) else target)
        key = hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest() + str(array.shape)
        if key in cls._kept:
            cls._kept.move_to_end(key)
        else:
            cls._kept[key] = cls(array)
            while len(cls._kept) > SCORERS_KEPT:
                cls._kept.popitem(last=False)
        return cls._kept[key]

    def figures(self, images: list) -> list[dict]:
        return picture_figures(self.scorer, images)

    def failed(self) -> dict:
        """The figures of a program that drew nothing: a black image's, as the evaluation counts a failure."""
        if not hasattr(self, "_failed"):
            self._failed = self.figures([np.zeros_like(self.target)])[0]
        return dict(self._failed)


@dataclass
class Observation:
    """What the model is shown after one answer (see the module docstring)."""

    text: str
    images: list = field(repr=False)
    figures: dict | None = None
    failure: str | None = None  # the render error kind, "no_program", or None when it rendered

    def content(self) -> list[dict]:
        """Content blocks of the observation turn: the images inline, then the text."""
        return [*({"type": "image", "image": image} for image in self.images), {"type": "text", "text": self.text}]

    def blanked(self) -> Observation:
        """The same observation with black images (the benchmark's control: does the next turn use what it sees?)."""
        black = [Image.new("RGB", image.size) for image in self.images]
        return Observation(self.text, black, self.figures, self.failure)


def difference_map(target: np.ndarray, render: np.ndarray) -> np.ndarray:
    """|target - render| averaged over colour, doubled and clipped, as an H x W x 3 grey image (module docstring).

    >>> difference_map(np.full((2, 2, 3), 200, np.uint8), np.full((2, 2, 3), 150, np.uint8))[0, 0].tolist()
    [100, 100, 100]
    """
    diff = np.abs(target.astype(np.int16) - render.astype(np.int16)).mean(axis=2) * 2.0
    grey = diff.clip(0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def failure_details(result) -> list[str]:
    """The renderer's errors for a failed render, in the program's line numbers, each once, without the list of
    candidate signatures a compiler adds to a wrong call; its error message when the compiler said nothing (a
    loop limit, a timeout, no `mainImage`)."""
    lines, listing = [], False
    for diagnostic in result.diagnostics:
        if diagnostic.severity != "error":
            continue
        message = diagnostic.message
        if listing and CANDIDATE.match(message):
            continue  # one of the candidates the compiler listed: the call's own message says enough
        listing = message.rstrip().endswith(CANDIDATES_SUFFIX)
        text = str(replace(diagnostic, message=message.rstrip().removesuffix(CANDIDATES_SUFFIX).rstrip(" ;")))
        if text not in lines:
            lines.append(text)
    return lines or [result.error.message]


def observe(target, code: str | None, result, scorer: TargetFigures | None = None, *,
            size: int = prompts.DEFAULT_IMAGE_SIZE) -> Observation:
    """The observation of `code` (None or "": the answer held no program) whose render is `result` (a
    `RenderResult` at the target's size; None when nothing was rendered), against `target`."""
    target = np.asarray(target.convert("RGB") if isinstance(target, Image.Image) else target)
    rendered = bool(code) and result is not None and result.ok and result.image is not None
    render = result.image if rendered else np.zeros_like(target)
    images = [prompts.prepare_image(render, size), prompts.prepare_image(difference_map(target, render), size)]
    if rendered:
        figures = (scorer or TargetFigures.of(target)).figures([render])[0]
        text = prompts.observation_text(figures, flat=metrics.is_flat(render))
        return Observation(text, images, figures)
    if not code or result is None:
        return Observation(prompts.observation_text(None, failure="no_program"), images, None, "no_program")
    kind = result.error.kind if result.error else "nothing drawn"
    return Observation(prompts.observation_text(None, failure=kind, details=failure_details(result)), images, None,
                       kind)
