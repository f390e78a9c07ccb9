"""One way to answer a picture (`earthshader.answering`): pick the best of K programs by an objective, refine it, keep
it only if it improves, fall back to the search; the trivial answers. Real renders, tiny budgets."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import numpy as np
import pytest

from earthshader.answering.answer import answer
from earthshader.answering.pick import best_of, score_images
from earthshader.answering.search import SearchLibrary
from earthshader.answering.trivial import gradient_coefficients, gradient_program, trivial_answers
from earthshader.data.generators import generate
from earthshader.evaluation.objectives import OBJECTIVES, ObjectiveError, objective_value
from earthshader.evaluation.scoring import TargetScorer
from earthshader.glsl.wrap import translated
from earthshader.image.metrics import mean_colour_image

SIZE = 64
BROKEN = "void mainImage(out vec4 c, in vec2 p) { c = nope; }"
BLACK = "void mainImage(out vec4 c, in vec2 p) { c = vec4(0.0, 0.0, 0.0, 1.0); }"


@pytest.fixture(scope="module")
def texture(render_pool):
    """A level-0 `waves` texture program and its picture."""
    code = generate("waves", 3, difficulty=0).code
    return code, render_pool.render(code, SIZE, SIZE).image


@pytest.fixture(scope="module")
def library():
    return SearchLibrary(families=["waves", "stripes", "checker", "gradient"])


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_a_translated_texture_is_improved_or_kept(texture, render_pool, objective):
    code, target = texture
    moved = translated(code, 17, 9)
    found = answer(target, [BROKEN, moved], objective=objective, refine_budget=80, pool=render_pool)
    assert (found.samples, found.rendered, found.sample.code) == (2, 1, moved)  # a failed render is never picked
    assert found.origin in ("model", "model+refine") and found.score >= found.sample.score
    assert found.refine_renders <= 80
    scores = TargetScorer(target).scores(render_pool.render(found.code, SIZE, SIZE).image)
    assert objective_value(objective, scores) == pytest.approx(found.score)  # the evaluation's own figures
    assert found.figures == pytest.approx({f: scores[f] for f in ("structure", "appearance")})
    if objective == "appearance":
        assert found.figures["appearance"] > 0.5  # the right look, wherever it sits
    if found.origin == "model+refine":
        assert found.refined_sample is not None and found.code != moved and found.refine_note is None


def test_an_answer_is_kept_only_if_refinement_improves_it(texture, render_pool):
    code, target = texture
    found = answer(target, [code], refine_budget=40, pool=render_pool)  # the target's own program: nothing to gain
    assert found.origin == "model" and found.code == code and found.refined_sample is None
    assert "no better values found in" in found.refine_note and found.score == pytest.approx(1.0)
    off = answer(target, [code], pool=render_pool)  # refinement off: nothing to explain
    assert off.refine_note is None and off.refine_renders == 0


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_the_search_answers_when_every_sample_is_worse(texture, library, render_pool, objective):
    _, target = texture
    found = answer(target, [BROKEN, BLACK], objective=objective, refine_budget=20, search_budget=30, library=library,
                   pool=render_pool)
    assert found.origin == "search" and found.search is not None and found.search.renders <= 30
    assert found.code == found.search.code and found.score == found.search.score > found.sample.score
    assert found.figures == pytest.approx(found.search.figures)
    nothing = answer(target, [BROKEN], objective=objective, search_budget=30, library=library, pool=render_pool)
    assert nothing.origin == "search" and nothing.sample is None  # no sample rendered at all


def test_a_better_sample_beats_the_search(texture, library, render_pool):
    code, target = texture
    found = answer(target, [code], search_budget=30, library=library, pool=render_pool)
    assert found.origin == "model" and found.code == code and found.search.score < found.score


def test_given_renders_are_not_rendered_again(texture, render_pool):
    code, target = texture

    class NoRenders:
        def render_many(self, *args, **kwargs):
            raise AssertionError("rendered again")

    found = answer(target, [code, BROKEN], images=[target, None], pool=NoRenders())
    assert found.origin == "model" and found.rendered == 1 and found.score == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2 renders for 1 programs"):
        answer(target, [code], images=[target, None], pool=NoRenders())


def test_nothing_rendered_and_no_search_is_no_answer(texture, render_pool):
    _, target = texture
    found = answer(target, [BROKEN], refine_budget=40, pool=render_pool)
    assert (found.code, found.origin, found.figures) == (None, "none", {}) and math.isnan(found.score)
    assert found.refine_note == "no sample rendered, nothing to refine"


def test_a_flat_target_is_answered_without_figures(render_pool):
    flat = np.full((SIZE, SIZE, 3), 90, np.uint8)
    found = answer(flat, [BLACK], refine_budget=40, pool=render_pool)
    assert found.code == BLACK and math.isnan(found.score) and "single colour" in found.refine_note


def test_bad_objectives_are_refused_by_name(texture, render_pool):
    code, target = texture
    with pytest.raises(ObjectiveError, match="unknown objective 'ssim'"):
        answer(target, [code], objective="ssim", pool=render_pool)
    small = target[:24, :24]
    with pytest.raises(ObjectiveError, match="appearance figure cannot score this target"):
        answer(small, [code], objective="appearance", pool=render_pool)
    assert answer(small, [code], objective="structure", pool=render_pool).origin == "model"


def test_the_pick_is_the_objectives_first_best(texture):
    _, target = texture
    scorer = TargetScorer(target)
    images = [None, mean_colour_image(target), target, target]
    scored = score_images(["a", "b", "c", "d"], ["", "", "x", "y"], images, scorer, "mix")
    assert math.isnan(scored[0].score) and scored[1].score == pytest.approx(0.0)
    assert best_of(scored).name == "c" and best_of(scored[:1]) is None


# --- trivial answers ------------------------------------------------------------------------------------


def test_the_best_straight_gradient_of_a_gradient_is_itself(render_pool):
    ramp = "void mainImage(out vec4 c, in vec2 p) { vec2 uv = p / iResolution.xy; c = vec4(0.2 + 0.6 * uv.x, " \
           "0.9 - 0.5 * uv.y, 0.4, 1.0); }"
    target = render_pool.render(ramp, 48, 40).image
    a, b, c = gradient_coefficients(target)
    assert a == pytest.approx([0.2, 0.9, 0.4], abs=0.01) and b == pytest.approx([0.6, 0, 0], abs=0.01)
    assert c == pytest.approx([0, -0.5, 0], abs=0.01)
    found = trivial_answers(target, objective="structure", pool=render_pool)
    assert found["gradient"].code == gradient_program(target)
    assert found["gradient"].figures["structure"] > 0.95 and found["gradient"].score > 0.95


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_trivial_answers_are_scored_like_any_answer(texture, render_pool, objective):
    _, target = texture
    found = trivial_answers(target, objective=objective, pool=render_pool, seed=3)
    scorer = TargetScorer(target)
    for trivial in found.values():
        scores = scorer.scores(trivial.image)
        assert trivial.figures == pytest.approx({f: scores[f] for f in ("structure", "appearance")})
        assert trivial.score == pytest.approx(objective_value(objective, scores))
    shuffled = found["shuffled"]
    assert shuffled.code is None and sorted(shuffled.image.reshape(-1, 3).tolist()) == sorted(
        target.reshape(-1, 3).tolist())  # the picture's own pixels
    assert shuffled.figures["structure"] < 0.1  # its palette exactly, none of its structure


def test_the_right_program_moved_beats_both_trivial_answers_on_appearance(render_pool):
    code = generate("stripes", 7, difficulty=0).code
    target = render_pool.render(code, SIZE, SIZE).image
    moved = answer(target, [translated(code, 17, 9)], objective="appearance", pool=render_pool)
    found = trivial_answers(target, objective="appearance", pool=render_pool)
    assert moved.score > 0.9 > max(found["gradient"].score, found["shuffled"].score) + 0.4


def test_the_learning_benchmark_scores_its_baselines_for_each_objective(texture, render_pool):
    _, target = texture
    bench = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks" / "learn_from_pictures.py"),
                           run_name="learn_from_pictures")
    from earthshader.data.rows import Row

    heldout = [Row(image=target, source="textures", id="w")]
    for objective in OBJECTIVES:
        baselines = bench["baseline_scores"](heldout, 30, objective, render_pool)
        assert set(baselines) == {"search", "gradient", "shuffled"}
        assert all(len(baselines[name][f]) == 1 and math.isfinite(baselines[name][f][0])
                   for name in baselines for f in ("structure", "appearance"))
