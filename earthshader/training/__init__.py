"""Training: the stages as functions, and what they share.

    from earthshader.training import grpo_stage
    from earthshader.training.recipes import recipe_arguments
    model_dir = grpo_stage.run(*recipe_arguments("grpo", "tiny", max_steps=20, time_limit_minutes=5))

`sft_stage`, `grpo_stage` and `expert_stage` each have `run(script_args, training_args, model_args) -> Path`;
the entry points `earthshader.sft`, `earthshader.grpo` and `earthshader.expert` parse a command line and call
it. Shared: the arguments and recipes, the start-up (`startup`), the policy loader (`policy`), the trainer
callbacks, run logs, saving.
"""
