"""Behaviour of each built-in reward on hand-written completions, rendered for real (EGL, 64 x 64)."""

import math
import pickle

import numpy as np
import pytest
from PIL import Image
from reward_helpers import PATTERN, completion, counting_cache, render_image, solid

from earthshader.image.metrics import mean_colour_image
from rewards import (
    CompilesReward,
    EdgesReward,
    EntropyReward,
    FormatReward,
    LengthReward,
    PaletteReward,
    PixelReward,
    RenderReward,
    RewardError,
    SimilarityReward,
    SSIMReward,
    get_reward_funcs,
)

SIMILARITY = [SSIMReward, PixelReward, EdgesReward, PaletteReward]
GRADIENT = "void mainImage(out vec4 c, in vec2 p) { c = vec4(p.x / iResolution.x, p.y / iResolution.y, 0.5, 1.0); }"
ADVERSARIAL = {
    "empty": "",
    "whitespace": "   \n\n",
    "garbage": "asdf {{{ ;;; )))",
    "binary": "\x00\x01\x02 void mainImage(\x00",
    "prose": "I am unable to write this shader.",
    "compile_error": "void mainImage(out vec4 c, in vec2 p) { c = 1; }",
    "endless_loop": "void mainImage(out vec4 c, in vec2 p) { for(;;){} c = vec4(1.0); }",
    "while_true": "void mainImage(out vec4 c, in vec2 p) { float x = 0.0; while (true) { x += 1.0; } c = vec4(x); }",
    "nan_output": "void mainImage(out vec4 c, in vec2 p) { c = vec4(0.0 / 0.0, log(-1.0), sqrt(-1.0), 1.0); }",
    "inf_output": "void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0 / 0.0); }",
    "no_main": "float f(float x) { return x; }",
    "cut_off": "void mainImage(out vec4 c, in vec2 p) {\n    c = vec4(p.x",
    "huge": "void mainImage(out vec4 c, in vec2 p) { c = vec4(0.5); }\n" + "// padding\n" * 5000,
}


@pytest.fixture(scope="module")
def cache():
    return counting_cache()[0]


@pytest.fixture(scope="module")
def target():
    return render_image(PATTERN)


def score(reward, codes, image, **columns):
    """Call a reward as TRL does, with the `image` column repeated for every completion."""
    n = len(codes)
    return reward(prompts=[[]] * n, completions=[completion(c) for c in codes], image=[image] * n, **columns)


@pytest.mark.parametrize("reward_class", SIMILARITY)
def test_reference_program_scores_one_and_mean_colour_image_zero(reward_class, cache, target):
    flat = mean_colour_image(target)
    flat_code = solid(flat[0, 0] / 255.0)
    assert np.array_equal(render_image(flat_code), flat)  # the renderer reproduces the baseline exactly
    values = score(reward_class(cache=cache), [PATTERN, flat_code], target)
    assert values[0] == pytest.approx(1.0, abs=1e-6)
    assert values[1] == 0.0


@pytest.mark.parametrize("reward_class", SIMILARITY)
def test_wrong_program_scores_clearly_less(reward_class, cache, target):
    wrong = PATTERN.replace("18.0 * (uv.x + uv.y)", "11.0 * (uv.x - uv.y)").replace(
        "vec4(0.2 + 0.7 * stripes, 0.3 + 0.5 * rings * stripes, 0.8 - 0.6 * rings, 1.0)",
        "vec4(0.8 - 0.6 * rings, 0.2 + 0.7 * stripes, 0.3 + 0.5 * rings * stripes, 1.0)",
    )  # other stripes, channels rotated
    value = score(reward_class(cache=cache), [wrong], target)[0]
    assert 0.0 <= value < 0.5


