"""The benchmark scripts run (on a small input) and print every row they promise."""

import io
import math
import runpy
import sys
from pathlib import Path

import pytest
from rich.console import Console

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name: str, argv: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / name), *argv])
    runpy.run_path(str(BENCHMARKS / name), run_name="__main__")


@pytest.mark.slow  # a benchmark run end to end, at a small size
def test_rewards_benchmark_times_every_configuration(monkeypatch, capsys):
    run_script("reward_speed.py", ["--prompts", "2", "--generations", "4", "--size", "32", "--workers", "1"], monkeypatch)
    out = capsys.readouterr().out
    for row in ("serial, cache on, in turn", "serial, cache off, in turn", "parallel, cache on, render all, then score",
                "parallel, cache on, in turn", "parallel, cache on, concurrent", "parallel, cache off, concurrent"):
        line = next((line for line in out.splitlines() if f" {row} " in line), None)
        assert line is not None, row
        renders = int(line.split("│")[2])
        assert renders == (6 if "cache on" in row else 36), line  # 6 distinct programs; 6 render rewards


def test_grpo_seeds_pools_the_per_target_change_and_reports_the_seed_spread():
    import math

    import pytest

    seeds = runpy.run_path(str(BENCHMARKS / "grpo_seeds.py"), run_name="grpo_seeds")

    def summary(structure, compile_rate=1.0, appearance=(0.5, 0.5, 0.5)):
        return {"structure": float(sum(structure) / len(structure)), "appearance": float(sum(appearance) / 3),
                "compile_rate": compile_rate, "n_samples": 4 * len(structure), "target_structure": structure,
                "target_appearance": list(appearance)}

    before = {"greedy": summary([0.1, 0.2, 0.3]), "sampled": summary([0.0, 0.1, 0.2], compile_rate=0.75)}
    runs = {0: {"greedy": summary([0.2, 0.2, 0.3], appearance=(0.6, 0.6, 0.6)), "sampled": summary([0.1, 0.1, 0.2])},
            1: {"greedy": summary([0.1, 0.4, math.nan]), "sampled": summary([0.0, 0.1, 0.5], compile_rate=0.5)}}
    rows, spread = seeds["seed_rows"](before, runs)
    assert [row[0] for row in rows] == ["seed 0", "seed 1", "pooled"]
    # per mode: structure, its change, appearance, its change, failed answers
    assert rows[0][2].startswith("+0.033 ± ")  # greedy structure, seed 0: changes +0.1, 0, 0
    assert rows[0][4] == "+0.100 ± 0.000"  # greedy appearance, seed 0: +0.1 on every target
    assert rows[1][2].startswith("+0.100 ± ")  # seed 1: +0, +0.2 (the unscored target is left out)
    # pooled greedy: per target the mean over seeds (+0.05, +0.1, 0), then their mean and standard error
    per_target = [0.05, 0.1, 0.0]
    se = (sum((c - 0.05) ** 2 for c in per_target) / 2) ** 0.5 / 3 ** 0.5
    assert rows[2][2] == f"+0.050 ± {se:.3f}"
    assert rows[0][10] == "0" and rows[1][10] == "6" and rows[2][10] == "3.0"  # sampled answers that failed
    greedy_spread = float(spread.split("greedy structure ")[1].split(",")[0])
    assert greedy_spread == pytest.approx(abs(0.1 / 3 - 0.1) / 2 ** 0.5, abs=1e-3)


def test_search_benchmark_prints_a_row_per_budget(monkeypatch, capsys):
    run_script("search.py", ["--dataset", "generator:stripes", "--n", "1", "--size", "28", "--budgets", "12", "20",
                             "--workers", "1"], monkeypatch)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["12", "20"]
    assert all(int(row.split("│")[6]) <= int(row.split("│")[1]) for row in rows)  # renders within the budget
    assert "fitted for mix" in out and "mean structure" in out and "mean appearance" in out


@pytest.mark.slow  # a benchmark run end to end, at a small size
def test_appearance_benchmark_prints_every_measure_and_goal(monkeypatch, capsys):
    run_script("appearance.py", ["--seeds", "1", "--crops", "2", "--corpus-n", "0", "--size", "64", "--batch", "8"],
               monkeypatch)
    out = capsys.readouterr().out
    rows = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert rows == ["ssim", "edges", "pixel", "structure", "appearance"] * 3  # same look, fooling, edits
    assert "goal met: the flat mean-colour image scores exactly 0 on every target" in out
    assert "corpus part skipped: --corpus-n 0" in out and "goal not checked: the 20 ms goal" in out
    assert out.count("goal met") + out.count("goal NOT met") == 3


