"""The model side: backends, loading, the processor, LoRA, the tiny model, the prompt, sampling.

    >>> from earthshader.modeling import prompts
    >>> prompts.image_tokens(224)
    64

Nothing here imports transformers, peft or unsloth at import time (Unsloth must be imported before
them; see `earthshader.modeling.backends`).
"""

from earthshader.modeling.backends import BACKENDS, choose_backend, cuda_available, select_backend
from earthshader.modeling.loading import (
    SUPPORTED_MODEL_TYPES,
    ModelNotFoundError,
    adapter_base,
    load_model,
    load_model_and_adapter,
    load_processor,
    resolve_config,
)
from earthshader.modeling.lora import LANGUAGE_LORA_TARGETS, add_lora, lora_config
from earthshader.modeling.run_info import RUN_INFO, model_image_size, read_run_info, write_run_info

__all__ = [
    "BACKENDS", "LANGUAGE_LORA_TARGETS", "RUN_INFO", "SUPPORTED_MODEL_TYPES", "ModelNotFoundError", "adapter_base",
    "add_lora", "choose_backend", "cuda_available", "load_model", "load_model_and_adapter", "load_processor",
    "lora_config", "model_image_size", "read_run_info",
    "resolve_config", "select_backend", "write_run_info",
]
