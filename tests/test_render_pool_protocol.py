"""The pool's protocol keeps its place and one request never changes the next: interrupted calls,
workers that die idle or stop reading, re-entry from callbacks, requests that do not pickle,
uniforms and GL state left by an earlier request. Calls that could hang run in a thread with a
bound, so a regression fails instead of stalling the suite."""

import contextlib
import multiprocessing
import os
import signal
import threading

import numpy as np
import pytest

from earthshader.render import RenderPool


def solid(r: float, g: float, b: float) -> str:
    return f"void mainImage(out vec4 c, in vec2 p) {{ c = vec4({r:.1f}, {g:.1f}, {b:.1f}, 1.0); }}"


RED, GREEN, BLUE = solid(1, 0, 0), solid(0, 1, 0), solid(0, 0, 1)
# About 2 s at 128 x 128 on llvmpipe, well under the loop limit: ends `ok`, with its own colour.
SLOW = ("void mainImage(out vec4 c, in vec2 p) { float s = 0.0; for (int i = 0; i < 20000; i++) "
        "{ s += sin(s + p.x * 0.001 + float(i)); } c = vec4(fract(s), 0.0, 1.0, 1.0); }")
UNIFORM_CODE = "uniform float level;\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(vec3(level), 1.0); }"


class Interrupted(Exception):
    """Raised by a timer signal in the main thread, as a signal-based deadline does."""


def colour(result) -> list[int]:
    assert result.ok, result.error
    return result.image[0, 0].tolist()


def bounded(call, seconds: float = 120.0):
    """Run `call()` in a thread; fail (instead of hanging the suite) if it does not return in time."""
    box = {}

    def run():
        try:
            box["value"] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call did not return within {seconds:g} s (deadlock or hang)"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture
def interrupt_after():
    """`interrupt_after(s)`: raise `Interrupted` in the main thread after s seconds."""
    def on_alarm(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, on_alarm)
    yield lambda seconds: signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def pool():
    with RenderPool(workers=1, timeout=20.0) as pool:
        yield pool


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_call_leaves_no_answer_for_the_next(interrupt_after, workers):
    with RenderPool(workers=workers, timeout=20.0) as pool:
        interrupt_after(0.3)
        try:
            pool.render_many([SLOW] + [SLOW.replace("20000", "19999")] * (workers - 1), 128, 128)
        except Interrupted:
            pass
        else:
            pytest.skip("the render ended before the timer signal (a fast GPU); nothing was interrupted")
        assert colour(pool.render(RED, 4, 4)) == [255, 0, 0]  # its own result, not the slow one's
        assert colour(pool.render(GREEN, 4, 4)) == [0, 255, 0]
        assert [colour(r) for r in pool.render_many([BLUE, RED, GREEN], 4, 4)] == \
            [[0, 0, 255], [255, 0, 0], [0, 255, 0]]
        assert pool.stats.discarded + pool.stats.restarts >= workers  # each owed answer dropped or its worker replaced


def test_an_interrupted_call_while_a_worker_is_owed_an_answer_twice_in_a_row(interrupt_after):
    with RenderPool(workers=1, timeout=20.0) as pool:
        for _ in range(2):
            interrupt_after(0.3)
            with pytest.raises(Interrupted):
                pool.render(SLOW, 128, 128)
        assert colour(pool.render(BLUE, 4, 4)) == [0, 0, 255]
        assert colour(pool.render(RED, 4, 4)) == [255, 0, 0]


def test_a_call_interrupted_while_the_workers_start_leaves_none_half_started(interrupt_after):
    pool = RenderPool(workers=2, timeout=20.0)  # not started: the first render starts it
    others = set(multiprocessing.active_children())
    try:
        interrupt_after(0.05)  # workers take about a second to import ModernGL and make a context
        with pytest.raises(Interrupted):
            pool.render(RED, 4, 4)
        assert pool._workers == [] and set(multiprocessing.active_children()) <= others
        assert colour(pool.render(GREEN, 4, 4)) == [0, 255, 0]
    finally:
        pool.close()


def test_a_worker_that_died_idle_is_replaced_before_the_next_shader_is_sent():
    with RenderPool(workers=2, timeout=10.0) as pool:
        for worker in pool._workers:
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.join(5)
        results = pool.render_many([RED, GREEN, BLUE], 4, 4)
        assert [colour(r) for r in results] == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
        assert pool.stats.crashes == 0 and pool.stats.restarts == 2


