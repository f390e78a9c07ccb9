"""The model-free search baseline: generator programs screened, then refined for an objective, within a render
budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

from earthshader.answering import search as search_module
from earthshader.answering.search import SearchLibrary, library_programs, search
from earthshader.data.generators import generate
from earthshader.evaluation.objectives import OBJECTIVES, ObjectiveError, objective_value
from earthshader.evaluation.scoring import TargetScorer

SIZE = 56
FAMILIES = ["circles", "gradient", "stripes", "checker"]


@pytest.fixture(scope="module")
def library():
    return SearchLibrary(families=FAMILIES)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("family, seed", [("stripes", 7), ("gradient", 22)])
def test_search_matches_a_generator_target_at_least_as_well_as_a_flat_image(family, seed, objective, library,
                                                                            render_pool):
    target = render_pool.render(generate(family, seed, difficulty=0).code, SIZE, SIZE).image
    result = search(target, budget=60, pool=render_pool, library=library, objective=objective)
    assert result.renders <= 60 and result.screened == len(library.candidates) and result.objective == objective
    assert math.isfinite(result.score) and result.score >= 0.0  # the flat mean-colour image scores 0
    assert result.refined  # 16 screened, 44 renders left: one refinement
    again = render_pool.render(result.code, SIZE, SIZE).image  # the kept program draws the kept image
    assert np.array_equal(again, result.image)
    scores = TargetScorer(target).scores(again)  # the evaluation's scorer gives the recorded figures and value
    assert {f: scores[f] for f in ("structure", "appearance")} == pytest.approx(result.figures)
    assert objective_value(objective, scores) == pytest.approx(result.score)


def test_each_objective_keeps_the_best_program_by_its_own_figure(render_pool):
    """Screening alone (a budget of the library's size): the kept program is the library's best by the objective."""
    library = SearchLibrary(families=FAMILIES)
    target = render_pool.render(generate("rings", 4, difficulty=0).code, SIZE, SIZE).image
    scorer = TargetScorer(target)
    images = library.images(len(library.candidates), SIZE, SIZE, 0.0, render_pool)
    by_figure = scorer.figures([i for i in images if i is not None])
    for objective in OBJECTIVES:
        result = search(target, budget=len(library.candidates), pool=render_pool, library=library, objective=objective)
        best = max(objective_value(objective, {f: by_figure[f][k] for f in by_figure}) for k in range(len(images)))
        assert result.score == pytest.approx(best) and result.refined == []


def test_a_small_budget_screens_one_program_per_family_first(render_pool):
    library = SearchLibrary()
    families = {c.family for c in library.candidates}
    assert {c.family for c in library.candidates[:len(families)]} == families  # every family's first program first
    target = render_pool.render(generate("checker", 3, difficulty=0).code, SIZE, SIZE).image
    result = search(target, budget=10, pool=render_pool, library=library)
    assert (result.renders, result.screened, result.refined) == (10, 10, [])
    assert len({c.family for c in library.candidates[:10]}) == 10


def test_a_cma_dimension_error_skips_that_refinement(monkeypatch, library, render_pool):
    import earthshader.answering.refine

    def broken(*args, pool=None, **kwargs):
        pool.render_many(["void mainImage(out vec4 c, in vec2 f) { c = vec4(1.0); }"] * 3, SIZE, SIZE)
        raise ValueError("not yet initialized (dimension needed)")

    monkeypatch.setattr(earthshader.answering.refine, "refine", broken)
    target = render_pool.render(generate("stripes", 7, difficulty=0).code, SIZE, SIZE).image
    result = search(target, budget=100, pool=render_pool, library=library)
    assert result.refined == [] and result.notes and "cma" in result.notes[0]
    assert result.renders == len(library.candidates) + 3 * len(result.notes)  # the failed fits' renders count
    assert result.code is not None and not result.origin.endswith("refined")

    monkeypatch.setattr(earthshader.answering.refine, "refine",
                        lambda *a, **k: (_ for _ in ()).throw(ValueError("a bug")))
    with pytest.raises(ValueError, match="a bug"):  # any other error is not hidden
        search(target, budget=100, pool=render_pool, library=library)


def test_bad_arguments_are_clear_errors(render_pool):
    with pytest.raises(ValueError, match="unknown generator families"):
        library_programs(["nonsense"])
    with pytest.raises(ValueError, match="at least 1 render"):
        search(np.zeros((8, 8, 3), np.uint8), budget=0, pool=render_pool)
    with pytest.raises(ValueError, match="uint8"):
        search(np.zeros((8, 8)), budget=10, pool=render_pool)
    with pytest.raises(ObjectiveError, match="unknown objective 'ssim'"):
        search(np.zeros((56, 56, 3), np.uint8), budget=10, pool=render_pool, objective="ssim")
    small = render_pool.render(generate("stripes", 7, difficulty=0).code, 24, 24).image
    with pytest.raises(ObjectiveError, match="appearance figure cannot score this target: .* at least 32 x 32"):
        search(small, budget=10, pool=render_pool, objective="mix")
    assert search(small, budget=10, pool=render_pool, objective="structure").renders == 10  # structure can


def test_the_docstring_example_runs():
    import doctest

    assert doctest.testmod(search_module, raise_on_error=True).attempted == 4
