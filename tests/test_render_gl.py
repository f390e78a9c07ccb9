"""Rendering in one process on a real EGL context: pixels, uniforms, dialects, diagnostics."""

import os
import subprocess
import sys

import numpy as np
import pytest

from earthshader.data.generators import generate
from earthshader.render import RenderPool
from earthshader.render.gl import LLVMPIPE_FLAGS_ENV, RenderTask, ShaderRenderer, create_gl_context

GOOD = "void mainImage(out vec4 c, in vec2 p) { c = vec4(p / iResolution.xy, 0.5, 1.0); }"


@pytest.fixture(scope="module")
def renderer():
    renderer = ShaderRenderer(create_gl_context())
    assert renderer.ctx.error == "GL_NO_ERROR"
    yield renderer
    assert renderer.ctx.error == "GL_NO_ERROR"
    renderer.release()


def draw(renderer, body, width=4, height=2, **task):
    result = renderer.render(RenderTask(f"void mainImage(out vec4 c, in vec2 p) {{ {body} }}",
                                        width, height, **task))
    assert renderer.ctx.error == "GL_NO_ERROR"
    return result


def test_orientation_origin_bottom_left_image_top_row_first(renderer):
    result = draw(renderer, "c = vec4(p.x < 2.0 ? 1.0 : 0.0, p.y < 1.0 ? 1.0 : 0.0, 0.0, 1.0);")
    assert result.ok and result.image.shape == (2, 4, 3) and result.image.dtype == np.uint8
    assert result.image[1, 0].tolist() == [255, 255, 0]  # bottom-left pixel: small x, small y
    assert result.image[0, 3].tolist() == [0, 0, 0]  # top-right pixel


def test_frag_coord_is_the_pixel_centre(renderer):
    result = draw(renderer, "c = vec4(fract(p), 0.0, 1.0);", 2, 2)
    assert np.all(result.image[..., :2] == 128)


@pytest.mark.parametrize("expression, expected", [
    ("iResolution / 255.0", [4, 2, 1]),
    ("vec3(iTime / 10.0, iTimeDelta * 60.0, iFrameRate / 255.0)", [51, 255, 60]),
    ("vec3(float(iFrame) / 255.0, iChannelTime[2] / 10.0, iSampleRate / 44100.0)", [120, 51, 255]),
    ("iMouse.xyz / 255.0", [10, 20, 30]),
    ("vec3(iDate.x - 2024.0, iDate.y, iDate.w / 10.0)", [0, 0, 51]),
    ("iChannelResolution[1] / 255.0", [3, 2, 1]),
    ("texture(iChannel1, vec2(0.25, 0.75)).rgb", [10, 20, 30]),
    ("texture(iChannel0, vec2(0.5)).rgb", [0, 0, 0]),
])
def test_every_uniform_reaches_the_shader(renderer, expression, expected):
    channel = np.zeros((2, 3, 3), np.uint8)
    channel[0] = (10, 20, 30)  # top row of the image, sampled at v = 0.75
    result = draw(renderer, f"c = vec4({expression}, 1.0);", times=(2.0,), mouse=(10, 20, 30, 40),
                  channels=(None, channel))
    assert result.ok, result.error
    assert np.abs(result.image[0, 0].astype(int) - expected).max() <= 1


def test_several_times_give_several_frames_from_one_compile(renderer):
    result = draw(renderer, "c = vec4(vec3(iTime), 1.0);", times=(0.0, 0.5, 1.0))
    assert [int(f[0, 0, 0]) for f in result.frames] == [0, 128, 255]
    again = draw(renderer, "c = vec4(vec3(iTime), 1.0);", times=(0.25,))
    assert again.compile_ms == 0.0  # the program came from the cache


def test_identical_input_gives_identical_output(renderer):
    body = "c = vec4(fract(sin(dot(p, vec2(12.9898, 78.233))) * 43758.5453));"
    first, second = draw(renderer, body, 32, 32), draw(renderer, body, 32, 32)
    assert np.array_equal(first.image, second.image)


