"""The CPU demo's before/after table: both evaluation modes, the right changes, no wrapped labels."""

from rich.console import Console

from earthshader.demo import COLUMNS, comparison_table, failure_counts


def summary(skill: float, ssim: float = 0.4) -> dict:
    return {"compile_rate": 1.0, "nonflat_rate": 0.984, "ssim": ssim, "baseline_ssim": 0.308, "skill": skill}


def test_table_shows_greedy_and_sampled_changes_in_an_80_column_terminal():
    before = {"greedy": summary(0.041), "sampled": summary(0.001, ssim=0.38)}
    after = {"greedy": summary(0.075), "sampled": summary(0.038, ssim=0.379)}
    console = Console(width=80, record=True, color_system=None)
    console.print(comparison_table(before, after, (4, 0.5)))
    text = console.export_text()
    lines = text.splitlines()
    assert any(line.startswith("│ SFT + GRPO, greedy ") for line in lines)
    assert any(line.startswith("│ SFT + GRPO, 4×T0.5 ") for line in lines)
    changes = [line for line in lines if line.startswith("│ change")]
    assert len(changes) == 2
    assert "+0.034" in changes[0] and "+0.037" in changes[1]  # skill: 0.075 - 0.041, 0.038 - 0.001
    assert "-0.001" in changes[1]  # SSIM 0.379 - 0.380
    assert all(len(line) <= 80 for line in lines)
    assert len(COLUMNS) == 5


def test_failure_counts_show_what_the_rounded_rates_hide():
    before = {"greedy": {"n_samples": 256, "compile_rate": 1.0, "nonflat_rate": 255 / 256},
              "sampled": {"n_samples": 1024, "compile_rate": 1023 / 1024, "nonflat_rate": 1021 / 1024}}
    after = {"greedy": {"n_samples": 256, "compile_rate": 1.0, "nonflat_rate": 1.0},
             "sampled": {"n_samples": 1024, "compile_rate": 1020 / 1024, "nonflat_rate": 1020 / 1024}}
    line = failure_counts(before, after)
    assert "greedy 0 of 256 → 0 of 256 | 1 of 256 → 0 of 256" in line
    assert "sampled 1 of 1024 → 4 of 1024 | 3 of 1024 → 4 of 1024" in line


def test_the_table_gains_the_search_baseline_row_when_the_evaluation_ran_it():
    before = {"greedy": summary(0.041), "sampled": summary(0.001),
              "search": summary(0.123) | {"budget": 100}}
    after = {"greedy": summary(0.075), "sampled": summary(0.038)}
    console = Console(width=100, record=True, color_system=None)
    console.print(comparison_table(before, after, (4, 0.5), "photos", 96))
    text = console.export_text()
    assert "96 held-out pictures, photos" in text
    search_row = next(line for line in text.splitlines() if line.startswith("│ search, 100 renders"))
    assert search_row.rstrip(" │").endswith("0.123")
    del before["search"]
    console = Console(width=100, record=True, color_system=None)
    console.print(comparison_table(before, after, (4, 0.5)))
    assert "search" not in console.export_text()
