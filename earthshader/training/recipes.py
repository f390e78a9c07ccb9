"""Recipes: a name in `recipes/<kind>/` (at the top of a checkout; `earthshader/recipes/` in the wheel) or a path
to a YAML file.

    >>> resolve_recipe("tiny", "sft").relative_to(RECIPES_DIR).as_posix()
    'sft/tiny.yaml'
    >>> "tiny" in available_recipes("grpo")
    True
    >>> resolve_recipe("no-such-recipe", "sft")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    earthshader.training.recipes.RecipeNotFoundError: no sft recipe named 'no-such-recipe'; valid names: ...
    >>> backend_from_argv(["--recipe", "tiny", "--backend", "cpu"], "grpo")
    'cpu'
"""

from __future__ import annotations

from pathlib import Path

from earthshader.cli import OneLineErrors, check_fields, non_negative_float, positive_int
from earthshader.errors import UsageError

#: Training arguments that transformers and TRL accept out of range (and that would fail later, mid-run).
TRAINING_CHECKS = {"per_device_train_batch_size": positive_int, "per_device_eval_batch_size": positive_int,
                   "gradient_accumulation_steps": positive_int, "learning_rate": non_negative_float,
                   "num_train_epochs": non_negative_float, "weight_decay": non_negative_float}


#: The `earthshader` package's folder (in a checkout, or in site-packages).
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def find_recipes_dir(package: Path = PACKAGE_DIR) -> Path:
    """The folder of shipped recipes for the `earthshader` package folder `package`.

    The recipes live at the top of the repository; the wheel carries them inside the package as
    `earthshader/recipes/` (pyproject.toml maps one onto the other), never as a top-level `recipes`
    package that another distribution could also install. So: the package's own `recipes/` when it has
    one (installed), else the checkout's, the folder beside the package that holds pyproject.toml.
    """
    installed, checkout = package / "recipes", package.parent / "recipes"
    if not installed.is_dir() and (package.parent / "pyproject.toml").is_file():
        return checkout
    return installed


RECIPES_DIR = find_recipes_dir()


class RecipeNotFoundError(UsageError, FileNotFoundError):
    """`--recipe` names no shipped recipe and no YAML file (the message lists the valid names)."""


def available_recipes(kind: str) -> list[str]:
    """Names of the recipes shipped for `kind` ("sft", "grpo", ...)."""
    return sorted(p.stem for p in (RECIPES_DIR / kind).glob("*.yaml"))


def resolve_recipe(name_or_path: str, kind: str | None) -> Path:
    """The YAML file for a recipe name or path; a `RecipeNotFoundError` listing the valid names otherwise.

    `kind` None looks the name up in every kind (an error if two kinds have it).
    """
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise RecipeNotFoundError(f"recipe file {str(path)!r} does not exist")
        return path
    kinds = [kind] if kind else sorted(p.name for p in RECIPES_DIR.iterdir() if p.is_dir())
    shipped = [RECIPES_DIR / k / f"{name_or_path}.yaml" for k in kinds]
    shipped = [p for p in shipped if p.is_file()]
    if len(shipped) == 1:
        return shipped[0]
    if len(shipped) > 1:
        raise RecipeNotFoundError(f"recipe name {name_or_path!r} is ambiguous: {', '.join(map(str, shipped))}")
    valid = ", ".join(f"{k}/{n}" if kind is None else n for k in kinds for n in available_recipes(k))
    raise RecipeNotFoundError(
        f"no {kind or ''} recipe named {name_or_path!r}; valid names: {valid or '(none)'}, or a path to a .yaml file"
    )


