"""Fuzz the picture and run-file readers: hostile and mutated files through every door, and the commands on them.

    python benchmarks/fuzz_inputs.py [--n 300] [--runs 300] [--seed 0] [--no-cli] [--no-memory]

Parts (each prints a row; every figure in the last lines must be 0, and the peak within its bound):
  pictures   hand-made hostile files (bombs with real data, slivers, 1 x 1, 16-bit ramps, EXIF-rotated JPEGs,
             transparent, palette and CMYK pictures, a Latin-1 name, a dangling link) and `--n` mutated PNG,
             JPEG and WebP files (flipped bytes, cuts, rewritten sizes with their checksums fixed, any EXIF
             orientation), through each door: the one reader, `load_rows` (training and evaluation), infer's
             inputs, refine's target, crops, a saved dataset's cells, a folder. Counted: exceptions that are not
             the project's refusals (tracebacks), files neither answered nor named (lost), two inputs that
             would write one infer output (overwritten), pictures read otherwise than they look (changed).
  run files  `--runs` mutated and torn samples.jsonl / metrics.jsonl files through `logs` and `truncate_jsonl`
             (every intact line of a step kept), and an expert-iteration run with each file damaged in turn
             through its resume check: tracebacks, lost lines.
  memory     in a fresh process each: a folder of four 49-megapixel PNGs (68 KB on disk) plus a real
             30000 x 30000 bomb, loaded for the model; then crops of the big pictures. Peak RSS over the
             process's start, against the bound the docs state.
  commands   eval, infer, refine, logs and data on hostile inputs, each in a subprocess: exit status 2 (data
             build: 1, "the build failed") and one line on stderr naming the flag or the file.
  extract    `extract_glsl` on 1 MB and 2 MB of fences: the time, and its ratio (about 2: linear).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import multiprocessing
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]


def _tests_module(name: str):
    """A helper module of the tests, loaded from its file: one maker of each hostile file for both."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hostile = _tests_module("hostile_files")

SIDE = 84


class Tally(Counter):
    """Counts by name, and the first few notes of what went wrong."""

    def __init__(self):
        super().__init__()
        self.notes: list[str] = []

    def bad(self, kind: str, note: str) -> None:
        self[kind] += 1
        if len(self.notes) < 12:
            self.notes.append(f"{kind}: {note}")


def refusal_types():
    from earthshader.answering.refine import RefineError
    from earthshader.cli import UsageError

    return (UsageError, RefineError)


