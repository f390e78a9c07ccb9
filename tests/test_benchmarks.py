"""The benchmark scripts run (on a small input) and print every row they promise."""

import runpy
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name: str, argv: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / name), *argv])
    runpy.run_path(str(BENCHMARKS / name), run_name="__main__")


def test_rewards_benchmark_times_every_configuration(monkeypatch, capsys):
    run_script("rewards.py", ["--prompts", "2", "--generations", "4", "--size", "32", "--workers", "1"], monkeypatch)
    out = capsys.readouterr().out
    for row in ("serial, cache on, in turn", "serial, cache off, in turn", "parallel, cache on, render all, then score",
                "parallel, cache on, in turn", "parallel, cache on, concurrent", "parallel, cache off, concurrent"):
        line = next((line for line in out.splitlines() if f" {row} " in line), None)
        assert line is not None, row
        renders = int(line.split("│")[2])
        assert renders == (6 if "cache on" in row else 36), line  # 6 distinct programs; 6 render rewards
