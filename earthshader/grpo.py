"""Reinforcement from render: TRL's GRPO samples shaders for target images and rewards what they render.

    python -m earthshader.grpo --recipe textures                 # Qwen2-VL-7B (4-bit) on procedural textures
    python -m earthshader.grpo --recipe terrains                 # raymarched SDF terrains
    python -m earthshader.grpo --recipe tiny                     # the CPU demo (starts from runs/sft-tiny)
    python -m earthshader.grpo --recipe tiny --num_generations 4 --learning_rate 1e-4 --max_steps 20
    python -m earthshader.grpo --recipe tiny --resume_from_checkpoint true   # after a crash or kill -9

A recipe (a name in `recipes/grpo/` or a path) gives defaults to three sets of arguments:
`GRPOScriptArguments` below, TRL's `GRPOConfig` (group size `num_generations`, `beta`, `loss_type`,
`temperature`, `max_completion_length`, `learning_rate`, `reward_weights`, ...) and TRL's `ModelConfig`
(model and LoRA). Flags override it; unknown keys are an error. Rewards are names of built-ins, dotted
import paths or installed plugins (see `rewards.get_reward_funcs`). Each logging step prints a reward
table; the run directory keeps `samples.jsonl`, `metrics.jsonl` and PNG grids
(`python -m earthshader.logs RUN_DIR` reads them).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from earthshader import models

logger = logging.getLogger("earthshader.grpo")


@dataclass
class GRPOScriptArguments:
    """Our arguments, next to TRL's GRPOConfig (training) and ModelConfig (model and LoRA)."""

    backend: str = field(default="auto", metadata={"help": "auto, unsloth, bnb or cpu (see earthshader.models)"})
    image_size: int = field(default=224, metadata={"help": "square side of targets and renders (multiple of 28)"})
    reward_funcs: list[str] = field(default_factory=lambda: ["format", "compiles", "ssim", "edges"],
                                    metadata={"help": "reward names, dotted paths or plugin names"})
    reward_kwargs: str = field(default="{}", metadata={"help": 'JSON options per reward, e.g. {"length": {"budget": 400}}'})
    dataset_path: str | None = field(default=None, metadata={"help": "a dataset saved by the data factory"})
    dataset_split: str = field(default="train", metadata={"help": "split of dataset_path"})
    generators: list[str] = field(default_factory=list, metadata={"help": "generator groups/families for targets"})
    generated_prompts: int = field(default=0, metadata={"help": "how many generated targets (before filtering)"})
    generator_difficulty: int | None = field(default=None, metadata={"help": "one difficulty level, or all"})
    generator_seed: int = field(default=500_000, metadata={"help": "first seed (away from SFT's and eval's)"})
    curriculum: bool = field(default=False, metadata={"help": "order targets by rising difficulty (no shuffling)"})
    render_timeout: float = field(default=5.0, metadata={"help": "seconds one completion may take to render"})
    render_workers: int | None = field(default=None, metadata={"help": "render processes (default: all cores)"})
    grid_every: int = field(default=10, metadata={"help": "save a PNG grid of renders every N steps (0: never)"})
    negative_advantage_scale: float = field(
        default=1.0, metadata={"help": "multiply negative advantages by this (1: plain GRPO; 0: learn only from "
                                       "better-than-average samples); docs/grpo.md"})


def parse(argv: list[str]):
    """(script_args, training_args, model_args) from `--recipe` YAML plus command-line flags."""
    from trl import GRPOConfig, ModelConfig

    from earthshader.recipes import parse_recipe_args

    return parse_recipe_args(argv, "grpo", "textures", (GRPOScriptArguments, GRPOConfig, ModelConfig))


def build_dataset(args: GRPOScriptArguments):
    """Prompts with target images: from a factory dataset or rendered from the generators."""
    import datasets

    from earthshader import prompts, sft_data

    if args.dataset_path:
        rows = sft_data.load_factory_dataset(args.dataset_path, args.dataset_split)
    else:
        programs = sft_data.generated_programs(args.generators, args.generated_prompts, args.generator_seed,
                                               args.generator_difficulty)
        rows = sft_data.render_targets(programs, args.image_size, workers=args.render_workers)
    if not rows:
        raise ValueError("no GRPO targets: set dataset_path, or generators + generated_prompts")
    examples = [{"prompt": prompts.make_prompt(), "image": prompts.prepare_image(row["image"], args.image_size),
                 "id": row["id"], "code": row["code"], "source": row["source"],
                 "difficulty": int(row.get("difficulty", _difficulty(row)))} for row in rows]
    if args.curriculum:
        examples.sort(key=lambda row: row["difficulty"])  # stable: seed order inside a level
    return datasets.Dataset.from_list(examples)


