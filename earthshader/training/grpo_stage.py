"""Reinforcement from render as a function: TRL's GRPO samples shaders for target images and rewards what they render.

    from earthshader.training import grpo_stage
    from earthshader.training.recipes import recipe_arguments
    args = recipe_arguments("grpo", "tiny", output_dir="runs/grpo-mine", time_limit_minutes=5)
    model_dir = grpo_stage.run(*args)         # what `python -m earthshader.grpo --recipe tiny ...` runs

`run` builds the rewards, the policy (`earthshader.training.policy`), the targets and the logs, trains, and
saves the adapter (or the merged model), the processor and `earthshader.json` to `output_dir`. Each logging
step prints a reward table; the run directory keeps `samples.jsonl`, `metrics.jsonl` and PNG grids
(`python -m earthshader.logs RUN_DIR` reads them). `time_limit_minutes` stops it before a step that would end
past the limit. With `max_turns` > 1 every rollout is a look-and-fix episode (`earthshader.episodes.environment`:
the model sees its render and answers again; the rewards score the last answer; docs/look-and-fix.md); with
`second_turn_samples` it trains the correction turn alone (`earthshader.episodes.second_turn`).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from earthshader.training.arguments import GRPOScriptArguments, reward_weights
from earthshader.training.policy import load_policy
from earthshader.training.recipes import check_model_exists
from earthshader.training.saving import save_trained
from earthshader.training.startup import begin

logger = logging.getLogger("earthshader.grpo")


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


def build_trainer(script_args: GRPOScriptArguments, training_args, model_args, backend: str, sample_log_cls=None):
    """The GRPO trainer with rewards, logging callbacks and data, plus the run's `SampleLog`."""
    from transformers.trainer_callback import ProgressCallback

    from earthshader.training.callbacks import MetricsLog, QuietProgress, RewardTable
    from earthshader.training.grpo_trainer import RenderGRPOTrainer, vllm_generation_kwargs
    from earthshader.training.run_log import SampleLog
    from rewards import configure_shared_cache, for_trl, get_reward_funcs

    check_model_exists(model_args.model_name_or_path)  # a missing runs/... folder: at once, not after the network

    # Rewards, and the log that records every sample they score
    configure_shared_cache(workers=script_args.render_workers, timeout=script_args.render_timeout)
    reward_funcs = get_reward_funcs(script_args.reward_funcs, json.loads(script_args.reward_kwargs))
    training_args.reward_weights = reward_weights(script_args.reward_funcs, training_args.reward_weights)
    if script_args.max_turns > 1:  # look and fix: the rewards score the last turn; `improvement` compares it to turn 1
        from earthshader.episodes.improvement import FirstTurnReward, ImprovementReward

        reward_funcs.append(ImprovementReward())
        training_args.reward_weights = [*training_args.reward_weights, script_args.improvement_weight]
        if script_args.first_turn_weight > 0:
            reward_funcs.append(FirstTurnReward())
            training_args.reward_weights = [*training_args.reward_weights, script_args.first_turn_weight]
    rank = int(getattr(training_args, "process_index", 0))
    sample_log = (sample_log_cls or SampleLog)(training_args.output_dir, [f.__name__ for f in reward_funcs],
                                               training_args.reward_weights, grid_every=script_args.grid_every,
                                               rank=rank)

    # Policy and targets
    model, processor, peft_config, merged = load_policy(model_args, backend)
    episodes = {}
    if script_args.max_turns > 1:  # episodes through TRL's environment_factory (docs/look-and-fix.md)
        from earthshader.episodes.environment import episode_options
        from earthshader.modeling import prompts

        episodes = episode_options(processor, training_args, max_turns=script_args.max_turns, observation_size=(
            prompts.observation_image_size(script_args.image_size, script_args.observation_image_size)))
    if training_args.use_vllm:
        training_args.generation_kwargs = vllm_generation_kwargs(training_args.generation_kwargs, processor.image_token)
    dataset = build_dataset(script_args)
    if script_args.select_hard_targets:  # keep what the starting model finds hard (docs/grpo.md)
        from earthshader.training.hard_targets import select_for_grpo

        dataset = select_for_grpo(model, processor, dataset, reward_funcs, script_args, training_args)
    if script_args.second_turn_samples:  # the correction turn alone, after the starting model's own answers
        from earthshader.episodes.second_turn import second_turn_dataset

        dataset = second_turn_dataset(
            model, processor, dataset, samples=script_args.second_turn_samples, image_size=script_args.image_size,
            observation_size=script_args.observation_image_size, max_new_tokens=training_args.max_completion_length,
            temperature=training_args.temperature, seed=training_args.seed, workers=script_args.render_workers)
    if script_args.curriculum:
        training_args.shuffle_dataset = False
    logger.info("%d GRPO targets; rewards %s with weights %s", len(dataset), script_args.reward_funcs,
                training_args.reward_weights)

    trainer = RenderGRPOTrainer(model=model, reward_funcs=[sample_log.wrap(f) for f in for_trl(reward_funcs)],
                                args=training_args, train_dataset=dataset, processing_class=processor,
                                peft_config=peft_config, merged_policy=merged,
                                negative_advantage_scale=script_args.negative_advantage_scale, **episodes)
    trainer.add_callback(MetricsLog(training_args.output_dir))
    trainer.add_callback(RewardTable(sample_log))
    if trainer.pop_callback(ProgressCallback) is not None and sys.stderr.isatty():
        trainer.add_callback(QuietProgress)
    return trainer, sample_log


def run(script_args: GRPOScriptArguments, training_args, model_args) -> Path:
    """Train as the arguments say and save; returns `output_dir` (see the module docstring)."""
    from earthshader.training.callbacks import TimeLimit

    start = begin(script_args, training_args)  # the backend, logging, the checkpoint to resume from

    # 1. Rewards, model, data, logs
    trainer, sample_log = build_trainer(script_args, training_args, model_args, start.backend)
    trainer.add_callback(TimeLimit(script_args.time_limit_minutes))

    # 2. Train; on resume, logs of steps after the checkpoint are dropped (the run redoes them)
    checkpoint = start.checkpoint
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

    # 3. Save the model (adapter, or merged weights), the processor (its stock templates) and the image size
    if script_args.max_turns > 1:
        from earthshader.episodes.agent_template import drop_agent_templates

        drop_agent_templates(trainer.processing_class)
    info = {"image_size": script_args.image_size, "base_model": model_args.model_name_or_path, "backend": start.backend,
            "rewards": script_args.reward_funcs, "reward_weights": training_args.reward_weights,
            "max_turns": script_args.max_turns, "second_turn_samples": script_args.second_turn_samples}
    return save_trained(trainer, training_args.output_dir, info, merged=trainer.merged_policy)
