"""`RenderPool`: sandboxed, parallel Shadertoy rendering in worker processes.

Each worker is a fresh interpreter (the `spawn` start method) that owns one EGL context for its
whole life and reuses it across shaders. The parent gives each worker one shader at a time
and waits with a wall-clock deadline: a worker that runs past it is killed and replaced (the
shader gets a `timeout` result); a worker that dies is replaced too (`crash`). Results come
back in input order, and a bad shader never raises.

    from earthshader.render import RenderPool

    with RenderPool(workers=2, timeout=5.0) as pool:
        results = pool.render_many(codes, width=128, height=128, time=0.0)
        images = [r.image for r in results if r.ok]

Identical requests inside one `render_many` call are rendered once (GRPO groups often repeat a
completion), and each worker caches compiled programs, so rendering one source again with new
`uniforms` or `times` costs no compilation.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait

import numpy as np

from earthshader.render.gl import DEFAULT_DATE, RenderTask
from earthshader.render.result import RenderResult
from earthshader.render.shadertoy import DEFAULT_LOOP_LIMIT

#: Seconds a new worker may take to import ModernGL and create its EGL context.
STARTUP_TIMEOUT = 60.0


def default_workers() -> int:
    """The cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class PoolStats:
    """Counters since the pool started; `restarts` counts workers replaced for any reason."""

    renders: int = 0
    deduplicated: int = 0
    timeouts: int = 0
    crashes: int = 0
    restarts: int = 0
    outcomes: dict = field(default_factory=dict)


