"""Image metrics shared by the data filters, the rewards and the evaluation.

All functions take H x W x 3 uint8 images (top row first), as the renderer returns them.
One set of definitions, so that "flat" means the same thing in a data filter, a reward and a report.

    from earthshader.image.metrics import visual_entropy, is_flat
    visual_entropy(image)      # 0 (one colour) .. 1 (every grey level equally common)

Similarity to a target (1 = identical), and the skill over the target's own mean-colour image:

    from earthshader.image.metrics import ssim, similarity_skill, SIMILARITY_METRICS
    ssim(render, target, scales=3)                      # colour SSIM over a 3-level pyramid
    score, flat_score, skill = similarity_skill("edges", render, target)
    similarity_skill("appearance", render, target)      # the same look anywhere (earthshader.image.appearance)
    psnr(render, target), mse(render, target)           # dB; mean squared error on [0, 1] colours

Report skill (and the baseline) beside any raw similarity: a flat image of the right mean colour already
scores well on plain SSIM, pixel L2 and palette distance.
"""

from __future__ import annotations

import numpy as np

#: A render whose pixels all lie within this many grey levels (of 255) of the mean is "flat".
FLAT_STD = 2.0
#: The smallest side (pixels) every similarity can score: SSIM's smallest window is 3 x 3.
MIN_SIDE = 3


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma (Rec. 601) as float64 in [0, 255]."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float64)
    rgb = image[..., :3].astype(np.float64)
    return rgb @ np.array([0.299, 0.587, 0.114])


def visual_entropy(image: np.ndarray, bins: int = 256) -> float:
    """Shannon entropy of the grey-level histogram, normalised to [0, 1] (divided by log2(bins)).

    0 for a single colour (black, flat); near 1 only when every grey level is equally common.
    """
    # Round to grey levels first: luma weights sum to 1 only up to float error, and a grey of 3 computed
    # as 2.9999999 would fall into level 2's bin.
    gray = np.clip(np.rint(to_gray(image)), 0, 255)
    hist, _ = np.histogram(gray, bins=bins, range=(0, 256))
    p = hist[hist > 0] / gray.size
    return float(-(p * np.log2(p)).sum() / np.log2(bins))


def is_flat(image: np.ndarray, std: float = FLAT_STD) -> bool:
    """True when every channel varies by less than `std` grey levels: a single-colour render."""
    image = np.asarray(image, dtype=np.float64)
    return bool(image.reshape(-1, image.shape[-1]).std(axis=0).max() < std)


def neighbour_correlation(image: np.ndarray) -> float:
    """Correlation between horizontally and vertically adjacent grey values, in [-1, 1].

    About 1 for smooth pictures, about 0 for white noise: the test for "noise-like" renders.
    A flat image has no variance and returns 1.0 (perfectly predictable).
    """
    gray = to_gray(image)
    pairs = [(gray[:, :-1], gray[:, 1:]), (gray[:-1, :], gray[1:, :])]
    values = []
    for a, b in pairs:
        a = a.ravel() - a.mean()
        b = b.ravel() - b.mean()
        denom = np.sqrt((a * a).sum() * (b * b).sum())
        values.append(1.0 if denom == 0 else float((a * b).sum() / denom))
    return float(np.mean(values))


def mean_colour_image(image: np.ndarray) -> np.ndarray:
    """The trivial baseline: an image of the same size filled with the target's mean colour."""
    image = np.asarray(image)
    mean = image.reshape(-1, image.shape[-1]).mean(axis=0)
    return np.broadcast_to(np.round(mean).astype(np.uint8), image.shape).copy()


# --- Similarity to a target ------------------------------------------------------------------------
#
# Every similarity below is 1 for identical images and at most 1 otherwise, so that `skill` can measure
# it against the trivial baseline: the target's own mean-colour image. A raw score alone misleads
# (plain SSIM gives a flat image of the right mean colour 0.56 on typical textures, more than many
# patterned guesses): report and reward `skill`, with the baseline beside it.
#
# `edges`, `palette` and `pixel` split into features of one image and a comparison of two features
# (`edge_maps` + `compare_edge_maps`, ...), so that a caller scoring many candidates against one target
# computes the target's features once (the rewards do).

