"""Reinforcement from render: TRL's GRPO samples shaders for target images and rewards what they render.

    python -m earthshader.grpo --recipe textures                 # Qwen2-VL-7B (4-bit) on procedural textures
    python -m earthshader.grpo --recipe terrains                 # raymarched SDF terrains
    python -m earthshader.grpo --recipe tiny                     # the CPU demo (starts from runs/sft-tiny)
    python -m earthshader.grpo --recipe tiny --num_generations 4 --learning_rate 1e-4 --max_steps 20
    python -m earthshader.grpo --recipe tiny --resume_from_checkpoint true   # after a crash or kill -9
    python -m earthshader.grpo --recipe tiny --time_limit_minutes 5          # stop before a step past 5 minutes

A recipe (a name in `recipes/grpo/` or a path) gives defaults to three sets of arguments:
`GRPOScriptArguments` (earthshader.training.arguments), TRL's `GRPOConfig` (group size `num_generations`,
`beta`, `loss_type`, `temperature`, `max_completion_length`, `learning_rate`, `reward_weights`, ...) and
TRL's `ModelConfig` (model and LoRA). Flags override it; unknown keys are an error. Rewards are names of
built-ins, dotted import paths or installed plugins (see `rewards.get_reward_funcs`). Each logging step
prints a reward table; the run directory keeps `samples.jsonl`, `metrics.jsonl` and PNG grids
(`python -m earthshader.logs RUN_DIR` reads them). From Python:
`earthshader.training.grpo_stage.run(*recipe_arguments("grpo", "tiny", ...))`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from earthshader.cli import run_entry_point
from earthshader.training import grpo_stage
from earthshader.training.recipes import command_line_arguments


def parse(argv: list[str]):
    """(script_args, training_args, model_args): the backend selected (Unsloth before trl), then `--recipe`
    YAML plus command-line flags."""
    return command_line_arguments("grpo", argv)


def main(argv: list[str] | None = None) -> Path:
    # 1. Arguments
    script_args, training_args, model_args = parse(sys.argv[1:] if argv is None else argv)

    # 2. Rewards, model, targets, logs, training, saving
    return grpo_stage.run(script_args, training_args, model_args)


if __name__ == "__main__":
    run_entry_point(main)
