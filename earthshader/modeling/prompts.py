"""The one prompt template and the one image-size policy, shared by SFT, GRPO, evaluation and inference.

Every stage shows the model the same words and the same pixels, so that what SFT teaches is what GRPO
and evaluation ask for. The rewards render candidates at `image_size(...)` too, so a target and its
render are compared at the size the model saw.

    from earthshader.modeling.prompts import image_size, prepare_image, make_prompt, make_example
    side = image_size(224)                      # 224: a multiple of 28 (one token per 28 x 28 pixels)
    image = prepare_image(array_or_pil, side)   # square RGB PIL image, side x side
    make_prompt()                               # the conversational user turn TRL wants
    [{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'Write a Shadertoy ...'}]}]
    make_example(image, code)                   # {"prompt": [...], "completion": [...], "image": image}

The completion is the program in a ```glsl fence: `earthshader.glsl.extract.extract_glsl` reads it back.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Qwen2-VL turns each 28 x 28 pixel square into one language token (patch 14, merge 2).
PIXELS_PER_TOKEN_SIDE = 28

#: Qwen2-VL's image processor upscales anything under 56 x 56 pixels (`min_pixels` = 3136).
MIN_TOKENS_PER_SIDE = 2

#: The side used when nobody asks for another: 224 px = 64 image tokens (448 px = 256).
DEFAULT_IMAGE_SIZE = 224

#: The instruction, the same in every stage. Keep it short: the tiny model reads it too.
INSTRUCTION = (
    "Write a Shadertoy GLSL fragment shader that renders this image. "
    "Define `void mainImage(out vec4 fragColor, in vec2 fragCoord)` and answer with the code "
    "in a ```glsl block."
)

#: The fence around the program in a completion (`extract_glsl` looks for it).
FENCE_OPEN = "```glsl\n"
FENCE_CLOSE = "\n```"


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


def image_tokens(size: int) -> int:
    """How many language tokens Qwen2-VL spends on a square image of `image_size(size)` pixels."""
    return (image_size(size) // PIXELS_PER_TOKEN_SIDE) ** 2


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


def make_prompt(instruction: str = INSTRUCTION) -> list[dict]:
    """The conversational prompt: one user turn holding the image placeholder, then the instruction."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]


def format_completion(code: str) -> str:
    """The answer text for a program: the code, stripped, in a ```glsl fence."""
    return f"{FENCE_OPEN}{code.strip()}{FENCE_CLOSE}"


def make_completion(code: str) -> list[dict]:
    """The conversational completion: one assistant turn with the fenced program (as GRPO returns them)."""
    return [{"role": "assistant", "content": format_completion(code)}]


def make_example(image, code: str, size: int = DEFAULT_IMAGE_SIZE) -> dict:
    """One SFT example from a target image and the program that draws it (prompt / completion / image)."""
    return {"prompt": make_prompt(), "completion": make_completion(code), "image": prepare_image(image, size)}
