"""Fuzz the sandbox: mutated real shaders, then adversarial case lists, through the RenderPool.

    python benchmarks/fuzz_render.py [--n 2000] [--size 64] [--timeout 5] [--seed 0] [--lists NAME ...]
                                     [--corpus FILE] [--workers N]

Case lists (`CASE_LISTS`; a defect class adds its own list there):
  mutations  corpus shaders (`--corpus`, by default `../shared/data/shadertoys.jsonl.gz`, or the
             procedural generators when it is absent) with one token-level mutation each: deletions, duplications, swaps, injected
             endless loops, truncation, garbage
  endless    endless loops that every pixel reaches; each must end `loop_limit` or `timeout`
  guard      loops only the preprocessor shows and user code aimed at the guard's names (each must
             end `loop_limit`, or `compile` where a pasted name no longer exists), user macros and
             overloads aimed at the NaN count (it must stay 1), valid GLSL the guard once refused
  poisoning  a bad request (a size the GL cannot allocate, wrong-typed uniforms with channels, channels
             of the wrong shape, a uniform left set), then an innocent one that must get its own result
  protocol   calls interrupted by a timer signal, workers killed while idle or stopped while a large
             request is sent, re-entry from `on_result`, code and uniforms that do not pickle; after
             each, numbered solid colours whose results must come back in their places

It prints each list's outcomes, then the figures that must all be 0: hangs (a call that never
returned), results lost or shifted (missing, or another request's picture), endless loops rendered
`ok`, unexpected outcomes, exceptions into the caller; and the worker restarts and elapsed time.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from earthshader.data.generators import generate
from earthshader.data.sources import ShaderRow, read_source
from earthshader.render import RenderPool

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "shadertoys.jsonl.gz"
TOKEN = re.compile(r"\d*\.?\d+(?:[eE][-+]?\d+)?|\w+|[^\w\s]")
ENDLESS = ["for(;;){}", "while(true){}", "for(int i=0;i>-1;i++){}", "do{}while(true);",
           "for(float x=0.;x<1.;x*=1.){}"]
SLOW = ("void mainImage(out vec4 c, in vec2 p) { float s = 0.0; for (int i = 0; i < 20000; i++) "
        "{ s += sin(s + p.x * 0.001 + float(i)); } c = vec4(fract(s), 0.0, 1.0, 1.0); }")
LEVEL = "uniform float level;\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(vec3(level), 1.0); }"


class Interrupted(Exception):
    """What a signal-based deadline raises in the caller's thread."""


@dataclass
class Tally:
    """What one case list found."""

    outcomes: Counter = field(default_factory=Counter)
    hangs: int = 0
    lost: int = 0
    shifted: int = 0
    endless_ok: int = 0
    unexpected: int = 0
    exceptions: int = 0
    follow_ups: int = 0  # innocent shaders rendered after the cases, each checked for its own colour
    notes: list[str] = field(default_factory=list)

    def expect(self, case: str, result, allowed: set) -> None:
        kind = result.error_kind if result is not None else "lost"
        self.outcomes[kind or "ok"] += 1
        if result is None:
            self.lost += 1
        elif kind not in allowed:
            self.unexpected += 1
            self.notes.append(f"{case}: {kind or 'ok'} ({result.error}), expected {sorted(map(str, allowed))}")


class Hang(Exception):
    pass


def guarded(call, seconds: float):
    """`call()` in a thread; raises `Hang` if it has not returned after `seconds`."""
    box: dict = {}

    def run():
        try:
            box["value"] = call()
        except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise Hang
    if "error" in box:
        raise box["error"]
    return box["value"]


def solid(index: int) -> tuple[str, list[int]]:
    """A shader of its own colour, and the pixel it must give: a shifted result shows."""
    rgb = [(index * 37) % 256, (index * 91 + 50) % 256, (index * 53 + 100) % 256]
    body = ", ".join(f"{v}.0 / 255.0" for v in rgb)
    return f"// {index}\nvoid mainImage(out vec4 c, in vec2 p) {{ c = vec4({body}, 1.0); }}", rgb


