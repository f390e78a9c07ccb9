"""The package's shape: the layers of docs/architecture.md hold (no import climbs), no import circle, small
files, one command that fronts every entry point."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from earthshader.__main__ import COMMANDS

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("earthshader", "rewards")
ARCHITECTURE = Path("docs") / "architecture.md"
ENTRY_POINTS = "entry points"
MAX_LINES = 420

#: Imports that climb today, each (importer, imported). Empty: every import keeps to the layers. Should one
#: ever be listed, an import that no longer occurs fails `test_no_import_climbs_the_layers` until struck.
KNOWN_CLIMBS: set[tuple[str, str]] = set()


def module_names(root: Path = REPO) -> dict[str, Path]:
    names = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(root: Path = REPO) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (lazy and relative imports count too)."""
    names = module_names(root)
    graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:  # `from .x import y`, `from .. import z`
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([module] if module else []))
                for alias in node.names:
                    full = f"{module}.{alias.name}"
                    deps.add(full if full in names else module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in names and d != name}
    return graph


def read_layers(root: Path = REPO) -> list[tuple[str, list[str]]]:
    """The table under `## Layers` in docs/architecture.md, lowest layer first: (layer, module names). The
    entry-point layer holds the modules the table names and every module a command of `COMMANDS` runs."""
    section = (root / ARCHITECTURE).read_text().split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    layers = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] in ("layer", "") or set(cells[0]) <= set("-: "):
            continue
        layers.append((cells[0], re.findall(r"`([\w.]+)`", cells[1])))
    for name, modules in layers:
        if name == ENTRY_POINTS:
            modules += [module for module in command_modules(root) if module not in modules]
    return layers


def commands(root: Path = REPO) -> dict[str, str]:
    """`COMMANDS` of `earthshader/__main__.py` (read, not imported): command -> the module `python -m` runs."""
    tree = ast.parse((root / "earthshader" / "__main__.py").read_text())
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(isinstance(target, ast.Name) and target.id == "COMMANDS" for target in targets):
            return {name: module for name, (module, _) in ast.literal_eval(node.value).items()}
    raise AssertionError("earthshader/__main__.py has no COMMANDS table")


def command_modules(root: Path = REPO) -> list[str]:
    """The module each command runs: `earthshader.X`, or `earthshader.X.__main__` for a package."""
    names = module_names(root)
    return [f"{module}.__main__" if f"{module}.__main__" in names else module for module in commands(root).values()]


def runnable_modules(root: Path = REPO) -> list[str]:
    """Package modules with an `if __name__ == "__main__":` block (what `python -m` can run), but the front itself."""
    found = []
    for name, path in module_names(root).items():
        for node in ast.parse(path.read_text()).body:
            test = node.test if isinstance(node, ast.If) else None
            if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__" \
                    and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators):
                found.append(name)
    return sorted(name for name in found if name != "earthshader.__main__")


def layer_of(module: str, layers: list[tuple[str, list[str]]]) -> int | None:
    """Index of the layer holding `module`: the most specific name that is it or a package above it."""
    matches = [(len(name), index) for index, (_, names) in enumerate(layers) for name in names
               if module == name or module.startswith(name + ".")]
    return max(matches)[1] if matches else None


def climbing_imports(root: Path = REPO) -> set[tuple[str, str]]:
    """(importer, imported) for every import of a higher layer or of an entry point."""
    layers = read_layers(root)
    entry = [name for name, _ in layers].index(ENTRY_POINTS)
    found = set()
    for module, deps in import_graph(root).items():
        for dep in deps:
            mine, theirs = layer_of(module, layers), layer_of(dep, layers)
            if mine is not None and theirs is not None and (theirs > mine or theirs == entry):
                found.add((module, dep))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles, ignoring a package importing its own submodules (`pkg/__init__` -> `pkg.x`)."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if node.startswith(dep + "."):  # a submodule importing its own package's names
                continue
            if state.get(dep) == "open":
                found.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    return found


def test_the_layer_table_is_read_lowest_first_and_ends_with_the_entry_points():
    layers = read_layers()
    assert [name for name, _ in layers][:2] == ["errors", "render, image"] and layers[-1][0] == ENTRY_POINTS
    assert layers[1][1] == ["earthshader.render", "earthshader.image"]
    assert layer_of("earthshader.render.__main__", layers) == len(layers) - 1  # the most specific name wins
    assert layer_of("earthshader.render.pool", layers) == 1


