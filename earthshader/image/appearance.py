"""Appearance: does a candidate look like the same stuff as the target, wherever its features sit?

The pixel-aligned similarities (`ssim`, `edges`, `pixel`) ask whether features line up; a texture drawn
at another phase, seed or offset fails them. `appearance` compares what a texture is instead: luma
texture statistics (Portilla-Simoncelli, through `plenoptic`) and the colour distribution (the sliced
Wasserstein palette distance of `earthshader.image.metrics`). It follows the metrics' convention: 1 for
an identical image, exactly 0 for the target's mean-colour image, negative when worse than that.

    from earthshader.image.appearance import AppearanceScorer
    scorer = AppearanceScorer(target)                  # the target's statistics, computed once
    scorer.similarities([render_a, render_b])          # one value per candidate, in one batched call
    scorer.skills(renders)                             # the same values (NaN for a flat target)

    from earthshader.image.metrics import similarity_skill
    score, flat_score, skill = similarity_skill("appearance", render, target)   # flat_score == 0.0

How (the benchmark behind each choice: docs/eval.md, "Appearance", and docs/experiments/2026-12-06-*):

- Geometry: images whose shorter side exceeds `max_side` (512) are area-averaged (Pillow's BOX filter) down
  to it; then both sides are centre-cropped to a multiple of 2**scales (at most 2**scales - 1 pixels).
  Scales drop from 3 to 2 where the coarsest band (side / 2**scales) would not be wider than the 7 x 7
  correlations; below `MIN_SIDE` (32) pixels a `ValueError` says so.
- Texture: plenoptic's Portilla-Simoncelli statistics of the luma. Band amplitudes (the spread of each
  scale and orientation: a power spectrum) are compared as log(a / sigma + 0.2), sigma the target's luma
  standard deviation, so a band twice too strong costs the same on a faint or a bold target; the
  correlations, skew and kurtosis of each band are compared weighted by the target's amplitude in that
  band, so a band the target hardly uses does not count. Each group of statistics counts equally.
- Flat reference: a flat image is the target with its contrast turned to zero: no band amplitude, the
  target's own correlations. Every candidate whose luma varies by less than half a grey level takes
  exactly that reference, so a flat candidate's texture term is the target's flat distance, bit for bit.
- Colour: `metrics.palette_quantiles` against the target's, as a skill over the mean-colour image.
- Score: 1 - (0.75 d_texture / d_texture_flat + 0.25 d_colour / d_colour_flat) (`colour_weight`). A term whose flat
  distance is 0 (the target's luma is flat: texture; its colours are one: colour) is left out; a target
  with neither is flat, and then the score is the raw palette similarity (1 for its own colour, so the
  skill is NaN, as for every metric).

Not seen: where things are (layout: the statistics are global and periodic: a circular shift scores about 1),
the shape of single objects beyond their band statistics, which colour goes with which pattern (colours are
compared as a distribution), much of a mirror image, a quarter turn or inverted contrast, and scales coarser
than the working image's coarsest band. Identical statistics do not mean an identical image.

>>> import numpy as np
>>> y, x = np.mgrid[0:160, 0:160]
>>> wave = 0.5 + 0.4 * np.sin(x / 3.0 + 2.0 * np.sin(y / 11.0))
>>> texture = np.stack([wave, wave * 0.8, 1.0 - wave], -1)
>>> texture = (texture * 255).round().astype(np.uint8)
>>> target, shifted = texture[:96, :96], texture[17:113, 9:105]
>>> scorer = AppearanceScorer(target)
>>> from earthshader.image.metrics import mean_colour_image
>>> identical, flat, moved = scorer.similarities([target, mean_colour_image(target), shifted])
>>> round(float(identical), 6), float(flat), bool(moved > 0.8)
(1.0, 0.0, True)
>>> AppearanceScorer(target[:20, :20])
Traceback (most recent call last):
ValueError: appearance needs at least 32 x 32 pixels (two scales of 7 x 7 correlations), got 20 x 20
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from earthshader.image import metrics

#: Smallest number of pyramid scales scored: below it an image is refused.
MIN_SCALES = 2
#: A candidate whose luma spans less than this many grey levels is flat (takes the flat reference).
FLAT_LUMA_RANGE = 0.5
#: Portilla-Simoncelli statistics compared, each group counting equally. Pixel statistics are left to the
#: colour term (their min and max also to nobody: one stray pixel would move them).
AMPLITUDES = ("magnitude_std", "std_reconstructed", "var_highpass_residual")
SHAPES = ("auto_correlation_magnitude", "auto_correlation_reconstructed", "cross_orientation_correlation_magnitude",
          "cross_scale_correlation_magnitude", "cross_scale_correlation_real", "skew_reconstructed",
          "kurtosis_reconstructed")


@dataclass(frozen=True)
class AppearanceSettings:
    """The measure's settings (the defaults are the ones docs/eval.md validates)."""

    n_scales: int = 3
    n_orientations: int = 4
    spatial_corr_width: int = 7
    max_side: int = 512  # shorter sides above this are area-averaged down to it (which smooths fine noise)
    colour_weight: float = 0.25  # the texture term weighs 1 - colour_weight
    amplitude_floor: float = 0.2  # band amplitudes are compared as log(amplitude / target sigma + floor)

    def __post_init__(self):
        if self.n_scales < MIN_SCALES or self.n_orientations < 1 or self.spatial_corr_width < 1:
            raise ValueError(f"bad appearance settings {self}: n_scales >= {MIN_SCALES}, n_orientations >= 1, "
                             "spatial_corr_width >= 1")
        if not 0.0 <= self.colour_weight <= 1.0:
            raise ValueError(f"colour_weight must be in [0, 1], got {self.colour_weight}")
        if self.amplitude_floor <= 0:
            raise ValueError(f"amplitude_floor must be positive, got {self.amplitude_floor}")
        if self.max_side < 2**MIN_SCALES * self.spatial_corr_width:
            raise ValueError(f"max_side {self.max_side} leaves no room for {MIN_SCALES} scales")

    @property
    def min_side(self) -> int:
        return 2**MIN_SCALES * (self.spatial_corr_width + 1)


