"""Exactness against a second Shadertoy implementation: EarthShader and wgpu-shadertoy side by side.

    bash benchmarks/crosscheck_wgpu.sh [--n 300] [--year 2024] [--size 128x96] [--time 1] [--jobs 2]

(the shell script builds `.venv-crosscheck` and runs this file with the project's Python). It
takes the `--n` newest shaders of `--year` from the shared corpus (`../shared/data/
shadertoys.jsonl.gz` beside the project, or `--corpus`), renders each with wgpu-shadertoy 0.2.0
(one process per shader under the cross-check venv, `benchmarks/crosscheck_wgpu_render.py`,
with a timeout) and with `earthshader.render.RenderPool`, at the same size and uniforms: iTime,
iFrame = round(60 iTime), iTimeDelta 1/60, iMouse 0 and EarthShader's fixed iDate (year, month
from 0, day, seconds + iTime), which wgpu-shadertoy's `snapshot(date=...)` takes as given.

Agreement: the mean over all pixels and the three colour channels of |EarthShader - wgpu| in
8-bit levels is at most 1 (alpha is not compared: Shadertoy shows it as opaque). Two exact
float computations of one colour can round to neighbouring 8-bit levels, and transcendental
functions may differ in their last bits, so one level a pixel is the noise floor; a picture
whose content differs (an edge moved, a region of another colour) exceeds it unless the change
covers under about 1/250 of the picture, so the table also gives the share of pixels that
differ by more than 8 levels.

Prints both-rendered N, agreeing M and M/N, then one row per disagreement with its cause: those
that `earthshader.render.crosscheck.causes` finds in the source, plus `HAND_CLASSIFIED` below for causes
found by reading the shader. Frames, side-by-side PNGs (EarthShader | wgpu | difference x4)
and the per-shader table (`table.json`, `table.csv`) go to `--out` (default
runs/crosscheck/<year>-<n>-<w>x<h>). `--reuse` keeps the wgpu results (frames and errors) already in that folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from earthshader.data.sources import ShaderRow, read_source
from earthshader.render import RenderPool
from earthshader.render.crosscheck import CAUSES, causes, sequence_commas
from earthshader.render.gl import DEFAULT_DATE

ROOT = Path(__file__).resolve().parents[1]
CORPUS_CANDIDATES = [ROOT.parent / "shared" / "data" / "shadertoys.jsonl.gz",
                     ROOT.parents[1] / "shared" / "data" / "shadertoys.jsonl.gz"]
WGPU_SCRIPT = Path(__file__).resolve().parent / "crosscheck_wgpu_render.py"

#: Mean absolute difference (8-bit levels, RGB) up to which two frames agree; see the docstring.
AGREE_LEVELS = 1.0

#: Causes found by reading a shader (and a probe program) where no source detector applies:
#: shader id -> (cause, note).
HAND_CLASSIFIED: dict[str, tuple[str, str]] = {
    "cldfWM": ("mix_cancellation", "c = vec3(1e9, 0, 1e9), then mix(c, cOut, 1.0)"),
    "McsGD4": ("float_rounding", "mod289(x * 34 + 1) * x hash: floor(x / 289) flips with the last bit"),
}


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 128x96, got {text!r}") from None
    if not (1 <= width <= 4096 and 1 <= height <= 4096):
        raise argparse.ArgumentTypeError(f"--size {text}: each side must be 1..4096")
    return width, height


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def newest(corpus: Path, n: int, year: int | None = None, ids: set[str] | None = None) -> list[ShaderRow]:
    """The `n` newest shaders (of `year` (UTC) and among `ids` when given), newest first; ties by id.

    Read through the data layer (`read_source`); rows it cannot read are left out."""
    rows = [row for row in read_source(str(corpus)) if isinstance(row, ShaderRow) and row.date
            and (year is None or datetime.fromtimestamp(int(row.date), timezone.utc).year == year)
            and (ids is None or row.id in ids)]
    rows.sort(key=lambda r: (-int(r.date), r.id))
    return rows[:n]


def render_wgpu(python: Path, row: ShaderRow, folder: Path, args, flags: tuple[str, ...] = (), variant: str = "") -> dict:
    """Render one shader in its own wgpu-shadertoy process; returns {'ok', 'error', 'adapter'}.

    Reads shaders/<id><variant>.glsl; the frame goes to wgpu/<id><variant><flags>.npy (`flags`
    are crosscheck_wgpu_render.py's)."""
    stem = row.id + variant + "".join(flags)
    source, frame = folder / "shaders" / f"{row.id}{variant}.glsl", folder / "wgpu" / f"{stem}.npy"
    error_file = folder / "wgpu" / f"{stem}.err"
    if args.reuse and frame.exists():
        return {"ok": True, "error": "", "adapter": ""}
    if args.reuse and error_file.exists():
        stderr = error_file.read_text()
        return {"ok": False, "error": (f"timeout after {args.timeout:g} s" if stderr == "timeout\n"
                                       else wgpu_error_line(stderr, 1)), "adapter": ""}
    frame.unlink(missing_ok=True)
    width, height = args.size
    date = (*DEFAULT_DATE[:3], DEFAULT_DATE[3] + args.time)
    command = [str(python), str(WGPU_SCRIPT), str(source), str(frame), "--width", str(width),
               "--height", str(height), "--time", repr(args.time), "--frame", str(round(args.time * 60)),
               "--date", *(repr(float(v)) for v in date), *flags]
    env = dict(os.environ, WGPU_FORCE_OFFSCREEN="1", XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        error_file.write_text("timeout\n")
        return {"ok": False, "error": f"timeout after {args.timeout:g} s", "adapter": ""}
    if done.returncode != 0 or not frame.exists():
        error_file.write_text(done.stderr)
        return {"ok": False, "error": wgpu_error_line(done.stderr, done.returncode), "adapter": ""}
    adapter = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    adapter = f"{adapter.get('adapter', '')} ({adapter.get('backend', '')})"
    (folder / "wgpu" / "adapter.txt").write_text(adapter + "\n")  # for --reuse
    return {"ok": True, "error": "", "adapter": adapter}


def wgpu_error_line(stderr: str, returncode: int) -> str:
    """The informative line of a failed wgpu-shadertoy run (naga's error kind where there is one)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for marker in ("Error { kind:", "error:", "Error:", "panicked"):
        for line in lines:
            if marker in line and "XDG_RUNTIME_DIR" not in line:
                return line[:160]
    return (lines[-1][:160] if lines else f"exit status {returncode}")


def compare(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Mean and max |difference| in 8-bit levels over RGB, and the share of pixels off by more than 8."""
    diff = np.abs(ours[..., :3].astype(np.int16) - theirs[..., :3].astype(np.int16))
    return {"mean_abs": float(diff.mean()), "max_abs": int(diff.max()),
            "share_over_8": float((diff.max(axis=2) > 8).mean())}


def save_side_by_side(path: Path, ours: np.ndarray, theirs: np.ndarray) -> None:
    diff = np.clip(np.abs(ours[..., :3].astype(np.int16) - theirs[..., :3].astype(np.int16)) * 4, 0, 255)
    Image.fromarray(np.concatenate([ours[..., :3], theirs[..., :3], diff.astype(np.uint8)], axis=1)).save(path)


#: Re-renders that test a detected cause: cause -> (crosscheck_wgpu_render.py flags, source rewrite)
#: that undo it in wgpu-shadertoy.
EXPERIMENTS = {"gl_fragcoord": (("--flip-fragcoord",), None),
               "naga_comma": ((), ("--sequenced-commas", sequence_commas))}


def classify(row: ShaderRow, result, frame: np.ndarray, folder: Path, args) -> tuple[str, str, dict]:
    """(cause, note, comparison) for a disagreement.

    A detected cause with an experiment is tested first: the shader is rendered again by wgpu
    with that cause undone; if the frames then agree, the cause is confirmed; if not, the rest is
    classified on the new frame. Then hand classifications, then the first other detected cause."""
    found = causes(row.code)
    if result.nonfinite_fraction > 0:
        found.append("nonfinite")
    comparison = compare(result.image, frame)
    kept_flags, kept_variant, undone_causes = (), "", []
    for cause, (flags, rewrite) in EXPERIMENTS.items():
        if cause not in found:
            continue
        variant = kept_variant
        if rewrite is not None:
            variant = kept_variant + rewrite[0]
            (folder / "shaders" / f"{row.id}{variant}.glsl").write_text(rewrite[1](
                (folder / "shaders" / f"{row.id}{kept_variant}.glsl").read_text()))
        again = render_wgpu(args.wgpu_python, row, folder, args, kept_flags + flags, variant)
        if not again["ok"]:
            continue
        undone = compare(result.image, np.load(folder / "wgpu" / f"{row.id}{variant}{''.join(kept_flags + flags)}.npy"))
        if undone["mean_abs"] >= comparison["mean_abs"]:
            continue  # undoing it changed nothing: not this cause
        kept_flags, kept_variant, comparison = kept_flags + flags, variant, undone
        undone_causes.append(cause)
        found.remove(cause)
        if undone["mean_abs"] <= AGREE_LEVELS:
            note = f"confirmed: agree with {' and '.join(undone_causes)} undone ({undone['mean_abs']:.2f})"
            return undone_causes[0], note, comparison
    if undone_causes:  # part of the difference explained; the rest goes to the next cause
        found = undone_causes + found
    if row.id in HAND_CLASSIFIED:
        cause, note = HAND_CLASSIFIED[row.id]
        return cause, note, comparison
    return (found[0], ", ".join(found[1:]), comparison) if found else ("unexplained", "", comparison)


def main() -> None:
    parser = argparse.ArgumentParser(description="Render the shared corpus with EarthShader and wgpu-shadertoy "
                                                 "and report how often they agree, and why not.")
    parser.add_argument("--n", type=positive_int, default=300, help="shaders: the newest N (default 300)")
    parser.add_argument("--year", type=int, default=None, help="only shaders of this year (UTC)")
    parser.add_argument("--ids", type=Path, default=None, help="only the shader ids listed in this file")
    parser.add_argument("--size", type=parse_size, default=(128, 96), help="WIDTHxHEIGHT (default 128x96)")
    parser.add_argument("--time", type=float, default=1.0, help="iTime (default 1)")
    parser.add_argument("--jobs", type=positive_int, default=2, help="wgpu processes at once (default 2)")
    parser.add_argument("--workers", type=positive_int, default=2, help="EarthShader render workers (default 2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per shader and renderer (default 30)")
    parser.add_argument("--corpus", type=Path, default=next((p for p in CORPUS_CANDIDATES if p.exists()),
                                                            CORPUS_CANDIDATES[0]))
    parser.add_argument("--wgpu-python", type=Path, default=ROOT / ".venv-crosscheck" / "bin" / "python",
                        help="the cross-check venv's python (built by benchmarks/crosscheck_wgpu.sh)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/crosscheck/...)")
    parser.add_argument("--reuse", action="store_true", help="keep the wgpu results (frames, errors) already in the run folder")
    args = parser.parse_args()
    if not args.corpus.exists():
        parser.error(f"--corpus {args.corpus}: no such file (the shared corpus shadertoys.jsonl.gz)")
    if not args.wgpu_python.exists():
        parser.error(f"--wgpu-python {args.wgpu_python}: missing; run bash benchmarks/crosscheck_wgpu.sh "
                     "to build the cross-check venv")
    if not (args.time == args.time and abs(args.time) < 1e6):
        parser.error(f"--time {args.time}: must be a finite number")
    width, height = args.size
    ids = None
    if args.ids is not None:
        if not args.ids.is_file():
            parser.error(f"--ids {args.ids}: no such file (one shader id a line, or a JSON list)")
        text = args.ids.read_text()
        ids = set(json.loads(text) if text.lstrip().startswith("[") else text.split())
    label = f"{args.year or 'newest'}{'-' + args.ids.stem if args.ids else ''}-{args.n}-{width}x{height}"
    folder = args.out or ROOT / "runs" / "crosscheck" / label
    for sub in ("shaders", "wgpu", "pairs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    console = Console(width=150)

    rows = newest(args.corpus, args.n, args.year, ids)
    for row in rows:
        (folder / "shaders" / f"{row.id}.glsl").write_text(row.code, encoding="utf-8")
    dates = [datetime.fromtimestamp(int(r.date), timezone.utc).date() for r in rows]
    console.print(f"{len(rows)} shaders, the newest{f' of {args.year}' if args.year else ''}"
                  f"{' among --ids' if ids else ''} ({min(dates)} to {max(dates)}), at {width}x{height}, "
                  f"iTime {args.time:g}; run folder {folder}")

    with ThreadPoolExecutor(args.jobs) as executor:
        theirs = list(executor.map(lambda row: render_wgpu(args.wgpu_python, row, folder, args), rows))
    with RenderPool(workers=args.workers, timeout=args.timeout) as pool:
        ours = pool.render_many([row.code for row in rows], width=width, height=height, time=args.time)
        renderer = pool.renderer

    records = []
    for row, mine, other in zip(rows, ours, theirs):
        record = {"id": row.id, "name": row.name, "author": row.author,
                  "earthshader": "ok" if mine.ok else mine.error.kind,
                  "wgpu": "ok" if other["ok"] else other["error"],
                  "mean_abs": None, "max_abs": None, "share_over_8": None, "agree": None,
                  "cause": "", "side": "", "note": "", "mean_abs_after_experiments": None, "detected": ",".join(causes(row.code))}
        if mine.ok and other["ok"]:
            frame = np.load(folder / "wgpu" / f"{row.id}.npy")
            record.update(compare(mine.image, frame))
            record["agree"] = record["mean_abs"] <= AGREE_LEVELS
            if not record["agree"]:
                record["cause"], record["note"], remaining = classify(row, mine, frame, folder, args)
                record["side"] = CAUSES.get(record["cause"], HAND_NOTES.get(record["cause"], ("?", "")))[0]
                record["mean_abs_after_experiments"] = remaining["mean_abs"]
                save_side_by_side(folder / "pairs" / f"{row.id}.png", mine.image, frame)
        records.append(record)
    write_tables(folder, records)
    saved = folder / "wgpu" / "adapter.txt"
    adapter = next((t["adapter"] for t in theirs if t["adapter"]), saved.read_text().strip() if saved.exists() else "?")
    report(console, records, rows, renderer, adapter)


def write_tables(folder: Path, records: list[dict]) -> None:
    (folder / "table.json").write_text(json.dumps(records, indent=1) + "\n")
    with open(folder / "table.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def report(console: Console, records: list[dict], rows: list[ShaderRow], renderer: str, adapter: str) -> None:
    both = [r for r in records if r["agree"] is not None]
    agree = sum(r["agree"] for r in both)
    only_ours = sum(r["earthshader"] == "ok" and r["wgpu"] != "ok" for r in records)
    only_theirs = sum(r["earthshader"] != "ok" and r["wgpu"] == "ok" for r in records)
    console.print(f"EarthShader: {renderer}; wgpu-shadertoy: {adapter}")
    console.print(f"shaders {len(records)}; both render {len(both)}; agree (mean |diff| <= {AGREE_LEVELS:g} level) "
                  f"{agree}; {100 * agree / max(1, len(both)):.1f}% of those both render")
    console.print(f"only EarthShader renders {only_ours}; only wgpu-shadertoy renders {only_theirs}; "
                  f"neither {sum(r['earthshader'] != 'ok' and r['wgpu'] != 'ok' for r in records)}")
    table = Table(title="Disagreements (mean |diff| > 1 level)")
    for column in ("id", "author", "mean", "max", ">8", "cause", "departs", "note / also detected"):
        table.add_column(column)
    for r in sorted((r for r in both if not r["agree"]), key=lambda r: (r["cause"], -r["mean_abs"])):
        table.add_row(r.id, r.author, f"{r['mean_abs']:.2f}", str(r["max_abs"]), f"{100 * r['share_over_8']:.1f}%",
                      r["cause"], r["side"], r["note"])
    console.print(table)
    theirs = [r for r in both if not r["agree"] and r["side"] == "wgpu-shadertoy"]
    confirmed = sum(r["note"].startswith("confirmed") for r in theirs)
    undefined = sum(not r["agree"] and r["side"] == "undefined" for r in both)
    rest = len(both) - len(theirs)
    console.print(f"disagreements where wgpu-shadertoy departs from WebGL {len(theirs)} ({confirmed} confirmed by "
                  f"re-rendering with its defect undone); among the other {rest} shaders both render, agree "
                  f"{agree} ({100 * agree / max(1, rest):.1f}%); the {undefined} left differ where GLSL leaves "
                  f"the result undefined")
    undone = sum(not r["agree"] and r["mean_abs_after_experiments"] is not None
                 and r["mean_abs_after_experiments"] <= AGREE_LEVELS for r in both)
    console.print(f"with wgpu-shadertoy's defects undone where re-rendering confirmed them, agree "
                  f"{agree + undone} of the {len(both)} both render ({100 * (agree + undone) / max(1, len(both)):.1f}%)")
    counts: dict[str, int] = {}
    for r in both:
        if not r["agree"]:
            counts[r["cause"]] = counts.get(r["cause"], 0) + 1
    for cause, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        side, why = CAUSES.get(cause, HAND_NOTES.get(cause, ("?", "")))
        console.print(f"  {count:3d}  {cause} (departs: {side}): {why}")
    failures: dict[str, int] = {}
    for r in records:
        if r["earthshader"] == "ok" and r["wgpu"] != "ok":
            key = r["wgpu"].split("meta:")[0][:90]
            failures[key] = failures.get(key, 0) + 1
    if failures:
        console.print("wgpu-shadertoy failures where EarthShader renders, by first error line:")
        for key, count in sorted(failures.items(), key=lambda kv: -kv[1])[:15]:
            console.print(f"  {count:3d}  {key}")


#: (departing side, explanation) of the causes used only in `HAND_CLASSIFIED`.
HAND_NOTES: dict[str, tuple[str, str]] = {
    "mix_cancellation": ("undefined", "mix(1e9, 0.7, 1.0): Mesa's GL path computes x + a * (y - x) = 0 (as HLSL "
                                      "documents lerp), lavapipe x * (1 - a) + y * a = 0.7"),
    "float_rounding": ("undefined", "float rounding of a large intermediate (fused multiply-add or not); at most "
                                    "8 levels, on no pixel more"),
}

if __name__ == "__main__":
    main()
