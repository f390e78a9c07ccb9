"""The one adapter from any source to rows: SFT, GRPO, evaluation and inference all read their data here.

    from earthshader.data.rows import load_rows
    rows = load_rows("photos/", size=84)                                   # pictures, in sub-folders too
    rows = load_rows("crops:skimage:photos?size=96&count=256&seed=0", size=84)
    rows = load_rows("renders:../shared/data/shadertoys.jsonl.gz?time=1", split="test", n=32, size=84)
    rows = load_rows("data/textures", split="test", size=84)               # a factory dataset: image + code
    rows = load_rows("generator:textures", n=16, size=84, start=1_000_000)
    rows = load_rows("photos/", size=84, judged=False)                     # answer every scoreable picture
    r = rows[0]
    r.image, r.code, r.reference, r.id, r.source, r.family, r.difficulty, r.params, r.time

A SPEC is one of the picture sources in `SOURCES`, tried in order (docs/pictures.md has examples):
`generator:NAME`, `renders:PROGRAMS?...`, `crops:PICTURES?...`, `skimage:NAMES`, a picture file, a folder of
pictures, a folder written by `save_to_disk`, a Hub id. A new kind of source is one `PictureSource` in that
list: how to recognise its spec, how to check it cheaply (for the command line's argument type,
`picture_spec`), how to load it. Every stage reads specs through `load_rows` and checks them with
`picture_spec`, so the same string means the same rows, and the same error, everywhere.

One row type (`Row`); one id scheme (`family-seed` for generated programs, the source's id for corpus and
dataset rows, the path inside its folder for a picture, `ID@x,y` for a crop); one reader of picture files
(`earthshader.data.picture_reader`, its guards); one reader of a dataset split (`sources.load_split`).
Images come out square at `sizing.image_size(size)` through `sizing.prepare_image` (a non-square picture is
centre-cropped first), fitted as each is read, and the log says how many were cropped or resized. `code` is
what a learner may be shown: "" for pictures and code-withheld renders (whose program is in `reference`).

The filter: a training set (`judged=True`, the default) keeps what the factory's `earthshader.data.build.judge`
keeps (black, flat, low entropy, noise-like pictures are dropped, each named in the log); a set to be answered
(`judged=False`: evaluation, inference) keeps every picture that can be scored and refuses, by name, the
flat ones (nothing beats a flat picture's own mean-colour image, so it has no skill). With `n` smaller than
a dataset or picture set, `n` files or rows are drawn with `seed` and read (a refused one replaced by the next
of a drawn order), kept in their order (`row_spec.draw_order`). Bounds (`row_spec.check_count`) are checked
before anything is read or rendered.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from earthshader.data import pictures as pics
from earthshader.data.dataset_rows import dataset_rows
from earthshader.data.picture_reader import printable_id
from earthshader.data.rendered import (  # noqa: F401  (re-exported: the loader's programs)
    DEFAULT_TEST_FRACTION,
    generated_programs,
    generated_targets,
    generator_names,
    render_targets,
    withheld_renders,
)
from earthshader.data.row_spec import (  # noqa: F401  (re-exported: every stage imports them from here)
    CROP_OPTIONS,
    CROPS_PREFIX,
    GENERATOR_PREFIX,
    HELD_OUT_SEED,
    RENDER_OPTIONS,
    RENDERS_PREFIX,
    SKIMAGE_PREFIX,
    Request,
    Row,
    check_count,
    draw_order,
    fit_picture,
    keeper,
    log_fitted,
    logger,
    max_rows,
    split_options,
    warn_rejected,
    warn_unread,
)
from earthshader.data.sources import SourceError, describe, is_saved_dataset
from earthshader.image import sizing

DEFAULT_CROPS = 64
#: Files that hold programs, not pictures: `renders:` reads them.
PROGRAM_SUFFIXES = (".jsonl", ".gz", ".json", ".parquet", ".glsl", ".frag")


@dataclass(frozen=True)
class PictureSource:
    """One kind of spec: `matches(spec)`, a cheap `check(spec)` (no reading), and `load(spec, request)`."""

    name: str
    example: str
    matches: Callable[[str], bool]
    check: Callable[[str], None]
    load: Callable[[str, Request], list[Row]]


def load_rows(spec: str, *, split: str = "train", size: int = sizing.DEFAULT_IMAGE_SIZE, n: int | None = None,
              seed: int = 0, start: int = 0, difficulty: int | None = None, pool=None, workers: int | None = None,
              timeout: float = 10.0, judged: bool = True) -> list[Row]:
    """Rows of `spec` (see the module docstring), images `sizing.image_size(size)` square; `SourceError` if none."""
    if n is not None and n < 1:
        raise SourceError(f"--n must be at least 1, got {n}")
    request = Request(split, sizing.image_size(size), n, seed, start, difficulty, judged, (pool, workers, timeout))
    check_count(n, request.side, "--n")
    rows = source_for(spec).load(spec, request)
    if n is not None and len(rows) > n:  # crops and renders: `n` of them, drawn with `seed`, in their order
        rows = [rows[i] for i in draw_order(len(rows), n, seed)[:n]]
    if not rows:
        raise SourceError(f"{spec!r} (split {split!r}) gave no rows: nothing readable passed the filter")
    return rows


def source_for(spec: str) -> PictureSource:
    """The first of `SOURCES` whose spec this is; `SourceError` listing the kinds when none is."""
    for source in SOURCES:
        if source.matches(spec):
            return source
    path = Path(spec).expanduser()
    what = "a link to a missing file" if path.is_symlink() else "no such folder or file"
    raise SourceError(f"{spec!r}: {what}; a picture set is an existing file or folder, or "
                      + ", ".join(s.example for s in SOURCES if s.name not in ("file", "folder")))


def check_spec(spec: str) -> str:
    """`spec` when a source reads it (checked without reading anything); else the `SourceError` it would give."""
    source_for(spec).check(spec)
    return spec


def picture_spec(text: str) -> str:
    """An argparse type for a picture set (`--dataset`, `infer`'s inputs, `--dataset_path`): checked up front.

    >>> picture_spec("skimage:brick")
    'skimage:brick'
    >>> picture_spec("crops:skimage:brick?count=0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: 'crops:skimage:brick?count=0': count must be at least 1
    """
    try:
        return check_spec(text)
    except SourceError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# --- the sources ------------------------------------------------------------------------------------------

def _generated(spec: str, request: Request) -> list[Row]:
    count = request.n or 16
    check_count(count, request.side, "--n")
    pool, workers, timeout = request.render
    return generated_targets(spec[len(GENERATOR_PREFIX):], count, size=request.side, start=request.start,
                             difficulty=request.difficulty, pool=pool, workers=workers, timeout=timeout)


def _check_generator(spec: str) -> None:
    generator_names(spec[len(GENERATOR_PREFIX):])


def _renders(spec: str, request: Request) -> list[Row]:
    check_count(split_options(spec, RENDERS_PREFIX, RENDER_OPTIONS)[1].get("count"), request.side, f"{spec}: count")
    pool, workers, timeout = request.render
    return withheld_renders(spec, request.split, request.side, request.n, pool=pool, workers=workers, timeout=timeout)


def _check_renders(spec: str) -> None:
    inner, options = split_options(spec, RENDERS_PREFIX, RENDER_OPTIONS)
    if not 0.0 < options.get("test_fraction", DEFAULT_TEST_FRACTION) < 1.0:
        raise SourceError(f"{spec!r}: test_fraction must be between 0 and 1")
    if describe(inner) == "generator":
        raise SourceError(f"{spec}: generated programs are generator:{inner}")


def _crops(spec: str, request: Request) -> list[Row]:
    """`crops:PICTURES?size=S&count=N&seed=K`: random square crops, each one passing the filter."""
    from earthshader.data.build import Filters, judge

    inner, options = split_options(spec, CROPS_PREFIX, CROP_OPTIONS)
    _check_crops(spec)
    side, count = request.side, options.get("count", DEFAULT_CROPS)
    check_count(count, side, f"{spec}: count")
    found, source = _full_size(inner, request.split)
    filters = Filters()

    def keep(crop: np.ndarray) -> bool:  # judged as the model will see it
        return judge(np.asarray(sizing.prepare_image(crop, side)), filters)[0] is None

    crops = pics.random_crops(found, size=options.get("size", side), count=count, seed=options.get("seed", 0),
                              keep=keep)
    if len(crops) < count:
        logger.warning("%s: only %d of %d crops passed the filter (flat, black or noise-like patches are drawn "
                       "again, %d draws in all)", spec, len(crops), count, 4 * count + 16)
    return _fitted([pics.Picture(c.id, c.image) for c in crops], side, spec, f"crops:{source}", judged=None)[0]


def _check_crops(spec: str) -> None:
    inner, _ = split_options(spec, CROPS_PREFIX, CROP_OPTIONS)
    if inner.startswith((CROPS_PREFIX, RENDERS_PREFIX, GENERATOR_PREFIX)):
        raise SourceError(f"{spec!r}: crops are taken from pictures (a folder, a file, skimage:..., a dataset), "
                          f"not from {inner.split(':')[0]}:")
    check_spec(inner)


def _full_size(inner: str, split: str) -> tuple[list, str]:
    """The pictures of a crop source at full size (a folder's through a bounded cache), and the source's name."""
    if inner.startswith(SKIMAGE_PREFIX):
        return pics.skimage_pictures(inner[len(SKIMAGE_PREFIX):]), "skimage"
    path = Path(inner).expanduser()
    if path.is_file():
        return [pics.read_file(path)], printable_id(path.parent.name) or "pictures"
    if path.is_dir() and not is_saved_dataset(path):
        found = pics.lazy_folder(path)
        warn_unread(inner, found)
        return found.pictures, printable_id(path.name)
    rows = dataset_rows(inner, Request(split=split), fit=False)
    return [pics.Picture(r.id, r.image) for r in rows], rows[0].source if rows else "dataset"


def _skimage(spec: str, request: Request) -> list[Row]:
    chosen = pics.skimage_pictures(spec[len(SKIMAGE_PREFIX):])
    return _fitted([pics.Picture(p.id, p.image) for p in chosen], request.side, spec, "skimage", request.judged)[0]


def _check_skimage(spec: str) -> None:
    pics.skimage_names(spec[len(SKIMAGE_PREFIX):])  # raises, naming what is unknown


def _file(spec: str, request: Request) -> list[Row]:
    _check_file(spec)
    path = Path(spec).expanduser()
    picture = pics.read_file(path, side=request.side)
    source = printable_id(path.parent.name) or "pictures"
    rows, rejected = _fitted([picture], request.side, spec, source, request.judged)
    if rejected:
        raise pics.PictureError(f"{printable_id(spec)}: the picture {_passes(request, negated=True)}: "
                                f"{rejected[0].split(' (', 1)[1][:-1]}")
    return rows


def _check_file(spec: str) -> None:
    if Path(spec).suffix.lower() in PROGRAM_SUFFIXES or spec.lower().endswith(".jsonl.gz"):
        raise SourceError(f"{spec}: not a picture ({', '.join(pics.PICTURE_SUFFIXES)}, or anything Pillow reads); "
                          f"for the programs of a corpus file use renders:{spec}")


def _folder(spec: str, request: Request) -> list[Row]:
    path = Path(spec).expanduser()
    files, _ = pics.picture_files(path)
    if request.n is None:
        check_count(len(files), request.side, f"{spec} ({len(files):,} pictures; pass --n)")
    found = pics.read_folder(path, side=request.side, keep=keeper(request),
                             order=draw_order(len(files), request.n, request.seed), want=request.n)
    if not found.pictures:
        raise pics.PictureError(f"{printable_id(spec)}: none of its {len(found.dropped)} readable pictures "
                                f"{_passes(request)}: " + "; ".join(found.dropped[:5]))
    warn_unread(spec, found)
    warn_rejected(spec, found.dropped, len(found.pictures) + len(found.dropped), request.judged)
    log_fitted(found.pictures, request.side, spec)
    return [Row(image=p.image, source=printable_id(path.name), id=p.id) for p in found.pictures]


def _is_file(spec: str) -> bool:
    return Path(spec).expanduser().is_file()


def _is_folder(spec: str) -> bool:
    return Path(spec).expanduser().is_dir() and not is_saved_dataset(Path(spec).expanduser())


def _is_hub_id(spec: str) -> bool:
    path = Path(spec).expanduser()
    if path.exists() or path.is_symlink() or path.suffix.lower() in pics.PICTURE_SUFFIXES + PROGRAM_SUFFIXES:
        return False
    return spec.count("/") == 1 and not spec.endswith("/") and not spec.startswith((".", "~", "/"))


def _nothing(spec: str) -> None:
    """Nothing to check without reading (a folder that exists, a Hub id)."""


#: Every kind of picture spec, in the order they are tried: extend it here.
SOURCES = [
    PictureSource("generator", "generator:NAME (e.g. generator:textures)", lambda s: s.startswith(GENERATOR_PREFIX),
                  _check_generator, _generated),
    PictureSource("renders", "renders:PROGRAMS?time=T", lambda s: s.startswith(RENDERS_PREFIX), _check_renders,
                  _renders),
    PictureSource("crops", "crops:PICTURES?size=S&count=N", lambda s: s.startswith(CROPS_PREFIX), _check_crops, _crops),
    PictureSource("skimage", "skimage:photos", lambda s: s.startswith(SKIMAGE_PREFIX), _check_skimage, _skimage),
    PictureSource("file", "a picture file", _is_file, _check_file, _file),
    PictureSource("folder", "a folder of pictures", _is_folder, _nothing, _folder),
    PictureSource("saved", "a folder written by save_to_disk",
                  lambda s: is_saved_dataset(Path(s).expanduser()), _nothing, dataset_rows),
    PictureSource("hub", "a Hub id (owner/name)", _is_hub_id, _nothing, dataset_rows),
]


# --- helpers ----------------------------------------------------------------------------------------------

def _fitted(pictures: list, side: int, spec: str, source: str, judged: bool | None) -> tuple[list[Row], list[str]]:
    """(rows, "id (reason)" of those refused): `pictures` fitted to `side` px and filtered (`judged` None: not
    filtered), each change logged."""
    keep = keeper(Request(judged=bool(judged)))
    rows, rejected = [], []
    for picture in pictures:
        image = fit_picture(picture.image, side)
        verdict = keep(image) if judged is not None else image
        if isinstance(verdict, str):
            rejected.append(f"{picture.id} ({verdict})")
        else:
            rows.append(Row(image=image, source=source, id=picture.id))
    log_fitted(pictures, side, spec)
    if judged is not None and len(pictures) > 1:
        warn_rejected(spec, rejected, len(pictures), judged)
    return rows, rejected


def _passes(request: Request, negated: bool = False) -> str:
    if request.judged:
        return "is dropped by the training filter" if negated else "passes the training filter"
    return "cannot be answered" if negated else "can be answered"


