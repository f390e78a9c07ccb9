"""The CPU demo, end to end: a grammar school, then GRPO on pictures that have no program, before and after.

    python -m earthshader.demo                       # what `make demo` runs (about 14 minutes on 2 idle cores)
    python -m earthshader.demo --out runs/demo --grpo-steps 100 --eval-n 16 --eval-samples 2 --search 0

The work is `earthshader.training.demo_run.run_demo`; the tables are `earthshader.evaluation.comparison`.

1. the SFT stage (`earthshader.training.sft_stage`, the `tiny` recipe with `--generators primitives gradient`)
   builds the tiny Qwen2-VL (its tokenizer trained on GLSL) and teaches it the grammar school: circles, boxes
   and gradients, as programs;
2. pictures with no program (`earthshader.data.picture_kinds`): textures of six families the grammar
   school never saw (`textures`) and crops of scikit-image's photographs (`photos`); `--train-n` training
   pictures of each, written as PNG files to OUT/pictures/train, and `--eval-n` held-out pictures of each
   (other generator seeds; crops of other photographs) in OUT/pictures/heldout;
3. the SFT model is evaluated on each kind's held-out pictures, beside the model-free search baseline
   (`--search` renders a picture, fitted for `--objective`, by default `mix`: one search per picture, whose
   row shows both figures; `earthshader.answering.search`);
4. the GRPO stage (`earthshader.training.grpo_stage`, the `tiny` recipe with `dataset_path`
   OUT/pictures/train) trains it from rendered rewards alone: no program of any training picture exists for
   it to imitate;
5. the GRPO model is evaluated on the same pictures, and a table per kind compares the two: compile rate,
   non-flat rate, mean SSIM, the mean-colour image's SSIM, and the two figures over that baseline (which a
   flat grey image cannot fake): `structure` (do the features line up) and `appearance` (the same texture
   and palette anywhere), with their changes paired by target. Both models are evaluated twice: the greedy
   answer (one per picture), and the sampled policy that GRPO trains (`--eval-samples` answers per picture at
   the GRPO recipe's temperature, figures averaged over all answers). Reports land in
   OUT/eval-{sft,grpo}/KIND/{greedy,sampled}.
"""

from __future__ import annotations

from pathlib import Path

from earthshader.cli import ArgumentParser, folder_path, non_negative_int, positive_float, positive_int, run_entry_point
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, OBJECTIVES
from earthshader.training.demo_run import run_demo


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m earthshader.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=folder_path, default=Path("runs/demo"))
    parser.add_argument("--sft-epochs", type=positive_float, default=None, help="override the tiny SFT recipe's epochs")
    parser.add_argument("--grpo-steps", type=positive_int, default=None,
                        help="override the tiny GRPO recipe's max_steps")
    parser.add_argument("--train-n", type=positive_int, default=192, help="training pictures of each kind")
    parser.add_argument("--eval-n", type=positive_int, default=64, help="held-out pictures of each kind")
    parser.add_argument("--eval-samples", type=positive_int, default=4,
                        help="samples per picture for the sampled-policy figures (at the GRPO temperature)")
    parser.add_argument("--search", type=non_negative_int, default=100,
                        help="renders the search baseline spends per held-out picture (0: no search row)")
    parser.add_argument("--objective", choices=OBJECTIVES, default=DEFAULT_OBJECTIVE,
                        help=f"what the search baseline is fitted for (default {DEFAULT_OBJECTIVE}: the mean of "
                             "structure and appearance)")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    run_demo(**vars(build_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    run_entry_point(main)
