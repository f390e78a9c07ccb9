"""Look and fix's observation: the renderer's messages in the program's own lines, the figures, the words, the
images; the size policy; programs broken as a model breaks them."""

from __future__ import annotations

import numpy as np
import pytest

from earthshader.data.generators import generate
from earthshader.episodes.observation import TargetFigures, difference_map, failure_details, observe
from earthshader.glsl.breakage import BREAKS, COMPILE_BREAKS, LOOK_BREAKS, break_program
from earthshader.modeling import prompts
from earthshader.render.result import Diagnostic, RenderResult

HEAD = "void mainImage(out vec4 c, in vec2 p) {\n"

#: Programs whose one error sits on a known line, after what the renderer's wrapper and preprocessor do to a
#: program: a function-like macro, a line continuation, an `#extension` moved above the header, a block comment,
#: a loop that gets the loop guard, an `#ifdef` that drops lines, an error inside a macro's expansion.
ERRORS_ON_LINE = {
    "plain": (HEAD + "    float a = 1.0;\n\n    c = vec4(bb);\n}\n", 4),
    "macro": ("#define F(x) (x * 2.0)\n#define G 3.0\n\n" + HEAD + "    float a = F(1.0);\n    c = vec4(zz);\n}\n", 6),
    "continuation": ("#define F(x) \\\n  (x * 2.0)\n\n" + HEAD + "    float a = F(1.0);\n    c = vec4(zz);\n}\n", 6),
    "extension": ("#extension GL_OES_standard_derivatives : enable\n" + HEAD + "    float a = 1.0;\n"
                  "    c = vec4(zz);\n}\n", 4),
    "block comment": ("/* a\n b\n c */\n" + HEAD + "    float a = 1.0;\n    c = vec4(zz);\n}\n", 6),
    "guarded loop": (HEAD + "    float a = 0.0;\n    for (int i = 0; i < 4; i++) {\n        a += 1.0;\n    }\n"
                     "    c = vec4(zz);\n}\n", 6),
    "ifdef": ("#ifdef FOO\nfloat x = 1.0;\n#endif\n" + HEAD + "    c = vec4(zz);\n}\n", 5),
    "inside a macro": ("#define BAD (zz * 2.0)\n\n" + HEAD + "    float a = 1.0;\n    c = vec4(BAD);\n}\n", 5),
    "macro arguments": ("#define F(x, y) (x + y)\n" + HEAD + "    float a = F(1.0);\n    c = vec4(a);\n}\n", 3),
}


def test_diagnostics_name_the_programs_own_lines_through_the_wrapper_and_the_preprocessor(render_pool):
    results = render_pool.render_many([code for code, _ in ERRORS_ON_LINE.values()], width=32, height=32)
    for (name, (_, line)), result in zip(ERRORS_ON_LINE.items(), results):
        errors = [d for d in result.diagnostics if d.severity == "error"]
        assert result.error.kind == "compile" and errors, name
        assert {d.line for d in errors} == {line}, (name, [str(d) for d in errors])


@pytest.fixture(scope="module")
def target_and_program(render_pool):
    code = generate("textures", 3, difficulty=0).code  # stripes
    return render_pool.render_many([code], width=84, height=84)[0].image, code


def test_a_program_that_fails_to_compile_is_observed_with_its_diagnostics(render_pool, target_and_program):
    target, code = target_and_program
    broken = code.replace("fract((uv.x - uv.y) * 11.0)", "fract((uv.x - uv.y) * 11.0")  # a missing token
    result = render_pool.render_many([broken], width=84, height=84)[0]
    observation = observe(target, broken, result, size=84)
    assert observation.failure == "compile" and observation.figures is None
    assert observation.text.startswith(prompts.FAILED_TEXT.format(failure="compile"))
    assert "line 3: error: syntax error" in observation.text and observation.text.endswith(prompts.FIX_INSTRUCTION)
    render, difference = observation.images
    assert render.size == difference.size == (84, 84) and not np.asarray(render).any()  # black: nothing drawn
    assert np.array_equal(np.asarray(difference), difference_map(target, np.zeros_like(target)))
    content = observation.content()
    assert [block["type"] for block in content] == ["image", "image", "text"]


