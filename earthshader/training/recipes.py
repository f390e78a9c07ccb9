"""Recipes: a name in `recipes/<kind>/` (at the top of a checkout; `earthshader/recipes/` in the wheel) or a path
to a YAML file; and a stage's arguments from a recipe, flags and Python overrides, for the command line and for
Python callers alike (`recipe_arguments`, `command_line_arguments`).

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

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from earthshader.cli import OneLineErrors, check_fields, non_negative_float, positive_int
from earthshader.errors import UsageError
from earthshader.modeling.backends import select_backend
from earthshader.training.arguments import ExpertScriptArguments, GRPOScriptArguments, SFTScriptArguments

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


@dataclass(frozen=True)
class Stage:
    """What a training stage's arguments are made of: its recipes (`recipes/<kind>/`), its default recipe, its
    own arguments (`earthshader.training.arguments`) and the name of TRL's config class for its trainer."""

    kind: str
    default_recipe: str
    script_arguments: type
    trl_config: str

    def argument_types(self) -> tuple:
        """`(script arguments, TRL's config, TRL's ModelConfig)`: the classes the parser fills (imports TRL)."""
        import trl

        return self.script_arguments, getattr(trl, self.trl_config), trl.ModelConfig


#: Every training stage, by the folder its recipes are filed under.
STAGES = {
    "sft": Stage("sft", "grammar-school", SFTScriptArguments, "SFTConfig"),
    "grpo": Stage("grpo", "textures", GRPOScriptArguments, "GRPOConfig"),
    "expert": Stage("expert", "tiny", ExpertScriptArguments, "SFTConfig"),  # each round's SFT
}


class RecipeArgumentError(UsageError, ValueError):
    """A recipe value, flag or override that the stage's parser refuses; the message is the line the command
    line prints, naming the field."""


def recipe_arguments(kind: str, recipe: str | None = None, *, flags: Sequence[str] = (), **overrides):
    """`(script_args, training_args, model_args)` of a stage, for Python callers: no command line needed.

    The recipe (a name in `recipes/<kind>/` or a path; the stage's default when None) gives defaults; `flags`
    (as a user types them, e.g. passed on from a benchmark's own command line) and `overrides` (field=value,
    Python values) replace them, all through the command line's parser and its checks. A field given both as
    a flag and as an override is refused, so that neither silently wins; so is a bad value or an unknown
    field, with `RecipeArgumentError`. The backend is selected first (Unsloth must be imported before TRL).

        script_args, training_args, model_args = recipe_arguments("grpo", "tiny", output_dir="runs/x", max_steps=2)
        grpo_stage.run(script_args, training_args, model_args)
    """
    if kind not in STAGES:
        raise RecipeArgumentError(f"no training stage {kind!r}; valid: {', '.join(STAGES)}")
    flags = list(flags)
    if recipe is not None:
        if "--recipe" in flags or "--config" in flags:
            raise RecipeArgumentError(f"recipe {recipe!r} given twice: as an argument and in flags {flags}")
        flags = ["--recipe", str(recipe), *flags]
    overrides = {name: str(value) if isinstance(value, Path) else value for name, value in overrides.items()}
    select_backend(str(overrides.get("backend") or backend_from_argv(flags, kind, STAGES[kind].default_recipe)))
    return parse_recipe_args(flags, STAGES[kind], overrides=overrides, raise_errors=True)


def command_line_arguments(kind: str, argv: Sequence[str]):
    """`recipe_arguments` for an entry point's command line: a bad value exits with status 2 and one line, and
    `--help` answers at once, without selecting a backend or importing TRL."""
    argv = list(argv)
    if not set(argv) & set(HELP_FLAGS):
        select_backend(backend_from_argv(argv, kind, STAGES[kind].default_recipe))  # Unsloth first
    return parse_recipe_args(argv, STAGES[kind])


#: `--help` lists the stage's own arguments (fast); `--help-all` TRL's too (it imports TRL: seconds).
HELP_FLAGS = ("-h", "--help", "--help-all")


