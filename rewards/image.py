"""Rewards on the rendered image: `entropy`, and the similarity rewards `ssim`, `pixel`, `edges`, `palette` and
`appearance`.

    from rewards.image import SSIMReward, EdgesReward

    ssim = SSIMReward(size=224)
    ssim(prompts=prompts, completions=completions, image=images)   # [0.93, 0.0, ...]

Every similarity reward is a skill against the trivial answer (see `rewards.base.SimilarityReward`):
1 for a perfect match, 0 for the target's own mean-colour image or anything no better, 0 for a failed
render, None for a flat target. The raw metrics are in `earthshader.image.metrics` (evaluation uses the same).
"""

from __future__ import annotations

from earthshader.image import metrics
from earthshader.image.appearance import AppearanceScorer, AppearanceSettings, working_geometry
from rewards.base import RenderReward, SimilarityReward
from rewards.builtin import builtin_reward
from rewards.inputs import UnscorableTarget


@builtin_reward
class EntropyReward(RenderReward):
    """Visual entropy of the render (grey-level histogram, `metrics.visual_entropy`). Range [0, 1].

    0 for a black or flat image, so a shader that ignores `fragCoord` gets 0. With a target and
    `relative=True` (the default) it is the render's entropy over the target's, capped at 1: matching the
    target's variety is full marks, and a perfect match scores 1 even on a two-colour target. Without a
    target (or with `relative=False`, or a flat target) it is the render's absolute entropy.
    A failed render: 0.

    Example: a horizontal grey ramp over all 256 levels -> about 1.0 (absolute); a constant colour -> 0.0.
    """

    name = "entropy"
    needs_target = False

    def __init__(self, relative: bool = True, size=None, cache=None, parallel_scoring: bool = True):
        super().__init__(size=size, cache=cache, parallel_scoring=parallel_scoring)
        self.relative = relative
        self._target_entropy: dict[int, float] = {}

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_target_entropy": {}}

    def prepare_targets(self, targets):
        self._target_entropy = {id(f): metrics.visual_entropy(f) for t in targets for f in t.frames}

    def score(self, image, target):
        entropy = metrics.visual_entropy(image)
        if self.relative and target is not None:
            reference = self._target_entropy.get(id(target))
            reference = metrics.visual_entropy(target) if reference is None else reference
            if reference > 0:
                return min(1.0, entropy / reference)
        return entropy


@builtin_reward
class SSIMReward(SimilarityReward):
    """Colour SSIM (scikit-image, mean over R, G, B) to the target, as skill over its mean-colour image.
    Range [0, 1].

    SSIM is averaged over an image pyramid of `scales` levels (`metrics.ssim`; each level halves the side),
    so the large-scale layout counts beside the fine detail: a pattern 3 pixels off at 128 px keeps 0.5
    of the skill with 3 levels against 0.35 with 1. 1 = identical render; 0 = no better than a flat image
    of the target's mean colour (plain SSIM gives that flat image about 0.56, which once taught GRPO to
    output grey).

    Example: the reference program's own render -> 1.0; the mean-colour image -> 0.0; a failed render -> 0.0.
    """

    name = "ssim"

    def __init__(self, scales: int = 3, floor: float = 0.0, size=None, cache=None, parallel_scoring: bool = True):
        super().__init__(floor=floor, size=size, cache=cache, parallel_scoring=parallel_scoring)
        if scales < 1:
            raise ValueError(f"scales must be at least 1, got {scales}")
        self.scales = scales

    def similarity(self, candidate, target):
        return metrics.ssim(candidate, target, scales=self.scales)


@builtin_reward
class PixelReward(SimilarityReward):
    """Blurred pixel L2 (`metrics.pixel_similarity`) as skill over the mean-colour image. Range [0, 1].

    The skill here is 1 - MSE / MSE_flat on blurred images: the share of the target's variance the render
    explains (R^2), clipped at 0. `blur` is the Gaussian sigma as a fraction of the shorter side.

    Example: identical render -> 1.0; mean-colour image -> 0.0; the target with its colours inverted -> 0.0.
    """

    name = "pixel"

    def __init__(self, blur: float = 1 / 64, floor: float = 0.0, size=None, cache=None, parallel_scoring: bool = True):
        super().__init__(floor=floor, size=size, cache=cache, parallel_scoring=parallel_scoring)
        self.blur = blur

    def similarity(self, candidate, target):
        return metrics.pixel_similarity(candidate, target, blur=self.blur)

    def prepare(self, target):
        return metrics.blurred(target, self.blur)

    def compare(self, candidate, prepared):
        return metrics.compare_blurred(metrics.blurred(candidate, self.blur), prepared)