DEFAULT_SETTINGS = AppearanceSettings()
#: The smallest side (pixels) scored with the default settings.
MIN_SIDE = DEFAULT_SETTINGS.min_side


def working_geometry(height: int, width: int, settings: AppearanceSettings = DEFAULT_SETTINGS):
    """(resized height, width, scales, cropped height, width) for an image of `height` x `width` pixels.

    >>> working_geometry(97, 97)
    (97, 97, 3, 96, 96)
    >>> working_geometry(224, 300)
    (224, 300, 3, 224, 296)
    >>> working_geometry(1024, 1024)
    (512, 512, 3, 512, 512)
    >>> working_geometry(40, 40)
    (40, 40, 2, 40, 40)
    >>> working_geometry(60, 64)
    (60, 64, 2, 60, 64)
    """
    if min(height, width) < settings.min_side:
        raise ValueError(f"appearance needs at least {settings.min_side} x {settings.min_side} pixels (two scales of "
                         f"{settings.spatial_corr_width} x {settings.spatial_corr_width} correlations), "
                         f"got {height} x {width}")
    scale = min(1.0, settings.max_side / min(height, width))
    resized = (max(settings.min_side, round(height * scale)), max(settings.min_side, round(width * scale)))
    scales = settings.n_scales
    while scales > MIN_SCALES and min(resized) // 2**scales <= settings.spatial_corr_width:
        scales -= 1
    step = 2**scales
    return resized[0], resized[1], scales, resized[0] // step * step, resized[1] // step * step


