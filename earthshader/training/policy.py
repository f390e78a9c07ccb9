"""The one policy loader: the model a training stage starts from, with its LoRA, from TRL's `ModelConfig`.

    from earthshader.training.policy import load_policy
    policy = load_policy(model_args, backend)      # every model flag of the recipe: see below
    policy.model, policy.processor, policy.peft_config, policy.merged

SFT, GRPO and each round of expert iteration load their model here, so every flag means the same in each:
`model_name_or_path` (a Hub id, a model folder or an SFT adapter folder), `dtype`, `model_revision`,
`attn_implementation`, `load_in_4bit` (true: 4-bit weights, which need a GPU; false: 16-bit weights on a GPU
too), `use_peft` and the LoRA fields (`lora_r`, `lora_alpha`, `lora_dropout`, `lora_target_modules`,
`lora_modules_to_save`). An SFT adapter is merged into its base and a fresh LoRA goes on top on the CPU
(`merged`: the result is saved whole, since no file holds its base); on a GPU, where 4-bit weights cannot take
a merge, the adapter itself keeps training. The `ModelConfig` fields this loader cannot apply (8-bit weights,
DoRA, rsLoRA, LoRA on parameters, another 4-bit type) are refused when a recipe sets them, never ignored.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from earthshader import modeling
from earthshader.errors import UsageError

#: ModelConfig fields the loader does not apply, with the one value it accepts (TRL's default, or what it does).
NOT_APPLIED = {"load_in_8bit": False, "use_dora": False, "use_rslora": False, "lora_target_parameters": None,
               "bnb_4bit_quant_type": "nf4"}


class PolicyFlagError(UsageError, ValueError):
    """A recipe sets a model flag that the policy loader cannot apply."""


class Policy(NamedTuple):
    """A model ready for a trainer: `peft_config` is the LoRA for the trainer to attach (None when the model
    carries its trainable adapter already, or trains in full); `merged` says an SFT adapter was merged in."""

    model: Any
    processor: Any
    peft_config: Any
    merged: bool


def load_policy(model_args, backend: str) -> Policy:
    """The model to train and its LoRA (see the module docstring for what each flag does)."""
    refused = [f"--{name} {getattr(model_args, name)!r}" for name, value in NOT_APPLIED.items()
               if getattr(model_args, name, value) != value]
    if refused:
        raise PolicyFlagError(f"{', '.join(refused)}: not supported by EarthShader's model loader "
                              f"(it supports {', '.join(f'{n}={v!r}' for n, v in NOT_APPLIED.items())})")
    model, processor = modeling.load_model(model_args.model_name_or_path, backend, dtype=model_args.dtype or "auto",
                                           revision=model_args.model_revision,
                                           attn_implementation=model_args.attn_implementation,
                                           load_in_4bit=model_args.load_in_4bit)
    lora = modeling.lora_config(model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout,
                                model_args.lora_target_modules, model_args.lora_modules_to_save)
    if hasattr(model, "peft_config"):  # an SFT adapter
        if backend == "cpu":
            return Policy(model.merge_and_unload(), processor, lora, True)
        for name, parameter in model.named_parameters():  # 4-bit: keep training the adapter itself
            parameter.requires_grad_("lora_" in name)
        return Policy(model, processor, None, False)
    if not model_args.use_peft:
        return Policy(model, processor, None, False)
    model, peft_config = modeling.add_lora(model, backend, lora)  # Unsloth attaches its own; TRL the others
    return Policy(model, processor, peft_config, False)
