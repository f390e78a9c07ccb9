"""A seed keeps its program: pinned programs of every family and group, and what adding a family may change.

`generator_pins.json` holds, for a few seeds of every family (at every level and with the level drawn)
and of every group, the family, level and SHA-256 of the program. Datasets, evaluation targets, the
tiny tokenizer's corpus and the published figures all come from these programs, so a change of any pin
is a change of all of those. After adding a family, pin it with the one command

    python -m tests.pin_generators

which lists the pins that changed and refuses any change but the new family's group seeds; when a
change of existing programs is intended, add `--force`, and re-measure the figures built from them.

Adding a family must leave every family's programs unchanged, and may change a group's seed only by
giving it to the new family (rendezvous hashing: `earthshader/data/generators/__init__.py`).
"""

from __future__ import annotations

from collections import Counter

import pytest
from pin_generators import changed_pins, coverage_problem, pin_key, pinned_calls, read_pins

from earthshader.data import generators
from earthshader.data.generators import FAMILIES, GROUPS, Family, difficulty_range, generate, register
from earthshader.data.generators.glsl_snippets import Draw
from earthshader.data.generators.seeds import key, rendezvous, stream

PINS: dict[str, dict] = read_pins()


def _extra_build(draw: Draw, difficulty: int) -> str:
    value = draw.uniform("value", 0.1, 0.9)
    return f"void mainImage(out vec4 fragColor, in vec2 fragCoord) {{ fragColor = vec4(vec3({value}), 1.0); }}\n"


def _add(monkeypatch, family: Family) -> None:
    """Register `family` for this test only."""
    monkeypatch.setattr(generators, "FAMILIES", dict(FAMILIES))
    monkeypatch.setattr(generators, "GROUPS", {group: list(names) for group, names in GROUPS.items()})
    register(family)


def test_the_pins_cover_every_family_level_and_group():
    problem = coverage_problem(PINS)
    assert problem is None, problem  # the message names the command that pins a new family
    assert set(PINS) == {pin_key(*call) for call in pinned_calls()}
    covered = {(pin["family"], pin["difficulty"]) for pin in PINS.values()}
    assert covered == {(name, level) for name, family in FAMILIES.items() for level in family.difficulties}


def test_pinned_programs_are_unchanged():
    changed = changed_pins(PINS)
    assert not changed, f"{len(changed)} pinned programs changed, e.g. {sorted(changed)[:5]} (module docstring)"


EXTRAS = {
    "level_0_texture": Family("extra_texture", "textures", _extra_build, 0, 0),
    "every_level_texture": Family("extra_everywhere", "textures", _extra_build, 0, 3),
    "primitive": Family("extra_primitive", "primitives", _extra_build, 1, 3),
    "terrain_with_a_new_level": Family("extra_terrain", "terrains", _extra_build, 2, 4),
    "new_group": Family("extra_cloud", "clouds", _extra_build, 0, 2),
}


@pytest.mark.parametrize("extra", EXTRAS.values(), ids=EXTRAS.keys())
def test_adding_a_family_changes_only_the_group_pins_it_wins(monkeypatch, extra):
    """Every family's pins stay; a group's pin changes only when the new family wins its seed."""
    _add(monkeypatch, extra)
    changed = changed_pins(PINS)
    families_changed = [pin for pin in changed if pin.split("|")[0] not in generators.GROUPS]
    assert not families_changed, families_changed
    for pin, (was, now) in changed.items():
        assert pin.startswith(f"{extra.group}|") and now["family"] == extra.name, (pin, was, now)
    in_group = [pin for pin in PINS if pin.startswith(f"{extra.group}|")]
    assert len([pin for pin in in_group if pin not in changed]) >= 0.6 * len(in_group)


@pytest.mark.parametrize("extra", [e for e in EXTRAS.values() if e.group in GROUPS],
                         ids=[k for k, e in EXTRAS.items() if e.group in GROUPS])
def test_a_new_family_takes_only_its_share_of_a_groups_seeds(monkeypatch, extra):
    """Over many seeds: a seed either keeps its program or moves to the new family, about 1 in N + 1 of them."""
    seeds = range(2000)
    old_levels = set(difficulty_range(extra.group))
    offering = {level: len([f for f in GROUPS[extra.group] if level in FAMILIES[f].difficulties])
                for level in old_levels}
    before = [generate(extra.group, seed) for seed in seeds]
    before_at = {level: [generate(extra.group, seed, level) for seed in range(300)]
                 for level in extra.difficulties if level in old_levels}
    _add(monkeypatch, extra)
    after = [generate(extra.group, seed) for seed in seeds]
    moved = [(a, b) for a, b in zip(before, after) if a != b]
    assert all(b.family == extra.name for _, b in moved)
    # Each level now holds 1 / len(levels) of the seeds; at a new level every seed moved there, at an
    # old one a seed moves when the new family's key beats the families that offer the level.
    levels = old_levels | set(extra.difficulties)
    expected = sum((1 if level not in old_levels else 1 / (offering[level] + 1)) / len(levels)
                   for level in extra.difficulties)
    assert abs(len(moved) / len(seeds) - expected) < 0.35 * expected + 0.01, (len(moved), expected)
    for level, samples in before_at.items():  # with the level fixed, the same holds per level
        now = [generate(extra.group, s.seed, level) for s in samples]
        taken = [b for a, b in zip(samples, now) if a != b]
        assert all(b.family == extra.name for b in taken)
        assert 0 < len(taken) < 3 * len(samples) / (offering[level] + 1)


