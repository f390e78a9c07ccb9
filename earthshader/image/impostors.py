"""Trivial answers that share something with a target but not its look: what a similarity must rank low.

    from earthshader.image.impostors import impostors
    fakes = impostors(target, seed=0)    # {"white noise": ..., "shuffled": ..., "stripe": ..., "flat": ...}

- `white noise`: every pixel an independent, uniformly random colour;
- `shuffled`: the target's own pixels in a random order (its palette exactly, none of its structure);
- `stripe`: the target's mean colour with one vertical stripe, an eighth of the width, in the target's
  colour farthest from that mean (the right mean, one bold edge);
- `flat`: the target's mean colour (`metrics.mean_colour_image`), whose skill is 0 by definition.

All are H x W x 3 uint8 like the target; the same target and seed give the same images.

>>> import numpy as np
>>> target = np.zeros((4, 8, 3), np.uint8); target[:, 4:] = 200
>>> fakes = impostors(target, seed=0)
>>> sorted(fakes), fakes["stripe"][0, :, 0].tolist()
(['flat', 'shuffled', 'stripe', 'white noise'], [100, 100, 100, 0, 100, 100, 100, 100])
>>> sorted(fakes["shuffled"].reshape(-1, 3)[:, 0].tolist()) == sorted(target.reshape(-1, 3)[:, 0].tolist())
True
"""

from __future__ import annotations

import numpy as np

from earthshader.image.metrics import mean_colour_image


def white_noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """H x W x 3 uint8 of independent uniform random colours."""
    return np.random.default_rng(seed).integers(0, 256, (*shape[:2], 3), dtype=np.uint8)


def shuffled_pixels(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """The image's pixels (colours kept whole) in a random order."""
    image = np.asarray(image)[..., :3]
    pixels = image.reshape(-1, 3)
    return pixels[np.random.default_rng(seed).permutation(len(pixels))].reshape(image.shape)


def single_stripe(image: np.ndarray) -> np.ndarray:
    """The mean colour with one centred vertical stripe (an eighth of the width, at least 1 px) in the colour
    farthest from the mean (sum of absolute channel differences; the first such pixel)."""
    flat = mean_colour_image(np.asarray(image)[..., :3])
    pixels = np.asarray(image)[..., :3].reshape(-1, 3).astype(np.int64)
    farthest = pixels[np.argmax(np.abs(pixels - flat[0, 0].astype(np.int64)).sum(axis=1))]
    width = flat.shape[1]
    half = max(1, width // 8) / 2
    flat[:, int(width / 2 - half):int(width / 2 + half)] = farthest
    return flat


def impostors(image: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """White noise, the pixels shuffled, a single stripe and the flat mean colour, for one target."""
    return {"white noise": white_noise(np.shape(image), seed), "shuffled": shuffled_pixels(image, seed),
            "stripe": single_stripe(image), "flat": mean_colour_image(np.asarray(image)[..., :3])}
