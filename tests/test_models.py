"""Loading models: backends, the clear error for missing weights, LoRA on the language model, adapters, generation."""

from __future__ import annotations

import numpy as np
import pytest

from earthshader import modeling
from earthshader.modeling.generation import generate_completions
from earthshader.training.recipes import backend_from_argv


def test_missing_local_directory_names_the_model_and_what_to_do(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(modeling.ModelNotFoundError) as err:
        modeling.load_model(str(missing), "cpu")
    message = str(err.value)
    assert str(missing) in message and "does not exist" in message
    assert "python -m earthshader.tiny" in message


def test_directory_without_config_is_not_a_model(tmp_path):
    with pytest.raises(modeling.ModelNotFoundError, match="no config.json"):
        modeling.load_model(str(tmp_path), "cpu")


def test_unreachable_hub_model_gives_the_clear_error():
    name = "Qwen/Qwen2-VL-7B-Instruct"
    with pytest.raises(modeling.ModelNotFoundError) as err:
        modeling.load_model(name, "cpu", local_files_only=True)  # as offline: no network, not in the cache
    message = str(err.value)
    assert name in message and "hf download" in message and "--model_name_or_path" in message


def test_backend_choice_on_a_machine_without_cuda():
    if modeling.cuda_available():
        pytest.skip("this machine has CUDA")
    assert modeling.choose_backend("auto") == "cpu"
    assert modeling.choose_backend("cpu") == "cpu"
    with pytest.raises(RuntimeError, match="CUDA"):
        modeling.choose_backend("bnb")
    with pytest.raises(ValueError, match="valid: auto, unsloth, bnb, cpu"):
        modeling.choose_backend("tpu")


def test_backend_is_read_from_flags_then_recipe():
    assert backend_from_argv(["--backend", "bnb", "--recipe", "tiny"]) == "bnb"
    assert backend_from_argv(["--backend=cpu"]) == "cpu"
    assert backend_from_argv(["--recipe", "tiny"]) == "cpu"
    assert backend_from_argv(["--learning_rate", "1e-4"]) == "auto"
    assert backend_from_argv([], "sft", default_recipe="tiny") == "cpu"
    assert backend_from_argv(["--recipe", "grammar-school"], "sft") == "auto"


def test_4bit_on_the_cpu_backend_is_refused(small_tiny_model):
    with pytest.raises(RuntimeError, match="load_in_4bit needs a CUDA GPU"):
        modeling.load_model(str(small_tiny_model), "cpu", load_in_4bit=True)


def test_lora_targets_the_language_model_only(tmp_path):
    from peft import get_peft_model

    from earthshader.modeling.tiny import build_tiny_model

    # Qwen2.5-VL: its vision MLP has gate/up/down projections too, which must stay out of the adapter
    directory = build_tiny_model(tmp_path / "tiny", arch="qwen2.5-vl", vocab_size=512, hidden=64, layers=1,
                                 vision_depth=1)
    model, _ = modeling.load_model(str(directory), "cpu")
    model, config = modeling.add_lora(model, "cpu", modeling.lora_config(r=4, alpha=8))
    peft_model = get_peft_model(model, config)
    adapted = {name.rsplit(".lora_A", 1)[0] for name, _ in peft_model.named_parameters() if ".lora_A" in name}
    assert adapted, "no LoRA layers"
    assert all("language_model" in name for name in adapted)
    assert not any("visual" in name for name in adapted)
    assert {name.rsplit(".", 1)[-1] for name in adapted} == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    }


def test_adapter_directory_loads_base_model_and_adapter(tmp_path, small_tiny_model):
    from peft import PeftModel, get_peft_model

    model, processor = modeling.load_model(str(small_tiny_model), "cpu")
    peft_model = get_peft_model(model, modeling.lora_config(r=4, alpha=8))
    peft_model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert modeling.adapter_base(str(tmp_path)) == str(small_tiny_model)
    loaded, loaded_processor = modeling.load_model(str(tmp_path), "cpu")
    assert isinstance(loaded, PeftModel)
    assert loaded_processor.tokenizer.padding_side == "left"


def test_generate_completions_gives_k_texts_per_image_in_order(small_tiny_model):
    model, processor = modeling.load_model(str(small_tiny_model), "cpu")
    images = [np.full((64, 64, 3), v, np.uint8) for v in (0, 128, 255)]
    sampled = generate_completions(model, processor, images, image_size=84, k=2, max_new_tokens=4,
                                   temperature=1.0, batch_size=2)
    assert len(sampled) == 3 and all(len(texts) == 2 for texts in sampled)
    assert all(isinstance(text, str) for texts in sampled for text in texts)
    greedy = generate_completions(model, processor, images[:1], image_size=84, max_new_tokens=4)
    assert greedy == generate_completions(model, processor, images[:1], image_size=84, max_new_tokens=4)


def test_run_info_is_read_from_the_first_folder_that_has_one(tmp_path):
    sft, grpo = tmp_path / "sft", tmp_path / "grpo"
    sft.mkdir()
    grpo.mkdir()
    modeling.write_run_info(sft, {"image_size": 84, "backend": "cpu"})
    assert modeling.read_run_info(grpo, None, sft) == {"image_size": 84, "backend": "cpu"}
    modeling.write_run_info(grpo, {"image_size": 112})
    assert modeling.read_run_info(grpo, sft)["image_size"] == 112
    assert modeling.read_run_info(tmp_path / "missing") == {}
