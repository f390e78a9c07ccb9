"""Check GRPO with vLLM generation (`--use_vllm true --vllm_mode colocate`) on a CPU, with vLLM's CPU build.

    bash benchmarks/vllm_cpu_check.sh                     # builds its own venv, then runs this script
    python benchmarks/vllm_cpu_check.py --model runs/tiny-qwen2-vl --steps 4 [--lr 1e-2] [--no-sync]

Trains the tiny recipe through the GRPO stage (`earthshader.training.grpo_stage`) with vLLM sampling the completions, and prints per
step TRL's `sampling/sampling_logp_difference`: the mean gap, per sampled token, between vLLM's
log-probability and the trainer's. It is near zero only if vLLM sees the same prompt, image and weights
as the trainer; `--no-sync` (vLLM keeps the weights it loaded) is the control that shows the gap a
missed weight sync leaves. A high learning rate makes the policy move between steps.

What differs from a GPU, on purpose, and why:
- vLLM's CPU linear kernels are replaced by plain `torch.nn.functional.linear`: the packed kernels fault
  on CPUs whose AMX the VM does not enable, and they free the unpacked weights, which TRL's weight sync
  writes into;
- vLLM runs the model in float32 like the trainer (it would downcast a float32 model to bfloat16), so
  that the gap measures the pipeline, not the dtype; `--dtype auto` keeps vLLM's choice.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path


def use_plain_linears() -> None:
    """vLLM CPU: unpacked weights and torch's matmul (see the module docstring)."""
    import vllm.model_executor.layers.utils as layer_utils
    from vllm import _custom_ops

    _custom_ops._supports_onednn = False
    layer_utils.check_cpu_sgl_kernel = lambda *args, **kwargs: False


def keep_float32() -> None:
    import torch
    import vllm.config.model as model_config

    model_config._resolve_auto_dtype = lambda *args, **kwargs: torch.float32


def skip_weight_sync() -> None:
    from trl.generation import vllm_generation

    vllm_generation.VLLMGeneration.sync_weights = lambda self: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a tiny model or tiny SFT output (python -m earthshader.tiny)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--dtype", choices=["float32", "auto"], default="float32", help="vLLM's dtype")
    parser.add_argument("--no-sync", action="store_true", help="control: never push the trained weights to vLLM")
    parser.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    args = parser.parse_args()

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process, as TRL colocates it
    use_plain_linears()
    if args.dtype == "float32":
        keep_float32()
    if args.no_sync:
        skip_weight_sync()

    from earthshader.training import grpo_stage
    from earthshader.training.recipes import recipe_arguments

    out = Path(args.out or tempfile.mkdtemp(prefix="vllm-check-"))
    grpo_stage.run(*recipe_arguments("grpo", "tiny", model_name_or_path=args.model, output_dir=out,
                                     max_steps=args.steps, logging_steps=1, learning_rate=args.lr,
                                     save_strategy="no", use_vllm=True, vllm_mode="colocate",
                                     vllm_gpu_memory_utilization=0.1, vllm_enable_sleep_mode=False))
    print(f"\nvLLM colocate, {'no weight sync (control)' if args.no_sync else 'weights synced each step'}, "
          f"vLLM dtype {args.dtype}, lr {args.lr}")
    print("step  logp gap mean  logp gap max  compiles  total reward  generate+score s")
    for line in (out / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "sampling/sampling_logp_difference/mean" in row:
            print(f"{row['step']:>4}  {row['sampling/sampling_logp_difference/mean']:>13.5f}  "
                  f"{row['sampling/sampling_logp_difference/max']:>12.3f}  {row['rewards/compiles/mean']:>8.3f}  "
                  f"{row['reward']:>12.3f}  {row['time/generate_and_score_s']:>16.1f}")


if __name__ == "__main__":
    main()
