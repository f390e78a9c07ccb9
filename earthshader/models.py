"""Loading Qwen2-VL / Qwen2.5-VL (a Hub id, a local directory, or a saved LoRA adapter) for training and inference.

Three backends, picked by `choose_backend("auto")` or forced by name:

| backend   | when                                   | what                                                    |
| --------- | -------------------------------------- | ------------------------------------------------------- |
| `unsloth` | CUDA and the `unsloth` package         | Unsloth's `FastVisionModel` in 4-bit (QLoRA)            |
| `bnb`     | CUDA and `bitsandbytes`                | transformers + bitsandbytes 4-bit NF4 (QLoRA)           |
| `cpu`     | otherwise                              | full precision (float32) weights, LoRA on top           |

Unsloth patches trl, transformers and peft when it is imported, so it must be imported first. An entry
point therefore decides the backend before it imports any of them:

    >>> from earthshader import models
    >>> backend = models.select_backend(models.backend_from_argv(sys.argv))   # imports unsloth if chosen
    >>> from trl import SFTTrainer                                             # only now
    >>> model, processor = models.load_model("Qwen/Qwen2-VL-7B-Instruct", backend)
    >>> model, peft_config = models.add_lora(model, backend, models.lora_config(r=16, alpha=32))

Weights that cannot be found raise `ModelNotFoundError`, naming the model and what to do. The processor is
built without a video processor (which needs torchvision, absent from the CPU set-up).
This module imports no transformers, peft or unsloth at import time.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

BACKENDS = ("auto", "unsloth", "bnb", "cpu")

#: Architectures this project trains (config `model_type`).
SUPPORTED_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")

#: LoRA on the language model's attention and MLP projections only. The regex keeps the vision tower out
#: (Qwen2.5-VL's vision MLP also has `gate_proj` / `up_proj` / `down_proj`).
LANGUAGE_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"

TINY_HINT = "for an offline run build the tiny model: `python -m earthshader.tiny --out runs/tiny-qwen2-vl`"


class ModelNotFoundError(RuntimeError):
    """The model's weights could not be found locally or on the Hugging Face Hub."""


def run_entry_point(main) -> None:
    """Run an entry point's `main()`; a model that cannot be found exits with its message, no traceback."""
    try:
        main()
    except ModelNotFoundError as err:
        sys.exit(f"error: {err}")


# ----------------------------------------------------------------------------------------------- backends


