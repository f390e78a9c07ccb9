"""The sandbox: adversarial shaders through the pool, each with a defined result, and the pool
keeps serving. Every test here is bounded by the pool's own timeout."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from earthshader.render import RenderPool, render

GOOD = "void mainImage(out vec4 c, in vec2 p) { c = vec4(p / iResolution.xy, 0.5, 1.0); }"


def shader(body: str) -> str:
    return f"void mainImage(out vec4 c, in vec2 p) {{ {body} }}"


EXPLODING_CALL_TREE = "\n".join(
    ["float f0(float x) { return sin(x) * x; }"]
    + [f"float f{i}(float x) {{ return f{i - 1}(f{i - 1}(x)); }}" for i in range(1, 24)]
    + [shader("c = vec4(f23(p.x));")])

ADVERSARIAL = {
    "empty": ("", {"invalid_input"}),
    "binary garbage": (bytes(range(256)) * 8, {"invalid_input"}),
    "2 MB source": ("// padding\n" * 200_000 + GOOD, {"invalid_input"}),
    "no mainImage": ("void main() { gl_FragColor = vec4(1.0); }", {"invalid_input"}),
    "while(true)": (shader("while (true) {} c = vec4(1.0);"), {"loop_limit"}),
    "for(;;)": (shader("float s = 0.0; for (;;) { s += 1.0; } c = vec4(s);"), {"loop_limit"}),
    "huge loop bound": (shader("float s = 0.0; for (int i = 0; i < 2000000000; i++) { s += 1.0; } c = vec4(s);"),
                        {"loop_limit"}),
    "compiler explosion": (EXPLODING_CALL_TREE, {"timeout", "crash", "compile"}),
    "#extension": ("#extension GL_OES_standard_derivatives : enable\n" + GOOD, {None}),
    "#include": ('#include "noise.glsl"\n' + GOOD, {"invalid_input"}),
    "syntax error": (shader("c = vec4(1.0)"), {"compile"}),
    "NaN output": (shader("c = vec4(0.0 / 0.0 + sqrt(-p.x));"), {None}),
    "infinite output": (shader("c = vec4(1.0 / (p.x - p.x));"), {None}),
    "giant array": (shader("float a[50000000]; a[int(p.x)] = 1.0; c = vec4(a[3]);"),
                    {"timeout", "crash", "compile", None}),
}


@pytest.fixture(scope="module")
def pool():
    with RenderPool(workers=2, timeout=8.0) as pool:
        yield pool


#: Cases that wait out the pool's 8 s limit (a compile or a render that runs to its timeout): the slow tier.
WAITS_OUT_A_LIMIT = {"compiler explosion", "giant array"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in WAITS_OUT_A_LIMIT else name
                                  for name in ADVERSARIAL])
def test_adversarial_input_gets_a_defined_result_and_the_pool_serves_on(pool, name):
    code, allowed = ADVERSARIAL[name]
    result = pool.render(code, 64, 64)
    assert result.error_kind in allowed, (name, result.error)
    if result.ok:
        assert result.image.shape == (64, 64, 3)
    else:
        assert result.error.message
    follow_up = pool.render(GOOD, 16, 16)
    assert follow_up.ok and follow_up.image.shape == (16, 16, 3)


def test_batch_keeps_order_and_mixes_failures_with_successes(pool):
    codes = [GOOD, "", shader("c = vec4(1.0, 0.0, 0.0, 1.0);"), shader("while (true) {}"), GOOD]
    results = pool.render_many(codes, width=8, height=8)
    assert [r.error_kind for r in results] == [None, "invalid_input", None, "loop_limit", None]
    assert results[2].image[0, 0].tolist() == [255, 0, 0]
    assert np.array_equal(results[0].image, results[4].image)
    assert results[0].image is not results[4].image  # duplicates are copies, safe to modify


def test_identical_requests_in_one_call_are_rendered_once(pool):
    before = pool.stats.renders
    results = pool.render_many([GOOD] * 8 + [shader("c = vec4(0.5);")] * 8, width=8, height=8)
    assert all(r.ok for r in results)
    assert pool.stats.renders - before == 2


def test_per_item_uniforms_render_one_program_with_new_values(pool):
    code = "uniform float level;\n" + shader("c = vec4(vec3(level), 1.0);")
    results = pool.render_many([code] * 3, width=4, height=4,
                               uniforms=[{"level": 0.0}, {"level": 0.5}, {"level": 1.0}])
    assert [int(r.image[0, 0, 0]) for r in results] == [0, 128, 255]


def test_a_timeout_kills_and_replaces_the_worker():
    with RenderPool(workers=1, timeout=1.0) as pool:
        first_pid = pool._workers[0].process.pid
        result = pool.render(EXPLODING_CALL_TREE, 32, 32)
        assert result.error_kind == "timeout" and "killed and replaced" in result.error.message
        assert pool.stats.timeouts == 1 and pool.stats.restarts == 1
        assert pool._workers[0].process.pid != first_pid
        assert pool.render(GOOD, 8, 8).ok


def test_a_worker_that_dies_on_a_shader_is_reported_as_crash_and_replaced():
    with RenderPool(workers=1, timeout=60.0) as pool:
        worker = pool._workers[0]

        def kill_once_sent():  # while it compiles the shader (seconds, for this call tree)
            while worker.request_id is None and worker.process.is_alive():
                time.sleep(0.01)
            os.kill(worker.process.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_once_sent, daemon=True)
        killer.start()
        result = pool.render(EXPLODING_CALL_TREE, 8, 8)
        killer.join(5)
        assert result.error_kind == "crash" and "SIGKILL" in result.error.message
        assert pool.stats.crashes == 1
        assert pool.render(GOOD, 8, 8).ok


def test_workers_are_recycled_after_their_task_quota():
    with RenderPool(workers=1, max_tasks_per_worker=3) as pool:
        results = pool.render_many([shader(f"c = vec4({i / 10:.1f});") for i in range(7)], width=4, height=4)
        assert all(r.ok for r in results) and pool.stats.restarts == 2


def test_one_off_render_uses_a_shared_sandboxed_worker():
    result = render(GOOD, 8, 4, time=1.0)
    assert result.ok and result.image.shape == (4, 8, 3) and "llvmpipe" in result.renderer.lower() \
        or result.renderer  # on a GPU machine the renderer names the GPU


def test_bad_sizes_and_arguments_are_refused_loudly(pool):
    with pytest.raises(ValueError, match="size"):
        pool.render(GOOD, 0, 10)
    with pytest.raises(ValueError, match="uniform sets"):
        pool.render_many([GOOD, GOOD], uniforms=[{}])


def test_on_result_streams_each_input_once_and_its_errors_wait_for_the_batch(pool):
    codes = [GOOD, shader("c = vec4(0.25);"), GOOD, "garbage"]
    seen = {}
    results = pool.render_many(codes, width=8, height=8, on_result=lambda i, r: seen.setdefault(i, r))
    assert sorted(seen) == [0, 1, 2, 3]
    assert all(seen[i] is results[i] for i in range(4))  # the same objects, duplicates included
    assert results[0] is not results[2] and np.array_equal(results[0].image, results[2].image)

    calls = []

    def failing(index, result):
        calls.append(index)
        raise KeyError("callback bug")

    with pytest.raises(KeyError, match="callback bug"):
        pool.render_many([GOOD, shader("c = vec4(0.5);")], width=8, height=8, on_result=failing)
    assert len(calls) == 1  # later results are not delivered after a failure ...
    assert pool.render(GOOD, 8, 8).ok  # ... and the workers were not abandoned mid-task
