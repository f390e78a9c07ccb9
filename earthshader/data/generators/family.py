"""A generator family, declared in one place: its function, its levels and its detection rules.

    TEXTURES = Group("textures")

    @TEXTURES.family(0, 2, detect={400: r"\\bstripe\\b"})
    def stripes(draw: Draw, difficulty: int) -> str:
        ...

`Group.family(min_difficulty, max_difficulty, detect=...)` turns the function into a `Family` of the group
(named after the function) and keeps it in the group's `families`, in the order they are declared;
`earthshader.data.generators` registers every family of `textures`, `primitives` and `terrains` in that
order. `detect` maps a rank to the pattern (or tuple of patterns, which must all match the comment-free
code) by which `earthshader.evaluation.families.detect_family` recognises the family's programs: every
family's rules are checked together, lowest rank first, and the first match wins. So a rule that another
family's programs could also match takes a rank above that family's more specific rule (terrains use
the 100s, primitives the 200s, textures the 300s and 400s). A family may have several rules (either one
recognises it). `tests/test_eval_families.py` checks that every family's own programs are recognised as it.

>>> group = Group("demo")
>>> @group.family(0, 1, detect={900: (r"\\bdemo\\b", r"fragColor")})
... def demo(draw, difficulty):
...     return "void mainImage(out vec4 fragColor, in vec2 p) { float demo = 1.0; fragColor = vec4(demo); }"
>>> family = group.families[0]
>>> family.name, family.group, list(family.difficulties), family.signatures[0].matches(family.build(None, 0))
('demo', 'demo', [0, 1], True)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .glsl_snippets import Draw


@dataclass(frozen=True)
class Signature:
    """One detection rule of a family: `patterns` (regular expressions) that must all match, checked in `rank`
    order among every family's rules (lower first)."""

    rank: int
    patterns: tuple[str, ...]
    compiled: tuple[re.Pattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.patterns:
            raise ValueError(f"a detection rule needs at least one pattern (rank {self.rank})")
        try:
            object.__setattr__(self, "compiled", tuple(re.compile(p) for p in self.patterns))
        except re.error as error:
            raise ValueError(f"detection rule of rank {self.rank}: {error}") from None

    def matches(self, code: str) -> bool:
        """Do all the patterns match `code` (comments already stripped)?"""
        return all(pattern.search(code) for pattern in self.compiled)


def signatures(detect: Mapping[int, str | tuple[str, ...]] | None) -> tuple[Signature, ...]:
    """`Signature`s from `{rank: pattern or (patterns, ...)}`."""
    return tuple(Signature(rank, (rule,) if isinstance(rule, str) else tuple(rule))
                 for rank, rule in (detect or {}).items())


@dataclass(frozen=True)
class Family:
    """One generator: `build(draw, difficulty) -> code` for levels `min_difficulty..max_difficulty`, and the
    rules by which its programs are recognised (`signatures`)."""

    name: str
    group: str
    build: Callable[[Draw, int], str]
    min_difficulty: int
    max_difficulty: int
    signatures: tuple[Signature, ...] = ()

    @property
    def difficulties(self) -> range:
        return range(self.min_difficulty, self.max_difficulty + 1)


class Group:
    """The families of one group, each declared by `@group.family(...)` above its function."""

    def __init__(self, name: str):
        self.name = name
        self.families: list[Family] = []

    def family(self, min_difficulty: int, max_difficulty: int, *,
               detect: Mapping[int, str | tuple[str, ...]]) -> Callable:
        """Declare the decorated `build(draw, difficulty) -> code` a family of this group, named after it."""

        def declare(build: Callable[[Draw, int], str]) -> Callable[[Draw, int], str]:
            self.families.append(Family(build.__name__, self.name, build, min_difficulty, max_difficulty,
                                        signatures(detect)))
            return build

        return declare


__all__ = ["Family", "Group", "Signature", "signatures"]
