"""QLoRA SFT on a Qwen2-VL-7B-shaped model with random weights: peak GPU memory and step time, no download.

    python benchmarks/gpu_sft.py                 # 6 steps of the grammar-school recipe's batch shape
    python benchmarks/gpu_sft.py --steps 10 --image_size 448 --code_tokens 1024 --batch_size 2

What it does, on one CUDA GPU:
1. builds the tiny model's tokenizer and processor (seconds) and a config with Qwen2-VL-7B-Instruct's sizes
   (28 layers, hidden 3584, vision tower 32 x 1280, vocabulary 152,064) whose special-token ids are that
   tokenizer's; random weights are written to a temporary folder in bfloat16 (about 16 GB of disk);
2. loads that folder with the project's own loader (`earthshader.modeling.load_model`, backend `bnb`: 4-bit
   NF4, double quantisation) and LoRA from the grammar-school recipe;
3. trains with TRL's SFTTrainer on real-size examples (a 448 px image = 256 image tokens, a program of
   about `--code_tokens` tokens), the recipe's batch size, gradient checkpointing and bf16, and prints
   peak memory and the time of each step after the first.

Without CUDA (or without bitsandbytes) it prints why and exits 0. The T4 question: a T4 has 15 GB
usable and no bfloat16; read "peak reserved" against that.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

#: Qwen/Qwen2-VL-7B-Instruct's config.json, less the token ids (set from the tokenizer used here).
QWEN2_VL_7B = {
    "text": {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
             "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 32768,
             "rms_norm_eps": 1e-6, "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                                       "mrope_section": [16, 24, 24]}},
    "vision": {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "num_heads": 16, "mlp_ratio": 4,
               "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
}


def skip_reason() -> str | None:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU visible: this benchmark needs one (the CPU demo is benchmarks/tiny_sft_demo.py)"
    missing = [m for m in ("bitsandbytes", "trl", "peft", "datasets") if importlib.util.find_spec(m) is None]
    if missing:
        return f"missing packages {missing}: pip install bitsandbytes 'trl>=1.15,<1.17' peft datasets"
    return None


#: A shape small enough for `--smoke_cpu` (checks this script's plumbing on a CPU; its figures mean nothing).
SMOKE = {
    "text": {**QWEN2_VL_7B["text"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
             "num_attention_heads": 1, "num_key_value_heads": 1,
             "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [8, 12, 12]}},
    "vision": {**QWEN2_VL_7B["vision"], "depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2},
}


def write_random_model(folder: Path, shape: dict, device: str) -> None:
    """A Qwen2-VL of `shape` with random bf16 weights and the tiny tokenizer's processor, saved to `folder`."""
    import torch
    from transformers import AutoModelForImageTextToText, Qwen2VLConfig

    from earthshader.modeling import load_processor
    from earthshader.modeling.tiny import build_tiny_model

    tiny = build_tiny_model(folder / "tiny", hidden=64, layers=1, vision_depth=1)
    processor = load_processor(str(tiny))
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>",
                                                      "<|vision_end|>", "<|im_end|>", "<|endoftext|>")}
    config = Qwen2VLConfig(
        text_config={**shape["text"], "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
                     "bos_token_id": None},
        vision_config=shape["vision"],
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    start = time.perf_counter()
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder / "model", max_shard_size="4GB")
    processor.save_pretrained(folder / "model")
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    print(f"random Qwen2-VL: {params / 1e9:.2f} B parameters, built and written in {time.perf_counter() - start:.0f} s")


def examples(n: int, image_size: int, code_tokens: int, tokenizer) -> list:
    """`n` pairs: a noise image and a real generator program, repeated to about `code_tokens` tokens."""
    import numpy as np

    from earthshader.data.generators import generate
    from earthshader.data.rows import Row

    rng = np.random.default_rng(0)
    pairs = []
    for i in range(n):
        code = ""
        seed = i * 100
        while len(tokenizer(code).input_ids) < code_tokens:
            code += generate("terrains", seed).code
            seed += 1
        ids = tokenizer(code).input_ids[:code_tokens]
        image = rng.integers(0, 256, (image_size, image_size, 3), dtype=np.uint8)
        pairs.append(Row(code=tokenizer.decode(ids), image=image, source="benchmark", id=str(i)))
    return pairs


