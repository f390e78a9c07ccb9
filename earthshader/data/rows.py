"""The one adapter from any source to rows: SFT, GRPO, evaluation and inference all read their data here.

    from earthshader.data.rows import load_rows
    rows = load_rows("photos/", size=84)                                   # pictures, in sub-folders too
    rows = load_rows("crops:skimage:photos?size=96&count=256&seed=0", size=84)
    rows = load_rows("renders:../shared/data/shadertoys.jsonl.gz?time=1", split="test", n=32, size=84)
    rows = load_rows("data/textures", split="test", size=84)               # a factory dataset: image + code
    rows = load_rows("generator:textures", n=16, size=84, start=1_000_000)
    r = rows[0]
    r.image, r.code, r.reference, r.id, r.source, r.family, r.difficulty, r.params, r.time

A SPEC is one of (docs/pictures.md has examples):

- `generator:NAME`: programs of a generator group or family (or several in turn: `generator:stripes,rings`),
  seeds from `start`, rendered here (exactly `n`, default 16);
- `renders:PROGRAMS?time=T&test_fraction=F&count=N&source_split=S`: programs of a corpus file, a factory
  dataset or a Hub id, rendered at iTime `T` with the code withheld; `train` / `test` split by program;
- `crops:PICTURES?size=S&count=N&seed=K`: `N` (default 64) random square crops of `S` px (default: the
  model's side) of a picture set;
- `skimage:photos`, `skimage:textures`, `skimage:brick,coffee`: scikit-image's bundled photographs;
- a picture file, or a folder of them (PNG, JPEG, WebP, read recursively);
- a folder written by `save_to_disk` (told apart by its `dataset_info.json` / `state.json` /
  `dataset_dict.json`), or a Hub id: its `split`, an `image` column, and `code` when it has one.

One row type (`Row`); one id scheme (`family-seed` for generated programs, the source's id for corpus and
dataset rows, the path inside its folder for a picture, `ID@x,y` for a crop); one filter, the factory's
`earthshader.data.build.judge` (black, flat, low entropy, noise-like, non-finite): what it rejects is
named in the log; one reader of a dataset split (`earthshader.data.sources.load_split`). Images come out
square at `image_size(size)` through `prepare_image` (a non-square picture is
centre-cropped first), and the log says how many were cropped or resized. `code` is what a learner may
be shown or taught: it is "" for pictures and for code-withheld renders, whose program is kept in
`reference` for scoring only (evaluation's reference baseline and ShaderEval labels), never in a prompt.
With `n` smaller than a dataset or picture set, `n` rows are drawn with `seed`, kept in their order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np

from earthshader.data import pictures as pics
from earthshader.data.sources import SourceError, describe, is_saved_dataset, load_split, read_source
from earthshader.image.sizing import DEFAULT_IMAGE_SIZE, image_size, prepare_image

logger = logging.getLogger(__name__)

#: First generator seed of held-out `generator:` targets: far above the seeds SFT and the factory start from.
HELD_OUT_SEED = 1_000_000
GENERATOR_PREFIX, RENDERS_PREFIX, CROPS_PREFIX, SKIMAGE_PREFIX = "generator:", "renders:", "crops:", "skimage:"
#: Options of `crops:` and `renders:` specs, with their types.
CROP_OPTIONS = {"size": int, "count": int, "seed": int}
RENDER_OPTIONS = {"time": float, "test_fraction": float, "count": int, "source_split": str}
DEFAULT_CROPS = 64
DEFAULT_TEST_FRACTION = 0.1  # the factory's BuildConfig default: the same programs land in test


@dataclass(eq=False)  # rows hold arrays: compare their fields, not the rows
class Row:
    """One target or training row. `code`: the program a learner may see ("" when none or withheld)."""

    image: np.ndarray | None = None  # H x W x 3 uint8; square at the asked size once loaded
    code: str = ""
    source: str = "unknown"
    id: str = ""
    family: str | None = None
    difficulty: int | None = None
    params: dict = field(default_factory=dict)
    time: float = 0.0  # iTime the image was rendered at
    reference: str = ""  # the program that drew a code-withheld render: for scoring only

    @property
    def program(self) -> str:
        """The program that draws `image`, taught or withheld ("" for a picture)."""
        return self.code or self.reference


def load_rows(spec: str, *, split: str = "train", size: int = DEFAULT_IMAGE_SIZE, n: int | None = None,
              seed: int = 0, start: int = 0, difficulty: int | None = None, pool=None, workers: int | None = None,
              timeout: float = 10.0) -> list[Row]:
    """Rows of `spec` (see the module docstring), images `image_size(size)` square; `SourceError` if none."""
    if n is not None and n < 1:
        raise SourceError(f"--n must be at least 1, got {n}")
    side = image_size(size)
    render = {"pool": pool, "workers": workers, "timeout": timeout}
    if spec.startswith(GENERATOR_PREFIX):
        return generated_targets(spec[len(GENERATOR_PREFIX):], n or 16, size=side, start=start,
                                 difficulty=difficulty, **render)
    if spec.startswith(RENDERS_PREFIX):
        rows = withheld_renders(spec, split, side, n, **render)
    elif spec.startswith(CROPS_PREFIX):
        rows = crop_rows(spec, split, side)
    else:
        found = picture_rows(spec, split, n, seed)
        rows = _judged(_fitted(found, side, spec), spec)
    if n is not None and len(rows) > n:
        rows = [rows[i] for i in _pick(len(rows), n, seed)]
    if not rows:
        raise SourceError(f"{spec!r} (split {split!r}) gave no rows: nothing readable passed the filter")
    return rows


def picture_rows(spec: str, split: str, n: int | None = None, seed: int = 0) -> list[Row]:
    """Full-size rows of a picture file, folder, `skimage:` set, saved dataset or Hub id (before fitting)."""
    if spec.startswith(SKIMAGE_PREFIX):
        chosen = pics.skimage_pictures(spec[len(SKIMAGE_PREFIX):])
        return [Row(image=p.image, source="skimage", id=p.id) for p in chosen]
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix.lower() not in pics.PICTURE_SUFFIXES:
            raise SourceError(f"{spec}: not a picture ({', '.join(pics.PICTURE_SUFFIXES)}); for the programs of "
                              f"a corpus file use renders:{spec}")
        return [Row(image=pics.read_file(path).image, source=path.parent.name or "pictures", id=path.name)]
    if path.is_dir() and not is_saved_dataset(path):
        found = pics.read_folder(path)
        _warn_unreadable(spec, found.problems, len(found.problems) + len(found.pictures))
        return [Row(image=p.image, source=path.name, id=p.id) for p in found.pictures]
    if not path.exists() and (spec.count("/") != 1 or spec.startswith((".", "~", "/")) or spec.endswith("/")):
        raise SourceError(f"{spec!r}: no such folder or file, and not a Hub id (owner/name), generator:NAME "
                          f"(e.g. generator:textures), {SKIMAGE_PREFIX}photos, {CROPS_PREFIX}PICTURES?size=S&count=N "
                          f"or {RENDERS_PREFIX}PROGRAMS?time=T")
    return dataset_rows(spec, split, n, seed)


def dataset_rows(spec: str, split: str, n: int | None = None, seed: int = 0) -> list[Row]:
    """Rows of a saved dataset's or a Hub dataset's split: `image` required, `code` and the factory's columns kept."""
    import datasets

    data = load_split(spec, split)
    if "image" not in data.column_names:
        raise SourceError(f"{spec!r} split {split!r} has no 'image' column (columns: {data.column_names})")
    if isinstance(data.features["image"], datasets.Image):
        data = data.cast_column("image", datasets.Image(decode=False))  # decoded here: a bad one is named
    indices = _pick(len(data), n, seed) if n is not None and n < len(data) else range(len(data))
    rows, problems = [], []
    for index in indices:
        record = data[index]
        name = str(record.get("id") or index)
        try:
            image = _record_image(record["image"])
        except ValueError as err:
            problems.append(f"row {index} ({name}): {err}")
            continue
        params = record.get("params") or {}
        difficulty = record.get("difficulty")
        rows.append(Row(image=image, code=record.get("code") or "", source=str(record.get("source") or Path(spec).name),
                        id=name, family=record.get("family") or None,
                        difficulty=None if difficulty is None or difficulty < 0 else int(difficulty),
                        params=json.loads(params) if isinstance(params, str) and params.strip() else dict(params or {}),
                        time=float(record.get("time") or 0.0)))
    _warn_unreadable(spec, problems, len(indices))
    return rows


