"""The worker side of `RenderPool`: one spawned process with one EGL context, serving numbered requests.

The parent (`earthshader.render.pool`) talks to a worker through `Worker`: each request starts with its
number and each answer repeats it, so an answer left over from an interrupted call is recognised and
dropped instead of being taken for the next one's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
import threading
import time
import types
from multiprocessing.reduction import ForkingPickler

from earthshader.render.result import RenderResult

#: Seconds a new worker may take to import ModernGL and create its EGL context.
STARTUP_TIMEOUT = 60.0

#: Requests up to this size are written at once: an idle worker has read everything before, so
#: they fit the socket's buffer. Larger ones are written from a thread, inside the deadline.
INLINE_SEND_BYTES = 32 * 1024

REQUEST_ID = struct.Struct("<q")  # each request starts with its number; the answer repeats it


class Worker:
    """One worker process and the parent's end of its pipe, with the request it still owes."""

    def __init__(self, process, conn):
        self.process = process
        self.conn = conn
        self.tasks_done = 0
        self.renderer: str | None = None
        self.request_id: int | None = None  # sent and not yet answered
        self.deadline = 0.0
        self.torn = False  # a send or receive in this thread was cut mid-message
        self.sender: threading.Thread | None = None
        self.stopped = False

    def wait_ready(self) -> Worker:
        if not self.conn.poll(STARTUP_TIMEOUT):
            self.stop()
            raise RuntimeError(f"a render worker did not start within {STARTUP_TIMEOUT:g} s")
        try:
            status, detail = self.conn.recv()
        except EOFError:
            self.stop()
            raise RuntimeError("a render worker died while starting "
                               f"({describe_exit(self.process.exitcode)})") from None
        if status != "ready":
            self.stop()
            raise RuntimeError(detail)
        self.renderer = detail
        return self

    def usable(self) -> bool:
        return not self.stopped and not self.torn and self.process.is_alive()

    def send(self, request_id: int, message: bytes, timeout: float) -> None:
        """Send a request; the deadline starts now, before the bytes are written."""
        self.torn = True  # until the request is on its way, an interruption makes the worker unusable
        self.request_id = request_id
        self.deadline = time.monotonic() + timeout
        if len(message) <= INLINE_SEND_BYTES:
            self.conn.send_bytes(message)
        else:
            self.sender = threading.Thread(target=self._send_quietly, args=(message,), daemon=True,
                                           name="earthshader-render-send")
            self.sender.start()
        self.torn = False

    def _send_quietly(self, message: bytes) -> None:
        with contextlib.suppress(OSError):  # the worker died or was killed: the receive reports it
            self.conn.send_bytes(message)

    def receive(self) -> tuple[int, RenderResult]:
        self.torn = True
        answer = self.conn.recv()
        self.torn = False
        return answer

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        idle = self.request_id is None and not self.torn
        if self.process.is_alive() and idle:
            with contextlib.suppress(OSError):
                self.conn.send_bytes(b"")  # please stop
            self.process.join(timeout=0.5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5.0)
        if self.sender is not None:
            self.sender.join(timeout=5.0)  # fails at once now that the worker is gone
        self.conn.close()


def worker_main(conn, software: bool | None, memory_limit_mb: int) -> None:
    """Body of a worker process: one GL context, then render tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from earthshader.render.gl import ShaderRenderer, create_gl_context

    try:
        renderer = ShaderRenderer(create_gl_context(software))
    except RuntimeError as err:
        with contextlib.suppress(OSError):
            conn.send(("error", str(err)))
        return
    if memory_limit_mb and "llvmpipe" in renderer.renderer_name.lower():
        _limit_address_space(memory_limit_mb)
    try:
        conn.send(("ready", renderer.renderer_name))
        _serve(conn, renderer)
    except OSError:  # the parent closed its end (it stopped waiting): nobody to answer
        return


def _serve(conn, renderer) -> None:
    """Answer requests until told to stop: each one is its number, then the pickled task."""
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        if not message:  # asked to stop
            renderer.release()
            return
        (request_id,) = REQUEST_ID.unpack_from(message)
        try:
            task = ForkingPickler.loads(memoryview(message)[REQUEST_ID.size:])
        except Exception as err:  # e.g. an object of a class this process cannot import
            result = RenderResult.failure(
                "invalid_input", f"the request could not be read in the render worker ({type(err).__name__}: "
                f"{err}); code must be a str and uniforms and channels plain numbers or arrays",
                times=(), renderer=renderer.renderer_name)  # the parent fills in the times
        else:
            try:
                result = renderer.render(task)
            except Exception as err:  # not foreseen by the renderer's checks: report, keep serving
                result = RenderResult.failure("gl", f"{type(err).__name__}: {err}", times=task.times,
                                              renderer=renderer.renderer_name)
        conn.send((request_id, result))


def _limit_address_space(extra_mb: int) -> None:
    import resource

    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = current + extra_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@contextlib.contextmanager
def without_parent_main():
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


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
