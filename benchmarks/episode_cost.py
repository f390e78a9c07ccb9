"""What look and fix adds to a GRPO step: the observation's render and figures, and the improvement reward.

    python benchmarks/episode_cost.py                         # 2 targets x 8 episodes at 84 px (look-and-fix-tiny)
    python benchmarks/episode_cost.py --repeats 9 --step-seconds 5.2   # and the share of a 5.2 s step
    python benchmarks/episode_cost.py --runs runs/grpo-a runs/grpo-b   # the share finished GRPO runs logged

One batch as the `grpo/look-and-fix-tiny` recipe makes it: `--prompts` texture targets (level-0 families, new
seeds each repeat, so no target's scorer or program is known from an earlier one), `--generations` two-turn
episodes each. Turn 1 is another texture program, or one that does not compile (one an episode group); turn 2 is
another texture program. Each repeat runs what a training step runs after generation, in TRL's order:

1. observation: `LookEnvironment.glsl(turn 1)` for each episode, one after another (TRL calls tools serially):
   the render through the rewards' shared cache, the figures, the two observation images;
2. improvement: `ImprovementReward`, a synchronous reward, which TRL calls before the concurrent picture
   rewards: it renders the final programs and scores both turns;
3. the picture mix (`rewards.PICTURE_REWARD_MIX`) on the final programs, concurrent as in training, reading the
   renders step 2 stored.

Steps 1 and 2 are what a training run logs as `time/observation_s` and `time/episode_scoring_s` (the share
`benchmarks/look_and_fix.py` reports from its runs); the final programs' renders, which the picture mix would
make anyway, are counted in step 2. Printed: each step's seconds per repeat and their median, the first repeat
(pool start-up, scorer set-up) left out; with `--step-seconds` (a look-and-fix GRPO step's wall time on the same
machine, e.g. the median `step_time` of a run's metrics.jsonl) the episode's share of a step.

`--runs` prints instead, for each look-and-fix GRPO run folder, the share its `metrics.jsonl` logged
(`earthshader.training.run_log.episode_share`), all of it and without the final programs' renders (which a
single-turn step makes too): run the same recipe, seed and steps before and after a change, in turn, and
compare. Turn Mesa's on-disk shader cache off (`MESA_SHADER_CACHE_DISABLE=true`) for such runs: a repeated run
samples the same programs, and a cached compile would flatter the second.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("MESA_SHADER_CACHE_DISABLE", "true")  # every repeat compiles, as new programs do in training
os.environ.setdefault("__GL_SHADER_DISK_CACHE", "0")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from earthshader.data.generators import generate  # noqa: E402
from earthshader.episodes.environment import LookEnvironment  # noqa: E402
from earthshader.episodes.improvement import ImprovementReward  # noqa: E402
from earthshader.modeling import prompts as prompt_text  # noqa: E402
from earthshader.render import default_workers  # noqa: E402
from earthshader.training.run_log import METRICS_FILE, episode_share  # noqa: E402
from rewards import PICTURE_REWARD_MIX, RenderRequest, call_rewards, for_trl, get_reward_funcs  # noqa: E402
from rewards.cache import configure_shared_cache  # noqa: E402

#: A turn 1 that does not compile (its observation carries the compiler's messages).
BROKEN = "void mainImage(out vec4 c, in vec2 p) {\n    vec3 col = vec3(p.x / iResolution.x);\n    c = vec4(col, 1.0)\n}"
#: Texture seeds of the targets (one block of `--prompts` a repeat) and of the episodes' programs.
TARGET_SEEDS, PROGRAM_SEEDS = 1_000_000, 2_000_000


def tool_call(code: str) -> dict:
    """An answer TRL parsed into the `glsl` tool call (what the agent template makes of a fenced program)."""
    return {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "glsl", "arguments": {"code": code}}}]}


def episode_programs(prompts: int, generations: int, repeat: int) -> tuple[list[str], list[tuple[str, str]]]:
    """The repeat's target programs and, per episode (grouped by target), its turn-1 and turn-2 programs."""
    targets = [generate("textures", TARGET_SEEDS + repeat * prompts + p, difficulty=0).code for p in range(prompts)]
    turns, seed = [], PROGRAM_SEEDS + repeat * prompts * generations * 2
    for _ in range(prompts):
        for g in range(generations):
            first = BROKEN if g == generations - 1 else generate("textures", seed, difficulty=0).code
            turns.append((first, generate("textures", seed + 1, difficulty=0).code))
            seed += 2
    return targets, turns