def crop_rows(spec: str, split: str, side: int) -> list[Row]:
    """`crops:PICTURES?size=S&count=N&seed=K`: random square crops, each one passing the filter."""
    from earthshader.data.build import Filters, judge

    inner, options = split_options(spec, CROPS_PREFIX, CROP_OPTIONS)
    if inner.startswith((CROPS_PREFIX, RENDERS_PREFIX, GENERATOR_PREFIX)):
        raise SourceError(f"{spec!r}: crops are taken from pictures (a folder, a file, skimage:..., a dataset), "
                          f"not from {inner.split(':')[0]}:")
    found = picture_rows(inner, split)
    size, count = options.get("size", side), options.get("count", DEFAULT_CROPS)
    filters = Filters()

    def keep(crop: np.ndarray) -> bool:  # judged as the model will see it
        return judge(np.asarray(prepare_image(crop, side)), filters)[0] is None

    crops = pics.random_crops([pics.Picture(r.id, r.image) for r in found], size=size, count=count,
                              seed=options.get("seed", 0), keep=keep)
    if len(crops) < count:
        logger.warning("%s: only %d of %d crops passed the filter (flat, black or noise-like patches are drawn "
                       "again, %d draws in all)", spec, len(crops), count, 4 * count + 16)
    source = f"crops:{found[0].source}" if found else "crops"
    return _fitted([Row(image=c.image, source=source, id=c.id) for c in crops], side, spec)


