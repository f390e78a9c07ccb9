"""Fuzz the sandbox: mutated real shaders through the RenderPool.

    python benchmarks/fuzz_render.py [--n 2000] [--size 64] [--timeout 5] [--seed 0]

Takes corpus shaders (`../shared/data/shadertoys.jsonl.gz`, or the procedural generators when it
is absent), mutates them at the token level (deletions, duplications, swaps, injected endless
loops, truncation), renders them all and prints counts by outcome, hangs (a batch that never
returns; must be 0), results lost (inputs without a result; must be 0), worker restarts and the
elapsed time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import threading
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from earthshader.data.generators import generate
from earthshader.render import RenderPool

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "shadertoys.jsonl.gz"
TOKEN = re.compile(r"\d*\.?\d+(?:[eE][-+]?\d+)?|\w+|[^\w\s]")
ENDLESS = ["for(;;){}", "while(true){}", "for(int i=0;i>-1;i++){}", "do{}while(true);",
           "for(float x=0.;x<1.;x*=1.){}"]


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


def load_sources(count: int, rng: random.Random) -> list[str]:
    if CORPUS.exists():
        with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
            rows = [json.loads(line)["image_code"] for line in lines]
        rows = [r for r in rows if len(r) < 6000]  # keep the run about mutation, not slow raymarchers
        return [rng.choice(rows) for _ in range(count)]
    return [generate(rng.choice(["textures", "primitives"]), rng.randrange(10**6)).code for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    codes = [mutate(code, rng) for code in load_sources(args.n, rng)]
    outcomes, lost, hangs = Counter(), 0, 0
    # A batch can take at most (its size x timeout) plus worker restarts; far past that, it hung.
    batch_limit = args.batch * (args.timeout + 10)
    start = time.perf_counter()
    with RenderPool(timeout=args.timeout) as pool:
        for first in range(0, len(codes), args.batch):
            batch = codes[first:first + args.batch]
            box: dict = {}
            worker = threading.Thread(target=lambda: box.update(results=pool.render_many(
                batch, width=args.size, height=args.size)), daemon=True)
            worker.start()
            worker.join(batch_limit)
            if worker.is_alive():
                hangs += 1
                Console().print(f"[red]batch at {first} did not return within {batch_limit:.0f} s[/]")
                break
            results = box["results"]
            lost += len(batch) - sum(r is not None for r in results)
            outcomes.update(r.error_kind or "ok" for r in results)
        stats = pool.stats
    elapsed = time.perf_counter() - start
    table = Table(title=f"{len(codes)} mutated shaders at {args.size}x{args.size}, timeout {args.timeout:g} s")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for name, count in outcomes.most_common():
        table.add_row(name, str(count))
    table.add_row("hangs", str(hangs))
    table.add_row("results lost", str(lost + (len(codes) - sum(outcomes.values()))))
    table.add_row("worker restarts", str(stats.restarts))
    table.add_row("elapsed", f"{elapsed:.1f} s ({len(codes) / elapsed:.1f} shaders/s)")
    Console().print(table)


if __name__ == "__main__":
    main()