def test_every_module_has_a_layer_and_every_name_in_the_table_exists():
    layers, names = read_layers(), module_names()
    # The root package holds nothing but its empty __init__: it belongs to no layer.
    assert import_graph()["earthshader"] == set()
    assert sorted(m for m in names if m != "earthshader" and layer_of(m, layers) is None) == []
    assert sorted(n for _, listed in layers for n in listed if n not in names) == []


def test_no_import_climbs_the_layers():
    found = climbing_imports()
    assert sorted(found - KNOWN_CLIMBS) == []  # a new import of a higher layer or an entry point
    assert sorted(KNOWN_CLIMBS - found) == []  # gone: strike it from KNOWN_CLIMBS


@pytest.fixture
def package_copy(tmp_path) -> Path:
    """The package, rewards and the architecture doc, copied to a scratch folder for the check to read."""
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / ARCHITECTURE).parent.mkdir()
    shutil.copy(REPO / ARCHITECTURE, tmp_path / ARCHITECTURE)
    return tmp_path


@pytest.mark.parametrize(("file", "code", "climb"), [
    ("earthshader/image/metrics.py", "def _late():\n    from earthshader import grpo\n",  # lazy, an entry point
     ("earthshader.image.metrics", "earthshader.grpo")),
    ("earthshader/data/rows.py", "from earthshader.training import recipes\n",  # a higher layer
     ("earthshader.data.rows", "earthshader.training.recipes")),
    ("earthshader/data/generators/seeds.py", "from ...modeling import prompts\n",  # relative
     ("earthshader.data.generators.seeds", "earthshader.modeling.prompts")),
    ("rewards/base.py", "import earthshader.training\n",  # a whole package
     ("rewards.base", "earthshader.training")),
    ("earthshader/render/gl.py", "from earthshader.cli import fail\n",  # the command line, above the renderer
     ("earthshader.render.gl", "earthshader.cli")),
    ("earthshader/tiny.py", "import earthshader.logs\n",  # an entry point importing another
     ("earthshader.tiny", "earthshader.logs")),
    ("earthshader/evaluation/scoring.py", "from earthshader.answering import search\n",  # scoring below answering
     ("earthshader.evaluation.scoring", "earthshader.answering.search")),
    ("earthshader/answering/pick.py", "from earthshader.evaluation.report import fmt\n",  # reports above it
     ("earthshader.answering.pick", "earthshader.evaluation.report")),
])
def test_the_check_fails_on_an_import_that_climbs(package_copy, file, code, climb):
    assert climbing_imports(package_copy) == climbing_imports()
    with (package_copy / file).open("a") as source:
        source.write("\n\n" + code)
    assert climbing_imports(package_copy) - KNOWN_CLIMBS == {climb}


def test_the_check_fails_on_a_module_that_no_layer_holds(package_copy):
    (package_copy / "earthshader" / "newstage.py").write_text('"""A stage the table does not name yet."""\n')
    layers = read_layers(package_copy)
    assert [m for m in module_names(package_copy) if m != "earthshader" and layer_of(m, layers) is None] == [
        "earthshader.newstage"]


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"pkg": {"pkg.x"}, "pkg.x": {"pkg"}}) == []


def test_no_import_circle_in_the_package():
    assert cycles(import_graph()) == []


def test_no_package_file_is_longer_than_about_400_lines():
    long = {str(p.relative_to(REPO)): n for p in module_names().values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_runnable_module_is_a_command_and_every_command_exists():
    """A module that runs as `python -m` is an entry point: `COMMANDS` must front it (and so lists it in
    `earthshader --help`); a command must run a module that exists."""
    assert sorted(set(runnable_modules()) - set(command_modules())) == []
    assert sorted(set(command_modules()) - set(module_names())) == []


def test_the_earthshader_command_lists_every_entry_point():
    out = subprocess.run([sys.executable, "-m", "earthshader", "--help"], capture_output=True, text=True, check=True)
    for command in ("sft", "grpo", "eval", "infer", "refine", "render", "logs", "data", "demo"):
        assert f"  {command} " in out.stdout


def test_an_unknown_command_exits_2_with_one_line():
    out = subprocess.run([sys.executable, "-m", "earthshader", "trian"], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "trian" in out.stderr


@pytest.fixture(scope="module")
def help_outputs() -> dict[str, subprocess.CompletedProcess]:
    """`earthshader COMMAND --help` for every command, a few at a time (each is an interpreter start-up)."""

    def answer(command: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "earthshader", command, "--help"], capture_output=True,
                              text=True, cwd=REPO, timeout=120)

    with ThreadPoolExecutor(max_workers=4) as threads:
        return dict(zip(sorted(COMMANDS), threads.map(answer, sorted(COMMANDS))))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_help(command, help_outputs):
    out = help_outputs[command]
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout.lower()