#: Identical images have an infinite PSNR; it is reported as this many dB so that averages stay finite.
PSNR_MAX_DB = 100.0

#: Colour directions for the palette distance: R, G, B, luma, and two opponent (chroma) axes.
_PALETTE_DIRECTIONS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [1, -1, 0], [1, 1, -2]], np.float32)

#: The pixel similarity is computed after area-averaging down to about this side (the blur makes it lossless).
PIXEL_WORKING_SIDE = 64


def as_float_rgb(image: np.ndarray) -> np.ndarray:
    """H x W x 3 float32 in [0, 1] from an H x W x 3|4 uint8 image (alpha dropped)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 (or 4) image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image (values 0..255), got dtype {image.dtype}")
    return image[..., :3].astype(np.float32) / np.float32(255.0)


def _same_size(candidate: np.ndarray, target: np.ndarray) -> None:
    a, b = np.shape(candidate), np.shape(target)
    if a[:2] != b[:2]:
        raise ValueError(f"images differ in size: candidate {a[:2]}, target {b[:2]} (H, W)")


def _pair(candidate: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _same_size(candidate, target)
    return as_float_rgb(candidate), as_float_rgb(target)


def downscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Average `factor` x `factor` blocks (the remainder rows and columns are dropped)."""
    if factor <= 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    blocks = image[: h * factor, : w * factor].reshape(h, factor, w, factor, *image.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def mse(candidate: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error over pixels and channels, on colours scaled to [0, 1]: 0 (identical) .. 1."""
    a, b = _pair(candidate, target)
    return float(np.mean((a.astype(np.float64) - b) ** 2))


def psnr(candidate: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (peak = full colour range); `PSNR_MAX_DB` for identical images."""
    error = mse(candidate, target)
    return PSNR_MAX_DB if error <= 10 ** (-PSNR_MAX_DB / 10) else float(-10.0 * np.log10(error))


def _ssim_once(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    side = min(a.shape[:2])
    win_size = min(7, side if side % 2 else side - 1)
    if win_size < MIN_SIDE:
        raise ValueError(f"SSIM needs images of at least {MIN_SIDE} x {MIN_SIDE} pixels, got {a.shape[:2]}")
    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0, win_size=win_size))


def ssim(candidate: np.ndarray, target: np.ndarray, scales: int = 1) -> float:
    """Colour SSIM (scikit-image, 7 x 7 window, mean over R, G, B): -1 .. 1, 1 for identical images.

    `scales` > 1 averages SSIM over an image pyramid (each level halves the side by 2 x 2 averaging,
    while the side stays at least 16 pixels): coarse levels reward the large-scale layout, fine
    levels the detail. A pattern 3 pixels off scores higher with 3 levels than with 1.
    """
    a, b = _pair(candidate, target)
    values = [_ssim_once(a, b)]
    for _ in range(scales - 1):
        if min(a.shape[:2]) < 32:
            break
        a, b = downscale(a, 2), downscale(b, 2)
        values.append(_ssim_once(a, b))
    return float(np.mean(values))


def edge_maps(image: np.ndarray, sigmas: tuple[float, ...] = (1.0, 3.0)) -> list[np.ndarray]:
    """Sobel gradient magnitude (scikit-image) of the luma after a Gaussian blur of each `sigma` pixels."""
    from skimage.filters import gaussian, sobel

    gray = (to_gray(np.asarray(image)[..., :3]) / 255.0).astype(np.float32)
    return [sobel(gaussian(gray, sigma=s, preserve_range=True) if s > 0 else gray) for s in sigmas]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel().astype(np.float64) - a.mean()
    b = b.ravel().astype(np.float64) - b.mean()
    na, nb = np.sqrt((a * a).sum()), np.sqrt((b * b).sum())
    tiny = 1e-9 * np.sqrt(a.size)
    if na <= tiny and nb <= tiny:
        return 1.0  # both without edges: the same (empty) edge map
    if na <= tiny or nb <= tiny:
        return 0.0  # one image has edges, the other none: nothing in common
    return float(np.clip((a * b).sum() / (na * nb), -1.0, 1.0))


def compare_edge_maps(candidate_maps: list[np.ndarray], target_maps: list[np.ndarray]) -> float:
    """Mean correlation of two images' `edge_maps`, scale by scale: -1 .. 1."""
    _same_size(candidate_maps[0], target_maps[0])
    return float(np.mean([_correlation(a, b) for a, b in zip(candidate_maps, target_maps, strict=True)]))


def edge_similarity(candidate: np.ndarray, target: np.ndarray, sigmas: tuple[float, ...] = (1.0, 3.0)) -> float:
    """Correlation of the two images' edge maps (`edge_maps`), averaged over blur scales: -1 .. 1.

    1 when edges sit in the same places with proportional strengths, about 0 for unrelated patterns,
    0 against an image without edges (a flat image). The coarser scale forgives edges a few pixels off.
    Luma edges only: a boundary between two colours of equal brightness is not seen.
    """
    _same_size(candidate, target)
    return compare_edge_maps(edge_maps(candidate, sigmas), edge_maps(target, sigmas))


def palette_quantiles(image: np.ndarray, quantiles: int = 64, max_pixels: int = 4096) -> np.ndarray:
    """`quantiles` quantiles of the colours projected on six directions, scaled to [0, 1] (6 x quantiles).

    Read from at most about `max_pixels` pixels on a regular grid.
    """
    rgb = as_float_rgb(image)
    step = max(1, int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / max_pixels))))
    pixels = rgb[::step, ::step].reshape(-1, 3)
    low = np.minimum(_PALETTE_DIRECTIONS, 0).sum(axis=1)  # the projection of [0, 1]^3 spans [low, low + span]
    span = np.abs(_PALETTE_DIRECTIONS).sum(axis=1)
    projected = np.sort((pixels @ _PALETTE_DIRECTIONS.T - low) / span, axis=0)
    positions = ((np.arange(quantiles) + 0.5) / quantiles * len(projected)).astype(int)
    return projected[positions].T.astype(np.float64)


