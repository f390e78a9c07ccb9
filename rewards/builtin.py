"""The built-in rewards, each declared once: `@builtin_reward` above its class.

    from rewards.base import TextReward
    from rewards.builtin import builtin_reward

    @builtin_reward
    class ShortReward(TextReward):
        '''1 for a program under 400 characters, else 0. Range [0, 1].'''

        name = "short"

        def score_shader(self, shader, row):
            return float(len(shader.code) < 400)

That is the whole of adding a built-in: the class, in `rewards/image.py` (rewards on the render) or
`rewards/program.py` (rewards on the program), and its row in docs/rewards.md's table of built-in rewards
(`tests/test_where_to_add.py` checks that every built-in has one). The decorator files the class under its
`name` in `BUILTIN_REWARDS`, in the order the classes are defined (`rewards/__init__.py` loads `image`,
then `program`), and `rewards.registry` looks names up there. A reward that lives outside this repository
is a plugin instead (an entry point, docs/rewards.md), never a built-in.

>>> from rewards import SSIMReward
>>> BUILTIN_REWARDS["ssim"] is SSIMReward
True
"""

from __future__ import annotations

from rewards.base import Reward

#: The built-in rewards by name, filled by `@builtin_reward` as their modules load.
BUILTIN_REWARDS: dict[str, type[Reward]] = {}


def builtin_reward(cls: type[Reward]) -> type[Reward]:
    """File a `Reward` subclass under its own `name` in `BUILTIN_REWARDS`; returns the class unchanged.

    Refused with `ValueError`: a class that is not a `Reward`, one without a `name` of its own (it would
    inherit its base's), and a name that another class holds already.
    """
    if not (isinstance(cls, type) and issubclass(cls, Reward)):
        raise ValueError(f"@builtin_reward declares Reward subclasses, not {cls!r}")
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"built-in reward {cls.__qualname__} must set its own `name` (an identifier), got {name!r}")
    held = BUILTIN_REWARDS.get(name)
    if held is not None and _origin(held) != _origin(cls):  # the same class loaded again keeps its name
        raise ValueError(f"built-in reward name {name!r} is taken by {_origin(held)}")
    BUILTIN_REWARDS[name] = cls
    return cls


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


__all__ = ["BUILTIN_REWARDS", "builtin_reward"]
