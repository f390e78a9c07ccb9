"""Literal lifting as text: which literals become uniforms, how definitions are converted, write-back.

Whether the lifted shaders render like the originals is checked in test_refine.py (needs GL).
"""

from __future__ import annotations

import pytest

from earthshader.glsl.literals import lift_literals, significant_digits


def lifted_texts(source: str, **options) -> list[str]:
    return [lit.text for lit in lift_literals(source, **options).literals]


def wrap(body: str) -> str:
    return "void mainImage(out vec4 o, in vec2 p) {\n" + body + "\n}\n"


def test_float_forms_are_lifted_with_their_values():
    lifted = lift_literals(wrap("o = vec4(1.5, .5, 2., 1e-3) * 1.5e+2 * 2.5f;"))
    assert [lit.text for lit in lifted.literals] == ["1.5", ".5", "2.", "1e-3", "1.5e+2", "2.5f"]
    assert lifted.values == [1.5, 0.5, 2.0, 0.001, 150.0, 2.5]
    assert lifted.code == wrap("o = vec4(_k0, _k1, _k2, _k3) * _k4 * _k5;")
    assert lifted.declarations == "uniform float _k0, _k1, _k2, _k3, _k4, _k5;"
    assert lifted.uniforms() == {"_k0": 1.5, "_k1": 0.5, "_k2": 2.0, "_k3": 0.001, "_k4": 150.0, "_k5": 2.5}


def test_integers_zeros_and_precise_constants_stay():
    source = wrap("int i = 3; uint u = 2u; int h = 0x1F; float z = 0.0;\n"
                  "o = vec4(fract(sin(p.x * 12.9898) * 43758.5453), 3.14159, 0.25, 1);")
    assert lifted_texts(source) == ["0.25"]
    assert lift_literals(source).kept == 4
    assert lifted_texts(source, zeros=True, max_digits=None) == ["0.0", "12.9898", "43758.5453", "3.14159", "0.25"]


def test_loop_headers_array_sizes_and_case_labels_stay():
    source = wrap("float a[int(3.0)];\n"
                  "for (float t = 0.5; t < 20.5; t += 1.5) o += 0.1;\n"
                  "while (o.x < 4.5) o.x += 0.2;\n"
                  "switch (int(p.x)) { case 1: o.y = 0.3; }")
    assert lifted_texts(source) == ["0.1", "0.2", "0.3"]


def test_integral_pow_exponents_stay_but_fractional_ones_move():
    assert lifted_texts(wrap("o = vec4(pow(p.x, 2.0) + pow(p.y, vec2(4.)).x + pow(p.x, 2.2));")) == ["2.2"]


def test_local_const_loses_const_and_keeps_line_count():
    source = wrap("const float k = 0.5;\nconst int n = 4;\no = vec4(k);")
    lifted = lift_literals(source)
    assert "float k = _k0;" in lifted.code and "const float k" not in lifted.code
    assert "const int n = 4;" in lifted.code
    assert lifted.code.count("\n") == source.count("\n")


def test_global_initialisers_move_into_main_image():
    source = ("const vec3 COL = vec3(0.2, 0.4, 1.5), DARK = COL * 0.5;\n"
              "float gain = 1.25;\n"
              "const int N = 3;\n"
              "void mainImage(out vec4 o, in vec2 p) {\n  o = vec4(COL * gain, 1.);\n}\n")
    lifted = lift_literals(source)
    lines = lifted.code.splitlines()
    assert lines[0] == "vec3 COL, DARK;"
    assert lines[1] == "float gain;"
    assert lines[2] == "const int N = 3;"
    assert lines[3] == ("void _kInit() { COL = vec3 ( _k0 , _k1 , _k2 ); DARK = COL * _k3; gain = _k4; } "
                        "void mainImage(out vec4 o, in vec2 p) { _kInit();")
    assert len(lines) == len(source.splitlines())
    assert [lit.where for lit in lifted.literals] == ["global"] * 5 + ["body"]


