"""`RenderPool`: sandboxed, parallel Shadertoy rendering in worker processes.

Each worker is a fresh interpreter (the `spawn` start method) that owns one EGL context for its
whole life and reuses it across shaders. The parent gives each worker one shader at a time
and waits with a wall-clock deadline: a worker that runs past it is killed and replaced (the
shader gets a `timeout` result); a worker that dies is replaced too (`crash`). Results come
back in input order, and a bad shader never raises.

The protocol cannot lose its place: every request carries a number that its answer repeats, and
a call interrupted while it waits (Ctrl-C, a signal-based deadline) leaves its workers owing
answers that the next call reads and drops (or, past their deadline, kills). A worker found dead
while idle is replaced before a shader is sent to it, and large requests are sent from a thread
inside the deadline, so a worker that stopped reading cannot block the caller.

    from earthshader.render import RenderPool

    with RenderPool(workers=2, timeout=5.0) as pool:
        results = pool.render_many(codes, width=128, height=128, time=0.0)
        images = [r.image for r in results if r.ok]

Identical requests inside one `render_many` call are rendered once (GRPO groups often repeat a
completion), and each worker caches compiled programs, so rendering one source again with new
`uniforms` or `times` costs no compilation. The parent runs the GLSL preprocessor for the next
`BATCH_SIZE` sources at once before sending them, so that a batch pays its start-up once.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait
from multiprocessing.reduction import ForkingPickler

import numpy as np

from earthshader.render.gl import DEFAULT_DATE, RenderTask
from earthshader.render.preprocess import BATCH_SIZE
from earthshader.render.result import RenderResult
from earthshader.render.shadertoy import DEFAULT_LOOP_LIMIT, expand_many
from earthshader.render.worker import (
    REQUEST_ID,
    Worker,
    describe_exit,
    without_parent_main,
    worker_main,
)


def default_workers() -> int:
    """The cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class PoolStats:
    """Counters since the pool started; `restarts` counts workers replaced for any reason;
    `discarded` counts answers owed to an interrupted call, read and dropped."""

    renders: int = 0
    deduplicated: int = 0
    timeouts: int = 0
    crashes: int = 0
    restarts: int = 0
    discarded: int = 0
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
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        self._owner: int | None = None  # the thread inside `render_many`, to refuse re-entry
        self._request_ids = itertools.count(1)
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> RenderPool:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start the workers (done automatically by the first render)."""
        if self._closed:
            raise RuntimeError("this RenderPool is closed")
        if not self._workers:
            starting = []
            try:
                starting += [self._spawn() for _ in range(self.workers)]
                self._workers = [worker.wait_ready() for worker in starting]
            except BaseException:  # interrupted or failed: leave no half-started workers behind
                for worker in starting:
                    worker.stop()
                raise
            self.renderer = self._workers[0].renderer

    def close(self) -> None:
        """Stop every worker. Safe to call twice; waits for a render in another thread to end."""
        self._refuse_reentry("close")
        with self._lock:
            self._closed = True
            for worker in self._workers:
                worker.stop()
            self._workers = []

    def _refuse_reentry(self, what: str) -> None:
        if self._owner == threading.get_ident():
            raise RuntimeError(
                f"RenderPool.{what} was called from inside an on_result callback of the same pool "
                "(re-entry), which would deadlock: render after render_many returns, or use another pool")

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
                It must not call this pool (that raises RuntimeError); a second pool is fine.

        Code, uniforms or channels that cannot be sent to a worker (a lambda, an object that does
        not pickle) give that source an `invalid_input` result, as do sizes or channels beyond
        what the GL can allocate.
        """
        self._refuse_reentry("render_many")
        codes = list(codes)
        if isinstance(uniforms, list) and len(uniforms) != len(codes):
            raise ValueError(f"got {len(uniforms)} uniform sets for {len(codes)} shaders")
        base = RenderTask(
            code="", width=int(width), height=int(height),
            times=tuple(float(t) for t in (times if times is not None else [time])),
            mouse=tuple(float(v) for v in (mouse or (0.0, 0.0, 0.0, 0.0))),
            date=tuple(float(v) for v in (date or DEFAULT_DATE)),
            channels=tuple(_as_image(c) for c in (channels or ())),
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
                tasks.append(replace(base, code=code, uniforms=dict(values) if isinstance(values, Mapping) else values))
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
            self._owner = threading.get_ident()
            try:
                self.start()
                self._run(tasks, deliver)
            finally:
                self._owner = None
        self.stats.deduplicated += len(codes) - len(tasks)
        if callback_errors:
            raise callback_errors[0]
        return answers

    def _run(self, tasks: list[RenderTask], deliver) -> None:
        """Render `tasks` on the workers, calling `deliver(task index, result)` as each one is done."""
        results: list[RenderResult | None] = [None] * len(tasks)
        pending = list(range(len(tasks)))[::-1]
        # worker slot -> task index; None where the worker owes an answer to an interrupted call
        busy: dict[int, int | None] = {}
        for slot, worker in enumerate(self._workers):
            if not worker.usable():  # died idle, or its stream was cut mid-message
                self._replace(slot)
            elif worker.request_id is not None:
                busy[slot] = None
        preprocessed: set[int] = set()
        while pending or busy:
            for slot in range(len(self._workers)):
                while pending and slot not in busy:
                    index = pending.pop()
                    if index not in preprocessed:
                        _preprocess_ahead(tasks, [index, *pending[::-1][:BATCH_SIZE - 1]], preprocessed)
                    message = self._message(tasks[index])
                    if isinstance(message, RenderResult):  # could not be sent: no worker involved
                        results[index] = message
                        deliver(index, message)
                        continue
                    if not self._workers[slot].usable():  # died while idle: not this shader's fault
                        self._replace(slot)
                    try:
                        self._workers[slot].send(*message, self.timeout)
                    except OSError:
                        pass  # died this instant: the receive below reports it as a crash
                    busy[slot] = index
            if not busy:
                continue
            deadline = min(self._workers[slot].deadline for slot in busy)
            ready = wait([self._workers[slot].conn for slot in busy],
                         timeout=max(0.0, deadline - time.monotonic()))
            now = time.monotonic()
            for slot, index in list(busy.items()):
                worker = self._workers[slot]
                task = None if index is None else tasks[index]
                if worker.conn in ready:
                    result = self._receive(slot, worker, task)
                    if result is None and index is not None:
                        continue  # an older answer was dropped; this request's answer is still due
                elif now >= worker.deadline:
                    self._replace(slot)
                    result = None if task is None else self._timed_out(task)
                else:
                    continue
                del busy[slot]
                if index is not None:
                    results[index] = result
                    deliver(index, result)
        for result in results:
            self.stats.renders += 1
            kind = result.error_kind or "ok"
            self.stats.outcomes[kind] = self.stats.outcomes.get(kind, 0) + 1

    def _message(self, task: RenderTask):
        """(request id, bytes to send), or an `invalid_input` result when the task does not pickle."""
        request_id = next(self._request_ids)
        try:
            payload = ForkingPickler.dumps(task)
        except Exception as err:  # PicklingError, TypeError, AttributeError ("local object") ...
            return RenderResult.failure(
                "invalid_input", f"the request cannot be sent to a render worker ({type(err).__name__}: "
                f"{err}); code must be a str and uniforms and channels plain numbers or arrays",
                times=task.times, renderer=self.renderer)
        return request_id, REQUEST_ID.pack(request_id) + payload

    def _receive(self, slot: int, worker: Worker, task: RenderTask | None) -> RenderResult | None:
        """The answer to `worker`'s request: `task`'s result, or None for an answer owed to an
        interrupted call (`task` None) or any older one, which are dropped."""
        try:
            request_id, result = worker.receive()
        except (EOFError, OSError):
            worker.process.join(timeout=1.0)
            self._replace(slot)
            if task is None:
                return None  # it died on the interrupted call's shader; nobody waits for that
            self.stats.crashes += 1
            return RenderResult.failure(
                "crash", f"the render worker died ({describe_exit(worker.process.exitcode)}) "
                "while compiling or rendering this shader; it was replaced",
                times=task.times, renderer=self.renderer)
        if request_id != worker.request_id:
            self.stats.discarded += 1
            return None
        worker.request_id = None
        worker.tasks_done += 1
        if worker.tasks_done >= self.max_tasks_per_worker:
            self._replace(slot)
        if task is None:
            self.stats.discarded += 1
            return None
        return result if result.times else replace(result, times=task.times)

    def _timed_out(self, task: RenderTask) -> RenderResult:
        self.stats.timeouts += 1
        return RenderResult.failure(
            "timeout", f"no result within {self.timeout:g} s (compile or render too slow, the "
            "compiler hung, or the worker stopped reading); the worker was killed and replaced",
            times=task.times, renderer=self.renderer)

    # -- workers ---------------------------------------------------------------------------
    def _spawn(self) -> Worker:
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main, args=(child_conn, self.software, self.memory_limit_mb),
            daemon=True, name="earthshader-render")
        with without_parent_main():
            process.start()
        child_conn.close()
        return Worker(process, parent_conn)

    def _replace(self, slot: int) -> None:
        self._workers[slot].stop()
        self._workers[slot] = self._spawn().wait_ready()
        self.stats.restarts += 1


