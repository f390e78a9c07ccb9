"""Command lines under hostile input: every refusal is exit status 2 and one line on stderr naming the flag or
file, untrusted text is printed as text (never read as rich markup), and infer writes one file per picture,
whole, and reports exactly what it wrote."""

from __future__ import annotations

import ast
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile_files import bomb_png, pattern, png
from PIL import Image
from rich.console import Console

from earthshader.__main__ import COMMANDS
from earthshader.cli import UsageError, run_entry_point

REPO = Path(__file__).resolve().parents[1]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_run_entry_point_exits_with_the_status_main_gives(capsys):
    def usage():
        raise UsageError("the flag --x is wrong\nover two lines")

    def disk_full():
        raise OSError(28, "No space left on device", "out/a.glsl")

    for main, status, words in [(lambda: 3, 3, None), (lambda: Path("x"), 0, None), (usage, 2, "--x is wrong"),
                                (disk_full, 1, "No space left on device: 'out/a.glsl'")]:
        with pytest.raises(SystemExit) as exit:
            run_entry_point(main)
        assert exit.value.code == status
        if words:
            assert words in one_line(capsys)


def test_every_command_runs_under_run_entry_point():
    for command, (module, _) in COMMANDS.items():
        path = Path(importlib.util.find_spec(module + (".__main__" if module.count(".") == 1 and command in
                                                                       ("render", "data") else "")).origin)
        tree = ast.parse(path.read_text())
        guard = next(node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))
        assert "run_entry_point(main)" in ast.unparse(guard), command


@pytest.fixture
def hostile(tmp_path):
    """A folder whose name holds rich markup, with a picture; a bomb; a 1 x 1 picture; a flat one."""
    markup = tmp_path / "[" / "x]"  # the path reads "[/x]"
    markup.mkdir(parents=True)
    Image.fromarray(pattern(1)).save(markup / "[bold]a.png")
    (tmp_path / "bomb.png").write_bytes(bomb_png(30000, 30000))
    (tmp_path / "dot.png").write_bytes(png(np.full((1, 1, 3), 9, np.uint8)))
    (tmp_path / "flat.png").write_bytes(png(np.full((32, 32, 3), 9, np.uint8)))
    return tmp_path


@pytest.mark.parametrize("case, flag, words", [
    ("bomb.png", "argument --dataset", "bomb.png"),
    ("dot.png", "argument --dataset", "1 x 1 pixels"),
    ("flat.png", "argument --dataset", "cannot be answered"),
    ("crops:skimage:brick?count=10000000", "argument --dataset", "GiB"),
    ("[/x]", "argument --model", "no-such-model"),  # the folder loads, its name is printed, then the model fails
])
def test_eval_refuses_on_one_line_naming_the_flag(hostile, capsys, case, flag, words):
    from earthshader.eval import main

    dataset = case if ":" in case else str(hostile / case if case != "[/x]" else hostile / "[" / "x]")
    status = main(["--model", str(hostile / "no-such-model"), "--dataset", dataset, "--size", "56",
                   "--workers", "1", "--search", "0", "--out", str(hostile / "out")])
    line = one_line(capsys)
    assert status == 2 and flag in line and words in line, line


@pytest.mark.parametrize("case, flag, words", [
    ("bomb.png", "argument images", "bomb.png"),
    ("dot.png", "argument images", "dot.png"),
    ("crops:skimage:brick?count=10000000", "argument images", "count"),
    ("[/x]", "argument --model", "no-such-model"),
])
def test_infer_refuses_on_one_line_naming_the_flag(hostile, capsys, case, flag, words):
    from earthshader.infer import main

    image = case if ":" in case else str(hostile / case if case != "[/x]" else hostile / "[" / "x]")
    assert main([image, "--model", str(hostile / "no-such-model"), "--size", "56", "-o", str(hostile / "out")]) == 2
    line = one_line(capsys)
    assert flag in line and words in line, line


