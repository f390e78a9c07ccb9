"""Before/after tables of two models on the same held-out pictures: what the demo and the benchmarks print.

    from earthshader.evaluation.comparison import comparison_table, change_lines, failure_counts
    console.print(comparison_table(before, after, (4, 0.5), "photos", 64))   # evaluate_model's summaries
    for line in change_lines(before, after): console.print(line)           # both figures, paired by target
    console.print(failure_counts(before, after))

`before` and `after` are `earthshader.evaluation.run.evaluate_model`'s summaries ({"greedy": ..., "sampled":
..., optionally "search": ...}). Every table shows both figures, `structure` and `appearance`, beside the
compile and non-flat rates and SSIM with the mean-colour image's SSIM; the flat mean colour scores 0 on both
figures by definition, and the search baseline's row (when `before` has one) says what it was fitted for.
"""

from __future__ import annotations

from rich.table import Table

from earthshader.evaluation.statistics import missed_answers, paired_change

#: (summary key, title) of the before/after table.
COLUMNS = [("compile_rate", "compile"), ("nonflat_rate", "non-flat"), ("ssim", "SSIM"),
           ("baseline_ssim", "flat SSIM"), ("structure", "structure"), ("appearance", "appearance")]
#: The two figures, each with its per-target list in `evaluate_model`'s summaries.
FIGURES = ("structure", "appearance")
#: The two evaluation modes of `evaluate_model`.
MODES = ("greedy", "sampled")


def comparison_table(before: dict, after: dict, sampling: tuple[int, float], kind: str = "procedural targets",
                     n: int | None = None) -> Table:
    """Before/after rows for the greedy answer and for the sampled policy, each with its change; then the
    search baseline's row when `before` has one."""
    count = f"{n} " if n else ""
    table = Table(title=f"Tiny model on {count}held-out pictures, {kind}: before and after GRPO", title_justify="left",
                  caption="greedy: one answer per picture; N×T: N sampled answers per picture at temperature T, "
                          "as GRPO samples. compile, non-flat: share of answers; structure: mean SSIM, edge and pixel "
                          "skill over the mean-colour image; appearance: the same skill of texture statistics and "
                          "palette (both: 0 = no better than the flat mean colour, 1 = exact)",
                  caption_justify="left")
    table.add_column("", no_wrap=True)
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    samples, temperature = sampling
    for mode, label in (("greedy", "greedy"), ("sampled", f"{samples}×T{temperature:g}")):
        for name, summaries in (("SFT", before), ("SFT + GRPO", after)):
            table.add_row(f"{name}, {label}", *(_cell(summaries[mode].get(key)) for key, _ in COLUMNS))
        table.add_row("change", *(_change(before[mode].get(key), after[mode].get(key)) for key, _ in COLUMNS),
                      end_section=True)
    if "search" in before:
        search = before["search"]
        table.add_row(f"search ({search.get('objective')}), {search['budget']} renders",
                      *(_cell(search.get(key)) for key, _ in COLUMNS))
    return table


def change_lines(before: dict, after: dict, kind: str = "") -> list[str]:
    """One line per figure: its change from `before` to `after` in each mode, paired by target ± the standard
    error over targets (`statistics.paired_change`)."""
    prefix = f"{kind}: " if kind else ""
    return [prefix + f"{figure} change (paired by target, ± standard error): " + ", ".join(
        f"{mode} {paired_change(before[mode][f'target_{figure}'], after[mode][f'target_{figure}'])}"
        for mode in MODES) for figure in FIGURES]


def changes(before: dict, after: dict) -> dict:
    """{figure: {mode: {"mean", "standard_error", "targets"}}}: the paired changes, for a JSON record."""
    out = {}
    for figure in FIGURES:
        out[figure] = {}
        for mode in MODES:
            mean, se, n = paired_change(before[mode][f"target_{figure}"], after[mode][f"target_{figure}"])
            out[figure][mode] = {"mean": mean, "standard_error": se, "targets": n}
    return out


def failure_counts(before: dict, after: dict) -> str:
    """The answers that fail to render, and those that fail or are flat, counted before -> after GRPO for
    each mode: the rates in the table round one broken answer in a thousand away, counts do not."""

    def missed(summary: dict, rate: str) -> str:
        return f"{missed_answers(summary, rate)} of {summary['n_samples']}"

    return "answers that fail to render | fail or are flat, SFT → SFT + GRPO: " + "; ".join(
        f"{mode} {missed(before[mode], 'compile_rate')} → {missed(after[mode], 'compile_rate')} | "
        f"{missed(before[mode], 'nonflat_rate')} → {missed(after[mode], 'nonflat_rate')}"
        for mode in MODES)


def figures(summary: dict) -> dict:
    """A summary's table figures, for a JSON record."""
    return {key: summary.get(key) for key, _ in COLUMNS}


def _cell(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _change(before, after) -> str:
    return "—" if before is None or after is None else f"{after - before:+.3f}"
