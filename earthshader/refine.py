"""Refine a shader's numbers toward a target image by re-rendering (CMA-ES over its float literals).

    python -m earthshader.refine SHADER.glsl TARGET.png -o OUT.glsl [--budget 300] [--size 128] [--objective mix]

Fits the shader's float literals so that its render scores best on `--objective` against the picture:
`structure` (do the features line up), `appearance` (the same texture and palette anywhere) or `mix`
(their mean, the default: docs/eval.md, "Which figure for which picture"). Prints both figures before and
after, and writes the refined shader (the original text with new numbers; unchanged when nothing scored
higher). The library: `earthshader.answering.refine` (docs/refine.md).
"""

from __future__ import annotations

from earthshader.answering.files import refine_file
from earthshader.answering.refine import MIN_BUDGET, MIN_TARGET_SIDE, RefineError
from earthshader.cli import (
    MAX_RENDERS,
    MAX_SIDE,
    ArgumentParser,
    UsageError,
    existing_file,
    fail,
    finite_float,
    int_range,
    new_file_path,
    non_negative_int,
    positive_int,
    run_entry_point,
)
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, DESCRIPTIONS, OBJECTIVES


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m earthshader.refine", description=__doc__.split("\n")[0])
    parser.add_argument("shader", type=existing_file, help="Shadertoy Image-pass source (.glsl)")
    parser.add_argument("target", type=existing_file, help="target picture (PNG, JPEG, WebP, ...)")
    parser.add_argument("-o", "--output", required=True, type=new_file_path, help="where to write the refined .glsl")
    parser.add_argument("--budget", type=int_range(MIN_BUDGET, MAX_RENDERS), default=300,
                        help=f"renders to spend, checks included (at least {MIN_BUDGET})")
    parser.add_argument("--size", type=int_range(MIN_TARGET_SIDE, MAX_SIDE), default=128,
                        help="the target's longer side in pixels (resized, aspect kept; default 128)")
    parser.add_argument("--time", type=finite_float, default=0.0, help="iTime of the frame to match")
    parser.add_argument("--max-dims", type=int_range(1, 64), default=None,
                        help="most literals fitted at once (default: budget / 100, 2 to 12)")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--workers", type=positive_int, default=None, help="render processes (default: cores)")
    parser.add_argument("--objective", choices=OBJECTIVES, default=DEFAULT_OBJECTIVE,
                        help="what the numbers are fitted for: " + "; ".join(DESCRIPTIONS.values())
                             + f" (default {DEFAULT_OBJECTIVE})")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        refine_file(**vars(args))
    except (RefineError, UsageError) as err:
        return fail(str(err))
    return 0


if __name__ == "__main__":
    run_entry_point(main)