def parse_recipe_args(argv: list[str], kind: str, default_recipe: str, dataclass_types: tuple):
    """Parse `--recipe NAME|PATH` (or `--config FILE`) plus flags with TRL's parser, one instance per type.

    The recipe gives defaults, flags override them, unknown keys are an error. Without a GPU,
    `--use_cpu true` is added unless given: a GPU recipe (bf16) would otherwise fail to parse here,
    before its real error (no weights, no CUDA) can be reported.
    """
    from trl import TrlParser

    from earthshader.modeling.backends import cuda_available

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

    class RecipeParser(OneLineErrors, TrlParser):
        """TRL's parser; a bad value (a flag's type, or a config's own check) is one line and exit 2."""

    parser = RecipeParser(dataclass_types, prog=f"python -m earthshader.{kind}")
    try:
        parsed = parser.parse_args_and_config(argv)
        for config in parsed:  # what transformers' TrainingArguments leave unchecked
            check_fields(config, **{name: check for name, check in TRAINING_CHECKS.items() if hasattr(config, name)})
    except ValueError as err:  # the dataclasses' checks (__post_init__), unknown recipe keys
        parser.error(str(err))
    except ZeroDivisionError:  # GRPOConfig divides by num_generations before checking it
        parser.error("argument --num_generations: must be a whole number of at least 2 (completions per prompt)")
    return parsed


def check_model_exists(name: str) -> None:
    """`ModelNotFoundError` (one line, exit status 2) at once, without the network, when `name` is a local
    folder that does not exist: the folder a shipped recipe writes (`runs/sft-grammar-school`: the message
    says which stage makes it), or a path that cannot be a Hub id (`./x`, `a/b/c`, or inside a folder that
    exists here). Anything else may be a Hub id and is left to the loader.

    >>> check_model_exists("Qwen/Qwen2-VL-7B-Instruct")  # may be a Hub id: the loader decides
    >>> check_model_exists("./no/such/model")
    Traceback (most recent call last):
    earthshader.modeling.loading.ModelNotFoundError: argument --model_name_or_path: './no/such/model': no such \
local folder (a Hub id is owner/name)
    """
    from earthshader.modeling import ModelNotFoundError

    problem = _missing_local_model(name)
    if problem:
        raise ModelNotFoundError(f"argument --model_name_or_path: {problem}")


def _missing_local_model(name: str) -> str | None:
    import yaml

    path = Path(name).expanduser()
    if path.exists():
        return None
    for recipe in sorted(RECIPES_DIR.glob("*/*.yaml")):
        output = (yaml.safe_load(recipe.read_text()) or {}).get("output_dir")
        if output and Path(output) == Path(name):
            return (f"{name!r} does not exist: `earthshader {recipe.parent.name} --recipe {recipe.stem}` writes it; "
                    "run that first, or pass a Hub id (such as Qwen/Qwen2-VL-7B-Instruct) to start from a base model")
    parts = Path(name).parts
    if name.startswith((".", "/", "~")) or len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir()):
        return f"{name!r}: no such local folder (a Hub id is owner/name)"
    return None


def backend_from_argv(argv: list[str], kind: str | None = None, default_recipe: str | None = None,
                      default: str = "auto") -> str:
    """The `--backend` value from a command line, else from the recipe's YAML, else `default`.

    The recipe is `--recipe NAME|PATH` (a name is looked up in `recipes/<kind>/`, or in every kind when
    `kind` is None), else `--config PATH`, else `default_recipe`. Read by hand because the full parser
    lives in trl, which must not be imported before Unsloth.
    """
    value = _flag_value(argv, "--backend")
    if value is not None:
        return value
    recipe = _flag_value(argv, "--recipe") or _flag_value(argv, "--config") or default_recipe
    if recipe is None:
        return default
    import yaml

    if kind is None and not Path(recipe).suffix:  # a name that several kinds may share: they must agree
        files = sorted(RECIPES_DIR.glob(f"*/{recipe}.yaml")) or [resolve_recipe(recipe, None)]
    else:
        files = [resolve_recipe(recipe, kind)]
    backends = {str((yaml.safe_load(f.read_text()) or {}).get("backend", default)) for f in files}
    if len(backends) > 1:
        raise ValueError(f"recipes {', '.join(map(str, files))} name different backends; pass kind= to choose")
    return backends.pop()

def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None
