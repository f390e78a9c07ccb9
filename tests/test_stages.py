"""The training stages as functions: arguments from a recipe and Python overrides, the time limit, the one
policy loader."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from earthshader import grpo
from earthshader.training import grpo_stage, policy, sft_stage
from earthshader.training.recipes import RecipeArgumentError, recipe_arguments


def test_overrides_and_flags_go_on_top_of_the_recipe(tmp_path):
    script_args, training_args, model_args = recipe_arguments(
        "grpo", "tiny", flags=["--beta", "0.2"], output_dir=tmp_path / "run", max_steps=3, learning_rate=1e-4,
        reward_funcs=["format", "ssim"], reward_weights=[0.5, 1.0], generator_difficulty=None, curriculum=True,
        model_name_or_path=tmp_path / "model", time_limit_minutes=2.5)
    assert (training_args.output_dir, training_args.max_steps, training_args.learning_rate) == (
        str(tmp_path / "run"), 3, 1e-4)
    assert (script_args.reward_funcs, training_args.reward_weights) == (["format", "ssim"], [0.5, 1.0])
    assert script_args.generator_difficulty is None and script_args.curriculum is True
    assert script_args.time_limit_minutes == 2.5 and model_args.model_name_or_path == str(tmp_path / "model")
    assert training_args.beta == 0.2  # the flag
    assert training_args.temperature == 0.5 and script_args.image_size == 84  # the recipe's, untouched
    assert training_args.use_cpu  # as the command line: no GPU here


def test_the_same_settings_give_the_same_arguments_as_the_command_line(tmp_path):
    flags = ["--recipe", "tiny", "--output_dir", str(tmp_path), "--max_steps", "7", "--image_size", "56",
             "--generators", "textures", "primitives", "--curriculum", "true"]
    from_python = recipe_arguments("grpo", "tiny", output_dir=tmp_path, max_steps=7, image_size=56,
                                   generators=["textures", "primitives"], curriculum=True)
    from_command_line = grpo.parse(flags)
    assert vars(from_python[0]) == vars(from_command_line[0]) and vars(from_python[2]) == vars(from_command_line[2])
    assert from_python[1].to_dict() == from_command_line[1].to_dict()


@pytest.mark.parametrize(("kind", "overrides", "error"), [
    ("sft", {"image_size": 0}, "argument --image_size: must be a whole number from 1 to 4096"),
    ("sft", {"per_device_train_batch_size": 0}, "argument --per_device_train_batch_size: must be a whole number"),
    ("grpo", {"num_generations": 0}, "argument --num_generations: must be a whole number of at least 2"),
    ("grpo", {"time_limit_minutes": -1.0}, "argument --time_limit_minutes: must be a finite number at least 0"),
    ("expert", {"render_workers": 0}, "argument --render_workers: must be a whole number of at least 1"),
    ("grpo", {"max_stpes": 3}, "unknown field(s) max_stpes"),
    ("grpo", {"load_in_8bit": "maybe"}, "load_in_8bit"),
])
def test_overrides_get_the_parsers_checks(kind, overrides, error):
    with pytest.raises(RecipeArgumentError) as raised:
        recipe_arguments(kind, "tiny", **overrides)
    assert error in str(raised.value) and str(raised.value).count("\n") == 0


def test_a_field_set_twice_or_an_unknown_stage_is_refused():
    with pytest.raises(RecipeArgumentError, match="--max_steps given both as a flag and as an override"):
        recipe_arguments("grpo", "tiny", flags=["--max-steps", "4"], max_steps=3)
    with pytest.raises(RecipeArgumentError, match="recipe 'tiny' given twice"):
        recipe_arguments("grpo", "tiny", flags=["--recipe", "textures"])
    with pytest.raises(RecipeArgumentError, match="no training stage 'dpo'; valid: sft, grpo, expert"):
        recipe_arguments("dpo")


def test_the_time_limit_stops_before_a_step_that_would_end_past_it():
    from transformers import TrainerControl, TrainerState

    from earthshader.training.callbacks import TimeLimit

    now = [100.0]
    limit, state, control = TimeLimit(0.5, clock=lambda: now[0]), TrainerState(global_step=5), TrainerControl()
    limit.on_train_begin(None, state, control)  # resumed at step 5: the steps before are not this run's
    stops = []
    for seconds in (10, 20, 25):  # 30 s of limit; 10 s a step, then 8.3 s on average
        now[0], state.global_step = 100.0 + seconds, state.global_step + 1
        limit.on_step_end(None, state, control)
        stops.append(control.should_training_stop)
    assert stops == [False, False, True]  # 20 + 10 = 30 s still fits; 25 + 8.3 does not
    unlimited, control = TimeLimit(0, clock=lambda: now[0]), TrainerControl()
    unlimited.on_train_begin(None, state, control)
    now[0], state.global_step = 1e9, state.global_step + 1
    unlimited.on_step_end(None, state, control)
    assert not control.should_training_stop


@pytest.mark.slow
def test_an_sft_stage_with_a_time_limit_stops_after_its_first_step_and_saves(tmp_path, small_tiny_model):
    out = sft_stage.run(*recipe_arguments(
        "sft", "tiny", model_name_or_path=small_tiny_model, output_dir=tmp_path, generated_examples=8,
        per_device_train_batch_size=4, max_steps=5, lora_r=4, lora_alpha=8, render_workers=1, save_steps=1,
        save_total_limit=5, disable_tqdm=True, time_limit_minutes=1e-5))  # 0.6 ms: the first step always runs
    assert out == tmp_path and json.loads((out / "earthshader.json").read_text())["image_size"] == 84
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-1"]
    assert json.loads((tmp_path / "checkpoint-1" / "trainer_state.json").read_text())["max_steps"] == 5


def fake_load_model(calls: list):
    def load_model(name_or_path, backend, **kwargs):
        calls.append({"name_or_path": name_or_path, "backend": backend, **kwargs})
        return types.SimpleNamespace(), types.SimpleNamespace(tokenizer=None)
    return load_model


@pytest.mark.parametrize("load_in_4bit", [False, True])
def test_the_policy_loader_hands_every_model_flag_to_load_model(monkeypatch, load_in_4bit):
    from trl import ModelConfig

    calls = []
    monkeypatch.setattr(policy.modeling, "load_model", fake_load_model(calls))
    model_args = ModelConfig(model_name_or_path="some/model", model_revision="v2", dtype="bfloat16",
                             attn_implementation="sdpa", load_in_4bit=load_in_4bit, use_peft=True, lora_r=8,
                             lora_alpha=16, lora_dropout=0.1, lora_target_modules=["q_proj", "v_proj"],
                             lora_modules_to_save=["lm_head"])
    loaded = policy.load_policy(model_args, "bnb")
    assert calls == [{"name_or_path": "some/model", "backend": "bnb", "dtype": "bfloat16", "revision": "v2",
                      "attn_implementation": "sdpa", "load_in_4bit": load_in_4bit}]
    lora = loaded.peft_config
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, lora.target_modules, lora.modules_to_save) == (
        8, 16, 0.1, {"q_proj", "v_proj"}, ["lm_head"])
    assert not loaded.merged
    assert policy.load_policy(ModelConfig(model_name_or_path="m", use_peft=False), "bnb").peft_config is None


def test_a_model_flag_the_loader_cannot_apply_is_refused():
    from trl import ModelConfig

    with pytest.raises(policy.PolicyFlagError, match="--use_dora True: not supported"):
        policy.load_policy(ModelConfig(model_name_or_path="m", use_dora=True), "cpu")


def test_grpo_honours_load_in_4bit_from_its_recipe(tmp_path, small_tiny_model):
    """4-bit weights need a GPU: on the CPU the GRPO stage refuses them, as SFT does (it used to drop the flag
    and load full-precision weights)."""
    args = recipe_arguments("grpo", "tiny", model_name_or_path=small_tiny_model, output_dir=tmp_path,
                            render_workers=1, generated_examples=2, load_in_4bit=True)
    assert args[2].load_in_4bit
    with pytest.raises(RuntimeError, match="load_in_4bit needs a CUDA GPU"):
        grpo_stage.build_trainer(*args, "cpu")


def test_load_model_loads_16_bit_weights_on_a_gpu_backend_when_load_in_4bit_is_false(monkeypatch,
                                                                                      small_tiny_model):
    """The bitsandbytes backend quantises to 4-bit unless the recipe says `load_in_4bit: false` (no GPU here:
    the backend check and the weights' load are stood in for; the arguments they get are the real ones)."""
    import torch
    import transformers

    from earthshader.modeling import loading

    seen = []

    def from_pretrained(path, **kwargs):
        seen.append(kwargs)
        return types.SimpleNamespace()

    monkeypatch.setattr(loading, "choose_backend", lambda backend: backend)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", from_pretrained)
    for load_in_4bit in (False, None, True):
        loading.load_model(str(Path(small_tiny_model)), "bnb", load_in_4bit=load_in_4bit)
    assert ["quantization_config" in kwargs for kwargs in seen] == [False, True, True]
    assert all(kwargs["device_map"] == {"": 0} and kwargs["dtype"] == torch.bfloat16 for kwargs in seen)
