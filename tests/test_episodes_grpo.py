"""Contract tests of GRPO over look-and-fix episodes (TRL 1.16's experimental `environment_factory`): two steps on
a folder of pictures, watched from outside TRL; a killed run resumes. They fail loudly when a TRL upgrade
changes what the episodes rely on.

- Every training forward gets as many image features as its ids hold image tokens, and those include the
  observations' images (a forward pre-hook on the model: public torch API). TRL drops every image of a batch
  without an error when the two disagree.
- The observation's tokens carry no loss: TRL's `tool_mask` is 0 on them, image tokens included (read from the
  batch TRL keeps for the step, `_buffered_inputs`, read only).
- The model that writes the episodes is the tiny one taught for a few steps to answer with one fenced program
  that fails to compile, so turn 1 always fails and its observation carries the compiler's messages.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from killed_runs import kill_at_checkpoint_then_resume
from PIL import Image

from earthshader.episodes.agent_template import stock_template
from earthshader.modeling import prompts
from earthshader.training import grpo_stage
from earthshader.training.recipes import recipe_arguments

REPO = Path(__file__).resolve().parents[1]
#: What the tiny model is taught to answer: a program whose `;` is missing (line 2), in a fence.
BROKEN = "void mainImage(out vec4 c, in vec2 p) {\n    c = vec4(0.5)\n}"


@pytest.fixture(scope="module")
def fenced_model(small_tiny_model, tmp_path_factory) -> Path:
    """The small tiny model after 20 SFT steps on one answer: `BROKEN` in a ```glsl fence."""
    import datasets
    from transformers import AutoModelForImageTextToText
    from trl import SFTConfig, SFTTrainer

    from earthshader.modeling.loading import load_processor

    out = tmp_path_factory.mktemp("fenced") / "model"
    processor = load_processor(str(small_tiny_model))
    model = AutoModelForImageTextToText.from_pretrained(str(small_tiny_model), dtype="float32")
    rng = np.random.default_rng(0)
    rows = [prompts.make_example(rng.integers(0, 255, (84, 84, 3), dtype=np.uint8), BROKEN, 84) for _ in range(8)]
    config = SFTConfig(output_dir=str(out), max_steps=20, per_device_train_batch_size=8, learning_rate=1e-2,
                       use_cpu=True, bf16=False, report_to="none", save_strategy="no", gradient_checkpointing=False,
                       disable_tqdm=True, max_length=None)
    SFTTrainer(model=model, args=config, train_dataset=datasets.Dataset.from_list(rows),
               processing_class=processor).train()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """A folder of two pictures with no program: GRPO's `dataset_path`."""
    folder = tmp_path_factory.mktemp("pictures")
    y, x = np.mgrid[0:84, 0:84]
    for i in range(2):
        wave = (127 + 120 * np.sin(x / (3 + 2 * i) + y / 7)).astype(np.uint8)
        Image.fromarray(np.stack([wave, 255 - wave, wave // 2], -1)).save(folder / f"p{i}.png")
    return folder


def episode_arguments(model: Path, pictures: Path, out: Path, **overrides):
    settings = {"model_name_or_path": str(model), "dataset_path": str(pictures), "output_dir": str(out),
                "num_generations": 2, "per_device_train_batch_size": 4, "max_completion_length": 320,
                "temperature": 0.7, "render_workers": 1, "logging_steps": 1, "grid_every": 1, "lora_r": 8,
                "lora_alpha": 16, "save_strategy": "no", "max_steps": 2, **overrides}
    return recipe_arguments("grpo", "look-and-fix-tiny", **settings)


class ForwardProbe:
    """A forward pre-hook recording, per forward, the image tokens in `input_ids` and the image features passed."""

    def __init__(self, model, image_token_id: int):
        self.image_token_id, self.calls = image_token_id, []
        self.handle = model.register_forward_pre_hook(self.record, with_kwargs=True)

    def record(self, module, args, kwargs):
        import torch

        ids, grid = kwargs.get("input_ids"), kwargs.get("image_grid_thw")
        if ids is not None and ids.dim() == 2 and torch.is_grad_enabled():
            self.calls.append({"rows": ids.shape[0], "image_tokens": int((ids == self.image_token_id).sum()),
                               "image_features": 0 if grid is None else int((grid.prod(dim=1) // 4).sum())})


@pytest.mark.slow
def test_two_grpo_steps_over_two_turn_episodes_see_every_image_and_train_no_observation(fenced_model, pictures,
                                                                                       tmp_path):
    from transformers import TrainerCallback

    trainer, _ = grpo_stage.build_trainer(*episode_arguments(fenced_model, pictures, tmp_path,
                                                             first_turn_weight=0.5), "cpu")
    assert [f.__name__ for f in trainer.reward_funcs][-2:] == ["improvement", "first_turn"]
    assert trainer.reward_weights[-2:].tolist() == [0.0, 0.5]
    tokenizer, image_id = trainer.processing_class.tokenizer, trainer.processing_class.image_token_id
    video_id = tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert {image_id, video_id} <= set(trainer.generation_kwargs["suppress_tokens"])  # never sampled (environment.py)
    probe, batches = ForwardProbe(trainer.model, image_id), []

    class KeepBatch(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            batches.extend(trainer._buffered_inputs)  # what the step's loss was computed on (read only)

    trainer.add_callback(KeepBatch())
    trainer.train()

    observations = 0
    for batch in batches:
        for ids, mask, tool in zip(batch["completion_ids"], batch["completion_mask"], batch["tool_mask"]):
            ids, tool = ids[mask.bool()].tolist(), tool[mask.bool()].tolist()
            observed = [t for t, m in zip(ids, tool) if m == 0]
            assert not any(t == image_id for t, m in zip(ids, tool) if m == 1)  # no image token under loss
            if observed:  # one observation per fenced program of turn 1 (an answer may hold two fences)
                text = tokenizer.decode(observed)
                seen = text.count(prompts.FIX_INSTRUCTION)
                observations += seen
                assert seen and text.count("<|image_pad|>" * 9) == prompts.OBSERVATION_IMAGES * seen, text
                assert re.search(r"Your program failed \((compile|invalid_input)\):\n\S", text), text
    assert observations >= 2  # the observations are seen, masked, in both steps' batches
    assert probe.calls and all(c["image_tokens"] == c["image_features"] for c in probe.calls)
    targets_only = sum(c["rows"] for c in probe.calls) * prompts.image_tokens(84)
    assert sum(c["image_tokens"] for c in probe.calls) == targets_only + observations * 2 * prompts.image_tokens(84)

    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"episode/turn1_structure", "episode/final_structure", "rewards/improvement/mean",
            "rewards/first_turn/mean"} <= set(metrics[0])
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1] * 4 + [2] * 4 and any(len(r.get("turn_codes", [])) == 2 for r in rows)
    strip = Image.open(tmp_path / "grids" / "step_000002.png")
    assert strip.width == 5 * (96 + 2) - 2  # target | turn 1 | last turn, of the best and the worst episode


@pytest.mark.slow
def test_a_killed_two_turn_run_resumes_and_saves_the_stock_templates(fenced_model, pictures, tmp_path):
    command = [sys.executable, "-m", "earthshader.grpo", "--recipe", "look-and-fix-tiny",
               "--model_name_or_path", str(fenced_model), "--dataset_path", str(pictures), "--output_dir",
               str(tmp_path), "--num_generations", "2", "--per_device_train_batch_size", "4",
               "--max_completion_length", "320", "--render_workers", "1", "--lora_r", "8", "--lora_alpha", "16",
               "--max_steps", "3", "--save_steps", "1", "--save_total_limit", "5", "--logging_steps", "1"]
    resumed, saved = kill_at_checkpoint_then_resume(command, tmp_path, checkpoint=1)
    assert saved < 3, "the run ended before the kill: nothing was left to resume"
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows]
    assert steps == sorted(steps) and {s: steps.count(s) for s in set(steps)} == {1: 4, 2: 4, 3: 4}
    assert json.loads((tmp_path / "checkpoint-3" / "trainer_state.json").read_text())["global_step"] == 3
    assert f"resuming from step {saved}:" in resumed.stderr
    assert (tmp_path / "chat_template.jinja").read_text() == stock_template()  # the agent template is not saved
    assert "response_template" not in json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert json.loads((tmp_path / "earthshader.json").read_text())["max_turns"] == 2


@pytest.mark.slow
def test_two_grpo_steps_on_the_correction_turn_alone_see_the_target_render_and_difference(fenced_model, pictures,
                                                                                         tmp_path):
    trainer, _ = grpo_stage.build_trainer(*episode_arguments(
        fenced_model, pictures, tmp_path, max_turns=1, second_turn_samples=2, max_completion_length=96,
        temperature=0.1), "cpu")  # near-greedy: the fenced model writes its broken program
    dataset = trainer.train_dataset
    assert sorted(dataset["id"]) == ["p0.png#0", "p0.png#1", "p1.png#0", "p1.png#1"]
    for row in dataset:  # the fenced model's own (broken) answer, then its observation with the compiler's message
        assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"] and len(row["images"]) == 3
        assert "c = vec4(0.5)" in row["prompt"][1]["content"][0]["text"]
        assert "Your program failed (compile)" in row["prompt"][2]["content"][-1]["text"]
        assert np.array_equal(np.asarray(row["images"][0]), np.asarray(row["image"]))  # the target, scored
    probe = ForwardProbe(trainer.model, trainer.processing_class.image_token_id)
    trainer.train()

    per_prompt = 3 * prompts.image_tokens(84)  # target, render, difference map
    assert probe.calls and all(c["image_tokens"] == c["image_features"] == c["rows"] * per_prompt
                               for c in probe.calls)
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1] * 4 + [2] * 4 and all("#" in r["prompt_id"] for r in rows)
