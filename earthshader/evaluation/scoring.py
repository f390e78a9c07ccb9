"""Render programs against their targets and score each one: the per-sample rows every figure is built from.

    from earthshader.evaluation.scoring import score_programs
    rows = score_programs(targets, [[code_a, code_b], [code_c, code_d]], pool=pool)   # K = 2 per target
    rows[0][1].ssim, rows[0][1].skill, rows[0][1].label                              # target 0, sample 1

Every metric comes from `earthshader.image.metrics` (the same functions the rewards and data filters use):
MSE and PSNR on colours in [0, 1], SSIM (single scale, as the literature reports it), edge similarity and
blurred-pixel similarity, and for each of the last three its `skill` over the target's mean-colour image.
`skill` is the mean of those three skills: 0 is no better than a flat image of the right colour, 1 a
perfect match, negative worse than the flat image, down to -1 (each skill is floored at -1; the rewards
clip at 0 instead). A flat target has no skill (NaN; averages skip it).

A program that does not render is scored as a black image (what Shadertoy shows for it), so its MSE,
SSIM and skill are counted, not dropped: averages over all samples cannot improve by failing more.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from earthshader.data.build import Filters
from earthshader.evaluation.compare import SHADEREVAL_TIMES, frames_label, text_label
from earthshader.evaluation.families import detect_family, parameter_distance
from earthshader.image import metrics

#: A render whose brightest channel value is at most this is "black" (the data filters' threshold).
BLACK_LEVEL = Filters().black_level

#: The similarity metrics with a skill; `skill` is their mean.
SKILL_METRICS = ("ssim", "edges", "pixel")

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
    skill: float
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


class TargetScorer:
    """Scores images against one target; the target's mean-colour scores and features are computed once."""

    def __init__(self, target_image: np.ndarray):
        self.target = np.asarray(target_image)
        self.edge_maps = metrics.edge_maps(self.target)
        self.blurred = metrics.blurred(self.target)
        self.flat_image = metrics.mean_colour_image(self.target)
        self.flat_scores = self.raw_scores(self.flat_image)

    def raw_scores(self, image: np.ndarray) -> dict[str, float]:
        return {
            "mse": metrics.mse(image, self.target),
            "psnr": metrics.psnr(image, self.target),
            "ssim": metrics.ssim(image, self.target),
            "edges": metrics.compare_edge_maps(metrics.edge_maps(image), self.edge_maps),
            "pixel": metrics.compare_blurred(metrics.blurred(image), self.blurred),
        }

    def scores(self, image: np.ndarray) -> dict[str, float]:
        """Raw scores plus `<metric>_skill` for `SKILL_METRICS` and their mean `skill`."""
        raw = self.raw_scores(image)
        skills = {f"{m}_skill": clipped_skill(raw[m], self.flat_scores[m]) for m in SKILL_METRICS}
        values = list(skills.values())
        skills["skill"] = float("nan") if any(math.isnan(v) for v in values) else float(np.mean(values))
        return {**raw, **skills}


def clipped_skill(score: float, flat_score: float) -> float:
    """`metrics.skill`, floored at `SKILL_FLOOR` (NaN stays NaN: a flat target has no skill)."""
    value = metrics.skill(score, flat_score)
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
        row = []
        for k, code in enumerate(programs[i]):
            result, frames = results[i]["samples"][k]
            meta = completions_meta[i][k] if completions_meta else None
            name = names[i][k] if names else k
            row.append(_score_one(i, name, code, result, frames, scorer, target, reference_frames, tokenizer,
                                  labels, meta))
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
            codes = [code for i in indices for code in [*programs[i], targets[i].code or ""]]
            results = iter(render_pool.render_many(codes, width=width, height=height, times=times))
            for i in indices:
                for _ in programs[i]:
                    result = next(results)
                    out[i]["samples"].append((result, _label_frames(result, times) if labels else None))
                reference = next(results)
                out[i]["reference"] = _label_frames(reference, times) if labels and targets[i].code else None
    return out


def _label_frames(result, times):
    if not result.ok:
        return None
    by_time = dict(zip(times, result.frames))
    return [by_time[t] for t in SHADEREVAL_TIMES]


def _score_one(i, name, code, result, frames, scorer, target, reference_frames, tokenizer, labels, meta):
    image = result.image if result.ok else np.zeros_like(scorer.target)
    scores = scorer.scores(image)
    row = SampleScore(
        target=i, sample=name, code=code, chars=len(code),
        tokens=len(tokenizer(code, add_special_tokens=False)["input_ids"]) if tokenizer is not None else None,
        rendered=bool(result.ok), error=None if result.ok else result.error.kind,
        flat=bool(result.ok and metrics.is_flat(image)), black=bool(result.ok and int(image.max()) <= BLACK_LEVEL),
        image=image, **scores,
    )
    if meta is not None:
        row.well_formed, row.truncated = bool(meta.well_formed), bool(meta.truncated)
    if target.family:
        row.family = detect_family(code)
        row.family_match = row.family == target.family
        if target.params and target.code:
            distance = parameter_distance(code, target.code, target.params)
            row.params_readable, row.params_found, row.param_error = distance.readable, distance.found, distance.error
    if labels and target.code:
        row.label = text_label(code, target.code) or frames_label(frames, reference_frames)
    return row
