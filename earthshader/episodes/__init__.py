"""Look and fix: episodes in which the model sees the render of its program beside the target and answers again.

    observation.py     the one place that builds an observation (render, difference map, figures or diagnostics)
    runner.py          episodes for inference, evaluation and benchmarks (no TRL)
    pairs.py           correction rows for SFT: known programs broken as a model breaks them
    agent_template.py  the chat and response templates that make a fenced program TRL's tool call
    environment.py     the environment of TRL's `environment_factory`, and the GRPO trainer's options
    improvement.py     the episode's reward (last turn over turn 1) and its per-turn logs

docs/look-and-fix.md describes what an episode is, the commands, and the limits.
"""
