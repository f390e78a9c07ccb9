"""An evaluation of the tiny (untrained) model completes, through `evaluate` and through the CLI, with the
same report for the same seed. The model is built here, small (about 10 s), in a temporary folder."""

from __future__ import annotations

import io
import json

import pytest

from earthshader.evaluation import load_targets
from earthshader.evaluation.run import evaluate

SIZE = 56
ARGS = {"samples": 2, "max_new_tokens": 24, "seed": 0}


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from earthshader.modeling.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("eval") / "tiny", hidden=64, layers=1, vision_depth=1)


@pytest.fixture(scope="module")
def model_and_processor(tiny_model_dir):
    from earthshader.modeling import load_model

    return load_model(str(tiny_model_dir), "cpu")


@pytest.fixture(scope="module")
def targets(render_pool):
    return load_targets("generator:textures", n=2, size=SIZE, pool=render_pool)


@pytest.fixture(scope="module")
def report(model_and_processor, targets, render_pool):
    model, processor = model_and_processor
    return evaluate(model, processor, targets, pool=render_pool, **ARGS)


def test_tiny_model_evaluation_completes(report):
    s = report.summary
    assert (s["n_targets"], s["n_samples"]) == (2, 4)
    for key in ("compile_rate", "nonflat_rate", "ssim", "baseline_ssim", "structure", "appearance"):  # the demo's
        assert key in s
    assert 0.0 <= s["compile_rate"] <= 1.0 and s["code_tokens"] is not None
    assert report.settings["temperature"] == 1.0  # sampled, since K > 1
    assert report.timing["generation_s_per_sample"] > 0
    assert report.baselines["reference"]["ssim"] == 1.0  # the pipeline check
    assert report.baselines["mean_colour"]["nonflat_rate"] == 0.0


def test_same_seed_same_report(report, model_and_processor, targets, render_pool, tmp_path):
    model, processor = model_and_processor
    again = evaluate(model, processor, targets, pool=render_pool, **ARGS)
    first, second = report.to_dict(), again.to_dict()
    first.pop("timing"), second.pop("timing")
    assert first == second
    a, b = report.write(tmp_path / "a"), again.write(tmp_path / "b")
    assert a["sheet"].read_bytes() == b["sheet"].read_bytes()


