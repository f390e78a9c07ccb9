"""Loading Qwen2-VL / Qwen2.5-VL (a Hub id, a local directory, or a saved LoRA adapter) for training and inference.

    from earthshader.modeling import load_model, select_backend
    from earthshader.training.recipes import backend_from_argv
    backend = select_backend(backend_from_argv(sys.argv))   # imports unsloth if chosen, before trl
    model, processor = load_model("Qwen/Qwen2-VL-7B-Instruct", backend)

Weights that cannot be found raise `ModelNotFoundError`, naming the model and what to do; entry points
wrap `main` in `earthshader.cli.run_entry_point` so that this is one line, not a traceback. This module imports no
transformers, peft or unsloth at import time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from earthshader.errors import UsageError
from earthshader.modeling.backends import choose_backend
from earthshader.modeling.processor import processor_class

#: Architectures this project trains (config `model_type`).
SUPPORTED_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")

TINY_HINT = "for an offline run build the tiny model: `python -m earthshader.tiny --out runs/tiny-qwen2-vl`"


class ModelNotFoundError(UsageError, RuntimeError):
    """The model's weights could not be found locally or on the Hugging Face Hub."""


class ModelSetupError(UsageError, RuntimeError, ValueError):
    """A model that is there but cannot be used as asked: another architecture, 4-bit weights on a CPU, a dtype."""


def load_processor(name_or_path: str, model_type: str | None = None, **kwargs):
    """The processor (tokenizer + image processor + chat template) of a model, left padding for generation.

    Built explicitly from the architecture's class: `AutoProcessor` returns a bare tokenizer for a
    processor class it does not know.
    """
    model_type = model_type or model_type_of(resolve_config(name_or_path, **kwargs), name_or_path)
    processor = processor_class(model_type).from_pretrained(name_or_path, **kwargs)
    processor.tokenizer.padding_side = "left"
    return processor


def resolve_config(name_or_path: str, revision: str | None = None, local_files_only: bool = False, **_):
    """The model's config, or a `ModelNotFoundError` that says what to do."""
    from transformers import AutoConfig

    path = Path(os.path.expanduser(str(name_or_path)))
    looks_local = path.exists() or str(name_or_path).startswith((".", "/", "~")) or str(name_or_path).count("/") > 1
    if looks_local and not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "has no config.json (not a saved model)"
        raise ModelNotFoundError(
            f"model {name_or_path!r}: local directory {what}. Pass a directory written by save_pretrained, a Hub "
            f"id such as Qwen/Qwen2-VL-7B-Instruct, or {TINY_HINT}"
        )
    try:
        return AutoConfig.from_pretrained(str(name_or_path), revision=revision, local_files_only=local_files_only)
    except OSError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelNotFoundError(
            f"model {name_or_path!r} could not be loaded: it is not a local directory and the Hugging Face Hub "
            f"did not provide it ({first_line}). If you are offline, download it where there is internet "
            f"(`hf download {name_or_path}`) and copy the cache (HF_HOME) or the folder here, then pass "
            f"--model_name_or_path with that folder; check the id's spelling; or {TINY_HINT}"
        ) from err


def model_type_of(config, name_or_path: str) -> str:
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelSetupError(
            f"model {name_or_path!r} is a {config.model_type!r} model; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    return config.model_type


def adapter_base(path: str) -> str | None:
    """The base model named by a LoRA adapter directory (`adapter_config.json`), or None if not an adapter."""
    config = Path(path) / "adapter_config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text())["base_model_name_or_path"]


def load_model(
    name_or_path: str,
    backend: str = "auto",
    *,
    dtype: str = "auto",
    revision: str | None = None,
    attn_implementation: str | None = None,
    local_files_only: bool = False,
    load_in_4bit: bool | None = None,
    max_seq_length: int = 4096,
):
    """Load `(model, processor)` from a Hub id, a local model directory, or a LoRA adapter directory.

    An adapter directory (one with `adapter_config.json`, as `earthshader.sft` saves) loads its base model
    and then the adapter, with the processor saved beside the adapter. `dtype="auto"` means float32 on the
    CPU and bfloat16 on a GPU. The GPU backends load 4-bit weights unless `load_in_4bit` is False (then weights
    of `dtype`); `load_in_4bit=True` with the `cpu` backend is refused (after the weights are found), since a
    7B model in float32 needs about 30 GB.
    """
    backend = choose_backend(backend)
    base = adapter_base(name_or_path)
    model_path = base if base is not None else name_or_path
    model_type = model_type_of(
        resolve_config(model_path, revision=revision, local_files_only=local_files_only), model_path
    )
    if load_in_4bit and backend == "cpu":
        raise ModelSetupError(
            f"model {model_path!r}: load_in_4bit needs a CUDA GPU (backends unsloth or bnb) and this machine has "
            "none; on a CPU use the tiny model (--recipe tiny) or set --load_in_4bit false"
        )

    if backend == "unsloth":
        from unsloth import FastVisionModel

        extra = {"revision": revision} if revision else {}
        model, processor = FastVisionModel.from_pretrained(
            model_path, load_in_4bit=load_in_4bit is not False, max_seq_length=max_seq_length, **extra
        )
    else:
        import torch
        from transformers import AutoModelForImageTextToText

        torch_dtype = _torch_dtype(dtype, backend)
        kwargs = {"revision": revision, "dtype": torch_dtype, "local_files_only": local_files_only}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        if backend == "bnb" and load_in_4bit is not False:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch_dtype if torch_dtype != torch.float32 else torch.bfloat16,
            )
        if backend == "bnb":
            kwargs["device_map"] = {"": torch.cuda.current_device()}
        model = AutoModelForImageTextToText.from_pretrained(model_path, **kwargs)
        processor = load_processor(
            model_path, model_type, revision=revision, local_files_only=local_files_only
        )

    if base is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, name_or_path)
        if (Path(name_or_path) / "tokenizer_config.json").is_file():  # the processor saved beside the adapter
            processor = load_processor(name_or_path, model_type)
    processor.tokenizer.padding_side = "left"
    return model, processor


def load_model_and_adapter(name_or_path: str, adapter: str | None = None, backend: str = "auto", **kwargs):
    """`(model, processor)` as every tool's `--model` / `--adapter` mean: `--model` (a Hub id, a model folder
    or an adapter folder, loaded by `load_model`), then, with `adapter`, that LoRA adapter on top of it (and
    the processor saved beside the adapter, if any). The model is put in eval mode.
    """
    model, processor = load_model(name_or_path, backend, **kwargs)
    if adapter:
        if adapter_base(adapter) is None:
            raise ModelNotFoundError(f"--adapter {adapter!r} has no adapter_config.json (not a LoRA adapter)")
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        if any((Path(adapter) / name).is_file() for name in ("preprocessor_config.json", "processor_config.json")):
            processor = load_processor(adapter, model.config.model_type)
            processor.tokenizer.padding_side = "left"
    model.eval()
    return model, processor


def _torch_dtype(dtype: str, backend: str):
    import torch

    if dtype in (None, "auto"):
        return torch.float32 if backend == "cpu" else torch.bfloat16
    valid = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in valid:
        raise ModelSetupError(f"unknown dtype {dtype!r}; valid: auto, {', '.join(valid)}")
    return valid[dtype]
