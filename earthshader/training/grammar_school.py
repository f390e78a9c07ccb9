"""The grammar school the picture benchmarks and the demo start from: the tiny SFT recipe on programs of the
`primitives` families and `gradient` only (`earthshader.data.picture_kinds.GRAMMAR_SCHOOL`), so no picture-only
kind has programs the model was taught.

    from earthshader.training.grammar_school import grammar_school
    start = grammar_school(Path("runs/gs"), base=Path("runs/tiny-qwen2-vl"))   # trained once, then reused

The base model is built when it is missing (the tiny recipe's `build_tiny_model`).
"""

from __future__ import annotations

from pathlib import Path

from earthshader.data.picture_kinds import GRAMMAR_SCHOOL


def grammar_school(output_dir: Path, *, base: Path, flags=GRAMMAR_SCHOOL, reuse: bool = True, **overrides) -> Path:
    """The grammar school at `output_dir`: the model saved there when `reuse` and a finished run is there, else
    trained from `base` with the SFT command line `flags` and Python `overrides`."""
    from earthshader.modeling.run_info import RUN_INFO
    from earthshader.training import sft_stage
    from earthshader.training.recipes import recipe_arguments

    output_dir = Path(output_dir)
    if reuse and (output_dir / RUN_INFO).exists():
        return output_dir
    return sft_stage.run(*recipe_arguments("sft", flags=list(flags), output_dir=output_dir,
                                           model_name_or_path=base, **overrides))