def one_step(prompts: int, generations: int, size: int, repeat: int, cache, reward_funcs) -> dict[str, float]:
    """Seconds of the observation, the improvement reward and the picture mix for one batch."""
    target_codes, turns = episode_programs(prompts, generations, repeat)
    rendered = cache.render([RenderRequest(code, size, size) for code in target_codes])
    if not all(r.ok for r in rendered):
        raise SystemExit(f"a target program did not render: {[str(r.error) for r in rendered if not r.ok]}")
    images = [rendered[i // generations].image for i in range(len(turns))]

    began = time.perf_counter()
    environments, completions = [], []
    for image, (first, final) in zip(images, turns):
        environment = LookEnvironment(observation_size=size)
        environment.reset(image=image)
        observation = {"role": "tool", "name": "glsl", "content": environment.glsl(first)}
        environments.append(environment)
        completions.append([tool_call(first), observation,
                            {"role": "assistant", "content": prompt_text.format_completion(final)}])
    observed = time.perf_counter()
    ImprovementReward()(completions=completions, image=images, environments=environments)
    improved = time.perf_counter()
    call_rewards(reward_funcs, prompts=[[]] * len(completions), completions=completions, image=images)
    done = time.perf_counter()
    return {"observation": observed - began, "improvement": improved - observed, "picture mix": done - improved}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=2, help="targets in the batch")
    parser.add_argument("--generations", type=int, default=8, help="two-turn episodes per target")
    parser.add_argument("--size", type=int, default=84, help="target, render and observation side in pixels")
    parser.add_argument("--workers", type=int, default=default_workers(), help="render processes")
    parser.add_argument("--repeats", type=int, default=5, help="batches timed (after one not counted)")
    parser.add_argument("--step-seconds", type=float, default=None,
                        help="a look-and-fix GRPO step's wall time here, to print the episode's share of it")
    parser.add_argument("--runs", type=Path, nargs="+", default=None,
                        help="look-and-fix GRPO run folders: print the share each one logged, and nothing else")
    args = parser.parse_args(argv)
    if args.runs:
        for run in args.runs:
            share, extra = episode_share(run), episode_share(run, final_renders=False)
            print(f"{run}: episode {share:.1%} of a step; without the final programs' renders {extra:.1%}"
                  if not math.isnan(share) else f"{run}: no look-and-fix steps logged in {run / METRICS_FILE}")
        return
    if min(args.prompts, args.generations, args.size, args.workers, args.repeats) < 1 or args.generations < 2:
        parser.error("--prompts, --size, --workers and --repeats must be at least 1, --generations at least 2")

    cache = configure_shared_cache(workers=args.workers, timeout=5.0)
    reward_funcs = for_trl(get_reward_funcs(list(PICTURE_REWARD_MIX)))
    runs = [one_step(args.prompts, args.generations, args.size, repeat, cache, reward_funcs)
            for repeat in range(args.repeats + 1)][1:]
    steps = list(runs[0])
    table = Table(title=f"Look and fix, one batch: {args.prompts} targets x {args.generations} two-turn episodes, "
                        f"{args.size} px, {args.workers} render workers; seconds", title_justify="left")
    for column in ("repeat", *steps, "episode (observation + improvement)"):
        table.add_column(column, justify="right")
    for i, run in enumerate(runs, 1):
        table.add_row(str(i), *(f"{run[s]:.3f}" for s in steps), f"{run['observation'] + run['improvement']:.3f}")
    median = {s: statistics.median(run[s] for run in runs) for s in steps}
    episode = statistics.median(run["observation"] + run["improvement"] for run in runs)
    table.add_row("median", *(f"{median[s]:.3f}" for s in steps), f"{episode:.3f}", end_section=True)
    Console(width=max(Console().width, 120)).print(table)
    if args.step_seconds:
        print(f"episode share of a {args.step_seconds:g} s step: {episode / args.step_seconds:.1%} (goal below 15%)")


if __name__ == "__main__":
    main()