def _difficulty(row: dict) -> int:
    from earthshader.data.generators import generate

    group, _, seed = row["id"].rpartition("-")
    try:
        return generate(group, int(seed)).difficulty
    except (ValueError, KeyError):
        return 0


def load_policy(model_args, backend: str):
    """`(model, processor, lora_config, merged)`: the model to train and its LoRA config.

    From an SFT adapter on the CPU, the adapter is merged and a fresh LoRA goes on top (`merged`
    True: the result must then be saved merged, since no file holds its base). On a GPU (4-bit
    weights cannot take a merge) the SFT adapter itself is trained on; lora_config is then None.
    """
    model, processor = models.load_model(model_args.model_name_or_path, backend, dtype=model_args.dtype or "auto",
                                         revision=model_args.model_revision,
                                         attn_implementation=model_args.attn_implementation)
    if hasattr(model, "peft_config"):  # an SFT adapter
        if backend == "cpu":
            return model.merge_and_unload(), processor, _lora(model_args), True
        for name, parameter in model.named_parameters():  # 4-bit: keep training the adapter itself
            parameter.requires_grad_("lora_" in name)
        return model, processor, None, False
    return model, processor, _lora(model_args) if model_args.use_peft else None, False


def _lora(model_args):
    return models.lora_config(model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout,
                              model_args.lora_target_modules, model_args.lora_modules_to_save)


def build_trainer(script_args, training_args, model_args, backend: str, sample_log_cls=None):
    """The GRPO trainer with rewards, logging callbacks and data, plus the run's `SampleLog`."""
    from trl import GRPOTrainer

    from transformers.trainer_callback import ProgressCallback

    from earthshader.run_log import MetricsLog, QuietProgress, RewardTable, SampleLog
    from rewards import configure_shared_cache, for_trl, get_reward_funcs

    if not 0.0 <= script_args.negative_advantage_scale <= 1.0:
        raise ValueError(f"negative_advantage_scale must be in [0, 1], got {script_args.negative_advantage_scale}")

    class TimedGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that also logs how long generation plus scoring took (the rest is optimisation),
        scales negative advantages by `negative_advantage_scale`, and hands colocated vLLM prompts in the
        form it expands itself (`unexpanded_for_vllm`)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.use_vllm and self.vllm_mode == "colocate":
                self.vllm_generation.generate = unexpanded_for_vllm(self.vllm_generation.generate,
                                                                    self.processing_class.image_token_id)

        def _generate_and_score_completions(self, inputs):
            start = time.perf_counter()
            output = super()._generate_and_score_completions(inputs)
            output["advantages"] = scale_negative_advantages(output["advantages"], script_args.negative_advantage_scale)
            self._metrics["train"]["time/generate_and_score_s"].append(time.perf_counter() - start)
            return output

    configure_shared_cache(workers=script_args.render_workers, timeout=script_args.render_timeout)
    reward_funcs = get_reward_funcs(script_args.reward_funcs, json.loads(script_args.reward_kwargs))
    weights = training_args.reward_weights or [1.0] * len(reward_funcs)
    rank = int(getattr(training_args, "process_index", 0))
    sample_log = (sample_log_cls or SampleLog)(training_args.output_dir, [f.__name__ for f in reward_funcs],
                                               weights, grid_every=script_args.grid_every, rank=rank)
    model, processor, peft_config, merged = load_policy(model_args, backend)
    if training_args.use_vllm:
        training_args.generation_kwargs = vllm_generation_kwargs(training_args.generation_kwargs, processor.image_token)
    dataset = build_dataset(script_args)
    if script_args.curriculum:
        training_args.shuffle_dataset = False
    logger.info("%d GRPO targets; rewards %s with weights %s", len(dataset), script_args.reward_funcs, weights)
    trainer = TimedGRPOTrainer(model=model, reward_funcs=[sample_log.wrap(f) for f in for_trl(reward_funcs)],
                               args=training_args, train_dataset=dataset, processing_class=processor,
                               peft_config=peft_config)
    trainer.save_merged = merged  # see main(): then the merged weights are saved
    trainer.add_callback(MetricsLog(training_args.output_dir))
    trainer.add_callback(RewardTable(sample_log))
    if trainer.pop_callback(ProgressCallback) is not None and sys.stderr.isatty():
        trainer.add_callback(QuietProgress)
    return trainer, sample_log


