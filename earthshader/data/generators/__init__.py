"""Seeded procedural Shadertoy programs with known parameters and a difficulty level.

    >>> from earthshader.data.generators import generate, FAMILIES, GROUPS
    >>> s = generate("textures", seed=3)               # a group: the family is drawn from the seed
    >>> s = generate("fbm", seed=3, difficulty=2)      # or one family at a chosen difficulty
    >>> s.code, s.family, s.group, s.params, s.difficulty, s.seed

`generate` is deterministic per (name, seed, difficulty). With `difficulty=None` the level is drawn
from the seed. For a group, the level is drawn first (uniform over the group's levels), then a
family that offers that level, so every level is equally common. Level 0 is the simplest (a 5-12
line texture, a single 2D shape); levels grow toward about 60 lines.

Groups: `textures` (2D patterns and noises), `primitives` (2D SDF scenes and raymarched 3D
primitives), `terrains` (raymarched heightfields).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from .glsl_snippets import Draw
from .primitives import PRIMITIVE_FAMILIES
from .terrains import TERRAIN_FAMILIES
from .textures import TEXTURE_FAMILIES


@dataclass(frozen=True)
class Family:
    """One generator: `build(draw, difficulty) -> code` for levels `min_difficulty..max_difficulty`."""

    name: str
    group: str
    build: Callable[[Draw, int], str]
    min_difficulty: int
    max_difficulty: int

    @property
    def difficulties(self) -> range:
        return range(self.min_difficulty, self.max_difficulty + 1)


@dataclass(frozen=True)
class ShaderSample:
    """A generated program and where it came from. `params` is JSON-able."""

    code: str
    family: str
    group: str
    params: dict[str, Any] = field(default_factory=dict)
    difficulty: int = 0
    seed: int = 0


def _register() -> dict[str, Family]:
    families = {}
    tables = {"textures": TEXTURE_FAMILIES, "primitives": PRIMITIVE_FAMILIES, "terrains": TERRAIN_FAMILIES}
    for group, table in tables.items():
        for name, (build, low, high) in table.items():
            families[name] = Family(name, group, build, low, high)
    return families


#: family name -> Family
FAMILIES: dict[str, Family] = _register()
#: group name -> family names in that group
GROUPS: dict[str, list[str]] = {}
for _family in FAMILIES.values():
    GROUPS.setdefault(_family.group, []).append(_family.name)


def difficulty_range(name: str) -> range:
    """The levels a group or family offers."""
    if name in FAMILIES:
        return FAMILIES[name].difficulties
    if name in GROUPS:
        families = [FAMILIES[f] for f in GROUPS[name]]
        return range(min(f.min_difficulty for f in families), max(f.max_difficulty for f in families) + 1)
    raise ValueError(f"unknown generator {name!r}; valid groups: {sorted(GROUPS)}, families: {sorted(FAMILIES)}")


def generate(name: str, seed: int, difficulty: int | None = None) -> ShaderSample:
    """One program from a group (`textures`, `primitives`, `terrains`) or a family (e.g. `fbm`)."""
    levels = difficulty_range(name)
    if difficulty is not None and difficulty not in levels:
        raise ValueError(f"{name!r} offers difficulties {levels.start}..{levels.stop - 1}, not {difficulty}")
    # A string seed makes `random.Random` hash with SHA-512: stable across processes and runs.
    rng = random.Random(f"{name}:{seed}:{difficulty}")
    level = rng.choice(levels) if difficulty is None else difficulty
    if name in GROUPS:
        candidates = [f for f in GROUPS[name] if level in FAMILIES[f].difficulties]
        family = FAMILIES[rng.choice(candidates)]
    else:
        family = FAMILIES[name]
    draw = Draw(random.Random(f"{family.name}:{seed}:{level}:{rng.random()}"))
    code = family.build(draw, level)
    return ShaderSample(code=code, family=family.name, group=family.group, params=dict(draw.params),
                        difficulty=level, seed=seed)


def generate_many(name: str, n: int, start_seed: int = 0, difficulty: int | None = None) -> list[ShaderSample]:
    """`n` samples for seeds `start_seed, start_seed + 1, ...`."""
    return [generate(name, seed, difficulty) for seed in range(start_seed, start_seed + n)]


__all__ = ["FAMILIES", "GROUPS", "Family", "ShaderSample", "difficulty_range", "generate", "generate_many"]
