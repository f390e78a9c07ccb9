"""The cross-check's cause detectors (benchmarks/crosscheck_causes.py) on hand-written sources."""

import runpy
from pathlib import Path

CAUSES = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks" / "crosscheck_causes.py"))


def test_comma_side_effects_are_found_only_in_comma_operators():
    found = CAUSES["comma_side_effects"]
    assert found("void f() { for (int j = 0; j < 4; j++) p.xy = abs(p.xy), p -= n; }")
    assert found("void f() { if (c) { m.x = 400.0, m.y = 420.0; } }")
    assert found("void f() { for (int j = 0; j < n; j++, k = k + 1) {} }")
    assert not found("void f() { vec3 p = a, q = b; float e, g = 0.; }")   # declarators
    assert not found("void f() { x = mix(a = 1., b, c); o = vec2(i++, 2); }")  # call arguments
    assert not found("void f() { x = (a, b); }")  # no side effect is dropped


def test_causes_in_order_of_specificity():
    causes = CAUSES["causes"]
    assert causes("void mainImage(out vec4 O, vec2 u) { O = vec4(gl_FragCoord.y / iResolution.y); }") == \
        ["gl_fragcoord"]
    assert causes("void mainImage(out vec4 O, vec2 f) { O.x = length(f+f-(f=iResolution.xy)); }") == \
        ["evaluation_order"]
    assert causes("void mainImage(out vec4 O, vec2 u) { int k = int(u.x) % 3; O = vec4(iDate.w); }") == \
        ["integer_ops", "idate"]
    assert causes("void mainImage(out vec4 O, vec2 u) { O = vec4(0); }") == []
