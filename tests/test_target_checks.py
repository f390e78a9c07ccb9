"""A target image that can never be scored is refused when its dataset is loaded, naming the row:
`earthshader.image.metrics.target_image` is the one check (GRPO's targets, evaluation's, the rewards)."""

import numpy as np
import pytest
from PIL import Image

from earthshader.image.metrics import MIN_SIDE, target_image

RNG = np.random.default_rng(0)
GOOD = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)

BAD = {
    "empty": (np.zeros((0, 0, 3), np.uint8), "0 x 0 pixels"),
    "one_row": (GOOD[:1], "1 x 32 pixels"),
    "below_ssim_window": (GOOD[:MIN_SIDE - 1, :MIN_SIDE - 1], "at least 3 x 3"),
    "float": (GOOD / 255.0, "not a uint8 image"),
    "nan": (np.full((8, 8, 3), np.nan), "not a uint8 image"),
    "grey_2d": (GOOD[..., 0], "not an H x W x 3"),
    "two_channels": (GOOD[..., :2], "not an H x W x 3"),
    "pil_empty": (Image.new("RGB", (0, 0)), "0 x 0 pixels"),
    "not_an_image": ("picture.png", "not an H x W x 3"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_target_image_refuses_what_cannot_be_scored(name):
    image, reason = BAD[name]
    with pytest.raises(ValueError, match=reason):
        target_image(image)


def test_target_image_accepts_pil_rgba_and_tiny_but_scorable_images():
    rgba = np.concatenate([GOOD, np.full_like(GOOD[..., :1], 255)], -1)
    for image in (GOOD, rgba, Image.fromarray(GOOD).convert("P"), Image.fromarray(GOOD).convert("L"),
                  GOOD[:MIN_SIDE, :MIN_SIDE]):
        array = target_image(image)
        assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[-1] == 3
    flat = np.full((16, 16, 3), 90, np.uint8)
    assert target_image(flat).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="single colour"):
        target_image(flat, allow_flat=False)


def saved_dataset(tmp_path, images):
    import datasets

    rows = [{"image": Image.fromarray(image), "code": f"// {i}", "id": f"row-{i}"} for i, image in enumerate(images)]
    path = tmp_path / "targets"
    datasets.Dataset.from_list(rows).cast_column("image", datasets.Image()).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("bad, reason", [(GOOD[:2], "2 x 32 pixels"),
                                         (np.full((32, 32, 3), 128, np.uint8), "flat")])
def test_a_grpo_dataset_row_that_cannot_be_a_target_is_named_and_skipped(tmp_path, caplog, bad, reason):
    from earthshader.training.arguments import GRPOScriptArguments
    from earthshader.training.grpo_stage import build_dataset

    path = saved_dataset(tmp_path, [GOOD, GOOD[::-1], bad])
    with caplog.at_level("WARNING"):
        dataset = build_dataset(GRPOScriptArguments(dataset_path=str(path), image_size=56))
    assert sorted(dataset["id"]) == ["row-0", "row-1"]
    assert "row-2" in caplog.text and reason in caplog.text


def test_an_evaluation_dataset_row_that_cannot_be_a_target_is_named_and_skipped(tmp_path, caplog):
    from earthshader.evaluation import load_targets

    path = saved_dataset(tmp_path, [GOOD, GOOD[:1]])
    with caplog.at_level("WARNING"):
        targets = load_targets(str(path), split="train", size=56)
    assert [t.id for t in targets] == ["row-0"]
    assert "row-1" in caplog.text and "1 x 32 pixels" in caplog.text


@pytest.mark.parametrize("field, value", [("image_size", 0), ("render_workers", 0), ("render_timeout", -1.0),
                                          ("generated_examples", -2)])
def test_grpo_script_arguments_check_their_values(field, value):
    from earthshader.training.arguments import GRPOScriptArguments

    with pytest.raises(ValueError, match=f"argument --{field}: must be"):
        GRPOScriptArguments(**{field: value})