def test_look_and_fix_calls_no_tie_a_gain():
    bench = runpy.run_path(str(BENCHMARKS / "look_and_fix.py"), run_name="look_and_fix")
    tie = {"appearance": {"turn1": [0.1, 0.2, 0.3], "turn2": [0.1, 0.2, 0.3], "best_of_2": [0.0, 0.0, 0.0]}}
    gain = {"appearance": {"turn1": [0.1, 0.2, 0.3], "turn2": [0.5, 0.7, 0.7], "best_of_2": [0.9, 0.9, 0.9]}}
    assert "3 SE False" in bench["goal_lines"]("textures", tie)[0]
    assert "3 SE True" in bench["goal_lines"]("textures", gain)[0] and "above False" in bench["goal_lines"](
        "textures", gain)[0]


def test_look_and_fix_says_whether_turn_2_edits_or_replaces_turn_1(tmp_path):
    from earthshader.modeling.run_info import RUN_INFO

    bench = runpy.run_path(str(BENCHMARKS / "look_and_fix.py"), run_name="look_and_fix")
    figures = {"structure": {"turn1": [0.0] * 4, "turn2": [0.0] * 4},
               "appearance": {"turn1": [0.1, 0.2, 0.5, 0.6], "turn2": [0.3, 0.4, 0.5, 0.6]}}
    result = {"figures": figures, "turn2_kept": [0.0, 0.0, 1.0, 1.0], "turn2_similarity": [0.2, 0.4, 1.0, 1.0]}
    line = bench["edit_line"]("textures", {0: result}, [0, 1, 2, 3])
    assert "unchanged in 0.50 of 4 episodes" in line and "median 0.70 of its text" in line
    assert "below the median +0.200 ± 0.000, at or above it +0.000 ± 0.000" in line
    assert "not recorded" in bench["edit_line"]("textures", {0: {"figures": figures}}, [0, 1, 2, 3])
    assert bench["saved_model"](tmp_path, 0) is None
    (tmp_path / "seed-0" / "grpo").mkdir(parents=True)
    (tmp_path / "seed-0" / "grpo" / RUN_INFO).write_text("{}")
    assert bench["saved_model"](tmp_path, 0) == tmp_path / "seed-0" / "grpo"
    assert bench["saved_model"](tmp_path, 0, "sft") is None
    assert bench["parse_args"](["--reuse-trained"]).reuse_trained == "grpo"
    assert bench["parse_args"](["--reuse-trained", "sft"]).reuse_trained == "sft"
    later = {"structure": {"turn1": [0.0] * 4, "turn2": [0.0] * 4},
             "appearance": {"turn1": [0.2, 0.3, 0.6, 0.7], "turn2": [0.3, 0.4, 0.5, 0.6]}}
    lines = bench["against_line"]("textures", {0: {"figures": later}, 1: {"figures": later}}, {"0": result},
                                  [0, 1, 2, 3], "a.json")
    assert lines == ["textures, appearance, against a.json (seeds [0]): turn 1 +0.100 ± 0.000; turn 2 +0.000 ± 0.000"]


def test_episode_cost_times_each_part_of_a_look_and_fix_step(monkeypatch, capsys):
    from rewards.cache import configure_shared_cache

    try:
        run_script("episode_cost.py", ["--prompts", "1", "--generations", "3", "--repeats", "2", "--workers", "1",
                                       "--step-seconds", "4"], monkeypatch)
    finally:
        configure_shared_cache()  # the script set the process's cache to one worker: the default back for the rest
    out = capsys.readouterr().out
    rows = [line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│")]
    assert [row[0].strip() for row in rows] == ["1", "2", "median"]
    for row in rows:  # observation, improvement, picture mix, episode = the first two
        observation, improvement, mix, episode = (float(cell) for cell in row[1:])
        assert min(observation, improvement, mix) > 0 and episode == pytest.approx(observation + improvement, abs=2e-3)
    share = float(out.split("of a 4 s step: ")[1].split("%")[0])
    assert share == pytest.approx(100 * float(rows[-1][4]) / 4, abs=0.1)


def test_look_and_fix_takes_an_earlier_runs_cold_starts_and_names_a_missing_one(tmp_path, capsys):
    from earthshader.modeling.run_info import RUN_INFO

    bench = runpy.run_path(str(BENCHMARKS / "look_and_fix.py"), run_name="look_and_fix")
    (tmp_path / "seed-0" / "sft").mkdir(parents=True)
    (tmp_path / "seed-0" / "sft" / RUN_INFO).write_text("{}")
    assert bench["parse_args"](["--cold-start", str(tmp_path), "--seeds", "0"]).cold_start == tmp_path
    with pytest.raises(SystemExit) as stopped:
        bench["parse_args"](["--cold-start", str(tmp_path), "--seeds", "0", "1"])
    assert stopped.value.code == 2 and "no cold start saved for seed(s) [1]" in capsys.readouterr().err


def test_episode_cost_reads_the_share_each_run_logged(tmp_path, monkeypatch, capsys):
    from earthshader.training.run_log import METRICS_FILE, append_lines

    append_lines(tmp_path / METRICS_FILE, [{"step_time": 9.0, "time/observation_s": 5.0},
                                           {"step_time": 2.0, "time/observation_s": 0.2, "time/episode_scoring_s": 0.1,
                                            "time/episode_render_s": 0.06}])
    run_script("episode_cost.py", ["--runs", str(tmp_path), str(tmp_path / "empty")], monkeypatch)
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path}: episode 15.0% of a step; without the final programs' renders 12.0%",
        f"{tmp_path / 'empty'}: no look-and-fix steps logged in "
                                                 f"{tmp_path / 'empty' / METRICS_FILE}"]


