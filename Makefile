# EarthShader: every command sets up what it needs on a fresh machine.
#   make test       install (system EGL/Mesa packages, .venv, CPU torch, the package) and run every test
#   make test-fast  the same without the tests marked slow (those that train a model, run a command's
#                   pipeline in a subprocess, render a sweep of hundreds of programs or wait out a
#                   sandbox limit): under 2 minutes
#   make demo    the main job on the embedded default: tiny model, SFT, GRPO, evaluation, on a CPU
# Override TORCH (e.g. TORCH="torch==2.13.0 --index-url ...") or PYTHON when needed.

PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
SYSTEM_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri glslang-tools
DEMO_DIR ?= runs/demo

.PHONY: setup system-packages test test-fast demo render-examples bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# EGL + Mesa (llvmpipe) for headless rendering, glslang-tools for the GLSL preprocessor every
# shader goes through. Installed when missing and we may (root or sudo).
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "Please install:$$missing (apt-get install$$missing)"; exit 0; fi; \
	echo "Installing$$missing"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing

# torch first, pinned, so that no later step pulls another (multi-GB CUDA) build on a CPU box.
setup: system-packages $(PY)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[test]"

# The tests, the `>>>` examples in the package's docstrings (pyproject's addopts), and the linter.
test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q

# Every test not marked slow (tests/conftest.py fails a test that trains without the mark).
test-fast: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not slow"

render-examples: setup
	@mkdir -p $(DEMO_DIR)
	for f in examples/*.glsl; do \
	  case $$f in *broken*) continue;; esac; \
	  $(PY) -m earthshader.render $$f -o $(DEMO_DIR)/$$(basename $$f .glsl).png --size 512x288 || exit 1; \
	done

# Build the tiny model, SFT it, evaluate, GRPO it, evaluate again; prints the before/after table.
demo: setup
	$(PY) -m earthshader.demo --out $(DEMO_DIR)

bench: setup
	$(PY) benchmarks/render.py

clean:
	rm -rf $(VENV) runs *.egg-info