def _preprocess_ahead(tasks: list[RenderTask], indices: list[int], done: set[int]) -> None:
    """Give `tasks[indices]` their preprocessor output (`RenderTask.expanded`), from one run for all.

    Only a saving: where it cannot be had (no preprocessor, no temporary folder), each worker
    runs the preprocessor itself and reports any problem as that shader's result.
    """
    done.update(indices)
    try:
        texts = expand_many([tasks[i].code for i in indices])
    except (OSError, RuntimeError):
        return
    for i, text in zip(indices, texts):
        if text is not None:
            tasks[i] = replace(tasks[i], expanded=text)


def _freeze(values) -> tuple:
    if not isinstance(values, Mapping):
        return ("not a mapping", repr(values))  # the worker refuses it; this only keys deduplication
    return tuple(sorted((repr(name), repr(value)) for name, value in values.items()))


def _as_image(channel):
    """A channel as uint8 (compact to send); left as given when it is no array, for the worker to refuse."""
    if channel is None:
        return None
    try:
        return np.asarray(channel, dtype=np.uint8)
    except (TypeError, ValueError):
        return channel


def _copy(result: RenderResult) -> RenderResult:
    """An independent copy for a duplicate request, so callers may modify images in place."""
    return replace(result, image=None if result.image is None else result.image.copy(),
                   frames=[f.copy() for f in result.frames])
