"""Rendering throughput: a bare in-process ModernGL loop against the sandboxed RenderPool.

    python benchmarks/render.py [--size 256] [--n 50] [--real 200] [--workers N [N ...]] [--corpus FILE]

Suites: procedural textures and raymarched terrains (fixed seeds of the project's generators) and,
when `../shared/data/shadertoys.jsonl.gz` is present, real Shadertoy shaders (a fixed sample).
For each suite it prints shaders per second for
  (a) a bare loop in this process: compile with a plain Shadertoy wrapper, draw, read back, release;
  (b) the RenderPool with one worker; (c) the RenderPool with all cores;
and the ratios b/a and c/a, and the CPU time (b) takes per shader: the pool's processes and the
preprocessor's, less an idle pool's start and stop; it moves far less than a rate when other work
shares the machine; then what the GLSL preprocessor costs the real shaders, run once a shader
and in the pool's batches. Disk shader caches are turned off (a warm cache makes a second run
about 18x faster and the figure meaningless), and every source is unique within a suite, so the
pool's in-memory program cache never helps.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

# Before any GL library loads, here and in the spawned workers (they inherit the environment).
os.environ["MESA_SHADER_CACHE_DISABLE"] = "true"
os.environ["__GL_SHADER_DISK_CACHE"] = "0"

import moderngl  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from earthshader.data.generators import generate  # noqa: E402
from earthshader.data.sources import ShaderRow, read_source  # noqa: E402
from earthshader.render import RenderPool, default_workers  # noqa: E402
from earthshader.render.preprocess import BATCH_SIZE, needs_preprocessing, preprocess_many  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "shadertoys.jsonl.gz"

PLAIN_HEADER = """#version 300 es
precision highp float;
precision highp int;
uniform vec3 iResolution;
uniform float iTime;
uniform vec4 iMouse;
uniform int iFrame;
uniform sampler2D iChannel0;
out vec4 shadertoyColor;
"""
PLAIN_FOOTER = """
void main() { vec4 c = vec4(0.0, 0.0, 0.0, 1.0); mainImage(c, gl_FragCoord.xy); shadertoyColor = vec4(c.rgb, 1.0); }
"""
PLAIN_VERTEX = """#version 300 es
void main() { vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2)); gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0); }
"""


def bare_loop(codes: list[str], size: int) -> tuple[float, int]:
    """(a) The anchor: what a plain script does. Returns (seconds, shaders that rendered)."""
    ctx = moderngl.create_context(standalone=True, backend="egl")
    fbo = ctx.simple_framebuffer((size, size))
    fbo.use()
    ok = 0
    start = time.perf_counter()
    for code in codes:
        try:
            program = ctx.program(vertex_shader=PLAIN_VERTEX, fragment_shader=PLAIN_HEADER + code + PLAIN_FOOTER)
        except moderngl.Error:
            continue
        if "iResolution" in program:
            program["iResolution"].value = (size, size, 1.0)
        vao = ctx.vertex_array(program, [])
        vao.render(vertices=3)
        fbo.read(components=3)
        vao.release()
        program.release()
        ok += 1
    seconds = time.perf_counter() - start
    fbo.release()
    ctx.release()
    return seconds, ok


def pool_run(codes: list[str], size: int, workers: int) -> tuple[float, int, float]:
    """(b)/(c): the sandboxed pool. Returns (seconds, shaders that rendered, CPU seconds).

    The seconds exclude start-up (a training run starts the pool once). The CPU seconds are
    those of this process, its workers and their subprocesses (the GLSL preprocessor), start-up
    and shut-down included; `cpu_seconds_of_an_idle_pool` measures those two alone. On a loaded
    machine they move far less than the seconds do.
    """
    cpu_before = _cpu_seconds()
    with RenderPool(workers=workers, timeout=60.0) as pool:
        start = time.perf_counter()
        results = pool.render_many(codes, width=size, height=size)
        seconds = time.perf_counter() - start
    return seconds, sum(r.ok for r in results), _cpu_seconds() - cpu_before


def cpu_seconds_of_an_idle_pool(workers: int) -> float:
    """CPU seconds to start and stop a pool that renders nothing."""
    cpu_before = _cpu_seconds()
    with RenderPool(workers=workers):
        pass
    return _cpu_seconds() - cpu_before


def _cpu_seconds() -> float:
    """User and system CPU of this process and of its finished children (and theirs)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def suites(n: int, real: int, corpus: Path) -> dict[str, list[str]]:
    found = {
        "textures": [generate("textures", seed).code for seed in range(n)],
        "terrains": [generate("terrains", seed).code for seed in range(n)],
    }
    if real and corpus.exists():
        rows = [row.code for row in read_source(str(corpus)) if isinstance(row, ShaderRow)]
        found["real shaders"] = random.Random(0).sample(rows, min(real, len(rows)))
    for name, codes in found.items():  # unique sources: no cache of any kind can help
        found[name] = [f"// {name} #{i}\n{code}" for i, code in enumerate(codes)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n", type=int, default=50, help="procedural shaders per suite")
    parser.add_argument("--real", type=int, default=200, help="real shaders (0 to skip)")
    parser.add_argument("--workers", type=int, nargs="+", default=[default_workers()],
                        help="worker counts for (c); several give several columns")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="Shadertoy corpus (.jsonl.gz)")
    args = parser.parse_args()
    console = Console()
    ctx = moderngl.create_context(standalone=True, backend="egl")
    renderer = ctx.info["GL_RENDERER"]
    ctx.release()
    table = Table(title=f"Shaders per second at {args.size}x{args.size} on {renderer}, "
                        f"{os.cpu_count()} CPUs, disk shader caches off")
    idle_cpu = cpu_seconds_of_an_idle_pool(1)
    columns = ["suite", "shaders", "(a) bare loop", "(b) pool, 1 worker", "b/a", "(b) CPU ms a shader"]
    for workers in args.workers:
        columns += [f"(c) pool, {workers} workers", f"c/a ({workers})"]
    for column in columns:
        table.add_column(column, justify="right")
    found = suites(args.n, args.real, args.corpus)
    for name, codes in found.items():
        a_s, a_ok = bare_loop(codes, args.size)
        b_s, b_ok, b_cpu = pool_run(codes, args.size, 1)
        a, b = len(codes) / a_s, len(codes) / b_s
        b_ms = 1000 * (b_cpu - idle_cpu) / len(codes)
        cells = [name, str(len(codes)), f"{a:.1f} ({a_ok} ok)", f"{b:.1f} ({b_ok} ok)", f"{b / a:.2f}", f"{b_ms:.0f}"]
        for workers in args.workers:
            c_s, c_ok, _ = pool_run(codes, args.size, workers)
            c = len(codes) / c_s
            cells += [f"{c:.1f} ({c_ok} ok)", f"{c / a:.2f}"]
            console.print(f"{name}: a {a:.1f}/s, b {b:.1f}/s ({b_ms:.0f} ms CPU a shader), c({workers}) {c:.1f}/s")
        table.add_row(*cells)
    console.print(table)
    if "real shaders" in found:
        console.print(preprocessor_cost(found["real shaders"]))


def preprocessor_cost(codes: list[str]) -> str:
    """What the GLSL preprocessor costs the real shaders: run once a shader, and in batches as the pool runs it."""
    wrapped = [code for code in codes if needs_preprocessing(code)]
    start = time.perf_counter()
    for code in wrapped:
        preprocess_many([code], "es300")
    alone = time.perf_counter() - start
    start = time.perf_counter()
    preprocess_many(wrapped, "es300")
    batched = time.perf_counter() - start
    return (f"GLSL preprocessor: {len(wrapped)} of {len(codes)} real shaders need it; "
            f"{1000 * alone / max(1, len(wrapped)):.1f} ms each run alone, "
            f"{1000 * batched / max(1, len(wrapped)):.1f} ms each in batches of up to {BATCH_SIZE}")


if __name__ == "__main__":
    main()
