"""Evaluation without a model: per-sample scores against known values, the aggregation, both baselines, and
the report files (`earthshader.evaluation`). The tiny-model run is in tests/test_eval_tiny.py."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from earthshader.evaluation import load_targets
from earthshader.evaluation.aggregate import best_of_k, breakdown, summarise, summarise_best_of_k
from earthshader.evaluation.run import evaluate_completions
from earthshader.evaluation.scoring import SampleScore, TargetScorer, mean_colour_program
from earthshader.evaluation.targets import Target, TargetError

SIZE = 56


def half_black_half_white(side: int = 64) -> np.ndarray:
    image = np.zeros((side, side, 3), np.uint8)
    image[:, side // 2:] = 255
    return image


# --- per-sample scores -----------------------------------------------------------------------------


def test_target_scorer_known_values():
    target = half_black_half_white()
    scorer = TargetScorer(target)

    same = scorer.scores(target)
    assert (same["mse"], same["psnr"], same["ssim"], same["edges"]) == (0.0, 100.0, pytest.approx(1.0), 1.0)
    assert same["structure"] == pytest.approx(1.0) and same["appearance"] == pytest.approx(1.0)

    flat = scorer.scores(scorer.flat_image)  # the mean-colour image (128 grey) scores no skill at all
    assert (flat["ssim_skill"], flat["edges_skill"], flat["pixel_skill"], flat["structure"]) == (0.0, 0.0, 0.0, 0.0)
    assert flat["appearance"] == 0.0  # exactly: the appearance measure's flat reference

    black = scorer.scores(np.zeros_like(target))  # what a program that fails to render is scored as
    assert black["mse"] == pytest.approx(0.5)  # half the pixels off by the full range in every channel
    assert black["psnr"] == pytest.approx(10 * math.log10(2))
    assert black["edges"] == 0.0 and black["edges_skill"] == 0.0
    assert black["pixel_skill"] == pytest.approx(-1.0, abs=0.05)  # twice the flat image's error
    assert -1.0 <= black["structure"] < 0.0
    # no texture at all, and a palette as far from the target's as its mean grey is: no better than flat
    assert black["appearance"] == pytest.approx(0.0, abs=1e-9)


def test_figures_are_floored_and_nan_for_a_flat_target():
    target = half_black_half_white()
    inverted = 255 - target  # worse than flat on every pixel: a pixel skill far below -1, floored
    assert TargetScorer(target).scores(inverted)["pixel_skill"] == -1.0
    flat_target = np.full((32, 32, 3), 90, np.uint8)
    flat = TargetScorer(flat_target).scores(flat_target)
    assert math.isnan(flat["structure"]) and math.isnan(flat["appearance"])


@pytest.mark.parametrize("case", ["colour", "grey", "odd size"])
def test_both_figures_keep_the_convention(render_pool, case):
    """Identical: 1 on both; the mean-colour image: exactly 0 on both; a single bold stripe of the right mean
    colour: below 0 on both."""
    from earthshader.data.generators import generate
    from earthshader.image.impostors import single_stripe

    width, height = (71, 57) if case == "odd size" else (64, 64)
    target = render_pool.render(generate("rings", 4, difficulty=0).code, width, height).image
    if case == "grey":
        target = np.repeat(target.mean(axis=2, keepdims=True).round().astype(np.uint8), 3, axis=2)
    scorer = TargetScorer(target)
    same, flat, worse = scorer.scores_many([target, scorer.flat_image, single_stripe(target)])
    for figure in ("structure", "appearance"):
        assert same[figure] == pytest.approx(1.0) and flat[figure] == 0.0, figure
        assert -1.0 <= worse[figure] < 0.0, (figure, worse[figure])
    assert scorer.figures([target], ("appearance",)) == {"appearance": pytest.approx([1.0])}  # only what is asked


def test_appearance_is_nan_with_a_reason_on_a_target_too_small_for_it():
    target = half_black_half_white(24)
    scorer = TargetScorer(target)
    scores = scorer.scores(target)
    assert scores["structure"] == pytest.approx(1.0) and math.isnan(scores["appearance"])
    assert "at least 32 x 32" in scorer.appearance_error
    with pytest.raises(ValueError, match="appearance figure cannot score this target"):
        scorer.check_figures(("structure", "appearance"))
    scorer.check_figures(("structure",))


def test_mean_colour_program_draws_the_mean_colour(render_pool):
    target = half_black_half_white()
    result = render_pool.render(mean_colour_program(target), 64, 64)
    assert result.ok
    assert np.array_equal(result.image, TargetScorer(target).flat_image)


# --- aggregation -----------------------------------------------------------------------------------


def row(target, sample, *, rendered=True, flat=False, structure=0.5, appearance=None, ssim=0.5, label=None,
        error=None, **extra):
    values = dict(target=target, sample=sample, code="", chars=10, tokens=5, rendered=rendered,
                  error=None if rendered else (error or "compile"), flat=flat, black=False, mse=0.1, psnr=10.0,
                  ssim=ssim, edges=0.2, pixel=0.9, ssim_skill=structure, edges_skill=structure, pixel_skill=structure,
                  structure=structure, appearance=structure if appearance is None else appearance, label=label)
    return SampleScore(**(values | extra))


def test_summarise_rates_and_means():
    rows = [row(0, 0, structure=1.0, ssim=1.0, label="c0-clone"), row(0, 1, flat=True, structure=0.0, ssim=0.3,
            label="single_color"), row(1, 0, rendered=False, structure=-1.0, ssim=0.0, label="code_error"),
            row(1, 1, structure=float("nan"), ssim=0.5, label="variation")]
    baselines = {0: {"mse": 0.2, "psnr": 7.0, "ssim": 0.6, "edges": 0.0, "pixel": 0.8},
                 1: {"mse": 0.4, "psnr": 4.0, "ssim": 0.2, "edges": 0.0, "pixel": 0.6}}
    summary = summarise(rows, baselines)
    assert (summary["n_targets"], summary["n_samples"]) == (2, 4)
    assert (summary["compile_rate"], summary["nonflat_rate"], summary["flat_rate"]) == (0.75, 0.5, 0.25)
    assert summary["ssim"] == pytest.approx(0.45)
    assert summary["baseline_ssim"] == pytest.approx(0.4)  # each target's baseline, weighted by its samples
    assert summary["structure"] == pytest.approx(0.0)  # mean of 1, 0, -1; the NaN (flat target) is skipped
    assert summary["appearance"] == pytest.approx(0.0)
    assert summary["labels"] == {"c0-clone": 0.25, "variation": 0.25, "single_color": 0.25, "code_error": 0.25}
    assert summary["errors"] == {"compile": 1}
    assert summary["code_tokens"] == 5.0


def test_best_of_k_picks_the_highest_objective_first_on_ties():
    scored = [[row(0, 0, structure=0.2), row(0, 1, structure=0.7), row(0, 2, structure=0.7)],
              [row(1, 0, rendered=False, structure=-0.5), row(1, 1, structure=float("nan"))]]
    assert [(r.target, r.sample) for r in best_of_k(scored)] == [(0, 1), (1, 0)]
    summary = summarise_best_of_k(scored)
    assert summary["structure"] == pytest.approx(0.1) and summary["appearance"] == pytest.approx(0.1)
    assert (summary["compile_rate"], summary["any_compile"], summary["any_nonflat"]) == (0.5, 1.0, 1.0)
    # each objective picks by its own figure: sample 0 lines up best, sample 1 looks most alike
    split = [[row(0, 0, structure=0.6, appearance=0.0), row(0, 1, structure=0.1, appearance=0.9),
              row(0, 2, structure=0.4, appearance=0.4)]]
    picks = {objective: best_of_k(split, objective)[0].sample for objective in ("structure", "appearance", "mix")}
    assert picks == {"structure": 0, "appearance": 1, "mix": 1}  # mix: means 0.3, 0.5, 0.4


def test_breakdown_groups_targets():
    targets = [Target(np.zeros((4, 4, 3), np.uint8), source="a", difficulty=1),
               Target(np.zeros((4, 4, 3), np.uint8), source="b", difficulty=None),
               Target(np.zeros((4, 4, 3), np.uint8), source="a", difficulty=10)]
    scored = [[row(0, 0, structure=1.0)], [row(1, 0, rendered=False)], [row(2, 0, structure=0.0)]]
    by_source = breakdown(scored, targets, lambda t: t.source)
    assert list(by_source) == ["a", "b"]
    assert (by_source["a"]["n_targets"], by_source["a"]["structure"], by_source["b"]["compile_rate"]) == (2, 0.5, 0.0)
    assert by_source["a"]["appearance"] == 0.5
    assert list(breakdown(scored, targets, lambda t: t.difficulty)) == ["1", "10", "unknown"]


# --- a whole evaluation from hand-written completions ------------------------------------------------


@pytest.fixture(scope="module")
def targets(render_pool):
    return load_targets("generator:textures", n=3, size=SIZE, pool=render_pool)


GREY = "```glsl\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(0.5, 0.5, 0.5, 1.0); }\n```"


@pytest.fixture(scope="module")
def report(targets, render_pool):
    completions = [[f"Here it is:\n```glsl\n{t.code}\n```", GREY, "I cannot draw that."] for t in targets]
    return evaluate_completions(completions, targets, pool=render_pool)


def test_generator_targets(targets):
    assert len(targets) == 3
    assert all(t.image.shape == (SIZE, SIZE, 3) and t.family and t.params and t.code for t in targets)
    assert all(t.source == "generator:textures" and int(t.id.rsplit("-", 1)[1]) >= 1_000_000 for t in targets)


def test_report_figures(report):
    s = report.summary
    assert (s["n_targets"], s["n_samples"]) == (3, 9)
    assert s["compile_rate"] == pytest.approx(2 / 3) and s["nonflat_rate"] == pytest.approx(1 / 3)
    assert s["well_formed_rate"] == pytest.approx(2 / 3)
    assert s["labels"] == {"c1-clone": pytest.approx(1 / 3), "single_color": pytest.approx(1 / 3),
                           "code_error": pytest.approx(1 / 3)}
    assert s["family_match"] == pytest.approx(1 / 3)
    assert s["errors"] == {"invalid_input": 3}
    assert s["baseline_ssim"] < s["ssim"] < 1.0

    best = report.best_of_k  # the perfect copy wins every target
    assert (best["structure"], best["ssim"], best["any_compile"], best["family_match"]) == (1.0, 1.0, 1.0, 1.0)
    assert best["appearance"] == pytest.approx(1.0)
    assert best["param_error"] == 0.0 and best["params_found"] == 1.0


def test_both_baselines(report):
    reference, mean_colour = report.baselines["reference"], report.baselines["mean_colour"]
    assert (reference["compile_rate"], reference["ssim"], reference["structure"]) == (1.0, 1.0, 1.0)
    assert reference["appearance"] == pytest.approx(1.0)
    assert reference["labels"] == {"c0-clone": 1.0}
    assert reference["family_match"] == 1.0  # the detector recognises every reference
    assert (mean_colour["compile_rate"], mean_colour["nonflat_rate"]) == (1.0, 0.0)
    assert mean_colour["structure"] == pytest.approx(0.0, abs=1e-9)
    assert mean_colour["appearance"] == pytest.approx(0.0, abs=1e-9)  # drawn by a program: 8-bit rounding at most
    assert mean_colour["ssim"] == pytest.approx(mean_colour["baseline_ssim"])
    assert mean_colour["labels"] == {"single_color": 1.0}


def test_breakdowns(report, targets):
    assert sum(g["n_targets"] for g in report.by_family.values()) == len(targets)
    assert set(report.by_family) == {t.family for t in targets}
    assert set(report.by_difficulty) == {str(t.difficulty) for t in targets}


def test_report_files(report, tmp_path):
    paths = report.write(tmp_path / "eval", sheet_targets=2)
    data = json.loads(paths["json"].read_text())  # strict JSON: NaN became null
    assert set(data) >= {"settings", "summary", "best_of_k", "baselines", "by_source", "by_difficulty", "timing",
                         "targets"}
    assert data["targets"][0]["samples"][2]["completion"] == "I cannot draw that."
    assert data["targets"][0]["samples"][2]["error"] == "invalid_input"
    markdown = paths["markdown"].read_text()
    for text in ("baseline: mean colour", "baseline: reference programs", "non-flat", "## ShaderEval labels",
                 "## By family", "contact_sheet.png"):
        assert text in markdown
    from PIL import Image

    sheet = Image.open(paths["sheet"])
    assert sheet.size[1] > 2 * 128 and sheet.size[0] > 4 * 128  # 2 targets, target + 3 samples each


def test_every_table_and_the_json_carry_both_figures_for_the_model_and_every_baseline(targets, render_pool, tmp_path):
    from rich.console import Console

    completions = [[f"```glsl\n{t.code}\n```", GREY] for t in targets]
    report = evaluate_completions(completions, targets, pool=render_pool, labels=False, search_budget=30,
                                  objective="appearance")
    summaries = {"model": report.summary, "best of K": report.best_of_k, **report.baselines}
    assert set(summaries) == {"model", "best of K", "mean_colour", "reference", "search"}
    for name, summary in summaries.items():
        assert math.isfinite(summary["structure"]) and math.isfinite(summary["appearance"]), name
    assert report.baselines["mean_colour"]["appearance"] == pytest.approx(0.0, abs=1e-9)
    assert report.baselines["search"]["objective"] == "appearance" and report.settings["objective"] == "appearance"
    data = json.loads(report.write(tmp_path / "eval", sheet_targets=1)["json"].read_text())
    assert {"structure", "appearance"} <= set(data["targets"][0]["samples"][0]) and "skill" not in data["summary"]
    assert {"structure", "appearance"} <= set(data["search"][0])
    for groups in (data["by_family"], data["by_source"], data["by_difficulty"]):  # with the search's, per group
        assert all({"structure", "appearance", "search_structure", "search_appearance"} <= set(group)
                   for group in groups.values())
    markdown = (tmp_path / "eval" / "report.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("|  | compile"))
    assert "| structure | appearance |" in header
    assert "| baseline: search (appearance), 30 renders |" in markdown and "fitted for appearance" in markdown
    assert markdown.count("| structure | appearance |") >= 4  # the summary and the three breakdowns
    console = Console(width=200, record=True, color_system=None)
    report.print(console)
    printed = console.export_text()
    assert "structure" in printed and "appearance" in printed and "baseline: search (appearance), 30" in printed


def test_picture_dependence_is_zero_for_one_answer_to_every_picture_and_the_targets_own_gap_for_their_programs(
        targets, render_pool, tmp_path):
    from rich.console import Console

    same = evaluate_completions([[f"```glsl\n{targets[0].code}\n```"]] * len(targets), targets, pool=render_pool,
                                labels=False).picture_dependence
    own = evaluate_completions([[f"```glsl\n{t.code}\n```"] for t in targets], targets, pool=render_pool,
                               labels=False)
    for figure in ("structure", "appearance"):
        assert same[figure]["n"] == len(targets)
        assert same[figure]["gain"] == pytest.approx(0.0, abs=1e-9)  # blind: as good against any picture
        assert len(same[figure]["target_gain"]) == len(targets) and np.nanstd(same[figure]["target_gain"]) > 0.01
        exact = own.picture_dependence[figure]  # each answer is its target: the targets' own gap, well above 0
        assert exact["gain"] == pytest.approx(exact["perfect"], abs=1e-6) and exact["gain"] > 0.3
        assert exact["own"] == pytest.approx(1.0, abs=1e-6)
    data = json.loads(own.write(tmp_path / "eval", sheet_targets=1)["json"].read_text())
    assert data["picture_dependence"]["appearance"]["gain"] == pytest.approx(own.picture_dependence["appearance"]["gain"])
    assert "Reads the picture" in (tmp_path / "eval" / "report.md").read_text()
    console = Console(width=300, record=True, color_system=None)
    own.print(console)
    assert "Reads the picture" in console.export_text()


def test_same_completions_same_report(report, targets, render_pool):
    completions = [[f"Here it is:\n```glsl\n{t.code}\n```", GREY, "I cannot draw that."] for t in targets]
    again = evaluate_completions(completions, targets, pool=render_pool).to_dict()
    first = report.to_dict()
    first.pop("timing"), again.pop("timing")
    assert first == again


def test_bad_inputs():
    with pytest.raises(TargetError, match="generator:nonsense"):
        load_targets("generator:nonsense", n=1, size=SIZE)
    with pytest.raises(TargetError, match="no such folder"):
        load_targets("./does/not/exist", size=SIZE)
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    with pytest.raises(ValueError, match="same number of completions"):
        evaluate_completions([["a"], ["a", "b"]], [Target(image), Target(image)])


def test_targets_from_a_saved_dataset(targets, tmp_path):
    import datasets
    from PIL import Image

    rows = {"image": [Image.fromarray(t.image) for t in targets], "code": [t.code for t in targets],
            "source": ["textures"] * 3, "id": [t.id for t in targets], "family": [t.family for t in targets],
            "difficulty": [t.difficulty for t in targets], "params": [json.dumps(t.params) for t in targets],
            "time": [0.0] * 3}
    test = datasets.Dataset.from_dict(rows, features=datasets.Features({
        "image": datasets.Image(), "code": datasets.Value("string"), "source": datasets.Value("string"),
        "id": datasets.Value("string"), "family": datasets.Value("string"), "difficulty": datasets.Value("int32"),
        "params": datasets.Value("string"), "time": datasets.Value("float32")}))
    datasets.DatasetDict({"train": test.select([0]), "test": test}).save_to_disk(str(tmp_path / "data"))

    loaded = load_targets(str(tmp_path / "data"), size=SIZE)
    assert [t.id for t in loaded] == [t.id for t in targets]
    assert all(np.array_equal(a.image, b.image) and a.params == b.params for a, b in zip(loaded, targets))
    picked = load_targets(str(tmp_path / "data"), n=2, seed=5, size=SIZE)
    assert [t.id for t in picked] == [t.id for t in load_targets(str(tmp_path / "data"), n=2, seed=5, size=SIZE)]
    assert len(picked) == 2 and [t.id for t in picked] == sorted((t.id for t in picked), key=[t.id for t in targets].index)
    resized = load_targets(str(tmp_path / "data"), size=28 * 4)
    assert resized[0].image.shape == (112, 112, 3)
    with pytest.raises(TargetError, match="splits"):
        load_targets(str(tmp_path / "data"), split="validation", size=SIZE)


def test_conversational_completions(targets, render_pool):
    """TRL's completions (lists of messages) score like the strings inside them."""
    texts = [[f"```glsl\n{t.code}\n```"] for t in targets[:1]]
    messages = [[[{"role": "assistant", "content": text}] for text in row] for row in texts]
    from_text = evaluate_completions(texts, targets[:1], pool=render_pool, labels=False).to_dict()
    from_messages = evaluate_completions(messages, targets[:1], pool=render_pool, labels=False).to_dict()
    from_text.pop("timing"), from_messages.pop("timing")
    assert from_messages == from_text
    assert from_messages["targets"][0]["samples"][0]["completion"] == texts[0][0]
    assert from_messages["summary"]["structure"] == 1.0 and from_messages["summary"]["labels"] == {}


def test_a_program_longer_than_any_context_is_counted_without_the_models_length_warning(small_tiny_model, caplog):
    from transformers import AutoTokenizer

    from earthshader.modeling.prompts import text_tokens
    from earthshader.training.sft_examples import completion_tokens

    code = "float a = 1.0;\n" * 10_000  # a withheld corpus program, scored as the reference, can be this long
    for count in (text_tokens, completion_tokens):  # what scoring reports, what SFT drops long programs by
        tokenizer = AutoTokenizer.from_pretrained(small_tiny_model)  # the warning comes once per tokenizer
        assert count(tokenizer, code) > tokenizer.model_max_length
    assert "sequence length is longer" not in caplog.text
