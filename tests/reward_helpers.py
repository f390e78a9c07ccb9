"""Shared helpers for the reward tests: one real render pool per test process, a render counter,
TRL-shaped completions and small hand-written shaders."""

from __future__ import annotations

import atexit

import numpy as np

from earthshader.render import RenderPool
from rewards.cache import RenderCache

_pool: RenderPool | None = None


def real_pool() -> RenderPool:
    """A real (EGL, llvmpipe on CPU) render pool shared by the reward tests of this process."""
    global _pool
    if _pool is None:
        _pool = RenderPool(workers=2, timeout=5.0)
        atexit.register(_pool.close)
    return _pool


class CountingPool:
    """Wraps the real pool and counts every program it is asked to render (no `close`: the pool is shared)."""

    def __init__(self, pool):
        self.pool = pool
        self.rendered: list[str] = []
        self.calls = 0

    def render_many(self, codes, **options):
        self.calls += 1
        self.rendered.extend(codes)
        return self.pool.render_many(codes, **options)


def counting_cache(enabled: bool = True) -> tuple[RenderCache, CountingPool]:
    """A fresh cache over the real pool, with the counter that sees every render."""
    counter = CountingPool(real_pool())
    return RenderCache(enabled=enabled, pool_factory=lambda: counter), counter


def completion(code: str) -> list[dict]:
    """A TRL conversational completion holding `code` in a ```glsl fence."""
    return [{"role": "assistant", "content": f"```glsl\n{code}\n```"}]


def solid(rgb) -> str:
    """A shader that ignores fragCoord: the whole image in one colour (components in 0..1)."""
    r, g, b = (float(v) for v in rgb)
    return f"void mainImage(out vec4 fragColor, in vec2 fragCoord) {{ fragColor = vec4({r!r}, {g!r}, {b!r}, 1.0); }}"


#: A structured target: soft diagonal stripes and rings in colour.
PATTERN = """void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.xy;
    float stripes = 0.5 + 0.5 * sin(18.0 * (uv.x + uv.y));
    float rings = 0.5 + 0.5 * cos(30.0 * length(uv - 0.5));
    fragColor = vec4(0.2 + 0.7 * stripes, 0.3 + 0.5 * rings * stripes, 0.8 - 0.6 * rings, 1.0);
}"""


def recoloured(code: str, gain=(1.12, 0.9, 1.0), offset=0.03) -> str:
    """The same program with its colours slightly changed (same structure)."""
    renamed = code.replace("void mainImage(", "void originalImage(", 1)
    gains = ", ".join(f"{float(g)!r}" for g in gain)
    return renamed + (
        "\nvoid mainImage(out vec4 fragColor, in vec2 fragCoord) {\n"
        "    originalImage(fragColor, fragCoord);\n"
        f"    fragColor.rgb = clamp(fragColor.rgb * vec3({gains}) + {float(offset)!r}, 0.0, 1.0);\n"
        "}"
    )


def render_image(code: str, size: int = 64) -> np.ndarray:
    """Render `code` with the shared pool; the test fails if it does not render."""
    result = real_pool().render(code, size, size)
    assert result.ok, result.error
    return result.image
