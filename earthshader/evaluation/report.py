"""`EvalReport`: the figures of one evaluation, and how they are written: a rich table, JSON, markdown, a PNG.

    report = evaluate(model, processor, targets)        # earthshader.evaluation.run
    report.print()                                       # rich tables on the terminal
    report.write("runs/eval")                            # report.json, report.md, contact_sheet.png
    report.to_dict()                                     # what report.json holds

Every table puts the mean-colour baseline (a program that learnt nothing but the colour) and the
reference programs beside the model, and the non-flat rate beside every similarity: a model that
answers with flat images can raise plain SSIM (stack notes, "the reward-hacking trap").
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from earthshader.evaluation.picture_dependence import dependence_line

#: (summary key, column title, format) of the main table.
MAIN_COLUMNS = (
    ("compile_rate", "compile", "pct"), ("nonflat_rate", "non-flat", "pct"), ("mse", "MSE", "f4"),
    ("psnr", "PSNR dB", "f1"), ("ssim", "SSIM", "f3"), ("edges", "edges", "f3"), ("pixel", "pixel", "f3"),
    ("ssim_skill", "SSIM skill", "f3"), ("structure", "structure", "f3"), ("appearance", "appearance", "f3"),
    ("code_tokens", "tokens", "f0"),
)

#: Columns of the table on the programs' form and length.
PROGRAM_COLUMNS = (
    ("well_formed_rate", "one ```glsl block", "pct"), ("truncated_rate", "cut off", "pct"),
    ("code_tokens", "tokens", "f0"), ("code_chars", "characters", "f0"),
)

#: Columns of the breakdown tables (by source, difficulty, family).
GROUP_COLUMNS = (
    ("n_targets", "targets", "int"), ("compile_rate", "compile", "pct"), ("nonflat_rate", "non-flat", "pct"),
    ("ssim", "SSIM", "f3"), ("baseline_ssim", "flat SSIM", "f3"), ("edges", "edges", "f3"),
    ("structure", "structure", "f3"), ("appearance", "appearance", "f3"),
    ("search_structure", "search S", "f3"), ("search_appearance", "search A", "f3"),
    ("family_match", "family", "pct"), ("params_found", "params found", "pct"), ("param_error", "param error", "f2"),
)

#: Columns of the turns table (`--turns N`): (key of a turn's row, `turn_row`, column title, format).
TURN_COLUMNS = (
    ("compile_rate", "compile", "pct"), ("nonflat_rate", "non-flat", "pct"), ("structure", "structure", "f3"),
    ("appearance", "appearance", "f3"), ("best_structure", "best of K S", "f3"),
    ("best_appearance", "best of K A", "f3"), ("structure_change", "S - turn 1", "change"),
    ("appearance_change", "A - turn 1", "change"), ("repaired", "repaired", "pct"),
)

TURNS_NOTE = (
    "Each of a target's K samples starts an episode: after each answer the model sees its render beside the "
    "target (and the difference map, the figures or the renderer's messages) and writes a whole new program. "
    "The model's rows above are the last turn's. S/A - turn 1: the paired change of each target's mean figure "
    "from turn 1, ± its standard error over targets; repaired: of the samples that did not render at turn 1, the "
    "share that renders at this turn."
)

FIGURES_NOTE = (
    "structure: mean of the SSIM, edge and pixel skills, (s - s_flat) / (1 - s_flat) against the target's "
    "mean-colour image (do the features line up?); appearance: the same skill of texture statistics and palette "
    "(the same look anywhere). Both: 0 = no better than a flat image of the right colour, 1 = a perfect match, "
    "< 0 worse than flat (floored at -1). A program that fails to render is scored as a black image. SSIM is "
    "single-scale colour SSIM; identical images count as 100 dB PSNR."
)


def search_note(objective: str) -> str:
    """What the search baseline's row is, for the terminal and the markdown report."""
    return (f"search: no model; each generator family's programs screened against the target, the best fitted "
            f"for {objective} by re-rendering, the best kept (earthshader.answering.search).")


