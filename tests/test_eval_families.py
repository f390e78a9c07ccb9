"""Family detection and parameter distance (`earthshader.evaluation.families`) on the generators' own programs."""

from __future__ import annotations

from collections import Counter

import pytest

from earthshader.data.generators import FAMILIES, generate
from earthshader.evaluation.families import (
    detect_family,
    literal_sites,
    numeric_params,
    parameter_distance,
    relative_error,
    rules,
)

SEEDS = range(12)


def test_every_family_has_a_rule():
    assert set(FAMILIES) <= {family for family, _ in rules()}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_detects_the_generators_own_programs(family):
    wrong = Counter()
    for level in FAMILIES[family].difficulties:
        for seed in SEEDS:
            found = detect_family(generate(family, seed, difficulty=level).code)
            if found != family:
                wrong[(level, found)] += 1
    if family == "sdf_scene":
        # A scene drawn only with circles is exactly a `circles` program: 4 of 160 seeds in a wider check.
        assert sum(wrong.values()) <= 2, wrong
        assert set(found for _, found in wrong) <= {"circles"}, wrong
    else:
        assert not wrong, wrong


def test_detect_family_on_foreign_code():
    assert detect_family("") is None
    assert detect_family("void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }") is None
    commented = "// float stripe = 1.0;\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }"
    assert detect_family(commented) is None  # names in comments do not count


def test_literal_sites_mask_numbers_and_join_unary_minus():
    sites = literal_sites("uv = rotate(-0.5) * uv * 7.3;", context_tokens=3)
    assert sites == [(("=", "rotate", "("), -0.5), (("*", "uv", "*"), 7.3)]
    assert literal_sites("x = a - 0.5;")[0][1] == 0.5  # a binary minus stays an operator


def test_numeric_params_flattens_lists_and_drops_flags():
    params = {"frequency": 7.3, "hard_edges": True, "axis": "uv.x", "colour": [0.1, 0.2, 0.3], "octaves": 4}
    assert numeric_params(params) == {"frequency": 7.3, "colour[0]": 0.1, "colour[1]": 0.2, "colour[2]": 0.3,
                                      "octaves": 4.0}


def test_relative_error():
    assert relative_error(5.0, 5.0) == 0.0
    assert relative_error(10.0, 5.0) == 0.5
    assert relative_error(2.5, 5.0) == 0.5
    assert relative_error(-5.0, 5.0) == 1.0
    assert relative_error(0.0, 0.0) == 0.0


STRIPES = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.y;
    float stripe = step(0.5, fract((uv.x) * 5.0));
    vec3 col = mix(vec3(0.1, 0.2, 0.3), vec3(0.9, 0.8, 0.7), stripe);
    fragColor = vec4(col, 1.0);
}"""
STRIPES_PARAMS = {"frequency": 5.0, "colours_dark": [0.1, 0.2, 0.3], "colours_light": [0.9, 0.8, 0.7]}


def test_parameter_distance_known_values():
    # readable: frequency and the six colour components (0.5 and 1.0 are not parameters here)
    exact = parameter_distance(STRIPES, STRIPES, STRIPES_PARAMS)
    assert (exact.readable, exact.found, exact.error) == (7, 7, 0.0)
    # frequency doubled: error 0.5 on one of seven found parameters
    doubled = parameter_distance(STRIPES.replace("* 5.0", "* 10.0"), STRIPES, STRIPES_PARAMS)
    assert (doubled.found, doubled.error) == (7, pytest.approx(0.5 / 7))
    # the light colour moved into another expression: its first two components lose their place (the six
    # tokens before the last one, "vec3 ( # , # ,", are unchanged, so it is still found)
    rewritten = STRIPES.replace("vec3(0.9, 0.8, 0.7), stripe", "stripe * vec3(0.9, 0.8, 0.7)")
    partial = parameter_distance(rewritten, STRIPES, STRIPES_PARAMS)
    assert (partial.readable, partial.found, partial.error) == (7, 5, 0.0)
    assert partial.found_fraction == pytest.approx(5 / 7)
    assert parameter_distance("", STRIPES, STRIPES_PARAMS).error is None


def test_parameter_distance_skips_values_written_twice():
    code = "void mainImage(out vec4 c, in vec2 p) { c = vec4(0.3, 0.3, 0.7, 1.0); }"
    distance = parameter_distance(code, code, {"a": 0.3, "b": 0.7})
    assert distance.readable == 1 and distance.found == 1


@pytest.mark.parametrize("family", ["stripes", "fbm", "sdf_scene", "fbm_terrain", "raymarched"])
def test_reference_against_itself_finds_every_readable_parameter(family):
    for level in FAMILIES[family].difficulties:
        sample = generate(family, 3, difficulty=level)
        distance = parameter_distance(sample.code, sample.code, sample.params)
        assert distance.readable > 0
        assert (distance.found, distance.error) == (distance.readable, 0.0)
