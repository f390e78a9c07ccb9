"""Reinforcement from render: TRL's GRPO samples shaders for target images and rewards what they render.

    python -m earthshader.grpo --recipe textures                 # Qwen2-VL-7B (4-bit) on procedural textures
    python -m earthshader.grpo --recipe terrains                 # raymarched SDF terrains
    python -m earthshader.grpo --recipe tiny                     # the CPU demo (starts from runs/sft-tiny)
    python -m earthshader.grpo --recipe tiny --num_generations 4 --learning_rate 1e-4 --max_steps 20
    python -m earthshader.grpo --recipe tiny --resume_from_checkpoint true   # after a crash or kill -9

A recipe (a name in `recipes/grpo/` or a path) gives defaults to three sets of arguments:
`GRPOScriptArguments` (earthshader.training.arguments), TRL's `GRPOConfig` (group size `num_generations`,
`beta`, `loss_type`, `temperature`, `max_completion_length`, `learning_rate`, `reward_weights`, ...) and
TRL's `ModelConfig` (model and LoRA). Flags override it; unknown keys are an error. Rewards are names of
built-ins, dotted import paths or installed plugins (see `rewards.get_reward_funcs`). Each logging step
prints a reward table; the run directory keeps `samples.jsonl`, `metrics.jsonl` and PNG grids
(`python -m earthshader.logs RUN_DIR` reads them).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from earthshader import modeling
from earthshader.cli import run_entry_point
from earthshader.training.arguments import GRPOScriptArguments, reward_weights
from earthshader.training.recipes import backend_from_argv, check_model_exists, parse_recipe_args
from earthshader.training.saving import resume_checkpoint, save_trained

logger = logging.getLogger("earthshader.grpo")

DEFAULT_RECIPE = "textures"


def parse(argv: list[str]):
    """(script_args, training_args, model_args) from `--recipe` YAML plus command-line flags."""
    from trl import GRPOConfig, ModelConfig

    return parse_recipe_args(argv, "grpo", DEFAULT_RECIPE, (GRPOScriptArguments, GRPOConfig, ModelConfig))


def build_dataset(args: GRPOScriptArguments):
    """Prompts with target images: `dataset_path` (any source of `earthshader.data.rows.load_rows`: a factory
    dataset, a folder of pictures, crops, code-withheld renders; docs/pictures.md) or the generators.

    The learner never gets a program it could copy: a `code` column (the length reward's reference) is
    there only when the rows have taught programs, never for pictures or `renders:`. Targets rendered at
    an iTime other than 0 carry `frames` + `times`, so the rewards render completions at that time too.
    """
    import datasets

    from earthshader.data import rows as data_rows
    from earthshader.modeling import prompts

    if args.dataset_path:
        rows = data_rows.load_rows(args.dataset_path, split=args.dataset_split, size=args.image_size,
                                   workers=args.render_workers)
    else:
        programs = data_rows.generated_programs(args.generators, args.generated_examples, args.generator_seed,
                                                args.generator_difficulty)
        rows = data_rows.render_targets(programs, args.image_size, workers=args.render_workers)
    if not rows:
        raise data_rows.SourceError("no GRPO targets: set dataset_path, or generators + generated_examples")
    with_code, timed = any(row.code for row in rows), any(row.time for row in rows)
    examples = []
    for row in rows:
        image = prompts.prepare_image(row.image, args.image_size)
        example = {"prompt": prompts.make_prompt(), "image": image, "id": row.id, "source": row.source,
                   "difficulty": -1 if row.difficulty is None else int(row.difficulty)}
        if with_code:
            example["code"] = row.code
        if timed:
            example |= {"frames": [image], "times": [float(row.time)]}
        examples.append(example)
    if args.curriculum:
        examples.sort(key=lambda row: row["difficulty"])  # stable: seed order inside a level
    return datasets.Dataset.from_list(examples)


def load_policy(model_args, backend: str):
    """`(model, processor, lora_config, merged)`: the model to train and its LoRA config.

    From an SFT adapter on the CPU, the adapter is merged and a fresh LoRA goes on top (`merged`
    True: the result must then be saved merged, since no file holds its base). On a GPU (4-bit
    weights cannot take a merge) the SFT adapter itself is trained on; lora_config is then None.
    """
    model, processor = modeling.load_model(model_args.model_name_or_path, backend, dtype=model_args.dtype or "auto",
                                           revision=model_args.model_revision,
                                           attn_implementation=model_args.attn_implementation)
    lora = modeling.lora_config(model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout,
                                model_args.lora_target_modules, model_args.lora_modules_to_save)
    if hasattr(model, "peft_config"):  # an SFT adapter
        if backend == "cpu":
            return model.merge_and_unload(), processor, lora, True
        for name, parameter in model.named_parameters():  # 4-bit: keep training the adapter itself
            parameter.requires_grad_("lora_" in name)
        return model, processor, None, False
    return model, processor, lora if model_args.use_peft else None, False


def build_trainer(script_args: GRPOScriptArguments, training_args, model_args, backend: str, sample_log_cls=None):
    """The GRPO trainer with rewards, logging callbacks and data, plus the run's `SampleLog`."""
    from transformers.trainer_callback import ProgressCallback

    from earthshader.training.grpo_trainer import RenderGRPOTrainer, vllm_generation_kwargs
    from earthshader.training.run_log import MetricsLog, QuietProgress, RewardTable, SampleLog
    from rewards import configure_shared_cache, for_trl, get_reward_funcs

    check_model_exists(model_args.model_name_or_path)  # a missing runs/... folder: at once, not after the network

    # Rewards, and the log that records every sample they score
    configure_shared_cache(workers=script_args.render_workers, timeout=script_args.render_timeout)
    reward_funcs = get_reward_funcs(script_args.reward_funcs, json.loads(script_args.reward_kwargs))
    training_args.reward_weights = reward_weights(script_args.reward_funcs, training_args.reward_weights)
    rank = int(getattr(training_args, "process_index", 0))
    sample_log = (sample_log_cls or SampleLog)(training_args.output_dir, [f.__name__ for f in reward_funcs],
                                               training_args.reward_weights, grid_every=script_args.grid_every,
                                               rank=rank)

    # Policy and targets
    model, processor, peft_config, merged = load_policy(model_args, backend)
    if training_args.use_vllm:
        training_args.generation_kwargs = vllm_generation_kwargs(training_args.generation_kwargs, processor.image_token)
    dataset = build_dataset(script_args)
    if script_args.select_hard_targets:  # keep what the starting model finds hard (docs/grpo.md)
        from earthshader.training.hard_targets import select_for_grpo

        dataset = select_for_grpo(model, processor, dataset, reward_funcs, script_args, training_args)
    if script_args.curriculum:
        training_args.shuffle_dataset = False
    logger.info("%d GRPO targets; rewards %s with weights %s", len(dataset), script_args.reward_funcs,
                training_args.reward_weights)

    trainer = RenderGRPOTrainer(model=model, reward_funcs=[sample_log.wrap(f) for f in for_trl(reward_funcs)],
                                args=training_args, train_dataset=dataset, processing_class=processor,
                                peft_config=peft_config, merged_policy=merged,
                                negative_advantage_scale=script_args.negative_advantage_scale)
    trainer.add_callback(MetricsLog(training_args.output_dir))
    trainer.add_callback(RewardTable(sample_log))
    if trainer.pop_callback(ProgressCallback) is not None and sys.stderr.isatty():
        trainer.add_callback(QuietProgress)
    return trainer, sample_log


def main(argv: list[str] | None = None) -> Path:
    argv = list(sys.argv[1:] if argv is None else argv)
    backend = modeling.select_backend(backend_from_argv(argv, "grpo", DEFAULT_RECIPE))  # Unsloth first

    # 1. Arguments
    script_args, training_args, model_args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    # 2. Rewards, model, data, logs
    trainer, sample_log = build_trainer(script_args, training_args, model_args, backend)

    # 3. Train; on resume, logs of steps after the checkpoint are dropped (the run redoes them)
    checkpoint = resume_checkpoint(training_args.output_dir, training_args.resume_from_checkpoint)
    main_process = trainer.accelerator.is_main_process
    if checkpoint is None:
        sample_log.start_fresh()  # each rank its own samples file
        if main_process:
            (Path(training_args.output_dir) / "metrics.jsonl").unlink(missing_ok=True)
        resume = None
    else:
        from earthshader.training.run_log import truncate_jsonl

        resume, step = checkpoint
        logger.info("resuming from step %d: dropped %d sample lines after it", step, sample_log.truncate_after(step))
        if main_process:
            truncate_jsonl(Path(training_args.output_dir) / "metrics.jsonl", step)
    trainer.train(resume_from_checkpoint=resume)

    # 4. Save the model (adapter, or merged weights), the processor and the image size
    info = {"image_size": script_args.image_size, "base_model": model_args.model_name_or_path, "backend": backend,
            "rewards": script_args.reward_funcs, "reward_weights": training_args.reward_weights}
    return save_trained(trainer, training_args.output_dir, info, merged=trainer.merged_policy)


if __name__ == "__main__":
    run_entry_point(main)
