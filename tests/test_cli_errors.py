"""Every command line of the package answers a bad value with exit status 2 and one line on stderr that
names the flag and what is valid: no traceback, no usage block (`earthshader.cli`). Each case runs the
real command in a subprocess; the commands all stop while parsing, before any model or render."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

SHADER = "void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }"

# (module and arguments, the flag the error must name, words saying what is valid).
# {file} is an existing file, {folder} an existing folder, {shader} a GLSL file, {missing} a path that does not exist.
CASES = {
    "data out is a file": ("earthshader.data build --source textures --n 4 --out {file}", "--out", "must be a folder"),
    "data size too large": ("earthshader.data build --source textures --n 4 --out {new} --size 100000", "--size",
                            "from 1 to 4096"),
    "data negative workers": ("earthshader.data build --source textures --n 4 --out {new} --workers -3", "--workers",
                              "at least 1"),
    "data missing source file": ("earthshader.data build --source {missing}.jsonl --out {new}", "--source",
                                 "no such file"),
    "data test fraction": ("earthshader.data build --source textures --n 4 --out {new} --test-fraction 2.0",
                           "--test-fraction", "from 0 to 1"),
    "data time nan": ("earthshader.data build --source textures --n 4 --out {new} --time nan", "--time", "finite"),
    "data timeout zero": ("earthshader.data build --source textures --n 4 --out {new} --timeout 0", "--timeout",
                          "above 0"),
    "data size not a number": ("earthshader.data build --source textures --n 4 --out {new} --size big", "--size",
                               "whole number"),
    "data n zero": ("earthshader.data build --source textures --n 0 --out {new}", "--n", "at least 1"),
    "data generator without n": ("earthshader.data build --source textures --out {new}", "--n", "number of seeds"),
    "data difficulty out of range": ("earthshader.data build --source textures --n 4 --difficulty 99 --out {new}",
                                     "--difficulty", "levels 0 to"),
    "data black level": ("earthshader.data build --source textures --n 4 --out {new} --black-level 300",
                         "--black-level", "from 0 to 255"),
    "data min entropy inf": ("earthshader.data build --source textures --n 4 --out {new} --min-entropy inf",
                             "--min-entropy", "from 0 to 1"),
    "data shard size": ("earthshader.data build --source textures --n 4 --out {new} --shard-size 0",
                        "--shard-size", "at least 1"),
    "render output is a folder": ("earthshader.render {shader} -o {folder}", "--output", "existing folder"),
    "render output without extension": ("earthshader.render {shader} -o {folder}/picture", "--output", ".png"),
    "render missing shader": ("earthshader.render {missing}.glsl -o {new}.png", "shader", "existing file"),
    "render time inf": ("earthshader.render {shader} -o {new}.png --time inf", "--time", "finite"),
    "render timeout negative": ("earthshader.render {shader} -o {new}.png --timeout -1", "--timeout", "above 0"),
    "render size": ("earthshader.render {shader} -o {new}.png --size 0x5", "--size", "between 1x1 and"),
    "refine missing target": ("earthshader.refine {shader} {missing}.png -o {new}.glsl", "target", "existing file"),
    "refine output is a folder": ("earthshader.refine {shader} {file} -o {folder}", "--output", "existing folder"),
    "refine budget too small": ("earthshader.refine {shader} {file} -o {new}.glsl --budget 3", "--budget",
                                "from 16 to 100000"),
    "refine size": ("earthshader.refine {shader} {file} -o {new}.glsl --size 2", "--size", "from 3 to 4096"),
    "infer missing image": ("earthshader.infer {missing}.png --model m -o {new}", "images", "existing file"),
    "infer samples zero": ("earthshader.infer {file} --model m --samples 0 -o {new}", "--samples", "from 1 to 256"),
    "infer out is a file": ("earthshader.infer {file} --model m -o {file}", "--out", "must be a folder"),
    "infer backend": ("earthshader.infer {file} --model m --backend gpu -o {new}", "--backend", "invalid choice"),
    "infer turns zero": ("earthshader.infer {file} --model m --turns 0 -o {new}", "--turns", "from 1 to 8"),
    "infer greedy samples": ("earthshader.infer {file} --model m --samples 4 --temperature 0 -o {new}",
                             "--temperature", "greedy decoding"),
    "eval turns too many": ("earthshader.eval --model m --dataset generator:textures --turns 9", "--turns",
                            "from 1 to 8"),
    "eval greedy samples": ("earthshader.eval --model m --dataset generator:textures --samples 2 --temperature 0",
                            "--temperature", "greedy decoding"),
    "eval n zero": ("earthshader.eval --model m --dataset generator:textures --n 0", "--n", "at least 1"),
    "eval top p": ("earthshader.eval --model m --dataset generator:textures --top-p 0", "--top-p", "above 0"),
    "logs missing run": ("earthshader.logs {missing}", "run_dir", "existing folder"),
    "logs interval": ("earthshader.logs {folder} --interval 0", "--interval", "above 0"),
    "demo eval n": ("earthshader.demo --eval-n 0", "--eval-n", "at least 1"),
    "tiny hidden": ("earthshader.tiny --out {new} --hidden -1", "--hidden", "at least 1"),
}

# TRL's parser behind `--recipe`: slow to start (torch, trl), so one command in a subprocess and the rest
# through the same parser in this process.
TRAINING_COMMAND = ("earthshader.grpo --recipe tiny --learning_rate -1", "--learning_rate", "at least 0")
TRAINING_CASES = {
    "sft image size": ("sft", "--image_size 0", "--image_size", "from 1 to 4096"),
    "sft batch size": ("sft", "--per_device_train_batch_size 0", "--per_device_train_batch_size", "at least 1"),
    "sft unknown flag": ("sft", "--no_such_flag 1", "--no_such_flag", "not used"),
    "grpo no generations": ("grpo", "--num_generations 0", "--num_generations", "at least 2"),
    "grpo render workers": ("grpo", "--render_workers 0", "--render_workers", "at least 1"),
    "grpo max steps": ("grpo", "--max_steps nan", "--max_steps", "invalid int value"),
}


def test_refine_writes_into_a_folder_it_creates(tmp_path):
    """`-o` may name a file in folders that do not exist yet (as render's and infer's outputs may)."""
    import numpy as np
    from PIL import Image

    from earthshader.refine import main

    shader, target, out = tmp_path / "s.glsl", tmp_path / "t.png", tmp_path / "new" / "deeper" / "out.glsl"
    shader.write_text("void mainImage(out vec4 c, in vec2 p) { c = vec4(vec3(p.x / iResolution.x * 0.5), 1.0); }")
    Image.fromarray(np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (16, 1, 3))).save(target)
    assert main([str(shader), str(target), "-o", str(out), "--budget", "16", "--size", "16", "--workers", "1",
                 "--objective", "structure"]) == 0
    assert "mainImage" in out.read_text()


def test_refine_refuses_appearance_on_a_picture_too_small_for_it_in_one_line(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from earthshader.refine import main

    shader, target = tmp_path / "s.glsl", tmp_path / "t.png"
    shader.write_text("void mainImage(out vec4 c, in vec2 p) { c = vec4(vec3(p.x / iResolution.x * 0.5), 1.0); }")
    Image.fromarray(np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (16, 1, 3))).save(target)
    assert main([str(shader), str(target), "-o", str(tmp_path / "o.glsl"), "--size", "16", "--workers", "1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "at least 32 x 32" in error and "--objective structure" in error
    assert not (tmp_path / "o.glsl").exists()


def run(command: str, tmp_path):
    (tmp_path / "file.png").write_bytes(b"not read: the command stops while parsing")
    (tmp_path / "folder").mkdir()
    (tmp_path / "shader.glsl").write_text(SHADER)
    paths = {"file": tmp_path / "file.png", "folder": tmp_path / "folder", "shader": tmp_path / "shader.glsl",
             "missing": tmp_path / "missing", "new": tmp_path / "new"}
    args = command.format(**paths).split()
    # transformers' own deprecation notices (from a recipe's keys) are not ours to count
    return subprocess.run([sys.executable, "-W", "ignore::FutureWarning", "-m", *args], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case of CASES, run a few at a time (each is a short interpreter start-up)."""
    with ThreadPoolExecutor(max_workers=4) as threads:
        futures = {name: threads.submit(run, command, tmp_path_factory.mktemp("cli"))
                   for name, (command, _, _) in CASES.items()}
        return {name: future.result() for name, future in futures.items()}


def check(done, flag: str, valid: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert len(lines) == 1, done.stderr
    assert flag in lines[0] and valid in lines[0], lines[0]


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_value_exits_2_with_one_line_naming_the_flag(name, outcomes):
    _, flag, valid = CASES[name]
    check(outcomes[name], flag, valid)


def test_a_training_command_line_too(tmp_path):
    command, flag, valid = TRAINING_COMMAND
    check(run(command, tmp_path), flag, valid)


@pytest.mark.parametrize("name", list(TRAINING_CASES))
def test_training_arguments_parse_to_one_line_errors(name, capsys):
    import importlib

    kind, args, flag, valid = TRAINING_CASES[name]
    with pytest.raises(SystemExit) as exit:
        importlib.import_module(f"earthshader.{kind}").parse(["--recipe", "tiny", *args.split()])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(lines) == 1 and flag in lines[0] and valid in lines[0], lines
