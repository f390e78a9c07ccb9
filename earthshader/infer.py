"""Image in, shader out: sample K programs per picture, keep the best render, optionally refine its numbers.

    python -m earthshader.infer photo.png --model runs/grpo-tiny -o out/
    python -m earthshader.infer a.png b.jpg --model Qwen/Qwen2-VL-7B-Instruct --adapter runs/grpo-textures \\
        --samples 16 --refine --budget 400 -o out/
    python -m earthshader.infer photos/ "crops:skimage:photos?count=8" --model runs/grpo-tiny -o out/

An input is any picture source of `earthshader.data.rows.load_rows` (docs/pictures.md), checked as every
stage checks it (`rows.picture_spec`): a picture file, a folder of pictures (recursive), `crops:...`,
`skimage:...`, a saved dataset. Every picture is read by the one reader and its guards; every picture that
can be scored is answered, and one that cannot (a flat picture, a 1 x 1 one) is refused by name: a file
given alone exits 2, one in a folder is named in the log. Non-square pictures are centre-cropped to a square
before they are resized to the model's size.

For each image: the model (with the shared prompt and image size) writes K programs, and the one answer
pipeline (`earthshader.answering.answer`) renders each at the image size, scores it by `--objective` through
the evaluation's scorer (`structure`, `appearance` or `mix`, their mean and the default; 0 is no better than a
flat image of the picture's mean colour, 1 the picture itself), keeps the best and, with `--refine`, fits its
numeric literals to the picture by re-rendering for the same objective, keeping the refined program only when
it scores higher. With `--search BUDGET` the model-free search baseline (`earthshader.answering.search`: the
generators' programs fitted for the same objective, BUDGET renders) runs too; its program is written
instead when it scores above the model's (refined) best. With `--turns N` (look and fix,
docs/look-and-fix.md) each of the K samples is an episode: the model sees its program's render beside the
picture and writes a whole new program, N answers in all; the K last turns are what the best is picked from
(then `--refine` and `--search` as above), and a second table gives every turn's figures (the best of that
turn's K) and their change from turn 1. Writes `NAME.glsl` (with a header comment: source
image, model, the objective's value and both figures, where the program came from), `NAME.png` (the
picture beside the result) and, with `--turns`, `NAME.turns.png` (the picture | turn 1 | turn 2 ... of the
episode whose last turn was kept), each to a temporary file renamed into place, and prints a summary of
exactly what was written, both figures included.
NAME is the picture's path inside its folder (or the file name) without its suffix, `/` made `_`; a crop
keeps its `@x,y`; two inputs never share a NAME (a short digest of the input is added when they would).
Exits 2 on bad input (a missing, unreadable or refused picture, a model that cannot be found, `--turns` of
`--max-new-tokens` that would run past the model's positions), naming the argument on one line; 1 when no
picture got a shader written.
"""

from __future__ import annotations

import argparse
import logging

from earthshader.answering.inference import infer_pictures
from earthshader.answering.refine import MIN_BUDGET
from earthshader.cli import (
    MAX_RENDERS,
    MAX_SAMPLES,
    MAX_SIDE,
    ArgumentParser,
    UsageError,
    check_sampling,
    fail,
    folder_path,
    int_range,
    non_negative_float,
    run_entry_point,
)
from earthshader.data.rows import picture_spec
from earthshader.episodes.runner import MAX_TURNS
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, DESCRIPTIONS, OBJECTIVES
from earthshader.modeling.backends import BACKENDS


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m earthshader.infer", description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=picture_spec,
                        help="pictures (PNG, JPEG, WebP), folders of them, crops:..., skimage:...")
    parser.add_argument("--model", required=True, help="Hub id, model folder, or LoRA adapter folder")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter folder to apply on top of --model")
    parser.add_argument("--samples", type=int_range(1, MAX_SAMPLES), default=8,
                        help="programs sampled per picture (default 8)")
    parser.add_argument("--temperature", type=non_negative_float, default=None,
                        help="default: 1.0, or greedy (0) for 1 sample")
    parser.add_argument("--size", type=int_range(1, MAX_SIDE), default=None,
                        help="image side, rounded to a multiple of 28, at least 56 (default: the model's)")
    parser.add_argument("--max-new-tokens", type=int_range(1, 32768), default=1024)
    parser.add_argument("--objective", choices=OBJECTIVES, default=DEFAULT_OBJECTIVE,
                        help="what the best program is picked and fitted for: " + "; ".join(DESCRIPTIONS.values())
                             + f" (default {DEFAULT_OBJECTIVE})")
    parser.add_argument("--turns", type=int_range(1, MAX_TURNS), default=1,
                        help="look and fix: each of the --samples is an episode of this many turns, the model seeing "
                             "its render after each; the best last turn is kept (then --refine, --search as "
                             "without turns), and every turn's figures are printed (default 1: one answer)")
    parser.add_argument("--refine", action="store_true", help="fit the best program's numbers to the picture")
    parser.add_argument("--budget", type=int_range(MIN_BUDGET, MAX_RENDERS), default=300,
                        help="renders for --refine (default 300)")
    parser.add_argument("--search", type=int_range(0, MAX_RENDERS), default=0, metavar="BUDGET",
                        help="also run the model-free search baseline with BUDGET renders a picture "
                             "(earthshader.answering.search); its program is kept when it scores above the "
                             "model's best (default 0: off)")
    parser.add_argument("--backend", default="auto", choices=BACKENDS, help="model backend (default auto)")
    parser.add_argument("-o", "--out", type=folder_path, required=True, help="output folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_sampling(parser, args.samples, args.temperature)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # what the loader dropped or resized
    try:
        results = infer_pictures(**vars(args))
    except UsageError as err:  # a picture set or model that cannot be used: one line naming the argument
        return fail(str(err))
    return 0 if any(item.written for item in results) else 1


if __name__ == "__main__":
    run_entry_point(main)
