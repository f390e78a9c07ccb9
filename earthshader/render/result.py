"""Plain data returned by the renderer: `RenderResult`, `RenderError`, `Diagnostic`.

Everything here is picklable (results travel from worker processes back to the pool) and
free of GL state, so any module can import it without touching a driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Error kinds a render can end with. `compile` covers compile and link errors.
ERROR_KINDS = (
    "invalid_input",  # empty, too large, binary, no `mainImage`: rejected before compiling
    "compile",  # the GLSL compiler or linker refused it (see `diagnostics`)
    "loop_limit",  # a loop hit the project's iteration cap: the image depends on our cap, so it fails
    "timeout",  # the worker ran past its wall-clock limit and was killed and replaced
    "crash",  # the worker process died (driver crash, memory limit) and was replaced
    "gl",  # any other GL error while rendering
)


@dataclass(frozen=True)
class Diagnostic:
    """One compiler message, with the line number in the user's own source (1-based).

    `line` is None when the message points into the Shadertoy wrapper rather than user code.
    """

    line: int | None
    message: str
    severity: str = "error"
    column: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "wrapper"
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class RenderError:
    """Why a render failed: `kind` is one of `ERROR_KINDS`, `message` says what happened."""

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass
class RenderResult:
    """The outcome of rendering one shader.

    - `ok`: True when the shader compiled and every frame rendered within the limits.
    - `image`: the first frame, H x W x 3 uint8, top row first (None when nothing rendered).
    - `frames`: one image per requested `iTime` value, in order.
    - `error`: a `RenderError` when `ok` is False.
    - `diagnostics`: compiler messages in the user's line numbers (warnings too).
    - `dialect`: "es300" (GLSL ES 3.00, as on shadertoy.com) or "glsl330" (the desktop fallback).
    - `compile_ms`, `render_ms`: time spent compiling (0 when the program came from the
      worker's cache) and drawing plus reading back all frames.
    - `renderer`: the GL renderer string (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)").
    - `nonfinite_fraction`: share of pixels whose colour was NaN or infinite (drawn black).
    """

    ok: bool
    image: np.ndarray | None = None
    frames: list[np.ndarray] = field(default_factory=list)
    times: tuple[float, ...] = (0.0,)
    error: RenderError | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    dialect: str | None = None
    compile_ms: float = 0.0
    render_ms: float = 0.0
    renderer: str | None = None
    nonfinite_fraction: float = 0.0

    @classmethod
    def failure(cls, kind: str, message: str, **extra) -> RenderResult:
        """A failed result with an error of the given kind."""
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown render error kind {kind!r}; valid: {ERROR_KINDS}")
        return cls(ok=False, error=RenderError(kind, message), **extra)

    @property
    def error_kind(self) -> str | None:
        return self.error.kind if self.error else None
