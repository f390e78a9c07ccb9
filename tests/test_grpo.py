"""GRPO on the tiny model: real TRL trainer, real renders, real files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from killed_runs import kill_at_checkpoint_then_resume

from earthshader import grpo
from earthshader.logs import main as logs_main
from earthshader.training import grpo_stage, grpo_trainer, saving
from earthshader.training.recipes import available_recipes, resolve_recipe
from earthshader.training.run_log import truncate_jsonl
from rewards import RewardError

REPO = Path(__file__).resolve().parents[1]


def tiny_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["--recipe", "tiny", "--model_name_or_path", str(model), "--output_dir", str(out),
            "--generated_examples", "6", "--num_generations", "4", "--per_device_train_batch_size", "8",
            "--max_completion_length", "24", "--logging_steps", "1", "--grid_every", "1", "--render_workers", "1",
            "--reward_funcs", "format", "compiles", "ssim", "tests.grpo_plugins:completion_length",
            "--reward_weights", "0.5", "1.0", "1.0", "0.1", *extra]


@pytest.mark.parametrize("name", available_recipes("grpo"))
def test_every_grpo_recipe_parses_with_no_unknown_keys(name):
    script_args, training_args, model_args = grpo.parse(["--recipe", name])
    assert script_args.reward_funcs and len(training_args.reward_weights) == len(script_args.reward_funcs)
    assert training_args.output_dir.startswith("runs/")
    json.loads(script_args.reward_kwargs)


def test_an_unknown_recipe_key_is_an_error(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(resolve_recipe("tiny", "grpo").read_text() + "\nnum_generatoins: 4\n")
    with pytest.raises((ValueError, SystemExit)):
        grpo.parse(["--recipe", str(recipe)])


@pytest.mark.slow
def test_two_steps_train_the_lora_weights_and_log_every_sample(small_tiny_model, tmp_path):
    script_args, training_args, model_args = grpo.parse(tiny_args(small_tiny_model, tmp_path, "--max_steps", "2"))
    trainer, _ = grpo_stage.build_trainer(script_args, training_args, model_args, "cpu")
    from trl.trainer.utils import is_async_callable

    assert [is_async_callable(f) for f in trainer.reward_funcs] == [False, True, True, False]  # render rewards
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    changed = {n for n, p in trainer.model.named_parameters() if not (p.detach() == before[n]).all()}
    assert changed == trainable  # every LoRA weight moved; no base weight did

    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1] * 8 + [2] * 8
    assert set(rows[0]["rewards"]) == {"format", "compiles", "ssim", "completion_length"}
    assert all(r["error"] in (None, "invalid_input", "compile", "loop_limit", "timeout") for r in rows)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "rewards/ssim/mean" in metrics[0] and "time/rewards_s" in metrics[0]
    assert (tmp_path / "grids" / "step_000002.png").exists()
    assert logs_main([str(tmp_path), "--top", "2"]) == 0


@pytest.mark.slow
def test_a_reward_plugin_that_raises_stops_the_run_and_is_named(small_tiny_model, tmp_path):
    args = tiny_args(small_tiny_model, tmp_path, "--max_steps", "1")
    args[args.index("tests.grpo_plugins:completion_length")] = "tests.grpo_plugins:broken"
    script_args, training_args, model_args = grpo.parse(args)
    trainer, _ = grpo_stage.build_trainer(script_args, training_args, model_args, "cpu")
    with pytest.raises(RewardError, match=r"'broken'.*tests.grpo_plugins.broken.*ZeroDivisionError"):
        trainer.train()


def test_truncate_drops_later_steps_and_a_torn_line(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps({"step": s, "i": i}) + "\n" for s in (1, 2, 3) for i in range(2))
                    + '{"step": 3, "i"')
    assert truncate_jsonl(path, 2) == 3
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 1, 2, 2]


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_with_a_clean_log(small_tiny_model, tmp_path):
    command = [sys.executable, "-m", "earthshader.grpo", *tiny_args(small_tiny_model, tmp_path, "--max_steps", "4",
                                                                     "--save_steps", "1", "--save_total_limit", "5")]
    resumed, saved = kill_at_checkpoint_then_resume(command, tmp_path, checkpoint=2)
    assert saved < 4, "the run ended before the kill: nothing was left to resume"
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from step {saved}:" in resumed.stderr
    steps = [json.loads(line)["step"] for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and {s: steps.count(s) for s in set(steps)} == {1: 8, 2: 8, 3: 8, 4: 8}


@pytest.mark.slow
def test_two_processes_split_the_prompts_log_per_rank_and_save_once(small_tiny_model, tmp_path):
    """Data-parallel GRPO (gloo on the CPU, started by torchrun as `accelerate launch` starts it on GPUs)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "earthshader.grpo",
               *tiny_args(small_tiny_model, tmp_path, "--max_steps", "2", "--per_device_train_batch_size", "4")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    by_rank = {}
    for rank, name in enumerate(["samples.jsonl", "samples.rank1.jsonl"]):
        rows = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        assert [r["step"] for r in rows] == [1] * 4 + [2] * 4  # one prompt x 4 completions per rank and step
        by_rank[rank] = {(r["step"], r["prompt_id"]) for r in rows}
    assert not by_rank[0] & by_rank[1]  # the ranks sampled different prompts
    assert (run.stdout + run.stderr).count("saved adapter and processor") == 1
    assert (tmp_path / "adapter_model.safetensors").is_file() and (tmp_path / "earthshader.json").is_file()
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()][:2] == [1, 2]


