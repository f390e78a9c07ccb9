"""Reward lookup by name: built-ins, dotted import paths, and installed plugins (entry points).

    from rewards import get_reward_funcs

    funcs = get_reward_funcs(["compiles", "ssim", "my_pkg.rewards:palette"], {"ssim": {"size": 84}})
    GRPOTrainer(..., reward_funcs=funcs)

A name is looked up as:
1. a built-in (`BUILTIN_REWARDS`: every class declared with `@builtin_reward` in `rewards/image.py` and
   `rewards/program.py`, `rewards.builtin`);
2. an installed plugin: an entry point in the `earthshader.rewards` group, e.g. in a plugin's pyproject.toml
       [project.entry-points."earthshader.rewards"]
       brightness = "my_pkg.rewards:Brightness"
3. a dotted import path, `my_pkg.rewards:palette` or `my_pkg.rewards.palette`.
Anything else raises ValueError listing the valid names.

What a name resolves to may be a class (instantiated with that name's options from `kwargs`), or a
ready callable: a function or a reward instance (options then bind as keyword arguments through
`functools.partial`, which TRL logs under the function's own name).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from importlib.metadata import entry_points

from rewards import image, program  # noqa: F401  (the built-in modules: their classes declare themselves)
from rewards.builtin import BUILTIN_REWARDS

#: Entry-point group through which installed packages add rewards.
ENTRY_POINT_GROUP = "earthshader.rewards"


def plugin_rewards() -> dict:
    """Installed plugins: name -> entry point (not loaded yet)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_rewards() -> list[str]:
    """Every name `get_reward_funcs` accepts without a dotted path: built-ins, then plugins."""
    return list(BUILTIN_REWARDS) + sorted(set(plugin_rewards()) - set(BUILTIN_REWARDS))


def get_reward_funcs(names, kwargs: dict | None = None) -> list:
    """Reward callables for TRL, in the order of `names`.

    Args:
        names: reward names or dotted paths (a list, or one string).
        kwargs: options per name, e.g. {"ssim": {"size": 84, "scales": 2}, "length": {"budget": 800}}.

    Raises:
        ValueError: an unknown name (the message lists the valid ones), options for a name that is not
            requested, or options a reward does not take.
    """
    names = [names] if isinstance(names, str) else list(names)
    kwargs = dict(kwargs or {})
    unused = set(kwargs) - set(names)
    if unused:
        raise ValueError(f"reward options given for {sorted(unused)}, which are not among the rewards {names}")
    return [_build(name, kwargs.get(name) or {}) for name in names]


def resolve(name: str):
    """The class or callable a reward name stands for (not instantiated)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a reward name is a non-empty string, got {name!r}")
    if name in BUILTIN_REWARDS:
        return BUILTIN_REWARDS[name]
    plugins = plugin_rewards()
    if name in plugins:
        try:
            return plugins[name].load()
        except (ImportError, AttributeError) as error:
            raise ValueError(f"reward plugin {name!r} ({plugins[name].value}) failed to load: {error}") from error
    if "." in name or ":" in name:
        return _import_path(name)
    raise ValueError(
        f"unknown reward {name!r}; valid names: {', '.join(available_rewards())}, "
        "or a dotted path such as 'my_pkg.rewards:palette' or 'my_pkg.rewards.palette'"
    )


def _import_path(path: str):
    if ":" in path:
        module_name, _, attribute = path.partition(":")
    else:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"reward path {path!r} must look like 'package.module:name' or 'package.module.name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"reward {path!r}: cannot import module {module_name!r}: {error}") from error
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"reward {path!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    return target


def _build(name: str, options: dict):
    target = resolve(name)
    if inspect.isclass(target):
        try:
            inspect.signature(target).bind(**options)
        except TypeError as error:
            raise ValueError(
                f"reward {name!r} does not take options {sorted(options)}: {error}; "
                f"its signature is {target.__name__}{inspect.signature(target)}"
            ) from error
        return target(**options)
    if not callable(target):
        raise ValueError(f"reward {name!r} resolves to {target!r}, which is neither a class nor callable")
    if options:
        return functools.partial(target, **options)
    return target