def counted(tally: Tally, case: str, call, limit: float):
    """`call()` under the time bound; a hang goes up to `main` (which counts it), an exception is counted
    (None back)."""
    try:
        return guarded(call, limit)
    except Hang:
        raise
    except Exception as error:  # noqa: BLE001 - counted
        tally.exceptions += 1
        tally.notes.append(f"{case}: {type(error).__name__}: {error}")
        return None


def check_in_place(tally: Tally, pool: RenderPool, case: str, limit: float, count: int = 4) -> None:
    """Render `count` numbered solid colours; each must come back ok, with its own colour."""
    first = random.randrange(10**6)
    codes, colours = zip(*(solid(first + i) for i in range(count)))
    results = counted(tally, f"{case}, follow-up", lambda: pool.render_many(list(codes), width=4, height=4), limit)
    if results is None:
        return
    tally.lost += len(codes) - len(results)
    for result, rgb in zip(results, colours):
        tally.follow_ups += 1
        if not result.ok:
            tally.unexpected += 1
            tally.notes.append(f"{case}: a follow-up failed ({result.error})")
        elif result.image[0, 0].tolist() != rgb:
            tally.shifted += 1
            tally.notes.append(f"{case}: a follow-up got {result.image[0, 0].tolist()}, not its {rgb}")


# -- the case lists ------------------------------------------------------------------------------

def mutate(code: str, rng: random.Random) -> str:
    """One token-level mutation, spliced into the original text (everything else stays as written)."""
    spans = [m.span() for m in TOKEN.finditer(code)]
    if not spans:
        return code
    kind = rng.choice(["delete", "duplicate", "swap", "endless", "truncate", "garbage"])
    i = rng.randrange(len(spans))
    start = spans[i][0]
    if kind == "delete":
        end = spans[min(len(spans) - 1, i + rng.randint(0, 3))][1]
        return code[:start] + code[end:]
    if kind == "duplicate":
        end = spans[min(len(spans) - 1, i + rng.randint(0, 7))][1]
        return code[:start] + code[start:end] + " " + code[start:]
    if kind == "swap":
        (a0, a1), (b0, b1) = sorted([spans[i], spans[rng.randrange(len(spans))]])
        return code if a0 == b0 else code[:a0] + code[b0:b1] + code[a1:b0] + code[a0:a1] + code[b1:]
    if kind == "endless":
        body = code.rfind("}")
        return code[:body] + rng.choice(ENDLESS) + code[body:] if body >= 0 else code
    if kind == "truncate":
        return code[:start]
    return code[:start] + "".join(rng.choice("{}()[];.#@$\\\"'\x01") for _ in range(rng.randint(1, 6))) + code[start:]


def load_sources(count: int, rng: random.Random, corpus: Path) -> list[str]:
    if corpus.exists():
        rows = [row.code for row in read_source(str(corpus)) if isinstance(row, ShaderRow)]
        rows = [r for r in rows if len(r) < 6000]  # keep the run about mutation, not slow raymarchers
        return [rng.choice(rows) for _ in range(count)]
    return [generate(rng.choice(["textures", "primitives"]), rng.randrange(10**6)).code for _ in range(count)]


def mutations(pool: RenderPool, args, tally: Tally) -> None:
    rng = random.Random(args.seed)
    codes = [mutate(code, rng) for code in load_sources(args.n, rng, args.corpus)]
    # A batch can take at most (its size x timeout) plus worker restarts; far past that, it hung.
    limit = args.batch * (args.timeout + 10)
    for first in range(0, len(codes), args.batch):
        batch = codes[first:first + args.batch]
        results = guarded(lambda: pool.render_many(batch, width=args.size, height=args.size), limit)
        for result in results:
            tally.expect("mutation", result, {None, "compile", "loop_limit", "invalid_input", "timeout", "crash"})
        tally.lost += len(batch) - len(results)
        check_in_place(tally, pool, f"mutations from {first}", args.timeout * 4 + 30)


