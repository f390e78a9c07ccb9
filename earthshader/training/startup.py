"""The start of every training stage's run (SFT, GRPO, expert iteration), from the command line or from Python.

    script_args, training_args, model_args = recipe_arguments("sft", "tiny")   # earthshader.training.recipes
    start = begin(script_args, training_args)
    start.backend      # "unsloth", "bnb" or "cpu", as the recipe asks (Unsloth imported before trl, or refused)
    start.checkpoint   # (checkpoint folder, global step) the trainer resumes from, or None for a fresh run
    start.resume       # whether the run in output_dir is resumed (`resume_from_checkpoint: true`)

Before it, `recipe_arguments` (Python) or `command_line_arguments` (an entry point) selected the backend and
parsed the recipe; `begin` checks the backend again (arguments built by hand may come after trl), sets up the
log lines and finds what to resume from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from earthshader.modeling.backends import select_backend
from earthshader.training.saving import resume_checkpoint


@dataclass(frozen=True)
class Start:
    """What a stage's run starts with (see the module docstring)."""

    backend: str
    checkpoint: tuple[str, int] | None
    resume: bool


def begin(script_args, training_args, *, trainer_checkpoints: bool = True) -> Start:
    """The backend, logging and resumption of a run. `trainer_checkpoints` False: the run resumes from its own
    records (expert iteration's rounds), not from a trainer's `checkpoint-N` folder."""
    backend = select_backend(script_args.backend)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    resume = training_args.resume_from_checkpoint
    checkpoint = resume_checkpoint(training_args.output_dir, resume) if trainer_checkpoints else None
    return Start(backend=backend, checkpoint=checkpoint, resume=str(resume).lower() == "true")