def test_floor_minus_one_gives_the_evaluations_skill(cache, target):
    """With floor=-1 a pattern out of phase scores below the flat image, as in `earthshader.evaluation`."""
    from earthshader.evaluation.scoring import TargetScorer

    out_of_phase = PATTERN.replace("18.0 * (uv.x + uv.y)", "18.0 * (uv.x + uv.y) + 3.14159")
    scorer = TargetScorer(target)
    expected = scorer.scores(render_image(out_of_phase))
    pixel = score(PixelReward(floor=-1.0, cache=cache), [out_of_phase], target)[0]
    edges = score(EdgesReward(floor=-1.0, cache=cache), [out_of_phase], target)[0]
    ssim = score(SSIMReward(scales=1, floor=-1.0, cache=cache), [out_of_phase], target)[0]
    assert expected["pixel_skill"] < 0  # the test shader really is worse than flat
    assert (pixel, edges, ssim) == pytest.approx(
        (expected["pixel_skill"], expected["edges_skill"], expected["ssim_skill"]), abs=1e-6)
    assert score(PixelReward(cache=cache), [out_of_phase], target)[0] == 0.0  # the default floor clips it
    failed = score(PixelReward(floor=-1.0, cache=cache), [ADVERSARIAL["compile_error"]], target)[0]
    assert failed == -1.0  # failing never beats trying
    with pytest.raises(ValueError, match="floor"):
        PixelReward(floor=0.5)


def test_target_as_pil_image_or_rgba_array(cache, target):
    rgba = np.concatenate([target, np.full_like(target[..., :1], 255)], -1)
    for image in (Image.fromarray(target), Image.fromarray(rgba), rgba):
        assert score(SSIMReward(cache=cache), [PATTERN], image)[0] == pytest.approx(1.0, abs=1e-6)


def test_compiles_exact_values(cache, target):
    codes = [PATTERN, "hello", ADVERSARIAL["compile_error"], ADVERSARIAL["endless_loop"], ADVERSARIAL["nan_output"],
             solid((0.2, 0.4, 0.6)), ""]
    assert score(CompilesReward(cache=cache), codes, target) == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    assert score(CompilesReward(graded=True, cache=cache), codes, target) == [1.0, 0.0, 0.25, 0.5, 0.75, 0.75, 0.0]


def test_compiles_without_a_target_renders_at_its_own_size(cache):
    reward = CompilesReward(cache=cache)
    assert reward(prompts=[[]] * 2, completions=[completion(GRADIENT), "garbage"]) == [1.0, 0.0]


def test_entropy_is_zero_when_fragcoord_is_ignored(cache, target):
    blinking = "void mainImage(out vec4 c, in vec2 p) { c = vec4(0.5 + 0.5 * sin(iTime)); }"
    codes = [solid((0.3, 0.6, 0.9)), blinking, PATTERN]
    values = score(EntropyReward(cache=cache), codes, target)
    assert values[:2] == [0.0, 0.0]
    assert values[2] == pytest.approx(1.0)  # the target's own variety
    absolute = EntropyReward(relative=False, cache=cache)(completions=[completion(GRADIENT)])[0]
    assert 0.5 < absolute <= 1.0


def test_format_exact_values():
    main = "void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }"
    completions = [
        f"Here you go:\n```glsl\n{main}\n```",
        main,
        f"```glsl\n{main}\n```\n```glsl\n{main}\n```",
        f"```glsl\n{main[:-2]}",
        "```glsl\nfloat f;\n```",
        "",
    ]
    assert FormatReward()(completions=completions) == [1.0, 0.5, 0.5, 0.5, 0.0, 0.0]


def test_length_exact_values_and_long_programs_lose():
    def program(n):
        body = "void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }"
        return body + "\n" + "/" * (n - len(body) - 1)

    reward = LengthReward(budget=1000, reference_factor=None)
    assert reward(completions=[program(800), program(1000), program(1500), program(2000), program(5000)]) == [
        1.0, 1.0, 0.5, 0.0, 0.0]
    assert reward(completions=["", "```glsl\nvoid mainImage(out vec4 c, in vec2 p) {\n"]) == [0.0, 0.0]
    by_reference = LengthReward(reference_factor=2.0, min_budget=100)
    code = program(600)
    assert by_reference(completions=[code, code], code=["x" * 300, "x" * 10]) == [1.0, 0.0]  # budgets 600, 100


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_completions_never_raise(name, cache, target):
    rewards = get_reward_funcs(["format", "compiles", "entropy", "ssim", "edges", "pixel", "palette", "length"])
    for reward in rewards:
        if isinstance(reward, RenderReward):
            reward.cache = cache
        values = score(reward, [ADVERSARIAL[name]], target)
        assert len(values) == 1 and isinstance(values[0], float) and 0.0 <= values[0] <= 1.0, (reward, values)