def endless(pool: RenderPool, args, tally: Tally) -> None:
    loops = ENDLESS + ["for(int i=0;i<1;i--){}", "for(uint i=0u;i<1u;i*=1u){}", "while(c.a>0.0){c.r+=1e-9;}",
                       "int k=0;while(k<1){k+=0;}", "for(int i=0;i!=1;i+=2){}", "while(!false){continue;}"]
    codes = [f"void mainImage(out vec4 c, in vec2 p) {{ c = vec4(1.0); {loop} }}" for loop in loops]
    results = guarded(lambda: pool.render_many(codes, width=args.size, height=args.size),
                      len(codes) * (args.timeout + 10))
    for loop, result in zip(loops, results):
        tally.expect(loop, result, {"loop_limit", "timeout"})
        tally.endless_ok += bool(result.ok)
    check_in_place(tally, pool, "endless", args.timeout * 4 + 30)


MAIN = "void mainImage(out vec4 c, in vec2 p)"
NAN = "c = vec4(sqrt(-1.0 - p.x), 0.5, 0.5, 1.0);"
# Loops only the preprocessor shows, user code aimed at the guard's names, a discard after the cap.
GUARDED = [f"#define REPEAT for\n{MAIN} {{ REPEAT(;;) {{}} c = vec4(1.0); }}",
           f"#define CAT(a, b) a##b\n{MAIN} {{ CAT(wh, ile)(true) {{}} c = vec4(1.0); }}",
           f"#define FOREVER (;;)\n{MAIN} {{ for FOREVER {{}} c = vec4(1.0); }}",
           f"{MAIN} {{ fo\\\nr (;;) {{}} c = vec4(1.0); }}",
           "#define mainImage(O, U) for (;;) {} O = vec4(1.0)\nvoid f() {}",
           f"#define _esLoopGuard() true\n#define ES_LOOP_LIMIT 1000000000\n{MAIN} {{ for (;;) {{}} c = vec4(1.0); }}",
           f"int _esLoopCount;\n{MAIN} {{ for (;;) {{ _esLoopCount = 0; }} c = vec4(1.0); }}",
           f"{MAIN} {{ for (;;) {{}} c = vec4(1.0); discard; }}"]
# User macros and overloads aimed at what the wrapper measures: the NaN must still be counted.
MEASURED = [f"#define any(x) false\n{MAIN} {{ {NAN} }}", f"#define isnan(x) bvec4(false)\n{MAIN} {{ {NAN} }}",
            f"#define main notMain\n{MAIN} {{ {NAN} }}",
            f"bool any(bvec4 b) {{ return false; }}\nbool any(bvec3 b) {{ return false; }}\n{MAIN} {{ float i = 1; {NAN} }}"]
# Valid GLSL the old rewrite refused.
VALID = [f"{MAIN} {{ int i = 0; for (; bool b = i < 3; ) {{ i++; }} c = vec4(1.0); }}",
         f"{MAIN} {{ int i = 0; while (bool b = i < 3) {{ i++; }} c = vec4(1.0); }}",
         f"#if 0\n#extension GL_NOT_AN_EXTENSION : require\n#endif\n{MAIN} {{ c = vec4(1.0); }}"]


# Macros that expand without end: the preprocessor's batch is stopped at its limits, and only
# this source may fail for it (the pool then preprocesses it alone, in its worker).
MACRO_BOMB = "\n".join(["#define A0 x x", *[f"#define A{i} A{i - 1} A{i - 1}" for i in range(1, 40)],
                        f"{MAIN} {{ c = vec4(A39); }}"])


