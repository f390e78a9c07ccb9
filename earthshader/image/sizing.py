"""The one image-size policy: every picture the model sees, and every render it is scored against, is a
square whose side is a multiple of 28 pixels (Qwen2-VL spends one language token per 28 x 28 square).

    from earthshader.image.sizing import image_size, prepare_image
    side = image_size(224)                      # 224: a multiple of 28, at least 56
    image = prepare_image(array_or_pil, side)   # square RGB PIL image, side x side

It sits in the image layer so that the data layer (`earthshader.data.rows`) squares pictures without
importing the model's code; `earthshader.modeling.prompts` builds the prompt around the same images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Qwen2-VL turns each 28 x 28 pixel square into one language token (patch 14, merge 2).
PIXELS_PER_TOKEN_SIDE = 28

#: Qwen2-VL's image processor upscales anything under 56 x 56 pixels (`min_pixels` = 3136).
MIN_TOKENS_PER_SIDE = 2

#: The largest image side the renderer draws (`earthshader.render`: at most 4096 x 4096 pixels).
MAX_SIDE = 4096

#: The side used when nobody asks for another: 224 px = 64 image tokens (448 px = 256).
DEFAULT_IMAGE_SIZE = 224


def image_size(requested: int = DEFAULT_IMAGE_SIZE) -> int:
    """The square side actually used for `requested` pixels: the nearest multiple of 28, at least 56.

    56 px is the smallest area Qwen2-VL's image processor accepts without upscaling (`min_pixels`).

    >>> image_size(224), image_size(84), image_size(512), image_size(10)
    (224, 84, 504, 56)
    """
    if isinstance(requested, bool) or not isinstance(requested, (int, np.integer)) or requested <= 0:
        raise ValueError(f"image size must be a positive number of pixels, got {requested!r}")
    side = PIXELS_PER_TOKEN_SIDE * max(MIN_TOKENS_PER_SIDE, round(int(requested) / PIXELS_PER_TOKEN_SIDE))
    return int(side)


def prepare_image(image, size: int) -> Image.Image:
    """A square RGB PIL image of `image_size(size)` pixels from a PIL image or an H x W x 3|4 uint8 array.

    A non-square input is centre-cropped to its largest square first, then resized: stretching would turn
    a photograph's circles into ellipses that no square render reproduces. Bicubic for downsizing and
    upsizing alike. Renders and factory datasets are square already; only pictures (photos, Hub images)
    lose their edges. `earthshader.data.rows` logs how many pictures were cropped and resized.

    >>> prepare_image(np.zeros((100, 300, 3), np.uint8), 84).size
    (84, 84)
    """
    side = image_size(size)
    if isinstance(image, Image.Image):
        pil = image
    else:
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[-1] not in (3, 4) or array.dtype != np.uint8:
            raise ValueError(
                f"expected an H x W x 3 (or 4) uint8 image array, got shape {array.shape} dtype {array.dtype}"
            )
        pil = Image.fromarray(array)
    if pil.mode not in ("RGB", "L"):  # a grey picture crops and resizes as its RGB would, in a third of the memory
        pil = pil.convert("RGB")
    width, height = pil.size
    if width != height:
        short = min(width, height)
        left, top = (width - short) // 2, (height - short) // 2
        pil = pil.crop((left, top, left + short, top + short))
    if pil.size != (side, side):
        pil = pil.resize((side, side), Image.Resampling.BICUBIC)
    return pil if pil.mode == "RGB" else pil.convert("RGB")
