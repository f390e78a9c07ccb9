"""The tiny offline Qwen2-VL / Qwen2.5-VL: it builds, loads like a Hub model, and survives save and load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers.video_processing_utils import BaseVideoProcessor

from earthshader import modeling
from earthshader.modeling import prompts
from earthshader.modeling.tiny import SPECIAL_TOKENS, build_tiny_model, tiny_config, train_tokenizer

GLSL = "void mainImage(out vec4 fragColor, in vec2 fragCoord) {\n    vec2 uv = fragCoord / iResolution.y;\n" \
       "    fragColor = vec4(vec3(step(0.5, fract(uv.x * 12.5))), 1.0);\n}\n"


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer([GLSL] * 50 + ["float x = 3.25e-2; vec2 p = vec2(1.0, -0.5);"] * 50, vocab_size=400)


def test_tokenizer_splits_numbers_off_and_keeps_names_whole(tokenizer):
    text = "vec2 p = vec2(12.5, 3.0);"
    pieces = [tokenizer.decode([i]) for i in tokenizer(text).input_ids]
    assert "".join(pieces) == text
    numbers = [piece for piece in pieces if any(c.isdigit() for c in piece) and "vec2" not in piece]
    assert numbers and all(set(piece) <= set("0123456789.") for piece in numbers)  # never merged with code
    assert any("vec2" in piece for piece in pieces)  # a digit inside a name is no number


def test_tokenizer_is_byte_level_and_round_trips_any_text(tokenizer):
    text = "précision ∑ {}\t\n#define X 1e-3 // ok"
    assert tokenizer.decode(tokenizer(text).input_ids) == text


def test_tokenizer_has_qwen_special_tokens(tokenizer):
    for token in SPECIAL_TOKENS:
        assert tokenizer.convert_tokens_to_ids(token) is not None
        assert tokenizer.tokenize(token) == [token]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"


@pytest.mark.parametrize("arch", ["qwen2-vl", "qwen2.5-vl"])
def test_config_agrees_with_the_tokenizer(tokenizer, arch):
    config = tiny_config(arch, tokenizer, hidden=64, layers=1, vision_depth=1)
    assert config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert config.video_token_id == tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert config.vision_start_token_id == tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert config.vision_end_token_id == tokenizer.convert_tokens_to_ids("<|vision_end|>")
    text = config.text_config
    assert text.vocab_size == len(tokenizer)
    assert text.eos_token_id == tokenizer.eos_token_id and text.pad_token_id == tokenizer.pad_token_id
    head_dim = text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2


@pytest.mark.parametrize("arch", ["qwen2-vl", "qwen2.5-vl"])
def test_tiny_model_saves_like_a_hub_checkpoint_and_loads_with_the_real_loader(arch, tmp_path):
    directory = build_tiny_model(tmp_path / arch, arch=arch, vocab_size=512, hidden=64, layers=1, vision_depth=1)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "generation_config.json"):
        assert (directory / name).is_file(), name
    processor_config = json.loads((directory / "processor_config.json").read_text())
    assert processor_config["processor_class"] in ("Qwen2VLProcessor", "Qwen2_5_VLProcessor")
    # the stock processor (AutoProcessor, vLLM) also loads a video processor: transformers must find its config
    video, _ = BaseVideoProcessor.get_video_processor_dict(str(directory))
    image = processor_config["image_processor"]
    assert video["video_processor_type"] == "Qwen2VLVideoProcessor"
    assert (video["patch_size"], video["merge_size"]) == (image["patch_size"], image["merge_size"])
    model, processor = modeling.load_model(str(directory), "cpu")
    expected = {"qwen2-vl": "qwen2_vl", "qwen2.5-vl": "qwen2_5_vl"}[arch]
    assert model.config.model_type == expected
    assert model.config.text_config.hidden_size == 64
    assert processor.tokenizer.padding_side == "left"


def test_tiny_model_survives_save_and_load(tmp_path, small_tiny_model):
    model, processor = modeling.load_model(str(small_tiny_model), "cpu")
    text = processor.apply_chat_template(prompts.make_prompt(), add_generation_prompt=True, tokenize=False)
    image = prompts.prepare_image(np.random.default_rng(0).integers(0, 255, (84, 84, 3), dtype=np.uint8), 84)
    inputs = processor(images=[image], text=[text], return_tensors="pt")
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == prompts.image_tokens(84)
    model.eval()
    with torch.no_grad():
        before = model(**inputs).logits
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    reloaded, reprocessor = modeling.load_model(str(tmp_path), "cpu")
    reloaded.eval()
    again = reprocessor(images=[image], text=[text], return_tensors="pt")
    assert torch.equal(again["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        after = reloaded(**again).logits
    torch.testing.assert_close(after, before)