@pytest.mark.parametrize("name", ["multi_gpu", "zero2"])
def test_accelerate_configs_load_with_accelerates_own_reader(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(REPO / "recipes" / "accelerate" / f"{name}.yaml"))
    assert config.num_processes > 1 and config.mixed_precision == "bf16"
    assert config.distributed_type.value == ("DEEPSPEED" if name == "zero2" else "MULTI_GPU")


@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_vllm_flags_reach_trls_config(mode):
    _, training_args, _ = grpo.parse(["--recipe", "textures", "--use_vllm", "true", "--vllm_mode", mode])
    assert training_args.use_vllm is True and training_args.vllm_mode == mode


def test_colocated_vllm_gets_the_prompt_with_one_image_token_per_image(small_tiny_model):
    """vLLM expands image tokens itself; it must get the tokenizer's rendering, not the processor's (trl#6294)."""
    import numpy as np

    from earthshader import modeling
    from earthshader.modeling import prompts

    processor = modeling.load_processor(str(small_tiny_model))
    image = prompts.prepare_image(np.zeros((84, 84, 3), dtype=np.uint8), 84)
    text = processor.apply_chat_template(prompts.make_prompt(), add_generation_prompt=True, tokenize=False)
    expanded = processor(images=[image], text=[text])["input_ids"][0]
    assert expanded.count(processor.image_token_id) == prompts.image_tokens(84) > 1
    received = []

    def vllm_generate(prompts, images, num_generations, profiler=None):
        received.append((prompts, images, num_generations))
        return "outputs"

    generate = grpo_trainer.unexpanded_for_vllm(vllm_generate, processor.image_token_id)
    assert generate([expanded, expanded], images=[[image], [image]], num_generations=8) == "outputs"
    unexpanded = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert received == [([unexpanded, unexpanded], [[image], [image]], 8)]


def test_vllm_sampling_forbids_the_image_token_and_keeps_the_users_options():
    kwargs = grpo_trainer.vllm_generation_kwargs({"seed": 3, "bad_words": ["discard"]}, "<|image_pad|>")
    assert kwargs == {"seed": 3, "bad_words": ["discard", "<|image_pad|>"]}
    assert grpo_trainer.vllm_generation_kwargs(None, "<|image_pad|>") == {"bad_words": ["<|image_pad|>"]}


