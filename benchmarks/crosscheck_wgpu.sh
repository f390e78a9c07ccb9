#!/usr/bin/env bash
# EarthShader against wgpu-shadertoy (a second Shadertoy implementation) on the shared corpus.
# Builds its own venv .venv-crosscheck (wgpu-shadertoy is never a dependency of the package),
# installs Debian's mesa-vulkan-drivers (lavapipe, a CPU Vulkan device) when missing, then runs
# benchmarks/crosscheck_wgpu.py with the project's Python; its flags pass through.
#   bash benchmarks/crosscheck_wgpu.sh                 # the 300 newest 2024 shaders, 128x96, iTime 1
#   bash benchmarks/crosscheck_wgpu.sh --n 20          # a quick look
# Why these versions: wgpu-shadertoy 0.2.0 imports wgpu.gui, which wgpu removed after 0.21.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CROSSCHECK_VENV:-.venv-crosscheck}
PYTHON=${PYTHON:-.venv/bin/python}
if [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] && [ ! -e /usr/share/vulkan/icd.d/lvp_icd.json ]; then
  apt-get install -y -q mesa-vulkan-drivers
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "wgpu-shadertoy==0.2.0" "wgpu==0.21.1"
fi
PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} "$PYTHON" benchmarks/crosscheck_wgpu.py --wgpu-python "$VENV/bin/python" "$@"
