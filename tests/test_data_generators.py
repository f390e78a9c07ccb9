"""Procedural generators: the interface, determinism, short readable code, and the promise that
every family compiles and renders a non-flat picture for 500 seeds (real EGL renders, 32 x 32).

The 500-seed test is compile-bound (llvmpipe JIT, not drawing), so its pool runs with
`GALLIVM_PERF=nopt` (LLVM optimisation passes off: about half the compile time on llvmpipe;
ignored by GPU drivers) and Mesa's on-disk shader cache makes reruns much faster.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from earthshader.data.generators import FAMILIES, GROUPS, ShaderSample, difficulty_range, generate, glsl_snippets
from earthshader.image.metrics import is_flat
from earthshader.render import RenderPool

SEEDS = 500
SIZE = 32
FLOAT_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+)(?![\w.])")


def test_interface_fields_and_registry():
    sample = generate("textures", seed=3)
    assert isinstance(sample, ShaderSample)
    assert "void mainImage(out vec4 fragColor, in vec2 fragCoord)" in sample.code
    assert sample.group == "textures" and sample.family in GROUPS["textures"]
    assert sample.seed == 3 and sample.difficulty in difficulty_range("textures")
    assert json.loads(json.dumps(sample.params)) == sample.params
    assert set(GROUPS) == {"textures", "primitives", "terrains"}
    assert len(GROUPS["textures"]) >= 8 and len(GROUPS["terrains"]) >= 4
    assert sorted(name for names in GROUPS.values() for name in names) == sorted(FAMILIES)


@pytest.mark.parametrize("name", [*GROUPS, *FAMILIES])
def test_deterministic_per_seed_and_varied_across_seeds(name):
    for seed in range(5):
        assert generate(name, seed) == generate(name, seed)
        level = difficulty_range(name)[-1]
        assert generate(name, seed, level) == generate(name, seed, level)
    codes = {generate(name, seed).code for seed in range(40)}
    assert len(codes) >= 30, f"{name}: only {len(codes)} distinct programs in 40 seeds"


def test_family_name_and_difficulty_are_honoured():
    for name, family in FAMILIES.items():
        for level in family.difficulties:
            sample = generate(name, seed=11, difficulty=level)
            assert (sample.family, sample.difficulty) == (name, level)
    assert {generate("textures", seed).difficulty for seed in range(200)} == set(difficulty_range("textures"))


def test_unknown_name_and_bad_difficulty_are_refused_with_the_valid_choices():
    with pytest.raises(ValueError, match="valid groups.*textures"):
        generate("clouds", seed=0)
    with pytest.raises(ValueError, match="offers difficulties 3..3"):
        generate("domain_warp", seed=0, difficulty=0)


def test_level_zero_textures_are_short_and_higher_levels_grow():
    lengths = {level: [] for level in difficulty_range("textures")}
    for seed in range(300):
        sample = generate("textures", seed)
        lengths[sample.difficulty].append(len(sample.code.strip().splitlines()))
    assert all(5 <= n <= 12 for n in lengths[0]), sorted(set(lengths[0]))
    assert max(max(v) for v in lengths.values()) <= 60
    means = [sum(v) / len(v) for _, v in sorted(lengths.items())]
    assert means == sorted(means), means


def test_constants_are_rounded_like_hand_written_code():
    """Drawn numbers have at most 3 significant digits; longer ones come from shared snippets."""
    library = set()
    for value in vars(glsl_snippets).values():
        if isinstance(value, str):
            library.update(FLOAT_LITERAL.findall(value))
    for name in FAMILIES:
        for seed in range(30):
            code = generate(name, seed).code
            assert "e+" not in code and "e-" not in code.replace("le-", "").replace("ne-", "")
            for literal in FLOAT_LITERAL.findall(code):
                digits = literal.replace(".", "").lstrip("0").rstrip("0")
                assert len(digits) <= 3 or literal in library, f"{name} seed {seed}: {literal}"


def test_loops_have_small_constant_bounds():
    """Raymarches and octave loops are bounded by literals (at most 150 steps) for fast renders."""
    for name in [*GROUPS["terrains"], "raymarched"]:
        for seed in range(20):
            code = generate(name, seed).code
            bounds = [int(b) for b in re.findall(r"for \(int \w+ = -?\d+; \w+ <=? (-?\d+);", code)]
            assert bounds and max(bounds) <= 150, (name, seed, bounds)
            assert "while" not in code


@pytest.fixture(scope="module")
def pool():
    previous = os.environ.get("GALLIVM_PERF")
    os.environ["GALLIVM_PERF"] = "nopt"  # read by each worker's llvmpipe when it starts
    try:
        with RenderPool(timeout=60.0) as render_pool:
            yield render_pool
    finally:
        if previous is None:
            os.environ.pop("GALLIVM_PERF", None)
        else:
            os.environ["GALLIVM_PERF"] = previous


@pytest.mark.slow  # 500 renders a family, 10,000 in all: minutes on a CPU
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_compiles_and_renders_non_flat_for_500_seeds(name, pool):
    samples = [generate(name, seed) for seed in range(SEEDS)]
    assert {s.difficulty for s in samples} == set(FAMILIES[name].difficulties)
    results = pool.render_many([s.code for s in samples], width=SIZE, height=SIZE)
    failed = [(s.seed, s.difficulty, str(r.error)) for s, r in zip(samples, results) if not r.ok]
    flat = [(s.seed, s.difficulty) for s, r in zip(samples, results) if r.ok and is_flat(r.image)]
    assert not failed, f"{name}: {len(failed)} of {SEEDS} failed, e.g. {failed[:3]}"
    assert not flat, f"{name}: {len(flat)} of {SEEDS} rendered flat (seed, difficulty): {flat[:10]}"
