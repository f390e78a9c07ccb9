"""The sandbox's guard, adversarially, on a real EGL context: what user code may try against it.

Each case is something a user (or a model) can write; the promise under test is that no such
source renders `ok` with an endless loop, hides a NaN from the count, or is refused when
shadertoy.com would compile it.
"""

import numpy as np
import pytest

from earthshader.render import preprocess as preprocessor
from earthshader.render.gl import RenderTask, ShaderRenderer, create_gl_context

MAIN = "void mainImage(out vec4 c, in vec2 p)"
ENDLESS = "float s = 0.0; for (;;) { s += 1.0; }"


@pytest.fixture(scope="module")
def renderer():
    renderer = ShaderRenderer(create_gl_context())
    yield renderer
    assert renderer.ctx.error == "GL_NO_ERROR"
    renderer.release()


def render(renderer, code, width=4, height=2):
    result = renderer.render(RenderTask(code, width, height))
    assert renderer.ctx.error == "GL_NO_ERROR"
    return result


# -- every loop is guarded, whatever the preprocessor makes of it -----------------------------
@pytest.mark.parametrize("code", [
    f"#define REPEAT for\n{MAIN} {{ REPEAT(;;) {{}} c = vec4(1.0); }}",
    f"#define CAT(a, b) a##b\n{MAIN} {{ CAT(wh, ile)(true) {{}} c = vec4(1.0); }}",
    f"#define FOREVER (;;)\n{MAIN} {{ for FOREVER {{}} c = vec4(1.0); }}",
    f"#define W while\n{MAIN} {{ float s = 0.0; do {{ s += 1.0; }} W(s > -1.0); c = vec4(s); }}",
    f"{MAIN} {{ fo\\\nr (;;) {{}} c = vec4(1.0); }}",
    f"{MAIN} {{ for (int i = 0; \\\n i >= 0; i++) {{}} c = vec4(1.0); }}",
    f"#define LOOP(n, body) for (int i = 0; i < n; i++) {{ body; }}\n"
    f"{MAIN} {{ float s = 0.0; LOOP(1 << 30, s += max(1.0, 2.0)) c = vec4(s); }}",
    f"#ifdef GL_ES\n#define SPIN for (;;) {{}}\n#endif\nvoid f() {{ SPIN }}\n{MAIN} {{ f(); c = vec4(1.0); }}",
    f"#define mainImage(O, U) for (;;) {{}} O = vec4(1.0)\n{MAIN.replace('mainImage', 'unused')} {{}}",
    f"#define mainImage(O, U) for (;;) {{}} return\n{MAIN.replace('mainImage', 'unused')} {{}}",
])
def test_loops_made_by_the_preprocessor_are_guarded(renderer, code):
    result = render(renderer, code)
    assert not result.ok and result.error.kind == "loop_limit", (result.error, code)


@pytest.mark.parametrize("code", [
    f"#define _esLoopGuard() true\n{MAIN} {{ {ENDLESS} c = vec4(s); }}",
    f"#define ES_LOOP_LIMIT 1000000000\n{MAIN} {{ {ENDLESS} c = vec4(s); }}",
    f"#define _esLoopCount _esLoopCount = 0\n{MAIN} {{ {ENDLESS} c = vec4(s); }}",
    f"int _esLoopCount = 0;\nbool _esLoopGuard() {{ return true; }}\n"
    f"{MAIN} {{ float s = 0.0; for (;;) {{ _esLoopCount = 0; s += 1.0; }} c = vec4(s); }}",
    f"#define RESET(name) _es##name = 0\n{MAIN} {{ float s = 0.0; for (;;) {{ RESET(LoopCount); }} c = vec4(s); }}",
    f"#define RESET(name) _es##name = 0\nint _es0LoopCount;\n"
    f"{MAIN} {{ float s = 0.0; for (;;) {{ RESET(LoopCount); RESET(0LoopCount); }} c = vec4(s); }}",
    f"#define mainImage(O, U) _esLoopCount = 0; O = vec4(1.0)\nvoid f() {{ {ENDLESS} }}\n"
    f"{MAIN.replace('mainImage', 'unused')} {{}}",
])
def test_user_code_cannot_reach_the_guards_names(renderer, code):
    result = render(renderer, code)
    assert not result.ok and result.error.kind in ("loop_limit", "compile"), (result.error, code)


@pytest.mark.parametrize("code", [
    f"{MAIN} {{ {ENDLESS} c = vec4(s); discard; }}",
    f"void kill() {{ discard; }}\n{MAIN} {{ {ENDLESS} c = vec4(s); if (p.x > 0.0) kill(); }}",
    f"#define DROP discard\n{MAIN} {{ {ENDLESS} c = vec4(s); DROP; }}",
    f"{MAIN} {{ if (p.x < 2.0) {{ {ENDLESS} c = vec4(s); }} else discard; }}",
])
def test_a_pixel_that_hit_the_limit_reports_it_even_if_discarded(renderer, code):
    result = render(renderer, code)
    assert not result.ok and result.error.kind == "loop_limit", (result.error, code)


