"""Evaluation targets: the rows of `earthshader.data.rows.load_rows`, with the reference program kept for scoring.

    from earthshader.evaluation.targets import load_targets
    targets = load_targets("data/textures", n=64, size=224)           # the dataset's test split
    targets = load_targets("generator:textures", n=16, size=64)        # rendered here, seeds 1,000,000+
    targets = load_targets("photos/", size=84)                         # pictures: no reference program
    targets = load_targets("renders:../shared/data/shadertoys.jsonl.gz?time=1", n=32, size=84)
    t = targets[0]
    t.image, t.code, t.reference, t.program, t.source, t.family, t.difficulty, t.params, t.time

Every SPEC of `load_rows` works here (docs/pictures.md); the split defaults to `test`. A target is a
`Row`. Pictures someone asked to be answered are answered: the training filter is off (`judged=False`), and
only a picture that cannot be scored (a flat one) is refused, by name; expert iteration, which trains on
its pictures, passes `judged=True`. A code-withheld render (`renders:`) keeps its program in `reference` and
never in `code` (anything that reads a target's `code` may show it to a learner): scoring reads `program`
(`code`, else `reference`) for the report's reference baseline (the pipeline check), the ShaderEval labels
and the parameter distance. Pictures have no program (both ""): no reference row, no labels.

`generator:NAME` renders fresh programs from seed `start` (default 1,000,000, far from the seeds training
draws from). Level-0 programs have few parameters, so such a target can still repeat a training program; a
factory dataset's test split, or `renders:`'s, split by a hash of the code, never does.
"""

from __future__ import annotations

from earthshader.data.rows import GENERATOR_PREFIX, HELD_OUT_SEED, Row, generated_targets, load_rows
from earthshader.data.sources import SourceError
from earthshader.modeling import prompts

#: One target: the loader's row type.
Target = Row

#: The loader's error: a spec that gives no targets (missing, wrong columns, empty, unknown generator).
TargetError = SourceError

__all__ = ["GENERATOR_PREFIX", "HELD_OUT_SEED", "Target", "TargetError", "generated_targets", "load_targets"]


def load_targets(dataset: str, *, split: str = "test", n: int | None = None, seed: int = 0,
                 size: int = prompts.DEFAULT_IMAGE_SIZE, start: int = HELD_OUT_SEED, pool=None,
                 difficulty: int | None = None, judged: bool = False) -> list[Target]:
    """Targets from `dataset` (any `load_rows` spec), `prompts.image_size(size)` square."""
    return load_rows(dataset, split=split, n=n, seed=seed, size=size, start=start, pool=pool, difficulty=difficulty,
                     judged=judged)
