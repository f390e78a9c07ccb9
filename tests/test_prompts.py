"""The one prompt template and the one image-size policy."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from earthshader.glsl.extract import extract_glsl
from earthshader.modeling import prompts

CODE = "void mainImage(out vec4 fragColor, in vec2 fragCoord) {\n    fragColor = vec4(1.0);\n}"


@pytest.mark.parametrize(
    ("requested", "side"), [(224, 224), (448, 448), (512, 504), (84, 84), (64, 56), (100, 112), (10, 56), (1, 56)]
)
def test_image_size_is_a_multiple_of_28_and_at_least_56(requested, side):
    assert prompts.image_size(requested) == side
    assert side % 28 == 0


@pytest.mark.parametrize("bad", [0, -28, 2.5, "224", True])
def test_image_size_rejects_non_positive_integers(bad):
    with pytest.raises(ValueError, match="image size"):
        prompts.image_size(bad)


def test_image_tokens_counts_one_token_per_28_pixel_square():
    assert prompts.image_tokens(224) == 64
    assert prompts.image_tokens(448) == 256
    assert prompts.image_tokens(84) == 9


def test_prepare_image_makes_square_rgb_pil_images_from_arrays_and_pil():
    rgba = np.zeros((30, 50, 4), np.uint8)
    assert prompts.prepare_image(rgba, 84).size == (84, 84)
    pil = Image.new("L", (300, 200))
    prepared = prompts.prepare_image(pil, 224)
    assert prepared.size == (224, 224) and prepared.mode == "RGB"
    same = Image.new("RGB", (84, 84))
    assert prompts.prepare_image(same, 84).size == (84, 84)


def test_prepare_image_names_the_expected_array():
    with pytest.raises(ValueError, match="H x W x 3"):
        prompts.prepare_image(np.zeros((8, 8), np.float32), 84)


def test_example_is_trl_prompt_completion_with_one_image_placeholder():
    example = prompts.make_example(np.zeros((64, 64, 3), np.uint8), CODE, size=84)
    assert set(example) == {"prompt", "completion", "image"}
    (user,) = example["prompt"]
    assert user["role"] == "user"
    assert [part["type"] for part in user["content"]] == ["image", "text"]
    assert user["content"][1]["text"] == prompts.INSTRUCTION
    (answer,) = example["completion"]
    assert answer["role"] == "assistant"
    assert example["image"].size == (84, 84)


def test_completion_round_trips_through_extract_glsl():
    completion = prompts.make_completion("\n" + CODE + "\n\n")
    shader = extract_glsl(completion)
    assert shader.code == CODE
    assert shader.well_formed
