"""Choices and random streams that depend on a seed and on names only, never on what else exists.

    >>> from earthshader.data.generators.seeds import key, rendezvous, stream
    >>> rendezvous(["stripes", "checker", "rings"], "textures", 3, 0)   # the option with the smallest key
    'rings'
    >>> rendezvous(["stripes", "checker", "rings", "new"], "textures", 3, 0) in ("rings", "new")
    True
    >>> stream("textures", "rings", 3, 0).random() == stream("textures", "rings", 3, 0).random()
    True

`key(*parts)` is a 64-bit integer from SHA-256 over the parts' text, so it is the same in every process,
on every machine and Python version (unlike `hash()`, which is salted per process).

`rendezvous(options, *parts)` is rendezvous (highest-random-weight) hashing: every option gets its own
key from `(*parts, option)` and the smallest key wins. An option's key does not depend on the other
options, so adding an option changes the choice only where the new option's key is the new minimum
(on average 1 in N + 1 seeds, and those move to the new option), and removing one moves only the seeds
it held. `rng.choice(options)` has neither property: its index depends on how many options there are.

`stream(*parts)` is a `random.Random` seeded with the parts' text (a string seed is hashed with
SHA-512, stable across processes and runs): one independent stream per family, seed and level.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Hashable, Iterable
from typing import TypeVar

T = TypeVar("T", bound=Hashable)

#: Separates the parts, so ("ab", "c") and ("a", "bc") get different keys.
_SEPARATOR = "\x1f"


def _text(parts: tuple) -> str:
    return _SEPARATOR.join(str(part) for part in parts)


def key(*parts) -> int:
    """A stable 64-bit key for the parts (their `str`)."""
    return int.from_bytes(hashlib.sha256(_text(parts).encode()).digest()[:8], "big")


def rendezvous(options: Iterable[T], *parts) -> T:
    """The option with the smallest `key(*parts, option)`; ties (never seen in practice) go to the smaller text."""
    options = list(options)
    if not options:
        raise ValueError(f"nothing to choose from for {_text(parts)!r}")
    return min(options, key=lambda option: (key(*parts, option), str(option)))


def stream(*parts) -> random.Random:
    """A random stream that depends on the parts only."""
    return random.Random(_text(parts))


__all__ = ["key", "rendezvous", "stream"]