def collapse_image_runs(ids: list[int], image_token_id: int) -> list[int]:
    """`ids` with every run of image tokens cut to one token: one placeholder per image.

    >>> collapse_image_runs([1, 3, 5, 5, 5, 4, 7, 3, 5, 5, 4], image_token_id=5)
    [1, 3, 5, 4, 7, 3, 5, 4]
    """
    return [token for i, token in enumerate(ids) if token != image_token_id or i == 0 or ids[i - 1] != token]


def unexpanded_for_vllm(generate, image_token_id: int):
    """Wrap TRL's colocated `VLLMGeneration.generate` so that vLLM gets one image token per image.

    TRL 1.16 hands vLLM the processor's prompt ids, each image already expanded to its run of image
    tokens, and vLLM expands the first token of each run again: it samples from a corrupted prompt while
    the trainer scores the samples under the right one (huggingface/trl#6294). TRL keeps its own prompt
    ids for training, so only the ids given to vLLM change.
    """

    def generate_unexpanded(prompts, *args, **kwargs):
        return generate([collapse_image_runs(ids, image_token_id) for ids in prompts], *args, **kwargs)

    return generate_unexpanded


def vllm_generation_kwargs(generation_kwargs: dict | None, image_token: str) -> dict:
    """vLLM sampling options that forbid sampling the image token (`bad_words`), plus the user's own.

    TRL suppresses it in transformers' `generate`, not in vLLM: one sampled image token leaves the training
    forward with more image tokens than image features, and the run stops.

    >>> vllm_generation_kwargs({"top_k": 50}, "<|image_pad|>")
    {'top_k': 50, 'bad_words': ['<|image_pad|>']}
    """
    kwargs = dict(generation_kwargs or {})
    kwargs["bad_words"] = [*kwargs.get("bad_words", []), image_token]
    return kwargs


def scale_negative_advantages(advantages, scale: float):
    """Advantages with the negative ones multiplied by `scale` (the positive ones unchanged).

    A negative advantage pushes a sampled token down, and its probability goes to every other token,
    invalid ones included; below 1 the update leans on the better samples of each group.

    >>> import torch
    >>> scale_negative_advantages(torch.tensor([1.5, -0.5, -1.0]), 0.5)
    tensor([ 1.5000, -0.2500, -0.5000])
    """
    if scale == 1.0:
        return advantages
    return advantages.where(advantages >= 0, advantages * scale)


def resume_checkpoint(output_dir: str, resume) -> tuple[str, int] | None:
    """(checkpoint folder, global step) a resumed run restarts from, or None for a fresh run.

    `resume` true picks the newest complete checkpoint: one whose `trainer_state.json` (the Trainer writes
    it last) exists, so a run killed while saving resumes from the checkpoint before.
    """
    if resume in (None, False, "false", "False", ""):
        return None
    if resume in (True, "true", "True"):
        complete = [c for c in Path(output_dir).glob("checkpoint-*")
                    if c.name.split("-")[-1].isdigit() and (c / "trainer_state.json").is_file()]
        if not complete:
            return None
        checkpoint = max(complete, key=lambda c: int(c.name.split("-")[-1]))
    else:
        checkpoint = Path(resume)
    return str(checkpoint), json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]


def main(argv: list[str] | None = None) -> Path:
    argv = list(sys.argv[1:] if argv is None else argv)
    backend = models.select_backend(models.backend_from_argv(argv, "grpo", "textures"))  # Unsloth first

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
        from earthshader.run_log import truncate_jsonl

        resume, step = checkpoint
        logger.info("resuming from step %d: dropped %d sample lines after it", step, sample_log.truncate_after(step))
        if main_process:
            truncate_jsonl(Path(training_args.output_dir) / "metrics.jsonl", step)
    trainer.train(resume_from_checkpoint=resume)

    # 4. Save the model (adapter, or merged weights), the processor and the image size
    info = {"image_size": script_args.image_size, "base_model": model_args.model_name_or_path, "backend": backend,
            "rewards": script_args.reward_funcs, "reward_weights": training_args.reward_weights}
    return models.save_trained(trainer, training_args.output_dir, info, merged=trainer.save_merged)


if __name__ == "__main__":
    models.run_entry_point(main)
