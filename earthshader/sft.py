"""Supervised fine-tuning (the "grammar school"): teach the model GLSL from (image, program) pairs.

    python -m earthshader.sft                                   # the default recipe: grammar-school (7B, 4-bit)
    python -m earthshader.sft --recipe tiny                     # the CPU demo: tiny model, procedural data
    python -m earthshader.sft --recipe my.yaml --learning_rate 1e-4 --max_steps 50
    python -m earthshader.sft --recipe tiny --resume_from_checkpoint true   # or a checkpoint directory

A recipe is a YAML file (a name in `recipes/sft/` or a path) giving defaults to three sets of arguments:
`SFTScriptArguments` below, TRL's `SFTConfig` and TRL's `ModelConfig`. Flags override it; an unknown key
in either is an error. The run saves the LoRA adapter, the processor and `earthshader.json` (the image
size) to `output_dir`, which `earthshader.models.load_model` loads directly.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from earthshader import models

logger = logging.getLogger("earthshader.sft")

DEFAULT_RECIPE = "grammar-school"


@dataclass
class SFTScriptArguments:
    """Our arguments, next to TRL's SFTConfig (training) and ModelConfig (model and LoRA)."""

    backend: str = field(default="auto", metadata={"help": "auto, unsloth, bnb or cpu (see earthshader.models)"})
    build_tiny_model: str | None = field(
        default=None, metadata={"help": "qwen2-vl or qwen2.5-vl: build the tiny model at model_name_or_path if missing"}
    )
    image_size: int = field(default=224, metadata={"help": "square image side in pixels, rounded to a multiple of 28"})
    dataset_path: str | None = field(default=None, metadata={"help": "a dataset saved by the data factory's CLI"})
    dataset_split: str = field(default="train", metadata={"help": "split of dataset_path to train on"})
    generators: list[str] = field(
        default_factory=list, metadata={"help": "generator groups or families to draw programs from, e.g. textures"}
    )
    generated_examples: int = field(default=0, metadata={"help": "how many generated programs (before filtering)"})
    generator_difficulty: int | None = field(default=None, metadata={"help": "one difficulty level, or all"})
    generator_seed: int = field(default=0, metadata={"help": "first seed (evaluate on seeds far from this range)"})
    shadereval: str | None = field(
        default=None, metadata={"help": "'hub' (Vipitis/Shadereval-inputs), a local corpus .jsonl(.gz), or none"}
    )
    max_code_tokens: int = field(default=1024, metadata={"help": "drop programs longer than this (in tokens)"})
    render_workers: int | None = field(default=None, metadata={"help": "render processes (default: all cores)"})


def parse(argv: list[str]):
    """(script_args, training_args, model_args) from `--recipe` / `--config` YAML plus command-line flags."""
    from trl import ModelConfig, SFTConfig

    from earthshader.recipes import parse_recipe_args

    script_args, training_args, model_args = parse_recipe_args(
        argv, "sft", DEFAULT_RECIPE, (SFTScriptArguments, SFTConfig, ModelConfig))
    if script_args.shadereval in ("none", "null", ""):
        script_args.shadereval = None
    return script_args, training_args, model_args


def load_pairs(args: SFTScriptArguments, tokenizer) -> list[dict]:
    """Every (image, code) pair the recipe asks for, rendered and filtered, long programs dropped."""
    from earthshader import sft_data

    pairs = sft_data.load_factory_dataset(args.dataset_path, args.dataset_split) if args.dataset_path else []
    programs = []
    if args.generators and args.generated_examples > 0:
        programs += sft_data.generated_programs(
            args.generators, args.generated_examples, args.generator_seed, args.generator_difficulty
        )
    if args.shadereval:
        programs += sft_data.shadereval_programs(args.shadereval)
    programs = sft_data.drop_long_programs(programs, tokenizer, args.max_code_tokens)
    if programs:
        pairs += sft_data.render_targets(programs, args.image_size, workers=args.render_workers)
    pairs = sft_data.drop_long_programs(pairs, tokenizer, args.max_code_tokens)
    if not pairs:
        raise ValueError("no training pairs: set dataset_path, generators + generated_examples, or shadereval")
    return pairs


def build_trainer(script_args: SFTScriptArguments, training_args, model_args, backend: str):
    """Model, processor, LoRA and data, ready to train: `(trainer, info)`; `info` is saved beside the adapter."""
    from trl import SFTTrainer

    from earthshader import prompts, sft_data

    if script_args.build_tiny_model and not Path(model_args.model_name_or_path).exists():
        from earthshader.tiny import build_tiny_model

        logger.info("building the tiny %s model at %s", script_args.build_tiny_model, model_args.model_name_or_path)
        build_tiny_model(model_args.model_name_or_path, arch=script_args.build_tiny_model)

    # Model, processor, LoRA
    model, processor = models.load_model(
        model_args.model_name_or_path,
        backend,
        dtype=model_args.dtype or "auto",
        revision=model_args.model_revision,
        attn_implementation=model_args.attn_implementation,
        load_in_4bit=model_args.load_in_4bit,
    )
    lora = models.lora_config(model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout,
                              model_args.lora_target_modules, model_args.lora_modules_to_save)
    model, peft_config = models.add_lora(model, backend, lora) if model_args.use_peft else (model, None)

    # Data: pairs -> prompt / completion / image; max_length covers image, prompt and the longest program
    pairs = load_pairs(script_args, processor.tokenizer)
    dataset = sft_data.to_sft_dataset(pairs, script_args.image_size)
    longest = max(sft_data.completion_tokens(processor.tokenizer, p["code"]) for p in pairs)
    training_args.max_length = sft_data.prompt_tokens(processor, script_args.image_size) + longest
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


def main(argv: list[str] | None = None) -> Path:
    argv = list(sys.argv[1:] if argv is None else argv)
    backend = models.select_backend(models.backend_from_argv(argv, "sft", DEFAULT_RECIPE))  # Unsloth first

    # 1. Arguments
    script_args, training_args, model_args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    # 2. Model, LoRA and data
    trainer, info = build_trainer(script_args, training_args, model_args, backend)

    # 3. Train (resume: true for the latest checkpoint in output_dir, or a checkpoint directory)
    resume = training_args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume in ("true", "True") else resume)

    # 4. Save the adapter, the processor and the image size the model was trained with
    return models.save_trained(trainer, training_args.output_dir, info)


if __name__ == "__main__":
    models.run_entry_point(main)
