"""Supervised fine-tuning (the "grammar school") as a function: (image, program) pairs teach the model GLSL.

    from earthshader.training import sft_stage
    from earthshader.training.recipes import recipe_arguments
    args = recipe_arguments("sft", "tiny", output_dir="runs/sft-mine", num_train_epochs=2)
    model_dir = sft_stage.run(*args)          # what `python -m earthshader.sft --recipe tiny ...` runs

`run` trains and saves the LoRA adapter (or, from an SFT adapter merged on the CPU, the whole model), the
processor and `earthshader.json` (the image size) to `output_dir`, which `earthshader.modeling.load_model`
loads directly. `time_limit_minutes` stops it before a step that would end past the limit. Expert iteration
builds its rounds' trainers with `load_pairs` and `build_trainer`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from earthshader.training.arguments import SFTScriptArguments
from earthshader.training.policy import Policy, load_policy
from earthshader.training.recipes import check_model_exists
from earthshader.training.saving import save_trained
from earthshader.training.startup import begin

logger = logging.getLogger("earthshader.sft")


def load_pairs(args: SFTScriptArguments, tokenizer) -> list:
    """Every (image, code) pair the recipe asks for, rendered and filtered, long programs dropped."""
    from earthshader.data import rows
    from earthshader.training import sft_examples

    pairs = []
    if args.dataset_path:  # any source of the one loader that has programs (docs/pictures.md)
        pairs = sft_examples.require_programs(rows.load_rows(args.dataset_path, split=args.dataset_split,
                                                         size=args.image_size, workers=args.render_workers),
                                          args.dataset_path)
    programs = []
    if args.generators and args.generated_examples > 0:
        programs += rows.generated_programs(
            args.generators, args.generated_examples, args.generator_seed, args.generator_difficulty
        )
    if args.shadereval:
        programs += sft_examples.shadereval_programs(args.shadereval)
    programs = sft_examples.drop_long_programs(programs, tokenizer, args.max_code_tokens)
    if programs:
        pairs += rows.render_targets(programs, args.image_size, workers=args.render_workers)
    pairs = sft_examples.drop_long_programs(pairs, tokenizer, args.max_code_tokens)
    if not pairs:
        raise rows.SourceError("no training pairs: set dataset_path, generators + generated_examples, or shadereval")
    return pairs


def build_trainer(script_args: SFTScriptArguments, training_args, model_args, backend: str, *,
                  pairs: list | None = None, policy: Policy | None = None):
    """Model, processor, LoRA and data, ready to train: `(trainer, info)`; `info` is saved beside the adapter.

    `pairs` replace the recipe's data, and `policy` is a model already loaded (`earthshader.training.policy`,
    which loads it otherwise): expert iteration trains each round's kept pairs that way.
    """
    from trl import SFTTrainer

    from earthshader.modeling import prompts
    from earthshader.training import sft_examples

    build_tiny_if_missing(script_args, model_args)
    if not policy:
        check_model_exists(model_args.model_name_or_path)  # a missing runs/... folder: at once, not after the network

    # Model, processor, LoRA
    model, processor, peft_config, _ = policy or load_policy(model_args, backend)

    # Data: pairs -> prompt / completion / image; max_length covers image, prompt and the longest program
    pairs = load_pairs(script_args, processor.tokenizer) if pairs is None else pairs
    if script_args.correction_examples or script_args.correction_dataset or script_args.own_fix_pictures:
        from earthshader.training import correction_examples  # look and fix's cold start

        dataset, training_args.max_length = correction_examples.mixed_dataset(
            pairs, script_args, processor, model=model, own_fix_folder=Path(training_args.output_dir) / "own-fixes")
        logger.info("max_length %d: the longest row, its images and observation included", training_args.max_length)
    else:
        dataset = sft_examples.to_sft_dataset(pairs, script_args.image_size)
        longest = max(sft_examples.completion_tokens(processor.tokenizer, p.code) for p in pairs)
        training_args.max_length = prompts.prompt_tokens(processor, script_args.image_size) + longest
        logger.info("%d training examples from %s; max_length %d (image %d tokens, longest program %d tokens)",
                    len(dataset), sorted({s.split(":")[0] for s in dataset["source"]}), training_args.max_length,
                    prompts.image_tokens(script_args.image_size), longest)

    if not sys.stderr.isatty():
        training_args.disable_tqdm = True  # a log file gets the log lines, not a progress bar redrawn each step
    trainer = SFTTrainer(
        model=model, args=training_args, train_dataset=dataset, processing_class=processor, peft_config=peft_config
    )
    info = {"image_size": prompts.image_size(script_args.image_size), "base_model": model_args.model_name_or_path,
            "backend": backend, "examples": len(dataset), "max_length": training_args.max_length}
    return trainer, info


def build_tiny_if_missing(script_args: SFTScriptArguments, model_args) -> None:
    """Build the tiny offline model at `model_name_or_path` when the recipe asks for it and the folder is missing."""
    if script_args.build_tiny_model and not Path(model_args.model_name_or_path).exists():
        from earthshader.modeling.tiny import build_tiny_model

        logger.info("building the tiny %s model at %s", script_args.build_tiny_model, model_args.model_name_or_path)
        build_tiny_model(model_args.model_name_or_path, arch=script_args.build_tiny_model)


def run(script_args: SFTScriptArguments, training_args, model_args) -> Path:
    """Train as the arguments say and save; returns `output_dir` (see the module docstring)."""
    from earthshader.training.callbacks import TimeLimit

    start = begin(script_args, training_args)  # the backend, logging, the checkpoint to resume from

    # 1. Model, LoRA and data
    build_tiny_if_missing(script_args, model_args)
    policy = load_policy(model_args, start.backend)
    trainer, info = build_trainer(script_args, training_args, model_args, start.backend, policy=policy)
    trainer.add_callback(TimeLimit(script_args.time_limit_minutes))

    # 2. Train (resume: true for the newest complete checkpoint in output_dir, or a checkpoint directory)
    trainer.train(resume_from_checkpoint=start.checkpoint[0] if start.checkpoint else None)

    # 3. Save the adapter (or the merged model), the processor and the image size the model was trained with
    return save_trained(trainer, training_args.output_dir, info, merged=policy.merged)