def test_a_bad_picture_spec_is_refused_while_parsing(capsys):
    from earthshader.eval import main

    with pytest.raises(SystemExit) as exit:
        main(["--model", "m", "--dataset", "crops:skimage:brick?count=0"])
    line = one_line(capsys)
    assert exit.value.code == 2 and "argument --dataset" in line and "count must be at least 1" in line


def test_refine_refuses_a_bomb_on_one_line(hostile, capsys):
    from earthshader.refine import main

    shader = hostile / "s.glsl"
    shader.write_text("void mainImage(out vec4 c, in vec2 p) { c = vec4(0.5); }")
    assert main([str(shader), str(hostile / "bomb.png"), "-o", str(hostile / "out.glsl"), "--workers", "1"]) == 2
    assert "bomb.png" in one_line(capsys)


def test_a_shader_holding_every_uniform_prefix_is_still_refined(render_pool):
    from earthshader.answering.refine import refine
    from earthshader.glsl.literals import lift_literals
    from earthshader.render import render

    taken = " ".join(f"float {p}{k} = 0.0;" for p in ("_k", "_kk", "_lit", "_esk") for k in range(3))
    source = (f"{taken}\nvoid mainImage(out vec4 c, in vec2 p) {{ vec2 uv = p / iResolution.xy; "
              "c = vec4(0.5 + 0.5 * sin(9.0 * uv.x + 1.0), 0.3, 0.6, 1.0); }")
    lifted = lift_literals(source)
    assert lifted.literals and all(name.startswith("_esk1_") for name in lifted.names)
    target = render("void mainImage(out vec4 c, in vec2 p) { vec2 uv = p / iResolution.xy; "
                    "c = vec4(0.5 + 0.5 * sin(7.0 * uv.x + 1.0), 0.3, 0.6, 1.0); }", 24, 24).image
    result = refine(source, target, budget=24, pool=render_pool, objective="structure")  # 24 px: under appearance's 32
    assert result.renders <= 24 and "mainImage" in result.source


def test_expert_whose_held_out_pictures_are_its_training_pictures_names_the_flag():
    from earthshader.data.sources import SourceError
    from earthshader.training import expert_stage
    from earthshader.training.arguments import ExpertScriptArguments

    args = ExpertScriptArguments(targets="skimage:brick,grass", heldout="skimage:brick,grass", image_size=56)
    with pytest.raises(SourceError, match="--heldout 'skimage:brick,grass': every one of its 2 pictures is also"):
        expert_stage.load_pictures(args, pool=None)


def test_a_corrupt_parquet_source_is_one_line_from_the_data_command(tmp_path, capsys):
    from earthshader.data.__main__ import main

    (tmp_path / "programs.parquet").write_bytes(b"not parquet at all")
    status = main(["build", "--source", str(tmp_path / "programs.parquet"), "--out", str(tmp_path / "out"),
                   "--workers", "1"])
    line = one_line(capsys)
    assert status == 1 and "programs.parquet: not a readable parquet file" in line  # "the build failed"


def written_answer(image):
    """An answer as the pipeline gives it, for the output writer: a one-line program and its render."""
    from earthshader.answering.answer import Answer

    return Answer(code="void mainImage(out vec4 c, in vec2 p) { c = vec4(1); }", image=image, score=0.5,
                  figures={"structure": 0.4, "appearance": 0.6}, objective="mix", origin="model", samples=1,
                  rendered=1)


def test_infer_names_are_unique_and_the_summary_says_what_was_written(tmp_path):
    from earthshader.answering.inference import Inferred, read_inputs, summary_table, write_outputs

    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.png", "a.jpg", "sub/x.png", "sub_x.png", "[red]y.png"):
        Image.fromarray(pattern(len(name), 56, 56)).save(folder / name)
    inputs = read_inputs([str(folder), f"crops:{folder / 'a.png'}?size=56&count=3"], 56)
    names = [name for name, _, _ in inputs]
    assert len(names) == 8 == len({n.casefold() for n in names})  # 5 pictures, 3 crops of a picture the crop's size
    out = tmp_path / "out"
    items = []
    for name, shown, target in inputs:
        item = Inferred(name, written_answer(target))
        write_outputs(out, item, shown, "model", target)
        items.append(item)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}{s}" for n in names for s in (".glsl", ".png"))
    buffer = io.StringIO()
    Console(file=buffer, width=300).print(summary_table(items, out))
    assert "red_y" in names and all(f"{n}.glsl, {n}.png" in buffer.getvalue() for n in names)


