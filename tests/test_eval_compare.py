"""ShaderEval-style labels (`earthshader.evaluation.compare`) on hand-written program pairs, rendered for real."""

from __future__ import annotations

import pytest

from earthshader.evaluation.compare import LABELS, SHADEREVAL_TIMES, compare_many, compare_programs, frames_label

GRADIENT = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.xy;
    fragColor = vec4(step(0.5, uv.x), uv.y, 0.2, 1.0);
}"""

# The same program with other comments and layout: a c1-clone.
GRADIENT_REFORMATTED = """// a comment the reference does not have
void mainImage( out vec4 fragColor, in vec2 fragCoord )
{
    vec2 uv = fragCoord/iResolution.xy;   /* normalised */
    fragColor = vec4(step(0.5, uv.x),uv.y,0.2,1.0);
}
"""

# Different code with the same pixels (a ternary for `step`): a c4-clone.
GRADIENT_REWRITTEN = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.xy;
    float left = uv.x < 0.5 ? 0.0 : 1.0;
    fragColor = vec4(left, uv.y, 0.2, 1.0);
}"""

# Equal to GRADIENT at iTime 0 only: a variation (ShaderEval's own example of "matches at one time").
GRADIENT_ANIMATED = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.xy;
    fragColor = vec4(step(0.5, uv.x), uv.y, 0.2 + 0.1 * sin(iTime), 1.0);
}"""

GREY = "void mainImage(out vec4 fragColor, in vec2 fragCoord) { fragColor = vec4(0.5, 0.5, 0.5, 1.0); }"

BROKEN = "void mainImage(out vec4 fragColor, in vec2 fragCoord) { fragColor = vec4(undefined_name); }"

SIZE = (32, 32)


@pytest.mark.parametrize(
    "generated, reference, label",
    [
        (GRADIENT, GRADIENT, "c0-clone"),
        (GRADIENT_REFORMATTED, GRADIENT, "c1-clone"),
        (GRADIENT_REWRITTEN, GRADIENT, "c4-clone"),
        (GRADIENT_ANIMATED, GRADIENT, "variation"),
        (GREY, GRADIENT, "single_color"),
        (BROKEN, GRADIENT, "code_error"),
        ("", GRADIENT, "code_error"),
        (GRADIENT, BROKEN, "reference_error"),
    ],
    ids=["identical", "whitespace-comments", "same-renders", "animated", "single-colour", "compile-error",
         "empty", "broken-reference"],
)
def test_compare_programs_labels(render_pool, generated, reference, label):
    assert compare_programs(generated, reference, size=SIZE, pool=render_pool) == label


def test_compare_many_matches_one_by_one(render_pool):
    pairs = [(GRADIENT_REWRITTEN, GRADIENT), (GREY, GRADIENT), (GRADIENT, GRADIENT)]
    assert compare_many(pairs, size=SIZE, pool=render_pool) == ["c4-clone", "single_color", "c0-clone"]


def test_same_single_colour_as_reference_is_a_clone_not_single_color(render_pool):
    grey_rewritten = "void mainImage(out vec4 c, in vec2 p) { c = vec4(vec3(0.25 + 0.25), 1.0); }"
    assert compare_programs(grey_rewritten, GREY, size=SIZE, pool=render_pool) == "c4-clone"


def test_frames_label_tolerance():
    import numpy as np

    frame = np.full((4, 4, 3), 100, np.uint8)
    frame[0, 0] = 0
    off_by_one = frame.copy()
    off_by_one[1, 1] += 1
    frames, others = [frame] * len(SHADEREVAL_TIMES), [off_by_one] * len(SHADEREVAL_TIMES)
    assert frames_label(others, frames) == "variation"
    assert frames_label(others, frames, tolerance=1) == "c4-clone"
    assert frames_label(None, frames) == "code_error"
    assert frames_label(others, None) == "reference_error"


def test_labels_and_times_are_shadereval_s():
    assert SHADEREVAL_TIMES == (0.0, 0.1, 0.2, 0.5, 1.0, 1.6787, 2.0, 2.31, 3.333, 17.0)
    assert {"c0-clone", "c1-clone", "c4-clone", "variation", "single_color", "code_error"} <= set(LABELS)
