"""Aggregate scored samples into the report's figures: a summary, best-of-K, breakdowns by target group.

    from earthshader.evaluation.aggregate import summarise, best_of_k, breakdown
    summarise([row for rows in scored for row in rows])          # every sample
    {'n_samples': 8, 'compile_rate': 0.75, 'nonflat_rate': 0.5, 'ssim': 0.41, 'baseline_ssim': 0.56, ...,
     'structure': -0.12, 'appearance': 0.31, ...}
    summarise(best_of_k(scored, "mix"))                          # each target's best sample by an objective
    breakdown(scored, targets, lambda t: t.source)               # {source: summary}

Rates are fractions of all samples: `compile_rate` (rendered), `nonflat_rate` (rendered, neither flat
nor black), `flat_rate` (rendered, but flat or black); so compile = non-flat + flat. Similarities and
skills are means over all samples (a failed render counts as a black image, see `scoring`), and every
similarity comes with `baseline_<metric>`: the same metric for the targets' mean-colour images. The two
figures, `structure` and `appearance`, are 0 for those images by definition.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np

from earthshader.evaluation.compare import LABELS
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE, objective_value, ranking_key
from earthshader.evaluation.scoring import SampleScore

#: The keys of a summary, in report order.
SUMMARY_KEYS = (
    "n_targets", "n_samples", "compile_rate", "nonflat_rate", "flat_rate",
    "mse", "baseline_mse", "psnr", "baseline_psnr", "ssim", "baseline_ssim", "ssim_skill",
    "edges", "baseline_edges", "edges_skill", "pixel", "baseline_pixel", "pixel_skill", "structure", "appearance",
    "code_tokens", "code_chars", "well_formed_rate", "truncated_rate",
    "family_match", "params_found", "param_error", "labels", "errors",
)


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return float(np.mean(values)) if values else None


def _rate(flags) -> float | None:
    flags = [bool(f) for f in flags if f is not None]
    return sum(flags) / len(flags) if flags else None


def summarise(rows: list[SampleScore], baselines: dict[int, dict[str, float]] | None = None) -> dict:
    """The summary of `rows` (see the module docstring). `baselines[target]` holds the target's
    mean-colour scores (`TargetScorer.flat_scores`); without it the `baseline_*` keys are None."""
    if not rows:
        return {key: None for key in SUMMARY_KEYS} | {"n_targets": 0, "n_samples": 0, "labels": {}, "errors": {}}
    summary = {
        "n_targets": len({r.target for r in rows}),
        "n_samples": len(rows),
        "compile_rate": _rate(r.rendered for r in rows),
        "nonflat_rate": _rate(r.nonflat for r in rows),
        "flat_rate": _rate(r.rendered and not r.nonflat for r in rows),
    }
    for metric in ("mse", "psnr", "ssim", "edges", "pixel"):
        summary[metric] = _mean(getattr(r, metric) for r in rows)
        summary[f"baseline_{metric}"] = _mean(baselines[r.target][metric] for r in rows) if baselines else None
        if metric in ("ssim", "edges", "pixel"):
            summary[f"{metric}_skill"] = _mean(getattr(r, f"{metric}_skill") for r in rows)
    summary["structure"] = _mean(r.structure for r in rows)
    summary["appearance"] = _mean(r.appearance for r in rows)
    summary["code_tokens"] = _mean(r.tokens for r in rows)
    summary["code_chars"] = _mean(r.chars for r in rows)
    summary["well_formed_rate"] = _rate(r.well_formed for r in rows)
    summary["truncated_rate"] = _rate(r.truncated for r in rows)
    summary["family_match"] = _rate(r.family_match for r in rows)
    readable = sum(r.params_readable or 0 for r in rows)
    summary["params_found"] = sum(r.params_found or 0 for r in rows) / readable if readable else None
    summary["param_error"] = _mean(r.param_error for r in rows)
    labelled = [r.label for r in rows if r.label is not None]
    counts = Counter(labelled)
    summary["labels"] = {label: counts[label] / len(labelled) for label in LABELS if counts[label]}
    summary["errors"] = dict(sorted(Counter(r.error for r in rows if r.error).items()))
    return {key: summary[key] for key in SUMMARY_KEYS}


def best_of_k(scored: list[list[SampleScore]], objective: str = DEFAULT_OBJECTIVE) -> list[SampleScore]:
    """For each target, its sample with the highest `objective` value (the first on ties): an oracle pick."""
    return [max(rows, key=lambda r: ranking_key(objective_value(objective, r.figures))) for rows in scored if rows]


def summarise_best_of_k(scored: list[list[SampleScore]], baselines=None, objective: str = DEFAULT_OBJECTIVE) -> dict:
    """`summarise(best_of_k(...))` plus `any_compile` / `any_nonflat`: targets with at least one such sample."""
    summary = summarise(best_of_k(scored, objective), baselines)
    summary["any_compile"] = _rate(any(r.rendered for r in rows) for rows in scored if rows)
    summary["any_nonflat"] = _rate(any(r.nonflat for r in rows) for rows in scored if rows)
    return summary


def breakdown(scored: list[list[SampleScore]], targets, key: Callable, baselines=None) -> dict[str, dict]:
    """{group: summary of its samples} with targets grouped by `key(target)` (None becomes 'unknown')."""
    groups: dict[str, list[SampleScore]] = {}
    for target, rows in zip(targets, scored):
        value = key(target)
        groups.setdefault("unknown" if value is None else str(value), []).extend(rows)
    return {name: summarise(groups[name], baselines) for name in sorted(groups, key=_natural)}


def _natural(name: str):
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)