def test_es_errors_fall_back_to_desktop_glsl(renderer):
    result = draw(renderer, "float x = 1; c = vec4(x);")  # int-to-float: desktop GLSL only
    assert result.ok and result.dialect == "glsl330"
    assert draw(renderer, "c = vec4(1.0);").dialect == "es300"


def test_diagnostics_point_at_the_users_line(renderer):
    code = "void mainImage(out vec4 c, in vec2 p)\n{\n    c = vec4(undefinedThing);\n}"
    result = renderer.render(RenderTask(code, 4, 4))
    assert not result.ok and result.error.kind == "compile"
    assert result.diagnostics[0].line == 3 and "undefinedThing" in result.diagnostics[0].message


def test_user_version_and_precision_lines_are_tolerated(renderer):
    code = "#version 300 es\nprecision mediump float;\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }"
    result = renderer.render(RenderTask(code, 2, 2))
    assert result.ok and result.image.min() == 255


def test_shadertoy_behaviour_the_site_has_and_plain_glsl_lacks(renderer):
    # fragColor starts as opaque black and may be accumulated into; locals start at zero
    assert draw(renderer, "c += vec4(0.5);").image[0, 0].tolist() == [128, 128, 128]
    assert draw(renderer, "vec3 acc; acc += 0.25; c = vec4(acc, 1.0);").image[0, 0].tolist() == [64] * 3
    # smoothstep with equal edges is a step, as on GPUs
    assert draw(renderer, "c = vec4(vec3(smoothstep(2.0, 2.0, p.x)), 1.0);").image[0, :, 0].tolist() == \
        [0, 0, 255, 255]


def test_nan_channels_are_drawn_as_zero_and_counted(renderer):
    result = draw(renderer, "c = vec4(sqrt(-1.0 - p.x), 0.5, 0.5, 1.0);")
    assert result.ok and result.nonfinite_fraction == 1.0
    assert result.image[0, 0].tolist() == [0, 128, 128]


def test_a_loop_that_reaches_the_project_bound_fails(renderer):
    result = draw(renderer, "float s = 0.0; for (int i = 0; i < 100000000; i++) { s += 1.0; } c = vec4(s);")
    assert not result.ok and result.error.kind == "loop_limit"
    fine = draw(renderer, "float s = 0.0; for (int i = 0; i < 1000; i++) { s += 0.001; } c = vec4(s);")
    assert fine.ok and fine.image[0, 0, 0] == 255


# -- one request never changes the next -------------------------------------------------------------

