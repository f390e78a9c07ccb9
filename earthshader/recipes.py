"""Find a recipe: a name in `recipes/<kind>/` (shipped in the wheel beside this package) or a path to a YAML file.

    >>> from earthshader.recipes import resolve_recipe, available_recipes
    >>> resolve_recipe("tiny", "sft")            # .../recipes/sft/tiny.yaml
    >>> resolve_recipe("my/run.yaml", "sft")     # a file of your own
    >>> available_recipes("sft")                 # ['grammar-school', 'tiny']
    >>> resolve_recipe("tiny", None)             # any kind, if the name is unique
"""

from __future__ import annotations

from pathlib import Path

#: `recipes/` is installed as a top-level folder next to `earthshader/` (in a checkout and in the wheel).
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def available_recipes(kind: str) -> list[str]:
    """Names of the recipes shipped for `kind` ("sft", "grpo", ...)."""
    return sorted(p.stem for p in (RECIPES_DIR / kind).glob("*.yaml"))


def resolve_recipe(name_or_path: str, kind: str | None) -> Path:
    """The YAML file for a recipe name or path; a `FileNotFoundError` listing the valid names otherwise.

    `kind` None looks the name up in every kind (an error if two kinds have it).
    """
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"recipe file {str(path)!r} does not exist")
        return path
    kinds = [kind] if kind else sorted(p.name for p in RECIPES_DIR.iterdir() if p.is_dir())
    shipped = [RECIPES_DIR / k / f"{name_or_path}.yaml" for k in kinds]
    shipped = [p for p in shipped if p.is_file()]
    if len(shipped) == 1:
        return shipped[0]
    if len(shipped) > 1:
        raise FileNotFoundError(f"recipe name {name_or_path!r} is ambiguous: {', '.join(map(str, shipped))}")
    valid = ", ".join(f"{k}/{n}" if kind is None else n for k in kinds for n in available_recipes(k))
    raise FileNotFoundError(
        f"no {kind or ''} recipe named {name_or_path!r}; valid names: {valid or '(none)'}, or a path to a .yaml file"
    )


def parse_recipe_args(argv: list[str], kind: str, default_recipe: str, dataclass_types: tuple):
    """Parse `--recipe NAME|PATH` (or `--config FILE`) plus flags with TRL's parser, one instance per type.

    The recipe gives defaults, flags override them, unknown keys are an error. Without a GPU,
    `--use_cpu true` is added unless given: a GPU recipe (bf16) would otherwise fail to parse here,
    before its real error (no weights, no CUDA) can be reported.
    """
    from trl import TrlParser

    from earthshader.models import cuda_available

    argv = list(argv)
    if "--recipe" in argv:
        i = argv.index("--recipe")
        if i + 1 >= len(argv):
            raise SystemExit(f"--recipe needs a name ({', '.join(available_recipes(kind))}) or a .yaml path")
        argv[i:i + 2] = ["--config", str(resolve_recipe(argv[i + 1], kind))]
    elif "--config" not in argv:
        argv = ["--config", str(resolve_recipe(default_recipe, kind)), *argv]
    if not cuda_available() and not any(a.startswith("--use_cpu") for a in argv):
        argv += ["--use_cpu", "true"]
    return TrlParser(dataclass_types).parse_args_and_config(argv)