def _has_package(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def cuda_available() -> bool:
    import torch  # torch itself may come before unsloth; trl / transformers / peft may not

    return torch.cuda.is_available()


def choose_backend(requested: str = "auto") -> str:
    """The backend to use: `requested` checked against this machine, or the best one for `"auto"`."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; valid: {', '.join(BACKENDS)}")
    cuda = cuda_available()
    if requested == "auto":
        if cuda and _has_package("unsloth"):
            return "unsloth"
        if cuda and _has_package("bitsandbytes"):
            return "bnb"
        return "cpu"
    if requested in ("unsloth", "bnb") and not cuda:
        raise RuntimeError(f"backend {requested!r} needs a CUDA GPU and none is visible; use --backend cpu or auto")
    if requested == "unsloth" and not _has_package("unsloth"):
        raise RuntimeError("backend 'unsloth' needs the unsloth package: pip install 'earthshader[gpu]'")
    if requested == "bnb" and not _has_package("bitsandbytes"):
        raise RuntimeError("backend 'bnb' needs the bitsandbytes package: pip install bitsandbytes")
    return requested


def select_backend(requested: str = "auto") -> str:
    """`choose_backend`, then import Unsloth if it won, before anything imports trl / transformers / peft."""
    backend = choose_backend(requested)
    if backend == "unsloth":
        clashing = [m for m in ("trl", "transformers", "peft") if m in sys.modules]
        if clashing:
            raise RuntimeError(
                f"unsloth must be imported before {', '.join(clashing)}: call select_backend() at the top of the "
                "entry point, before importing them"
            )
        import unsloth  # noqa: F401  (patches trl / transformers / peft)
    return backend


def backend_from_argv(argv: list[str], kind: str | None = None, default_recipe: str | None = None,
                      default: str = "auto") -> str:
    """The `--backend` value from a command line, else from the recipe's YAML, else `default`.

    The recipe is `--recipe NAME|PATH` (a name is looked up in `recipes/<kind>/`, or in every kind when
    `kind` is None), else `--config PATH`, else `default_recipe`. Read by hand because the full parser
    lives in trl, which must not be imported before Unsloth.
    """
    value = _flag_value(argv, "--backend")
    if value is not None:
        return value
    recipe = _flag_value(argv, "--recipe") or _flag_value(argv, "--config") or default_recipe
    if recipe is None:
        return default
    import yaml

    from earthshader.recipes import RECIPES_DIR, resolve_recipe

    if kind is None and not Path(recipe).suffix:  # a name that several kinds may share: they must agree
        files = sorted(RECIPES_DIR.glob(f"*/{recipe}.yaml")) or [resolve_recipe(recipe, None)]
    else:
        files = [resolve_recipe(recipe, kind)]
    backends = {str((yaml.safe_load(f.read_text()) or {}).get("backend", default)) for f in files}
    if len(backends) > 1:
        raise ValueError(f"recipes {', '.join(map(str, files))} name different backends; pass kind= to choose")
    return backends.pop()


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


# ----------------------------------------------------------------------------------------------- processor


def _processor_without_video(base):
    """A subclass of Qwen2VLProcessor / Qwen2_5_VLProcessor that needs no video processor (no torchvision).

    It saves itself under the stock class name, with a video processor section (the stock
    `Qwen2VLVideoProcessor`, sized like the image processor), so a directory written on a CPU loads with
    `AutoProcessor` and by vLLM.
    """

    class ProcessorWithoutVideo(base):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            self.image_token = getattr(tokenizer, "image_token", "<|image_pad|>")
            self.video_token = getattr(tokenizer, "video_token", "<|video_pad|>")
            self.image_token_id = getattr(tokenizer, "image_token_id", None) or tokenizer.convert_tokens_to_ids(
                self.image_token
            )
            self.video_token_id = getattr(tokenizer, "video_token_id", None) or tokenizer.convert_tokens_to_ids(
                self.video_token
            )
            # ProcessorMixin.__init__, skipping the stock __init__ that wants a video processor
            super(base, self).__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)

        def to_dict(self):
            output = super().to_dict()
            output["processor_class"] = base.__name__
            output["video_processor"] = stock_video_processor_config(output["image_processor"])
            return output

        def save_pretrained(self, save_directory, **kwargs):
            files = super().save_pretrained(save_directory, **kwargs)
            _rename_processor_class(Path(save_directory), base.__name__)
            return files

    ProcessorWithoutVideo.__name__ = ProcessorWithoutVideo.__qualname__ = f"{base.__name__}WithoutVideo"
    return ProcessorWithoutVideo


def stock_video_processor_config(image_processor: dict) -> dict:
    """The video processor section that the stock Qwen2-VL processors need to load (saved, never used here).

    Its patch geometry and normalisation follow the image processor; everything else takes the stock
    class's defaults when transformers loads it.

    >>> stock_video_processor_config({"patch_size": 14, "merge_size": 2, "temporal_patch_size": 2})
    {'video_processor_type': 'Qwen2VLVideoProcessor', 'patch_size': 14, 'merge_size': 2, 'temporal_patch_size': 2}
    """
    shared = ("patch_size", "merge_size", "temporal_patch_size", "image_mean", "image_std")
    return {"video_processor_type": "Qwen2VLVideoProcessor",
            **{key: image_processor[key] for key in shared if key in image_processor}}


def _rename_processor_class(directory: Path, name: str) -> None:
    """Write the stock processor class name where transformers recorded the subclass's name."""
    for filename in ("tokenizer_config.json", "preprocessor_config.json", "processor_config.json"):
        path = directory / filename
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("processor_class", name) != name:
                data["processor_class"] = name
                path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


_STOCK_PROCESSORS = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor"}


@functools.lru_cache(maxsize=None)
def processor_class(model_type: str):
    """The processor class for `model_type`, without a video processor (this project reads no videos).

    The same class on every machine: the stock one needs torchvision for its video processor (absent from
    the CPU set-up).
    """
    import transformers

    cls = _processor_without_video(getattr(transformers, _STOCK_PROCESSORS[model_type]))
    cls.__module__ = __name__
    globals()[cls.__name__] = cls  # picklable by reference (worker processes, deepcopy)
    return cls


def __getattr__(name: str):
    """Lets pickle find the processor classes in a process that has not built them yet."""
    for model_type, stock in _STOCK_PROCESSORS.items():
        if name == f"{stock}WithoutVideo":
            return processor_class(model_type)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_processor(name_or_path: str, model_type: str | None = None, **kwargs):
    """The processor (tokenizer + image processor + chat template) of a model, left padding for generation.

    Built explicitly from the architecture's class: `AutoProcessor` returns a bare tokenizer for a
    processor class it does not know.
    """
    model_type = model_type or _model_type(resolve_config(name_or_path, **kwargs), name_or_path)
    processor = processor_class(model_type).from_pretrained(name_or_path, **kwargs)
    processor.tokenizer.padding_side = "left"
    return processor


# ----------------------------------------------------------------------------------------------- model


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


def _model_type(config, name_or_path: str) -> str:
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
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
    CPU and bfloat16 on a GPU. The GPU backends always load 4-bit weights; `load_in_4bit=True` with the `cpu`
    backend is refused (after the weights are found), since a 7B model in float32 needs about 30 GB.
    """
    backend = choose_backend(backend)
    base = adapter_base(name_or_path)
    model_path = base if base is not None else name_or_path
    model_type = _model_type(
        resolve_config(model_path, revision=revision, local_files_only=local_files_only), model_path
    )
    if load_in_4bit and backend == "cpu":
        raise RuntimeError(
            f"model {model_path!r}: load_in_4bit needs a CUDA GPU (backends unsloth or bnb) and this machine has "
            "none; on a CPU use the tiny model (--recipe tiny) or set --load_in_4bit false"
        )

    if backend == "unsloth":
        from unsloth import FastVisionModel

        extra = {"revision": revision} if revision else {}
        model, processor = FastVisionModel.from_pretrained(
            model_path, load_in_4bit=True, max_seq_length=max_seq_length, **extra
        )
    else:
        import torch
        from transformers import AutoModelForImageTextToText

        torch_dtype = _torch_dtype(dtype, backend)
        kwargs = {"revision": revision, "dtype": torch_dtype, "local_files_only": local_files_only}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        if backend == "bnb":
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch_dtype if torch_dtype != torch.float32 else torch.bfloat16,
            )
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


def _torch_dtype(dtype: str, backend: str):
    import torch

    if dtype in (None, "auto"):
        return torch.float32 if backend == "cpu" else torch.bfloat16
    valid = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in valid:
        raise ValueError(f"unknown dtype {dtype!r}; valid: auto, {', '.join(valid)}")
    return valid[dtype]


# ---------------------------------------------------------------------------------------- saved runs


#: What `earthshader.sft` and `earthshader.grpo` record beside a saved model (image size, base, backend, ...).
RUN_INFO = "earthshader.json"


def write_run_info(output_dir: str | Path, info: dict) -> Path:
    """Write `info` as the run's `earthshader.json` in `output_dir`; returns its path."""
    path = Path(output_dir) / RUN_INFO
    path.write_text(json.dumps(info, indent=2) + "\n")
    return path


def read_run_info(*folders: str | Path | None) -> dict:
    """The `earthshader.json` of the first of `folders` that has one ({} if none does).

    >>> read_run_info("runs/grpo-tiny", "runs/sft-tiny").get("image_size")
    84
    """
    for folder in folders:
        path = Path(folder).expanduser() / RUN_INFO if folder else None
        if path is not None and path.is_file():
            return json.loads(path.read_text())
    return {}


def save_trained(trainer, output_dir: str | Path, info: dict, merged: bool = False) -> Path:
    """Save what `load_model(output_dir)` loads back: the LoRA adapter (with `merged`, the weights with the
    adapter merged in), the processor, and `info` as the run's `earthshader.json`.

    Call it from every process once training is done: `Trainer.save_model` gathers sharded weights
    (DeepSpeed, FSDP) from all of them. Only the main process writes files, and every process returns
    once they exist.
    """
    output_dir = Path(output_dir)
    accelerator = trainer.accelerator
    accelerator.wait_for_everyone()
    main_process = accelerator.is_main_process
    if not merged:
        trainer.save_model(str(output_dir))
    elif main_process:  # merged weights: CPU runs only, where nothing is sharded
        (output_dir / "adapter_config.json").unlink(missing_ok=True)
        trainer.model.merge_and_unload().save_pretrained(output_dir)
    if main_process:
        trainer.processing_class.save_pretrained(str(output_dir))
        write_run_info(output_dir, info)
        logging.getLogger(__name__).info("saved adapter and processor to %s", output_dir)
    accelerator.wait_for_everyone()
    return output_dir


# ----------------------------------------------------------------------------------------------- LoRA


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