def guard(pool: RenderPool, args, tally: Tally) -> None:
    codes = GUARDED + MEASURED + VALID + [MACRO_BOMB]
    results = guarded(lambda: pool.render_many(codes, width=args.size, height=args.size),
                      len(codes) * (args.timeout + 10))
    for i, (code, result) in enumerate(zip(codes, results)):
        if code == MACRO_BOMB:
            tally.expect(code, result, {"compile", "timeout"})
        elif i < len(GUARDED):
            tally.expect(code, result, {"loop_limit", "compile"})
            tally.endless_ok += bool(result.ok)
        else:
            tally.expect(code, result, {None})
            if i < len(GUARDED) + len(MEASURED) and result.ok and result.nonfinite_fraction != 1.0:
                tally.unexpected += 1
                tally.notes.append(f"{code}: NaN count {result.nonfinite_fraction}, expected 1.0")
    check_in_place(tally, pool, "guard", args.timeout * 4 + 30)


def poisoning(pool: RenderPool, args, tally: Tally) -> None:
    big = [np.full((1024, 1024, 4), 7, np.uint8)] * 4
    cases = {
        "20000 x 20": dict(width=20000, height=20),
        "20 x 20000": dict(width=20, height=20000),
        "16385 x 1": dict(width=16385, height=1),
        "uniform of the wrong type, 4 channels": dict(uniforms={"level": "bright"}, channels=big),
        "uniform None": dict(uniforms={"level": None}),
        "uniforms not a dict": dict(uniforms=["level", 1.0]),
        "channel of 7 components": dict(channels=[np.zeros((4, 4, 7), np.uint8)]),
        "channel of 0 rows": dict(channels=[np.zeros((0, 4, 3), np.uint8)]),
        "channel that is text": dict(channels=["an image"]),
        "channel wider than any texture": dict(channels=[np.zeros((1, 1 << 17, 3), np.uint8)]),
    }
    limit = args.timeout * 4 + 30
    for case, options in cases.items():
        options = {"width": 8, "height": 8} | options
        uniforms = options.pop("uniforms", None)
        for _ in range(3 if options.get("channels") is big else 1):
            result = counted(tally, case, lambda: pool.render_many(
                [LEVEL], uniforms=None if uniforms is None else [uniforms], **options)[0], limit)
            if result is not None:
                tally.expect(case, result, {"invalid_input"})
        check_in_place(tally, pool, case, limit)
    # A uniform set by one request must not reach the next request of the same (cached) program.
    fresh, lit, after = (guarded(lambda: pool.render(LEVEL, 4, 4, uniforms=u), limit)
                         for u in ({}, {"level": 1.0}, {}))
    for case, result, value in (("unset uniform", fresh, 0), ("set uniform", lit, 255), ("uniform reset", after, 0)):
        tally.expect(case, result, {None})
        if result.ok and result.image[0, 0, 0] != value:
            tally.shifted += 1
            tally.notes.append(f"{case}: {result.image[0, 0].tolist()}, expected grey {value}")


