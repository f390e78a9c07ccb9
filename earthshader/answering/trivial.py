"""Trivial answers to a picture, scored like any answer: what a learnt answer must beat besides the flat colour.

    from earthshader.answering.trivial import trivial_answers
    found = trivial_answers(target_image, objective="appearance", pool=pool)
    found["gradient"].code, found["gradient"].figures    # the best straight colour gradient, as a program
    found["shuffled"].image, found["shuffled"].score     # the picture's own pixels shuffled (an image only)

- `gradient`: each colour channel fitted by least squares to a + b x + c y over the picture (x, y the pixel
  centre in [0, 1], y up, as Shadertoy's `fragCoord / iResolution.xy`), written as a GLSL program, rendered at
  the picture's size and scored: the best a program with no structure but a slope can do on `structure`.
- `shuffled`: the picture's pixels in a random order (`earthshader.image.impostors.shuffled_pixels`), scored as
  an image: its palette exactly, none of its structure; what a measure of the palette alone would reward.

Both are scored by the evaluation's `TargetScorer` on both figures, and by the objective (`score`). The flat
mean colour, the third trivial answer, scores 0 on both figures by definition.

>>> import numpy as np
>>> ramp = np.zeros((4, 8, 3), np.uint8); ramp[..., 0] = (np.arange(8) * 32 + 16)[None, :]; ramp[..., 2] = 200
>>> print(gradient_program(ramp).splitlines()[2].strip())
vec3 colour = vec3(0.0, 0.0, 0.7843) + vec3(1.0039, 0.0, 0.0) * uv.x + vec3(0.0, 0.0, 0.0) * uv.y;
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, check_objective, objective_value
from earthshader.evaluation.scoring import FIGURES, TargetScorer, using_pool
from earthshader.image.impostors import shuffled_pixels

#: The trivial answers, in report order.
TRIVIAL = ("gradient", "shuffled")


@dataclass
class TrivialAnswer:
    """One trivial answer: its program (None for shuffled pixels, an image only), its image and scores."""

    name: str
    code: str | None
    image: np.ndarray
    figures: dict[str, float]
    score: float  # the objective's value


def gradient_coefficients(image: np.ndarray) -> np.ndarray:
    """3 x 3 least-squares coefficients (rows: a, b, c; columns: red, green, blue) of colour = a + b x + c y, colours
    in [0, 1], x and y the pixel centres in [0, 1] with y up."""
    image = np.asarray(image)[..., :3].astype(np.float64) / 255.0
    height, width = image.shape[:2]
    y, x = np.mgrid[0:height, 0:width]
    design = np.stack([np.ones(height * width), ((x + 0.5) / width).ravel(),
                       ((height - y - 0.5) / height).ravel()], axis=1)  # top row first in the image, y up in GLSL
    coefficients, *_ = np.linalg.lstsq(design, image.reshape(-1, 3), rcond=None)
    return coefficients


def gradient_program(image: np.ndarray) -> str:
    """A Shadertoy program drawing `image`'s best straight colour gradient (`gradient_coefficients`), clamped."""
    a, b, c = (", ".join(f"{round(float(v), 4) + 0.0:g}" if abs(v) >= 5e-5 else "0.0" for v in row)
               for row in gradient_coefficients(image))
    a, b, c = (_vec3(text) for text in (a, b, c))
    return ("void mainImage(out vec4 fragColor, in vec2 fragCoord) {\n"
            "    vec2 uv = fragCoord / iResolution.xy;\n"
            f"    vec3 colour = {a} + {b} * uv.x + {c} * uv.y;\n"
            "    fragColor = vec4(clamp(colour, 0.0, 1.0), 1.0);\n}")


def _vec3(components: str) -> str:
    """`vec3(...)` with every component written as a GLSL float (`1` becomes `1.0`)."""
    return "vec3(" + ", ".join(v if "." in v or "e" in v else f"{v}.0" for v in components.split(", ")) + ")"


def trivial_answers(target: np.ndarray, *, objective: str = DEFAULT_OBJECTIVE, pool=None, time: float = 0.0,
                    seed: int = 0, scorer: TargetScorer | None = None) -> dict[str, TrivialAnswer]:
    """`{"gradient": ..., "shuffled": ...}` for `target` (H x W x 3 uint8), each scored on both figures and by
    `objective`; the gradient's program is rendered at the target's size and `time` (one render)."""
    check_objective(objective)
    target = np.ascontiguousarray(np.asarray(target)[..., :3])
    scorer = scorer if scorer is not None else TargetScorer(target)
    code = gradient_program(target)
    with using_pool(pool) as render_pool:
        result = render_pool.render_many([code], width=target.shape[1], height=target.shape[0], time=time)[0]
    if not result.ok:  # the program is four lines of arithmetic: a failure is the renderer's, not the answer's
        raise RuntimeError(f"the gradient program did not render: {result.error}")
    images = {"gradient": result.image, "shuffled": shuffled_pixels(target, seed)}
    found = {}
    for (name, image), scores in zip(images.items(), scorer.scores_many(list(images.values()))):
        figures = {figure: scores[figure] for figure in FIGURES}
        found[name] = TrivialAnswer(name, code if name == "gradient" else None, image, figures,
                                    objective_value(objective, figures))
    return found