def test_discard_without_a_runaway_loop_still_discards(renderer):
    result = render(renderer, f"{MAIN} {{ if (p.x < 2.0) discard; c = vec4(1.0); }}")
    assert result.ok and result.image[0].tolist() == [[0, 0, 0]] * 2 + [[255, 255, 255]] * 2


def test_a_golfed_return_or_brace_in_the_main_image_macro_cannot_skip_the_measurement(renderer):
    hijack = "#define mainImage(O, U) O = vec4(0.0 / 0.0); }} void hijack(inout vec4 O) {{ return\n"
    result = render(renderer, hijack.format() + "void unused() {}")
    assert result.ok and result.nonfinite_fraction == 1.0
    assert render(renderer, hijack.format().replace("O = ", f"{ENDLESS} O = ") + "void f() {}").error_kind == \
        "loop_limit"


# -- nothing the user defines changes what the wrapper measures --------------------------------
NAN = "c = vec4(sqrt(-1.0 - p.x), 0.5, 0.5, 1.0);"


@pytest.mark.parametrize("prefix", [
    "#define any(x) false\n", "#define isnan(x) bvec4(false)\n", "#define isinf(x) bvec4(false)\n",
    "#define mix(a, b, t) a\n", "#define vec3(x) x\n", "#define main neverCalled\n",
    "#define _esFinish(x)\n", "#define _esColor unusedColor\n", "#undef gl_FragCoord\n",
    "#define bool int\n", "#define true false\n",
])
def test_user_macros_do_not_change_the_nan_count(renderer, prefix):
    result = render(renderer, f"{prefix}{MAIN} {{ {NAN} }}")
    assert result.ok, result.error
    assert result.nonfinite_fraction == 1.0 and result.image[0, 0].tolist() == [0, 128, 128]


@pytest.mark.parametrize("overload", [
    "bool any(bvec4 b) { return false; }\nbool any(bvec3 b) { return false; }\n",
    "bvec4 isnan(vec4 v) { return bvec4(false); }\nbvec3 isnan(vec3 v) { return bvec3(false); }\n",
    "bvec4 isinf(vec4 v) { return bvec4(false); }\n",
    "vec3 mix(vec3 a, vec3 b, bvec3 t) { return a; }\n",
])
def test_user_overloads_of_built_ins_do_not_change_the_nan_count(renderer, overload):
    # GLSL ES refuses to overload built-ins; desktop GLSL (the fallback) accepts it
    result = render(renderer, f"{overload}{MAIN} {{ float one = 1; {NAN} }}")
    assert result.ok and result.dialect == "glsl330", result.error
    assert result.nonfinite_fraction == 1.0 and result.image[0, 0].tolist() == [0, 128, 128]


def test_user_alpha_and_outputs_do_not_reach_the_wrapper(renderer):
    assert render(renderer, f"{MAIN} {{ c = vec4(1.0, 1.0, 1.0, 0.0); }}").image.min() == 255
    # a second output of the user's own is given a free location, never the flags'
    result = render(renderer, f"out vec4 spoof;\n{MAIN} {{ {ENDLESS} spoof = vec4(0.0); c = vec4(s); }}")
    assert result.error_kind == "loop_limit"


# -- valid GLSL is accepted --------------------------------------------------------------------
@pytest.mark.parametrize("body, expected", [
    ("int i = 0; float s = 0.0; for (; bool b = i < 3; ) { i++; s += 0.25; } c = vec4(s);", 191),
    ("int i = 0; float s = 0.0; while (bool b = i < 2) { i++; s += 0.25; } c = vec4(s);", 128),
    ("float s = 0.0; for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) { s += 0.25; } c = vec4(s);", 255),
    ("float s = 0.0; int i = 0; do { s += 0.5; } while (++i < 2 && bool(i)); c = vec4(s);", 255),
])
def test_valid_loops_render_as_written(renderer, body, expected):
    result = render(renderer, f"{MAIN} {{ {body} }}")
    assert result.ok, result.error
    assert result.image[0, 0, 0] == expected


def test_loops_in_macros_with_commas_render_as_written(renderer):
    code = ("#define SUM(n, e) for (int i = 0; i < n; i++) { s += e; }\n"
            f"{MAIN} {{ float s = 0.0; SUM(4, min(float(i), 1.0) * 0.125) c = vec4(s); }}")
    result = render(renderer, code)
    assert result.ok and result.image[0, 0, 0] == round(0.375 * 255)


