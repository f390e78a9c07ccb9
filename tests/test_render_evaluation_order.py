"""Reads around an assignment inside an expression: pinned left to right, as browsers evaluate them."""

import numpy as np

from earthshader.render.evaluation_order import pin_evaluation_order, unsequenced_reads

PIN = "(_esPin ? {0} : {0})"


def test_reads_left_of_an_embedded_assignment_are_pinned():
    assert pin_evaluation_order("c = length(f+f-(f=R));") == \
        f"c = length({PIN.format('f')}+{PIN.format('f')}-(f=R));"
    assert pin_evaluation_order("d = 1.+cos(p.y)-length(p=2.*p);") == f"d = 1.+cos({PIN.format('p')}.y)-length(p=2.*p);"
    assert pin_evaluation_order("x = a * (a *= 2.);") == f"x = {PIN.format('a')} * (a *= 2.);"
    assert pin_evaluation_order("x = i + v[i++];") == f"x = {PIN.format('i')} + v[i++];"


def test_well_defined_or_unaffected_code_is_untouched():
    for code in [
        "u = (u+u-(R=iResolution.xy))/R.y;",          # R read only after it is set
        "c = length(f+f-(c.xy=R))/c.y;",               # the statement's own target is not a read
        "if (d = map(p), p += d*r, abs(d) < .001) {}",  # the comma operator is a sequence point
        "x = a > 0. && (a = 2.) > 1.;",                # and so is &&
        "for (float i = 0., e; i++ < 9.; O += e) e = i;",  # a for header's own clauses
        "vec2 a = v, b = (v = w) + v;",                # declarators are sequenced
        "x = v[0] + (v[1] = 2.);",                     # an array cannot be a conditional's operand
        "#define H(p) p\nx = H + (H = 2.);",           # a name Mesa's preprocessor chokes on as (H)
    ]:
        assert pin_evaluation_order(code) == code, code


def test_line_breaks_and_macro_bodies():
    code = "#define N(p) ( q = p, f + (f = q) )\nx = f\n + (f = 1.);"
    pinned = pin_evaluation_order(code)
    assert pinned.count("\n") == code.count("\n")
    assert [name for name, _ in unsequenced_reads(code)] == ["f", "f"]  # one in the macro, one below


def test_mesa_renders_the_browsers_order(render_pool):
    # With the new value everywhere, length(f+f-(f=R)) is |R| at every pixel: one flat colour.
    code = "void mainImage(out vec4 O, vec2 f) { O = vec4(length(f+f-(f=iResolution.xy)) / 256.0); }"
    result = render_pool.render(code, 64, 64)
    assert result.ok, result.error
    column = result.image[:, :, 0].astype(float).mean(axis=0)
    expected = np.array([np.hypot(2 * (x + 0.5) - 64, 2 * (32 - 0.5) - 64) for x in range(64)]) / 256 * 255
    assert abs(column[0] - column[32]) > 20  # not flat
    assert np.abs(result.image[31, :, 0] - expected).max() <= 1.5
