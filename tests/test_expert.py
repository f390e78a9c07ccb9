"""Expert iteration on a handful of pictures with a very small tiny model and small budgets.

The sampler is replaced by one that answers known programs (an untrained model's samples rarely render,
so nothing would be kept); everything after it is real: rendering, scoring, refinement, SFT, evaluation,
the run directory and resuming.
"""

from __future__ import annotations

import re
import runpy
import types
from pathlib import Path

import pytest
import torch
import yaml

from earthshader import expert
from earthshader.evaluation import load_targets
from earthshader.evaluation.objectives import OBJECTIVES, objective_value
from earthshader.evaluation.scoring import score_programs
from earthshader.training import expert_iteration, expert_learning, expert_runs, expert_stage
from earthshader.training.expert_iteration import RoundSettings, TeacherUnavailable, check_teachers, collect_round
from earthshader.training.recipes import available_recipes, resolve_recipe

SIZE = 56
GARBAGE = "```glsl\nvoid mainImage(out vec4 c, in vec2 p) { c = nope; }\n```"


def dimmed(code: str) -> str:
    """The program with every colour darkened: the right structure, constants for refinement to fix."""
    def darker(vec):
        return re.sub(r"\d+\.\d+", lambda number: f"{0.6 * float(number.group()):.3f}", vec.group())
    return re.sub(r"vec3\([^)]*\)", darker, code)


def fake_sampler(targets):
    """Picture 0: its own program and a broken one; picture 1: dimmed colours; every other picture: nothing
    that renders."""
    answers = {0: [targets[0].code, GARBAGE], 1: [dimmed(targets[1].code), dimmed(targets[1].code)]}
    by_id = {id(t.image): i for i, t in enumerate(targets)}

    def sample(model, processor, images, *, k, **_):
        rows = []
        for image in images:
            i = by_id.get(id(image))
            rows.append([f"```glsl\n{c}\n```" for c in answers[i]][:k] if i in answers else [GARBAGE] * k)
        return rows
    return sample


@pytest.fixture(scope="module")
def pictures(render_pool):
    # one family (its programs do not depend on other families): ring colours refine within the budget
    return load_targets("generator:rings", n=3, size=SIZE, start=700_000, difficulty=0, pool=render_pool)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_a_round_keeps_refined_pairs_that_rerender_and_counts_the_rest(pictures, render_pool, objective):
    settings = RoundSettings(k=2, refine_budget=40, margin=0.05, seed=0, objective=objective)
    collected = collect_round(None, None, pictures, settings, pool=render_pool, sampler=fake_sampler(pictures))

    assert collected.counts()["no_render"] == 1  # picture 2: no sample renders, skipped and counted
    assert [p["picture"] for p in collected.pictures] == [0, 1, 2]
    assert {p["picture"] for p in collected.pairs} == {0, 1}
    assert [p["teacher"] for p in collected.pairs] == ["model", "model+refine"]  # picture 0 was already exact
    for pair in collected.pairs:
        assert pair["objective"] == objective and pair["score"] > 0.05
        assert pair["score"] >= pair["sample_score"]
        (row,), = score_programs([pictures[pair["picture"]]], [[pair["code"]]], pool=render_pool, labels=False)
        assert row.rendered and abs(objective_value(objective, row.figures) - pair["score"]) <= 1e-3  # re-renders
        assert (pair["structure"], pair["appearance"]) == pytest.approx((row.structure, row.appearance), abs=1e-3)
    dim = next(p for p in collected.pairs if p["picture"] == 1)
    assert dim["refined"] and dim["score"] > dim["sample_score"] and dim["refine_renders"] > 0
    assert collected.timing["refine_renders"] >= dim["refine_renders"] and collected.timing["renders_per_s"] > 0


def test_refining_on_two_pools_at_once_keeps_the_same_pairs(pictures, render_pool):
    from earthshader.render import RenderPool

    settings = RoundSettings(k=2, refine_budget=40, margin=0.05, seed=0)
    one = collect_round(None, None, pictures, settings, pool=render_pool, sampler=fake_sampler(pictures))
    with RenderPool(workers=1) as other:
        two = collect_round(None, None, pictures, settings, pool=render_pool, sampler=fake_sampler(pictures),
                            refine_pools=[render_pool, other])
    assert [(p["picture"], p["code"], p["score"]) for p in two.pairs] == [
        (p["picture"], p["code"], p["score"]) for p in one.pairs]


