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

Look and fix (docs/look-and-fix.md): after an answer the model may see an observation, a user turn with its
render and a difference map (images of `observation_image_size(...)` pixels) and a few words, and then
writes a whole new program. The words are here, so that SFT's correction rows, GRPO's episodes and
inference show the same turn:

    observation_text({"structure": 0.12, "appearance": 0.31})   # 'Your render and its difference ...'
    observation_text(None, failure="compile", details=["line 4: error: `bb' undeclared"])
    make_observation_turn(text)                 # user turn: two image placeholders, then the text
    make_answer_turn(format_completion(code))   # assistant turn, content as a list of blocks
"""

from __future__ import annotations

import math

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


def text_tokens(tokenizer, text: str) -> int:
    """How many tokens `text` is (no special tokens added), counted without the tokenizer's warning for a text
    longer than the model's context: a program is counted to be dropped or reported, never fed whole."""
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def prompt_tokens(processor, size: int) -> int:
    """Tokens of the rendered prompt with its image of `image_size(size)` pixels: the one `<|image_pad|>`
    placeholder becomes `image_tokens(size)` tokens."""
    text = processor.apply_chat_template(make_prompt(), add_generation_prompt=True, tokenize=False)
    return text_tokens(processor.tokenizer, text) - 1 + image_tokens(size)


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


# -- Look and fix: the observation turn -------------------------------------------------------------------

#: The words after every observation: the next answer is a whole new program.
FIX_INSTRUCTION = "Fix it: write the whole program in a ```glsl block."

#: What an observation says about a render (figures: 1 = the target, 0 = its mean colour).
RENDERED_TEXT = "Your render and its difference from the target: structure {structure}, appearance {appearance}."

#: Said when the render is one flat colour (nothing drawn).
FLAT_TEXT = "Your render is one flat colour."

#: What an observation says when the program failed; the renderer's messages follow, one a line.
FAILED_TEXT = "Your program failed ({failure}):"

#: Said when the answer held no program.
NO_PROGRAM_TEXT = "No program found in your answer."

#: At most this many compiler messages (errors first), each cut to `MAX_DETAIL_CHARS` characters.
MAX_DETAILS = 3
MAX_DETAIL_CHARS = 100

#: Images in an observation: the render and the difference map (docs/look-and-fix.md, "The difference map").
OBSERVATION_IMAGES = 2

#: The largest default side of an observation's images: three images must fit beside a 448 px target.
MAX_OBSERVATION_SIZE = 224


def observation_image_size(image_size_: int = DEFAULT_IMAGE_SIZE, requested: int | None = None) -> int:
    """The side of an observation's images: `requested` when given, else the prompt's side up to 224 px.

    >>> observation_image_size(84), observation_image_size(448), observation_image_size(448, requested=112)
    (84, 224, 112)
    """
    if requested is not None:
        return image_size(requested)
    return image_size(min(image_size(image_size_), MAX_OBSERVATION_SIZE))


def observation_text(figures: dict | None, *, failure: str | None = None, details: list[str] = (),
                     flat: bool = False) -> str:
    """The words of an observation: the figures of a render, or why the program failed and the renderer's
    messages (at most `MAX_DETAILS`, each cut to `MAX_DETAIL_CHARS`), then `FIX_INSTRUCTION`.

    >>> print(observation_text({"structure": 0.123, "appearance": -0.5}))
    Your render and its difference from the target: structure +0.12, appearance -0.50.
    Fix it: write the whole program in a ```glsl block.
    >>> print(observation_text(None, failure="compile", details=["line 3: error: `bb' undeclared"]))
    Your program failed (compile):
    line 3: error: `bb' undeclared
    Fix it: write the whole program in a ```glsl block.
    """
    if failure == "no_program":
        lines = [NO_PROGRAM_TEXT]
    elif failure is not None:
        lines = [FAILED_TEXT.format(failure=failure)]
        lines += [_cut(line) for line in list(details)[:MAX_DETAILS]]
    else:
        values = {name: _figure((figures or {}).get(name)) for name in ("structure", "appearance")}
        lines = [RENDERED_TEXT.format(**values)] + ([FLAT_TEXT] if flat else [])
    return "\n".join([*lines, FIX_INSTRUCTION])


def _figure(value) -> str:
    """A figure as the observation shows it: two decimals with a sign; "n/a" where it does not exist."""
    return f"{float(value):+.2f}" if value is not None and math.isfinite(float(value)) else "n/a"


def _cut(line: str) -> str:
    line = " ".join(str(line).split())
    return line if len(line) <= MAX_DETAIL_CHARS else line[: MAX_DETAIL_CHARS - 3] + "..."


def make_observation_turn(text: str, images: int = OBSERVATION_IMAGES) -> dict:
    """The observation as a user turn: `images` image placeholders (filled from the row's `images` in order),
    then the text; content as a list of blocks (Arrow stores no column that mixes strings and lists)."""
    return {"role": "user", "content": [*({"type": "image"} for _ in range(images)), {"type": "text", "text": text}]}


def make_answer_turn(text: str) -> dict:
    """An assistant turn whose content is a list of one text block (the form every turn of a correction row has)."""
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}
