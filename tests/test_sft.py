"""SFT on the tiny model: two steps train the LoRA weights and nothing else; the entry point saves and resumes."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from earthshader import modeling, sft
from earthshader.training import sft_stage


def tiny_args(model, output_dir, *extra):
    return [
        "--recipe", "tiny",
        "--model_name_or_path", str(model),
        "--generated_examples", "8",
        "--per_device_train_batch_size", "4",
        "--max_steps", "2",
        "--learning_rate", "1e-2",
        "--warmup_steps", "0",
        "--lr_scheduler_type", "constant",
        "--lora_r", "4",
        "--lora_alpha", "8",
        "--render_workers", "1",
        "--save_strategy", "no",
        "--disable_tqdm", "true",
        "--output_dir", str(output_dir),
        *extra,
    ]


@pytest.mark.slow
def test_two_steps_change_lora_weights_and_not_base_weights(tmp_path, small_tiny_model):
    script_args, training_args, model_args = sft.parse(tiny_args(small_tiny_model, tmp_path))
    trainer, info = sft_stage.build_trainer(script_args, training_args, model_args, "cpu")
    assert info["examples"] == 8 and info["image_size"] == 84
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainable = {name for name, p in trainer.model.named_parameters() if p.requires_grad}
    # the adapter, plus the tiny recipe's fully trained copies of its random embeddings and output layer
    assert any("lora_A" in name for name in trainable) and any("lora_B" in name for name in trainable)
    assert all("lora_" in name or "modules_to_save" in name for name in trainable)

    trainer.train()

    after = dict(trainer.model.named_parameters())
    for name, old in before.items():
        changed = not torch.equal(old, after[name].detach())
        assert changed == (name in trainable), f"{name}: changed={changed}, trainable={name in trainable}"


def test_max_length_never_cuts_the_image_or_the_longest_program(tmp_path, small_tiny_model):
    from earthshader.modeling import prompts

    script_args, training_args, model_args = sft.parse(tiny_args(small_tiny_model, tmp_path))
    trainer, _ = sft_stage.build_trainer(script_args, training_args, model_args, "cpu")
    collator = trainer.data_collator
    batch = collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    assert batch["input_ids"].shape[1] <= training_args.max_length
    image_id = trainer.model.config.image_token_id
    assert ((batch["input_ids"] == image_id).sum(dim=1) == prompts.image_tokens(84)).all()
    eos = trainer.processing_class.tokenizer.convert_tokens_to_ids("<|im_end|>")
    labels = batch["labels"]
    assert ((labels == eos).sum(dim=1) == 1).all(), "every completion keeps its end-of-turn token"
    prompt_len = prompts.prompt_tokens(trainer.processing_class, 84)
    first_label = (labels != -100).float().argmax(dim=1)
    assert (first_label >= prompt_len - 1).all(), "the loss covers the completion only"


@pytest.mark.slow
def test_entry_point_saves_adapter_processor_and_resumes(tmp_path, small_tiny_model):
    checkpoints = ("--save_strategy", "steps", "--save_steps", "1", "--save_total_limit", "5")
    output = sft.main(tiny_args(small_tiny_model, tmp_path, *checkpoints))
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "processor_config.json",
                 "chat_template.jinja", "earthshader.json", "checkpoint-2"):
        assert (output / name).exists(), name
    assert json.loads((output / "earthshader.json").read_text())["image_size"] == 84
    model, processor = modeling.load_model(str(output), "cpu")
    assert type(model).__name__ == "PeftModelForCausalLM"

    # Resume: continue from checkpoint-2 (checkpoint-1 is not written again) and stop at step 3.
    shutil.rmtree(tmp_path / "checkpoint-1", ignore_errors=True)
    sft.main(tiny_args(small_tiny_model, tmp_path, *checkpoints, "--max_steps", "3", "--resume_from_checkpoint", "true"))
    assert not (tmp_path / "checkpoint-1").exists()
    state = json.loads((tmp_path / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3


def test_no_progress_bar_when_output_is_not_a_terminal(tmp_path, small_tiny_model, monkeypatch):
    import io

    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    monkeypatch.setattr("sys.stderr", io.StringIO())  # as under `make demo > log`
    args = [a for a in tiny_args(small_tiny_model, tmp_path) if a not in ("--disable_tqdm", "true")]
    trainer, _ = sft_stage.build_trainer(*sft.parse(args), "cpu")
    callbacks = {type(c) for c in trainer.callback_handler.callbacks}
    assert PrinterCallback in callbacks and ProgressCallback not in callbacks  # log lines, no bar
