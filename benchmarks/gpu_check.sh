#!/usr/bin/env bash
# The GPU check in one script, run on a CUDA box with the repository as working directory:
#   1. NVIDIA EGL rendering: benchmarks/render.py at 512 x 512 (bare loop, pool of 1, 8 and 16 workers);
#   2. GRPO: a few steps of a Qwen2-VL-2B-shaped model with random weights, 4-bit, and the time split;
#   3. QLoRA SFT: a Qwen2-VL-7B-shaped model with random weights in 4-bit, peak memory and step time.
# Each stage has its own time limit; a failing stage does not stop the others. Logs go to $OUT
# (or ./gpu-check). Wheels in .whl/ and GL .debs in .gl/ are installed first when present
# (a bare GPU box without internet access); a corpus sample may sit at .gpu_data/real300.jsonl.gz.
set -u
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
if ls .gl/*.deb >/dev/null 2>&1; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia_icd=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$nvidia_icd" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$nvidia_icd
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false COLUMNS=200
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, trl, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__)" | tee -a "$OUT/gpu.txt"
corpus=.gpu_data/real300.jsonl.gz
echo "== render" && timeout ${RENDER_S:-150} python3 benchmarks/render.py --size 512 --workers 8 16 --real 300 --corpus "$corpus" 2>&1 | tee "$OUT/render.txt"
echo "== grpo" && timeout ${GRPO_S:-200} python3 benchmarks/gpu_grpo.py --steps 3 2>&1 | grep -v Warning | tee "$OUT/grpo.txt"
echo "== sft" && timeout ${SFT_S:-220} python3 benchmarks/gpu_sft.py --steps 4 2>&1 | grep -v Warning | tee "$OUT/sft.txt"
echo "== done"
