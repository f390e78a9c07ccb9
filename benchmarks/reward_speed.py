"""Time to score one GRPO batch through the default reward mix: serial against parallel, cache on against off.

    python benchmarks/reward_speed.py                       # 8 prompts x 8 completions, 256 x 256, all cores
    python benchmarks/reward_speed.py --size 224 --workers 4 --repeats 3
    python benchmarks/reward_speed.py --prompts 3 --size 84 --repeats 5 --step-seconds 1.93   # the tiny recipe's batch

The batch: 8 procedural texture targets (`earthshader.data.generators`, group "textures"), and for each
a group of 8 completions as GRPO samples them: the reference program (twice: groups repeat answers),
a recoloured copy, four other textures, and one that does not compile. Every reward of
`rewards.DEFAULT_REWARD_MIX` scores it.

Configurations: "serial" renders with 1 worker and scores on the calling thread; "parallel" renders with
`--workers` processes and scores on a thread pool, each render as soon as it is done. "in turn" calls
the rewards one after another (as TRL calls synchronous rewards: the first render reward renders, the
rest read the cache); "concurrent" is what training does, `rewards.for_trl` + `rewards.call_rewards`: the
render rewards run together as TRL's async rewards, each scoring every render as it streams in. "render
all, then score" renders the whole batch before any reward runs (how rewards worked before renders
streamed into scoring). "cache off" makes every render reward render the batch again (render workers
still keep compiled programs, so a repeat render skips compiling, as it would in training). Each run
gets a fresh pool; its start-up is excluded (it happens once per training run) and reported apart.
"render s" is the longest any reward waited on renders (scoring done meanwhile included), "total s" the
wall-clock time of the whole mix. Mesa's and NVIDIA's on-disk shader caches are turned off.

Then, before and after `appearance`: the training configuration (parallel, cache on, concurrent) for each
mix of `--mixes` (`default`: `rewards.DEFAULT_REWARD_MIX`; `picture`: `rewards.PICTURE_REWARD_MIX`, the
default plus `appearance`), runs interleaved so that a change in the machine's load hits both; with
`--step-seconds` (a GRPO step's wall time on the same machine), the share of a step each mix takes.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MESA_SHADER_CACHE_DISABLE", "true")
os.environ.setdefault("__GL_SHADER_DISK_CACHE", "0")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from earthshader.data.generators import generate  # noqa: E402
from earthshader.glsl.extract import extract_glsl  # noqa: E402
from earthshader.render import RenderPool, default_workers  # noqa: E402
from rewards import (  # noqa: E402
    DEFAULT_REWARD_MIX,
    PICTURE_REWARD_MIX,
    RenderCache,
    RenderReward,
    call_rewards,
    for_trl,
    get_reward_funcs,
)

MIXES = {"default": DEFAULT_REWARD_MIX, "picture": PICTURE_REWARD_MIX}


def recoloured(code: str) -> str:
    """The same program with slightly different colours."""
    return code.replace("void mainImage(", "void originalImage(", 1) + (
        "\nvoid mainImage(out vec4 fragColor, in vec2 fragCoord) {\n"
        "    originalImage(fragColor, fragCoord);\n"
        "    fragColor.rgb = clamp(fragColor.rgb * vec3(1.2, 0.85, 1.0) + 0.05, 0.0, 1.0);\n}"
    )


def make_batch(prompts: int, generations: int, size: int, pool: RenderPool):
    """Targets (rendered references) and the TRL keyword arguments of one step."""
    references = [generate("textures", seed).code for seed in range(prompts)]
    targets = pool.render_many(references, width=size, height=size)
    failed = [i for i, r in enumerate(targets) if not r.ok]
    if failed:
        raise SystemExit(f"reference textures {failed} did not render: {[str(targets[i].error) for i in failed]}")
    completions, images = [], []
    for p, reference in enumerate(references):
        others = [generate("textures", 1000 + p * 10 + k).code for k in range(4)]
        broken = "void mainImage(out vec4 c, in vec2 p) { c = 1; }"
        group = [reference, reference, recoloured(reference), *others, broken]
        group = (group * ((generations + len(group) - 1) // len(group)))[:generations]
        completions += [[{"role": "assistant", "content": f"```glsl\n{code}\n```"}] for code in group]
        images += [targets[p].image] * generations
    return dict(prompts=[[]] * len(completions), completions=completions, image=images)


def score_batch(batch: dict, pool: RenderPool, cache_on: bool, parallel: bool, mode: str,
                mix: dict = DEFAULT_REWARD_MIX) -> dict:
    """Score `batch` through `mix` once; seconds waiting on renders, and in all.

    `mode`: "concurrent" (as in training), "in turn", or "render all, then score" (the batch rendered
    before any reward runs, then the rewards in turn).
    """
    cache = RenderCache(enabled=cache_on, pool_factory=lambda: pool)
    funcs = get_reward_funcs(list(mix))
    render_rewards = [func for func in funcs if isinstance(func, RenderReward)]
    for func in render_rewards:
        func.cache, func.parallel_scoring = cache, parallel
    logged: dict[str, float] = {}

    def log_metric(name: str, value: float) -> None:
        logged[name] = logged.get(name, 0.0) + value

    start = time.perf_counter()
    if mode == "render all, then score":
        first = render_rewards[0]
        cache.render([first.request(extract_glsl(c), first.target({"image": image}))
                      for c, image in zip(batch["completions"], batch["image"])])
        logged["prerender/render_s"] = time.perf_counter() - start
    call_rewards(for_trl(funcs) if mode == "concurrent" else funcs, **batch, log_metric=log_metric)
    total = time.perf_counter() - start
    render = max(v for k, v in logged.items() if k.endswith("/render_s"))
    per_reward = {f.__name__: logged.get(f"rewards/{f.__name__}/score_s", 0.0) for f in funcs}
    return dict(total=total, render=render, renders=cache.stats.renders, per_reward=per_reward)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=8, help="targets in the batch")
    parser.add_argument("--generations", type=int, default=8, help="completions per target")
    parser.add_argument("--size", type=int, default=256, help="target and render side in pixels")
    parser.add_argument("--workers", type=int, default=default_workers(), help="render processes when parallel")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration (the best is shown)")
    parser.add_argument("--mixes", nargs="*", choices=list(MIXES), default=list(MIXES),
                        help="mixes timed in the training configuration, before and after `appearance`")
    parser.add_argument("--step-seconds", type=float, default=None,
                        help="a GRPO step's wall time here, to print each mix's share of a step")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 100))  # the table unwrapped in a log file too

    with RenderPool(workers=args.workers) as pool:
        batch = make_batch(args.prompts, args.generations, args.size, pool)
        renderer = pool.renderer
    startup = []
    n = len(batch["completions"])
    unique = len({c[0]["content"] for c in batch["completions"]})
    table = Table(title=f"One GRPO batch: {args.prompts} x {args.generations} = {n} completions ({unique} distinct), "
                        f"{args.size} x {args.size}, {len(DEFAULT_REWARD_MIX)} rewards",
                  caption=f"parallel: {args.workers} render workers, scoring threads; serial: 1 worker, no threads")
    for column in ("configuration", "renders", "render s", "total s", "ms / completion"):
        table.add_column(column, justify="right" if column != "configuration" else "left",
                         no_wrap=column == "configuration")
    results = {}
    configurations = [(False, True, "in turn"), (False, False, "in turn"), (True, True, "render all, then score"),
                      (True, True, "in turn"), (True, True, "concurrent"), (True, False, "concurrent")]
    for parallel, cache_on, mode in configurations:  # (parallel, cache on, how the rewards are called)
        runs = []
        for _ in range(args.repeats):
            # A fresh pool each run: workers keep compiled programs, which would flatter later runs.
            start = time.perf_counter()
            with RenderPool(workers=args.workers if parallel else 1) as pool:
                startup.append(time.perf_counter() - start)
                runs.append(score_batch(batch, pool, cache_on, parallel, mode))
        best = min(runs, key=lambda r: r["total"])
        name = f"{'parallel' if parallel else 'serial'}, cache {'on' if cache_on else 'off'}, {mode}"
        results[name] = best
        table.add_row(name, str(best["renders"]), f"{best['render']:.2f}", f"{best['total']:.2f}",
                      f"{1000 * best['total'] / n:.1f}")
    console.print(table)
    fastest = min(results.values(), key=lambda r: r["total"])
    console.print("Scoring seconds per reward (fastest configuration): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in fastest["per_reward"].items()))
    console.print(f"Pool start-up (not counted above): {min(startup):.1f} to {max(startup):.1f} s; "
                  f"renderer: {renderer}; cores available: {default_workers()}")
    if args.mixes:
        console.print(compare_mixes(batch, args))


def compare_mixes(batch: dict, args) -> Table:
    """Each mix in the training configuration (parallel, cache on, concurrent), runs interleaved; the best of each."""
    runs = {name: [] for name in args.mixes}
    for _ in range(args.repeats):
        for name in args.mixes:
            with RenderPool(workers=args.workers) as pool:
                runs[name].append(score_batch(batch, pool, cache_on=True, parallel=True, mode="concurrent",
                                              mix=MIXES[name]))
    n = len(batch["completions"])
    table = Table(title=f"Before and after `appearance`: parallel, cache on, concurrent (as in training), {n} completions, "
                        f"best of {args.repeats}")
    columns = ["mix", "render s", "total s", "ms / completion", "appearance s after the last render"]
    if args.step_seconds:
        columns.append(f"share of a {args.step_seconds:g} s step")
    for column in columns:
        table.add_column(column, justify="left" if column == "mix" else "right", no_wrap=column == "mix")
    for name, results in runs.items():
        best = min(results, key=lambda r: r["total"])
        row = [f"{name} ({len(MIXES[name])} rewards)", f"{best['render']:.2f}",
               f"{best['total']:.2f}", f"{1000 * best['total'] / n:.1f}",
               f"{best['per_reward'].get('appearance', 0.0):.2f}"]
        if args.step_seconds:
            row.append(f"{best['total'] / args.step_seconds:.0%}")
        table.add_row(*row)
    return table


if __name__ == "__main__":
    main()
