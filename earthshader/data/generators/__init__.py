"""Seeded procedural Shadertoy programs with known parameters and a difficulty level.

    >>> from earthshader.data.generators import generate, FAMILIES, GROUPS
    >>> s = generate("textures", seed=3)               # a group: level and family drawn from the seed
    >>> (s.family, s.group, s.difficulty, s.seed)
    ('turbulence', 'textures', 2, 3)
    >>> generate("fbm", seed=3, difficulty=2).family   # or one family at a chosen difficulty
    'fbm'
    >>> generate("textures", 3, difficulty=s.difficulty) == s
    True

Groups: `textures` (2D patterns and noises), `primitives` (2D SDF scenes and raymarched 3D
primitives), `terrains` (raymarched heightfields). Level 0 is the simplest (a 5-12 line texture, a
single 2D shape); levels grow toward about 60 lines. A family offers the levels
`min_difficulty..max_difficulty`; a group offers every level one of its families offers.

How a seed becomes a program
----------------------------
`generate(name, seed, difficulty=None)` is deterministic per (name, seed, difficulty), and stable:

- A family (`generate("fbm", seed)`) draws its level (when `difficulty` is None) and then its
  parameters from its own stream, seeded by (family, seed, difficulty): nothing outside the family's
  own code touches its programs.
- A group (`generate("textures", seed)`) takes the level `difficulty`, or else the level with the
  smallest key among the levels the group offers (`seeds.rendezvous`, keys from (group, seed,
  level)): every level is equally common. Then the family with the smallest key among the group's
  families that offer that level (keys from (group, seed, level, family)): within a level every
  family is equally common. The family draws its parameters from a stream seeded by (group, family,
  seed, level), apart from its own stream, so a group and one of its families draw independent
  programs at the same seeds (training on a group does not see a family's held-out seeds).

So `generate(group, seed)` equals `generate(group, seed, difficulty=its level)`; a family's programs
never change when families are added or another family's code changes; and adding a family to a
group changes a group seed only where the new family wins that seed's draw: about 1 in N + 1 of the
seeds of each level it offers, where N families offer the level already. Those seeds move to the new
family; no seed ever moves from one existing family to another, and a new level takes seeds only to
itself (1 in L + 1 of the seeds with no fixed difficulty, for L levels before). Removing a family
moves only its own seeds. `tests/test_generators_stable.py` pins programs and checks all of this by
registering extra families.

Why not "no group seed ever changes": a new family must get some seeds of the group for group
datasets to contain it, and any seed it gets had a program before, so the only ways to keep every
group seed fixed are to give new families only seeds above some frozen bound or no group seeds at
all; then a dataset built from seed 0 never sees a new family. Rendezvous hashing moves the fewest
seeds possible (exactly the new family's share) and moves them nowhere else. Where a dataset must not
change at all, name its families (`generate("fbm", seed)`), which no later family touches.

Adding a family: one function in the group's module, declared above it with its levels and its detection
rules (`@TEXTURES.family(0, 2, detect={400: r"\\bstripe\\b"})`, `earthshader.data.generators.family`), then
`python -m tests.pin_generators` to pin its programs in `tests/generator_pins.json` (the pin test fails,
naming that command, until they are; no existing pin may change). A family made at run time (a plugin, a
test) is `register(Family(...))`. `detection_rules()` is every family's rules in the order
`earthshader.evaluation.families.detect_family` checks them.
"""

from __future__ import annotations

import operator
import random
from dataclasses import dataclass, field
from typing import Any

from .family import Family, Group, Signature
from .glsl_snippets import Draw
from .primitives import PRIMITIVES
from .seeds import rendezvous, stream
from .terrains import TERRAINS
from .textures import TEXTURES

#: The groups whose families are registered at import, in this order (which is `FAMILIES`' order).
BUILTIN_GROUPS: tuple[Group, ...] = (TEXTURES, PRIMITIVES, TERRAINS)