def test_an_infer_output_that_cannot_be_written_leaves_nothing_half_written(tmp_path, monkeypatch):
    from earthshader.answering.inference import Inferred, write_outputs, written_cell

    target = pattern(2, 56, 56)
    item = Inferred("a", written_answer(target))

    def full_disk(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(OSError):
        write_outputs(tmp_path, item, "a.png", "model", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.glsl"]  # whole; no .png, no temporary file
    assert (tmp_path / "a.glsl").read_text().endswith("c = vec4(1); }\n")
    item.not_written = "OSError: No space left on device"
    assert written_cell(item) == "not written: OSError: No space left on device (written: a.glsl)"


def test_a_recipes_missing_local_model_names_the_stage_that_makes_it(tmp_path, monkeypatch):
    from earthshader.modeling import ModelNotFoundError
    from earthshader.training.recipes import check_model_exists

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError, match="`earthshader sft --recipe grammar-school` writes it"):
        check_model_exists("runs/sft-grammar-school")
    (tmp_path / "models").mkdir()
    with pytest.raises(ModelNotFoundError, match="'models/mine': no such local folder"):
        check_model_exists("models/mine")
    check_model_exists("Qwen/Qwen2-VL-7B-Instruct")  # may be a Hub id: left to the loader


@pytest.mark.slow
def test_grpo_textures_before_sft_fails_at_once_offline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-W", "ignore::FutureWarning", "-m", "earthshader", "grpo", "--recipe",
                           "textures"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert "earthshader sft --recipe grammar-school" in lines[0] and "--model_name_or_path" in lines[0]
    assert not (tmp_path / "runs").exists()  # nothing was started


@pytest.mark.slow
def test_infer_answers_every_picture_of_a_hostile_folder_with_its_own_files(small_tiny_model, tmp_path, capsys,
                                                                           monkeypatch):
    """The whole command: pictures whose names collide, a Latin-1 name, markup in names; a flat one refused."""
    from hostile_files import latin1_name

    monkeypatch.setenv("COLUMNS", "300")  # the summary table on one line per picture

    from earthshader.infer import main

    folder = tmp_path / "[" / "x]"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.png", "a.jpg", "sub/x.png", "sub_x.png"):
        Image.fromarray(pattern(len(name), 56, 56)).save(folder / name)
    latin1_name(folder).write_bytes(png(pattern(9, 56, 56)))
    (folder / "flat.png").write_bytes(png(np.full((56, 56, 3), 40, np.uint8)))
    out = tmp_path / "out"
    assert main([str(folder), "--model", str(small_tiny_model), "--samples", "1", "--max-new-tokens", "8",
                 "--size", "56", "--search", "12", "-o", str(out)]) == 0
    glsl = sorted(p.name for p in out.glob("*.glsl"))
    assert len(glsl) == 5 and "caf_xe9.glsl" in glsl and not list(out.glob(".*"))  # 5 answered; no temporary files
    printed = capsys.readouterr().out
    assert all(f"{Path(n).stem}.glsl" in printed for n in glsl)


@pytest.mark.slow
def test_the_fuzz_benchmark_prints_every_figure_and_finds_nothing(monkeypatch, capsys):
    import runpy

    script = REPO / "benchmarks" / "fuzz_inputs.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--n", "12", "--runs", "12", "--no-cli", "--no-memory"])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    for figure in ("tracebacks", "lost or overwritten results", "silently changed pictures",
                   "refusal not naming the file"):
        assert f"{figure}: 0" in out, out
    assert "extract_glsl on 1 MB of fences" in out