def test_the_deadline_covers_sending_a_large_request_to_a_worker_that_stopped_reading():
    with RenderPool(workers=1, timeout=2.0) as pool:
        stuck = pool._workers[0].process.pid
        os.kill(stuck, signal.SIGSTOP)  # alive, but reads nothing
        big = np.zeros((2048, 2048, 3), np.uint8)  # 12 MB: far more than a socket buffer holds
        try:
            result = bounded(lambda: pool.render(RED, 4, 4, channels=[big]), 60.0)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stuck, signal.SIGCONT)
        assert result.error_kind == "timeout" and "stopped reading" in result.error.message
        assert colour(pool.render(GREEN, 4, 4, channels=[big])) == [0, 255, 0]


def test_rendering_from_an_on_result_callback_fails_at_once_naming_the_reentry(pool):
    inner = []

    def reenter(index, result):
        inner.append(pool.render(RED, 4, 4))

    with pytest.raises(RuntimeError, match="re-entry"):
        bounded(lambda: pool.render_many([GREEN, BLUE], 4, 4, on_result=reenter), 60.0)
    assert inner == []  # the nested call raised before rendering anything
    with pytest.raises(RuntimeError, match="re-entry"):
        bounded(lambda: pool.render_many([GREEN], 4, 4, on_result=lambda i, r: pool.close()), 60.0)
    assert colour(pool.render(RED, 4, 4)) == [255, 0, 0]  # still open and in step


class FailsToLoad:
    """Pickles in the caller, but raises when the worker rebuilds it."""

    def __reduce__(self):
        return int, ("not a number",)


@pytest.mark.parametrize("request_", [
    dict(code=lambda: 0),
    dict(code=RED, uniforms={"level": lambda: 0}),
    dict(code=RED, uniforms={"level": threading.Lock()}),
    dict(code=UNIFORM_CODE, uniforms={"level": FailsToLoad()}),
    dict(code=FailsToLoad()),
], ids=["lambda code", "lambda uniform", "lock uniform", "unloadable uniform", "unloadable code"])
def test_requests_that_cannot_travel_get_invalid_input_and_the_rest_render(pool, request_):
    code, uniforms = request_["code"], request_.get("uniforms", {})
    results = pool.render_many([GREEN, code, BLUE], 4, 4, uniforms=[{}, uniforms, {}], times=[0.5])
    assert results[1].error_kind == "invalid_input" and results[1].error.message
    assert results[1].times == (0.5,)
    assert colour(results[0]) == [0, 255, 0] and colour(results[2]) == [0, 0, 255]


@pytest.mark.parametrize("bad", [
    dict(width=20000, height=20),
    dict(uniforms={"level": "bright"}),
    dict(uniforms={"level": None}),
    dict(uniforms=["level", 1.0]),
    dict(channels=[np.zeros((4, 4, 7), np.uint8)]),
    dict(channels=["not an image"]),
])
def test_a_bad_request_gets_invalid_input_and_the_next_one_its_normal_result(pool, bad):
    options = dict(width=4, height=4) | bad
    uniforms = options.pop("uniforms", None)
    result = pool.render_many([UNIFORM_CODE], uniforms=[uniforms] if uniforms is not None else None, **options)[0]
    assert result.error_kind == "invalid_input", result.error
    fresh = pool.render(UNIFORM_CODE, 4, 4, uniforms={"level": 0.5})
    assert colour(fresh) == [128, 128, 128]


def test_a_uniform_set_by_one_request_does_not_reach_the_next_of_the_same_program(pool):
    before = pool.render(UNIFORM_CODE, 4, 4)  # unset: zero, as in a fresh program
    assert colour(pool.render(UNIFORM_CODE, 4, 4, uniforms={"level": 1.0})) == [255, 255, 255]
    after = pool.render(UNIFORM_CODE, 4, 4)
    assert after.compile_ms == 0.0 and np.array_equal(after.image, before.image)
    assert colour(after) == [0, 0, 0]


def test_many_failing_requests_with_channels_leave_the_workers_memory_bounded(pool):
    channels = [np.full((1024, 1024, 4), 9, np.uint8)] * 4
    pid = pool._workers[0].process.pid

    def resident_mb() -> float:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    pool.render(UNIFORM_CODE, 8, 8, channels=channels, uniforms={"level": "bright"})
    baseline = resident_mb()
    for _ in range(20):  # leaked, 4 channels of 5.6 MB each per request: 450 MB
        assert pool.render(UNIFORM_CODE, 8, 8, channels=channels, uniforms={"level": "x"}).error_kind == "invalid_input"
    assert pool._workers[0].process.pid == pid and resident_mb() - baseline < 100