def test_look_and_fix_with_no_grpo_steps_scores_the_cold_start_it_trained(tmp_path, monkeypatch):
    from earthshader.training import grpo_stage, sft_stage

    bench = runpy.run_path(str(BENCHMARKS / "look_and_fix.py"), run_name="look_and_fix")
    trained = []
    monkeypatch.setattr(sft_stage, "run", lambda script, training, model: trained.append(training) or tmp_path / "cold")
    monkeypatch.setattr(grpo_stage, "run", lambda *a: pytest.fail("GRPO ran with --grpo-steps 0"))
    args = bench["parse_args"](["--out", str(tmp_path), "--grpo-steps", "0", "--seeds", "3"])
    model, shares = bench["train_seed"](args, tmp_path / "start", None, 3, 84)
    assert model == tmp_path / "cold" and trained[0].seed == 3
    assert Path(trained[0].output_dir) == tmp_path / "seed-3" / "sft"
    assert all(math.isnan(value) for value in shares.values())


def test_look_and_fix_cost_line_pools_the_seeds_shares():
    bench = runpy.run_path(str(BENCHMARKS / "look_and_fix.py"), run_name="look_and_fix")
    console = Console(file=io.StringIO(), width=200)
    line = bench["cost_line"](console, {0: {"all": 0.20, "extra": 0.14}, 1: {"all": 0.22, "extra": 0.18}})
    assert line == "cost: what the episode adds, 16.0% of a GRPO step (all it logged 21.0%): below 15% False"
    assert "seed 0 14.0%, seed 1 18.0%" in console.file.getvalue()


def test_look_and_fix_trains_the_correction_turn_alone_from_an_earlier_runs_grpo_models(tmp_path, monkeypatch):
    from earthshader.modeling.run_info import RUN_INFO
    from earthshader.training import grpo_stage

    bench = runpy.run_path(str(BENCHMARKS / "look_and_fix.py"), run_name="look_and_fix")
    (tmp_path / "a" / "seed-3" / "grpo").mkdir(parents=True)
    (tmp_path / "a" / "seed-3" / "grpo" / RUN_INFO).write_text("{}")
    (tmp_path / "b" / "train").mkdir(parents=True)  # the training pictures' folder
    ran = []
    monkeypatch.setattr(grpo_stage, "run", lambda *parts: ran.append(parts) or tmp_path / "b" / "seed-3" / "grpo")
    args = bench["parse_args"](["--out", str(tmp_path / "b"), "--cold-start", str(tmp_path / "a"), "--cold-start-stage",
                                "grpo", "--second-turn-samples", "2", "--seeds", "3", "--max-new-tokens", "160"])
    bench["train_seed"](args, tmp_path / "start", None, 3, 84)
    script, training, model = ran[0]
    assert model.model_name_or_path == str(tmp_path / "a" / "seed-3" / "grpo")
    assert (script.max_turns, script.second_turn_samples, training.max_completion_length) == (1, 2, 160)
    assert (script.image_size, script.observation_image_size) == (84, 84)
    bench["train_seed"](args, tmp_path / "start", None, 3, 168)  # a grammar school at 168 px: every image at 168
    assert (ran[1][0].image_size, ran[1][0].observation_image_size) == (168, 168)


def test_look_and_fix_compares_turn_2_with_swapped_observations_and_reads_runs_scored_before_them():
    bench = runpy.run_path(str(BENCHMARKS / "look_and_fix.py"), run_name="look_and_fix")
    assert bench["next_of_kind"](["photos", "textures", "photos"]) == [2, 1, 0]
    modes = {"turn1": [0.1, 0.2], "turn2": [0.3, 0.4], "best_of_2": [0.2, 0.2], "blanked_turn2": [0.1, 0.1],
             "swapped_turn2": [0.2, 0.2]}
    now = {"figures": {"structure": dict(modes), "appearance": dict(modes)}}
    before = {"figures": {name: {m: v for m, v in modes.items() if m != "swapped_turn2"}
                          for name in ("structure", "appearance")}}
    row = bench["mode_row"]("seed 0", bench["by_index"](now, [0, 1]), "structure")
    assert row[-2:] == ["+0.200", "+0.150 ± 0.050"]
    old = bench["mode_row"]("seed 0", bench["by_index"](before, [0, 1]), "structure")
    assert old[-2:] == ["nan", "nan"] and old[:-2] == row[:-2]
    pooled = bench["pooled"]({0: now, 1: before}, [0, 1])  # a mode scored by some runs only is left out
    assert "swapped_turn2" not in pooled["structure"] and pooled["structure"]["turn2"] == [0.3, 0.4]
