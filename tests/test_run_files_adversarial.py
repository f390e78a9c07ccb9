"""Run files read defensively: torn lines (cut inside a multi-byte character), NaN metrics, damaged expert-iteration
files, hostile completions and ids in GRPO's sample log. A damaged file is named on one line (exit status 2), or
recovered when the meaning is clear (a torn last line is dropped); never a traceback."""

from __future__ import annotations

import io
import json
import os
import types
import warnings

import numpy as np
import pytest
from hostile_files import torn_line
from rich.console import Console

from earthshader import logs
from earthshader.cli import run_entry_point
from earthshader.modeling.run_info import RUN_INFO, RunInfoError, model_image_size
from earthshader.training import expert_runs
from earthshader.training.run_log import SampleLog, reward_table, truncate_jsonl

LATIN1_ID = os.fsdecode(b"caf\xe9.png")  # a file name that is not UTF-8, as Python gives it


def lines(*rows) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def test_truncate_drops_a_line_torn_inside_a_character_and_damaged_lines(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_bytes(lines({"step": 1, "id": "é"}, {"step": 2}) + b'{"step": 2, "id": "\xe9"}\n'
                     + lines({"step": 3}) + torn_line())
    assert truncate_jsonl(path, 2) == 3  # step 3, the line that is not UTF-8, the torn one
    assert [json.loads(line)["step"] for line in path.read_text(encoding="utf-8").splitlines()] == [1, 2]


def sample(step, total, prompt_id="p", **extra):
    return {"step": step, "prompt_id": prompt_id, "completion": "c", "code": "void mainImage()", "total": total,
            "rewards": {"ssim": total}, "error": None, **extra}


def show(argv) -> tuple[int, str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    original = logs.Console
    logs.Console = lambda: console
    try:
        return logs.main(argv), buffer.getvalue()
    finally:
        logs.Console = original


def test_logs_reads_torn_nan_damaged_and_hostile_lines(tmp_path):
    (tmp_path / "metrics.jsonl").write_bytes(
        lines({"step": 1, "reward": 0.2, "rewards/ssim/mean": 0.2}) +
        b'{"step": 2, "reward": NaN, "rewards/ssim/mean": NaN, "rewards/[red]evil/mean": 0.1}\n' + torn_line())
    (tmp_path / "samples.jsonl").write_bytes(
        lines(sample(1, 0.2), sample(2, 0.4, prompt_id="[/x] " + LATIN1_ID), [1, 2, 3], {"step": 2})
        + b'{"step": 2, "prompt_id": "\\udce9", "total": 0.1, "rewards": {}, "code": "\\ud800"}\n' + torn_line())
    status, out = show([str(tmp_path), "--top", "3"])
    assert status == 0
    assert "[/x] caf\\xe9.png" in out and "[red]evil" in out  # printed as text, not read as markup
    assert "2 torn or damaged lines of metrics.jsonl" not in out and "1 torn or damaged lines of metrics.jsonl" in out
    assert "3 torn or damaged lines of samples.jsonl skipped" in out  # the list, the line without fields, the torn one
    assert "\\xe9" in out and "\\ud800" in out  # lone surrogates shown escaped
    status, out = show([str(tmp_path), "--step", "9"])
    assert status == 0 and "no samples for step 9; steps logged: 1..2" in out


def test_logs_step_on_a_run_with_no_samples_says_so(tmp_path):
    (tmp_path / "metrics.jsonl").write_bytes(lines({"step": 1, "reward": float("nan")}))
    status, out = show([str(tmp_path), "--step", "1"])
    assert status == 0 and "no samples logged yet" in out
    status, out = show([str(tmp_path)])
    assert status == 0 and "1 logging steps, 0 samples" in out


def expert_run(folder, pictures: int = 2) -> list:
    """A run directory as a finished first round leaves it, and the pictures it was started on."""
    targets = [types.SimpleNamespace(id=f"p{i}", image=np.full((4, 4, 3), i, np.uint8)) for i in range(pictures)]
    expert_runs.prepare(folder, targets, resume=False)
    expert_runs.write_json(folder / expert_runs.START_FILE, {"structure": 0.1, "appearance": 0.2, "compile_rate": 1.0,
                                                             "eval_s": 1.0})
    collected = types.SimpleNamespace(pairs=[{"picture": 1, "id": "p1", "teacher": "model", "code": "x", "score": 0.3}],
                                      pictures=[{"picture": 0, "outcome": "no_render"}, {"picture": 1}],
                                      timing={"sample_s": 1.0, "render_s": 1.0, "refine_s": 1.0},
                                      counts=lambda: {"kept": 1, "no_render": 1})
    expert_runs.save_collected(folder, 0, collected, {"policy": "m"})
    expert_runs.write_json(expert_runs.model_dir(folder, 0) / RUN_INFO, {"image_size": 56})
    learnt = {"expert_pairs": 1, "grammar_pairs": 0, "train_s": 1.0}
    expert_runs.mark_done(folder, expert_runs.round_record(0, collected, learnt, "m",
                                                           {"structure": 0.2, "appearance": 0.3, "eval_s": 1.0}))
    return targets


DAMAGE = {
    "a torn start.json": ("start.json", lambda data: data[:len(data) // 2]),
    "start.json not an object": ("start.json", lambda data: b"[1, 2]"),
    "a torn rounds.jsonl": ("rounds.jsonl", lambda data: data[:-20]),
    "a round without its model": ("rounds.jsonl", lambda data: data.replace(b'"model"', b'"modle"')),
    "rounds out of order": ("rounds.jsonl", lambda data: data.replace(b'"round": 0', b'"round": 4')),
    "pairs not UTF-8": ("round-000/pairs.jsonl", lambda data: data.replace(b'"x"', b'"\xe9"')),
    "a pair of a picture the run has not": ("round-000/pairs.jsonl", lambda data: data.replace(b'"picture": 1',
                                                                                               b'"picture": 7')),
    "picture records not JSON": ("round-000/pictures.jsonl", lambda data: b"{" + data),
    "a torn collect.json": ("round-000/collect.json", lambda data: data[:10]),
    "a torn model record": ("round-000/model/earthshader.json", lambda data: data[:5]),
    "a torn pictures.json": ("pictures.json", lambda data: data[:7]),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_expert_file_is_named_when_the_run_resumes(tmp_path, case):
    targets = expert_run(tmp_path)
    assert [r["round"] for r in expert_runs.prepare(tmp_path, targets, resume=True)] == [0]  # intact: resumes
    name, damage = DAMAGE[case]
    path = tmp_path / name
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises((expert_runs.RunStateError, RunInfoError), match=name.split("/")[-1]):
        expert_runs.prepare(tmp_path, targets, resume=True)  # before any round runs


def test_logs_names_a_damaged_expert_file_on_one_line(tmp_path, capsys):
    expert_run(tmp_path)
    start = tmp_path / expert_runs.START_FILE
    start.write_bytes(start.read_bytes()[:9])
    with pytest.raises(SystemExit) as exit:
        run_entry_point(lambda: logs.main([str(tmp_path)]))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(err) == 1 and "start.json: damaged" in err[0]


def test_a_damaged_model_record_is_named(tmp_path):
    (tmp_path / RUN_INFO).write_bytes(b'{"image_size": 8')
    with pytest.raises(RunInfoError, match="earthshader.json: damaged"):
        model_image_size(None, tmp_path)
    (tmp_path / RUN_INFO).write_text('{"image_size": "big"}')
    with pytest.raises(RunInfoError, match="image_size 'big'"):
        model_image_size(None, tmp_path)
    assert model_image_size(84, tmp_path) == 84  # a --size flag does not need the record


def test_the_sample_log_gives_hostile_completions_the_rewards_defined_outcome(tmp_path):
    completions = [[{"role": "assistant"}], [], None, 42, [{"role": "assistant", "content": "caf\udce9 [/x]"}],
                   [{"role": "assistant", "content": [{"type": "text", "text": "```glsl\nvoid mainImage\n```"}]}]]
    log = SampleLog(tmp_path, ["ssim", "compiles"], [1.0, 0.5])
    values = {"ssim": [0.0, None, 0.0, 0.0, 0.0, 0.25], "compiles": [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]}
    columns = {"id": ["a", LATIN1_ID, "c"], "image": [None, np.zeros((2, 2, 3), np.uint8), "not an image"]}
    log.record("ssim", completions, values["ssim"], 0.0, columns)  # the id and image columns are short, too
    log.record("compiles", completions, values["compiles"], 0.0, columns)
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_bytes().decode("utf-8").splitlines()]
    assert [r["prompt_id"] for r in rows] == ["a", "caf\\xe9.png", "c", "3", "4", "5"]
    assert [r["completion"] for r in rows[:4]] == ["", "", "", ""]
    assert rows[4]["completion"] == "caf\\udce9 [/x]" and rows[5]["code"] == "void mainImage"
    assert [r["total"] for r in rows] == [0.0, 0.0, 0.0, 0.0, 0.0, 0.75]
    assert all(r["error"] in (None, "invalid_input") for r in rows)


def test_the_reward_table_prints_hostile_names_and_nan_as_text():
    buffer = io.StringIO()
    table = reward_table(3, {"rewards/[bold]x/mean": float("nan"), "reward": "damaged", "reward_std": 0.1,
                             "time/generate_and_score_s": "?", "time/rewards_s": 1.0}, [])
    Console(file=buffer, width=120).print(table)
    out = buffer.getvalue()
    assert "[bold]x" in out and "nan" not in out.lower() and "damaged" not in out


@pytest.mark.parametrize("name", ["ssim", "pixel", "edges", "palette"])
def test_frames_of_different_sizes_get_every_similarity_rewards_defined_value(name):
    from rewards import get_reward_funcs

    reward, = get_reward_funcs([name])
    frames = [np.zeros((32, 32, 3), np.uint8), np.zeros((16, 16, 3), np.uint8)]
    answer = [{"role": "assistant", "content": "```glsl\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(1); }\n```"}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert reward(prompts=[None], completions=[answer], frames=[frames], times=[[0.0, 1.0]]) == [None]
    assert any("frames differ in size: 32 x 32, 16 x 16" in str(w.message) for w in caught)


def test_the_reward_table_reads_sample_lines_that_lack_a_field():
    rows = [{"step": 1, "total": 0.5, "rewards": {"ssim": 0.5}, "prompt_id": "p"}]  # no "error": damaged
    buffer = io.StringIO()
    Console(file=buffer, width=120).print(reward_table(1, {"reward": 0.5}, rows))
    assert "compile rate" in buffer.getvalue() and "1.000" in buffer.getvalue()