def step_timer(cuda: bool):
    """A TrainerCallback that records each optimizer step's wall time in `.times`."""
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self._start = [], 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self._start)

    return StepTimer()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps (the first is not timed)")
    parser.add_argument("--image_size", type=int, default=448)
    parser.add_argument("--code_tokens", type=int, default=1024, help="tokens of code per example")
    parser.add_argument("--batch_size", type=int, default=None, help="default: the grammar-school recipe's")
    parser.add_argument("--grad_accum", type=int, default=1, help="gradient accumulation per timed step")
    parser.add_argument("--workdir", default=None, help="where to write the random weights (default: a temp dir)")
    parser.add_argument("--smoke_cpu", action="store_true", help="check the plumbing on a CPU with a tiny shape")
    args = parser.parse_args()
    reason = None if args.smoke_cpu else skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return

    import torch

    cuda = not args.smoke_cpu
    backend = "bnb" if cuda else "cpu"

    from earthshader import modeling
    from earthshader.modeling import prompts
    from earthshader.training import sft_examples
    from earthshader.training.recipes import recipe_arguments

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gpu-sft-"))
    try:
        write_random_model(workdir, QWEN2_VL_7B if cuda else SMOKE, "cuda" if cuda else "cpu")
        settings = {"model_name_or_path": workdir / "model", "backend": backend, "max_steps": args.steps,
                    "gradient_accumulation_steps": args.grad_accum, "output_dir": workdir / "out",
                    "save_strategy": "no", "logging_steps": 1, "image_size": args.image_size}
        if args.batch_size:
            settings["per_device_train_batch_size"] = args.batch_size
        if not cuda:
            settings |= {"load_in_4bit": False, "bf16": False, "dtype": "float32"}
        script_args, training_args, model_args = recipe_arguments("sft", "grammar-school", **settings)

        start = time.perf_counter()
        model, processor = modeling.load_model(str(workdir / "model"), backend, dtype=model_args.dtype)
        memory = f"{torch.cuda.memory_allocated() / 2**30:.2f} GiB" if cuda else "(CPU)"
        print(f"loaded with backend {backend} in {time.perf_counter() - start:.0f} s; GPU memory after load {memory}")
        lora = modeling.lora_config(model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout)
        batch = training_args.per_device_train_batch_size
        pairs = examples(batch * args.grad_accum * args.steps, args.image_size, args.code_tokens, processor.tokenizer)
        dataset = sft_examples.to_sft_dataset(pairs, args.image_size)
        longest = max(sft_examples.completion_tokens(processor.tokenizer, p.code) for p in pairs)
        prompt = prompts.prompt_tokens(processor, args.image_size)
        training_args.max_length = prompt + longest

        from trl import SFTTrainer

        timer = step_timer(cuda)
        trainer = SFTTrainer(model=model, args=training_args, train_dataset=dataset, processing_class=processor,
                             peft_config=lora, callbacks=[timer])
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
        timed = timer.times[1:] or timer.times
        tokens = batch * args.grad_accum * (prompt + longest)
        if not cuda:
            print(f"smoke run on the CPU passed: {len(timer.times)} steps, {timed[-1]:.1f} s last step")
            return
        peak_alloc = torch.cuda.max_memory_allocated() / 2**30
        peak_reserved = torch.cuda.max_memory_reserved() / 2**30
        print("\n--- QLoRA SFT, Qwen2-VL-7B shape, random weights ---")
        print(f"device            : {torch.cuda.get_device_name()}")
        print(f"batch             : {batch} x accumulation {args.grad_accum}; sequence {prompt + longest} tokens "
              f"({prompts.image_tokens(args.image_size)} image, {prompt} prompt in all, {longest} completion)")
        print(f"gradient ckpt     : {training_args.gradient_checkpointing}; bf16 {training_args.bf16}; "
              f"LoRA r={model_args.lora_r} on the language model")
        print(f"step time         : {sum(timed) / len(timed):.2f} s mean over {len(timed)} steps "
              f"(min {min(timed):.2f}, max {max(timed):.2f}); {tokens / (sum(timed) / len(timed)):.0f} tokens/s")
        print(f"peak GPU memory   : {peak_alloc:.2f} GiB allocated, {peak_reserved:.2f} GiB reserved")
        print(f"fits a 16 GB T4?  : {'yes' if peak_reserved < 14.5 else 'no'} (about 14.5 GiB usable; a T4 has no "
              "bf16: run it with --bf16 false --fp16 true --dtype float16)")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