def test_the_search_teacher_answers_where_every_sample_fails(pictures, render_pool, monkeypatch):
    """With `teachers: [model, search]`, the search baseline's program (`earthshader.answering.search.search`, here
    a stand-in that finds picture 2's own program) is the answer where it scores above the model's."""
    from earthshader.answering import search as searching
    from earthshader.evaluation.scoring import TargetScorer

    asked = []

    class Library:
        candidates = []

        def images(self, count, width, height, time_, pool):
            return []

    def search(image, *, budget, pool, library, time, seed, objective, scorer):
        asked.append((budget, objective))
        import numpy as np

        code = pictures[2].code if np.array_equal(image, pictures[2].image) else None
        figures = {"structure": 1.0, "appearance": 1.0} if code else {}
        score = objective_value(objective, TargetScorer(image).scores(image)) if code else float("nan")
        return searching.SearchResult(code=code, image=image if code else None, score=score, figures=figures,
                                      objective=objective, origin="fake", renders=budget, seconds=0.0,
                                      budget=budget, screened=0)

    monkeypatch.setattr(searching, "search", search)
    monkeypatch.setattr(searching, "SearchLibrary", Library)
    settings = RoundSettings(k=2, refine_budget=30, search_budget=20, margin=0.05, seed=0, teachers=["model", "search"],
                             objective="appearance")
    collected = collect_round(None, None, pictures, settings, pool=render_pool, sampler=fake_sampler(pictures))
    assert asked == [(20, "appearance")] * 3
    assert [(p["picture"], p["teacher"]) for p in collected.pairs] == [(0, "model"), (1, "model+refine"),
                                                                       (2, "search")]
    assert collected.counts()["no_render"] == 0


def test_unknown_teachers_and_objectives_are_refused_before_any_work(capsys):
    with pytest.raises(TeacherUnavailable, match="valid teachers are model, search"):
        check_teachers(["oracle"])
    with pytest.raises(ValueError, match="unknown objective 'ssim'"):
        collect_round(None, None, [], RoundSettings(objective="ssim"), pool=None)
    with pytest.raises(SystemExit) as exit_:
        expert.parse(["--recipe", "tiny", "--objective", "ssim"])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and error.count("\n") == 1
    assert "argument --objective: must be structure, appearance, mix, got 'ssim'" in error


def tiny_args(model, out, *extra):
    return ["--recipe", "tiny", "--model_name_or_path", str(model), "--output_dir", str(out),
            "--image_size", str(SIZE), "--targets_n", "3", "--heldout_n", "2", "--rounds", "2",
            "--samples_per_picture", "2", "--refine_budget", "30", "--max_new_tokens", "12",
            "--generated_examples", "4", "--per_device_train_batch_size", "4", "--max_steps", "2",
            "--learning_rate", "1e-2", "--lora_r", "4", "--lora_alpha", "8", "--render_workers", "1",
            "--targets", "generator:rings", "--heldout", "generator:rings",  # one family: stable programs
            "--eval_start", "false", "--disable_tqdm", "true", *extra]