@builtin_reward
class EdgesReward(SimilarityReward):
    """Correlation of Sobel edge maps at several blur scales (`metrics.edge_similarity`). Range [0, 1].

    Rewards the pattern (where the edges are), not the colours. A flat image has no edges and scores 0,
    so the skill equals the clipped correlation.

    Example: identical render -> 1.0; mean-colour image -> 0.0; stripes against a checkerboard -> about 0.
    """

    name = "edges"

    def __init__(self, sigmas: tuple[float, ...] = (1.0, 3.0), floor: float = 0.0, size=None, cache=None,
                 parallel_scoring: bool = True):
        super().__init__(floor=floor, size=size, cache=cache, parallel_scoring=parallel_scoring)
        self.sigmas = tuple(float(s) for s in sigmas)

    def similarity(self, candidate, target):
        return metrics.edge_similarity(candidate, target, sigmas=self.sigmas)

    def prepare(self, target):
        return metrics.edge_maps(target, self.sigmas)

    def compare(self, candidate, prepared):
        return metrics.compare_edge_maps(metrics.edge_maps(candidate, self.sigmas), prepared)


@builtin_reward
class PaletteReward(SimilarityReward):
    """Colour-distribution closeness (sliced Wasserstein, `metrics.palette_similarity`) as skill over the
    mean-colour image. Range [0, 1].

    Ignores where colours are: it pays for using the target's colours in the target's proportions.

    Example: identical render (or the same pixels shuffled) -> 1.0; mean-colour image -> 0.0.
    """

    name = "palette"

    def similarity(self, candidate, target):
        return metrics.palette_similarity(candidate, target)

    def prepare(self, target):
        return metrics.palette_quantiles(target)

    def compare(self, candidate, prepared):
        return metrics.compare_palettes(metrics.palette_quantiles(candidate), prepared)


@builtin_reward
class AppearanceReward(SimilarityReward):
    """The same look anywhere: texture statistics and colour distribution (`earthshader.image.appearance`),
    as skill over the target's mean-colour image. Range [0, 1].

    Unlike `ssim`, `edges` and `pixel`, it does not ask where features are: the right texture at another
    phase, offset or seed scores high (the target's program moved by (17, 9) px: about 0.9), white noise,
    the target's pixels shuffled or a single bold stripe score 0. It does not see layout: keep the structure
    rewards beside it. `colour_weight` is the colour term's share (the texture term has the rest). A target
    smaller than `earthshader.image.appearance.MIN_SIDE` (28 px) cannot be scored: None, with a warning.

    Example: identical render -> 1.0; the reference program translated -> about 0.9; mean-colour image -> 0.0;
    a failed render -> 0.0.
    """

    name = "appearance"
    #: Each target's renders are scored in one batched call once all are in: texture statistics cost about a
    #: third less a candidate in a batch, and far less under load (one call instead of hundreds of small ones).
    batched = True

    def __init__(self, colour_weight: float = 0.25, floor: float = 0.0, size=None, cache=None,
                 parallel_scoring: bool = True):
        super().__init__(floor=floor, size=size, cache=cache, parallel_scoring=parallel_scoring)
        self.colour_weight = float(colour_weight)
        self.settings = AppearanceSettings(colour_weight=self.colour_weight)

    def similarity(self, candidate, target):
        return self.prepare(target).similarity(candidate)

    def prepare(self, target):
        return AppearanceScorer(target, self.settings)

    def compare(self, candidate, prepared):
        return prepared.similarity(candidate)

    def compare_many(self, candidates, prepared):
        return list(prepared.similarities(candidates))

    def target(self, row):
        target = super().target(row)
        for frame in target.frames if target is not None else ():
            try:
                working_geometry(*frame.shape[:2], self.settings)
            except ValueError as error:
                raise UnscorableTarget(f"a target cannot be scored ({error})") from None
        return target