def parse_recipe_args(argv: Sequence[str], stage: Stage, *, overrides: dict | None = None,
                      raise_errors: bool = False):
    """Parse `--recipe NAME|PATH` (or `--config FILE`) plus flags with TRL's parser, one instance per type.

    The recipe gives defaults, `overrides` replace its values, flags override both; unknown keys are an
    error. Without a GPU, `--use_cpu true` is added unless given: a GPU recipe (bf16) would otherwise fail
    to parse here, before its real error (no weights, no CUDA) can be reported. Errors exit with status 2
    and one line, or raise `RecipeArgumentError` with that line when `raise_errors`.
    """
    from trl import TrlParser

    from earthshader.modeling.backends import cuda_available

    kind, overrides, argv = stage.kind, dict(overrides or {}), list(argv)
    full_help = "--help-all" in argv
    argv = ["--help" if a == "--help-all" else a for a in argv]
    short_help = not full_help and bool(set(argv) & set(HELP_FLAGS))

    class RecipeParser(OneLineErrors, TrlParser):
        """TRL's parser; a bad value (a flag's type, or a config's own check) is one line and exit 2."""

        def error(self, message: str):
            if raise_errors:
                raise RecipeArgumentError(" ".join(f"{self.prog}: error: {message}".split()))
            super().error(message)

        def set_defaults_with_config(self, **config) -> list[str]:
            return super().set_defaults_with_config(**{**config, **overrides})  # the recipe, then the overrides

    epilog = (f"Every field of TRL's {stage.trl_config} (--learning_rate, --max_steps, --output_dir, ...) and "
              "ModelConfig (--model_name_or_path, --lora_r, ...) is a flag and a recipe key too: --help-all lists "
              "them (it imports TRL, a few seconds).") if short_help else None
    parser = RecipeParser((stage.script_arguments,) if short_help else stage.argument_types(),
                          prog=f"python -m earthshader.{kind}", epilog=epilog)
    if "--recipe" in argv:
        i = argv.index("--recipe")
        if i + 1 >= len(argv):
            parser.error(f"--recipe needs a name ({', '.join(available_recipes(kind))}) or a .yaml path")
        argv[i:i + 2] = ["--config", str(resolve_recipe(argv[i + 1], kind))]
    elif "--config" not in argv:
        argv = ["--config", str(resolve_recipe(stage.default_recipe, kind)), *argv]
    if overrides:
        _check_overrides(parser, overrides, argv, stage)
    if not short_help and "use_cpu" not in overrides and not any(a.startswith("--use_cpu") for a in argv) \
            and not cuda_available():
        argv += ["--use_cpu", "true"]

    try:
        parsed = parser.parse_args_and_config(argv)
        for config in parsed:  # what transformers' TrainingArguments leave unchecked
            check_fields(config, **{name: check for name, check in TRAINING_CHECKS.items() if hasattr(config, name)})
    except ValueError as err:  # the dataclasses' checks (__post_init__), unknown recipe keys
        parser.error(str(err))
    except ZeroDivisionError:  # GRPOConfig divides by num_generations before checking it
        parser.error("argument --num_generations: must be a whole number of at least 2 (completions per prompt)")
    return parsed


def _check_overrides(parser, overrides: dict, argv: list[str], stage: Stage) -> None:
    """Refuse an override that names no field of the stage, or a field that a flag in `argv` also sets."""
    known = {f.name for types in stage.argument_types() for f in fields(types)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        parser.error(f"unknown field(s) {', '.join(unknown)}: not an argument of {stage.script_arguments.__name__}, "
                     f"{stage.trl_config} or ModelConfig")
    flagged = {a[2:].split("=", 1)[0].replace("-", "_") for a in argv if a.startswith("--")}
    both = sorted(name for name in overrides if name in flagged or f"no_{name}" in flagged)
    if both:
        parser.error(f"{', '.join('--' + name for name in both)} given both as a flag and as an override")


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
