"""Supervised fine-tuning (the "grammar school"): teach the model GLSL from (image, program) pairs.

    python -m earthshader.sft                                   # the default recipe: grammar-school (7B, 4-bit)
    python -m earthshader.sft --recipe tiny                     # the CPU demo: tiny model, procedural data
    python -m earthshader.sft --recipe my.yaml --learning_rate 1e-4 --max_steps 50
    python -m earthshader.sft --recipe tiny --resume_from_checkpoint true   # or a checkpoint directory
    python -m earthshader.sft --recipe tiny --time_limit_minutes 5          # stop before a step past 5 minutes

A recipe is a YAML file (a name in `recipes/sft/` or a path) giving defaults to three sets of arguments:
`SFTScriptArguments` (earthshader.training.arguments), TRL's `SFTConfig` and TRL's `ModelConfig`. Flags
override it; an unknown key in either is an error. The run saves the LoRA adapter, the processor and
`earthshader.json` (the image size) to `output_dir`, which `earthshader.modeling.load_model` loads directly.
From Python: `earthshader.training.sft_stage.run(*recipe_arguments("sft", "tiny", ...))`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from earthshader.cli import run_entry_point
from earthshader.training import sft_stage
from earthshader.training.recipes import command_line_arguments


def parse(argv: list[str]):
    """(script_args, training_args, model_args): the backend selected (Unsloth before trl), then `--recipe` /
    `--config` YAML plus command-line flags."""
    return command_line_arguments("sft", argv)


def main(argv: list[str] | None = None) -> Path:
    # 1. Arguments
    script_args, training_args, model_args = parse(sys.argv[1:] if argv is None else argv)

    # 2. Model, LoRA, data, training, saving
    return sft_stage.run(script_args, training_args, model_args)


if __name__ == "__main__":
    run_entry_point(main)
