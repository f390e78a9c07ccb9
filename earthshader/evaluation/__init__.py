"""Evaluation on held-out targets: generate K programs per target image, render them, report the figures.

    python -m earthshader.eval --model runs/sft-tiny --dataset generator:textures --n 16 --samples 4 --size 84

    from earthshader.evaluation import evaluate, evaluate_completions, load_targets, compare_programs
    targets = load_targets("data/textures", n=64, size=224)        # a factory dataset's test split
    report = evaluate(model, processor, targets, samples=1)         # a model already in memory
    report.summary["ssim"], report.summary["baseline_ssim"], report.summary["skill"]
    report.print(); report.write("runs/eval")                       # rich tables; JSON, markdown, PNG

Modules: `targets` (where targets come from), `scoring` (render + per-sample metrics, from
`earthshader.image.metrics`), `aggregate` (summaries, best-of-K, breakdowns), `families` (generator family
and parameter distance), `compare` (ShaderEval labels), `report` (`EvalReport` and its outputs),
`run` (`evaluate`, `evaluate_completions`). See docs/eval.md.
"""

from earthshader.evaluation.compare import LABELS, SHADEREVAL_TIMES, compare_many, compare_programs
from earthshader.evaluation.families import detect_family, parameter_distance
from earthshader.evaluation.report import EvalReport
from earthshader.evaluation.run import evaluate, evaluate_completions
from earthshader.evaluation.targets import Target, TargetError, load_targets

__all__ = [
    "LABELS", "SHADEREVAL_TIMES", "compare_many", "compare_programs", "detect_family", "parameter_distance",
    "EvalReport", "evaluate", "evaluate_completions", "Target", "TargetError", "load_targets",
]