def withheld_renders(spec: str, split: str, side: int, n: int | None = None, *, pool=None, workers=None,
                     timeout: float = 10.0) -> list[Row]:
    """`renders:PROGRAMS?time=T&test_fraction=F&count=N`: renders of real programs with the code withheld.

    Programs go to `test` or `train` by the factory's hash of the normalised code (`build.is_test`, the
    same fraction as a factory build by default), so no shader is in both; duplicates are read once.
    Rendered in source order until `count` (else `n`, else every program of the split) pass the filter.
    """
    inner, options = split_options(spec, RENDERS_PREFIX, RENDER_OPTIONS)
    fraction, time = options.get("test_fraction", DEFAULT_TEST_FRACTION), options.get("time", 0.0)
    if not 0.0 < fraction < 1.0:
        raise SourceError(f"{spec!r}: test_fraction must be between 0 and 1, got {fraction}")
    if split not in ("train", "test"):
        raise SourceError(f"{spec!r}: renders are split by program into 'train' and 'test', not {split!r}")
    wanted = options.get("count", n)
    corrupt = Counter()
    candidates = _withheld_candidates(inner, options.get("source_split"), split, fraction, time, corrupt)
    kept: list[Row] = []
    with _render_pool(pool, workers, timeout) as render_pool:
        while wanted is None or len(kept) < wanted:  # in batches: the corpus is large, `count` often small
            need = None if wanted is None else wanted - len(kept)
            batch = list(islice(candidates, None if need is None else need + need // 4 + 2))  # most render
            if not batch:
                break
            kept += render_targets(batch, side, pool=render_pool, time=time)
    if corrupt:
        logger.warning("%s: %d corrupt rows skipped", spec, corrupt["rows"])
    return kept[:wanted] if wanted is not None else kept


def _withheld_candidates(source: str, source_split: str | None, split: str, fraction: float, time: float,
                         corrupt: Counter):
    """Rows of `split` with the program in `reference`, each normalised program once, in source order."""
    from earthshader.data.build import code_hash, is_test
    from earthshader.data.sources import RowProblem

    seen = set()
    for item in _programs(source, source_split):
        if isinstance(item, RowProblem):
            corrupt["rows"] += 1
            continue
        digest = code_hash(item.code)
        if digest in seen or is_test(digest, fraction) != (split == "test"):
            continue
        seen.add(digest)
        yield Row(reference=item.code, source=f"renders:{Path(source).name}", id=item.id, family=item.family or None,
                  difficulty=None if item.difficulty < 0 else item.difficulty, params=dict(item.params), time=time)


def _programs(source: str, source_split: str | None):
    kind = describe(source)
    if kind == "generator":
        raise SourceError(f"renders:{source}: generated programs are generator:{source}")
    if kind == "saved" and source_split is None:
        import datasets

        loaded = datasets.load_from_disk(source)
        for split in (list(loaded) if isinstance(loaded, datasets.DatasetDict) else ["train"]):
            yield from read_source(source, split=split)
        return
    yield from read_source(source, split=source_split or "train")


def split_options(spec: str, prefix: str, allowed: dict) -> tuple[str, dict]:
    """(`inner`, options) of `prefix + inner + "?key=value&..."`, each value checked against `allowed`'s type.

    >>> split_options("crops:photos/?size=96&count=8", "crops:", CROP_OPTIONS)
    ('photos/', {'size': 96, 'count': 8})
    """
    inner, _, query = spec[len(prefix):].partition("?")
    if not inner:
        raise SourceError(f"{spec!r}: {prefix} needs a source before '?', e.g. {prefix}photos/")
    options = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key not in allowed:
            raise SourceError(f"{spec!r}: unknown option {key!r}; {prefix} takes {', '.join(allowed)}")
        try:
            options[key] = allowed[key](value)
        except ValueError:
            raise SourceError(f"{spec!r}: {key}={value!r} is not {allowed[key].__name__}") from None
        if allowed[key] is int and options[key] < (0 if key == "seed" else 1):
            raise SourceError(f"{spec!r}: {key} must be {'0 or more' if key == 'seed' else 'at least 1'}")
        if allowed[key] is float and not np.isfinite(options[key]):
            raise SourceError(f"{spec!r}: {key} must be a finite number")
    return inner, options


# --- programs: generated, Shadereval, rendered and filtered -----------------------------------------------

def generated_programs(groups: list[str], n: int, seed: int = 0, difficulty: int | None = None) -> list[Row]:
    """`n` programs (no image yet) from the generator groups or families, seeds `seed..seed+n-1`, in turn."""
    from earthshader.data.generators import generate

    programs = []
    for i in range(n):
        sample = generate(groups[i % len(groups)], seed + i, difficulty=difficulty)
        programs.append(Row(code=sample.code, source=f"generator:{groups[i % len(groups)]}",
                            id=f"{sample.family}-{sample.seed}", family=sample.family,
                            difficulty=sample.difficulty, params=dict(sample.params)))
    return programs


def generated_targets(name: str, n: int, *, size: int, start: int = HELD_OUT_SEED, pool=None,
                      max_tries: int | None = None, difficulty: int | None = None, workers: int | None = None,
                      timeout: float = 10.0) -> list[Row]:
    """Exactly `n` rendered rows of generator group or family `name` (or several, `stripes,checker`, drawn in
    turn), seeds from `start`; rejected seeds skipped."""
    from earthshader.data.generators import FAMILIES, GROUPS

    names = name.split(",")
    unknown = [part for part in names if part not in GROUPS and part not in FAMILIES]
    if unknown:
        raise SourceError(f"generator:{name}: unknown generator {', '.join(unknown)}; groups: {sorted(GROUPS)}, "
                          f"families: {sorted(FAMILIES)}")
    max_tries = max_tries or 4 * n
    rows: list[Row] = []
    seed = start
    with _render_pool(pool, workers, timeout) as render_pool:
        while len(rows) < n and seed < start + max_tries:
            programs = generated_programs(names, n - len(rows), seed, difficulty)
            seed += len(programs)
            rows += render_targets(programs, size, pool=render_pool)
    if len(rows) < n:
        raise SourceError(f"generator:{name} gave only {len(rows)} targets that pass the filter in {max_tries} seeds")
    return rows


def render_targets(programs: list[Row], size: int, workers: int | None = None, timeout: float = 10.0, *,
                   pool=None, time: float = 0.0) -> list[Row]:
    """Render each row's program at `image_size(size)`, iTime `time`; keep what the factory's `judge` keeps."""
    from earthshader.data.build import Filters, judge

    side = image_size(size)
    with _render_pool(pool, workers, timeout) as render_pool:
        results = render_pool.render_many([p.program for p in programs], width=side, height=side, time=time)
    kept, dropped, filters = [], Counter(), Filters()
    for program, result in zip(programs, results):
        reason = result.error.kind if not result.ok else judge(result.image, filters, result.nonfinite_fraction)[0]
        if reason is None:
            kept.append(replace(program, image=result.image))
        else:
            dropped[reason] += 1
    logger.info("rendered %d programs at %d px: kept %d, dropped %s", len(programs), side, len(kept), dict(dropped))
    return kept


# --- helpers ----------------------------------------------------------------------------------------------

def _pick(total: int, n: int | None, seed: int) -> list[int]:
    if n is None or n >= total:
        return list(range(total))
    return sorted(random.Random(f"targets:{seed}").sample(range(total), n))


def _record_image(value) -> np.ndarray:
    if isinstance(value, dict):  # datasets.Image(decode=False): bytes, or a path
        return pics.decode(value.get("bytes") or value.get("path") or b"")
    if value is None:
        raise ValueError("no image")
    return pics.to_rgb(value)


def _fitted(rows: list[Row], side: int, spec: str) -> list[Row]:
    """Rows with square `side` px images (`prepare_image`); the log says how many were changed.

    A picture that can never be a target (`earthshader.image.metrics.target_image`: fewer than 3 pixels a
    side, not colour) is named in a warning and left out.
    """
    from earthshader.image.metrics import target_image

    changed, unusable = Counter(), []
    out = []
    for row in rows:
        try:
            target_image(row.image)
        except ValueError as err:
            unusable.append(f"{row.id} ({err})")
            continue
        height, width = row.image.shape[:2]
        if (height, width) != (side, side):
            changed["non-square" if height != width else "resized"] += 1
            row = replace(row, image=np.asarray(prepare_image(row.image, side)))
        out.append(row)
    if changed:
        cropped = f" ({changed['non-square']} non-square, centre-cropped first)" if changed["non-square"] else ""
        logger.info("%s: %d of %d pictures resized to %d x %d px%s", spec, sum(changed.values()), len(rows), side,
                    side, cropped)
    if unusable:
        logger.warning("%s: %d of %d pictures cannot be targets and are skipped: %s", spec, len(unusable), len(rows),
                       "; ".join(unusable[:20]) + (" ..." if len(unusable) > 20 else ""))
    return out


def _judged(rows: list[Row], spec: str) -> list[Row]:
    """The rows the factory's filter keeps; the others are named in a warning."""
    from earthshader.data.build import Filters, judge

    filters, kept, rejected = Filters(), [], []
    for row in rows:
        reason = judge(row.image, filters)[0]
        (rejected.append(f"{row.id} ({reason})") if reason else kept.append(row))
    if rejected:
        logger.warning("%s: %d of %d pictures dropped by the filter (earthshader.data.build.judge): %s", spec,
                       len(rejected), len(rows), ", ".join(rejected[:20]) + (" ..." if len(rejected) > 20 else ""))
    return kept


def _warn_unreadable(spec: str, problems: list[str], total: int) -> None:
    if problems:
        logger.warning("%s: %d of %d pictures cannot be read and are skipped: %s", spec, len(problems), total,
                       "; ".join(problems[:20]) + (" ..." if len(problems) > 20 else ""))


@contextlib.contextmanager
def _render_pool(pool, workers: int | None, timeout: float):
    if pool is not None:
        yield pool
        return
    from earthshader.render import RenderPool

    with RenderPool(workers=workers, timeout=timeout) as own:
        yield own
