"""Expert iteration: the model's best answers, their constants fitted by re-rendering, become its next lessons.

    python -m earthshader.expert --recipe tiny                   # the CPU demo (starts from runs/sft-tiny)
    python -m earthshader.expert --recipe tiny --rounds 2 --refine_budget 60 --targets_n 16
    python -m earthshader.expert --recipe tiny --resume_from_checkpoint true   # after a crash or kill -9
    python -m earthshader.expert --recipe tiny --rounds 100 --time_limit_minutes 30   # no round past 30 minutes
    python -m earthshader.logs runs/expert-tiny                  # the rounds table of a run

Each round: for every training picture sample K programs (the shared prompt and sampler), and answer it with
the one answer pipeline (`earthshader.answering.answer`): the best sample by the recipe's `objective`
(structure, appearance or mix, through the evaluation's scorer), its constants fitted for it and kept only
if that scores higher; keep the pair (picture, program) when it beats the mean-colour image by `margin` and
re-renders to its recorded score.
Then SFT (the SFT stage's trainer) on the kept pairs, the earlier rounds' pairs and some grammar-school
programs; the next round samples from the new model. After each round the held-out pictures are scored
with `earthshader.evaluation.run.evaluate` and a rich table with both figures is printed.

A recipe (a name in `recipes/expert/` or a path) gives defaults to `ExpertScriptArguments`
(earthshader.training.arguments), TRL's `SFTConfig` (each round's SFT: epochs, learning rate, ...) and
TRL's `ModelConfig`; flags override it. The run directory's layout: `earthshader.training.expert_runs`.
From Python: `earthshader.training.expert_stage.run(*recipe_arguments("expert", "tiny", ...))`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from earthshader.cli import run_entry_point
from earthshader.training import expert_stage
from earthshader.training.recipes import command_line_arguments


def parse(argv: list[str]):
    """(script_args, training_args, model_args): the backend selected (Unsloth before trl), then `--recipe`
    YAML plus command-line flags."""
    return command_line_arguments("expert", argv)


def main(argv: list[str] | None = None) -> Path:
    # 1. Arguments
    script_args, training_args, model_args = parse(sys.argv[1:] if argv is None else argv)

    # 2. Pictures, rounds of sample, refine and learn, held-out scores
    return expert_stage.run(script_args, training_args, model_args)


if __name__ == "__main__":
    run_entry_point(main)  # a bad recipe, run directory or picture source: one line, exit status 2
