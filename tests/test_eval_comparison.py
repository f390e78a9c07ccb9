"""The demo's before/after tables (`earthshader.evaluation.comparison`): both modes, both figures, the right
changes, the search baseline's row, no wrapped labels."""

import math

import pytest
from rich.console import Console

from earthshader.evaluation.comparison import COLUMNS, change_lines, changes, comparison_table, failure_counts


def summary(structure: float, ssim: float = 0.4, appearance: float = 0.2) -> dict:
    return {"compile_rate": 1.0, "nonflat_rate": 0.984, "ssim": ssim, "baseline_ssim": 0.308, "structure": structure,
            "appearance": appearance}


def test_table_shows_greedy_and_sampled_changes_of_both_figures_in_an_80_column_terminal():
    before = {"greedy": summary(0.041), "sampled": summary(0.001, ssim=0.38, appearance=0.1)}
    after = {"greedy": summary(0.075, appearance=0.25), "sampled": summary(0.038, ssim=0.379, appearance=0.05)}
    console = Console(width=80, record=True, color_system=None)
    console.print(comparison_table(before, after, (4, 0.5)))
    text = console.export_text()
    lines = text.splitlines()
    assert any(line.startswith("│ SFT + GRPO, greedy ") for line in lines)
    assert any(line.startswith("│ SFT + GRPO, 4×T0.5 ") for line in lines)
    changed = [line for line in lines if line.startswith("│ change")]
    assert len(changed) == 2
    assert "+0.034" in changed[0] and "+0.037" in changed[1]  # structure: 0.075 - 0.041, 0.038 - 0.001
    assert changed[0].rstrip(" │").endswith("+0.050") and changed[1].rstrip(" │").endswith("-0.050")  # appearance
    assert "-0.001" in changed[1]  # SSIM 0.379 - 0.380
    assert all(len(line) <= 80 for line in lines)
    assert [key for key, _ in COLUMNS][-2:] == ["structure", "appearance"]


def test_failure_counts_show_what_the_rounded_rates_hide():
    before = {"greedy": {"n_samples": 256, "compile_rate": 1.0, "nonflat_rate": 255 / 256},
              "sampled": {"n_samples": 1024, "compile_rate": 1023 / 1024, "nonflat_rate": 1021 / 1024}}
    after = {"greedy": {"n_samples": 256, "compile_rate": 1.0, "nonflat_rate": 1.0},
             "sampled": {"n_samples": 1024, "compile_rate": 1020 / 1024, "nonflat_rate": 1020 / 1024}}
    line = failure_counts(before, after)
    assert "greedy 0 of 256 → 0 of 256 | 1 of 256 → 0 of 256" in line
    assert "sampled 1 of 1024 → 4 of 1024 | 3 of 1024 → 4 of 1024" in line


def test_the_table_gains_the_search_baseline_row_with_both_figures_and_its_objective():
    before = {"greedy": summary(0.041), "sampled": summary(0.001),
              "search": summary(0.123, appearance=0.456) | {"budget": 100, "objective": "mix"}}
    after = {"greedy": summary(0.075), "sampled": summary(0.038)}
    console = Console(width=110, record=True, color_system=None)
    console.print(comparison_table(before, after, (4, 0.5), "photos", 96))
    text = console.export_text()
    assert "96 held-out pictures, photos" in text
    search_row = next(line for line in text.splitlines() if line.startswith("│ search (mix), 100 renders"))
    assert search_row.rstrip(" │").endswith("0.123 │      0.456")
    del before["search"]
    console = Console(width=110, record=True, color_system=None)
    console.print(comparison_table(before, after, (4, 0.5)))
    assert "search" not in console.export_text()


def test_paired_changes_of_both_figures():
    before = {mode: {"target_structure": [0.1, 0.2, math.nan], "target_appearance": [0.5, 0.5, 0.5]}
              for mode in ("greedy", "sampled")}
    after = {mode: {"target_structure": [0.2, 0.4, 0.9], "target_appearance": [0.4, 0.6, 0.5]}
             for mode in ("greedy", "sampled")}
    lines = change_lines(before, after, "photos")
    assert lines[0].startswith("photos: structure change") and "greedy +0.150 ± 0.050" in lines[0]
    assert lines[1].startswith("photos: appearance change") and "sampled +0.000 ± 0.058" in lines[1]
    record = changes(before, after)
    assert record["structure"]["greedy"] == {"mean": pytest.approx(0.15), "standard_error": pytest.approx(0.05),
                                             "targets": 2}  # the unscored target is left out