@pytest.mark.slow
def test_sft_on_the_kept_pairs_moves_only_the_trainable_weights(tmp_path, small_tiny_model, pictures):
    script_args, training_args, model_args = expert.parse(tiny_args(small_tiny_model, tmp_path))
    from earthshader.data.rows import Row

    pairs = [Row(image=t.image, code=t.code, id=t.id, source="expert:model+refine") for t in pictures]
    trainer, info, merged = expert_learning.build_learner(script_args, training_args, model_args, "cpu",
                                                 str(small_tiny_model), pairs, tmp_path / "model")
    assert info["examples"] == 3 and not merged
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainable = {name for name, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    trainer.train()
    after = dict(trainer.model.named_parameters())
    for name, old in before.items():
        changed = not torch.equal(old, after[name].detach())
        assert changed == (name in trainable), f"{name}: changed={changed}, trainable={name in trainable}"


@pytest.mark.slow
def test_a_run_killed_halfway_resumes_without_losing_or_duplicating_pairs(tmp_path, small_tiny_model, monkeypatch,
                                                                           capsys):
    from earthshader import logs
    from earthshader.answering import refine

    real_refine, calls = refine.refine, []

    def refine_then_die(*args, **kwargs):  # round 1's second refinement is where the kill lands
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt("killed")
        return real_refine(*args, **kwargs)

    samplers = {}

    def sample(model, processor, images, **kwargs):
        key = tuple(id(i) for i in images)
        return samplers[key](model, processor, images, **kwargs)

    real_load = expert_stage.load_pictures

    def load_pictures(args, pool):
        train, heldout = real_load(args, pool)
        samplers[tuple(id(t.image) for t in train)] = fake_sampler(train)
        return train, heldout

    monkeypatch.setattr(expert_iteration, "generation", types.SimpleNamespace(generate_completions=sample))
    monkeypatch.setattr(expert_stage, "load_pictures", load_pictures)
    monkeypatch.setattr(refine, "refine", refine_then_die)
    with pytest.raises(KeyboardInterrupt):
        expert.main(tiny_args(small_tiny_model, tmp_path))
    assert len(expert_runs.finished_rounds(tmp_path)) == 1
    assert not (expert_runs.round_dir(tmp_path, 1) / "collect.json").exists()
    first = (expert_runs.round_dir(tmp_path, 0) / "pairs.jsonl").read_bytes()

    with pytest.raises(expert_runs.RunStateError, match="--resume_from_checkpoint true"):
        expert.main(tiny_args(small_tiny_model, tmp_path))

    # Resumed, then killed again in round 1's SFT: its pairs are complete and are reused, not collected again
    real_learner = expert_learning.build_learner
    def killed(*args):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(expert_learning, "build_learner", killed)
    with pytest.raises(KeyboardInterrupt):
        expert.main(tiny_args(small_tiny_model, tmp_path, "--resume_from_checkpoint", "true"))
    second = (expert_runs.round_dir(tmp_path, 1) / "pairs.jsonl").read_bytes()
    refinements = len(calls)
    monkeypatch.setattr(expert_learning, "build_learner", real_learner)
    final = expert.main(tiny_args(small_tiny_model, tmp_path, "--resume_from_checkpoint", "true"))
    assert len(calls) == refinements and (expert_runs.round_dir(tmp_path, 1) / "pairs.jsonl").read_bytes() == second

    records = expert_runs.finished_rounds(tmp_path)
    assert [r["round"] for r in records] == [0, 1] and final == expert_runs.model_dir(tmp_path, 1)
    assert (expert_runs.round_dir(tmp_path, 0) / "pairs.jsonl").read_bytes() == first
    for r, record in enumerate(records):
        pairs = expert_runs.read_jsonl(expert_runs.round_dir(tmp_path, r) / "pairs.jsonl")
        assert sorted(p["picture"] for p in pairs) == [0, 1]  # each once, none lost
        assert record["kept"] == 2 and record["counts"]["no_render"] == 1
        assert record["teachers"] == {"model": 1, "model+refine": 1} and record["train_pairs"] == 2
        assert record["grammar_pairs"] > 0 and record["heldout"]["n_targets"] == 2
        assert set(record["timing"]) >= {"sample_s", "render_s", "refine_s", "train_s", "eval_s", "renders_per_s"}
    assert (final / "earthshader.json").is_file()

    capsys.readouterr()
    assert logs.main([str(tmp_path)]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the terminal may wrap a long run path's line
    assert "expert iteration" in printed and "2 rounds finished" in printed


@pytest.mark.parametrize("name", available_recipes("expert"))
def test_every_expert_recipe_parses_with_no_unknown_keys(name):
    script_args, training_args, model_args = expert.parse(["--recipe", name])
    known = set(vars(script_args)) | set(vars(training_args)) | set(vars(model_args))
    assert set(yaml.safe_load(resolve_recipe(name, "expert").read_text())) <= known
    assert script_args.rounds >= 1 and script_args.teachers and training_args.output_dir
    check_teachers(script_args.teachers)


def test_flags_override_the_recipe():
    script_args, training_args, _ = expert.parse(["--recipe", "tiny", "--rounds", "5", "--refine_budget", "0",
                                                  "--teachers", "model", "--learning_rate", "1e-4"])
    assert (script_args.rounds, script_args.refine_budget, training_args.learning_rate) == (5, 0, 1e-4)


def test_no_round_starts_that_would_end_past_the_time_limit():
    record = {"timing": {part: 10.0 for part in expert_runs.TIME_PARTS} | {"renders_per_s": 99.0}}  # 50 s a round
    assert not expert_runs.over_time([record], 0)  # no limit
    assert not expert_runs.over_time([], 1.0)  # the first round always runs
    assert not expert_runs.over_time([record], 100 / 60)  # 50 s spent + 50 s for the next: just fits
    assert expert_runs.over_time([record, record], 140 / 60)


#: The learning benchmark, which runs expert iteration beside GRPO.
LEARN_FROM_PICTURES = Path(__file__).resolve().parents[1] / "benchmarks" / "learn_from_pictures.py"


def learn_from_pictures() -> dict:
    """The benchmark script's names (its functions and tables), loaded without running it."""
    return runpy.run_path(str(LEARN_FROM_PICTURES), run_name="learn_from_pictures")


def test_the_benchmark_script_answers_help():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(LEARN_FROM_PICTURES), "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--start" in out.stdout and "--minutes" in out.stdout


def test_the_benchmark_trains_a_kind_on_other_pictures_only_when_asked_for_a_kind_it_runs(capsys):
    bench = learn_from_pictures()
    spec = "crops:skimage:more?size=128&count={n}&seed=0"
    args = bench["parse_args"](["--kinds", "photos", "--train-pictures", f"photos={spec}"])
    assert args.train_pictures == {"photos": spec}
    assert bench["parse_args"](["--kinds", "photos"]).train_pictures == {}
    for flags, error in ((["--kinds", "photos", "--train-pictures", "textures=skimage:more"], "not in --kinds: textures"),
                         (["--train-pictures", "photos"], "give KIND=SPEC"),
                         (["--train-pictures", "photos=skimage:lena"], "unknown ['lena']")):
        with pytest.raises(SystemExit) as exit_:
            bench["parse_args"](flags)
        assert exit_.value.code == 2 and error in capsys.readouterr().err


def test_the_command_refuses_an_unknown_teacher_in_one_line(monkeypatch, capsys):
    import sys

    from earthshader.cli import run_entry_point

    monkeypatch.setattr(sys, "argv", ["earthshader expert", "--recipe", "tiny", "--teachers", "oracle"])
    with pytest.raises(SystemExit) as exit_:
        run_entry_point(expert.main)
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and error.count("\n") == 1
    assert error.startswith("error: --teachers ['oracle']: valid teachers are model, search")


def test_the_benchmark_pools_each_arm_by_target_and_pairs_it_with_the_start():
    bench = learn_from_pictures()
    modes = bench["MODES"]

    def figures(structure, appearance):
        return {m: {"structure": list(structure), "appearance": list(appearance)} for m in modes}

    rates = {"compiles": [1.0, 1.0, 0.0], "nonflat": [1.0, 0.0, 0.0]}
    start = figures([0.1, 0.2, 0.3], [0.0, 0.0, 0.0]) | rates
    results = {"expert": {0: figures([0.2, 0.2, 0.3], [0.1, 0.2, 0.3]) | rates,
                          1: figures([0.2, 0.4, 0.5], [0.3, 0.4, 0.5]) | rates}}
    baselines = {"search": {"structure": [0.0, 0.1, 0.5], "appearance": [0.1, 0.1, 0.1]},
                 "gradient": {"structure": [-0.7, -0.6, -0.8], "appearance": [-0.5, -0.5, -0.5]},
                 "shuffled": {"structure": [-0.2, -0.1, -0.3], "appearance": [0.0, 0.05, 0.1]}}
    minutes = {"expert": {0: 1.0, 1: 3.0}}
    rows, pooled = bench["comparison_rows"](start, results, baselines, minutes, 60, "structure")
    names = [cells[0] for cells, _ in rows]
    assert names == ["mean colour", "straight gradient", "shuffled pixels", "search (60 renders)", "start",
                     "expert, seed 0", "expert, seed 1", "expert, pooled", "expert, seed sd"]
    assert pooled["expert"]["greedy"]["structure"] == pytest.approx([0.2, 0.3, 0.4])  # the mean per target over seeds
    pooled_row = rows[7][0]
    assert pooled_row[1] == "0.300  +0.100 ± 0.000" and pooled_row[-1] == "2.0"  # +0.1 on every target: SE 0
    assert pooled_row[5:8] == ["0.67", "0.33", "+0.300"]  # compile, non-flat, median of best+refine
    assert rows[5][0][1].startswith("0.233  +0.033 ± ")  # seed 0: changes +0.1, 0, 0
    assert rows[8][0][1] == "0.094"  # the standard deviation of the seeds' mean changes, +0.033 and +0.167
    assert rows[3][0][1] == "0.200" and rows[3][0][7] == "+0.100"  # the search baseline: mean, median
    assert rows[1][0][7] == "-0.700"  # the straight gradient's median
    appearance_rows, _ = bench["comparison_rows"](start, results, baselines, minutes, 60, "appearance")
    assert appearance_rows[7][0][1] == "0.300  +0.300 ± 0.058"  # the same arm, the other figure
    lines = bench["goal_lines"]("photos", start, pooled, baselines, "appearance")
    assert "photos: expert greedy appearance +0.300 ± 0.058: rises by >= 3 SE True; structure +0.100 ± 0.000: falls " \
           "by no more than 1 SE True" in lines[0]
    unchanged = bench["goal_lines"]("photos", start, {"grpo": start}, baselines, "appearance")
    assert "rises by >= 3 SE False" in unchanged[0]  # no change is no rise, however small its standard error
    assert any("expert best-of-K + refine median appearance +0.300: above the mean colour True, above search "
               "(+0.100) True, above gradient (-0.500) True, above shuffled (+0.050) True" in line for line in lines)


def test_a_resume_with_other_pictures_is_refused(tmp_path):
    import numpy as np

    pictures = [types.SimpleNamespace(id=f"p{i}", image=np.full((4, 4, 3), i, np.uint8)) for i in range(2)]
    assert expert_runs.prepare(tmp_path, pictures, resume=False) == []
    assert expert_runs.prepare(tmp_path, pictures, resume=True) == []
    changed = [pictures[0], types.SimpleNamespace(id="p1", image=np.full((4, 4, 3), 9, np.uint8))]
    with pytest.raises(expert_runs.RunStateError, match="other training pictures"):
        expert_runs.prepare(tmp_path, changed, resume=True)


def test_a_program_that_does_not_rerender_to_its_score_is_not_kept(pictures, render_pool):
    settings = RoundSettings(k=2, refine_budget=0, margin=0.05, tolerance=-1.0)  # no re-render can match
    collected = collect_round(None, None, pictures, settings, pool=render_pool, sampler=fake_sampler(pictures))
    assert collected.pairs == [] and collected.counts()["rerender_mismatch"] == 2
    assert all(p["refine_note"] == "refinement off" for p in collected.pictures if p["outcome"] != "no_render")


def test_the_real_search_teacher_proposes_a_program_where_every_sample_fails(pictures, render_pool):
    """The model-free search itself (earthshader.answering.search), not a stand-in: picture 2, whose samples
    all fail, gets the search's program, and that program re-renders to its recorded score."""
    settings = RoundSettings(k=2, refine_budget=20, search_budget=40, margin=-1.0, seed=0,
                             teachers=["model", "search"])
    collected = collect_round(None, None, pictures, settings, pool=render_pool, sampler=fake_sampler(pictures))
    searched = [p for p in collected.pairs if p["picture"] == 2]
    assert len(searched) == 1 and searched[0]["teacher"] == "search" and searched[0]["refine_renders"] <= 40
    (row,), = score_programs([pictures[2]], [[searched[0]["code"]]], pool=render_pool, labels=False)
    assert row.rendered and abs(objective_value("mix", row.figures) - searched[0]["score"]) <= 1e-3