def test_unsized_global_arrays_keep_their_initialiser():
    source = "vec3[] COLS = vec3[](vec3(0.5), vec3(0.25));\nfloat w[] = float[](0.5, 0.75);\n" + wrap("o = vec4(COLS[1], w[0]);")
    assert lifted_texts(source) == []


def test_globals_after_main_image_stay():
    source = wrap("o = vec4(late);") + "const float late = 0.5;\n"
    assert lifted_texts(source) == []


def test_a_name_used_as_array_size_blocks_its_definition_and_dependencies():
    source = ("#define SCALE 2.5\n"
              "const float SIZE = SCALE * 1.5;\n"
              "const float OTHER = 0.75;\n"
              "float table[int(SIZE)];\n" + wrap("o = vec4(OTHER);"))
    assert lifted_texts(source) == ["0.75"]


def test_macros_are_lifted_unless_needed_by_the_preprocessor_or_redefined():
    source = ("#define GAIN 1.5\n#define LEVEL 2.5\n#if LEVEL > 2\n#endif\n"
              "#define TWICE 0.5\n#define TWICE 0.5\n" + wrap("o = vec4(GAIN * LEVEL * TWICE);"))
    lifted = lift_literals(source)
    assert [(lit.text, lit.where) for lit in lifted.literals] == [("1.5", "macro")]
    assert lifted.code.startswith("#define GAIN _k0\n")
    assert lifted_texts(source, macros=False) == []


def test_unary_minus_joins_the_literal_and_write_back_keeps_the_expression_valid():
    source = wrap("o = vec4(p.x*-0.5, p.y-0.5, -1.5, 1.);\nreturn-1.5;")
    lifted = lift_literals(source)
    assert [(lit.text, lit.value, lit.negated) for lit in lifted.literals] == [
        ("-0.5", -0.5, True), ("0.5", 0.5, False), ("-1.5", -1.5, True), ("1.", 1.0, False), ("-1.5", -1.5, True)]
    assert "return _k4;" in lifted.code
    written = lifted.write_back([0.25, -0.2, 2.0, 1.0, 2.0])
    assert "p.x*0.25" in written and "p.y-(-0.2)" in written and "vec4(p.x*0.25, p.y-(-0.2), 2.0, 1.)" in written
    assert "return 2.0;" in written


def test_write_back_of_unchanged_values_is_the_original_text():
    source = wrap("o = vec4(.5, 1.000, 2.50f, 1e-3);")
    lifted = lift_literals(source)
    assert lifted.write_back(lifted.values) == source
    assert lifted.write_back([0.123456, 1.0, 3.0, 1e-5], digits=3) == wrap("o = vec4(0.123, 1.000, 3.0f, 1e-5);")


def test_uniform_prefix_avoids_user_names():
    lifted = lift_literals(wrap("float _k0 = 0.5; o = vec4(_k0);"))
    assert lifted.names == ["_kk0"]
    assert "float _k0 = _kk0;" in lifted.code


def test_comments_and_other_directives_are_untouched():
    source = "// gain 0.5\n#pragma optimize(on)\n/* 1.5 */\n" + wrap("o = vec4(0.25); // 2.5")
    lifted = lift_literals(source)
    assert lifted_texts(source) == ["0.25"]
    assert lifted.code.startswith("// gain 0.5\n#pragma optimize(on)\n/* 1.5 */\n")


def test_exclude_lines_and_max_literals():
    source = wrap("o.x = 0.5;\no.y = 0.25;\no.z = 0.75;")
    assert lifted_texts(source, exclude_lines={3}) == ["0.5", "0.75"]
    assert lifted_texts(source, max_literals=2) == ["0.5", "0.25"]


def test_no_literals_gives_an_empty_lift():
    source = wrap("o = vec4(1);")
    lifted = lift_literals(source)
    assert lifted.literals == [] and lifted.code == source and lifted.declarations == ""
    with pytest.raises(ValueError, match="got 1 values for 0"):
        lifted.write_back([1.0])


@pytest.mark.parametrize("text, digits", [("0.250", 2), ("43758.5453", 9), ("1e-3", 1), ("100.", 1), (".05", 1)])
def test_significant_digits(text, digits):
    assert significant_digits(text) == digits