@dataclass(frozen=True)
class ShaderSample:
    """A generated program and where it came from. `params` is JSON-able."""

    code: str
    family: str
    group: str
    params: dict[str, Any] = field(default_factory=dict)
    difficulty: int = 0
    seed: int = 0


#: family name -> Family
FAMILIES: dict[str, Family] = {}
#: group name -> family names in that group
GROUPS: dict[str, list[str]] = {}


def register(family: Family) -> Family:
    """Add a family to `FAMILIES` and its group to `GROUPS`; a name already taken is refused."""
    if family.name in FAMILIES or family.name in GROUPS or family.name == family.group:
        raise ValueError(f"generator name {family.name!r} is taken; groups: {sorted(GROUPS)}, "
                         f"families: {sorted(FAMILIES)}")
    if family.group in FAMILIES:
        raise ValueError(f"group name {family.group!r} is already a family's name")
    if not 0 <= family.min_difficulty <= family.max_difficulty:
        raise ValueError(f"{family.name}: difficulties must satisfy 0 <= min <= max, "
                         f"got {family.min_difficulty}..{family.max_difficulty}")
    FAMILIES[family.name] = family
    GROUPS.setdefault(family.group, []).append(family.name)
    return family


for _group in BUILTIN_GROUPS:
    for _family in _group.families:
        register(_family)


def detection_rules() -> list[tuple[str, Signature]]:
    """(family, rule) for every rule of every registered family, lowest rank first (ties: in registration
    order): the order in which `earthshader.evaluation.families.detect_family` tries them."""
    rules = [(family.name, rule) for family in FAMILIES.values() for rule in family.signatures]
    return sorted(rules, key=lambda pair: pair[1].rank)


def _levels(name: str) -> list[int]:
    if name in FAMILIES:
        return list(FAMILIES[name].difficulties)
    if name in GROUPS:
        return sorted({level for f in GROUPS[name] for level in FAMILIES[f].difficulties})
    raise ValueError(f"unknown generator {name!r}; valid groups: {sorted(GROUPS)}, families: {sorted(FAMILIES)}")


def difficulty_range(name: str) -> range:
    """The levels a group or family offers."""
    levels = _levels(name)
    return range(levels[0], levels[-1] + 1)


def _integer(what: str, value) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {value!r}") from None


def generate(name: str, seed: int, difficulty: int | None = None) -> ShaderSample:
    """One program from a group (`textures`, `primitives`, `terrains`) or a family (e.g. `fbm`)."""
    seed = _integer("seed", seed)
    levels = _levels(name)
    if difficulty is not None:
        difficulty = _integer("difficulty", difficulty)
        if difficulty not in levels:
            raise ValueError(f"{name!r} offers difficulties {levels[0]}..{levels[-1]}, not {difficulty}")
    if name in GROUPS:
        level = rendezvous(levels, "level", name, seed) if difficulty is None else difficulty
        offering = [f for f in GROUPS[name] if level in FAMILIES[f].difficulties]
        family = FAMILIES[rendezvous(offering, "family", name, seed, level)]
        rng = stream(name, family.name, seed, level)
    else:
        family = FAMILIES[name]
        own = random.Random(f"{name}:{seed}:{difficulty}")  # a string seed: hashed with SHA-512, stable
        level = own.choice(levels) if difficulty is None else difficulty
        rng = random.Random(f"{name}:{seed}:{level}:{own.random()}")
    draw = Draw(rng)
    code = family.build(draw, level)
    return ShaderSample(code=code, family=family.name, group=family.group, params=dict(draw.params),
                        difficulty=level, seed=seed)


def generate_many(name: str, n: int, start_seed: int = 0, difficulty: int | None = None) -> list[ShaderSample]:
    """`n` samples for seeds `start_seed, start_seed + 1, ...`."""
    return [generate(name, seed, difficulty) for seed in range(start_seed, start_seed + n)]


__all__ = ["BUILTIN_GROUPS", "FAMILIES", "GROUPS", "Family", "Group", "ShaderSample", "Signature", "detection_rules",
           "difficulty_range", "generate", "generate_many", "register"]
