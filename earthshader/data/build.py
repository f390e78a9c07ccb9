"""Build an (image, code) dataset from a source: render, filter, deduplicate, split, save.

    python -m earthshader.data build --source textures --out data/textures --size 256 --n 1000

    from earthshader.data.build import BuildConfig, build
    report = build(BuildConfig(source="terrains", out="data/terrains", n=200, size=128))
    datasets.load_from_disk("data/terrains")        # DatasetDict with "train" and "test"

Pipeline, per shard of `shard_size` input rows, in input order:
1. corrupt rows (not UTF-8, not JSON, no `image_code`) are counted and reported by file and line;
2. programs whose normalised code (comments and spacing removed) was already seen are dropped;
3. the rest render through a `RenderPool` at `size` x `size`, iTime = `time`; failures are counted
   by error kind (compile, timeout, ...);
4. images are judged (`judge`): black, flat, low visual entropy, noise-like, non-finite pixels.
A finished shard is saved under `OUT/shards/` with its counts, atomically (a temporary folder,
then a rename). After the last shard, near-identical images are dropped (32 x 32 thumbnails that
differ by less than `near_duplicate` grey levels on average) and rows go to train or test by a hash
of their normalised code, so the splits never share a program. `OUT` then holds the `datasets`
DatasetDict, `report.json` (kept and rejected rows by reason; they add up to the input) and
`build.json` (the settings).

An interrupted build resumes from its last finished shard and ends with the same dataset as an
uninterrupted one: each shard depends only on its rows and the code hashes of earlier shards.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
from PIL import Image

from earthshader.data.sources import RowProblem, ShaderRow, describe, read_source
from earthshader.image.metrics import is_flat, neighbour_correlation, visual_entropy
from earthshader.render import RenderPool
from earthshader.render.shadertoy import strip_comments

THUMB = 32  # side of the thumbnails compared for near-duplicates
KEPT = "kept"


@dataclass
class Filters:
    """Thresholds of the image filters (all configurable from the command line)."""

    black_level: int = 12  # an image whose brightest channel value is at most this is "black"
    min_entropy: float = 0.02  # visual entropy (0..1) below this: "low entropy" (almost one colour)
    min_correlation: float = 0.25  # neighbour correlation below this: "noise" (white-noise-like)
    max_nonfinite: float = 0.001  # share of NaN / infinite pixels above this: "non-finite pixels"
    near_duplicate: float = 2.0  # mean |difference| of 32 x 32 thumbnails below this: duplicate


@dataclass
class BuildConfig:
    source: str
    out: str
    size: int = 256
    n: int | None = None  # rows to read (generators: seeds); None = the whole file or dataset
    time: float = 0.0  # iTime of the render
    start: int = 0  # first row / seed
    difficulty: int | None = None  # generators only; None = drawn per seed
    split: str = "train"  # input split of a Hub or saved dataset
    test_fraction: float = 0.1
    shard_size: int = 256
    workers: int | None = None
    timeout: float = 10.0  # seconds one shader may take to compile and render
    filters: Filters = field(default_factory=Filters)

    def settings(self) -> dict:
        """What must match for a build in `out` to resume (not `workers` or `timeout`)."""
        values = asdict(self)
        for key in ("workers", "timeout", "out"):
            values.pop(key)
        return values


@dataclass
class BuildReport:
    total: int = 0
    counts: Counter = field(default_factory=Counter)  # reason (or "kept") -> rows
    splits: dict = field(default_factory=dict)  # split -> rows in the final dataset
    problems: list[str] = field(default_factory=list)  # corrupt rows, "file:line: reason"
    finished: bool = False


class BuildError(RuntimeError):
    """The build cannot start (settings differ from the existing build in OUT, no rows, ...)."""


def normalise_code(code: str) -> str:
    """Code without comments and layout: two programs that differ only there are one program."""
    text = re.sub(r"\s+", " ", strip_comments(code)).strip()
    return re.sub(r"\s*([^\w\s.])\s*", r"\1", text)


def code_hash(code: str) -> str:
    return hashlib.sha1(normalise_code(code).encode("utf-8")).hexdigest()


def is_test(program_hash: str, test_fraction: float) -> bool:
    """Split by program: the same normalised code always lands in the same split."""
    value = int(hashlib.sha1(f"split:{program_hash}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return value < test_fraction


def judge(image: np.ndarray, filters: Filters, nonfinite_fraction: float = 0.0) -> tuple[str | None, float, float]:
    """(rejection reason or None, visual entropy, neighbour correlation) of a rendered image."""
    entropy = visual_entropy(image)
    correlation = neighbour_correlation(image)
    if nonfinite_fraction > filters.max_nonfinite:
        return "non-finite pixels", entropy, correlation
    if int(image.max()) <= filters.black_level:
        return "black", entropy, correlation
    if is_flat(image):
        return "flat", entropy, correlation
    if entropy < filters.min_entropy:
        return "low entropy", entropy, correlation
    if correlation < filters.min_correlation:
        return "noise", entropy, correlation
    return None, entropy, correlation


def thumbnail(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def features():
    import datasets

    return datasets.Features({
        "image": datasets.Image(), "code": datasets.Value("string"), "source": datasets.Value("string"),
        "id": datasets.Value("string"), "name": datasets.Value("string"), "author": datasets.Value("string"),
        "license": datasets.Value("string"), "permissive": datasets.Value("bool"),
        "non_commercial": datasets.Value("bool"), "family": datasets.Value("string"),
        "difficulty": datasets.Value("int32"), "params": datasets.Value("string"),
        "entropy": datasets.Value("float32"), "correlation": datasets.Value("float32"),
        "time": datasets.Value("float32"), "code_hash": datasets.Value("string"),
        "thumbnail": datasets.Value("binary"),
    })


def process_shard(items: list, seen: set[str], pool: RenderPool, config: BuildConfig):
    """Render and judge one shard. Returns (kept rows, counts by reason, problems, code hashes)."""
    counts, problems, hashes, candidates = Counter(), [], [], []
    for item in items:
        if isinstance(item, RowProblem):
            counts[f"corrupt: {item.reason}"] += 1
            problems.append(str(item))
            continue
        digest = code_hash(item.code)
        if digest in seen:
            counts["duplicate code"] += 1
            continue
        seen.add(digest)
        hashes.append(digest)
        candidates.append((item, digest))
    results = pool.render_many([row.code for row, _ in candidates], width=config.size, height=config.size,
                               time=config.time)
    rows = []
    for (row, digest), result in zip(candidates, results):
        if not result.ok:
            counts[f"render: {result.error.kind}"] += 1
            continue
        reason, entropy, correlation = judge(result.image, config.filters, result.nonfinite_fraction)
        if reason:
            counts[reason] += 1
            continue
        counts[KEPT] += 1
        rows.append(_record(row, digest, result.image, entropy, correlation, config.time))
    return rows, counts, problems, hashes


def _record(row: ShaderRow, digest: str, image: np.ndarray, entropy: float, correlation: float, time: float) -> dict:
    return {
        "image": {"bytes": png_bytes(image), "path": None}, "code": row.code, "source": row.source,
        "id": row.id, "name": row.name, "author": row.author, "license": row.license,
        "permissive": row.permissive, "non_commercial": row.non_commercial, "family": row.family,
        "difficulty": row.difficulty, "params": json.dumps(row.params, sort_keys=True),
        "entropy": entropy, "correlation": correlation, "time": time, "code_hash": digest,
        "thumbnail": thumbnail(image).tobytes(),
    }


class _Bucket:
    """Growing arrays of the kept thumbnails of one mean-colour bucket: 8 x 8 and 32 x 32."""

    def __init__(self, small: np.ndarray, full: np.ndarray):
        self.small = small[None].copy()
        self.full = full[None].copy()
        self.count = 1

    def add(self, small: np.ndarray, full: np.ndarray) -> None:
        if self.count == len(self.small):
            self.small = np.concatenate([self.small, np.empty_like(self.small)])
            self.full = np.concatenate([self.full, np.empty_like(self.full)])
        self.small[self.count], self.full[self.count] = small, full
        self.count += 1

    def matches(self, small: np.ndarray, full: np.ndarray, tolerance: float) -> bool:
        # The 8 x 8 difference never exceeds the 32 x 32 one (averaging), so it is a safe prefilter.
        close = np.flatnonzero(np.abs(self.small[:self.count] - small).mean(axis=1) < tolerance)
        return bool(close.size) and bool((np.abs(self.full[close] - full).mean(axis=1) < tolerance).any())


def near_duplicates(thumbnails: list[bytes], tolerance: float) -> list[bool]:
    """For each 32 x 32 thumbnail in order: is it within `tolerance` of an earlier kept one?

    Candidates are found through their mean colour (buckets 8 levels wide, neighbours probed, so
    none is missed) and compared at 8 x 8 before 32 x 32: fast enough for the whole corpus.
    """
    buckets: dict[tuple, _Bucket] = {}
    flags = []
    for raw in thumbnails:
        full = np.frombuffer(raw, dtype=np.uint8).reshape(THUMB, THUMB, 3).astype(np.float32)
        small = full.reshape(8, THUMB // 8, 8, THUMB // 8, 3).mean(axis=(1, 3)).ravel()
        full = full.ravel()
        key = tuple(int(v) for v in full.reshape(-1, 3).mean(axis=0) // 8)
        neighbours = [(key[0] + r, key[1] + g, key[2] + b) for r in (-1, 0, 1) for g in (-1, 0, 1) for b in (-1, 0, 1)]
        duplicate = any(k in buckets and buckets[k].matches(small, full, tolerance) for k in neighbours)
        flags.append(duplicate)
        if not duplicate:
            if key in buckets:
                buckets[key].add(small, full)
            else:
                buckets[key] = _Bucket(small, full)
    return flags


# --- the driver: shards on disk, resume, final dataset --------------------------------------------

def build(config: BuildConfig, max_new_shards: int | None = None, console=None) -> BuildReport:
    """Run (or resume) a build. `max_new_shards` stops after that many new shards (for tests)."""
    import datasets
    from rich.console import Console

    console = console or Console()
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # rich shows our own progress; datasets' tqdm bars are noise
    try:
        return _build(config, max_new_shards, console)
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()


def _build(config: BuildConfig, max_new_shards: int | None, console) -> BuildReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    out = Path(config.out)
    kind = describe(config.source)
    # Open the source before touching OUT: a bad SOURCE fails here, naming the valid ones.
    items = iter(read_source(config.source, n=config.n, start=config.start,
                             difficulty=config.difficulty, split=config.split))
    shard_dir = out / "shards"
    _check_settings(out, config)
    for leftover in shard_dir.glob("*.tmp"):  # a shard that was being written when interrupted
        shutil.rmtree(leftover)
    report = BuildReport()
    seen: set[str] = set()
    total = config.n if kind == "generator" else None
    new_shards = 0
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("kept {task.fields[kept]}"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress, \
            RenderPool(workers=config.workers, timeout=config.timeout) as pool:
        task = progress.add_task(f"{config.source} -> {out}", total=total, kept=0)
        index = 0
        while True:
            chunk = list(islice(items, config.shard_size))
            if not chunk:
                break
            path = shard_dir / f"shard-{index:05d}"
            if (path / "stats.json").exists():
                stats = json.loads((path / "stats.json").read_text())
            else:
                if max_new_shards is not None and new_shards >= max_new_shards:
                    return report
                rows, counts, problems, hashes = process_shard(chunk, set(seen), pool, config)
                stats = {"counts": dict(counts), "problems": problems, "hashes": hashes, "rows": len(chunk)}
                _save_shard(path, rows, stats)
                new_shards += 1
            seen.update(stats["hashes"])
            report.counts.update(stats["counts"])
            report.problems += stats["problems"]
            report.total += stats["rows"]
            progress.update(task, advance=stats["rows"], kept=report.counts[KEPT])
            index += 1
    if report.total == 0:
        raise BuildError(f"{config.source}: no rows to build from (start={config.start}, n={config.n})")
    _finalise(out, index, config, report)
    return report


def _check_settings(out: Path, config: BuildConfig) -> None:
    settings_file = out / "build.json"
    if settings_file.exists():
        previous = json.loads(settings_file.read_text())
        if previous != json.loads(json.dumps(config.settings())):
            changed = sorted(k for k in set(previous) | set(config.settings())
                             if previous.get(k) != json.loads(json.dumps(config.settings())).get(k))
            raise BuildError(f"{out} holds a build with other settings ({', '.join(changed)} differ); "
                             "choose a new --out, or pass --overwrite to start again")
    else:
        out.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(json.dumps(config.settings(), indent=2))


def _save_shard(path: Path, rows: list[dict], stats: dict) -> None:
    import datasets

    temporary = path.with_name(path.name + ".tmp")
    schema = features()
    columns = {name: [row[name] for row in rows] for name in schema}  # from_list loses an empty schema
    # One file even when empty: datasets 5.2 cannot load an empty dataset saved with no data file.
    datasets.Dataset.from_dict(columns, features=schema).save_to_disk(str(temporary), num_shards=1)
    (temporary / "stats.json").write_text(json.dumps(stats))
    temporary.rename(path)


def _finalise(out: Path, shard_count: int, config: BuildConfig, report: BuildReport) -> None:
    """Drop near-duplicate images across all shards, split by program, save, write report.json."""
    import datasets

    shards = [datasets.load_from_disk(str(out / "shards" / f"shard-{i:05d}")) for i in range(shard_count)]
    rows = datasets.concatenate_datasets(shards)
    duplicates = near_duplicates(rows["thumbnail"], config.filters.near_duplicate)
    report.counts[KEPT] -= sum(duplicates)
    report.counts["near-duplicate image"] += sum(duplicates)
    hashes = rows["code_hash"]
    test = [i for i, dup in enumerate(duplicates) if not dup and is_test(hashes[i], config.test_fraction)]
    train = [i for i, dup in enumerate(duplicates) if not dup and not is_test(hashes[i], config.test_fraction)]
    rows = rows.remove_columns(["thumbnail"])
    result = datasets.DatasetDict({"train": rows.select(train), "test": rows.select(test)})
    for split in ("train", "test"):
        if (out / split).exists():
            shutil.rmtree(out / split)
    result.save_to_disk(str(out), num_shards={name: 1 if len(split) == 0 else None for name, split in result.items()})
    report.splits = {"train": len(train), "test": len(test)}
    report.finished = True
    counts = {reason: count for reason, count in sorted(report.counts.items()) if count}
    (out / "report.json").write_text(json.dumps({
        "source": config.source, "total": report.total, "counts": counts, "splits": report.splits,
        "problems": report.problems}, indent=2))


def load_report(out: str | Path) -> dict:
    """The `report.json` of a finished build."""
    return json.loads((Path(out) / "report.json").read_text())
