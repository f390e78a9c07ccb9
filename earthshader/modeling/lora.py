"""LoRA on the language model: the config TRL attaches, or Unsloth's own adapter on its backend."""

from __future__ import annotations

#: LoRA on the language model's attention and MLP projections only. The regex keeps the vision tower out
#: (Qwen2.5-VL's vision MLP also has `gate_proj` / `up_proj` / `down_proj`).
LANGUAGE_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def lora_config(r: int = 16, alpha: int = 32, dropout: float = 0.05, target_modules=None, modules_to_save=None):
    """A peft `LoraConfig` for the language model (the vision tower stays frozen unless you target it).

    `target_modules` may be a list of names, a regex, or "all-linear"; `modules_to_save` lists modules
    trained in full beside the adapter (the tiny model's random `embed_tokens` and `lm_head`, say).
    """
    from peft import LoraConfig

    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules or LANGUAGE_LORA_TARGETS,
        modules_to_save=modules_to_save,
        bias="none",
        task_type="CAUSAL_LM",
    )


def add_lora(model, backend: str, config):
    """Attach LoRA: `(model, peft_config)` where `peft_config` goes to the TRL trainer (None if attached here).

    Unsloth attaches its own (faster) LoRA; the other backends let TRL attach `config`, which also casts
    the adapter to bfloat16 under 4-bit as the QLoRA paper recommends.
    """
    if backend != "unsloth":
        return model, config
    from unsloth import FastVisionModel

    model = FastVisionModel.get_peft_model(
        model,
        finetune_vision_layers=False,
        finetune_language_layers=True,
        finetune_attention_modules=True,
        finetune_mlp_modules=True,
        r=config.r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        bias="none",
    )
    return model, None
