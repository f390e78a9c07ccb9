"""ShaderEval-style labels for a generated program against a reference program.

    from earthshader.evaluation.compare import compare_programs, SHADEREVAL_TIMES
    compare_programs(generated_code, reference_code)               # renders both at the 10 iTimes
    'c4-clone'
    compare_programs(code, code)                                    # no render needed
    'c0-clone'

The labels follow the ShaderEval benchmark's `shadermatch` metric (Hugging Face space
Vipitis/shadermatch), checked in this order:

| label | meaning |
| --- | --- |
| `c0-clone` | the same text |
| `c1-clone` | the same code up to whitespace and comments (`earthshader.data.build.normalise_code`) |
| `code_error` | the generated program does not render (compile error, loop limit, timeout, crash, no `mainImage`) |
| `c4-clone` | different code, identical renders at every `iTime` in `SHADEREVAL_TIMES` |
| `single_color` | every frame of the generated program is one colour (`metrics.is_flat`) |
| `variation` | renders, but differs from the reference in at least one frame |
| `reference_error` | (ours) the reference itself does not render, so nothing can be compared |

ShaderEval's `c2-clone` (same code up to identifier names) and `incomplete_generation` are not
produced here: renaming is not detected, and a program cut off by the length limit is a `code_error`.
"Identical" means pixel-identical (`tolerance=0`, as ShaderEval); pass a tolerance in grey levels to
forgive float rounding between equivalent programs.
"""

from __future__ import annotations

import numpy as np

from earthshader.data.build import normalise_code
from earthshader.image.metrics import is_flat

#: The iTime values at which ShaderEval compares frames.
SHADEREVAL_TIMES = (0.0, 0.1, 0.2, 0.5, 1.0, 1.6787, 2.0, 2.31, 3.333, 17.0)

#: Every label `compare_programs` can return, best first.
LABELS = ("c0-clone", "c1-clone", "c4-clone", "variation", "single_color", "code_error", "reference_error")

#: The size (width, height) at which `compare_programs` renders when none is given.
DEFAULT_COMPARE_SIZE = (128, 128)


def text_label(generated: str, reference: str) -> str | None:
    """`c0-clone` or `c1-clone` when the texts already decide, else None (the renders must)."""
    if generated == reference:
        return "c0-clone"
    if normalise_code(generated) == normalise_code(reference):
        return "c1-clone"
    return None


def frames_label(generated_frames, reference_frames, tolerance: int = 0) -> str:
    """The label from two programs' frames at the same times; None / [] frames mean 'did not render'.

    `tolerance`: the largest per-channel difference (grey levels) still counted as identical.
    """
    if not reference_frames:
        return "reference_error"
    if not generated_frames:
        return "code_error"
    if len(generated_frames) != len(reference_frames):
        raise ValueError(f"got {len(generated_frames)} generated frames for {len(reference_frames)} reference frames")
    same = all(
        a.shape == b.shape and int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) <= tolerance
        for a, b in zip(generated_frames, reference_frames)
    )
    if same:
        return "c4-clone"
    if all(is_flat(frame) for frame in generated_frames):
        return "single_color"
    return "variation"


def compare_programs(generated: str, reference: str, times=SHADEREVAL_TIMES, size=DEFAULT_COMPARE_SIZE,
                     pool=None, tolerance: int = 0) -> str:
    """One of `LABELS` for `generated` against `reference` (see the module docstring).

    Renders both programs at every `iTime` in `times` at `size` = (width, height), through `pool` (a
    `RenderPool`) or the process's shared sandbox worker. Never raises for a bad program.
    """
    return compare_many([(generated, reference)], times, size, pool, tolerance)[0]


def compare_many(pairs, times=SHADEREVAL_TIMES, size=DEFAULT_COMPARE_SIZE, pool=None, tolerance: int = 0) -> list[str]:
    """`compare_programs` for many (generated, reference) pairs, with one batched render."""
    pairs = list(pairs)
    labels: list[str | None] = [text_label(g, r) for g, r in pairs]
    pending = [i for i, label in enumerate(labels) if label is None]
    if pending:
        codes = [code for i in pending for code in pairs[i]]
        width, height = size
        if pool is None:
            from earthshader.render import render

            results = [render(code, width, height, times=list(times)) for code in codes]
        else:
            results = pool.render_many(codes, width=width, height=height, times=list(times))
        for k, i in enumerate(pending):
            generated, reference = results[2 * k], results[2 * k + 1]
            labels[i] = frames_label(generated.frames if generated.ok else None,
                                     reference.frames if reference.ok else None, tolerance)
    return labels