@pytest.mark.parametrize("prefix", [
    "#if 0\n#extension GL_NOT_AN_EXTENSION : require\n#endif\n",
    "#ifdef GL_ES\n#extension GL_OES_standard_derivatives : enable\n#endif\n",
    "#if __VERSION__ < 300\n#error an old GLSL\n#endif\n",
    "#if HW_PERFORMANCE == 1\n#define COLOUR vec4(1.0)\n#endif\n",
])
def test_conditional_directives_are_respected(renderer, prefix):
    body = "c = COLOUR;" if "COLOUR" in prefix else "c = vec4(1.0);"
    result = render(renderer, f"{prefix}{MAIN} {{ {body} }}")
    assert result.ok and result.dialect == "es300", result.error
    assert result.image.min() == 255


def test_a_shader_ported_with_gl_macros_renders(renderer):
    code = ("#define gl_FragCoord fragCoord\n#define gl_FragColor fragColor\n"
            "void mainImage(out vec4 fragColor, in vec2 fragCoord) { gl_FragColor = vec4(gl_FragCoord.x < 2.0); }")
    result = render(renderer, code)
    assert result.ok, result.error
    assert result.image[0, :, 0].tolist() == [255, 255, 0, 0]


def test_a_golfed_main_image_macro_renders_as_on_shadertoy(renderer):
    result = render(renderer, "#define mainImage(O, U) O = vec4(U.x < 2.0 ? 1.0 : 0.0)\n")
    assert result.ok, result.error
    assert result.image[0, :, 0].tolist() == [255, 255, 0, 0]


# -- preprocessor refusals are compile results on the user's line ------------------------------
@pytest.mark.parametrize("code, line", [
    (f"{MAIN}\n{{\n#error not on this platform\n}}", 3),
    (f"{MAIN} {{ c = vec4(1.0); }}\n#if 1 +\n#endif", 2),
    (f"#define F(a) a\n{MAIN} {{\n  c = vec4(F(1.0, 2.0));\n}}", 3),
    (f"{MAIN} {{ c = vec4(1.0); }}\n#if 1\n", 2),
])
def test_a_preprocessor_refusal_is_a_compile_result_on_the_users_line(renderer, code, line):
    result = render(renderer, code)
    assert not result.ok and result.error.kind == "compile"
    assert [d.line for d in result.diagnostics if d.severity == "error"][0] in (line, line + 1)


def test_compiler_errors_in_macro_expanded_code_name_the_users_line(renderer):
    code = ("#define SHADE(c, \\\n    k) c * k\n#define BAD undefinedThing\n"
            f"{MAIN}\n{{\n    vec3 col = SHADE(vec3(1.0),\n                     0.5);\n"
            "    c = vec4(col, 1.0) + BAD;\n}")
    result = render(renderer, code)
    assert result.error_kind == "compile"
    assert result.diagnostics[0].line == 8 and "undefinedThing" in result.diagnostics[0].message


def test_the_renderer_refuses_to_start_without_the_preprocessor(renderer, monkeypatch):
    monkeypatch.setenv(preprocessor.GLSLANG_ENV, "no-such-glslangValidator")
    preprocessor._glslang_path.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="glslang-tools"):
            ShaderRenderer(renderer.ctx)
    finally:
        monkeypatch.undo()
        preprocessor._glslang_path.cache_clear()
    assert np.asarray(render(renderer, f"#define W 1.0\n{MAIN} {{ c = vec4(W); }}").image).min() == 255


def test_through_the_pool_every_class_gets_a_defined_result(render_pool):
    codes = [f"#define REPEAT for\n{MAIN} {{ REPEAT(;;) {{}} c = vec4(1.0); }}",
             f"{MAIN} {{\n#error refused\n}}",
             f"#define any(x) false\n{MAIN} {{ {NAN} }}",
             f"#if 0\n#extension GL_NOT_AN_EXTENSION : require\n#endif\n{MAIN} {{ c = vec4(1.0); }}"]
    results = render_pool.render_many(codes, width=8, height=8)
    assert [r.error_kind for r in results] == ["loop_limit", "compile", None, None]
    assert results[1].diagnostics[0].line == 2 and results[2].nonfinite_fraction == 1.0


def test_a_macro_that_expands_without_end_is_a_compile_result_tried_once(renderer, monkeypatch):
    monkeypatch.setattr(preprocessor, "CPU_SECONDS", 1)
    runs = []
    real_run = preprocessor._run_glslang
    monkeypatch.setattr(preprocessor, "_run_glslang", lambda source: runs.append(1) or real_run(source))
    bomb = "\n".join(["#define A0 x x", *[f"#define A{i} A{i - 1} A{i - 1}" for i in range(1, 40)]])
    result = render(renderer, f"{bomb}\n{MAIN} {{ c = vec4(A39); }}")
    assert result.error_kind == "compile" and "limits" in result.error.message
    assert len(runs) == 1  # the desktop fallback would be stopped too: not tried
