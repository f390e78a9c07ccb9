"""The failure policy against input of the wrong kind: completions that are not text, targets that cannot
be scored. A reward never raises for either; each gets a defined value (rendered for real, EGL)."""

import warnings

import numpy as np
import pytest
from PIL import Image
from reward_helpers import PATTERN, completion, counting_cache, render_image

from rewards import BUILTIN_REWARDS, RenderReward, SSIMReward, get_reward_funcs
from rewards.inputs import completion_shader

NOT_COMPLETIONS = {
    "int": 5,
    "float": 1.5,
    "bool": True,
    "bytes": b"```glsl\n" + PATTERN.encode() + b"\n```",
    "bytearray": bytearray(b"void mainImage(out vec4 c, in vec2 p) { c = vec4(1); }"),
    "object": object(),
    "array": np.zeros(3),
    "set": {"a"},
    "dict_without_content": {"role": "assistant", "text": PATTERN},
    "dict_content_int": {"role": "assistant", "content": 3},
    "dict_content_bytes": {"role": "assistant", "content": PATTERN.encode()},
    "messages_content_int": [{"role": "assistant", "content": 7}],
    "messages_content_bytes": [{"role": "assistant", "content": b"void mainImage(out vec4 c, in vec2 p) {}"}],
    "messages_content_dict": [{"role": "assistant", "content": {"text": PATTERN}}],
    "messages_part_text_int": [{"role": "assistant", "content": [{"type": "text", "text": 5}]}],
    "messages_part_not_dict": [{"role": "assistant", "content": ["```glsl\n" + PATTERN + "\n```"]}],
    "messages_role_int": [{"role": 1, "content": PATTERN}],
    "list_of_ints": [1, 2, 3],
    "list_of_strings": ["```glsl\n" + PATTERN + "\n```"],
    "nested_list": [[{"role": "assistant", "content": PATTERN}]],
    "none_inside": [None],
}


@pytest.fixture(scope="module")
def cache():
    return counting_cache()[0]


@pytest.fixture(scope="module")
def target():
    return render_image(PATTERN)


def all_rewards(cache, **options):
    rewards = get_reward_funcs(list(BUILTIN_REWARDS), {name: options for name in ("ssim", "pixel", "edges", "palette")})
    for reward in rewards:
        if isinstance(reward, RenderReward):
            reward.cache = cache
    return rewards


def call(reward, completions, images):
    return reward(prompts=[[]] * len(completions), completions=completions, image=images)


@pytest.mark.parametrize("name", list(NOT_COMPLETIONS))
def test_a_completion_that_is_not_text_gets_the_failure_value(name, cache, target):
    """Whatever the shape, every reward gives what an empty answer gets (its failure value), never raises."""
    assert completion_shader(NOT_COMPLETIONS[name]).code == ""
    for options in ({}, {"floor": -1.0}):
        for reward in all_rewards(cache, **options):
            values = call(reward, [NOT_COMPLETIONS[name], ""], [target, target])
            assert values[0] == values[1], (reward, values)
            assert values[0] == getattr(reward, "failure_value", 0.0), (reward, values)


def test_well_formed_completions_of_every_accepted_shape_still_score(cache, target):
    text = "```glsl\n" + PATTERN + "\n```"
    shapes = [text, {"role": "assistant", "content": text}, completion(PATTERN),
              [{"role": "assistant", "content": [{"type": "text", "text": text}]}],
              [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "?"}]},
               {"role": "assistant", "content": text}]]
    values = call(SSIMReward(cache=cache), shapes, [target] * len(shapes))
    assert values == pytest.approx([1.0] * len(shapes), abs=1e-6)


def unscorable_targets(target):
    return {
        "empty": np.zeros((0, 0, 3), np.uint8),
        "one_row": target[:1],
        "two_by_two": target[:2, :2],
        "float": target.astype(np.float64) / 255,
        "nan": np.full(target.shape, np.nan),
        "grey_2d": target[..., 0],
        "two_channels": target[..., :2],
        "five_channels": np.concatenate([target, target[..., :2]], -1),
        "int64": target.astype(np.int64),
        "pil_zero": Image.new("RGB", (0, 0)),
        "pil_one_pixel_wide": Image.fromarray(target[:, :1].copy()),
        "string": "target.png",
        "none": None,
    }


@pytest.mark.parametrize("name", list(unscorable_targets(np.zeros((8, 8, 3), np.uint8))))
def test_a_target_that_cannot_be_scored_gives_none_with_a_warning(name, cache, target):
    bad = unscorable_targets(target)[name]
    for reward in all_rewards(cache):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = call(reward, [completion(PATTERN)] * 2, [bad, target])
        if not isinstance(reward, RenderReward):
            assert values == [values[1]] * 2  # text rewards never look at the target
            continue
        assert any("cannot be scored" in str(w.message) for w in caught), reward
        if reward.needs_target:
            assert values[0] is None, (reward, values)  # "does not apply"
        else:
            assert isinstance(values[0], float)  # compiles / entropy: scored without a target
        assert values[1] == pytest.approx(1.0, abs=1e-6)  # the good row of the same batch is unaffected


@pytest.mark.parametrize("times", [[float("nan")], [float("inf")], ["soon"]])
def test_non_finite_times_cannot_be_scored(times, cache, target):
    reward = SSIMReward(cache=cache)
    with pytest.warns(RuntimeWarning, match="times"):
        values = reward(prompts=[[]], completions=[completion(PATTERN)], frames=[[target]], times=[times])
    assert values == [None]
