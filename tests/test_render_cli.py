"""`python -m earthshader.render`: writes PNGs, reports errors against the user's lines."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_cli(*args, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "earthshader.render", *map(str, args)],
                          input=stdin, capture_output=True, timeout=120)


def test_renders_an_example_to_png(tmp_path):
    out = tmp_path / "sunset.png"
    done = run_cli(EXAMPLES / "sunset.glsl", "-o", out, "--size", "64x36")
    assert done.returncode == 0, done.stderr.decode()
    image = np.asarray(Image.open(out))
    assert image.shape == (36, 64, 3)
    assert image[0, 0, 2] > image[0, 0, 0]  # blue zenith at the top, as drawn
    assert image[17, 0, 0] > image[17, 0, 2]  # orange horizon just above the middle


def test_reads_stdin_and_writes_one_frame_per_time(tmp_path):
    code = b"void mainImage(out vec4 c, in vec2 p) { c = vec4(vec3(iTime), 1.0); }"
    done = run_cli("-", "-o", tmp_path / "t.png", "--size", "4x4", "--time", "0", "--time", "1", stdin=code)
    assert done.returncode == 0, done.stderr.decode()
    assert np.asarray(Image.open(tmp_path / "t-0.png")).max() == 0
    assert np.asarray(Image.open(tmp_path / "t-1.png")).min() == 255


def test_a_broken_shader_fails_with_its_line(tmp_path):
    done = run_cli(EXAMPLES / "broken.glsl", "-o", tmp_path / "b.png")
    assert done.returncode == 1
    assert "broken.glsl:7" in done.stderr.decode() and "syntax error" in done.stderr.decode()
    assert not (tmp_path / "b.png").exists()


def test_bad_arguments_exit_2(tmp_path):
    assert run_cli(tmp_path / "missing.glsl", "-o", tmp_path / "x.png").returncode == 2
    assert run_cli(EXAMPLES / "sunset.glsl", "-o", tmp_path / "x.png", "--size", "big").returncode == 2