def fmt(value, kind: str) -> str:
    """A figure for a table: '—' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind == "pct":
        return f"{value:.0%}"
    if kind == "int":
        return str(int(value))
    if kind == "change":  # a paired change: {"mean", "standard_error", "n"}
        mean, error = (value.get(key) for key in ("mean", "standard_error"))
        if mean is None or math.isnan(mean):
            return "—"
        return f"{mean:+.3f}" + ("" if error is None or math.isnan(error) else f" ± {error:.3f}")
    return f"{value:.{int(kind[1:])}f}"  # f0 .. f4: fixed decimals


def jsonable(value):
    """NaN and infinities become None (JSON has neither); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def report_console():
    """The console reports print to: the terminal's width, or 140 columns when the output is a file or a pipe (rich
    would take 80 and cut the tables' figures)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=140)


@dataclass
class EvalReport:
    """Summaries (`summary`: all samples; `best_of_k`; `baselines`), breakdowns, timing and the rows behind them."""

    settings: dict
    summary: dict
    best_of_k: dict
    baselines: dict
    by_source: dict
    by_difficulty: dict
    by_family: dict
    timing: dict
    # own figure minus another picture's (`evaluation.picture_dependence`); empty when no target has a partner
    picture_dependence: dict = field(default_factory=dict)
    targets: list = field(default_factory=list, repr=False)
    scored: list = field(default_factory=list, repr=False)
    reference_rows: list = field(default_factory=list, repr=False)
    completions: list = field(default_factory=list, repr=False)
    # per target, (SampleScore, SearchResult) of the search baseline
    search: list = field(default_factory=list, repr=False)
    # look and fix (`turns` > 1): one entry a turn (`run.turn_entries`), and per turn the rows and completions
    turns: list = field(default_factory=list)
    turn_scored: list = field(default_factory=list, repr=False)
    turn_completions: list = field(default_factory=list, repr=False)

    def search_rows(self) -> list[list]:
        """Per target, the search baseline's scored row in a list of one (empty without a search)."""
        return [[row] for row, _ in self.search]

    def group_columns(self) -> tuple:
        """`GROUP_COLUMNS`, less the search baseline's figures when no search ran."""
        searched = "search" in self.baselines
        return tuple(c for c in GROUP_COLUMNS if searched or not c[0].startswith("search_"))

    def table_rows(self) -> list[tuple[str, dict]]:
        k = self.settings.get("samples", 1)
        last = f", turn {len(self.turns)}" if self.turns else ""
        rows = [(f"model{last}", self.summary)]
        if k > 1:
            rows.append((f"model, best of {k}{last}", self.best_of_k))
        rows += [("baseline: mean colour", self.baselines["mean_colour"])]
        if "search" in self.baselines:
            search = self.baselines["search"]
            rows.append((f"baseline: search ({search.get('objective')}), {search['budget']} renders", search))
        return rows + [("baseline: reference programs", self.baselines["reference"])]

    def turn_rows(self) -> list[tuple[str, dict]]:
        """The turns table: per turn its rates, figures, best-of-K figures, paired change and repair rate."""
        rows = []
        for entry in self.turns:
            summary, best, change = entry["summary"], entry["best_of_k"], entry["change_from_turn_1"]
            rows.append((f"turn {entry['turn']}", {
                "compile_rate": summary["compile_rate"], "nonflat_rate": summary["nonflat_rate"],
                "structure": summary["structure"], "appearance": summary["appearance"],
                "best_structure": best["structure"], "best_appearance": best["appearance"],
                "structure_change": change["structure"], "appearance_change": change["appearance"],
                "repaired": entry["repaired"]["rate"]}))
        return rows

    def turn_columns(self) -> tuple:
        """`TURN_COLUMNS` with K written out, less best of K for one sample a target."""
        k = self.settings.get("samples", 1)
        return tuple((key, title.replace("K", str(k)), kind) for key, title, kind in TURN_COLUMNS
                     if k > 1 or not key.startswith("best_"))

    def to_dict(self) -> dict:
        """Everything in report.json: settings, figures, timing, and per target its samples' code and scores (with
        `turns` > 1: `turns`, one entry a turn, and each sample's `turns`, its row and completion at every turn)."""
        per_target = []
        completions = self.completions or [[None] * len(rows) for rows in self.scored]
        for i, (target, rows, reference, texts) in enumerate(zip(self.targets, self.scored, self.reference_rows,
                                                                 completions)):
            samples = [_row_dict(r) | {"completion": text} for r, text in zip(rows, texts)]
            if self.turns:
                for k, sample in enumerate(samples):
                    sample["turns"] = [_row_dict(scored[i][k]) | {"turn": t, "completion": texts_t[i][k]}
                                       for t, (scored, texts_t) in enumerate(zip(self.turn_scored,
                                                                                 self.turn_completions), start=1)]
            per_target.append({
                "id": target.id, "source": target.source, "family": target.family, "difficulty": target.difficulty,
                "reference": _row_dict(reference) if target.program else None,
                "samples": samples,
            })
        search = [{"id": target.id, **_row_dict(row), "origin": found.origin, "renders": found.renders,
                   "seconds": found.seconds, "refined": found.refined, "notes": found.notes}
                  for target, (row, found) in zip(self.targets, self.search)]
        return jsonable({
            "settings": self.settings, "summary": self.summary, "best_of_k": self.best_of_k,
            "baselines": self.baselines, "by_source": self.by_source, "by_difficulty": self.by_difficulty,
            "by_family": self.by_family, "picture_dependence": self.picture_dependence, "timing": self.timing,
            "targets": per_target,
        } | ({"turns": self.turns} if self.turns else {}) | ({"search": search} if search else {}))

    def write(self, out: str | Path, sheet_targets: int = 12) -> dict[str, Path]:
        """Write report.json, report.md and contact_sheet.png into `out`; returns their paths."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "report.json", "markdown": out / "report.md", "sheet": out / "contact_sheet.png"}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        contact_sheet(self, sheet_targets).save(paths["sheet"])
        paths["markdown"].write_text(self.markdown(paths["sheet"].name))
        return paths

    # --- markdown -----------------------------------------------------------------------------------

    def markdown(self, sheet_name: str | None = "contact_sheet.png") -> str:
        s = self.settings
        lines = ["# EarthShader evaluation", "", _settings_line(s), ""]
        lines += ["## Summary", "", *_md_table("", MAIN_COLUMNS, self.table_rows()), "", FIGURES_NOTE, ""]
        if line := dependence_line(self.picture_dependence):
            lines += [line, ""]
        if "search" in self.baselines:
            from earthshader.answering.search import cost_line

            search = self.baselines["search"]
            lines += [search_note(search.get("objective")) + " " + cost_line(search) + ".", ""]
        if self.settings.get("samples", 1) > 1:
            lines += [f"Best of {s['samples']}: the sample with the highest {s.get('objective')} per target (an oracle "
                      f"pick); "
                      f"{fmt(self.best_of_k.get('any_compile'), 'pct')} of targets have a sample that compiles, "
                      f"{fmt(self.best_of_k.get('any_nonflat'), 'pct')} one that is not flat.", ""]
        if self.turns:
            lines += [f"## Turns ({len(self.turns)} a sample)", "", *_md_table("", self.turn_columns(),
                                                                           self.turn_rows()), "", TURNS_NOTE, ""]
        programs = [("model", self.summary), ("baseline: reference programs", self.baselines["reference"])]
        lines += ["## Programs", "", *_md_table("", PROGRAM_COLUMNS, programs), ""]
        if self.summary.get("errors"):
            lines += ["Render failures: " + ", ".join(f"{k} {v}" for k, v in self.summary["errors"].items()), ""]
        labels = [(name, summary) for name, summary in self.table_rows() if summary.get("labels")]
        if labels:
            from earthshader.evaluation.compare import LABELS

            columns = tuple((label, label, "pct") for label in LABELS)
            rows = [(name, summary["labels"] | {k: 0.0 for k in LABELS if k not in summary["labels"]})
                    for name, summary in labels]
            lines += ["## ShaderEval labels", "", "Against the reference program, frames at iTime "
                      "0, 0.1, 0.2, 0.5, 1, 1.6787, 2, 2.31, 3.333, 17 (`earthshader.evaluation.compare`).", "",
                      *_md_table("", columns, rows), ""]
        for title, groups in (("By family", self.by_family), ("By source", self.by_source),
                              ("By difficulty", self.by_difficulty)):
            if groups:
                lines += [f"## {title}", "", *_md_table("", self.group_columns(), list(groups.items())), ""]
        if self.by_family:
            lines += ["family: the program uses the target's generator family (detected by its function and variable "
                      "names); params found: generator parameters readable in the reference that the output sets "
                      "at the same place; param error: their mean relative error (0 exact, 1 far off).", ""]
        lines += ["## Timing", "", *[f"- {k}: {v:.3f}" for k, v in self.timing.items()], ""]
        if sheet_name:
            shown = "the first sample's turns" if self.turns else "the samples"
            lines += ["## Contact sheet", "", f"Target, then {shown} (S: structure, A: appearance under each).", "",
                      f"![contact sheet]({sheet_name})", ""]
        return "\n".join(lines)

    # --- terminal -----------------------------------------------------------------------------------

    def print(self, console=None) -> None:
        """Rich tables: the summary with both baselines, then the breakdowns."""
        from rich.markup import escape
        from rich.table import Table

        console = console or report_console()
        table = Table(title="EarthShader evaluation", caption=escape(_settings_line(self.settings)))
        table.add_column("", no_wrap=True)  # a row is named on one line: "baseline: reference programs"
        for _, title, _ in MAIN_COLUMNS:
            table.add_column(title, justify="right")
        for name, summary in self.table_rows():
            table.add_row(escape(name), *(fmt(summary.get(key), kind) for key, _, kind in MAIN_COLUMNS))
        console.print(table)
        console.print(FIGURES_NOTE, style="dim")
        if line := dependence_line(self.picture_dependence):
            console.print(line)
        if self.turns:
            turns = Table(title=f"Every turn ({len(self.turns)} a sample)")
            turns.add_column("", no_wrap=True)
            for _, title, _ in self.turn_columns():
                turns.add_column(title, justify="right")
            for name, row in self.turn_rows():
                turns.add_row(name, *(fmt(row.get(key), kind) for key, _, kind in self.turn_columns()))
            console.print(turns)
            console.print(TURNS_NOTE, style="dim")
        if "search" in self.baselines:
            from earthshader.answering.search import cost_line

            console.print(cost_line(self.baselines["search"]))
        for title, groups in (("by family", self.by_family), ("by source", self.by_source),
                              ("by difficulty", self.by_difficulty)):
            if len(groups) > 1 or (groups and title == "by family"):
                group_table = Table(title=title)
                group_table.add_column("")
                for _, column, _ in self.group_columns():
                    group_table.add_column(column, justify="right")
                for name, summary in groups.items():
                    group_table.add_row(escape(str(name)),
                                        *(fmt(summary.get(key), kind) for key, _, kind in self.group_columns()))
                console.print(group_table)
        if self.summary.get("labels"):
            console.print("ShaderEval labels: " + ", ".join(f"{k} {v:.0%}" for k, v in self.summary["labels"].items()))


def _row_dict(row) -> dict:
    keys = ("sample", "code", "chars", "tokens", "rendered", "error", "flat", "black", "mse", "psnr", "ssim", "edges",
            "pixel", "ssim_skill", "edges_skill", "pixel_skill", "structure", "appearance", "well_formed", "truncated",
            "family", "family_match", "params_readable", "params_found", "param_error", "label")
    return {key: getattr(row, key) for key in keys}


def _settings_line(s: dict) -> str:
    parts = [f"model {s['model']}" if s.get("model") else None,
             f"adapter {s['adapter']}" if s.get("adapter") else None,
             f"dataset {s['dataset']}" if s.get("dataset") else None,
             (f"split {s['split']}" if s.get("split") and not str(s.get("dataset", "")).startswith("generator:")
              else None),
             f"{s.get('n_targets')} targets x {s.get('samples')} samples",
             f"{s['turns']} turns" if s.get("turns") else None,
             f"{s.get('size')} px", f"temperature {s['temperature']}" if "temperature" in s else None,
             f"seed {s['seed']}" if "seed" in s else None]
    return " · ".join(p for p in parts if p)


def _md_table(corner: str, columns, rows) -> list[str]:
    lines = ["| " + " | ".join([corner, *(title for _, title, _ in columns)]) + " |",
             "| --- |" + " ---: |" * len(columns)]
    for name, summary in rows:
        lines.append("| " + " | ".join([name, *(fmt(summary.get(key), kind) for key, _, kind in columns)]) + " |")
    return lines


# --- contact sheet ---------------------------------------------------------------------------------

def contact_sheet(report: EvalReport, max_targets: int = 12, max_samples: int = 4, tile: int = 128):
    """A PIL image: one row per target (the first `max_targets`): the target, then up to `max_samples` renders (with
    turns: its first sample at every turn)."""
    from PIL import Image, ImageDraw, ImageFont

    scored = ([[turn[i][0] for turn in report.turn_scored] for i in range(len(report.targets))] if report.turn_scored
              else report.scored)
    max_samples = max(max_samples, len(report.turn_scored))
    rows = list(zip(report.targets, scored))[:max_targets]
    columns = 1 + min(max_samples, max((len(s) for _, s in rows), default=0))
    caption, pad = 14, 4
    cell_w, cell_h = tile + pad, tile + caption + pad
    sheet = Image.new("RGB", (max(1, columns * cell_w + pad), max(1, len(rows) * cell_h + pad)), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for r, (target, samples) in enumerate(rows):
        y = pad + r * cell_h
        cells = [(target.image, f"{target.id}"[:20], (230, 230, 230))]
        for row in samples[:max_samples]:
            if row.rendered:
                text = f"S {fmt(row.structure, 'f2')} A {fmt(row.appearance, 'f2')}" + ("" if row.nonflat else " flat")
                cells.append((row.image, text, (230, 230, 230)))
            else:
                cells.append((row.image, row.error or "failed", (255, 110, 110)))
        for c, (image, text, colour) in enumerate(cells):
            x = pad + c * cell_w
            tile_image = Image.fromarray(np.asarray(image, dtype=np.uint8))
            tile_image = tile_image.resize((tile, tile), Image.Resampling.NEAREST)
            sheet.paste(tile_image, (x, y))
            draw.text((x, y + tile + 1), text, fill=colour, font=font)
    return sheet
