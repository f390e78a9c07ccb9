"""Supervised fine-tuning (the "grammar school"): teach the model GLSL from (image, program) pairs.

    python -m earthshader.sft                                   # the default recipe: grammar-school (7B, 4-bit)
    python -m earthshader.sft --recipe tiny                     # the CPU demo: tiny model, procedural data
    python -m earthshader.sft --recipe my.yaml --learning_rate 1e-4 --max_steps 50
    python -m earthshader.sft --recipe tiny --resume_from_checkpoint true   # or a checkpoint directory

A recipe is a YAML file (a name in `recipes/sft/` or a path) giving defaults to three sets of arguments:
`SFTScriptArguments` (earthshader.training.arguments), TRL's `SFTConfig` and TRL's `ModelConfig`. Flags
override it; an unknown key
in either is an error. The run saves the LoRA adapter, the processor and `earthshader.json` (the image
size) to `output_dir`, which `earthshader.modeling.load_model` loads directly.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from earthshader import modeling
from earthshader.cli import run_entry_point
from earthshader.training.arguments import SFTScriptArguments
from earthshader.training.recipes import backend_from_argv, check_model_exists, parse_recipe_args
from earthshader.training.saving import resume_checkpoint, save_trained

logger = logging.getLogger("earthshader.sft")

DEFAULT_RECIPE = "grammar-school"


def parse(argv: list[str]):
    """(script_args, training_args, model_args) from `--recipe` / `--config` YAML plus command-line flags."""
    from trl import ModelConfig, SFTConfig

    return parse_recipe_args(argv, "sft", DEFAULT_RECIPE, (SFTScriptArguments, SFTConfig, ModelConfig))


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
                  pairs: list | None = None, policy: tuple | None = None):
    """Model, processor, LoRA and data, ready to train: `(trainer, info)`; `info` is saved beside the adapter.

    `pairs` replace the recipe's data, and `policy` = `(model, processor, peft_config)` is a model already
    loaded: `earthshader.expert` trains each round's kept pairs that way.
    """
    from trl import SFTTrainer

    from earthshader.modeling import prompts
    from earthshader.training import sft_examples

    build_tiny_if_missing(script_args, model_args)
    if not policy:
        check_model_exists(model_args.model_name_or_path)  # a missing runs/... folder: at once, not after the network

    # Model, processor, LoRA
    model, processor = policy[:2] if policy else modeling.load_model(
        model_args.model_name_or_path,
        backend,
        dtype=model_args.dtype or "auto",
        revision=model_args.model_revision,
        attn_implementation=model_args.attn_implementation,
        load_in_4bit=model_args.load_in_4bit,
    )
    lora = modeling.lora_config(model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout,
                              model_args.lora_target_modules, model_args.lora_modules_to_save)
    use_peft = model_args.use_peft and not policy
    model, peft_config = modeling.add_lora(model, backend, lora) if use_peft else (model, policy[2] if policy else None)

    # Data: pairs -> prompt / completion / image; max_length covers image, prompt and the longest program
    pairs = load_pairs(script_args, processor.tokenizer) if pairs is None else pairs
    dataset = sft_examples.to_sft_dataset(pairs, script_args.image_size)
    longest = max(sft_examples.completion_tokens(processor.tokenizer, p.code) for p in pairs)
    training_args.max_length = sft_examples.prompt_tokens(processor, script_args.image_size) + longest
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


def main(argv: list[str] | None = None) -> Path:
    argv = list(sys.argv[1:] if argv is None else argv)
    backend = modeling.select_backend(backend_from_argv(argv, "sft", DEFAULT_RECIPE))  # Unsloth first

    # 1. Arguments
    script_args, training_args, model_args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    # 2. Model, LoRA and data
    trainer, info = build_trainer(script_args, training_args, model_args, backend)

    # 3. Train (resume: true for the newest complete checkpoint in output_dir, or a checkpoint directory)
    checkpoint = resume_checkpoint(training_args.output_dir, training_args.resume_from_checkpoint)
    trainer.train(resume_from_checkpoint=checkpoint[0] if checkpoint else None)

    # 4. Save the adapter, the processor and the image size the model was trained with
    return save_trained(trainer, training_args.output_dir, info)


if __name__ == "__main__":
    run_entry_point(main)
