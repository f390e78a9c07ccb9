"""Render programs against their targets and score each one: the per-sample rows every figure is built from.

    from earthshader.evaluation.scoring import TargetScorer, score_programs
    rows = score_programs(targets, [[code_a, code_b], [code_c, code_d]], pool=pool)   # K = 2 per target
    rows[0][1].ssim, rows[0][1].structure, rows[0][1].appearance, rows[0][1].label     # target 0, sample 1
    scorer = TargetScorer(target_image)
    scorer.scores(render)                   # every figure of one render
    scorer.figures(renders, ("appearance",))  # one figure for many renders, in one batched call

Every metric comes from `earthshader.image.metrics` (the same functions the rewards and data filters use):
MSE and PSNR on colours in [0, 1], SSIM (single scale, as the literature reports it), edge similarity and
blurred-pixel similarity, and for each of the last three its skill over the target's mean-colour image.
Two figures summarise a render, with one convention: 0 is no better than a flat image of the target's mean
colour, 1 a perfect match, negative worse than the flat image, down to -1 (floored there; the rewards clip
at 0 instead); a flat target has neither (NaN; averages skip it):

- `structure`: the mean of the SSIM, edge and pixel skills: do the features line up?
- `appearance`: the appearance skill (`earthshader.image.appearance`: texture statistics and palette): is it
  the same stuff, wherever its features sit? Scored for a target's renders in one batched call; NaN for a
  target under `appearance.MIN_SIDE` (32) pixels a side (`TargetScorer.appearance_error` says so).

`earthshader.evaluation.objectives` turns the two into the number an answer is picked and fitted by.

A program that does not render is scored as a black image (what Shadertoy shows for it), so its MSE,
SSIM and figures are counted, not dropped: averages over all samples cannot improve by failing more.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from earthshader.data.build import Filters
from earthshader.evaluation.compare import SHADEREVAL_TIMES, frames_label, text_label
from earthshader.evaluation.families import detect_family, parameter_distance
from earthshader.evaluation.objectives import ObjectiveError
from earthshader.image import appearance, metrics
from earthshader.modeling import prompts

#: A render whose brightest channel value is at most this is "black" (the data filters' threshold).
BLACK_LEVEL = Filters().black_level

#: The similarity metrics with a skill; the `structure` figure is their mean.
SKILL_METRICS = ("ssim", "edges", "pixel")
#: The two figures of every render.
FIGURES = ("structure", "appearance")

#: Skills are floored here: a black image's pixel skill can reach -10 on a dark-and-light target, and
#: one such sample would outweigh many good ones in a mean.
SKILL_FLOOR = -1.0


@dataclass
class SampleScore:
    """One program scored against one target. `sample` is 0..K-1 (the model's samples) or a baseline name."""

    target: int
    sample: int | str
    code: str
    chars: int
    tokens: int | None
    rendered: bool
    error: str | None  # the render error kind when not rendered
    flat: bool
    black: bool
    mse: float
    psnr: float
    ssim: float
    edges: float
    pixel: float
    ssim_skill: float
    edges_skill: float
    pixel_skill: float
    structure: float
    appearance: float
    well_formed: bool | None = None  # the completion was one closed ```glsl block (None: not a completion)
    truncated: bool | None = None  # the completion was cut off (None: not a completion)
    family: str | None = None  # detected generator family (procedural targets only)
    family_match: bool | None = None
    params_readable: int | None = None
    params_found: int | None = None
    param_error: float | None = None
    label: str | None = None  # ShaderEval label against the reference program
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def nonflat(self) -> bool:
        return self.rendered and not (self.flat or self.black)

    @property
    def figures(self) -> dict[str, float]:
        """{"structure": ..., "appearance": ...}: what an objective reads."""
        return {"structure": self.structure, "appearance": self.appearance}


class TargetScorer:
    """Scores images against one target; the target's mean-colour scores and features are computed once.

    >>> import numpy as np
    >>> target = np.zeros((48, 48, 3), np.uint8); target[:, 24:] = 200; target[::6] = 90
    >>> scorer = TargetScorer(target)
    >>> same, flat = scorer.scores_many([target, scorer.flat_image])
    >>> round(same["structure"], 6), round(same["appearance"], 6), flat["structure"], flat["appearance"]
    (1.0, 1.0, 0.0, 0.0)
    """

    def __init__(self, target_image: np.ndarray):
        self.target = np.asarray(target_image)
        self.edge_maps = metrics.edge_maps(self.target)
        self.blurred = metrics.blurred(self.target)
        self.flat_image = metrics.mean_colour_image(self.target)
        self.flat_scores = self.raw_scores(self.flat_image)
        self.appearance_error: str | None = None  # why appearance cannot be scored here (None: it can)
        try:
            appearance.working_geometry(*self.target.shape[:2])
        except ValueError as err:
            self.appearance_error = str(err)

    @cached_property
    def appearance_scorer(self):
        """The target's `AppearanceScorer` (its statistics, computed on first use); None when it cannot score."""
        return None if self.appearance_error else appearance.AppearanceScorer(self.target)

    @property
    def flat_target(self) -> bool:
        """The target is one colour: nothing beats its mean-colour image, so it has no figures."""
        return math.isnan(self.structure_scores(self.flat_image)["structure"])

    def raw_scores(self, image: np.ndarray) -> dict[str, float]:
        return {
            "mse": metrics.mse(image, self.target),
            "psnr": metrics.psnr(image, self.target),
            "ssim": metrics.ssim(image, self.target),
            "edges": metrics.compare_edge_maps(metrics.edge_maps(image), self.edge_maps),
            "pixel": metrics.compare_blurred(metrics.blurred(image), self.blurred),
        }

    def structure_scores(self, image: np.ndarray) -> dict[str, float]:
        """Raw scores plus `<metric>_skill` for `SKILL_METRICS` and their mean, `structure`."""
        raw = self.raw_scores(image)
        skills = {f"{m}_skill": clipped_skill(raw[m], self.flat_scores[m]) for m in SKILL_METRICS}
        values = list(skills.values())
        skills["structure"] = float("nan") if any(math.isnan(v) for v in values) else float(np.mean(values))
        return {**raw, **skills}

    def appearance_skills(self, images) -> np.ndarray:
        """The appearance skill of each image, floored at `SKILL_FLOOR`, in one batched call (NaN for a flat
        target, and where `appearance_error` says why it cannot be scored)."""
        images = list(images)
        if self.appearance_scorer is None:
            return np.full(len(images), math.nan)
        if not images:
            return np.zeros(0)
        return np.array([clip_skill(v) for v in self.appearance_scorer.skills(images)])

    def figures(self, images, names=FIGURES) -> dict[str, np.ndarray]:
        """{figure: one value per image} for the figures `names` (see the module docstring)."""
        images = list(images)
        unknown = [n for n in names if n not in FIGURES]
        if unknown:
            raise ValueError(f"unknown figures {unknown}; figures: {', '.join(FIGURES)}")
        out = {}
        if "structure" in names:
            out["structure"] = np.array([self.structure_scores(image)["structure"] for image in images])
        if "appearance" in names:
            out["appearance"] = self.appearance_skills(images)
        return out

    def scores_many(self, images) -> list[dict[str, float]]:
        """Every score of each image: `structure_scores` plus `appearance`, appearance in one batched call."""
        images = list(images)
        appearances = self.appearance_skills(images)
        return [{**self.structure_scores(image), "appearance": float(a)} for image, a in zip(images, appearances)]

    def scores(self, image: np.ndarray) -> dict[str, float]:
        """Every score of one image (`scores_many` of one)."""
        return self.scores_many([image])[0]

    def check_figures(self, names) -> None:
        """An `ObjectiveError` saying why, when one of the figures `names` cannot be scored on this target."""
        if "appearance" in names and self.appearance_error:
            raise ObjectiveError(f"the appearance figure cannot score this target: {self.appearance_error}")


def clipped_skill(score: float, flat_score: float) -> float:
    """`metrics.skill`, floored at `SKILL_FLOOR` (NaN stays NaN: a flat target has no skill)."""
    return clip_skill(metrics.skill(score, flat_score))


def clip_skill(value: float) -> float:
    """A skill floored at `SKILL_FLOOR`; NaN stays NaN."""
    value = float(value)
    return value if math.isnan(value) else max(SKILL_FLOOR, value)


def mean_colour_program(image: np.ndarray) -> str:
    """A Shadertoy program that draws the image's mean colour: the 'learnt nothing' baseline."""
    r, g, b = (float(c) / 255.0 for c in metrics.mean_colour_image(image)[0, 0])
    return ("void mainImage(out vec4 fragColor, in vec2 fragCoord) {\n"
            f"    fragColor = vec4({r:.4f}, {g:.4f}, {b:.4f}, 1.0);\n}}")


@contextlib.contextmanager
def using_pool(pool=None, workers: int | None = None, timeout: float = 20.0):
    """The given `RenderPool`, or a new one closed on exit."""
    if pool is not None:
        yield pool
        return
    from earthshader.render import RenderPool

    with RenderPool(workers=workers, timeout=timeout) as own:
        yield own


def score_programs(targets, programs: list[list[str]], *, pool=None, tokenizer=None, labels: bool = True,
                   completions_meta: list[list[object]] | None = None,
                   names: list[list[int | str]] | None = None,
                   scorers: list[TargetScorer] | None = None) -> list[list[SampleScore]]:
    """Render `programs[i][k]` against `targets[i]` and score it; one list of rows per target.

    `labels` adds the ShaderEval label against the target's reference program (10 frames per program).
    `completions_meta[i][k]` is the `ExtractedShader` the program came from (adds well-formed and
    truncated flags); `names[i][k]` names each row (default: its index k); `scorers[i]` is target i's
    `TargetScorer` when the caller already has one.
    """
    if len(programs) != len(targets):
        raise ValueError(f"got programs for {len(programs)} targets, but {len(targets)} targets")
    side = {t.image.shape[:2] for t in targets}
    if len(side) > 1:
        raise ValueError(f"targets differ in size {sorted(side)}: load them with one --size")
    height, width = side.pop()
    results = _render(targets, programs, width, height, pool, labels)
    rows = []
    for i, target in enumerate(targets):
        scorer = scorers[i] if scorers else TargetScorer(target.image)
        reference_frames = results[i]["reference"]
        images = [result.image if result.ok else np.zeros_like(scorer.target) for result, _ in results[i]["samples"]]
        all_scores = scorer.scores_many(images)  # appearance: one batched call per target
        row = []
        for k, code in enumerate(programs[i]):
            result, frames = results[i]["samples"][k]
            meta = completions_meta[i][k] if completions_meta else None
            name = names[i][k] if names else k
            row.append(_score_one(i, name, code, result, frames, images[k], all_scores[k], target, reference_frames,
                                  tokenizer, labels, meta))
        rows.append(row)
    return rows


def _render(targets, programs, width, height, pool, labels):
    """Per target: {"samples": [(first-frame result, label frames)], "reference": label frames or None}."""
    out = [{"samples": [], "reference": None} for _ in targets]
    by_time: dict[float, list[int]] = {}
    for i, target in enumerate(targets):
        by_time.setdefault(float(target.time), []).append(i)
    with using_pool(pool) as render_pool:
        for time, indices in sorted(by_time.items()):
            times = [time] + [t for t in SHADEREVAL_TIMES if t != time] if labels else [time]
            codes = [code for i in indices for code in [*programs[i], targets[i].program]]
            results = iter(render_pool.render_many(codes, width=width, height=height, times=times))
            for i in indices:
                for _ in programs[i]:
                    result = next(results)
                    out[i]["samples"].append((result, _label_frames(result, times) if labels else None))
                reference = next(results)
                out[i]["reference"] = _label_frames(reference, times) if labels and targets[i].program else None
    return out


def _label_frames(result, times):
    if not result.ok:
        return None
    by_time = dict(zip(times, result.frames))
    return [by_time[t] for t in SHADEREVAL_TIMES]


def _score_one(i, name, code, result, frames, image, scores, target, reference_frames, tokenizer, labels, meta):
    row = SampleScore(
        target=i, sample=name, code=code, chars=len(code),
        tokens=prompts.text_tokens(tokenizer, code) if tokenizer is not None else None,
        rendered=bool(result.ok), error=None if result.ok else result.error.kind,
        flat=bool(result.ok and metrics.is_flat(image)), black=bool(result.ok and int(image.max()) <= BLACK_LEVEL),
        image=image, **scores,
    )
    if meta is not None:
        row.well_formed, row.truncated = bool(meta.well_formed), bool(meta.truncated)
    program = target.program  # the target's own program, taught or withheld: for scoring only
    if target.family:
        row.family = detect_family(code)
        row.family_match = row.family == target.family
        if target.params and program:
            distance = parameter_distance(code, program, target.params)
            row.params_readable, row.params_found, row.param_error = distance.readable, distance.found, distance.error
    if labels and program:
        row.label = text_label(code, program) or frames_label(frames, reference_frames)
    return row
