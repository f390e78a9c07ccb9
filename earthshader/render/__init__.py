"""Headless, sandboxed Shadertoy rendering (ModernGL over EGL).

    from earthshader.render import render, RenderPool

    result = render(code, 256, 256, time=1.0)        # one-off; runs in a shared sandbox worker
    if result.ok:
        result.image                                  # H x W x 3 uint8, top row first
    else:
        print(result.error.kind, result.error.message, *result.diagnostics)

    with RenderPool(timeout=5.0) as pool:             # batches: one worker per core
        results = pool.render_many(codes, width=128, height=128)

Importing this package touches no GL driver; only worker processes do.
"""

from __future__ import annotations

import atexit
import threading

from earthshader.render.pool import RenderPool, default_workers
from earthshader.render.result import ERROR_KINDS, Diagnostic, RenderError, RenderResult

__all__ = ["render", "RenderPool", "RenderResult", "RenderError", "Diagnostic", "ERROR_KINDS",
           "default_workers"]

_shared_pool: RenderPool | None = None
_shared_lock = threading.Lock()


def render(code: str, width: int = 256, height: int = 256, time: float = 0.0, **options) -> RenderResult:
    """Render one Shadertoy Image pass in a sandboxed worker shared by the whole process.

    Options are those of `RenderPool.render_many` (`times`, `mouse`, `date`, `channels`,
    `uniforms`, `uniform_declarations`). The first call starts the worker (about a second).
    For batches, use a `RenderPool` with several workers instead.
    """
    global _shared_pool
    with _shared_lock:
        if _shared_pool is None:
            _shared_pool = RenderPool(workers=1)
            atexit.register(_shared_pool.close)
        pool = _shared_pool
    return pool.render(code, width, height, time=time, **options)