UNIFORM_CODE = ("uniform float level;\nuniform vec3 tint[2];\n"
                "void mainImage(out vec4 c, in vec2 p) { c = vec4(vec3(level) + tint[1], 1.0); }")


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.parametrize("shape", ["wide", "tall", "huge"])
def test_sizes_beyond_the_drivers_limits_are_refused_before_any_gl_call(renderer, shape):
    over = max(renderer.max_size) + 1  # 16385 on llvmpipe (20000 x 20 in the wild)
    width, height = {"wide": (over, 20), "tall": (20, over), "huge": (1 << 20, 1)}[shape]
    result = renderer.render(RenderTask(GOOD, width, height))
    assert result.error_kind == "invalid_input" and "larger than this GL can render" in result.error.message
    assert renderer.ctx.error == "GL_NO_ERROR"
    assert draw(renderer, "c = vec4(1.0, 0.0, 0.0, 1.0);").image[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize("channel, why", [
    (np.zeros((1, 1 << 17, 3), np.uint8), "larger than this GL's textures"),
    (np.zeros((4, 4, 5), np.uint8), "shape"),
    (np.zeros(7, np.uint8), "shape"),
    (np.zeros((0, 4, 3), np.uint8), "shape"),
    ("not an image", "not an image"),
])
def test_channels_the_gl_cannot_hold_are_refused(renderer, channel, why):
    result = renderer.render(RenderTask(GOOD, 4, 4, channels=(None, channel)))
    assert result.error_kind == "invalid_input" and why in result.error.message and "iChannel1" in result.error.message


def test_a_pending_gl_error_does_not_fail_the_next_request(renderer):
    renderer.ctx.texture((1 << 20, 4), 4).release()  # the GL refuses: GL_INVALID_VALUE stays pending
    result = draw(renderer, "c = vec4(0.0, 1.0, 0.0, 1.0);")
    assert result.ok, result.error
    assert result.image[0, 0].tolist() == [0, 255, 0]


def test_a_wrong_typed_uniform_is_named_and_leaks_no_textures(renderer):
    channels = (np.full((1024, 1024, 4), 7, np.uint8),) * 4
    bad = RenderTask(UNIFORM_CODE, 8, 8, channels=channels, uniforms={"level": "bright"})
    first = renderer.render(bad)
    assert first.error_kind == "invalid_input" and "'level'" in first.error.message
    baseline = resident_mb()
    for _ in range(25):  # leaked, each request would keep 4 channels of 5.6 MB (with mipmaps): 560 MB
        assert renderer.render(bad).error_kind == "invalid_input"
    assert resident_mb() - baseline < 100
    assert renderer.ctx.error == "GL_NO_ERROR"


def test_uniform_values_do_not_persist_into_the_next_request(renderer):
    other = ShaderRenderer(renderer.ctx)  # its own program cache: a first compile
    fresh = other.render(RenderTask(UNIFORM_CODE, 4, 4))
    other.release()
    assert fresh.ok and fresh.image.max() == 0  # unset uniforms are zero, as after linking
    lit = renderer.render(RenderTask(UNIFORM_CODE, 4, 4, uniforms={"level": 0.5, "tint": [(0, 0, 0), (0.5, 0, 0)]}))
    assert lit.image[0, 0].tolist() == [255, 128, 128]
    again = renderer.render(RenderTask(UNIFORM_CODE, 4, 4))
    assert again.compile_ms == 0.0  # the same cached program ...
    assert np.array_equal(again.image, fresh.image)  # ... starting from its link-time values
    assert renderer.ctx.error == "GL_NO_ERROR"


@pytest.mark.parametrize("given, kept", [(None, "nopt"), ("", ""), ("no_quad_lod", "no_quad_lod")])
def test_llvmpipe_skips_llvms_passes_unless_the_environment_says_otherwise(given, kept):
    env = {k: v for k, v in os.environ.items() if k != LLVMPIPE_FLAGS_ENV}
    if given is not None:
        env[LLVMPIPE_FLAGS_ENV] = given
    script = ("import os; from earthshader.render.gl import create_gl_context; create_gl_context(); "
              f"print(repr(os.environ[{LLVMPIPE_FLAGS_ENV!r}]))")
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == repr(kept)


def test_the_same_pixels_with_and_without_llvms_passes(monkeypatch):
    """Skipping the passes changes the time a program takes, never what it draws (benchmarks/llvm_passes.py
    checks hundreds of programs; here a few of each kind: textures, a raymarched terrain, loops and branches)."""
    loops = ("void mainImage(out vec4 c, in vec2 p) { vec2 z = p / iResolution.y - 0.6; float n = 0.0;"
             " for (int i = 0; i < 64; i++) { z = vec2(z.x * z.x - z.y * z.y, 2.0 * z.x * z.y) + vec2(-0.7, 0.3);"
             " if (dot(z, z) > 4.0) break; n += 1.0; } c = vec4(n / 64.0, fract(z * 3.7), 1.0); }")
    codes = [generate("textures", seed).code for seed in range(3)] + [generate("terrains", 0).code, loops]
    images = []
    for flags in ("", "nopt"):
        monkeypatch.setenv(LLVMPIPE_FLAGS_ENV, flags)
        with RenderPool(workers=1) as pool:
            results = pool.render_many(codes, width=48, height=32, times=(1.3,))
        assert all(r.ok for r in results), [r.error for r in results]
        images.append([r.image for r in results])
    assert all(np.array_equal(a, b) for a, b in zip(*images))
    assert len({r.tobytes() for r in images[0]}) == len(codes)  # five different pictures, none blank by mistake
