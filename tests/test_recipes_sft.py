"""Every SFT recipe parses through the real parser (TRL's, with our dataclass) and holds no unknown key."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from earthshader import sft
from earthshader.training.recipes import RECIPES_DIR, STAGES, available_recipes, resolve_recipe

RECIPES = available_recipes("sft")


def test_the_shipped_recipes_are_there():
    assert {"tiny", "grammar-school"} <= set(RECIPES)
    assert STAGES["sft"].default_recipe in RECIPES


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_parses_with_no_unknown_keys(name):
    script_args, training_args, model_args = sft.parse(["--recipe", name])
    data = yaml.safe_load(resolve_recipe(name, "sft").read_text())
    known = set()
    for args in (script_args, training_args, model_args):
        known |= set(vars(args))
    assert set(data) <= known
    assert model_args.model_name_or_path and training_args.output_dir


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_has_no_placeholder_paths(name):
    text = resolve_recipe(name, "sft").read_text()
    for placeholder in ("/path/to", "<", "TODO", "CHANGEME"):
        assert placeholder not in text, f"{name}.yaml contains {placeholder!r}"


def test_grammar_school_is_qwen2_vl_7b_in_4bit_with_lora():
    script_args, training_args, model_args = sft.parse(["--recipe", "grammar-school"])
    assert model_args.model_name_or_path == "Qwen/Qwen2-VL-7B-Instruct"
    assert model_args.load_in_4bit and model_args.use_peft
    assert script_args.shadereval == "hub" and "primitives" in script_args.generators
    assert script_args.image_size % 28 == 0


def test_no_recipe_means_grammar_school_and_flags_override_the_recipe():
    _, training_args, model_args = sft.parse(["--learning_rate", "3e-5"])
    assert model_args.model_name_or_path == "Qwen/Qwen2-VL-7B-Instruct"
    assert training_args.learning_rate == 3e-5
    script_args, training_args, _ = sft.parse(["--recipe", "tiny", "--image_size", "112", "--max_steps", "5"])
    assert script_args.image_size == 112 and training_args.max_steps == 5


def test_recipe_by_path_and_unknown_keys_are_errors(tmp_path, capsys):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text((RECIPES_DIR / "sft" / "tiny.yaml").read_text() + "\nlearning_rat: 0.1\n")
    with pytest.raises(SystemExit) as exit:
        sft.parse(["--recipe", str(recipe)])
    error = capsys.readouterr().err
    assert exit.value.code == 2 and "learning_rat" in error and error.count("\n") == 1
    with pytest.raises(FileNotFoundError, match="valid names: grammar-school"):
        sft.parse(["--recipe", "no-such-recipe"])


def test_grammar_school_without_reachable_weights_fails_with_the_clear_message():
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "earthshader.sft", "--recipe", "grammar-school"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: model 'Qwen/Qwen2-VL-7B-Instruct'")
    assert "hf download" in message and "earthshader.tiny" in message
    assert "Traceback" not in result.stderr
