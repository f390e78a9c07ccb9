"""The render cache shared by all rewards of a GRPO step: one render per completion, batches in parallel.

    from rewards.cache import RenderCache, RenderRequest, shared_cache

    cache = shared_cache()                     # one per process, created lazily, closed at exit
    results = cache.render([RenderRequest(code, 224, 224), ...])   # RenderResult per request, in order
    cache.stats                                # renders, hits, render_seconds, ...

Every render reward (`compiles`, `entropy`, `ssim`, `pixel`, `edges`, `palette`) asks this cache, so the
first reward of a step renders the whole batch through one `RenderPool.render_many` call (workers in
parallel, identical sources once), and the rest of the step's rewards read the stored results. Results
stream out through `on_result` as they finish, so a reward scores early renders while later ones render.
Keys are the extracted code plus every render parameter (size, `iTime` values), so two rewards scoring at
different sizes never share a wrong image. Renders are deterministic, so entries stay valid across steps;
the oldest are dropped beyond `max_bytes`.

An empty program never reaches the pool: it gets an `invalid_input` failure at once.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from earthshader.render.result import RenderResult

#: Default memory bound of a cache's stored images (a 256 x 256 frame is 192 KiB).
DEFAULT_MAX_BYTES = 512 * 2**20


@dataclass(frozen=True)
class RenderRequest:
    """One render: the program and the render parameters (all part of the cache key)."""

    code: str
    width: int
    height: int
    times: tuple[float, ...] = (0.0,)


@dataclass
class CacheStats:
    """Counters since the cache was made: `requests` = `hits` + `misses`; `renders` reached the pool."""

    requests: int = 0
    hits: int = 0
    misses: int = 0
    renders: int = 0
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
        self._bytes = 0
        self._pool = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in ("workers", "timeout", "enabled", "max_bytes", "pool_factory")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._setup()

    @property
    def pool(self):
        """The render pool, started on first use and closed when the interpreter exits."""
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

        `on_result(index, result)`, if given, is called once per request as soon as its result is known:
        at once for stored results and failures, while the others still render for fresh ones.
        """
        with self._lock:
            answers: list[RenderResult | None] = [None] * len(requests)

            def answer(index: int, result: RenderResult) -> None:
                answers[index] = result
                if on_result is not None:
                    on_result(index, result)

            missing: dict[RenderRequest, list[int]] = {}
            for index, request in enumerate(requests):
                if request is None or not request.code.strip():
                    answer(index, RenderResult.failure("invalid_input", "no GLSL code in the completion"))
                    continue
                self.stats.requests += 1
                stored = self._entries.get(request) if self.enabled else None
                if stored is not None:
                    self.stats.hits += 1
                    self._entries.move_to_end(request)
                    answer(index, stored)
                else:
                    self.stats.misses += 1
                    missing.setdefault(request, []).append(index)

            def rendered(request: RenderRequest, result: RenderResult) -> None:
                for index in missing[request]:
                    answer(index, result)

            fresh = self._render_missing(list(missing), rendered)
            if self.enabled:  # stored in request order: what is evicted first must not depend on render speed
                for request, result in fresh.items():
                    self._store(request, result)
            return answers

    def _render_missing(self, requests: list[RenderRequest], rendered) -> dict[RenderRequest, RenderResult]:
        """Render the requests (one `render_many` call per set of render parameters), calling
        `rendered(request, result)` as each one finishes; returns the results in request order."""
        groups: dict[tuple, list[RenderRequest]] = {}
        for request in requests:
            groups.setdefault((request.width, request.height, request.times), []).append(request)
        results = {}
        for (width, height, times), group in groups.items():
            start = time.perf_counter()
            done = self.pool.render_many([r.code for r in group], width=width, height=height, times=list(times),
                                         on_result=lambda index, result, group=group: rendered(group[index], result))
            self.stats.render_seconds += time.perf_counter() - start
            self.stats.render_calls += 1
            self.stats.renders += len(group)
            results.update(zip(group, done))
        return {request: results[request] for request in requests}

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
