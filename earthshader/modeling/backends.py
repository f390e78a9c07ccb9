"""Which backend loads and trains the model: Unsloth, transformers + bitsandbytes (4-bit), or full precision on a CPU.

| backend   | when                                   | what                                                    |
| --------- | -------------------------------------- | ------------------------------------------------------- |
| `unsloth` | CUDA and the `unsloth` package         | Unsloth's `FastVisionModel` in 4-bit (QLoRA)            |
| `bnb`     | CUDA and `bitsandbytes`                | transformers + bitsandbytes 4-bit NF4 (QLoRA)           |
| `cpu`     | otherwise                              | full precision (float32) weights, LoRA on top           |

`load_in_4bit: false` in a recipe loads 16-bit weights (LoRA instead of QLoRA) on either GPU backend.

Unsloth patches trl, transformers and peft when it is imported, so it must be imported first. An entry
point therefore decides the backend before it imports any of them (`select_backend`), reading the
`--backend` flag or the recipe with `earthshader.training.recipes.backend_from_argv`:

    >>> choose_backend("cpu")
    'cpu'
    >>> choose_backend("tpu")
    Traceback (most recent call last):
    ...
    earthshader.modeling.backends.BackendError: unknown backend 'tpu'; valid: auto, unsloth, bnb, cpu

This module imports no transformers, peft or unsloth at import time.
"""

from __future__ import annotations

import importlib.util
import sys

from earthshader.errors import UsageError

BACKENDS = ("auto", "unsloth", "bnb", "cpu")


class BackendError(UsageError, RuntimeError, ValueError):
    """A backend this machine cannot run (no CUDA GPU, a package missing) or that does not exist."""


def _has_package(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def cuda_available() -> bool:
    import torch  # torch itself may come before unsloth; trl / transformers / peft may not

    return torch.cuda.is_available()


def choose_backend(requested: str = "auto") -> str:
    """The backend to use: `requested` checked against this machine, or the best one for `"auto"`."""
    if requested not in BACKENDS:
        raise BackendError(f"unknown backend {requested!r}; valid: {', '.join(BACKENDS)}")
    cuda = cuda_available()
    if requested == "auto":
        if cuda and _has_package("unsloth"):
            return "unsloth"
        if cuda and _has_package("bitsandbytes"):
            return "bnb"
        return "cpu"
    if requested in ("unsloth", "bnb") and not cuda:
        raise BackendError(f"backend {requested!r} needs a CUDA GPU and none is visible; use --backend cpu or auto")
    if requested == "unsloth" and not _has_package("unsloth"):
        raise BackendError("backend 'unsloth' needs the unsloth package: pip install 'earthshader[gpu]'")
    if requested == "bnb" and not _has_package("bitsandbytes"):
        raise BackendError("backend 'bnb' needs the bitsandbytes package: pip install bitsandbytes")
    return requested


def select_backend(requested: str = "auto") -> str:
    """`choose_backend`, then import Unsloth if it won, before anything imports trl / transformers / peft."""
    backend = choose_backend(requested)
    if backend == "unsloth" and "unsloth" not in sys.modules:  # imported already: it patched them then
        clashing = [m for m in ("trl", "transformers", "peft") if m in sys.modules]
        if clashing:
            raise RuntimeError(
                f"unsloth must be imported before {', '.join(clashing)}: call select_backend() at the top of the "
                "entry point, before importing them"
            )
        import unsloth  # noqa: F401  (patches trl / transformers / peft)
    return backend