def compare_palettes(candidate_quantiles: np.ndarray, target_quantiles: np.ndarray) -> float:
    """1 minus the mean absolute difference of two `palette_quantiles`: 0 .. 1."""
    return float(1.0 - np.mean(np.abs(candidate_quantiles - target_quantiles)))


def palette_similarity(candidate: np.ndarray, target: np.ndarray, quantiles: int = 64) -> float:
    """1 minus a sliced Wasserstein-1 distance between the two colour distributions: 0 .. 1.

    Pixels are projected on six colour directions (R, G, B, luma and two opponent axes), and the mean
    absolute difference of `quantiles` quantiles is taken along each, scaled by the direction's range.
    Positions do not matter: a shuffled image has the palette of the original. Black against white:
    1/3 (luma and the three channels differ fully, the chroma axes not at all).
    """
    _same_size(candidate, target)
    return compare_palettes(palette_quantiles(candidate, quantiles), palette_quantiles(target, quantiles))


def blurred(image: np.ndarray, blur: float = 1 / 64) -> np.ndarray:
    """The image in [0, 1], area-averaged to about `PIXEL_WORKING_SIDE` px, then blurred by `blur` x its side."""
    from scipy.ndimage import gaussian_filter

    rgb = as_float_rgb(image)
    factor = max(1, min(rgb.shape[:2]) // PIXEL_WORKING_SIDE)
    small = downscale(rgb, factor)
    sigma = blur * min(rgb.shape[:2]) / factor
    return gaussian_filter(small, sigma=(sigma, sigma, 0), mode="nearest") if sigma > 0 else small


def compare_blurred(candidate_blurred: np.ndarray, target_blurred: np.ndarray) -> float:
    """1 minus the mean squared difference of two `blurred` images: 0 .. 1."""
    _same_size(candidate_blurred, target_blurred)
    return float(1.0 - np.mean((candidate_blurred.astype(np.float64) - target_blurred) ** 2))


def pixel_similarity(candidate: np.ndarray, target: np.ndarray, blur: float = 1 / 64) -> float:
    """1 minus the mean squared colour difference after a Gaussian blur: 0 .. 1, 1 for identical images.

    Colours are scaled to [0, 1]; the blur's sigma is `blur` times the shorter side (4 px at 256 px), so
    detail a few pixels off costs less than a wrong layout. (Images are first area-averaged to about 64
    px, which such a blur makes all but lossless.) Its `skill` against the mean-colour image is
    1 - MSE / MSE_flat: the share of the target's blurred variance the candidate explains (R^2).
    """
    _same_size(candidate, target)
    return compare_blurred(blurred(candidate, blur), blurred(target, blur))


def skill(score: float, flat_score: float, eps: float = 1e-6) -> float:
    """How much of the way from the trivial baseline to a perfect match a score goes: (s - s_flat) / (1 - s_flat).

    `flat_score` is the same similarity for the target's mean-colour image (`mean_colour_image`), and the
    similarity must be 1 for a perfect match. So 1 is a perfect match, 0 is no better than a flat image
    of the right mean colour, and a negative value is worse than that. Not clipped here (rewards clip).
    NaN (deliberately) when the baseline is already perfect (`flat_score` >= 1 - eps): a flat target,
    which nothing can beat.

    >>> skill(0.78, 0.56)
    0.5
    """
    if flat_score >= 1.0 - eps:
        return float("nan")
    return float((score - flat_score) / (1.0 - flat_score))


#: The similarity metrics that have a `skill`: name -> function(candidate, target) -> float (1 = identical).
#: `earthshader.image` adds "appearance" (texture statistics and palette, `earthshader.image.appearance`).
SIMILARITY_METRICS = {
    "ssim": ssim,
    "pixel": pixel_similarity,
    "edges": edge_similarity,
    "palette": palette_similarity,
}


def similarity_skill(metric, candidate: np.ndarray, target: np.ndarray, **options) -> tuple[float, float, float]:
    """(raw score, mean-colour baseline score, skill) of one similarity metric (a function or a name)."""
    function = SIMILARITY_METRICS[metric] if isinstance(metric, str) else metric
    score = function(candidate, target, **options)
    flat_score = function(mean_colour_image(target), target, **options)
    return score, flat_score, skill(score, flat_score)


def target_image(image, *, allow_flat: bool = True) -> np.ndarray:
    """`image` as a target every metric can score: H x W x 3 uint8, or a `ValueError` that says why not.

    Accepts a PIL image (any mode, converted to RGB) or an H x W x 3|4 uint8 array (alpha dropped), at least
    `MIN_SIDE` pixels each way. With `allow_flat=False` a single-colour image is refused too: nothing beats
    its own mean-colour image, so no similarity skill exists for it. The one check datasets of targets
    (GRPO, evaluation) and the rewards apply.

    >>> target_image(np.zeros((2, 8, 3), np.uint8))
    Traceback (most recent call last):
    ValueError: the image is 2 x 8 pixels; a target needs at least 3 x 3 (SSIM's smallest window)
    """
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
        image = image if image.mode == "RGB" else image.convert("RGB")
    try:
        array = np.asarray(image)
    except Exception as error:  # an object numpy cannot read as an array at all
        raise ValueError(f"not an image: {type(image).__name__} ({error})") from None
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"not an H x W x 3 (or 4) colour image: {type(image).__name__} of shape {array.shape}")
    if array.dtype != np.uint8:
        raise ValueError(f"not a uint8 image (values 0..255): dtype {array.dtype}; convert it, e.g. with "
                         f"(np.clip(x, 0, 1) * 255).round().astype(np.uint8) for colours in [0, 1]")
    height, width = array.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"the image is {height} x {width} pixels; a target needs at least {MIN_SIDE} x {MIN_SIDE} "
                         "(SSIM's smallest window)")
    array = np.ascontiguousarray(array[..., :3])
    if not allow_flat and is_flat(array):
        raise ValueError("the image is a single colour: its own mean-colour image already matches it, so no "
                         "similarity skill exists")
    return array
