"""Evaluate a model on held-out targets: K programs per target image, rendered and scored, with both baselines.

    python -m earthshader.eval --model runs/sft-tiny --dataset generator:textures --n 16 --size 84
    python -m earthshader.eval --model Qwen/Qwen2-VL-7B-Instruct --adapter runs/grpo --dataset data/textures \\
        --n 200 --samples 4 --size 224 --out runs/eval-grpo

--model is a Hub id, a saved model folder or a LoRA adapter folder (as `earthshader.sft` writes);
--adapter adds a LoRA adapter on top of --model. --dataset is any source of the one loader
(`earthshader.data.rows`, docs/pictures.md): a folder written by `python -m earthshader.data build`
(its --split, default test), a Hugging Face dataset id, `generator:NAME` (fresh procedural targets,
seeds from --start), a folder of pictures (`photos/`), `crops:PICTURES?size=96&count=256&seed=0`,
`skimage:photos`, or `renders:CORPUS?time=1` (code withheld, split by program). --size defaults to the
image size the model was trained with (its `earthshader.json`), else 224.

Every table shows both figures, `structure` (do the features line up) and `appearance` (the same texture
and palette anywhere), for the model and every baseline. --search BUDGET adds the model-free search
baseline (each generator family's programs, fitted to each target for --objective by re-rendering,
BUDGET renders a target; 0 turns it off) and prints its cost; --objective (structure, appearance, or mix,
their mean and the default) is also what "best of K" picks by. --turns N (look and fix) makes each of the K
samples an episode: the model sees its render and writes a new program, N answers in all; the model's rows are
the last turn's, and a table gives every turn's figures and their paired change from turn 1 (turn 1 is the
--turns 1 answer of the same --seed). Prints the tables and writes
OUT/report.json, OUT/report.md and OUT/contact_sheet.png. The same model,
targets and --seed give the same report (timings apart). Exit status: 0 done, 2 bad arguments.
See docs/eval.md for what each figure means.
"""

from __future__ import annotations

import argparse
import logging

from earthshader.cli import (
    MAX_RENDERS,
    MAX_SAMPLES,
    MAX_SIDE,
    ArgumentParser,
    UsageError,
    check_sampling,
    fail,
    float_range,
    folder_path,
    int_range,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    run_entry_point,
)
from earthshader.data.rows import picture_spec
from earthshader.episodes.runner import MAX_TURNS
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, DESCRIPTIONS, OBJECTIVES
from earthshader.evaluation.run import run_evaluation
from earthshader.modeling.backends import BACKENDS

#: Renders a target for the search baseline: about 2 s a target at 84 px on 2 cores (docs/eval.md).
DEFAULT_EVAL_BUDGET = 200


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m earthshader.eval", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="Hub id, model folder, or LoRA adapter folder")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter folder to apply on top of --model")
    parser.add_argument("--dataset", required=True, type=picture_spec,
                        help="dataset folder, Hub id, generator:NAME, picture folder, crops:..., skimage:..., "
                             "renders:... (docs/pictures.md)")
    parser.add_argument("--split", default="test", help="split of --dataset (default test)")
    parser.add_argument("--n", type=positive_int, default=None,
                        help="targets to evaluate (default: all; generators: 16)")
    parser.add_argument("--samples", type=int_range(1, MAX_SAMPLES), default=1,
                        help="completions per target, K (default 1); with --turns, K episodes")
    parser.add_argument("--turns", type=int_range(1, MAX_TURNS), default=1,
                        help="look and fix: each sample is an episode of this many turns, the model seeing its "
                             "render after each; every turn is reported (default 1: one answer; docs/look-and-fix.md)")
    parser.add_argument("--difficulty", type=non_negative_int, default=None,
                        help="generator: targets of one difficulty level only (default: drawn per seed)")
    parser.add_argument("--size", type=int_range(1, MAX_SIDE), default=None,
                        help="image side in pixels, rounded to a multiple of 28, at least 56")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed for choosing targets and sampling (default 0)")
    parser.add_argument("--out", type=folder_path, default="runs/eval",
                        help="folder for report.json, report.md, contact_sheet.png")
    parser.add_argument("--temperature", type=non_negative_float, default=None,
                        help="sampling temperature (default: 0, greedy, for K=1; 1.0 for K>1)")
    parser.add_argument("--top-p", "--top_p", type=float_range(0.0, 1.0, low_open=True), default=1.0,
                        help="nucleus sampling (default 1.0)")
    parser.add_argument("--max-new-tokens", "--max_new_tokens", type=positive_int, default=1024,
                        help="generation length limit per completion (default 1024)")
    parser.add_argument("--batch-size", "--batch_size", type=positive_int, default=8, help="images per generate call")
    parser.add_argument("--backend", default="auto", choices=BACKENDS, help="model backend (default auto)")
    parser.add_argument("--start", type=non_negative_int, default=None,
                        help="generator:NAME only: first seed (default 1000000)")
    parser.add_argument("--workers", type=positive_int, default=None, help="render processes (default: all cores)")
    parser.add_argument("--timeout", type=positive_float, default=20.0, help="seconds one shader may take to render")
    parser.add_argument("--no-labels", "--no_labels", action="store_true",
                        help="skip the ShaderEval labels (saves rendering 10 frames per program)")
    parser.add_argument("--sheet", type=non_negative_int, default=12,
                        help="targets shown in the contact sheet (default 12)")
    parser.add_argument("--search", type=int_range(0, MAX_RENDERS), default=DEFAULT_EVAL_BUDGET, metavar="BUDGET",
                        help="renders a target for the model-free search baseline (earthshader.answering.search; "
                             f"default {DEFAULT_EVAL_BUDGET}, 0: off)")
    parser.add_argument("--objective", choices=OBJECTIVES, default=DEFAULT_OBJECTIVE,
                        help="what the search baseline is fitted for and best of K picks by: "
                             + "; ".join(DESCRIPTIONS.values()) + f" (default {DEFAULT_OBJECTIVE})")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_sampling(parser, args.samples, args.temperature)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # what the loader dropped or resized
    try:
        run_evaluation(**vars(args))
    except UsageError as err:  # a dataset or model that cannot be used: one line naming the argument
        return fail(str(err))
    return 0


if __name__ == "__main__":
    run_entry_point(main)
