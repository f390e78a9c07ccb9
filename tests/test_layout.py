"""The package's shape: no import circle, small files, one command that fronts every entry point."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from earthshader.__main__ import COMMANDS

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("earthshader", "rewards")
MAX_LINES = 420


def module_names() -> dict[str, Path]:
    names = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (lazy imports count too)."""
    names = module_names()
    graph = {}
    for name, path in names.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in names else node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in names and d != name}
    return graph


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


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"pkg": {"pkg.x"}, "pkg.x": {"pkg"}}) == []


def test_no_import_circle_in_the_package():
    assert cycles(import_graph()) == []


def test_no_package_file_is_longer_than_about_400_lines():
    long = {str(p.relative_to(REPO)): n for p in module_names().values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_earthshader_command_lists_every_entry_point():
    out = subprocess.run([sys.executable, "-m", "earthshader", "--help"], capture_output=True, text=True, check=True)
    for command in ("sft", "grpo", "eval", "infer", "refine", "render", "logs", "data", "demo"):
        assert f"  {command} " in out.stdout


def test_an_unknown_command_exits_2_with_one_line():
    out = subprocess.run([sys.executable, "-m", "earthshader", "trian"], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "trian" in out.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_help(command):
    out = subprocess.run([sys.executable, "-m", "earthshader", command, "--help"], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout.lower()
