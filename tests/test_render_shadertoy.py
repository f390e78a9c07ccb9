"""The Shadertoy wrapper as text: preprocessing, loop bounding, line mapping, input checks."""

import re
from pathlib import Path

import pytest

from earthshader.render import preprocess as preprocessor
from earthshader.render.preprocess import PreprocessorError, needs_preprocessing, preprocess
from earthshader.render.shadertoy import (
    InvalidShaderInput,
    bound_loops,
    check_source,
    parse_compiler_log,
    prepare,
    strip_comments,
    wrapper_prefix,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

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


def test_declaration_conditions_keep_their_declaration():
    assert bound_loops("for (; bool b = f(i); ) {}") == "for (; bool b = (f(i)) && _esLoopGuard(); ) {}"
    assert bound_loops("while (bool b = i < 3) {}") == "while (bool b = (i < 3) && _esLoopGuard()) {}"
    # `const` would make the guarded initializer an error: dropped (the loop only reads it)
    assert bound_loops("while (const bool b = false) {}") == "while ( bool b = (false) && _esLoopGuard()) {}"
    assert bound_loops("while (a == b) {}") == "while ((a == b) && _esLoopGuard()) {}"


def test_rewrites_keep_every_newline():
    code = "void mainImage(out vec4 c, in vec2 p) {\n for (int i = 0;\n i < 3\n ;\n i++) {}\n" \
           " while (\n const\n bool b\n =\n true\n ) {}\n for (;\n;) {}\n if (c.x > 0.0) discard\n ;\n}"
    assert bound_loops(code).count("\n") == code.count("\n")
    shader = prepare(code, "es300")
    user = shader.source.splitlines()[shader.first_user_line - 1:]
    assert user[shader.user_line_count - 1] == "}" and user[shader.user_line_count].startswith("void _esImage")


def tokens(code: str) -> list[str]:
    return re.findall(r"\w+|\S", code)


def test_preprocessing_keeps_every_line_where_it_was():
    code = """#define SHADE(c, \\
    k) c * k
float f(float x) { return x; }
#if 0
#extension GL_NOT_AN_EXTENSION : require
float g() { return $; }
#else
float g() { return 1.0; }
#endif
vec3 col = SHADE(vec3(1.0),
                 0.5);
float w = 1.0\\
5; /* a comment
over two lines */ int n = __LINE__;"""
    out = preprocess(code, "es300").split("\n")
    assert len(out) == code.count("\n") + 1
    assert [tokens(line) for line in out[:9]] == [
        [], [], tokens("float f(float x) { return x; }"), [], [], [], [], tokens("float g() { return 1.0; }"), []]
    # a macro call over two lines is written on its last line; a continuation joins tokens
    assert tokens(out[9]) == tokens("vec3 col =") and tokens(out[10]) == tokens("vec3(1.0) * 0.5;")
    assert tokens(out[11]) == tokens("float w = 1.05") and tokens(out[12]) == [";"]
    assert tokens(out[13]) == tokens("int n = 14;")  # __LINE__ is the user's line


def test_prepare_maps_lines_of_macro_expanded_code_back_to_the_user():
    code = """#define SHADE(c, \\
    k) c * k
#define BAD undefinedThing
void mainImage(out vec4 o, in vec2 p)
{
    vec3 col = SHADE(vec3(1.0),
                     0.5);
    o = vec4(col, 1.0) + BAD;
}"""
    shader = prepare(code, "es300")
    lines = shader.source.splitlines()

    def user_line(n):
        return lines[shader.first_user_line + n - 2]
    assert "mainImage" in user_line(4) and "vec3(1.0)" in user_line(7) and "undefinedThing" in user_line(8)
    mesa = f"0:{shader.first_user_line + 7}(26): error: `undefinedThing' undeclared"
    assert [d.line for d in parse_compiler_log(mesa, shader)] == [8]


def test_prepare_guards_loops_that_macros_pasting_and_continuations_make():
    code = """#define REPEAT for
#define CAT(a, b) a##b
#define FOREVER (;;)
#define SUM(n, e) for (int i = 0; i < n; i++) { s += e; }
#define mainImage(c, p) for (;;) {} c = vec4(1.0)
void image(out vec4 c, in vec2 p) {
    float s = 0.0;
    REPEAT(;;) {}
    CAT(wh, ile)(true) {}
    for FOREVER {}
    SUM(4, max(float(i), 1.0))
    do {} CAT(whi, le)(s < 1.0);
    fo\\
r (;;) {}
}"""
    source = prepare(code, "es300").source
    headers = loop_headers(source)
    assert len(headers) == 7, headers  # six in image(), one from the golfed mainImage macro
    assert all("_esLoopGuard()" in header for header in headers), headers


def loop_headers(source: str) -> list[str]:
    """The parenthesised header of every for/while loop in `source`."""
    headers = []
    for match in re.finditer(r"\b(?:for|while)\s*\(", source):
        depth = 0
        for end in range(match.end() - 1, len(source)):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            if depth == 0:
                headers.append(source[match.end():end])
                break
    return headers


def test_no_user_name_or_macro_reaches_the_wrapper():
    code = """#define _esLoopGuard() true
#define ES_LOOP_LIMIT 1000000000
#define any(x) false
#define isnan(x) bvec4(false)
#define main notMain
int _esLoopCount = 0;
bool _es0LoopGuard() { return true; }
void mainImage(out vec4 c, in vec2 p) { for (;;) { _esLoopCount = 0; } }"""
    source = prepare(code, "es300").source
    assert "#define" not in source and "notMain" not in source
    assert "bool _es1LoopGuard()" in source and loop_headers(source) == ["; _es1LoopGuard();"]
    assert "any(isnan(c))" in source  # the wrapper's own measurement, untouched
    assert wrapper_prefix("float x;") == "_es" and wrapper_prefix("float _es, _es0x;") == "_es1"


def test_discard_spares_a_pixel_that_hit_the_loop_limit():
    for code in ["void mainImage(out vec4 c, in vec2 p) { if (p.x > 1.0) discard ; }",
                 "#define KILL discard\nvoid mainImage(out vec4 c, in vec2 p) { if (p.x > 1.0) KILL; }"]:
        source = " ".join(tokens(prepare(code, "es300").source))
        assert " ".join(tokens("if (p.x > 1.0) { if (_esLoopCount <= 32768) discard; }")) in source


def test_sources_without_preprocessor_features_skip_the_subprocess_and_lose_nothing(monkeypatch):
    plain = [(EXAMPLES / name).read_text() for name in ("sunset.glsl", "fbm_clouds.glsl")] + [
        "void mainImage(out vec4 c, in vec2 p) { /* # */ c = vec4(p.x * .5, 1e-3, 2., 1); } // \\ #"]
    assert [needs_preprocessing(code) for code in plain] == [False, False, True]  # a backslash
    for code in plain:
        expanded = preprocess(code, "es300")
        through_glslang = preprocess("#define FORCE_THE_PREPROCESSOR\n" + code, "es300")
        assert tokens(expanded) == tokens(through_glslang)
        assert expanded.count("\n") == through_glslang.count("\n") - 1
    for feature in ("#define X 1", "int v = __VERSION__;", "int h = HW_PERFORMANCE;", "bool e = GL_ES;",
                    "float a; /* unclosed", "int a = 1\\\n2;"):
        assert needs_preprocessing(feature), feature


@pytest.mark.parametrize("code, line, words", [
    ("int a;\n\n#error stop here\n", 3, "stop here"),
    ("#define F(a) a\nint x = F(1, 2);", 2, "Too many args"),
    ("#if 1\nint a;", 2, "missing #endif"),
    ("int a;\n#endif", 2, "#endif"),
    ("int a; /* never closed\nint b;", 1, "comment"),
])
def test_preprocessor_errors_name_the_users_line(code, line, words):
    with pytest.raises(PreprocessorError) as caught:
        preprocess(code, "es300")
    errors = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert errors[0].line == line and words in errors[0].message, errors


def test_preprocessor_errors_in_the_call_of_main_image_name_the_last_user_line():
    with pytest.raises(PreprocessorError) as caught:
        prepare("#define mainImage(c) c = vec4(1.0)\nvoid f() {}", "es300")
    assert caught.value.diagnostics[0].line == 2 and "mainImage" in caught.value.diagnostics[0].message


def test_a_macro_that_expands_without_end_is_stopped(monkeypatch):
    monkeypatch.setattr(preprocessor, "CPU_SECONDS", 1)
    bomb = "\n".join(["#define A0 x x", *[f"#define A{i} A{i - 1} A{i - 1}" for i in range(1, 40)], "int y = A39;"])
    with pytest.raises(PreprocessorError, match="limits|ran past") as caught:
        prepare(bomb + "\nvoid mainImage(out vec4 c, in vec2 p) {}", "es300")
    assert caught.value.stopped and caught.value.diagnostics[0].line is None
    with pytest.raises(PreprocessorError) as caught:
        preprocess("#error no", "es300")
    assert not caught.value.stopped


def test_a_missing_preprocessor_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(preprocessor.GLSLANG_ENV, "no-such-glslangValidator")
    preprocessor._glslang_path.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="apt-get install glslang-tools"):
            preprocess("#define N 1\nint a = N;", "es300")
        assert preprocess("int a = 1;", "es300") == "int a = 1;"  # nothing to expand, nothing run
    finally:
        monkeypatch.undo()
        preprocessor._glslang_path.cache_clear()