@pytest.mark.slow
def test_scaled_negative_advantages_reach_trls_loss(small_tiny_model, tmp_path):
    """One real training step (TRL's loop: generation, rewards, advantages, `compute_loss`, backward) on the
    same batch at negative-advantage scales 1, 0 and 0.5: if TRL stopped calling the method that scales, or
    stopped reading the advantages it returns, the three losses and gradients would be equal.

    On-policy (one iteration a generation, no KL term) TRL's loss is linear in the advantages, -sum_i A_i w_i
    with positive token weights w_i; so scale 0 drops the negative advantages' share (the loss falls), and
    scale 0.5 lands half way, in the loss and in every gradient. A learning rate of 0 keeps the policy, and
    so the sampled completions, the same from one step to the next.
    """
    import torch
    from transformers import TrainerCallback

    args = tiny_args(small_tiny_model, tmp_path, "--max_steps", "1", "--beta", "0", "--learning_rate", "0",
                     "--max_grad_norm", "0", "--reward_funcs", "tests.grpo_plugins:batch_position",
                     "--reward_weights", "1.0")
    trainer, _ = grpo_stage.build_trainer(*grpo.parse(args), "cpu")
    assert trainer.args.steps_per_generation == 1 and trainer.num_iterations == 1  # on-policy
    seen, grads, compute_loss = [], [], trainer.compute_loss

    def noted(model, inputs, *args, **kwargs):  # TRL's own loss; the advantages it is handed and its value noted
        loss = compute_loss(model, inputs, *args, **kwargs)
        seen.append((inputs["advantages"].detach().clone(), loss.item()))
        return loss

    class Gradients(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            grads.append(torch.cat([p.grad.flatten().clone() for p in model.parameters() if p.requires_grad]))

    trainer.compute_loss = noted
    trainer.add_callback(Gradients)
    for scale in (1.0, 0.0, 0.5):
        trainer.negative_advantage_scale = scale
        torch.manual_seed(0)  # the same completions and the same shuffle at every scale
        trainer.train()

    (plain, loss_1), (no_negatives, loss_0), (halved, loss_half) = seen
    assert (plain < 0).any() and (plain > 0).any()
    assert torch.equal(no_negatives, plain.clamp(min=0)) and torch.allclose(halved, plain.where(plain >= 0, plain / 2))
    assert loss_0 < loss_1
    assert loss_half == pytest.approx((loss_0 + loss_1) / 2, rel=1e-4, abs=1e-6)
    assert not torch.allclose(grads[1], grads[0])
    assert torch.allclose(grads[2], (grads[0] + grads[1]) / 2, rtol=1e-4, atol=1e-7)


def test_a_negative_advantage_scale_outside_0_1_is_an_error(small_tiny_model, tmp_path):
    args = grpo.parse(tiny_args(small_tiny_model, tmp_path, "--negative_advantage_scale", "1.5"))
    with pytest.raises(ValueError, match="negative_advantage_scale"):
        grpo_stage.build_trainer(*args, "cpu")


def test_resume_skips_a_checkpoint_killed_while_saving(tmp_path):
    for step in (1, 2, 3):
        (tmp_path / f"checkpoint-{step}").mkdir()
    for step in (1, 2):
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    assert saving.resume_checkpoint(str(tmp_path), "true") == (str(tmp_path / "checkpoint-2"), 2)
    assert saving.resume_checkpoint(str(tmp_path), None) is None
    assert saving.resume_checkpoint(str(tmp_path / "none"), True) is None


@pytest.mark.parametrize("name", available_recipes("grpo"))
def test_every_grpo_recipe_uses_a_named_reward_mix(name):
    """`rewards.DEFAULT_REWARD_MIX` and `rewards.PICTURE_REWARD_MIX` are the sources of the mixes: a recipe lists one
    exactly, and the recipes that train on pictures alone (textures, photographs) list the picture mix."""
    from rewards import DEFAULT_REWARD_MIX, PICTURE_REWARD_MIX

    script_args, training_args, _ = grpo.parse(["--recipe", name])
    mix = dict(zip(script_args.reward_funcs, training_args.reward_weights, strict=True))
    picture_recipes = ("tiny", "textures", "look-and-fix-tiny", "look-and-fix-textures")
    assert mix == (PICTURE_REWARD_MIX if name in picture_recipes else DEFAULT_REWARD_MIX)


def test_without_reward_flags_grpo_uses_the_default_mix_and_its_weights():
    from earthshader.training.arguments import GRPOScriptArguments, reward_weights
    from rewards import DEFAULT_REWARD_MIX

    assert GRPOScriptArguments().reward_funcs == list(DEFAULT_REWARD_MIX)
    assert reward_weights(list(DEFAULT_REWARD_MIX), None) == list(DEFAULT_REWARD_MIX.values())
    assert reward_weights(["ssim"], [2.0]) == [2.0]
