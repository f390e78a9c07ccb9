"""GPU check: a few GRPO steps of a Qwen2-VL-2B-shaped model with random weights, and the time split.

    python benchmarks/gpu_grpo.py [--steps 3] [--backend bnb] [--image-size 448] [--completion 512]

Builds a model with Qwen2-VL-2B's shapes (28 text layers of width 1536, a 32-layer vision tower of
width 1280) and random weights, saves it, and trains it through the project's own GRPO code path
(`earthshader.training.grpo_stage.build_trainer` with the `textures` recipe: 4-bit QLoRA, group of 8, the default
reward mix). Differences from a real run, on purpose:
- the vocabulary is the tiny model's GLSL tokenizer (about 1,000 tokens, not 151,936): the output
  layer is smaller, so generation is slightly faster than with the real vocabulary;
- random weights write garbage that fails at once, which would make rendering look free; so the
  rewards score real procedural texture programs in place of the completions (one distinct program
  per completion), to measure what rendering and scoring cost for a model that writes shaders.
Prints, per step: generation, rendering + rewards, optimisation, and the rewards' share of the step.
Needs CUDA; without it, says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


class RealisticPrograms:
    """Hands every reward of a batch the same list of real programs instead of the completions."""

    def __init__(self, programs: list[str]):
        self.programs = programs
        self.offset = 0
        self._batches: dict[int, list] = {}

    def wrap(self, reward):
        """`reward` scoring the programs; async if `reward` is (TRL gathers the render rewards)."""
        from rewards.concurrent import is_async

        if is_async(reward):
            async def scored(prompts=None, completions=None, **columns):
                return await reward(prompts=prompts, completions=self.substitute(completions), **columns)
        else:
            def scored(prompts=None, completions=None, **columns):
                return reward(prompts=prompts, completions=self.substitute(completions), **columns)
        scored.__name__ = reward.__name__
        return scored

    def substitute(self, completions: list) -> list:
        """The programs standing in for this batch's completions (the same list for every reward)."""
        if id(completions) not in self._batches:
            self._batches = {id(completions): [[{"role": "assistant", "content": "```glsl\n"
                                                 + self.programs[(self.offset + i) % len(self.programs)]
                                                 + "\n```"}] for i in range(len(completions))]}
            self.offset += len(completions)
        return self._batches[id(completions)]


def build_random_model(out: Path, tiny_dir: Path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoTokenizer, Qwen2VLConfig

    from earthshader.modeling.tiny import SPECIAL_TOKENS

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}
    config = Qwen2VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 1536, "intermediate_size": 8960,
                     "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
                     "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
                     "bos_token_id": None, "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]},
        vision_config={"depth": 32, "embed_dim": 1280, "hidden_size": 1536, "num_heads": 16, "mlp_ratio": 4,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True)
    with torch.device("cuda"):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    for item in tiny_dir.iterdir():  # the processor and tokenizer files
        if item.suffix in (".json", ".jinja") and item.name not in ("config.json", "generation_config.json"):
            shutil.copy(item, out / item.name)
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--backend", default="bnb", choices=["bnb", "unsloth"])
    parser.add_argument("--image-size", type=int, default=448)
    parser.add_argument("--completion", type=int, default=512, help="max_completion_length")
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="gpu-grpo-")))
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark needs a GPU (nothing measured)")
        return
    from earthshader.data.generators import generate
    from earthshader.modeling.tiny import build_tiny_model
    from earthshader.training import grpo_stage
    from earthshader.training.recipes import recipe_arguments

    start = time.perf_counter()
    tiny_dir = build_tiny_model(args.out / "tiny")
    model_dir = args.out / "qwen2-vl-2b-random"
    params = build_random_model(model_dir, tiny_dir)
    print(f"built a Qwen2-VL-2B-shaped model with random weights: {params / 1e9:.2f} B parameters "
          f"({time.perf_counter() - start:.0f} s)")

    script_args, training_args, model_args = recipe_arguments(
        "grpo", "textures", model_name_or_path=model_dir, backend=args.backend, output_dir=args.out / "run",
        max_steps=args.steps, generated_examples=16, image_size=args.image_size,
        max_completion_length=args.completion, gradient_accumulation_steps=1, save_strategy="no", logging_steps=1,
        grid_every=0, curriculum=False, warmup_steps=0)
    trainer, _ = grpo_stage.build_trainer(script_args, training_args, model_args, args.backend)
    programs = [generate("textures", 900_000 + i).code for i in range(256)]
    substitute = RealisticPrograms(programs)
    trainer.reward_funcs = [substitute.wrap(f) for f in trainer.reward_funcs]
    torch.cuda.reset_peak_memory_stats()
    trainer.train()

    rows = [json.loads(line) for line in (args.out / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time/generate_and_score_s" in r]
    print(f"\n{torch.cuda.get_device_name()}, backend {args.backend}, image {args.image_size} px, "
          f"group 8, {args.completion} new tokens, peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    print("step  generation_s  render+rewards_s  optimisation_s  step_s  rewards_share")
    for r in rows:
        rewards_s = r["time/rewards_s"]
        generation = r["time/generate_and_score_s"] - rewards_s
        optimisation = max(0.0, r["step_time"] - r["time/generate_and_score_s"])
        print(f"{r['step']:>4}  {generation:>12.2f}  {rewards_s:>16.3f}  {optimisation:>14.2f}  "
              f"{r['step_time']:>6.2f}  {100 * rewards_s / r['step_time']:>12.1f}%")


if __name__ == "__main__":
    main()