class RenderPool:
    """A pool of rendering worker processes. Use as a context manager, or call `close()`.

    Args:
        workers: number of processes (default: the cores available).
        timeout: wall-clock seconds one shader may take (compile + all frames) before its
            worker is killed and replaced.
        software: force Mesa llvmpipe even where a GPU is present (default: the
            `EARTHSHADER_SOFTWARE_GL` environment variable, else the first EGL device).
        memory_limit_mb: address space a software-rendering worker may add after start-up
            (a runaway compile is then a `crash`, not a swapping machine). Not applied with a
            GPU driver, which reserves large virtual ranges by design.
        max_tasks_per_worker: a worker is recycled after this many shaders, bounding any slow
            leak in the driver.
        loop_limit: loop iterations per pixel before a render fails with `loop_limit`.
    """

    def __init__(self, workers: int | None = None, timeout: float = 20.0,
                 software: bool | None = None, memory_limit_mb: int = 4096,
                 max_tasks_per_worker: int = 2000, loop_limit: int = DEFAULT_LOOP_LIMIT):
        self.workers = workers or default_workers()
        self.timeout = float(timeout)
        self.software = software
        self.memory_limit_mb = memory_limit_mb
        self.max_tasks_per_worker = max_tasks_per_worker
        self.loop_limit = loop_limit
        self.stats = PoolStats()
        self.renderer: str | None = None
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "RenderPool":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start the workers (done automatically by the first render)."""
        if self._closed:
            raise RuntimeError("this RenderPool is closed")
        if not self._workers:
            starting = [self._spawn() for _ in range(self.workers)]
            self._workers = [worker.wait_ready() for worker in starting]
            self.renderer = self._workers[0].renderer

    def close(self) -> None:
        """Stop every worker. Safe to call twice."""
        self._closed = True
        for worker in self._workers:
            worker.stop()
        self._workers = []

    # -- rendering -------------------------------------------------------------------------
    def render(self, code: str, width: int = 256, height: int = 256, **options) -> RenderResult:
        """Render one shader; see `render_many` for the options."""
        return self.render_many([code], width=width, height=height, **options)[0]

    def render_many(self, codes, width: int = 256, height: int = 256, *, time: float = 0.0,
                    times=None, mouse=None, date=None, channels=None,
                    uniforms: dict | list[dict] | None = None,
                    uniform_declarations: str = "", on_result=None) -> list[RenderResult]:
        """Render every source in `codes`; one `RenderResult` per source, in order.

        Args:
            width, height: output size in pixels.
            time / times: one `iTime` value, or several (compile once, one frame each).
            mouse: `iMouse` as (x, y, click x, click y); zeros by default, as at page load.
            date: `iDate` (year, month from 0, day, seconds); fixed by default for determinism.
            channels: up to four H x W x 3|4 uint8 images for iChannel0..3 (black when absent).
            uniforms: extra uniform values by name, one dict for all sources or one per source.
            uniform_declarations: GLSL declarations of those extra uniforms.
            on_result: called as `on_result(index, result)` in this thread as soon as source `index` is
                done, so that callers can start work on early results while the rest render (the
                rewards score that way). An exception it raises is re-raised once every render is done.
        """
        codes = list(codes)
        if isinstance(uniforms, list) and len(uniforms) != len(codes):
            raise ValueError(f"got {len(uniforms)} uniform sets for {len(codes)} shaders")
        base = RenderTask(
            code="", width=int(width), height=int(height),
            times=tuple(float(t) for t in (times if times is not None else [time])),
            mouse=tuple(float(v) for v in (mouse or (0.0, 0.0, 0.0, 0.0))),
            date=tuple(float(v) for v in (date or DEFAULT_DATE)),
            channels=tuple(None if c is None else np.asarray(c, dtype=np.uint8) for c in (channels or ())),
            loop_limit=self.loop_limit, uniform_declarations=uniform_declarations)
        if not base.times:
            raise ValueError("times must hold at least one value")
        if base.width < 1 or base.height < 1 or base.width * base.height > 4096 * 4096:
            raise ValueError(f"bad render size {width}x{height}")
        tasks, slots = [], {}
        inputs_of: list[list[int]] = []  # for each unique task, the inputs it answers
        for index, code in enumerate(codes):
            values = uniforms[index] if isinstance(uniforms, list) else (uniforms or {})
            key = (code if isinstance(code, (str, bytes)) else repr(code), _freeze(values))
            if key not in slots:
                slots[key] = len(tasks)
                tasks.append(replace(base, code=code, uniforms=dict(values)))
                inputs_of.append([])
            inputs_of[slots[key]].append(index)
        answers: list[RenderResult | None] = [None] * len(codes)
        callback_errors: list[BaseException] = []

        def deliver(task_index: int, result: RenderResult) -> None:
            for n, index in enumerate(inputs_of[task_index]):
                answers[index] = result if n == 0 else _copy(result)  # each input owns its arrays
                if on_result is not None and not callback_errors:
                    try:
                        on_result(index, answers[index])
                    except Exception as error:  # never abandon workers mid-task
                        callback_errors.append(error)

        with self._lock:
            self.start()
            self._run(tasks, deliver)
        self.stats.deduplicated += len(codes) - len(tasks)
        if callback_errors:
            raise callback_errors[0]
        return answers

    def _run(self, tasks: list[RenderTask], deliver) -> None:
        """Render `tasks` on the workers, calling `deliver(task index, result)` as each one is done."""
        results: list[RenderResult | None] = [None] * len(tasks)
        pending = list(range(len(tasks)))[::-1]
        busy: dict[int, tuple[_Worker, int, float]] = {}  # worker slot -> (worker, task, deadline)
        while pending or busy:
            for slot, worker in enumerate(self._workers):
                if pending and slot not in busy:
                    index = pending.pop()
                    try:
                        worker.send(tasks[index])
                    except (BrokenPipeError, ConnectionResetError, OSError):
                        pass  # died while idle: the receive below reports it as a crash
                    busy[slot] = (worker, index, time.monotonic() + self.timeout)
            deadline = min(d for _, _, d in busy.values())
            ready = wait([w.conn for w, _, _ in busy.values()], timeout=max(0.0, deadline - time.monotonic()))
            for slot, (worker, index, task_deadline) in list(busy.items()):
                if worker.conn in ready:
                    results[index] = self._receive(slot, worker, tasks[index])
                elif time.monotonic() >= task_deadline:
                    self.stats.timeouts += 1
                    results[index] = RenderResult.failure(
                        "timeout", f"no result within {self.timeout:g} s (compile or render "
                        "too slow, or the compiler hung); the worker was killed and replaced",
                        times=tasks[index].times, renderer=self.renderer)
                    self._replace(slot)
                else:
                    continue
                del busy[slot]
                deliver(index, results[index])
        for result in results:
            self.stats.renders += 1
            kind = result.error_kind or "ok"
            self.stats.outcomes[kind] = self.stats.outcomes.get(kind, 0) + 1

    def _receive(self, slot: int, worker: "_Worker", task: RenderTask) -> RenderResult:
        try:
            result = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=1.0)
            self.stats.crashes += 1
            result = RenderResult.failure(
                "crash", f"the render worker died ({_describe_exit(worker.process.exitcode)}) "
                "while compiling or rendering this shader; it was replaced",
                times=task.times, renderer=self.renderer)
            self._replace(slot)
            return result
        worker.tasks_done += 1
        if worker.tasks_done >= self.max_tasks_per_worker:
            self._replace(slot)
        return result

    # -- workers ---------------------------------------------------------------------------
    def _spawn(self) -> "_Worker":
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_worker_main, args=(child_conn, self.software, self.memory_limit_mb),
            daemon=True, name="earthshader-render")
        with _without_parent_main():
            process.start()
        child_conn.close()
        return _Worker(process, parent_conn)

    def _replace(self, slot: int) -> None:
        self._workers[slot].stop()
        self._workers[slot] = self._spawn().wait_ready()
        self.stats.restarts += 1


class _Worker:
    def __init__(self, process, conn):
        self.process = process
        self.conn = conn
        self.tasks_done = 0
        self.renderer: str | None = None

    def wait_ready(self) -> "_Worker":
        if not self.conn.poll(STARTUP_TIMEOUT):
            self.stop()
            raise RuntimeError(f"a render worker did not start within {STARTUP_TIMEOUT:g} s")
        try:
            status, detail = self.conn.recv()
        except EOFError:
            self.stop()
            raise RuntimeError("a render worker died while starting "
                               f"({_describe_exit(self.process.exitcode)})") from None
        if status != "ready":
            self.stop()
            raise RuntimeError(detail)
        self.renderer = detail
        return self

    def send(self, task: RenderTask) -> None:
        self.conn.send(task)

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send(None)
            self.process.join(timeout=0.5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5.0)
        self.conn.close()


def _worker_main(conn, software: bool | None, memory_limit_mb: int) -> None:
    """Body of a worker process: one GL context, then render tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from earthshader.render.gl import ShaderRenderer, create_gl_context

    try:
        renderer = ShaderRenderer(create_gl_context(software))
    except RuntimeError as err:
        conn.send(("error", str(err)))
        return
    if memory_limit_mb and "llvmpipe" in renderer.renderer_name.lower():
        _limit_address_space(memory_limit_mb)
    conn.send(("ready", renderer.renderer_name))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            renderer.release()
            return
        try:
            result = renderer.render(task)
        except Exception as err:  # e.g. a caller's uniform of the wrong type: report, keep serving
            result = RenderResult.failure("gl", f"{type(err).__name__}: {err}", times=task.times,
                                          renderer=renderer.renderer_name)
        conn.send(result)


def _limit_address_space(extra_mb: int) -> None:
    import resource

    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = current + extra_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@contextlib.contextmanager
def _without_parent_main():
    """Start children without re-importing the parent's `__main__` module.

    `spawn` normally imports the parent's main module in each child; for `python -m
    earthshader.grpo` that means importing torch and TRL (about 6 s) in every worker, and again
    for each replacement after a timeout. Workers need none of it.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _freeze(values: dict) -> tuple:
    return tuple(sorted((name, repr(value)) for name, value in values.items()))


def _copy(result: RenderResult) -> RenderResult:
    """An independent copy for a duplicate request, so callers may modify images in place."""
    return replace(result, image=None if result.image is None else result.image.copy(),
                   frames=[f.copy() for f in result.frames])
