"""docs/architecture.md's "Where to add", row by row: a toy one of each, added through its one place, is found.

A reward (`@builtin_reward`), a recipe (a YAML file), a generator family (`@GROUP.family` with its detection
rule; then pinned), a picture source (a `PictureSource` in `SOURCES`), a benchmark (a script in `benchmarks/`)
and a command (a line in `COMMANDS`). Every toy is undone when its test ends (fixtures restore the registries;
files go to temporary folders), and the checks each row promises run on the real repository too.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pin_generators import PIN_COMMAND, changed_pins, coverage_problem, fingerprint, pin_key, read_pins, unpinned
from test_layout import ENTRY_POINTS, command_modules, layer_of, read_layers, runnable_modules

from earthshader.data import generators, rows
from earthshader.data.generators import Group, generate, register
from earthshader.data.row_spec import Row
from earthshader.data.sources import SourceError, generated_program
from earthshader.evaluation.families import detect_family
from earthshader.training import recipes
from rewards import BUILTIN_REWARDS, TextReward, available_rewards, get_reward_funcs
from rewards.builtin import builtin_reward

REPO = Path(__file__).resolve().parents[1]
REWARDS_DOC = REPO / "docs" / "rewards.md"
BENCHMARKS = REPO / "benchmarks"


# --- a reward -------------------------------------------------------------------------------------------------

def undocumented_rewards(doc: str) -> list[str]:
    """Built-in rewards without a row (`| \\`name\\` |`) in the table under "## The built-in rewards" of `doc`."""
    table = doc.split("\n## The built-in rewards\n", 1)[1].split("\n#", 1)[0]
    rows_ = set(re.findall(r"^\| `(\w+)` \|", table, flags=re.M))
    return [name for name in BUILTIN_REWARDS if name not in rows_]


@pytest.fixture
def restored_rewards():
    """`BUILTIN_REWARDS` as it was, whatever the test declares."""
    before = dict(BUILTIN_REWARDS)
    yield
    BUILTIN_REWARDS.clear()
    BUILTIN_REWARDS.update(before)


def test_every_builtin_reward_has_a_row_in_rewards_md():
    assert undocumented_rewards(REWARDS_DOC.read_text()) == []


def test_a_reward_declared_with_builtin_reward_is_found_runs_and_must_be_documented(restored_rewards):
    @builtin_reward
    class ToyLinesReward(TextReward):
        """Lines of code, a tenth a line, at most 1."""

        name = "toy_lines"

        def score_shader(self, shader, row):
            return min(1.0, len(shader.code.splitlines()) / 10) if shader.code else 0.0

    assert "toy_lines" in available_rewards() and BUILTIN_REWARDS["toy_lines"] is ToyLinesReward
    (reward,) = get_reward_funcs(["toy_lines"])
    program = "void mainImage(out vec4 c, in vec2 p) {\n    c = vec4(1.0);\n}"
    completions = [[{"role": "assistant", "content": f"```glsl\n{program}\n```"}], "no code here"]
    assert isinstance(reward, ToyLinesReward) and reward(completions=completions) == [0.3, 0.0]
    doc = REWARDS_DOC.read_text()
    assert undocumented_rewards(doc) == ["toy_lines"]
    documented = doc.replace("| `length` |", "| `toy_lines` | 0 .. 1 | lines of code | 0 |\n| `length` |", 1)
    assert undocumented_rewards(documented) == []


def test_builtin_reward_refuses_a_taken_name_an_inherited_name_and_a_non_reward(restored_rewards):
    with pytest.raises(ValueError, match="'ssim' is taken by rewards.image.SSIMReward"):
        builtin_reward(type("OtherSSIM", (TextReward,), {"name": "ssim"}))
    with pytest.raises(ValueError, match="must set its own `name`"):
        builtin_reward(type("Nameless", (TextReward,), {}))
    with pytest.raises(ValueError, match="declares Reward subclasses"):
        builtin_reward(len)
    assert "ssim" in BUILTIN_REWARDS and BUILTIN_REWARDS["ssim"].__name__ == "SSIMReward"


# --- a recipe -------------------------------------------------------------------------------------------------

TOY_RECIPE = """# A toy recipe: the tiny model on stripes, three steps.
model_name_or_path: runs/tiny-qwen2-vl
backend: cpu
generators: [stripes]
image_size: 56
output_dir: runs/toy
max_steps: 3
learning_rate: 0.0007
"""


def test_a_recipe_file_in_the_recipes_folder_is_found_by_name_and_parses(tmp_path, monkeypatch):
    folder = tmp_path / "recipes" / "sft"
    folder.mkdir(parents=True)
    (folder / "toy.yaml").write_text(TOY_RECIPE)
    monkeypatch.setattr(recipes, "RECIPES_DIR", tmp_path / "recipes")
    assert recipes.available_recipes("sft") == ["toy"]
    script_args, training_args, model_args = recipes.recipe_arguments("sft", "toy")
    assert (script_args.generators, script_args.image_size) == (["stripes"], 56)
    assert (training_args.max_steps, training_args.learning_rate, model_args.model_name_or_path) == (
        3, 0.0007, "runs/tiny-qwen2-vl")
    (folder / "toy.yaml").write_text(TOY_RECIPE + "learning_rat: 0.1\n")  # what the recipe tests catch
    with pytest.raises(recipes.RecipeArgumentError, match="learning_rat"):
        recipes.recipe_arguments("sft", "toy")


# --- a generator family ---------------------------------------------------------------------------------------

@pytest.fixture
def toy_family(monkeypatch) -> str:
    """A group `toys` with one family, `toy_ripple`, declared as a group module declares its families and
    registered for this test only."""
    monkeypatch.setattr(generators, "FAMILIES", dict(generators.FAMILIES))
    monkeypatch.setattr(generators, "GROUPS", {group: list(names) for group, names in generators.GROUPS.items()})
    toys = Group("toys")

    @toys.family(0, 1, detect={50: r"\btoy_ripple\b"})
    def toy_ripple(draw, difficulty: int) -> str:
        frequency = draw.uniform("frequency", 4.0, 12.0)
        return ("void mainImage(out vec4 fragColor, in vec2 fragCoord) {\n"
                "    vec2 uv = fragCoord / iResolution.y;\n"
                f"    float toy_ripple = 0.5 + 0.5 * sin(length(uv - 0.5) * {frequency} * {difficulty + 1}.0);\n"
                "    fragColor = vec4(vec3(toy_ripple), 1.0);\n}\n")

    for family in toys.families:
        register(family)
    return "toy_ripple"


def test_a_family_declared_with_its_rule_is_generated_by_seed_detected_and_flagged_until_pinned(toy_family):
    sample = generate(toy_family, 3)
    assert sample == generate(toy_family, 3) and sample.family == toy_family and "frequency" in sample.params
    assert generate("toys", 3).family == toy_family
    assert generated_program(toy_family, 3).code == sample.code  # the one path from programs to rows
    assert detect_family(sample.code) == toy_family
    assert detect_family(generate("stripes", 0, difficulty=0).code) == "stripes"  # its rule takes nothing else
    pins = read_pins()
    problem = coverage_problem(pins)
    assert problem is not None and PIN_COMMAND in problem and "toy_ripple" in problem and "toys" in problem
    pinned = {**pins, **{pin_key(*call): fingerprint(*call) for call in
                         [(name, int(seed), None if level == "None" else int(level))
                          for name, seed, level in (key.split("|") for key in unpinned(pins))]}}
    assert coverage_problem(pinned) is None and changed_pins(pinned) == {}  # no existing program moved


def test_a_new_family_is_a_generator_picture_source(toy_family):
    loaded = rows.load_rows(f"generator:{toy_family}", n=2, size=56, workers=1)
    assert [row.id for row in loaded] == [f"{toy_family}-0", f"{toy_family}-1"]
    assert all(row.image.shape == (56, 56, 3) and row.family == toy_family for row in loaded)


# --- a picture source -----------------------------------------------------------------------------------------

def _toy_check(spec: str) -> None:
    if not spec[len("toy:"):].isdigit():
        raise SourceError(f"{spec!r}: a toy spec is toy:N, N ramps")


def _toy_load(spec: str, request) -> list[Row]:
    _toy_check(spec)
    ramp = np.linspace(0, 255, request.side, dtype=np.uint8)
    return [Row(image=np.stack([np.tile(ramp, (request.side, 1)) // (i + 1)] * 3, axis=-1), source="toy",
                id=f"ramp-{i}") for i in range(int(spec[len("toy:"):]))]


@pytest.fixture
def toy_source(monkeypatch):
    """`toy:N` (N grey ramps) at the front of `SOURCES`, for this test only."""
    toy = rows.PictureSource("toy", "toy:N (grey ramps)", lambda spec: spec.startswith("toy:"), _toy_check, _toy_load)
    monkeypatch.setattr(rows, "SOURCES", [toy, *rows.SOURCES])
    return toy


def test_a_picture_source_in_sources_is_loaded_by_load_rows_and_checked_by_picture_spec(toy_source):
    loaded = rows.load_rows("toy:3", size=56, judged=False)
    assert [row.id for row in loaded] == ["ramp-0", "ramp-1", "ramp-2"]
    assert all(row.image.shape == (56, 56, 3) and row.code == "" for row in loaded)
    assert rows.picture_spec("toy:3") == "toy:3"
    with pytest.raises(argparse.ArgumentTypeError, match="a toy spec is toy:N"):
        rows.picture_spec("toy:many")
    with pytest.raises(SourceError, match=r"toy:N \(grey ramps\)"):  # named among the kinds a spec can be
        rows.source_for("no-such-folder/")


# --- a benchmark ----------------------------------------------------------------------------------------------

def benchmark_problems(folder: Path) -> list[str]:
    """What each script of `folder` lacks of a benchmark: a module docstring whose first line says what it
    measures, an indented usage line naming the script (`python benchmarks/NAME.py ...`, or the `.sh` that runs
    it), a `__main__` block, and a `--help` that answers (exit 0, a usage line)."""
    scripts = sorted(folder.glob("*.py"))
    problems = []
    for script in scripts:
        tree = ast.parse(script.read_text())
        doc = ast.get_docstring(tree, clean=False) or ""
        if not doc.strip() or not doc.splitlines()[0].strip():
            problems.append(f"{script.name}: no module docstring that says what it measures")
        elif not any(line.startswith("    ") and re.search(rf"benchmarks/{script.stem}\.(py|sh)\b", line)
                     for line in doc.splitlines()):
            problems.append(f"{script.name}: no usage line (`    python benchmarks/{script.name} ...`) in its docstring")
        if not any(isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) for node in tree.body):
            problems.append(f"{script.name}: no `if __name__ == \"__main__\":` block")

    def help_of(script: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})

    with ThreadPoolExecutor(max_workers=4) as threads:
        for script, out in zip(scripts, threads.map(help_of, scripts)):
            if out.returncode != 0 or "usage" not in out.stdout.lower():
                last = (out.stderr.strip().splitlines() or ["no usage printed"])[-1]
                problems.append(f"{script.name}: --help does not answer ({last})")
    return problems


def test_every_benchmark_says_what_it_measures_how_to_run_it_and_answers_help():
    assert benchmark_problems(BENCHMARKS) == []


TOY_BENCHMARK = '''"""How long a toy takes.

    python benchmarks/toy_speed.py [--n 3]
