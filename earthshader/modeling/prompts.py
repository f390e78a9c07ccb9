"""The one prompt template, shared by SFT, GRPO, evaluation and inference, around images of the one size.

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

# The image-size policy lives in the image layer (the data layer squares pictures with it); the prompt
# shows the model images of that size, so its names are the prompt's too.
from earthshader.image.sizing import DEFAULT_IMAGE_SIZE, PIXELS_PER_TOKEN_SIDE, image_size, prepare_image

#: The instruction, the same in every stage. Keep it short: the tiny model reads it too.
INSTRUCTION = (
    "Write a Shadertoy GLSL fragment shader that renders this image. "
    "Define `void mainImage(out vec4 fragColor, in vec2 fragCoord)` and answer with the code "
    "in a ```glsl block."
)

#: The fence around the program in a completion (`extract_glsl` looks for it).
FENCE_OPEN = "```glsl\n"
FENCE_CLOSE = "\n```"


def image_tokens(size: int) -> int:
    """How many language tokens Qwen2-VL spends on a square image of `image_size(size)` pixels."""
    return (image_size(size) // PIXELS_PER_TOKEN_SIDE) ** 2


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
