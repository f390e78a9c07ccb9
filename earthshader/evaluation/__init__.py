"""Evaluation on held-out targets: generate K programs per target image, render them, report the figures.

    python -m earthshader.eval --model runs/sft-tiny --dataset generator:textures --n 16 --samples 4 --size 84

    from earthshader.evaluation import load_targets
    from earthshader.evaluation.run import evaluate, evaluate_completions
    targets = load_targets("data/textures", n=64, size=224)        # a factory dataset's test split
    report = evaluate(model, processor, targets, samples=1)         # a model already in memory
    report.summary["structure"], report.summary["appearance"], report.summary["baseline_ssim"]
    report.print(); report.write("runs/eval")                       # rich tables; JSON, markdown, PNG

The package spans two layers (docs/architecture.md). Scoring, below `earthshader.answering`: `targets`
(where targets come from), `scoring` (render + per-sample metrics and the two figures, from
`earthshader.image`), `objectives` (structure, appearance, mix), `aggregate` (summaries, best-of-K,
breakdowns), `families` (generator family and parameter distance), `compare` (ShaderEval labels),
`statistics` (paired changes, pooling over seeds). Runs and reports, above it (they use its search
baseline): `run` (`evaluate`, `evaluate_completions`, `evaluate_model`), `report` (`EvalReport` and its
outputs), `comparison` (before/after tables). This module exports the scoring layer only. See docs/eval.md.
"""

from earthshader.evaluation.compare import LABELS, SHADEREVAL_TIMES, compare_many, compare_programs
from earthshader.evaluation.families import detect_family, parameter_distance
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, OBJECTIVES, objective_value
from earthshader.evaluation.targets import Target, TargetError, load_targets

__all__ = [
    "LABELS", "SHADEREVAL_TIMES", "compare_many", "compare_programs", "detect_family", "parameter_distance",
    "DEFAULT_OBJECTIVE", "OBJECTIVES", "objective_value", "Target", "TargetError", "load_targets",
]