"""

import argparse

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3)
    print(f"toy: {parser.parse_args().n} runs")
'''


def test_a_benchmark_script_in_the_folder_is_checked(tmp_path):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "toy_speed.py").write_text(TOY_BENCHMARK.replace("    python benchmarks/toy_speed.py [--n 3]\n", ""))
    assert benchmark_problems(folder) == [
        "toy_speed.py: no usage line (`    python benchmarks/toy_speed.py ...`) in its docstring"]
    (folder / "toy_speed.py").write_text(TOY_BENCHMARK)
    (folder / "toy_broken.py").write_text('"""Broken.\n\n    python benchmarks/toy_broken.py\n"""\nimport no_such_module\n')
    assert [problem.split(" (")[0] for problem in benchmark_problems(folder)] == [
        "toy_broken.py: no `if __name__ == \"__main__\":` block", "toy_broken.py: --help does not answer"]


# --- a command ------------------------------------------------------------------------------------------------

TOY_COMMAND = '''"""Say hello: a toy command.

    earthshader toy [--name NAME]
"""

import argparse


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="earthshader toy", description=__doc__)
    parser.add_argument("--name", default="world")
    print(f"hello, {parser.parse_args(argv).name}")
    return 0


if __name__ == "__main__":
    main()
'''


@pytest.fixture
def package_copy(tmp_path) -> Path:
    """The packages and docs/architecture.md in a scratch folder, for checks that read the layout from disk."""
    for package in ("earthshader", "rewards"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "docs" / "architecture.md", tmp_path / "docs" / "architecture.md")
    return tmp_path


def test_a_command_module_is_caught_until_commands_lists_it_then_earthshader_runs_it(package_copy):
    (package_copy / "earthshader" / "toy.py").write_text(TOY_COMMAND)
    assert sorted(set(runnable_modules(package_copy)) - set(command_modules(package_copy))) == ["earthshader.toy"]
    assert layer_of("earthshader.toy", read_layers(package_copy)) is None  # and the layout test finds no layer
    front = package_copy / "earthshader" / "__main__.py"
    text = front.read_text()
    line = next(line for line in text.splitlines() if line.strip().startswith('"demo":'))
    front.write_text(text.replace(line, line + '\n    "toy": ("earthshader.toy", "say hello"),'))
    assert set(runnable_modules(package_copy)) <= set(command_modules(package_copy))
    layers = read_layers(package_copy)
    assert layers[layer_of("earthshader.toy", layers)][0] == ENTRY_POINTS
    listed = subprocess.run([sys.executable, "-m", "earthshader", "--help"], cwd=package_copy, capture_output=True,
                            text=True, timeout=120)
    assert "  toy " in listed.stdout and "say hello" in listed.stdout
    ran = subprocess.run([sys.executable, "-m", "earthshader", "toy", "--name", "shader"], cwd=package_copy,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout.strip() == "hello, shader", ran.stderr
