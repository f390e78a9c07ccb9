"""Tests for the similarity metrics in `earthshader.image.metrics` (ssim, pixel, edges, palette, mse, psnr, skill)."""

import math

import numpy as np
import pytest

from earthshader.image import metrics

BLACK = np.zeros((32, 32, 3), np.uint8)
WHITE = np.full((32, 32, 3), 255, np.uint8)


def pattern(size: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, coloured, non-flat image."""
    y, x = np.mgrid[0:size, 0:size] / size
    phase = seed * 1.3
    image = np.stack([np.sin(9 * x + phase), np.cos(7 * y - phase), np.sin(5 * (x + y) + 2 * phase)], -1)
    return np.round(127.5 + 100 * image).astype(np.uint8)


def test_mse_and_psnr_exact_values():
    assert metrics.mse(BLACK, WHITE) == 1.0
    assert metrics.psnr(BLACK, WHITE) == 0.0
    grey = np.full_like(BLACK, 51)  # 0.2 of the range
    assert metrics.mse(grey, BLACK) == pytest.approx(0.04)
    assert metrics.psnr(grey, BLACK) == pytest.approx(-10 * math.log10(0.04))
    assert metrics.psnr(WHITE, WHITE) == metrics.PSNR_MAX_DB


@pytest.mark.parametrize("name", list(metrics.SIMILARITY_METRICS))
def test_identical_images_score_one_and_skill_one(name):
    image = pattern()
    score, flat_score, skill = metrics.similarity_skill(name, image, image)
    assert score == pytest.approx(1.0, abs=1e-6)
    assert skill == pytest.approx(1.0, abs=1e-6)
    assert flat_score < 1.0


@pytest.mark.parametrize("name", list(metrics.SIMILARITY_METRICS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_colour_image_has_zero_skill(name, seed):
    target = pattern(seed=seed)
    assert metrics.similarity_skill(name, metrics.mean_colour_image(target), target)[2] == 0.0


def test_skill_formula():
    assert metrics.skill(0.78, 0.56) == pytest.approx(0.5)
    assert metrics.skill(0.56, 0.56) == 0.0
    assert metrics.skill(1.0, 0.3) == pytest.approx(1.0)
    assert metrics.skill(0.2, 0.6) == pytest.approx(-1.0)
    assert math.isnan(metrics.skill(1.0, 1.0))  # a flat target: nothing beats the baseline


def test_ssim_of_flat_against_flat_and_multiscale_bounds():
    assert metrics.ssim(WHITE, WHITE) == pytest.approx(1.0)
    target = pattern(64)
    shifted = np.roll(target, 3, axis=1)
    single, pyramid = metrics.ssim(shifted, target), metrics.ssim(shifted, target, scales=3)
    assert -1.0 <= single < pyramid < 1.0  # coarse levels forgive a small shift


def test_ssim_on_tiny_images():
    tiny = pattern(8)
    assert metrics.ssim(tiny, tiny, scales=3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 3 x 3"):
        metrics.ssim(tiny[:2, :2], tiny[:2, :2])


def test_edges_exact_values():
    target = pattern()
    assert metrics.edge_similarity(metrics.mean_colour_image(target), target) == 0.0
    assert metrics.edge_similarity(BLACK, WHITE) == 1.0  # neither has an edge
    assert metrics.edge_similarity(target, target) == pytest.approx(1.0)
    brighter = np.clip(target.astype(int) + 10, 0, 255).astype(np.uint8)
    assert metrics.edge_similarity(brighter, target) > 0.95


def test_palette_exact_values():
    assert metrics.palette_similarity(BLACK, WHITE) == pytest.approx(1 / 3)
    target = pattern()
    shuffled = np.random.default_rng(0).permutation(target.reshape(-1, 3)).reshape(target.shape)
    assert metrics.palette_similarity(shuffled, target) == pytest.approx(1.0)


def test_pixel_exact_values():
    assert metrics.pixel_similarity(BLACK, WHITE) == pytest.approx(0.0, abs=1e-6)
    grey = np.full_like(BLACK, 51)
    assert metrics.pixel_similarity(grey, BLACK) == pytest.approx(1 - 0.04, abs=1e-6)
    target = pattern()
    inverted = 255 - target
    _, _, skill = metrics.similarity_skill("pixel", inverted, target)
    assert skill < 0  # worse than the flat baseline


def test_similarity_rejects_mismatched_or_non_uint8_images():
    with pytest.raises(ValueError, match="differ in size"):
        metrics.ssim(pattern(32), pattern(64))
    with pytest.raises(ValueError, match="uint8"):
        metrics.pixel_similarity(pattern().astype(np.float32), pattern())
    with pytest.raises(ValueError, match="H x W x 3"):
        metrics.palette_similarity(pattern()[..., 0], pattern()[..., 0])


def test_rgba_input_ignores_alpha():
    target = pattern()
    rgba = np.concatenate([target, np.zeros_like(target[..., :1])], -1)
    assert metrics.ssim(rgba, target) == pytest.approx(1.0)


def test_existing_metrics_keep_their_behaviour():
    assert metrics.visual_entropy(WHITE) == 0.0
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    assert metrics.visual_entropy(ramp) == pytest.approx(1.0)
    assert metrics.is_flat(WHITE) and not metrics.is_flat(pattern())
    assert metrics.neighbour_correlation(WHITE) == 1.0
    assert metrics.mean_colour_image(pattern()).shape == (64, 64, 3)
