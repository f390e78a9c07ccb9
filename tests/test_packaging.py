"""The wheel: every package in it, the recipes inside `earthshader/`, and a recipe that runs from an installed copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from earthshader.training.recipes import RECIPES_DIR, find_recipes_dir

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package_and_recipe_folder():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {".".join(p.parent.relative_to(REPO).parts) for top in ("earthshader", "rewards")
               for p in (REPO / top).rglob("__init__.py")}
    folders |= {"earthshader.recipes"} | {f"earthshader.recipes.{p.name}" for p in (REPO / "recipes").iterdir()
                                          if p.is_dir()}
    assert sorted(config["packages"]) == sorted(folders)
    assert config["package-dir"] == {"earthshader.recipes": "recipes"}


def test_recipes_are_found_in_a_checkout_and_inside_an_installed_package(tmp_path):
    assert RECIPES_DIR == REPO / "recipes"  # this checkout
    site = tmp_path / "site-packages"
    (site / "earthshader" / "recipes" / "sft").mkdir(parents=True)
    assert find_recipes_dir(site / "earthshader") == site / "earthshader" / "recipes"
    # A wheel without its recipes never borrows a top-level `recipes` folder of another distribution.
    shutil.rmtree(site / "earthshader" / "recipes")
    (site / "recipes" / "sft").mkdir(parents=True)
    assert find_recipes_dir(site / "earthshader") == site / "earthshader" / "recipes"


@pytest.mark.slow
def test_an_installed_wheel_runs_a_grpo_recipe_from_outside_the_repository(tmp_path, small_tiny_model):
    """`pip install` of the built wheel (not editable) into a fresh venv, then `earthshader grpo --recipe tiny`.

    The venv has no site packages of its own beyond the wheel; its dependencies (torch, trl, ...) come from
    this interpreter's site-packages through a `.pth` line appended after the venv's own, so that the
    installed earthshader, rewards and recipes are the only ones it can import, and nothing is downloaded.
    """
    source = tmp_path / "source"  # building in place would leave build/ and *.egg-info in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    for folder in ("earthshader", "rewards", "recipes"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("earthshader-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    assert (site / "earthshader" / "recipes" / "grpo" / "tiny.yaml").is_file()
    assert not (site / "recipes").exists()  # no generic top-level package
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    found = subprocess.run([str(python), "-c", "import earthshader, rewards; print(earthshader.__file__); "
                            "print(rewards.__file__)"], cwd=outside, env=env, capture_output=True, text=True, check=True)
    assert all(Path(line).is_relative_to(site) for line in found.stdout.split()), found.stdout
    command = venv / "bin" / "earthshader"
    helped = subprocess.run([str(command), "--help"], cwd=outside, env=env, capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "  grpo " in helped.stdout, helped.stderr

    run = outside / "run"
    trained = subprocess.run(
        [str(command), "grpo", "--recipe", "tiny", "--max_steps", "1", "--model_name_or_path", str(small_tiny_model),
         "--output_dir", str(run), "--generated_examples", "2", "--num_generations", "2",
         "--per_device_train_batch_size", "2", "--max_completion_length", "16", "--render_workers", "1",
         "--logging_steps", "1", "--save_strategy", "no"],
        cwd=outside, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (run / "adapter_model.safetensors").is_file() and (run / "earthshader.json").is_file()
    assert [line for line in (run / "samples.jsonl").read_text().splitlines() if line]  # the recipe's rewards ran
