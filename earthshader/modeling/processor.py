"""The Qwen2-VL / Qwen2.5-VL processor without a video processor (which needs torchvision, absent on a CPU).

    >>> processor_class("qwen2_vl").__name__
    'Qwen2VLProcessorWithoutVideo'

A processor saved from here loads with the stock `AutoProcessor` and by vLLM: it is written under the
stock class name with a stock video processor section.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path


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


@functools.cache
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
