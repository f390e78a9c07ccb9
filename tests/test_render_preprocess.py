"""The GLSL preprocessor step: batches give what single runs give, and empty macro arguments.

A batch is one glslang run for many sources; nothing about it may show in a result: not a
refusal beside it, not a macro of another source, not a line that looks like its markers.
"""

import pytest

from earthshader.render import preprocess as preprocessor
from earthshader.render import shadertoy

MAIN = "void mainImage(out vec4 c, in vec2 p)"
BOMB = "\n".join(["#define A0 x x", *[f"#define A{i} A{i - 1} A{i - 1}" for i in range(1, 40)]])

MIXED = [
    "#define N 2\nint n = N;",
    "int a;\n#error refused here",
    "void f() { for (;;) {} }  // plain: no preprocessor",
    "#if 0\n#extension GL_NOT_AN_EXTENSION : require\n#endif\nint x;",
    "#define F(a) a\nint y = F(1, 2);",
    "#define SHADE(c, \\\n  k) c * k\nvec3 v = SHADE(vec3(1.0),\n  0.5);",
    "int z = X;  // X is another source's macro\n#pragma earthshader_end_0 0\n#line 7",
    "#define X 5\nint w = X + __LINE__;",
]


def outcome(result):
    if isinstance(result, preprocessor.PreprocessorError):
        return "refused", [(d.line, d.message) for d in result.diagnostics if d.severity == "error"]
    return "expanded", result


def test_a_batch_gives_what_each_source_gives_alone():
    alone = []
    for code in MIXED:
        try:
            alone.append(outcome(preprocessor.preprocess(code, "es300")))
        except preprocessor.PreprocessorError as err:
            alone.append(outcome(err))
    batch = [outcome(r) for r in preprocessor.preprocess_many(MIXED, "es300")]
    assert batch == alone
    assert [kind for kind, _ in batch] == ["expanded", "refused", "expanded", "expanded", "refused",
                                           "expanded", "expanded", "expanded"]
    assert batch[1][1][0][0] == 2 and batch[4][1][0][0] == 2  # each refusal on its own source's line
    assert "int z = X;" in batch[6][1] and batch[6][1].count("\n") == 2  # no macro from source 7
    assert batch[7][1].split("\n")[1].split() == ["int", "w", "=", "5", "+", "2;"]


def test_a_batch_is_one_preprocessor_run(monkeypatch):
    runs = []
    real_run = preprocessor._run_glslang
    monkeypatch.setattr(preprocessor, "_run_glslang", lambda sources: runs.append(len(sources)) or real_run(sources))
    codes = [f"#define V {i}\nint v = V;" for i in range(preprocessor.BATCH_SIZE + 3)]
    results = preprocessor.preprocess_many(codes + ["int plain;"], "es300")
    assert runs == [preprocessor.BATCH_SIZE, 3]
    assert [r.split("\n")[1] for r in results[:-1]] == [f"int v = {i};" for i in range(len(codes))]


def test_a_source_that_expands_without_end_fails_alone(monkeypatch):
    monkeypatch.setattr(preprocessor, "CPU_SECONDS", 1)
    codes = ["#define N 1\nint n = N;", f"{BOMB}\nint b = A39;", "#define M 2\nint m = M;"]
    first, bomb, last = preprocessor.preprocess_many(codes, "es300")
    assert first.split("\n")[1] == "int n = 1;" and last.split("\n")[1] == "int m = 2;"
    assert isinstance(bomb, preprocessor.PreprocessorError) and bomb.stopped
    skipped = preprocessor.preprocess_many(codes, "es300", alone_when_stopped=False)
    assert all(isinstance(r, preprocessor.PreprocessorError) and r.stopped for r in skipped)


@pytest.mark.parametrize("code, expected", [
    ("#define P(n) vec2(n - 1.0)\nvec2 a = P(), b = P(2.0);", "vec2 a = vec2(- 1.0), b = vec2(2.0 - 1.0);"),
    ("#define P( n ) (n + 1)\nint a = P( );", "int a =(+ 1);"),
    ("#define P(n) (n 1.0)\n#define R P()\nfloat a = R;", "float a = (1.0);"),
])
def test_an_empty_argument_to_a_one_parameter_macro_is_empty(code, expected):
    # C, Mesa and browsers accept these; glslang alone refuses them
    assert "".join(preprocessor.preprocess(code, "es300").split("\n")[-1].split()) == "".join(expected.split())


@pytest.mark.parametrize("code", [
    "#define P(a, b) a\nint x = P();",  # two parameters: too few, for everyone
    "#define P(n) n\n#define CALL(f) f()\nint x = CALL(P);",  # the call is written by a macro
])
def test_other_too_few_arguments_stay_refused(code):
    with pytest.raises(preprocessor.PreprocessorError, match="Too few args"):
        preprocessor.preprocess(code, "es300")


def test_the_pool_preprocesses_a_batch_in_one_run_and_renders_as_alone(render_pool, monkeypatch):
    runs = []
    real_run = preprocessor._run_glslang
    monkeypatch.setattr(preprocessor, "_run_glslang", lambda sources: runs.append(len(sources)) or real_run(sources))
    codes = [f"#define V {i / 4:.2f}\n{MAIN} {{ c = vec4(V); }}" for i in range(4)]
    codes += [f"{MAIN} {{\n#error refused\n}}", f"#define REPEAT for\n{MAIN} {{ REPEAT(;;) {{}} c = vec4(1.0); }}",
              f"#define P(n) (n 1.0)\n{MAIN} {{ c = vec4(P()); }}", f"{MAIN} {{ c = vec4(0.5); }}"]
    together = render_pool.render_many(codes, width=4, height=4)
    assert runs == [7, 1]  # here, for the seven that need it, then P() again: the workers ran none
    monkeypatch.undo()
    alone = [render_pool.render(code, width=4, height=4) for code in codes]
    assert [r.error_kind for r in together] == [None] * 4 + ["compile", "loop_limit", None, None]
    for a, b in zip(together, alone):
        assert a.error_kind == b.error_kind and a.diagnostics == b.diagnostics
        assert (a.image is None) == (b.image is None) and (a.image is None or (a.image == b.image).all())
    assert [int(r.image[0, 0, 0]) for r in together[:4]] == [0, 64, 128, 191]


def test_expand_many_leaves_what_the_worker_does_better_to_the_worker():
    plain = f"{MAIN} {{ c = vec4(1.0); }}"
    macro = f"#define W 1.0\n{MAIN} {{ c = vec4(W); }}"
    assert shadertoy.expand_many([plain, macro]) == [None, None]  # one run would save nothing
    assert shadertoy.expand_many([macro] * 12) == [None] * 12  # one source with many uniform sets
    found = shadertoy.expand_many([plain, macro, macro.replace("1.0", "0.5"), 7, "no main", f"{MAIN}\n#error x"])
    assert found[0] is None and found[3:] == [None, None, None]
    for code, text in zip([macro, macro.replace("1.0", "0.5")], found[1:3]):
        assert shadertoy.prepare(code, "es300").source == shadertoy.prepare(code, "es300", expanded=text).source
