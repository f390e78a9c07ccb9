"""The render cache shared by all rewards of a GRPO step: one render per completion, batches in parallel.

    from rewards.cache import RenderCache, RenderRequest, shared_cache

    cache = shared_cache()                     # one per process, created lazily, closed at exit
    results = cache.render([RenderRequest(code, 224, 224), ...])   # RenderResult per request, in order
    cache.stats                                # renders, hits, render_seconds, ...

Every render reward (`compiles`, `entropy`, `ssim`, `pixel`, `edges`, `palette`, `appearance`) asks this cache, so the
first reward of a step renders the whole batch through one `RenderPool.render_many` call (workers in
parallel, identical sources once), and the rest of the step's rewards read the stored results. Results
stream out through `on_result` as they finish, so a reward scores early renders while later ones render;
rewards that run at the same time (TRL gathers async rewards concurrently) share one stream: a request
already rendering for one of them is awaited, not rendered twice.
Keys are the extracted code plus every render parameter (size, `iTime` values), so two rewards scoring at
different sizes never share a wrong image. Only deterministic outcomes are stored (a render, a compile
error, `invalid_input`, `loop_limit`): they stay valid across steps, and the oldest are dropped beyond
`max_bytes`. Transient failures (`TRANSIENT_ERRORS`: a timeout under load, a worker crash that may be
blamed on the wrong shader, a GL error) answer the call that rendered them, and calls waiting on that
render, but are not stored: the next request for the same program renders it again.

An empty program never reaches the pool: it gets an `invalid_input` failure at once.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, as_completed
from dataclasses import dataclass

from earthshader.render.result import RenderResult

#: Default memory bound of a cache's stored images (a 256 x 256 frame is 192 KiB).
DEFAULT_MAX_BYTES = 512 * 2**20

#: Render error kinds that may not happen again for the same request: never stored.
TRANSIENT_ERRORS = frozenset({"timeout", "crash", "gl"})


@dataclass(frozen=True)
class RenderRequest:
    """One render: the program and the render parameters (all part of the cache key)."""

    code: str
    width: int
    height: int
    times: tuple[float, ...] = (0.0,)


@dataclass
class CacheStats:
    """Counters since the cache was made: `requests` = `hits` + `misses`; `renders` reached the pool;
    `transient` of those ended in a transient failure and were not stored."""

    requests: int = 0
    hits: int = 0
    misses: int = 0
    renders: int = 0
    transient: int = 0
    render_calls: int = 0
    render_seconds: float = 0.0


class RenderCache:
    """Renders `RenderRequest`s through a lazily started `RenderPool`, remembering the results.

    Args:
        workers: render processes (default: the cores available); 1 renders serially.
        timeout: seconds one shader may take before its worker is killed (`timeout` result).
        enabled: False renders every request again (each reward renders for itself): for benchmarks.
        max_bytes: bound on the stored images; the least recently used entries go first.
        pool_factory: called with no argument to make the pool (tests pass a fake); by default
            `earthshader.render.RenderPool(workers=workers, timeout=timeout)`.

    Thread-safe. Pickling keeps the settings and drops the pool and the stored results.
    """

    def __init__(self, workers: int | None = None, timeout: float = 5.0, enabled: bool = True,
                 max_bytes: int = DEFAULT_MAX_BYTES, pool_factory=None):
        self.workers = workers
        self.timeout = timeout
        self.enabled = enabled
        self.max_bytes = max_bytes
        self.pool_factory = pool_factory
        self._setup()

    def _setup(self) -> None:
        self.stats = CacheStats()
        self._entries: OrderedDict[RenderRequest, RenderResult] = OrderedDict()
        self._inflight: dict[RenderRequest, Future] = {}  # renders a running `render` call owns
        self._bytes = 0
        self._pool = None
        self._lock = threading.Lock()
        self._pool_lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in ("workers", "timeout", "enabled", "max_bytes", "pool_factory")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._setup()

    @property
    def pool(self):
        """The render pool, started on first use and closed when the interpreter exits."""
        with self._pool_lock:
            if self._pool is None:
                if self.pool_factory is not None:
                    self._pool = self.pool_factory()
                else:
                    from earthshader.render import RenderPool

                    self._pool = RenderPool(workers=self.workers, timeout=self.timeout)
                atexit.register(self.close)
            return self._pool

    def close(self) -> None:
        """Stop the pool's workers (a later render starts a new pool). Safe to call twice."""
        pool, self._pool = self._pool, None
        if pool is not None and hasattr(pool, "close"):
            pool.close()

    def clear(self) -> None:
        """Forget every stored result (the counters stay)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def render(self, requests: list[RenderRequest | None], on_result=None) -> list[RenderResult]:
        """One `RenderResult` per request, in order; `None` or an empty program fails as `invalid_input`.

        `on_result(index, result)`, if given, is called in this thread once per request as soon as its
        result is known: at once for stored results and failures, while the others still render for fresh
        ones. Several threads may call `render` at the same time (TRL runs async rewards concurrently): a
        request another call is rendering is not rendered again, its result is passed on when it arrives.
        """
        answers: list[RenderResult | None] = [None] * len(requests)
        callback_errors: list[BaseException] = []

        def answer(indices: list[int], result: RenderResult) -> None:
            for index in indices:
                answers[index] = result
                if on_result is not None and not callback_errors:
                    try:
                        on_result(index, result)
                    except Exception as error:  # keep delivering renders that other calls wait for
                        callback_errors.append(error)

        known, owned, awaited = self._claim(requests)
        for indices, result in known:
            answer(indices, result)
        if owned:
            self._render_owned(owned, answer)
        for future in as_completed(awaited):  # renders of other calls, as they finish
            answer(awaited[future], future.result())
        if callback_errors:
            raise callback_errors[0]
        return answers

    def _claim(self, requests: list[RenderRequest | None]):
        """Sort requests into results known now, renders this call owns, and renders other calls own.

        Returns `(known, owned, awaited)`: `known` a list of (indices, result); `owned` maps each request
        to render to (its Future, its indices); `awaited` maps another call's Future to the indices it answers.
        """
        known, owned, awaited, failed = [], {}, {}, []
        with self._lock:
            for index, request in enumerate(requests):
                if request is None or not request.code.strip():
                    failed.append(index)
                    continue
                self.stats.requests += 1
                if request in owned:  # a repeat within this call: rendered once, counted as a miss
                    owned[request][1].append(index)
                    self.stats.misses += 1
                    continue
                stored = self._entries.get(request) if self.enabled else None
                if stored is not None:
                    self.stats.hits += 1
                    self._entries.move_to_end(request)
                    known.append(([index], stored))
                elif self.enabled and request in self._inflight:  # another call is rendering it
                    self.stats.hits += 1
                    awaited.setdefault(self._inflight[request], []).append(index)
                else:
                    self.stats.misses += 1
                    owned[request] = (Future(), [index])
                    if self.enabled:
                        self._inflight[request] = owned[request][0]
        if failed:
            known.append((failed, RenderResult.failure("invalid_input", "no GLSL code in the completion")))
        return known, owned, awaited

    def _render_owned(self, owned: dict[RenderRequest, tuple[Future, list[int]]], answer) -> None:
        """Render this call's requests (one `render_many` call per set of render parameters), resolving
        their Futures and calling `answer(indices, result)` as each finishes; then store them in request
        order, so that what is evicted first does not depend on render speed."""
        groups: dict[tuple, list[RenderRequest]] = {}
        for request in owned:
            groups.setdefault((request.width, request.height, request.times), []).append(request)

        def rendered(request: RenderRequest, result: RenderResult) -> None:
            future, indices = owned[request]
            future.set_result(result)
            answer(indices, result)

        try:
            for (width, height, times), group in groups.items():
                start = time.perf_counter()
                self.pool.render_many([r.code for r in group], width=width, height=height, times=list(times),
                                      on_result=lambda index, result, group=group: rendered(group[index], result))
                with self._lock:
                    self.stats.render_seconds += time.perf_counter() - start
                    self.stats.render_calls += 1
                    self.stats.renders += len(group)
        except BaseException as error:  # calls waiting on these renders must not wait forever
            for future, _ in owned.values():
                if not future.done():
                    future.set_exception(error)
            raise
        finally:
            with self._lock:
                for request, (future, _) in owned.items():
                    if self._inflight.get(request) is future:
                        del self._inflight[request]
                    if future.done() and future.exception() is None:
                        if future.result().error_kind in TRANSIENT_ERRORS:
                            self.stats.transient += 1
                        elif self.enabled:
                            self._store(request, future.result())

    def _store(self, request: RenderRequest, result: RenderResult) -> None:
        if request in self._entries:
            return
        self._entries[request] = result
        self._bytes += _image_bytes(result)
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            self._bytes -= _image_bytes(old)


def _image_bytes(result: RenderResult) -> int:
    """Memory held by a result's pixels (`image` is normally the first of `frames`)."""
    if result.frames:
        return sum(frame.nbytes for frame in result.frames)
    return result.image.nbytes if result.image is not None else 0


_shared: RenderCache | None = None
_shared_lock = threading.Lock()


def shared_cache() -> RenderCache:
    """The process's render cache (and through it, its one `RenderPool`), made on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RenderCache()
        return _shared


def configure_shared_cache(**options) -> RenderCache:
    """Replace the process's render cache with one built from `RenderCache` options (closing the old pool).

    For example `configure_shared_cache(workers=8, timeout=10.0)` before training on a 16-core box
    shared by two training processes.
    """
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close()
        _shared = RenderCache(**options)
        return _shared