def protocol(pool: RenderPool, args, tally: Tally) -> None:
    limit = args.timeout * 4 + 30

    def on_alarm(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        for delay in (0.05, 0.3, 0.8):  # a signal-based deadline fires while render_many waits
            signal.setitimer(signal.ITIMER_REAL, delay)
            try:
                pool.render_many([SLOW] * 1 + [SLOW.replace("20000", "19999")], width=128, height=128)
            except Interrupted:
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            check_in_place(tally, pool, f"interrupted after {delay:g} s", limit)
    finally:
        signal.signal(signal.SIGALRM, previous)
    for worker in pool._workers:  # killed while idle: the next shaders must not be blamed (`crash`)
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.join(5)
    check_in_place(tally, pool, "workers killed while idle", limit)
    stuck = pool._workers[0].process.pid  # stopped: it reads nothing, so a large send would block
    os.kill(stuck, signal.SIGSTOP)
    try:
        codes = [solid(i)[0] for i in range(len(pool._workers))]
        results = guarded(lambda: pool.render_many(codes, 4, 4, channels=[np.zeros((2048, 2048, 3), np.uint8)]),
                          limit)
        tally.expect("large request to a stopped worker", results[0], {"timeout"})
    finally:
        try:
            os.kill(stuck, signal.SIGCONT)
        except ProcessLookupError:
            pass
    check_in_place(tally, pool, "a worker stopped during a large send", limit)
    for case, hook in (("render from on_result", lambda i, r: pool.render(solid(0)[0], 4, 4)),
                       ("close from on_result", lambda i, r: pool.close())):
        try:
            guarded(lambda: pool.render_many([solid(1)[0]], 4, 4, on_result=hook), limit)
            tally.notes.append(f"{case}: worked")
        except RuntimeError as error:  # the defined answer to re-entry
            tally.outcomes["re-entry refused"] += 1
            if "re-entry" not in str(error):
                tally.unexpected += 1
                tally.notes.append(f"{case}: RuntimeError without naming the re-entry: {error}")
        check_in_place(tally, pool, case, limit)
    for case, code, uniforms in (("lambda as code", lambda: 0, {}), ("lambda as uniform", solid(2)[0], {"x": lambda: 0}),
                                 ("lock as uniform", solid(3)[0], {"x": threading.Lock()})):
        result = counted(tally, case, lambda: pool.render(code, 4, 4, uniforms=uniforms), limit)
        if result is not None:
            tally.expect(case, result, {"invalid_input"})
    check_in_place(tally, pool, "after unpicklable requests", limit, count=12)


#: name -> function(pool, args, tally). Each list gets a fresh pool.
CASE_LISTS = {"mutations": mutations, "endless": endless, "guard": guard, "poisoning": poisoning, "protocol": protocol}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="mutated shaders")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="Shadertoy corpus (.jsonl.gz) to mutate")
    parser.add_argument("--lists", nargs="+", choices=list(CASE_LISTS), default=list(CASE_LISTS))
    args = parser.parse_args()
    random.seed(args.seed)
    console = Console(width=max(Console().width, 110))
    tallies, restarts = {}, 0
    start = time.perf_counter()
    for name in args.lists:
        tally = tallies[name] = Tally()
        pool = RenderPool(workers=args.workers, timeout=args.timeout)
        try:
            CASE_LISTS[name](pool, args, tally)
        except Hang:  # counted here, once: every case list lets a hang end it
            tally.hangs += 1
            console.print(f"[red]{name}: a call did not return; the rest of this list is skipped[/]")
        except Exception as error:  # noqa: BLE001 - reported, the other lists still run
            tally.exceptions += 1
            tally.notes.append(f"{type(error).__name__} into the caller: {error}")
        restarts += pool.stats.restarts
        if not tally.hangs:  # a hung call still holds the pool
            pool.close()
    elapsed = time.perf_counter() - start
    table = Table(title=f"Sandbox fuzz at {args.size}x{args.size}, timeout {args.timeout:g} s")
    for column in ("list", "cases", "follow-ups", "hangs", "lost or shifted", "endless ok", "unexpected",
                   "exceptions"):
        table.add_column(column, justify="left" if column == "list" else "right")
    for name, tally in tallies.items():
        table.add_row(name, str(sum(tally.outcomes.values())), str(tally.follow_ups), str(tally.hangs),
                      str(tally.lost + tally.shifted), str(tally.endless_ok), str(tally.unexpected),
                      str(tally.exceptions))
    console.print(table)
    for name, tally in tallies.items():
        outcomes = ", ".join(f"{kind} {count}" for kind, count in tally.outcomes.most_common())
        console.print(f"{name}: {outcomes}", markup=False, highlight=False)
        for note in tally.notes[:20]:
            console.print(f"  {name}: {note}", markup=False, highlight=False)
    total = {key: sum(getattr(t, key) for t in tallies.values())
             for key in ("hangs", "lost", "shifted", "endless_ok", "unexpected", "exceptions")}
    console.print(f"hangs {total['hangs']}, results lost {total['lost']}, shifted {total['shifted']}, "
                  f"endless loops rendered ok {total['endless_ok']}, unexpected outcomes {total['unexpected']}, "
                  f"exceptions into the caller {total['exceptions']}; worker restarts {restarts}; {elapsed:.1f} s")


if __name__ == "__main__":
    main()