def test_cli_reports_what_evaluate_reports(report, tiny_model_dir, tmp_path, capsys):
    from earthshader.eval import main

    out = tmp_path / "cli"
    status = main(["--model", str(tiny_model_dir), "--dataset", "generator:textures", "--n", "2", "--size", str(SIZE),
                   "--samples", "2", "--max-new-tokens", "24", "--seed", "0", "--workers", "1", "--out", str(out),
                   "--search", "0"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "baseline: mean colour" in printed and "baseline: reference programs" in printed
    written = json.loads((out / "report.json").read_text())
    expected = report.to_dict()
    assert written["summary"] == expected["summary"] and written["targets"] == expected["targets"]
    assert written["settings"]["model"] == str(tiny_model_dir)
    assert (out / "report.md").is_file() and (out / "contact_sheet.png").is_file()


def test_cli_report_has_the_search_baseline(report, tiny_model_dir, tmp_path, capsys):
    """--search BUDGET: report.json's baselines["search"] has the model's figures, within the budget."""
    import math

    from earthshader.eval import main

    out = tmp_path / "cli"
    assert main(["--model", str(tiny_model_dir), "--dataset", "generator:textures", "--n", "2", "--size", str(SIZE),
                 "--samples", "2", "--max-new-tokens", "24", "--seed", "0", "--workers", "2", "--out", str(out),
                 "--no-labels", "--search", "100"]) == 0
    printed = capsys.readouterr().out
    assert "baseline: search (mix), 100 renders" in printed
    assert "search baseline, fitted for mix: budget 100 renders" in printed
    written = json.loads((out / "report.json").read_text())
    found = written["baselines"]["search"]
    assert math.isfinite(found["structure"]) and math.isfinite(found["appearance"]) and found["objective"] == "mix"
    assert 0.0 <= found["nonflat_rate"] <= 1.0 and math.isfinite(found["ssim"])
    assert found["n_targets"] == 2 and 0 < found["renders"] <= 100 and found["seconds"] > 0
    assert [t["renders"] <= 100 for t in written["search"]] == [True, True]
    model_figures = {k: v for k, v in report.to_dict()["summary"].items() if k != "labels"}  # --no-labels here
    assert {k: v for k, v in written["summary"].items() if k != "labels"} == model_figures  # untouched by the search
    assert "search baseline" in (out / "report.md").read_text()


def test_cli_bad_dataset_exits_2(tiny_model_dir, capsys):
    from earthshader.eval import main

    with pytest.raises(SystemExit) as exit_:  # refused by --dataset's argument check, before the model loads
        main(["--model", str(tiny_model_dir), "--dataset", "generator:nonsense", "--size", str(SIZE),
              "--workers", "1"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "--dataset" in error and "unknown generator" in error and error.count("\n") == 1


def test_report_prints_with_rich(report):
    from rich.console import Console

    buffer = io.StringIO()
    report.print(Console(file=buffer, width=160))
    text = buffer.getvalue()
    assert "model" in text and "baseline: mean colour" in text and "non-flat" in text


def test_cli_with_a_lora_adapter(report, tiny_model_dir, tmp_path):
    """A fresh LoRA adapter (B = 0) changes nothing: the report equals the base model's."""
    from peft import get_peft_model

    from earthshader.eval import main
    from earthshader.modeling import load_model, lora_config

    model, processor = load_model(str(tiny_model_dir), "cpu")  # a copy: get_peft_model edits it in place
    adapter = tmp_path / "adapter"
    get_peft_model(model, lora_config(r=4, alpha=8)).save_pretrained(str(adapter))
    processor.save_pretrained(str(adapter))

    out = tmp_path / "cli"
    assert main(["--model", str(tiny_model_dir), "--adapter", str(adapter), "--dataset", "generator:textures",
                 "--n", "2", "--size", str(SIZE), "--samples", "2", "--max-new-tokens", "24", "--seed", "0",
                 "--workers", "1", "--out", str(out), "--search", "0"]) == 0
    written = json.loads((out / "report.json").read_text())
    assert written["settings"]["adapter"] == str(adapter)
    assert written["summary"] == report.to_dict()["summary"]


def test_evaluate_leaves_the_callers_rng_alone(model_and_processor, targets, render_pool):
    import torch

    model, processor = model_and_processor
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    evaluate(model, processor, targets[:1], pool=render_pool, samples=2, max_new_tokens=4, seed=7, labels=False)
    assert torch.equal(torch.rand(3), expected)


@pytest.fixture(scope="module")
def two_turns(model_and_processor, targets, render_pool):
    """The same evaluation with look and fix's two turns, recording what turn 2 was shown."""
    from earthshader.modeling import generation

    model, processor = model_and_processor
    shown, original = [], generation.generate_replies

    def recording(model, processor, conversations, images, **options):
        shown.append([[block.get("text") for message in c for block in message["content"]] for c in conversations])
        return original(model, processor, conversations, images, **options)

    generation.generate_replies = recording
    try:
        return evaluate(model, processor, targets, pool=render_pool, turns=2, **ARGS), shown
    finally:
        generation.generate_replies = original


def test_two_turns_score_every_turn_and_turn_one_is_the_single_turn_evaluation(report, two_turns):
    import math

    import numpy as np

    episodes, shown = two_turns
    assert len(shown) == 2  # turn 1 (K answers a prompt), then one reply an episode
    assert len(shown[1]) == 2 * 2 and all(len(c) == len(shown[0][0]) + 1 + 3 for c in shown[1])
    # the untrained model's turn 1 fails: turn 2 is shown why, in the renderer's words
    assert all(any(text and text.startswith("Your program failed (") for text in c) for c in shown[1])
    first, last = episodes.turns
    assert first["summary"] == report.summary and first["best_of_k"] == report.best_of_k
    assert [[r.code for r in rows] for rows in episodes.turn_scored[0]] == [[r.code for r in rows]
                                                                           for rows in report.scored]
    assert episodes.summary == last["summary"] and episodes.settings["turns"] == 2
    for figure in ("structure", "appearance"):  # paired by target, each target's mean over its samples
        per_target = [[np.mean([getattr(r, figure) for r in rows]) for rows in turn] for turn in episodes.turn_scored]
        change = last["change_from_turn_1"][figure]
        assert change["n"] == 2 and math.isclose(change["mean"], np.mean(np.subtract(*per_target[::-1])))
        assert first["change_from_turn_1"][figure]["mean"] == 0.0
    failed = [not r.rendered for rows in episodes.turn_scored[0] for r in rows]
    assert last["repaired"]["of"] == sum(failed) and first["repaired"]["rate"] is None
    assert last["summary"]["compile_rate"] is not None and "repaired" in episodes.markdown()


def test_report_json_carries_every_turn(two_turns, tmp_path):
    episodes, _ = two_turns
    written = json.loads((episodes.write(tmp_path)["json"]).read_text())
    assert [entry["turn"] for entry in written["turns"]] == [1, 2]
    assert set(written["turns"][0]) == {"turn", "summary", "best_of_k", "change_from_turn_1", "repaired"}
    for target, rows in zip(written["targets"], episodes.turn_scored[-1]):
        for k, sample in enumerate(target["samples"]):
            assert [t["turn"] for t in sample["turns"]] == [1, 2]
            assert sample["turns"][-1]["code"] == sample["code"] == rows[k].code  # the sample is the last turn
            assert all("completion" in t and "structure" in t and "appearance" in t for t in sample["turns"])


def test_cli_two_turns_and_a_turn_budget_past_the_model_refused_in_one_line(tiny_model_dir, tmp_path, capsys):
    from earthshader.eval import main

    common = ["--model", str(tiny_model_dir), "--dataset", "generator:textures", "--n", "2", "--size", str(SIZE),
              "--seed", "0", "--workers", "1", "--search", "0", "--no-labels"]
    out = tmp_path / "cli"
    assert main([*common, "--turns", "2", "--max-new-tokens", "12", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Every turn (2 a sample)" in printed and "model, turn 2" in printed
    written = json.loads((out / "report.json").read_text())
    assert len(written["turns"]) == 2 and written["settings"]["turns"] == 2
    single = tmp_path / "single"
    assert main([*common, "--max-new-tokens", "12", "--out", str(single)]) == 0  # today's report: no turns
    assert "turns" not in json.loads((single / "report.json").read_text())
    capsys.readouterr()
    assert main([*common, "--turns", "8", "--max-new-tokens", "1024", "--out", str(tmp_path / "x")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # (and the loader's bar)
    assert len(errors) == 1 and errors[0].startswith("error: argument --turns: 8 turns") and "--max-new-tokens" in errors[0]
    with pytest.raises(SystemExit) as exit:
        main([*common, "--turns", "9"])
    assert exit.value.code == 2 and "argument --turns: must be a whole number from 1 to 8" in capsys.readouterr().err