def test_a_rendered_program_is_observed_with_its_figures(render_pool, target_and_program):
    target, code = target_and_program
    scorer = TargetFigures.of(target)
    assert scorer is TargetFigures.of(target.copy())  # kept per target
    same = observe(target, code, render_pool.render_many([code], width=84, height=84)[0], scorer, size=56)
    assert same.failure is None and same.figures == pytest.approx({"structure": 1.0, "appearance": 1.0}, abs=1e-6)
    assert "structure +1.00, appearance +1.00" in same.text and same.images[0].size == (56, 56)
    assert not np.asarray(same.images[1]).any()  # no difference
    flat = "void mainImage(out vec4 c, in vec2 p) { c = vec4(0.5, 0.2, 0.1, 1.0); }"
    observed = observe(target, flat, render_pool.render_many([flat], width=84, height=84)[0], scorer, size=84)
    assert prompts.FLAT_TEXT in observed.text and observed.figures["structure"] < 0.5
    assert observed.blanked().text == observed.text and not any(np.asarray(i).any() for i in observed.blanked().images)


def test_no_program_a_loop_limit_and_a_wrong_call_say_what_happened(render_pool, target_and_program):
    target, _ = target_and_program
    nothing = observe(target, "", None, size=84)
    assert nothing.failure == "no_program" and prompts.NO_PROGRAM_TEXT in nothing.text and len(nothing.images) == 2
    endless = HEAD + "    float a = 0.0;\n    for (int i = 0; i >= 0; i++) { a += 1.0; }\n    c = vec4(a);\n}"
    wrong_call = HEAD + "    float a = mix(1.0, 2.0);\n    c = vec4(a);\n}"
    loop, call = render_pool.render_many([endless, wrong_call], width=84, height=84)
    assert "Your program failed (loop_limit):\na loop ran past the limit" in observe(target, endless, loop).text
    assert failure_details(call) == ["line 2: error: no matching function for call to `mix(float, float)'"]


def test_diagnostics_are_cut_to_a_few_short_lines():
    result = RenderResult.failure("compile", "x", diagnostics=[Diagnostic(n, "e" * 300) for n in range(1, 9)])
    lines = prompts.observation_text(None, failure="compile", details=failure_details(result)).splitlines()
    assert len(lines) == 1 + prompts.MAX_DETAILS + 1 and all(len(line) <= prompts.MAX_DETAIL_CHARS for line in lines)


def test_the_observation_image_size_is_one_policy():
    assert prompts.observation_image_size(84) == 84 and prompts.observation_image_size(448) == 224
    assert prompts.observation_image_size(448, 112) == 112 and prompts.observation_image_size(100) == 112
    turn = prompts.make_observation_turn("look")
    assert turn["role"] == "user" and [b["type"] for b in turn["content"]] == ["image", "image", "text"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_breaks_do_what_they_claim_on_generator_programs(render_pool, seed):
    """Each compile break fails to compile on the broken line; each look break draws another picture."""
    code = generate("primitives", seed, difficulty=0).code
    original = render_pool.render_many([code], width=64, height=64)[0].image
    rng = np.random.default_rng(seed)
    broken = {kind: break_program(code, kind, rng) for kind in BREAKS}
    kinds = [kind for kind, text in broken.items() if text is not None]
    assert set(COMPILE_BREAKS) | {"numbers", "colour"} <= set(kinds)
    results = dict(zip(kinds, render_pool.render_many([broken[k] for k in kinds], width=64, height=64)))
    for kind in COMPILE_BREAKS:
        changed = [n + 1 for n, (a, b) in enumerate(zip(code.splitlines(), broken[kind].splitlines())) if a != b]
        lines = {d.line for d in results[kind].diagnostics if d.severity == "error"}
        assert not results[kind].ok and len(changed) == 1, kind
        assert lines & {changed[0], changed[0] + 1}, (kind, changed, lines)  # a missing `;` is seen on the next line
    for kind in set(LOOK_BREAKS) & set(kinds):
        assert results[kind].ok, kind
    assert np.abs(results["colour"].image.astype(int) - original).mean() > 2


def test_a_break_that_finds_no_place_says_so():
    assert break_program("void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }", "call",
                         np.random.default_rng(0)) is None
    with pytest.raises(ValueError, match="unknown break"):
        break_program("", "typo", np.random.default_rng(0))
