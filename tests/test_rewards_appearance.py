"""The `appearance` reward: the similarity rewards' convention and failure policy, its threads, rendered for real."""

import pickle
import threading
import warnings

import numpy as np
import pytest
from reward_helpers import completion, counting_cache, render_image, solid

from earthshader.data.generators import generate
from earthshader.glsl.wrap import translated
from earthshader.image.appearance import AppearanceScorer
from earthshader.image.metrics import mean_colour_image
from rewards import BUILTIN_REWARDS, AppearanceReward, call_rewards, for_trl, get_reward_funcs

TEXTURE = generate("bricks", 0).code
NOISE = ("float hash(vec2 p) { return fract(sin(dot(p, vec2(12.9898, 78.233))) * 43758.5453); }\n"
         "void mainImage(out vec4 c, in vec2 p) { c = vec4(vec3(hash(p), hash(p + 7.0), hash(p + 13.0)), 1.0); }")


@pytest.fixture(scope="module")
def cache():
    return counting_cache()[0]


@pytest.fixture(scope="module")
def target():
    return render_image(TEXTURE, 64)


def score(reward, codes, image, **columns):
    n = len(codes)
    return reward(prompts=[[]] * n, completions=[completion(c) for c in codes], image=[image] * n, **columns)


def test_the_program_anywhere_scores_high_and_trivial_answers_zero(cache, target):
    flat_code = solid(mean_colour_image(target)[0, 0] / 255.0)
    assert np.array_equal(render_image(flat_code, 64), mean_colour_image(target))
    values = score(AppearanceReward(cache=cache), [TEXTURE, translated(TEXTURE, 17, 9), flat_code, NOISE], target)
    assert values[0] == pytest.approx(1.0, abs=1e-6)
    assert values[1] > 0.6  # the same bricks moved by (17, 9) px, which `ssim` and `pixel` pay nothing for
    assert values[2] == 0.0 and values[3] == 0.0
    assert score(get_reward_funcs(["pixel"])[0], [translated(TEXTURE, 17, 9)], target)[0] < values[1] - 0.4


def test_failure_values_a_flat_target_and_the_floor(cache, target):
    failing = ["void mainImage(out vec4 c, in vec2 p) { c = 1; }", "", "no code at all"]
    assert score(AppearanceReward(cache=cache), failing, target) == [0.0, 0.0, 0.0]
    floored = AppearanceReward(floor=-1.0, cache=cache)
    assert score(floored, failing, target) == [-1.0, -1.0, -1.0]  # failing never beats trying
    assert score(floored, [NOISE], target)[0] < 0  # with floor -1 it is the skill: noise is worse than flat
    flat_target = np.full((64, 64, 3), 90, np.uint8)
    assert score(AppearanceReward(cache=cache), [TEXTURE], flat_target) == [None]  # nothing beats its baseline


def test_a_target_below_the_measures_minimum_side_does_not_apply(cache, target):
    small = target[:20, :20].copy()  # a valid target for `ssim`, too small for texture statistics
    reward = AppearanceReward(cache=cache)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = reward(prompts=[[]] * 2, completions=[completion(TEXTURE)] * 2, image=[small, target])
    assert values[0] is None and values[1] == pytest.approx(1.0, abs=1e-6)
    assert any("at least 32 x 32" in str(w.message) for w in caught)


def test_size_renders_and_compares_at_that_size(cache, target):
    reward = AppearanceReward(size=56, cache=cache)
    values = score(reward, [TEXTURE, translated(TEXTURE, 17, 9), NOISE], render_image(TEXTURE, 96))
    assert values[0] > 0.9 and values[1] > 0.5 and values[2] == 0.0  # rendered at 56, the target resized to 56
    assert {prepared.target.shape for prepared, _ in reward._prepared.values()} == {(56, 56, 3)}
    with pytest.raises(ValueError, match="colour_weight"):
        AppearanceReward(colour_weight=2.0)


def test_registered_picklable_and_equal_to_the_measure(cache, target):
    assert BUILTIN_REWARDS["appearance"] is AppearanceReward
    reward = get_reward_funcs(["appearance"], {"appearance": {"colour_weight": 0.5}})[0]
    assert reward.__name__ == "appearance" and reward.settings.colour_weight == 0.5
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.settings == reward.settings and clone.__name__ == "appearance"
    moved = render_image(translated(TEXTURE, 17, 9), 64)
    reward.cache = cache
    expected = AppearanceScorer(target, reward.settings).similarity(moved)
    assert score(reward, [translated(TEXTURE, 17, 9)], target)[0] == pytest.approx(max(0.0, expected), abs=1e-9)


def test_scored_in_one_batch_per_target_on_one_torch_thread_leaving_the_trainer_alone(cache, target, monkeypatch):
    """Run as training runs it (TRL's async rewards beside `ssim`'s scoring threads, render processes started by
    spawn): each target's renders go through the texture statistics in one call, on one torch thread, off the
    calling thread, and the calling thread's torch setting is untouched."""
    import torch
    from plenoptic.models.portilla_simoncelli import PortillaSimoncelli

    calls = []
    forward = PortillaSimoncelli.forward

    def recording(self, image, *args, **kwargs):
        calls.append((threading.current_thread() is threading.main_thread(), torch.get_num_threads(), len(image)))
        return forward(self, image, *args, **kwargs)

    codes = [TEXTURE, translated(TEXTURE, 17, 9), translated(TEXTURE, 3, 30), NOISE, TEXTURE]
    moved = [render_image(code, 64) for code in codes[:4]]
    expected = [max(0.0, value) for value in AppearanceScorer(target).similarities(moved)]
    funcs = get_reward_funcs(["ssim", "appearance"])
    for func in funcs:
        func.cache = cache
    before = torch.get_num_threads()
    monkeypatch.setattr(PortillaSimoncelli, "forward", recording)
    values = call_rewards(for_trl(funcs), prompts=[[]] * 5, completions=[completion(c) for c in codes],
                          image=[target] * 5)
    assert values[1] == pytest.approx(expected + expected[:1], abs=1e-6)
    assert [size for _, _, size in calls] == [1, 4]  # the target, then its 4 distinct renders in one batch
    assert all(not in_main and threads == 1 for in_main, threads, _ in calls)
    assert torch.get_num_threads() == before


def test_an_animated_target_is_scored_frame_by_frame_in_batches(cache):
    from reward_helpers import real_pool

    moving = ("void mainImage(out vec4 c, in vec2 p) { vec2 q = p + vec2(9.0 * iTime, 0.0);\n"
              "    c = vec4(0.5 + 0.5 * sin(q.x / 3.0 + 2.0 * sin(q.y / 7.0)), 0.5 + 0.5 * cos(q.y / 5.0), 0.3, 1.0); }")
    frames = real_pool().render(moving, 64, 64, times=[0.0, 1.5]).frames
    assert len(frames) == 2 and not np.array_equal(frames[0], frames[1])
    flat = solid(mean_colour_image(frames[0])[0, 0] / 255.0)
    reward = AppearanceReward(cache=cache)
    values = reward(prompts=[[]] * 3, completions=[completion(c) for c in (moving, translated(moving, 5, 11), flat)],
                    frames=[frames] * 3, times=[[0.0, 1.5]] * 3)
    assert values[0] == pytest.approx(1.0, abs=1e-6) and values[1] > 0.6
    assert 0.0 <= values[2] < 0.05  # the flat colour of frame 0 against both frames' means
