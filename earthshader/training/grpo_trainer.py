"""`RenderGRPOTrainer`: TRL's GRPOTrainer with three additions for render rewards.

- It logs how long generation plus scoring took (`time/generate_and_score_s`; the rest of a step is
  optimisation).
- It scales negative advantages by `negative_advantage_scale` (1 = plain GRPO; `scale_negative_advantages`).
- It hands colocated vLLM prompts in the form vLLM expands itself (`unexpanded_for_vllm`).

Importing this module imports trl: entry points import it after `select_backend` (Unsloth first).

    trainer = RenderGRPOTrainer(model=model, reward_funcs=funcs, args=grpo_config, train_dataset=dataset,
                                processing_class=processor, negative_advantage_scale=0.5)
"""

from __future__ import annotations

import time

from trl import GRPOTrainer


class RenderGRPOTrainer(GRPOTrainer):
    """GRPOTrainer plus timing, negative-advantage scaling and the colocated-vLLM prompt fix.

    `merged_policy` records that the policy was an SFT adapter merged into its base on a CPU: such a run
    must be saved merged, since no file holds its base (see `earthshader.training.saving.save_trained`).
    """

    def __init__(self, *args, negative_advantage_scale: float = 1.0, merged_policy: bool = False, **kwargs):
        if not 0.0 <= negative_advantage_scale <= 1.0:
            raise ValueError(f"negative_advantage_scale must be in [0, 1], got {negative_advantage_scale}")
        super().__init__(*args, **kwargs)
        self.negative_advantage_scale = negative_advantage_scale
        self.merged_policy = merged_policy
        if self.use_vllm and self.vllm_mode == "colocate":
            self.vllm_generation.generate = unexpanded_for_vllm(self.vllm_generation.generate,
                                                                self.processing_class.image_token_id)

    def _generate_and_score_completions(self, inputs):
        start = time.perf_counter()
        output = super()._generate_and_score_completions(inputs)
        output["advantages"] = scale_negative_advantages(output["advantages"], self.negative_advantage_scale)
        self._metrics["train"]["time/generate_and_score_s"].append(time.perf_counter() - start)
        return output


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
