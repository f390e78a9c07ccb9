"""The Shadertoy wrapper as text: loop bounding, comment stripping, line mapping, input checks."""

import pytest

from earthshader.render.shadertoy import (
    InvalidShaderInput, bound_loops, check_source, parse_compiler_log, prepare, strip_comments)

MAIN = "void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }"


def test_for_loops_get_the_guard_in_their_condition():
    assert bound_loops("for (int i = 0; i < 4; i++) {}") == \
        "for (int i = 0; (i < 4) && _esLoopGuard(); i++) {}"
    assert bound_loops("for(;;){}") == "for(; _esLoopGuard();){}"


def test_while_and_do_while_loops_get_the_guard():
    assert bound_loops("while (x > f(1.0, 2.0)) {}") == "while ((x > f(1.0, 2.0)) && _esLoopGuard()) {}"
    assert bound_loops("do { x++; } while (x < 3);") == "do { x++; } while ((x < 3) && _esLoopGuard());"


def test_nested_and_macro_loops_are_all_guarded():
    code = "#define REP(n) for (int k = 0; k < n; k++)\nfor (int i = 0; i < 3; i++) { while (true) {} }"
    guarded = bound_loops(code)
    assert guarded.count("_esLoopGuard()") == 3
    assert guarded.count("\n") == code.count("\n")


def test_identifiers_containing_loop_keywords_are_untouched():
    code = "float forward(float x) { return x; } float meanwhile(float y) { return y; }"
    assert bound_loops(code) == code


def test_comments_are_blanked_but_lines_kept():
    code = "a // for(;;)\n/* while(true)\n */ b"
    stripped = strip_comments(code)
    assert "for" not in stripped and "while" not in stripped
    assert stripped.count("\n") == 2 and stripped.endswith(" b")


def test_prepare_maps_compiler_lines_back_to_user_lines():
    user = "#version 300 es\nprecision mediump float;\n" + MAIN
    shader = prepare(user, "es300")
    assert shader.source.startswith("#version 300 es\n")
    source_lines = shader.source.splitlines()
    assert "mainImage" in source_lines[shader.first_user_line + 2 - 1]  # the user's line 3
    assert "#version" not in "\n".join(source_lines[1:])
    mesa = f"0:{shader.first_user_line + 2}(7): error: `foo' undeclared"
    nvidia = f"0({shader.first_user_line + 2}) : error C1008: undefined variable \"foo\""
    wrapper = f"0:{shader.first_user_line + 50}(1): error: in main"
    lines = [d.line for d in parse_compiler_log("\n".join([mesa, nvidia, wrapper]), shader)]
    assert lines == [3, 3, None]


def test_extension_lines_move_above_the_header():
    shader = prepare("#extension GL_OES_standard_derivatives : enable\n" + MAIN, "es300")
    lines = shader.source.splitlines()
    assert lines[1] == "#extension GL_OES_standard_derivatives : enable"
    assert "#extension" not in "\n".join(lines[2:])


@pytest.mark.parametrize("bad, reason", [
    ("", "empty"), ("   \n", "empty"), (b"\xff\xfe\x00", "UTF-8"), ("\x00\x01" * 50 + MAIN, "binary"),
    ("x" * 300_000 + MAIN, "bytes"), ("void main() {}", "mainImage"), (42, "string"),
    ('#include "common.glsl"\n' + MAIN, "#include"), ("// void mainImage(\nvoid f() {}", "mainImage"),
])
def test_check_source_rejects_what_no_compiler_should_see(bad, reason):
    with pytest.raises(InvalidShaderInput, match=reason):
        check_source(bad)