class _Layout:
    """The Portilla-Simoncelli model for one working shape, and where each statistic sits in its output."""

    def __init__(self, shape: tuple[int, int], scales: int, settings: AppearanceSettings):
        import torch
        from plenoptic.models.portilla_simoncelli import PortillaSimoncelli

        self.model = PortillaSimoncelli(shape, n_scales=scales, n_orientations=settings.n_orientations,
                                        spatial_corr_width=settings.spatial_corr_width)
        size = len(self.model._representation_scales)  # the statistics the model returns (redundant ones dropped)
        positions = self.model.convert_to_dict(torch.arange(size, dtype=torch.float32).view(1, 1, size))
        orientations, width = settings.n_orientations, settings.spatial_corr_width
        pairs = (orientations, orientations)
        # Per statistic: its position in the output and the band whose amplitude weighs it, as an index into
        # the concatenation [magnitude_std (orientation-major), mean magnitude_std per scale, std_reconstructed].
        band = np.arange(orientations * scales).reshape(orientations, scales)
        per_scale = orientations * scales + np.arange(scales)
        recon = orientations * scales + scales + np.arange(scales + 1)
        owners = {
            "auto_correlation_magnitude": np.broadcast_to(band, (width, width, orientations, scales)),
            "auto_correlation_reconstructed": np.broadcast_to(recon, (width, width, scales + 1)),
            "cross_orientation_correlation_magnitude": np.broadcast_to(per_scale, (*pairs, scales)),
            "cross_scale_correlation_magnitude": np.broadcast_to(per_scale[:-1], (*pairs, scales - 1)),
            "cross_scale_correlation_real": np.broadcast_to(per_scale[:-1], (pairs[0], 2 * pairs[1], scales - 1)),
            "skew_reconstructed": recon,
            "kurtosis_reconstructed": recon,
        }
        self.index, self.owner = {}, {}
        for name, values in positions.items():
            values = values[0, 0].numpy()
            kept = np.isfinite(values)
            self.index[name] = values[kept].astype(int)
            if name in owners:
                self.owner[name] = owners[name][kept]
        self.sigma_index = int(self.index["pixel_statistics"][1])  # the variance
        # Non-tight pyramid: each coarser band's coefficients come out about 4 times larger; undone here.
        self.gains = {"magnitude_std": np.tile(4.0 ** np.arange(scales), orientations),
                      "std_reconstructed": 4.0 ** np.arange(scales + 1), "var_highpass_residual": np.ones(1)}
        self.orientations, self.scales = orientations, scales

    def statistics(self, lumas: np.ndarray, batch: int = 32) -> dict[str, np.ndarray]:
        """Transformed statistics of N x H x W lumas in [0, 1]: amplitudes (luma units), shapes, `sigma`."""
        import torch

        with torch.no_grad(), torch_threads(1):
            raw = np.concatenate([self.model(torch.from_numpy(lumas[i:i + batch, None])).double().numpy()[:, 0]
                                  for i in range(0, len(lumas), batch)])
        found = {name: raw[:, index] for name, index in self.index.items()}
        out = {"sigma": np.sqrt(np.maximum(raw[:, self.sigma_index], 0.0))}
        out["var_highpass_residual"] = np.sqrt(np.maximum(found["var_highpass_residual"], 0.0))
        for name in ("magnitude_std", "std_reconstructed"):
            out[name] = found[name] / self.gains[name]
        for name in SHAPES:
            # A band without energy (stripes along an axis leave some orientations empty) has no correlation:
            # NaN, which becomes 0; its weight (the target's amplitude there) is about 0 anyway.
            values = np.nan_to_num(found[name], nan=3.0 if name == "kurtosis_reconstructed" else 0.0,
                                   posinf=1e6, neginf=-1e6)
            if name == "kurtosis_reconstructed":
                values = np.log(np.clip(values, 1e-3, 1e6))
            elif name == "skew_reconstructed":
                values = np.clip(values, -30.0, 30.0)
            else:
                values = np.clip(values, -1.0, 1.0)
            out[name] = values
        return out

    def band_amplitudes(self, stats: dict[str, np.ndarray]) -> np.ndarray:
        """N x bands: magnitude_std, its mean per scale, std_reconstructed (the index `owner` refers to)."""
        magnitudes = stats["magnitude_std"]
        per_scale = magnitudes.reshape(len(magnitudes), self.orientations, self.scales).mean(axis=1)
        return np.concatenate([magnitudes, per_scale, stats["std_reconstructed"]], axis=1)


_layouts: dict[tuple, _Layout] = {}
_layouts_lock = threading.Lock()


def _layout(shape: tuple[int, int], scales: int, settings: AppearanceSettings) -> _Layout:
    key = (shape, scales, settings)
    with _layouts_lock:
        if key not in _layouts:
            _layouts[key] = _Layout(shape, scales, settings)
        return _layouts[key]


