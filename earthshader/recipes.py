"""Find a recipe: a name in `recipes/<kind>/` (shipped in the wheel beside this package) or a path to a YAML file.

    >>> from earthshader.recipes import resolve_recipe, available_recipes
    >>> resolve_recipe("tiny", "sft")            # .../recipes/sft/tiny.yaml
    >>> resolve_recipe("my/run.yaml", "sft")     # a file of your own
    >>> available_recipes("sft")                 # ['grammar-school', 'tiny']
"""

from __future__ import annotations

from pathlib import Path

#: `recipes/` is installed as a top-level folder next to `earthshader/` (in a checkout and in the wheel).
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def available_recipes(kind: str) -> list[str]:
    """Names of the recipes shipped for `kind` ("sft", "grpo", ...)."""
    return sorted(p.stem for p in (RECIPES_DIR / kind).glob("*.yaml"))


def resolve_recipe(name_or_path: str, kind: str) -> Path:
    """The YAML file for a recipe name or path; a `FileNotFoundError` listing the valid names otherwise."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"recipe file {str(path)!r} does not exist")
        return path
    shipped = RECIPES_DIR / kind / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(
        f"no {kind} recipe named {name_or_path!r}; valid names: {', '.join(available_recipes(kind)) or '(none)'}, "
        "or a path to a .yaml file"
    )
