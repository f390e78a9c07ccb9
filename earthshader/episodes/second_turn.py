"""GRPO on the correction turn alone: every prompt ends with one of the starting model's own answers and its
observation, so a group is G corrections of one first answer.

    from earthshader.episodes.second_turn import second_turn_dataset
    prompts = second_turn_dataset(model, processor, dataset, samples=2, image_size=84, max_new_tokens=192)

    python -m earthshader.grpo --recipe look-and-fix-tiny --max_turns 1 --second_turn_samples 2 \\
        --max_completion_length 192

Over whole episodes (`max_turns` 2) every token of an episode gets the episode's advantage: a better first
answer earns as much as a better correction, and GRPO puts its gain in the first answer
(docs/experiments/2026-12-07-look-and-fix-first-turn.md). Here the first answers are drawn once, before
training: the starting model answers each target `samples` times (at GRPO's temperature, through the episode
runner, so rendered and observed exactly as in an episode), and each answer becomes a prompt of its own, built
as the cold start's correction rows are (`pairs.correction_prompt`: target and instruction, the answer, its
observation; images target, render, difference map). GRPO then samples and trains only the correction: within a
group the first answer is the same, so a correction's advantage is its reward against the other corrections of
that answer. The rows keep the target's columns (`image`, `id` with the answer's number, `source`, `code`,
`frames` and `times`), so the rewards, the sample log and the grids read them as they read a single answer's.
"""

from __future__ import annotations

import logging
import time

import numpy as np

logger = logging.getLogger("earthshader.grpo")


def second_turn_dataset(model, processor, dataset, *, samples: int, image_size: int,
                        observation_size: int | None = None, max_new_tokens: int = 512, temperature: float = 1.0,
                        seed: int = 0, workers: int | None = None, sampler=None):
    """A `datasets.Dataset` of `samples` correction prompts for each row of `dataset` (GRPO's: `prompt`, `image`
    and the target's other columns), target-major; see the module docstring. The caller's torch RNG state is
    kept; `sampler` stands in for the generation (`runner.run_episodes`)."""
    import datasets
    import torch

    from earthshader.episodes.pairs import correction_prompt
    from earthshader.episodes.runner import EpisodeSettings, run_episodes
    from earthshader.render import RenderPool

    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    began = time.perf_counter()
    rows = list(dataset)
    settings = EpisodeSettings(max_turns=1, samples=samples, temperature=temperature, image_size=image_size,
                               observation_size=observation_size, max_new_tokens=max_new_tokens)
    times = [float(row["times"][0]) if row.get("times") else 0.0 for row in rows]
    with torch.random.fork_rng(devices=[]), RenderPool(workers=workers) as pool:
        torch.manual_seed(seed)
        episodes = run_episodes(model, processor, [row["image"] for row in rows], settings, pool=pool, times=times,
                                sampler=sampler)
    examples = []
    for i, episode in enumerate(episodes):
        row, first = rows[i // samples], episode.turns[0]
        prompt = correction_prompt(row["image"], first.answer, first.observation, image_size=image_size)
        examples.append({**row, **prompt, "id": f"{row['id']}#{i % samples}"})
    rendered = np.mean([episode.turns[0].rendered for episode in episodes]) if episodes else float("nan")
    logger.info("second turn: %d prompts from %d targets x %d first answers (%.0f%% rendered) in %.0f s",
                len(examples), len(rows), samples, 100 * rendered, time.perf_counter() - began)
    return datasets.Dataset.from_list(examples)
