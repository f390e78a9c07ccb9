"""The CPU demo end to end at a small size: every step runs, and demo.json and the terminal give both figures
before and after for each picture kind, with the search baseline's row."""

import json
import shutil

import pytest


@pytest.mark.slow
def test_the_demo_reports_both_figures_for_every_kind_before_and_after(tmp_path, small_tiny_model):
    from rich.console import Console

    from earthshader.evaluation.scoring import FIGURES
    from earthshader.training.demo_run import DEMO_KINDS, run_demo

    shutil.copytree(small_tiny_model, tmp_path / "tiny-qwen2-vl")  # the demo builds it when missing
    console = Console(record=True, width=200)
    record = run_demo(out=tmp_path, sft_epochs=0.02, grpo_steps=1, train_n=3, eval_n=3, eval_samples=2, search=8,
                      console=console)

    assert record == json.loads((tmp_path / "demo.json").read_text())
    assert set(record["kinds"]) == set(DEMO_KINDS)
    for kind, summary in record["kinds"].items():
        assert set(summary["before"]) == {"greedy", "sampled", "search"} and set(summary["after"]) == {"greedy",
                                                                                                         "sampled"}
        for row in (*summary["before"].values(), *summary["after"].values()):
            for figure in FIGURES:
                assert -1.0 <= row[figure] <= 1.0, (kind, figure, row)
        for figure in FIGURES:
            change = summary["changes"][figure]["greedy"]
            assert change["targets"] == summary["targets"] > 0
            after, before = summary["after"]["greedy"][figure], summary["before"]["greedy"][figure]
            assert change["mean"] == pytest.approx(after - before, abs=1e-9)
    printed = console.export_text()
    for kind in DEMO_KINDS:
        assert f"{kind}: structure change" in printed and f"{kind}: appearance change" in printed
    assert "search (mix), 8 renders" in printed and "…" not in printed
    assert (tmp_path / "grpo-tiny" / "metrics.jsonl").exists()