def test_changing_one_familys_code_leaves_every_other_program_unchanged(monkeypatch):
    original = FAMILIES["stripes"]

    def greedy_stripes(draw: Draw, difficulty: int) -> str:
        for _ in range(7):
            draw.rng.random()  # draws more from its stream than before
        return original.build(draw, difficulty) + "// changed\n"

    monkeypatch.setitem(FAMILIES, "stripes", Family("stripes", "textures", greedy_stripes,
                                                    original.min_difficulty, original.max_difficulty))
    changed = changed_pins(PINS)
    assert changed and all(now["family"] == "stripes" for _, now in changed.values())


def test_removing_a_family_moves_only_its_own_seeds(monkeypatch):
    before = [generate("primitives", seed) for seed in range(400)]
    monkeypatch.setitem(GROUPS, "primitives", [f for f in GROUPS["primitives"] if f != "boxes"])
    after = [generate("primitives", seed) for seed in range(400)]
    assert any(a.family == "boxes" for a in before)
    assert all(a == b for a, b in zip(before, after) if a.family != "boxes")


def test_levels_and_families_are_equally_common():
    for group in GROUPS:
        samples = [generate(group, seed) for seed in range(4000)]
        levels = Counter(s.difficulty for s in samples)
        assert set(levels) == set(difficulty_range(group))
        mean = len(samples) / len(levels)
        assert all(abs(n - mean) < 0.12 * mean for n in levels.values()), (group, levels)
        for level in levels:
            families = Counter(s.family for s in samples if s.difficulty == level)
            offering = [f for f in GROUPS[group] if level in FAMILIES[f].difficulties]
            assert set(families) == set(offering)
            per_family = levels[level] / len(offering)
            assert all(abs(n - per_family) < 0.3 * per_family for n in families.values()), (group, level, families)


def test_a_group_seed_is_the_same_program_at_its_own_level():
    for group in GROUPS:
        for seed in range(30):
            sample = generate(group, seed)
            assert generate(group, seed, sample.difficulty) == sample


def test_a_group_and_its_family_draw_different_programs_at_the_same_seed():
    samples = [generate("terrains", seed) for seed in range(20)]
    assert all(generate(s.family, s.seed, s.difficulty).code != s.code for s in samples)


def test_rendezvous_and_keys_are_stable_and_independent_of_the_other_options():
    assert key("textures", 3) == key("textures", 3) != key("textures", 4)
    assert key("ab", "c") != key("a", "bc")
    assert key("level", "textures", 0, 1) == 6_473_817_483_549_939_005  # same in every process and version
    options = [f"f{i}" for i in range(10)]
    for seed in range(200):
        winner = rendezvous(options, seed)
        assert rendezvous(sorted(options, reverse=True), seed) == winner  # order does not matter
        assert rendezvous([winner, *options[:3]], seed) == winner  # nor do the losers
    with pytest.raises(ValueError, match="nothing to choose from"):
        rendezvous([], "textures", 3)
    assert stream("a", 1).random() == stream("a", 1).random() != stream("a", 2).random()


def test_bad_seeds_difficulties_and_registrations_are_refused_clearly(monkeypatch):
    with pytest.raises(ValueError, match="seed must be an integer, got 1.5"):
        generate("textures", 1.5)
    with pytest.raises(ValueError, match="difficulty must be an integer, got '2'"):
        generate("textures", 1, difficulty="2")
    with pytest.raises(ValueError, match="offers difficulties 0..2, not 3"):
        generate("checker", 1, difficulty=3)
    monkeypatch.setattr(generators, "FAMILIES", dict(FAMILIES))
    monkeypatch.setattr(generators, "GROUPS", {group: list(names) for group, names in GROUPS.items()})
    with pytest.raises(ValueError, match="'fbm' is taken"):
        register(Family("fbm", "textures", _extra_build, 0, 1))
    with pytest.raises(ValueError, match="'textures' is taken"):
        register(Family("textures", "primitives", _extra_build, 0, 1))
    with pytest.raises(ValueError, match="'fbm' is already a family's name"):
        register(Family("new", "fbm", _extra_build, 0, 1))
    with pytest.raises(ValueError, match="0 <= min <= max, got 2..1"):
        register(Family("new", "textures", _extra_build, 2, 1))
    assert "new" not in generators.FAMILIES