def known_pictures(folder: Path) -> dict[str, tuple[bytes, np.ndarray | None]]:
    """Hand-made files: name -> (bytes, what they must read as, or None when they must be refused)."""
    upright = hostile.pattern(1, 96, 48)
    rgba = np.dstack([hostile.pattern(2, 32, 32), np.r_[np.zeros((16, 32)), np.full((16, 32), 255)].astype(np.uint8)])
    over_black = (rgba[..., :3].astype(np.uint16) * rgba[..., 3:] // 255).astype(np.uint8)
    palette = io.BytesIO()
    Image.fromarray(hostile.pattern(3, 40, 40)).convert("P", palette=Image.Palette.ADAPTIVE, colors=32).save(
        palette, format="PNG")
    ramp = np.stack([(hostile.ramp().astype(np.float64) / 257).round().astype(np.uint8)] * 3, -1)
    files = {
        "bomb.png": (hostile.bomb_png(30000, 30000), None),
        "sliver.png": (hostile.raw_png(3, 200000, 8, 0, [b"\x00" * 3]), None),
        "dot.png": (hostile.png(np.full((1, 1, 3), 9, np.uint8)), None),
        "flat.png": (hostile.png(np.full((40, 40, 3), 90, np.uint8)), None),  # evaluation refuses: no skill
        "ramp16-grey.png": (hostile.ramp_png16(0), ramp),
        "ramp16-rgb.png": (hostile.ramp_png16(2), ramp),
        "ramp16-rgba.png": (hostile.ramp_png16(6), ramp),
        "rgba.png": (hostile.png(rgba), over_black),
        "palette.png": (palette.getvalue(), np.asarray(Image.open(io.BytesIO(palette.getvalue())).convert("RGB"))),
    }
    for orientation in (3, 6, 8):
        files[f"phone-{orientation}.jpg"] = (hostile.rotated_jpeg(upright, orientation), upright)
    latin1 = hostile.latin1_name(folder, "café")
    files[latin1.name] = (hostile.png(hostile.pattern(4)), hostile.pattern(4))
    return files


def mutated(rng: random.Random, index: int) -> tuple[str, bytes]:
    """One mutated picture file: a small real picture, then one mutation."""
    image = hostile.pattern(index, rng.randint(3, 48), rng.randint(3, 48))
    kind = rng.choice(["png", "jpg", "webp", "png16"])
    buffer = io.BytesIO()
    if kind == "png16":
        data = hostile.ramp_png16(rng.choice([0, 2, 4, 6]), rng.randint(3, 40), rng.randint(3, 40))
    else:
        Image.fromarray(image).save(buffer, format={"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[kind])
        data = buffer.getvalue()
    data = bytearray(data)
    how = rng.choice(["flip", "cut", "size", "size", "exif", "repeat"])
    if how == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif how == "cut":
        data = data[:rng.randrange(1, len(data))]
    elif how == "size" and data.startswith(b"\x89PNG"):  # a new IHDR size, the checksum fixed: reaches the guards
        width, height = rng.choice([(0, 7), (1, 1), (3, 200000), (65535, 65535), (30000, 30000), (rng.randint(1, 99),
                                                                                                   rng.randint(1, 99))])
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    elif how == "size" and kind == "jpg":
        start = data.find(b"\xff\xc0")
        if start > 0:
            data[start + 5:start + 9] = struct.pack(">HH", rng.choice([0, 1, 65535]), rng.choice([0, 3, 65535]))
    elif how == "exif" and kind == "jpg":
        data = bytearray(hostile.rotated_jpeg(image[: max(3, image.shape[0])], 1))
        at = data.find(b"\x12\x01\x03\x00")  # the orientation tag, little-endian TIFF
        if at > 0:
            data[at + 8] = rng.randrange(256)
    elif how == "repeat":
        cut = rng.randrange(8, len(data))
        data = data[:cut] + data[8:cut] + data[cut:]
    return f"m{index:04d}-{how}.{'png' if kind == 'png16' else kind}", bytes(data)


def doors(path: Path):
    """(name, call) for every way a picture file comes in; each must answer or refuse it."""
    from earthshader.answering.files import load_target
    from earthshader.answering.inference import read_inputs
    from earthshader.data import pictures as pics
    from earthshader.data.rows import load_rows

    return [("reader", lambda: pics.read_file(path)),
            ("training", lambda: load_rows(str(path), size=SIDE)),
            ("evaluation", lambda: load_rows(str(path), size=SIDE, judged=False)),
            ("infer", lambda: read_inputs([str(path)], SIDE)),
            ("refine", lambda: load_target(str(path), 128)),
            ("crops", lambda: load_rows(f"crops:{path}?size=3&count=2", size=SIDE))]


def fuzz_pictures(args, tally: Tally) -> int:
    from earthshader.answering.inference import output_name
    from earthshader.data import pictures as pics
    from earthshader.data.row_spec import Request, keeper
    from earthshader.data.rows import load_rows

    refused = refusal_types()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pictures"
        folder.mkdir()
        known = known_pictures(folder)
        files = dict(known) | {name: (data, None) for name, data in (mutated(rng, i) for i in range(args.n))}
        for name, (data, _) in files.items():
            (folder / name).write_bytes(data)
        (folder / "dangling.png").symlink_to(folder / "gone.png")
        for name in sorted(os.listdir(folder)):
            for door, call in doors(folder / name):
                try:
                    call()
                    tally["answered"] += 1
                except refused as error:
                    tally["refused"] += 1
                    if name not in str(error) and hostile.latin1_name(folder, "café").name != name:
                        tally.bad("refusal not naming the file", f"{door} {name}: {error}")
                except Exception as error:  # noqa: BLE001 - the figure this counts
                    tally.bad("tracebacks", f"{door} {name}: {type(error).__name__}: {error}")
        for name, (_, truth) in known.items():  # what they read as
            if truth is None:
                continue
            try:
                read = pics.read_file(folder / name).image
            except refused as error:
                tally.bad("silently changed pictures", f"{name} refused: {error}")
                continue
            jpeg = name.endswith(".jpg")
            if read.shape != truth.shape or np.abs(read.astype(int) - truth).mean() > (4 if jpeg else 0.6):
                tally.bad("silently changed pictures", f"{name} reads otherwise than it looks")
        found = pics.read_folder(folder, side=SIDE, keep=keeper(Request(judged=False)))  # a folder: nothing lost
        files_seen = len(pics.picture_files(folder)[0]) + 1  # + the dangling link
        named = len(found.pictures) + len(found.problems) + len(found.dropped) + sum(
            "missing file" in note for note in found.unvisited)
        if named != files_seen:
            tally.bad("lost or overwritten results", f"{files_seen} files, {named} answered or named")
        rows = load_rows(str(folder), size=SIDE, judged=False)
        used = set()
        names = [output_name(row.id, str(folder), used) for row in rows]
        exact = folder / "exact.png"
        Image.fromarray(hostile.pattern(5, 40, 40)).save(exact)
        names += [output_name(r.id, "crops", used) for r in load_rows(f"crops:{exact}?size=40&count=3", size=SIDE)]
        if len({n.casefold() for n in names}) != len(names):
            tally.bad("lost or overwritten results", "two inputs share an infer output name")
        return len(files) + 1


def fuzz_run_files(args, tally: Tally) -> int:
    from earthshader.training import expert_runs
    from earthshader.training.run_log import truncate_jsonl
    from earthshader.training.run_view import view

    refused = refusal_types()
    rng = random.Random(args.seed + 1)
    rows = [{"step": 1 + i // 4, "prompt_id": f"p{i} café ☕", "completion": "x", "code": "", "total": 0.5,
             "rewards": {"ssim": 0.5}, "error": None} for i in range(12)]
    clean = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
    cases = 0
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        for i in range(args.runs):
            data = bytearray(clean)
            how = rng.choice(["cut", "flip", "nan"])
            if how == "cut":
                data = data[:rng.randrange(1, len(data))]
            elif how == "flip":
                for _ in range(rng.randint(1, 4)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            whole = [line + b"\n" for line in bytes(data).split(b"\n")[:-1]]  # complete lines of the input
            intact = [line for line in whole if line in clean.splitlines(keepends=True)]
            (run / "samples.jsonl").write_bytes(bytes(data))
            (run / "metrics.jsonl").write_bytes(b'{"step": 1, "reward": NaN, "rewards/ssim/mean": NaN}\n' + bytes(data))
            cases += 1
            try:
                Console(file=io.StringIO()).print(view(run, rng.choice([None, 1, 99]), 2))
                step = rng.randint(0, 3)
                truncate_jsonl(run / "samples.jsonl", step)
                kept = (run / "samples.jsonl").read_bytes().splitlines(keepends=True)
                lost = [line for line in intact if json.loads(line)["step"] <= step and line not in kept]
                wrong = [line for line in kept if not _a_step_at_most(line, step)]
                if lost or wrong:  # an intact line of a kept step dropped, or a line kept that is not one
                    tally.bad("lost or overwritten results", f"truncate_jsonl case {i} ({how}): {lost or wrong}")
            except Exception as error:  # noqa: BLE001 - the figure this counts
                tally.bad("tracebacks", f"run file case {i} ({how}): {type(error).__name__}: {error}")
        expert = run / "expert"
        targets = [type("T", (), {"id": f"p{i}", "image": np.full((4, 4, 3), i, np.uint8)})() for i in range(2)]
        expert_runs.prepare(expert, targets, resume=False)
        expert_runs.write_json(expert / expert_runs.START_FILE, {"structure": 0.1, "appearance": 0.2})
        expert_runs.write_jsonl(expert_runs.round_dir(expert, 0) / "pairs.jsonl",
                                [{"picture": 1, "score": 0.2, "code": "x", "id": "p1", "teacher": "model"}])
        for path in sorted(p for p in expert.rglob("*") if p.is_file()):
            original = path.read_bytes()
            for cut in range(1, len(original), max(1, len(original) // 6)):
                path.write_bytes(original[:cut])
                cases += 1
                try:
                    expert_runs.prepare(expert, targets, resume=True)
                    Console(file=io.StringIO()).print(view(expert, None, 1))
                except refused as error:
                    if path.name not in str(error):
                        tally.bad("refusal not naming the file", f"{path.name}: {error}")
                except Exception as error:  # noqa: BLE001 - the figure this counts
                    tally.bad("tracebacks", f"{path.name} cut at {cut}: {type(error).__name__}: {error}")
            path.write_bytes(original)
    return cases


def _a_step_at_most(line: bytes, step: int) -> bool:
    try:
        row = json.loads(line.decode("utf-8"))
    except ValueError:
        return False
    return isinstance(row, dict) and isinstance(row.get("step", 0), (int, float)) and row.get("step", 0) <= step


def _memory(field: str) -> int:
    """Bytes of this process's resident memory now (VmRSS) or at its peak (VmHWM), which, unlike
    `getrusage`'s peak, starts again at a new program (a spawned child)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_child(phase: str, folder: str, queue) -> None:
    logging.disable(logging.WARNING)
    from earthshader.data.rows import load_rows

    start = _memory("VmRSS")
    spec = folder if phase == "folder" else f"crops:{folder}?size=96&count=64"
    try:
        rows = len(load_rows(spec, size=224, judged=False))
    except Exception as error:  # noqa: BLE001 - reported by the parent
        rows = f"{type(error).__name__}: {error}"
    queue.put((rows, start, _memory("VmHWM")))


def memory(args) -> list[tuple[str, int, float, float]]:
    """(phase, rows, peak MB over the start, bound MB) for a folder load and crops, each in a fresh process."""
    from earthshader.data.picture_reader import MAX_PIXELS
    from earthshader.data.pictures import CROP_CACHE_BYTES

    side = 7000  # 49 million pixels: just under the bound
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, (colour, channels) in enumerate([(0, 1), (0, 1), (2, 3), (6, 4)]):  # grey, grey, RGB, RGBA
            stripes = (127.5 + 127.5 * np.sin(np.arange(side) / (40 + 30 * i))).astype(np.uint8)  # one row, repeated:
            row = np.repeat(stripes, channels)  # a few KB on disk, 49 million pixels decoded
            if channels == 4:
                row[3::4] = 255 - stripes // 2  # partly transparent
            (folder / f"big{i}.png").write_bytes(hostile.raw_png(side, side, 8, colour, [row.tobytes()] * side))
        (folder / "bomb.png").write_bytes(hostile.bomb_png(30000, 30000, real=True))
        size_kb = sum(p.stat().st_size for p in folder.iterdir()) / 1024
        one_picture = MAX_PIXELS * 10  # decoded, then made RGB: at most 10 bytes a pixel at once (RGBA)
        for phase, bound in (("folder", one_picture), ("crops", CROP_CACHE_BYTES + 2 * one_picture)):
            queue = multiprocessing.get_context("spawn").Queue()
            child = multiprocessing.get_context("spawn").Process(target=_peak_child, args=(phase, str(folder), queue))
            child.start()
            count, start, peak = queue.get(timeout=600)
            child.join()
            out.append((f"{phase} ({size_kb:.0f} KB on disk)", count, (peak - start) / 2**20, bound / 2**20))
    return out


COMMANDS = [  # (arguments, what the one line must hold, exit status); {d} is a folder of hostile files
    ("earthshader.eval --model {d}/no-model --dataset {d}/bomb.png --workers 1 --search 0", "bomb.png", 2),
    ("earthshader.eval --model {d}/no-model --dataset {d}/dot.png --workers 1 --search 0", "dot.png", 2),
    ("earthshader.eval --model {d}/no-model --dataset {d}/flat.png --workers 1 --search 0", "flat.png", 2),
    ("earthshader.eval --model {d}/no-model --dataset crops:skimage:brick?count=10000000", "count", 2),
    ("earthshader.eval --model {d}/no-model --dataset {d}/[/x] --workers 1 --search 0", "--model", 2),
    ("earthshader.infer {d}/bomb.png --model {d}/no-model -o {d}/out", "bomb.png", 2),
    ("earthshader.infer {d}/dot.png --model {d}/no-model -o {d}/out", "dot.png", 2),
    ("earthshader.infer {d}/[/x] --model {d}/no-model -o {d}/out", "--model", 2),
    ("earthshader.infer crops:{d}/sliver.png?count=2 --model {d}/no-model -o {d}/out", "sliver.png", 2),
    ("earthshader.refine {d}/s.glsl {d}/bomb.png -o {d}/out.glsl --workers 1", "bomb.png", 2),
    ("earthshader.refine {d}/s.glsl {d}/sliver.png -o {d}/out.glsl --workers 1", "sliver.png", 2),
    ("earthshader.logs {d}/expert", "start.json", 2),
    ("earthshader.data build --source {d}/bad.parquet --out {d}/built --workers 1", "bad.parquet", 1),
]


def commands(tally: Tally) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, data in (("bomb.png", hostile.bomb_png(30000, 30000)), ("dot.png", hostile.png(
                np.full((1, 1, 3), 9, np.uint8))), ("flat.png", hostile.png(np.full((40, 40, 3), 90, np.uint8))),
                           ("sliver.png", hostile.raw_png(3, 200000, 8, 0, [b"\x00" * 3])),
                           ("bad.parquet", b"PAR1 not parquet")):
            (folder / name).write_bytes(data)
        (folder / "[" / "x]").mkdir(parents=True)
        Image.fromarray(hostile.pattern(6)).save(folder / "[" / "x]" / "a.png")
        (folder / "s.glsl").write_text("void mainImage(out vec4 c, in vec2 p) { c = vec4(0.5); }")
        (folder / "expert").mkdir()
        (folder / "expert" / "pictures.json").write_text("[]")
        (folder / "expert" / "start.json").write_bytes(b'{"structure": 0.')
        env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
        for command, words, status in COMMANDS:
            argv = command.format(d=folder).split()
            done = subprocess.run([sys.executable, "-W", "ignore::FutureWarning", "-m", *argv], capture_output=True,
                                  text=True, env=env, cwd=folder, timeout=600)
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            lines = [line for line in lines if not line.startswith("earthshader.data.rows:")]  # the loader's log
            if "Traceback" in done.stderr:
                tally.bad("tracebacks", f"{argv[0]}: {done.stderr.strip().splitlines()[-1]}")
            elif done.returncode != status or len(lines) != 1 or words not in lines[0]:
                tally.bad("refusals not one line naming the flag or file",
                          f"{' '.join(argv[:2])}: exit {done.returncode}, {lines[-3:]}")
            else:
                tally["commands refused as they must be"] += 1
    return len(COMMANDS)


def extract_times() -> list[tuple[int, float]]:
    """The best of five times of `extract_glsl` on 1 and 2 MB of fences, with the garbage collector off as
    `timeit` has it (its passes over the whole heap, large once torch is imported, would blur the ratio)."""
    import gc

    from earthshader.glsl.extract import extract_glsl

    unit = "```glsl x\n```\n"
    out = []
    for megabytes in (1, 2):
        text = unit * (megabytes * 2**20 // len(unit))
        best = float("inf")
        for _ in range(5):
            gc.disable()
            start = time.perf_counter()
            extract_glsl(text)
            best = min(best, time.perf_counter() - start)
            gc.enable()
        out.append((megabytes, best))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="mutated picture files")
    parser.add_argument("--runs", type=int, default=300, help="mutated run files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cli", action="store_true", help="skip the commands (a subprocess each)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory part (two processes)")
    parser.add_argument("--memory-only", action="store_true", help="only the memory part")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the loader names every refused file; the tallies count them here
    console = Console(width=max(Console().width, 110))
    tally = Tally()
    started = time.perf_counter()
    table = Table(title="Picture and run-file fuzz", title_justify="left")
    for column in ("part", "cases", "seconds"):
        table.add_column(column, justify="left" if column == "part" else "right")
    parts = [("pictures (each through 6 doors)", lambda: fuzz_pictures(args, tally)),
             ("run files", lambda: fuzz_run_files(args, tally))]
    if not args.no_cli:
        parts.append(("commands (a subprocess each)", lambda: commands(tally)))
    if args.memory_only:
        parts, args.no_cli = [], True
    for name, part in parts:
        start = time.perf_counter()
        cases = part()
        table.add_row(name, str(cases), f"{time.perf_counter() - start:.1f}")
    console.print(table)
    console.print(f"picture files through a door: {tally['answered']} answered, {tally['refused']} refused by name")
    for note in tally.notes:
        console.print(f"  {note}", markup=False)
    for figure in ("tracebacks", "lost or overwritten results", "silently changed pictures",
                   "refusal not naming the file", "refusals not one line naming the flag or file"):
        console.print(f"{figure}: {tally[figure]}")
    if not args.no_cli:
        console.print(f"commands refused with their exit status and one line naming the flag or file: "
                      f"{tally['commands refused as they must be']} of {len(COMMANDS)}")
    if not args.no_memory:
        for phase, rows, peak, bound in memory(args):
            console.print(f"peak memory, {phase}: {peak:.0f} MB over the process's start for {rows} rows; bound "
                          f"{bound:.0f} MB ({'within' if peak <= bound else 'OVER'})")
    (_, one), (_, two) = extract_times()
    console.print(f"extract_glsl on 1 MB of fences: {one * 1000:.0f} ms; on 2 MB: {two * 1000:.0f} ms "
                  f"(ratio {two / one:.1f}: 2 is linear, 4 quadratic)")
    console.print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