def test_failed_render_gets_the_failure_value(cache, target):
    codes = ["garbage", ADVERSARIAL["compile_error"], ADVERSARIAL["endless_loop"]]
    for reward_class in [EntropyReward, *SIMILARITY]:
        reward = reward_class(cache=cache)
        assert score(reward, codes, target) == [reward.failure_value] * 3 == [0.0] * 3


def test_nan_colours_are_not_nan_rewards(cache, target):
    for reward_class in [EntropyReward, *SIMILARITY]:
        value = score(reward_class(cache=cache), [ADVERSARIAL["nan_output"]], target)[0]
        assert value == 0.0  # drawn black: flat, no better than the baseline


def test_flat_target_makes_similarity_not_apply(cache):
    flat_target = np.full((64, 64, 3), 90, np.uint8)
    for reward_class in SIMILARITY:
        assert score(reward_class(cache=cache), [PATTERN, solid((0.5, 0.5, 0.5))], flat_target) == [None, None]


def test_animated_target_with_frames_and_times(cache):
    animated = (
        "void mainImage(out vec4 c, in vec2 p) { c = vec4(0.5 + 0.5 * sin(p.x / 5.0 + iTime), p.y / 64.0, 0.3, 1.0); }"
    )
    times = [0.0, 1.0, 2.0]
    frames = [render_image(animated.replace("iTime", repr(t))) for t in times]
    reward = SSIMReward(cache=cache)
    frozen = animated.replace("iTime", "0.0")
    values = reward(completions=[completion(animated), completion(frozen)], frames=[frames] * 2, times=[times] * 2)
    assert values[0] == pytest.approx(1.0, abs=1e-6)
    assert values[1] < 0.9  # right only at t = 0
    with pytest.raises(RewardError, match="2 frames for 3 times"):
        reward(completions=[completion(animated)], frames=[frames[:2]], times=[times])


def test_size_option_resizes_target_and_render(cache, target):
    reward = get_reward_funcs(["ssim"], {"ssim": {"size": 56, "cache": cache}})[0]
    assert reward.size == 56
    assert score(reward, [PATTERN], target)[0] > 0.9  # rendered at 56, against the target resized to 56


def test_missing_target_column_is_a_loud_error(cache):
    with pytest.raises(RewardError, match="'ssim' needs a target"):
        SSIMReward(cache=cache)(completions=[completion(PATTERN)])
    with pytest.raises(RewardError, match="one value per completion"):
        SSIMReward(cache=cache)(completions=[completion(PATTERN)] * 2, image=[np.zeros((8, 8, 3), np.uint8)])


class BuggyReward(SimilarityReward):
    name = "buggy"

    def similarity(self, candidate, target):
        return 1.0 / 0.0


class NaNReward(RenderReward):
    name = "nan_reward"

    def score(self, image, target):
        return float("nan")


def test_reward_with_a_bug_fails_loudly(cache, target):
    with pytest.raises(RewardError, match="reward 'buggy' failed: ZeroDivisionError"):
        score(BuggyReward(cache=cache), [PATTERN], target)
    with pytest.raises(RewardError, match="reward 'nan_reward' returned nan for completion 0"):
        score(NaNReward(cache=cache), [PATTERN], target)


def test_rewards_are_picklable_with_their_names(target):
    for reward in get_reward_funcs(["format", "compiles", "entropy", "ssim", "edges", "pixel", "palette", "length"]):
        copy = pickle.loads(pickle.dumps(reward))
        assert copy.__name__ == reward.__name__ == type(reward).name
        assert "Range" in type(reward).__doc__ and "Example" in type(reward).__doc__


def test_values_are_plain_floats(cache, target):
    values = score(SSIMReward(cache=cache), [PATTERN, "garbage"], target)
    assert all(type(v) is float and not math.isnan(v) for v in values)