class AppearanceScorer:
    """Scores candidates against one target by appearance; the target's statistics are computed once.

    `similarities(candidates)` scores a list (or an N x H x W x 3 stack) of H x W x 3|4 uint8 images of the
    target's size in one batched call: 1 for the target itself, exactly 0 for any image of its mean colour
    (`flat_score`; 1 instead for a flat target, whose skill is NaN), negative when worse. Safe to call from
    several threads: each call computes on one core (`torch_threads(1)`), since statistics of images this
    small gain nothing from more threads and lose much when cores are shared (40 candidates at 96 px: 0.35 s
    on one thread, 5 s on two of two busy cores). Score from several threads to use several cores.
    """

    def __init__(self, target: np.ndarray, settings: AppearanceSettings = DEFAULT_SETTINGS):
        metrics.as_float_rgb(target)  # the one check of shape and dtype
        self.target = np.ascontiguousarray(np.asarray(target)[..., :3])
        self.settings = settings
        self.geometry = working_geometry(*self.target.shape[:2], settings)
        self.palette = metrics.palette_quantiles(self.target)
        self.colour_flat = float(self._colour_distances([metrics.mean_colour_image(self.target)])[0])
        lumas, flat = self._lumas([self.target])
        self.texture_flat = 0.0
        if not flat[0]:
            stats = self._layout.statistics(lumas)
            self.sigma = float(stats["sigma"][0])
            self.log_amplitudes = {name: self._log_amplitude(stats[name]) for name in AMPLITUDES}
            self.shapes = {name: stats[name] for name in SHAPES}
            bands = self._layout.band_amplitudes(stats)[0] / self.sigma
            self.shape_weights = {name: bands[self._layout.owner[name]] for name in SHAPES}
            # The flat reference: this target at zero contrast (no amplitude, its own correlations).
            zero = {name: np.zeros_like(stats[name]) for name in AMPLITUDES}
            self.texture_flat = float(self._texture_distances({**zero, **self.shapes})[0])
        self.flat_score = 1.0 if self.texture_flat <= 0 and self.colour_flat <= 0 else 0.0

    @cached_property
    def _layout(self) -> _Layout:
        return _layout(self.geometry[3:], self.geometry[2], self.settings)

    def similarity(self, candidate: np.ndarray) -> float:
        """One candidate's similarity (see `similarities`)."""
        return float(self.similarities([candidate])[0])

    def skills(self, candidates) -> np.ndarray:
        """`metrics.skill` of each candidate over the mean-colour image: the similarities themselves, or NaN
        for a flat target."""
        return np.array([metrics.skill(s, self.flat_score) for s in self.similarities(candidates)])

    def similarities(self, candidates) -> np.ndarray:
        """1 - (w_t d_texture / d_texture_flat + w_c d_colour / d_colour_flat) / (w_t + w_c), one per candidate."""
        images = self._candidates(candidates)
        terms, weights = [], []
        texture_weight, colour_weight = 1.0 - self.settings.colour_weight, self.settings.colour_weight
        if self.texture_flat > 0 and texture_weight > 0:
            lumas, flat = self._lumas(images)
            distances = np.full(len(images), self.texture_flat)
            if not flat.all():
                distances[~flat] = self._texture_distances(self._layout.statistics(lumas[~flat]))
            terms.append(distances / self.texture_flat)
            weights.append(texture_weight)
        if self.colour_flat > 0 and colour_weight > 0:
            terms.append(self._colour_distances(images) / self.colour_flat)
            weights.append(colour_weight)
        if not terms:  # a flat target: only its colour can be matched
            return np.array([metrics.compare_palettes(metrics.palette_quantiles(i), self.palette) for i in images])
        return 1.0 - np.average(np.stack(terms), axis=0, weights=weights)

    def _candidates(self, candidates) -> list[np.ndarray]:
        images = list(candidates)
        for index, image in enumerate(images):
            metrics.as_float_rgb(image)
            if np.shape(image)[:2] != self.target.shape[:2]:
                raise ValueError(f"candidate {index} is {np.shape(image)[0]} x {np.shape(image)[1]} pixels, "
                                 f"the target {self.target.shape[0]} x {self.target.shape[1]}")
        return images

    def _lumas(self, images) -> tuple[np.ndarray, np.ndarray]:
        """(N x h x w float32 lumas in [0, 1] at the working geometry, N flags: the luma is flat)."""
        from PIL import Image

        height, width, _, crop_h, crop_w = self.geometry
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
        lumas, flat = [], []
        for image in images:
            gray = metrics.to_gray(np.asarray(image)[..., :3])
            flat.append(float(np.ptp(gray)) < FLAT_LUMA_RANGE)
            gray = (gray / 255.0).astype(np.float32)
            if gray.shape != (height, width):
                gray = np.asarray(Image.fromarray(gray).resize((width, height), Image.Resampling.BOX))
            lumas.append(gray[top:top + crop_h, left:left + crop_w])
        return np.ascontiguousarray(np.stack(lumas)), np.array(flat)

    def _texture_distances(self, stats: dict[str, np.ndarray]) -> np.ndarray:
        """Mean over statistic groups of each group's root-mean-square difference from the target."""
        parts = [np.sqrt(np.mean((self._log_amplitude(stats[name]) - self.log_amplitudes[name]) ** 2, axis=1))
                 for name in AMPLITUDES]
        parts += [np.sqrt(np.mean(((stats[name] - self.shapes[name]) * self.shape_weights[name]) ** 2, axis=1))
                  for name in SHAPES]
        return np.mean(parts, axis=0)

    def _log_amplitude(self, amplitudes: np.ndarray) -> np.ndarray:
        return np.log(amplitudes / self.sigma + self.settings.amplitude_floor)

    def _colour_distances(self, images) -> np.ndarray:
        """Mean absolute difference of palette quantiles from the target's (a sliced Wasserstein-1 distance)."""
        quantiles = np.stack([metrics.palette_quantiles(image) for image in images])
        return np.abs(quantiles - self.palette).reshape(len(images), -1).mean(axis=1)


def appearance_similarity(candidate: np.ndarray, target: np.ndarray,
                          settings: AppearanceSettings = DEFAULT_SETTINGS) -> float:
    """`AppearanceScorer(target).similarity(candidate)`: 1 identical, 0 the target's mean colour, below 0 worse."""
    return AppearanceScorer(target, settings).similarity(candidate)


@contextlib.contextmanager
def torch_threads(count: int):
    """Run torch's intra-op work of this thread on `count` threads, then restore the thread's setting.

    Torch's intra-op thread count is per thread (OpenMP), so a scoring thread can take one without changing
    the thread that trains; threads that start meanwhile inherit `count`, later ones the restored value.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
