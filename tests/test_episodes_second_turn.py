"""The correction turn alone (`earthshader.episodes.second_turn`): prompts from the model's own first answers."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from earthshader.episodes.second_turn import second_turn_dataset
from earthshader.modeling import prompts

GOOD = "```glsl\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(0.2, 0.4, 0.6, 1.0); }\n```"
BROKEN = "```glsl\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(0.5) }\n```"


def targets() -> datasets.Dataset:
    y, x = np.mgrid[0:48, 0:48]
    pictures = [np.stack([x * 5, y * 5, (x + y) * 2], -1).astype(np.uint8), np.full((48, 48, 3), 90, np.uint8)]
    pictures[1][:, :24] = 200
    return datasets.Dataset.from_list([{"prompt": prompts.make_prompt(), "image": prompts.prepare_image(p, 56),
                                        "id": f"t{i}", "source": "pictures"} for i, p in enumerate(pictures)])


def test_each_first_answer_becomes_a_prompt_of_target_answer_and_observation():
    asked = []

    def sampler(model, processor, conversations, images, *, k, temperature, **options):
        asked.append((len(conversations), k, temperature))
        return [[GOOD, BROKEN] for _ in conversations]

    state = torch.random.get_rng_state()
    rows = list(second_turn_dataset(None, None, targets(), samples=2, image_size=56, workers=1, sampler=sampler))
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's sampling is not moved
    assert asked == [(2, 2, 1.0)]  # one call: K first answers a target, sampled
    assert [r["id"] for r in rows] == ["t0#0", "t0#1", "t1#0", "t1#1"]
    assert all(r["source"] == "pictures" and len(r["images"]) == 3 for r in rows)
    for row, answer in zip(rows, [GOOD, BROKEN, GOOD, BROKEN]):
        assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"]
        assert row["prompt"][1]["content"][0]["text"] == answer
        assert sum(b["type"] == "image" for m in row["prompt"] for b in m["content"]) == 3
        assert np.array_equal(np.asarray(row["images"][0]), np.asarray(row["image"]))
    good, broken = rows[0]["prompt"][2]["content"][-1]["text"], rows[1]["prompt"][2]["content"][-1]["text"]
    assert "structure" in good and "appearance" in good and "failed" not in good
    assert "Your program failed (compile)" in broken
    render = np.asarray(rows[0]["images"][1])
    assert render.shape == (56, 56, 3) and np.abs(render.astype(int) - [51, 102, 153]).max() <= 1  # its colour
    assert not np.asarray(rows[1]["images"][1]).any()  # a failed program's render is black


def test_the_correction_turn_alone_is_refused_inside_episodes():
    from earthshader.training.recipes import RecipeArgumentError, recipe_arguments

    with pytest.raises(RecipeArgumentError, match="--second_turn_samples: .* set --max_turns 1 \\(got 2\\)"):
        recipe_arguments("grpo", "look-and-fix-tiny", second_turn_samples=2)
    script, _, _ = recipe_arguments("grpo", "look-and-fix-tiny", second_turn_samples=2, max_turns=1)
    assert (script.second_turn_samples, script.max_turns) == (2, 1)
