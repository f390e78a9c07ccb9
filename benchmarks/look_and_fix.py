"""Look and fix on the tiny model: does the second turn, which sees the render of the first, beat it?

    python benchmarks/look_and_fix.py          # full size: 3 seeds x (10 + 10 min), about 1.5 h on 2 idle cores
    python benchmarks/look_and_fix.py --sft-steps 200 --grpo-steps 60   # the same steps on any machine (the minutes
                                               # still cap them); a killed run goes on from the seeds it finished
    python benchmarks/look_and_fix.py --reuse-trained   # score the GRPO models an earlier run saved again, no training
    python benchmarks/look_and_fix.py --reuse-trained sft --out runs/look-and-fix   # score its cold starts as they are
    python benchmarks/look_and_fix.py --out runs/c --grpo-steps 0   # train and score cold starts only; then GRPO
                                               # from them: --out runs/c --cold-start runs/c --grpo-steps 150
    python benchmarks/look_and_fix.py --out runs/b --against runs/a/look_and_fix.json   # and each turn against run a's
    python benchmarks/look_and_fix.py --out runs/look-and-fix-smoke --seeds 0 --sft-minutes 0.3 --grpo-minutes 0.3 \\
        --train-n 4 --eval-n 3 --correction-examples 16 --generated-examples 16 --own-fix-pictures 2 --repair-n 7 \\
        --sft-args "--recipe tiny --generators primitives gradient --generated_examples 64 --num_train_epochs 1"
                                               # a smoke run (a two-step grammar school): a few minutes

1. The grammar school (`--start`; trained there when missing): `earthshader.sft` with `GRAMMAR_SCHOOL`'s flags
   (the tiny recipe on the `primitives` families and `gradient`), as in benchmarks/learn_from_pictures.py.
2. Pictures of each picture-only kind (`earthshader.data.picture_kinds`: unseen texture families, code-withheld
   corpus renders, photo crops): `--train-n` training PNGs per kind under OUT/train, `--eval-n` held-out ones.
3. The model's own fixed samples, once: the grammar school samples `--own-fix-k` programs per training picture
   (`--own-fix-pictures` of them), refinement fixes their numbers, and each picture whose refined program beat
   the sample becomes a correction row (`earthshader.training.correction_examples.own_fix_rows`).
4. Per seed: the cold start (recipe `sft/look-and-fix-tiny` from the grammar school: `--generated-examples`
   grammar-school programs, `--correction-examples` rows made by breaking them, and the own fixes), for
   `--sft-minutes`; then GRPO over two-turn episodes (recipe `grpo/look-and-fix-tiny`, `--improvement-weight`) on
   OUT/train for `--grpo-minutes`. With `--cold-start DIR`, GRPO starts from the cold starts an earlier run saved
   (DIR/seed-N/sft) and steps 3 and 4's cold start are skipped: GRPO settings compared on the same cold starts
   (`--cold-start-stage grpo`: from its GRPO models). `--second-turn-samples N` trains the correction turn alone
   instead of whole episodes (`earthshader.episodes.second_turn`: prompts of N first answers a training picture).
5. Each trained model answers the held-out pictures (`earthshader.episodes.runner`): a greedy two-turn episode;
   the same with the observation's images blanked (same words); the same shown the observation of the next held-out
   picture's turn 1 of its kind, scored against its own picture (`observed_from`: does turn 2 read what the render
   shows, or only need one there?); and, for the same generation budget, the best of
   two single-turn samples at temperature 1 (chosen by the kind's figure). It also answers a held-out set of
   programs broken as a model breaks them (`COMPILE_BREAKS` of the held-out textures' and renders' programs),
   given as turn 1: does turn 2 compile and render?

Printed, per kind, on the figure that fits it (structure for renders, appearance for textures, both for photos;
docs/eval.md): per seed and pooled over seeds (each target's mean), turn 1, turn 2 and their paired change ± SE,
turn 2 against best of 2, against blanked images and against swapped observations; the rates at which turn 1 and
turn 2 render, and at which turn 2 repairs a turn 1 that failed; what turn 2 does with turn 1's program
(`turn_edit`: kept as it was, or how much of its text it keeps) and its change from turn 1 on the worse and the
better half of turns 1; the repair rate on the broken programs per break; the observation's render and scoring as
a share of a GRPO step (`earthshader.training.run_log.episode_share`: the runs'
`time/observation_s` + `time/episode_scoring_s` over `step_time`, the first step's set-up left out; and
without the final programs' renders, which a single-turn step makes too: the goal's figure). Then
whether each goal holds: turn 2 above turn 1 by 3 SE and above best of 2; repair >= 50%;
cost below 15% of a step (for GRPO over episodes). Figures go to OUT/look_and_fix.json (the cold starts' scores,
`--reuse-trained sft` or `--grpo-steps 0`, to OUT/look_and_fix-sft.json, beside the GRPO models' own).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from earthshader.evaluation.statistics import paired_change, pooled_over_seeds

#: The figures each kind is judged by (docs/eval.md, "Which figure for which picture").
KIND_FIGURES = {"textures": ("appearance",), "renders": ("structure",), "photos": ("structure", "appearance"),
                "terrains": ("structure",)}
#: What each trained model is scored on, per held-out picture.
MODES = ("turn1", "turn2", "best_of_2", "blanked_turn2", "swapped_turn2")


def parse_args(argv):
    from earthshader.data.picture_kinds import DEFAULT_CORPUS, GRAMMAR_SCHOOL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/look-and-fix"))
    parser.add_argument("--start", type=Path, default=None, help="the grammar school (default OUT/sft-grammar)")
    parser.add_argument("--sft-args", default=shlex.join(GRAMMAR_SCHOOL), help="the grammar school's flags")
    parser.add_argument("--kinds", nargs="+", default=["textures", "renders", "photos"])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--train-n", type=int, default=128, help="training pictures per kind")
    parser.add_argument("--eval-n", type=int, default=32, help="held-out pictures per kind")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sft-minutes", type=float, default=10.0, help="the cold start's training time per seed")
    parser.add_argument("--grpo-minutes", type=float, default=10.0, help="GRPO's training time per seed")
    parser.add_argument("--sft-steps", type=int, default=None,
                        help="also stop the cold start after this many steps, so a seed trains the same on any machine")
    parser.add_argument("--grpo-steps", type=int, default=None,
                        help="also stop GRPO after this many steps (0: no GRPO, the cold starts are scored as they "
                             "are, to OUT/look_and_fix-sft.json)")
    parser.add_argument("--generated-examples", type=int, default=1600, help="grammar-school programs in the cold start")
    parser.add_argument("--correction-examples", type=int, default=1600, help="correction rows made by breaking them")
    parser.add_argument("--own-fix-pictures", type=int, default=64, help="training pictures the own fixes come from")
    parser.add_argument("--own-fix-k", type=int, default=4, help="samples per picture for the own fixes")
    parser.add_argument("--own-fix-budget", type=int, default=60, help="refinement renders per own fix")
    parser.add_argument("--improvement-weight", type=float, default=0.0, help="GRPO's improvement reward weight")
    parser.add_argument("--first-turn-weight", type=float, default=0.0, help="GRPO's first-turn reward weight")
    parser.add_argument("--cold-start", type=Path, default=None,
                        help="an earlier run's OUT: each seed's GRPO starts from its cold start there "
                             "(DIR/seed-N/sft) instead of training one, to compare GRPO settings on the same cold starts")
    parser.add_argument("--cold-start-stage", choices=("sft", "grpo"), default="sft",
                        help="with --cold-start: start from the earlier run's cold starts (sft) or GRPO models (grpo)")
    parser.add_argument("--second-turn-samples", type=int, default=0,
                        help="GRPO on the correction turn alone (earthshader.episodes.second_turn): the starting "
                             "model's first answers a training picture (0: GRPO over whole episodes)")
    parser.add_argument("--repair-n", type=int, default=64, help="held-out broken programs")
    parser.add_argument("--against", type=Path, default=None,
                        help="another run's look_and_fix.json on the same held-out pictures and seeds: print each "
                             "turn's change from that run's, paired by seed and picture")
    parser.add_argument("--reuse-trained", nargs="?", const="grpo", choices=("grpo", "sft"), default=None,
                        help="score the models an earlier run saved under OUT/seed-N instead of training: the GRPO "
                             "models (grpo, the default) or the cold starts they began from (sft)")
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--workers", type=int, default=None, help="render processes (default: all cores)")
    args = parser.parse_args(argv)
    if args.cold_start is not None:
        from earthshader.modeling.run_info import RUN_INFO

        stage = args.cold_start_stage
        missing = [seed for seed in args.seeds if not (args.cold_start / f"seed-{seed}" / stage / RUN_INFO).exists()]
        if missing:
            parser.error(f"--cold-start {args.cold_start}: no cold start saved for seed(s) {missing} "
                         f"(expected DIR/seed-N/{stage})")
    return args


def starting_model(args) -> Path:
    """`--start`, or the grammar school trained at OUT/sft-grammar when it is not there yet."""
    from earthshader.training.grammar_school import grammar_school

    return grammar_school(args.start or args.out / "sft-grammar", base=args.out / "tiny-qwen2-vl",
                          flags=shlex.split(args.sft_args))


def own_fixes(args, start: Path, size: int, pool) -> Path | None:
    """The grammar school's own samples that refinement fixed, as correction rows saved once under OUT."""
    from earthshader.data import picture_kinds
    from earthshader.modeling import load_model
    from earthshader.training import correction_examples
    from earthshader.training.expert_iteration import RoundSettings

    folder = args.out / "own-fixes"
    if (folder / "dataset_info.json").exists() or args.own_fix_pictures <= 0:
        return folder if folder.exists() else None
    per_kind = max(1, args.own_fix_pictures // len(args.kinds))
    kinds, _ = picture_kinds.available_kinds(args.kinds, args.corpus)
    targets = [row for kind in kinds
               for row in picture_kinds.kind_rows(kind, "train", n=per_kind, size=size, corpus=args.corpus, pool=pool)]
    model, processor = load_model(str(start), "cpu")
    settings = RoundSettings(k=args.own_fix_k, max_new_tokens=args.max_new_tokens, refine_budget=args.own_fix_budget)
    rows = correction_examples.own_fix_rows(model, processor, targets, settings, pool=pool, image_size=size)
    print(f"own fixes: {len(rows)} correction rows from {len(targets)} training pictures")
    return correction_examples.save_rows(rows, folder) if rows else None


def settings_key(args, start: Path) -> str:
    """What a seed's figures depend on: every setting but the seeds, the output folder, the render workers and
    `--against` (it only prints). A killed run goes on from the seeds it finished when this is unchanged."""
    kept = {k: str(v) for k, v in vars(args).items() if k not in ("seeds", "out", "workers", "against")}
    return json.dumps({**kept, "start": str(start.resolve())}, sort_keys=True)


def train_seed(args, start: Path, fixes: Path | None, seed: int, size: int) -> tuple[Path, dict[str, float]]:
    """The cold start then GRPO over episodes for one seed: (the GRPO model, the episode's share of a step, all
    it logged and without the final programs' renders: {"all": ..., "extra": ...})."""
    from earthshader.modeling import prompts
    from earthshader.training import grpo_stage, sft_stage
    from earthshader.training.recipes import recipe_arguments

    out = args.out / f"seed-{seed}"
    if args.cold_start is not None:
        cold = args.cold_start / f"seed-{seed}" / args.cold_start_stage  # checked by parse_args
    else:
        cold = sft_stage.run(*recipe_arguments(
            "sft", "look-and-fix-tiny", model_name_or_path=str(start), output_dir=out / "sft", seed=seed,
            generators=["primitives", "gradient"], generated_examples=args.generated_examples,
            correction_examples=args.correction_examples, correction_dataset=str(fixes) if fixes else None,
            image_size=size, render_workers=args.workers, num_train_epochs=100, lr_scheduler_type="constant_with_warmup",
            save_strategy="no", max_steps=args.sft_steps or -1,
            time_limit_minutes=args.sft_minutes))
    if args.grpo_steps == 0:
        return cold, {"all": math.nan, "extra": math.nan}
    second_turn = {"max_turns": 1, "second_turn_samples": args.second_turn_samples,
                   "max_completion_length": args.max_new_tokens} if args.second_turn_samples else {}
    model = grpo_stage.run(*recipe_arguments(
        "grpo", "look-and-fix-tiny", model_name_or_path=str(cold), output_dir=out / "grpo", seed=seed,
        dataset_path=str(args.out / "train"), image_size=size, improvement_weight=args.improvement_weight,
        observation_image_size=prompts.observation_image_size(size),  # as the cold start's rows and the scoring
        first_turn_weight=args.first_turn_weight,
        max_steps=args.grpo_steps or 1_000_000, save_strategy="no", logging_steps=1, render_workers=args.workers,
        time_limit_minutes=args.grpo_minutes, **second_turn))
    return model, episode_shares(model)


def episode_shares(run: Path) -> dict[str, float]:
    """The episode's share of a GRPO run's steps, all it logged and without the final programs' renders."""
    from earthshader.training.run_log import episode_share

    return {"all": episode_share(run), "extra": episode_share(run, final_renders=False)}


def saved_model(out: Path, seed: int, stage: str = "grpo") -> Path | None:
    """The model of `stage` (grpo, or sft: the cold start) an earlier run saved for `seed` under `out` (None when
    there is none)."""
    from earthshader.modeling.run_info import RUN_INFO

    folder = out / f"seed-{seed}" / stage
    return folder if (folder / RUN_INFO).is_file() else None


def cost_line(console, shares: dict[int, dict[str, float]]) -> str:
    """Print the episode's share of a GRPO step per seed and pooled; return the cost goal's line."""
    share = {part: float(np.nanmean([v[part] for v in shares.values()])) for part in ("all", "extra")}
    per_seed = {part: ", ".join(f"seed {seed} {value[part]:.1%}" for seed, value in shares.items())
                for part in ("all", "extra")}
    console.print(f"episode render + scoring: {share['all']:.1%} of a GRPO step ({per_seed['all']}); without the "
                  f"final programs' renders, which a single-turn step makes too: {share['extra']:.1%} "
                  f"({per_seed['extra']})")
    return (f"cost: what the episode adds, {share['extra']:.1%} of a GRPO step (all it logged {share['all']:.1%}): "
            f"below 15% {share['extra'] < 0.15}")


def turn_edit(first: str, second: str) -> tuple[float, float]:
    """(1.0 when `second` is `first` but for whitespace, else 0.0; the share of their text they have in common,
    `difflib`'s ratio over whitespace-separated tokens): does turn 2 edit turn 1's program or write another?

    >>> turn_edit("float a = 1.0;", "float  a = 1.0;")
    (1.0, 1.0)
    >>> turn_edit("float a = 1.0;", "float a = 2.0;")
    (0.0, 0.75)
    """
    import difflib

    a, b = first.split(), second.split()
    return float(a == b), difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def kind_figure(scores: dict, kind: str) -> float:
    """A turn's figure for its kind: the mean of the kind's figures (NaN if none exists)."""
    values = [scores[f] for f in KIND_FIGURES.get(kind, ("structure",)) if not math.isnan(scores[f])]
    return float(np.mean(values)) if values else math.nan


def next_of_kind(kinds: list[str]) -> list[int]:
    """Each picture's next picture of the same kind, cyclically (itself when it is its kind's only one).

    >>> next_of_kind(["textures", "renders", "textures", "textures", "photos"])
    [2, 1, 3, 0, 4]
    """
    order = {}
    for i, kind in enumerate(kinds):
        order.setdefault(kind, []).append(i)
    following = {}
    for index in order.values():
        following.update(zip(index, index[1:] + index[:1]))
    return [following[i] for i in range(len(kinds))]


def evaluate(model_dir: Path, heldout, repairs, args, size: int, seed: int, pool) -> dict:
    """Per held-out picture and figure, each mode's value; turn 1 and 2 render flags; the repair set's outcomes."""
    import torch

    from earthshader.episodes.runner import EpisodeSettings, run_episodes
    from earthshader.modeling import load_model, prompts

    model, processor = load_model(str(model_dir), "cpu")
    images, times = [t.image for t in heldout], [t.time for t in heldout]
    greedy = EpisodeSettings(max_turns=2, image_size=size, max_new_tokens=args.max_new_tokens)
    episodes = run_episodes(model, processor, images, greedy, pool=pool, times=times)
    first_answers = [e.turns[0].answer for e in episodes]
    blind = EpisodeSettings(**{**vars(greedy), "blank_observations": True})
    blanked = run_episodes(model, processor, images, blind, pool=pool, times=times, first_answers=first_answers)
    swapped = run_episodes(model, processor, images, greedy, pool=pool, times=times, first_answers=first_answers,
                           observed_from=next_of_kind([t.source for t in heldout]))
    sampled = EpisodeSettings(max_turns=1, samples=2, image_size=size, max_new_tokens=args.max_new_tokens,
                              temperature=1.0)
    torch.manual_seed(seed)
    draws = run_episodes(model, processor, images, sampled, pool=pool, times=times)  # picture i: 2 i and 2 i + 1
    result = {"figures": {}, "turn1_rendered": [], "turn2_rendered": [], "turn2_kept": [], "turn2_similarity": []}
    for name in ("structure", "appearance"):
        result["figures"][name] = {mode: [] for mode in MODES}
    for i, (target, episode) in enumerate(zip(heldout, episodes)):
        best = max((d.turns[0].scores for d in draws[2 * i:2 * i + 2]), key=lambda s: -math.inf if math.isnan(
            kind_figure(s, target.source)) else kind_figure(s, target.source))
        for name in ("structure", "appearance"):
            figures = result["figures"][name]
            figures["turn1"].append(episode.turns[0].scores[name])
            figures["turn2"].append(episode.turns[1].scores[name])
            figures["best_of_2"].append(best[name])
            figures["blanked_turn2"].append(blanked[i].turns[1].scores[name])
            figures["swapped_turn2"].append(swapped[i].turns[1].scores[name])
        result["turn1_rendered"].append(float(episode.turns[0].rendered))
        result["turn2_rendered"].append(float(episode.turns[1].rendered))
        kept, similarity = turn_edit(episode.turns[0].code, episode.turns[1].code)
        result["turn2_kept"].append(kept)
        result["turn2_similarity"].append(similarity)
    cases = repairs
    fixed = run_episodes(model, processor, [c.target for c in cases], greedy, pool=pool,
                         first_answers=[prompts.format_completion(c.broken) for c in cases]) if cases else []
    result["repair"] = [{"kind": c.kind, "repaired": float(e.turns[1].rendered)} for c, e in zip(cases, fixed)]
    return result


def mode_row(label: str, per_target: dict, figure: str) -> list[str]:
    """Turn 1, turn 2, their change, turn 2 against best of 2, blanked images and swapped observations, on one
    figure (a mode a run did not score reads nan)."""
    turn1, turn2 = per_target[figure]["turn1"], per_target[figure]["turn2"]
    best, blank, swap = (per_target[figure].get(m, [math.nan] * len(turn2))
                         for m in ("best_of_2", "blanked_turn2", "swapped_turn2"))
    columns = [label, figure, mean_text(turn1), mean_text(turn2), str(paired_change(turn1, turn2))]
    for other in (best, blank, swap):
        columns += [mean_text(other), str(paired_change(other, turn2)) if any(map(math.isfinite, other)) else "nan"]
    return columns


def mean_text(values) -> str:
    """The mean of the scored values, signed to three places ("nan" when none was scored).

    >>> mean_text([0.25, math.nan, 0.5]), mean_text([math.nan])
    ('+0.375', 'nan')
    """
    scored = [v for v in values if math.isfinite(v)]
    return f"{np.mean(scored):+.3f}" if scored else "nan"


def pooled(results: dict, index: list[int]) -> dict:
    """Each figure and mode's per-target mean over the seeds, for the targets in `index`."""
    return {name: {mode: pooled_over_seeds([[r["figures"][name][mode][i] for i in index] for r in results.values()])
                   for mode in MODES if all(mode in r["figures"][name] for r in results.values())}
            for name in ("structure", "appearance")}


def by_index(result: dict, index: list[int]) -> dict:
    return {name: {mode: [values[i] for i in index] for mode, values in modes.items()}
            for name, modes in result["figures"].items()}


def edit_line(kind: str, results: dict, index: list[int]) -> str:
    """What turn 2 does with turn 1's program on a kind, over every seed's episodes: kept unchanged, the text in
    common (median), and turn 2 - turn 1 where turn 1 scored below and at or above the kind's median turn 1."""
    scored = [r for r in results.values() if "turn2_kept" in r]
    if not scored:
        return f"{kind}: what turn 2 does with turn 1 was not recorded by the run that scored these models"
    kept = [r["turn2_kept"][i] for r in scored for i in index]
    similar = [r["turn2_similarity"][i] for r in scored for i in index]
    pairs = [(kind_figure({f: r["figures"][f]["turn1"][i] for f in ("structure", "appearance")}, kind),
              kind_figure({f: r["figures"][f]["turn2"][i] for f in ("structure", "appearance")}, kind))
             for r in scored for i in index]
    pairs = [(a, b) for a, b in pairs if not (math.isnan(a) or math.isnan(b))]
    middle = float(np.median([a for a, _ in pairs])) if pairs else math.nan
    halves = {name: paired_change([a for a, _ in chosen], [b for _, b in chosen])
              for name, chosen in (("worse", [p for p in pairs if p[0] < middle]),
                                   ("better", [p for p in pairs if p[0] >= middle]))}
    return (f"{kind}: turn 2 keeps turn 1's program unchanged in {np.mean(kept):.2f} of {len(kept)} episodes, "
            f"shares a median {np.median(similar):.2f} of its text; turn 2 - turn 1 where turn 1 is below the "
            f"median {halves['worse']}, at or above it {halves['better']}")


def against_line(kind: str, results: dict, other: dict, index: list[int], other_name: str) -> list[str]:
    """Each turn's change from another run's same turn on the kind's figures, the seeds both ran pooled as each
    picture's mean change (`other`: that run's "results", keyed by seed as text)."""
    seeds = [seed for seed in results if str(seed) in other]
    lines = []
    for name in KIND_FIGURES[kind]:
        changes = []
        for mode in ("turn1", "turn2"):
            before = pooled_over_seeds([[other[str(s)]["figures"][name][mode][i] for i in index] for s in seeds])
            after = pooled_over_seeds([[results[s]["figures"][name][mode][i] for i in index] for s in seeds])
            changes.append(f"{mode.replace('turn', 'turn ')} {paired_change(before, after)}")
        lines.append(f"{kind}, {name}, against {other_name} (seeds {seeds}): {'; '.join(changes)}")
    return lines


def goal_lines(kind: str, pooled_kind: dict) -> list[str]:
    """Whether turn 2 beats turn 1 by 3 standard errors (paired, pooled over seeds) and beats best of 2."""
    lines = []
    for name in KIND_FIGURES[kind]:
        turn1, turn2, best = (pooled_kind[name][m] for m in ("turn1", "turn2", "best_of_2"))
        gain, over_best = paired_change(turn1, turn2), paired_change(best, turn2)
        holds = gain.mean > 0 and gain.mean >= 3 * gain.standard_error  # False when the SE is nan
        lines.append(f"{kind}, {name}: turn 2 - turn 1 {gain}: > 0 by >= 3 SE {holds}; "
                     f"turn 2 - best of 2 {over_best}: above {over_best.mean > 0}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from earthshader.data import picture_kinds
    from earthshader.episodes.pairs import broken_programs
    from earthshader.glsl.breakage import COMPILE_BREAKS
    from earthshader.modeling import read_run_info
    from earthshader.render import RenderPool

    console = Console(width=None if sys.stdout.isatty() else 200)
    began = time.perf_counter()
    start = starting_model(args)
    size = read_run_info(start).get("image_size", 84)
    results, shares = {}, {}
    cold_starts = args.reuse_trained == "sft" or args.grpo_steps == 0
    suffix = "-sft" if cold_starts else ""  # the cold starts' scores never replace the GRPO models'
    with RenderPool(workers=args.workers) as pool:
        kinds, skipped = picture_kinds.available_kinds(args.kinds, args.corpus)
        for line in skipped:
            print(f"kind skipped: {line}")
        sets = picture_kinds.write_sets(kinds, args.out, train_n=args.train_n, heldout_n=args.eval_n, size=size,
                                        corpus=args.corpus, pool=pool)
        heldout = [row for rows in sets.values() for row in rows]
        programs = [replace(r, code=r.program) for r in heldout if r.program]  # withheld: the learner never sees it
        repairs, counts = broken_programs(programs, args.repair_n, pool=pool, seed=1, breaks=COMPILE_BREAKS)
        print(f"{len(heldout)} held-out pictures ({', '.join(f'{k} {len(v)}' for k, v in sets.items())}); "
              f"{len(repairs)} broken programs ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
        fixes = own_fixes(args, start, size, pool) if args.cold_start is None else None
        for seed in args.seeds:
            saved = args.out / f"seed-{seed}" / f"look_and_fix_seed{suffix}.json"
            key = settings_key(args, start)
            if saved.exists() and (kept := json.loads(saved.read_text())).get("key") == key:
                print(f"seed {seed}: trained and scored by an earlier run with these settings, {saved}")
                results[seed], shares[seed] = kept["result"], kept["episode_share"]
                continue
            model = saved_model(args.out, seed, args.reuse_trained) if args.reuse_trained else None
            if model is None:
                model, shares[seed] = train_seed(args, start, fixes, seed, size)
            else:
                print(f"seed {seed}: scoring the model an earlier run saved, {model}")
                shares[seed] = episode_shares(model)
            results[seed] = evaluate(model, heldout, repairs, args, size, seed, pool)
            saved.write_text(json.dumps({"key": key, "result": results[seed], "episode_share": shares[seed]},
                                        default=float) + "\n")

    goals = []
    for kind in kinds:
        index = [i for i, t in enumerate(heldout) if t.source == kind]
        table = Table(title=f"{kind}: {len(index)} held-out pictures; mean figure, and paired changes ± SE over "
                            "targets", title_justify="left")
        for column in ("", "figure", "turn 1", "turn 2", "turn 2 - 1", "best of 2", "turn 2 - best of 2",
                       "blanked turn 2", "turn 2 - blanked", "swapped turn 2", "turn 2 - swapped"):
            table.add_column(column, justify="left" if column in ("", "figure") else "right")
        pooled_kind = pooled(results, index)
        for figure in KIND_FIGURES[kind]:
            for seed, result in results.items():
                table.add_row(*mode_row(f"seed {seed}", by_index(result, index), figure))
            table.add_row(*mode_row("pooled", pooled_kind, figure), end_section=True)
        console.print(table)
        rendered = {when: np.mean([r[f"{when}_rendered"][i] for r in results.values() for i in index])
                    for when in ("turn1", "turn2")}
        failed = [(r["turn2_rendered"][i]) for r in results.values() for i in index if not r["turn1_rendered"][i]]
        console.print(f"{kind}: turn 1 renders {rendered['turn1']:.2f}, turn 2 {rendered['turn2']:.2f}; turn 2 "
                      f"repairs {np.mean(failed) if failed else math.nan:.2f} of {len(failed)} failed turns 1")
        console.print(edit_line(kind, results, index))
        if args.against is not None:
            other = json.loads(args.against.read_text())["results"]
            for line in against_line(kind, results, other, index, str(args.against)):
                console.print(line)
        goals += goal_lines(kind, pooled_kind)
    repaired = [case for r in results.values() for case in r["repair"]]
    rate = float(np.mean([c["repaired"] for c in repaired])) if repaired else math.nan
    per_break = {k: float(np.mean([c["repaired"] for c in repaired if c["kind"] == k]))
                 for k in COMPILE_BREAKS if any(c["kind"] == k for c in repaired)}
    console.print(f"repair on {len(repaired)} broken held-out programs: {rate:.2f} "
                  f"({', '.join(f'{k} {v:.2f}' for k, v in per_break.items())})")
    goals.append(f"repair: turn 2 compiles and renders {rate:.2f} of broken programs: >= 0.50 {rate >= 0.5}")
    if any(not math.isnan(share["extra"]) for share in shares.values()):  # GRPO over episodes logged its cost
        goals.append(cost_line(console, shares))
    for line in goals:
        console.print(line)
    console.print(f"total {(time.perf_counter() - began) / 60:.1f} min")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"look_and_fix{suffix}.json").write_text(json.dumps(
        {"results": {str(s): r for s, r in results.items()}, "episode_share": shares, "goals": goals,
         "heldout": [{"id": t.id, "kind": t.source} for t in heldout],
         "settings": {k: str(v) for k, v in vars(args).items()}}, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
