"""Pictures with no program: image files, folders of them, scikit-image's sample photographs, random crops.

    from earthshader.data import pictures
    found = pictures.read_folder("photos/", side=84)    # PNG, JPEG, WebP, in sub-folders too; each fitted as read
    found.pictures[0].id, found.pictures[0].image       # "trip/beach.jpg", H x W x 3 uint8
    found.problems                                      # ["broken.png: cannot identify image file ..."]
    found.unvisited                                     # ["private/: cannot be read (Permission denied)"]
    photos = pictures.skimage_pictures("photos")        # the 12 photographs inside scikit-image's wheel
    crops = pictures.random_crops(photos, size=96, count=256, seed=0)

Every file is decoded by the one reader, `earthshader.data.picture_reader.read_picture`, behind its guards
(size, shape, decompression bombs; 16-bit and EXIF-rotated pictures read as they look). Fitting a picture to
the model's square side (centre crop, then resize) is `earthshader.image.sizing.prepare_image`'s job,
done and logged by `earthshader.data.rows`, as each picture is read: a folder load holds one picture at
full size at a time. Crops need the full size: `lazy_folder` keeps pictures in a `PixelCache` of
`CROP_CACHE_BYTES` and reads again those it had to drop. A file that cannot be read is reported in
`problems` (named, with the reason) and the others are read; a folder with no readable picture is an
error that names it.

>>> [p.id for p in skimage_pictures("textures")]
['brick', 'grass', 'gravel']
>>> crops = random_crops(skimage_pictures("brick"), size=64, count=3, seed=0)
>>> [c.image.shape for c in crops], crops[0].id
([(64, 64, 3), (64, 64, 3), (64, 64, 3)], 'brick@381,285')
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from earthshader.data.picture_reader import PictureRefused, printable_id, read_fitted, read_picture, to_rgb
from earthshader.data.sources import SourceError

__all__ = ["PICTURE_SUFFIXES", "Found", "LazyPicture", "Picture", "PictureError", "PixelCache", "lazy_folder",
           "picture_digest", "picture_files", "random_crops", "read_file", "read_folder", "skimage_pictures",
           "to_rgb", "without_training_pictures"]

#: File types read as pictures in a folder (by suffix, case-insensitive).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Bytes of full-size pictures that crops of a folder keep decoded at once.
CROP_CACHE_BYTES = 512 * 2**20

#: scikit-image sample photographs that ship inside its wheel (`skimage.data.<name>()`, no download).
SKIMAGE_PHOTOS = ("brick", "grass", "gravel", "astronaut", "coffee", "chelsea", "rocket", "coins", "camera", "moon",
                  "horse", "hubble_deep_field")
#: Its other bundled pictures large enough to crop: microscopy, a retina, a clock, scanned and photographed text.
SKIMAGE_MORE = ("cell", "clock", "immunohistochemistry", "page", "retina", "text")
#: Named sets: `skimage:photos` (the twelve above), `skimage:textures`, `skimage:more`; or names, `skimage:brick,cell`.
SKIMAGE_SETS = {"photos": SKIMAGE_PHOTOS, "textures": ("brick", "grass", "gravel"), "more": SKIMAGE_MORE}


class PictureError(SourceError):
    """A picture set that gives no picture at all (no such path, nothing readable, unknown name)."""


class Picture(NamedTuple):
    """One picture: an id (a path relative to its folder, a sample name, `name@x,y` for a crop), its pixels,
    and its (height, width) as read, before any fitting (None: as `image`)."""

    id: str
    image: np.ndarray  # H x W x 3 uint8
    size: tuple | None = None

    @property
    def shape(self) -> tuple:
        return self.image.shape


@dataclass
class Found:
    """What reading a picture set gave: the pictures, the files that could not be read ("name: reason"),
    the folders or links that were not looked into ("private/: cannot be read (...)"), and the pictures
    that `fit` refused."""

    pictures: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unvisited: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # "name (reason)": read, but `fit` said no


def picture_digest(image: np.ndarray) -> str:
    """SHA-1 of a picture's pixels and shape: the one test of "the same picture" (a resumed run's pictures,
    a held-out picture that is also a training one)."""
    import hashlib

    array = np.ascontiguousarray(image)
    return hashlib.sha1(repr(array.shape).encode() + array.tobytes()).hexdigest()


def without_training_pictures(heldout: list, train: list, what: str = "held-out pictures") -> list:
    """`heldout` less every row whose `image` is also a row's of `train` (the same pixels), with a
    warning that says how many went: held-out figures must be on pictures never trained on."""
    import logging

    seen = {picture_digest(row.image) for row in train}
    kept = [row for row in heldout if picture_digest(row.image) not in seen]
    if len(kept) < len(heldout):
        logging.getLogger(__name__).warning("dropped %d %s that are also training pictures",
                                            len(heldout) - len(kept), what)
    return kept


def read_file(path: str | Path, *, side: int | None = None) -> Picture:
    """One image file through the one reader (`read_picture`, or `read_fitted` to `side` px, and their guards);
    `PictureError` naming it when it is missing, refused or cannot be read."""
    path = Path(path)
    if not path.is_file():
        what = "a link to a missing file" if path.is_symlink() else "no such file"
        raise PictureError(f"{printable_id(str(path))}: {what}")
    try:
        image, size = read_fitted(path, side) if side else (read_picture(path), None)
    except PictureRefused as err:
        raise PictureError(f"cannot read {printable_id(str(path))} as a picture ({err})") from None
    return Picture(printable_id(path.name), image, size or image.shape[:2])


def picture_files(folder: str | Path) -> tuple[list[Path], list[str]]:
    """The picture files under `folder`, recursively, in sorted order (hidden files and folders skipped), and
    what could not be looked at: "sub/: cannot be read (...)", "a.png: a link to a missing file", and links
    to folders (not followed)."""
    folder = Path(folder)
    files, notes = [], []

    def relative(path) -> str:
        return printable_id(Path(path).relative_to(folder).as_posix())

    def unreadable(error: OSError) -> None:
        notes.append(f"{relative(error.filename) if error.filename else '?'}/: cannot be read "
                     f"({error.strerror or error})")

    for root, folders, names in os.walk(folder, onerror=unreadable):
        here = Path(root)
        notes += [f"{relative(here / name)}: a link to a folder, not followed" for name in sorted(folders)
                  if not name.startswith(".") and (here / name).is_symlink()]
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in names:
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in PICTURE_SUFFIXES:
                continue
            if path.is_file():
                files.append(path)
            else:
                notes.append(f"{relative(path)}: {'a link to a missing file' if path.is_symlink() else 'not a file'}")
    return sorted(files), notes


def read_folder(folder: str | Path, *, side: int | None = None, keep: Callable[[np.ndarray], np.ndarray | str] | None
                = None, order: list[int] | None = None, want: int | None = None, cache: PixelCache | None = None
                ) -> Found:
    """The pictures under `folder` (ids: paths relative to it, made printable); unreadable ones in `problems`.

    With `side`, each picture is read fitted to `side` px (`read_fitted`) before the next is read, so only one
    is ever held at full size; `keep` may then refuse it by returning the reason (a str: it goes to
    `dropped`). `order` is the order to read the files in (indices into the sorted files; default: sorted)
    and `want` stops once that many are kept; the pictures come back in sorted order. Without `side` they
    are full size; with `cache`, as `LazyPicture`s whose pixels the cache holds (crops).
    """
    folder = Path(folder)
    files, notes = picture_files(folder)
    if not files:
        raise PictureError(f"{printable_id(str(folder))}: no pictures ({', '.join(PICTURE_SUFFIXES)}) in it or "
                           "its sub-folders, and not a dataset written by datasets' save_to_disk"
                           + (f" ({'; '.join(notes[:5])})" if notes else ""))
    found, read = Found(unvisited=notes), {}
    for index in (range(len(files)) if order is None else order):
        if want is not None and len(read) >= want:
            break
        path, name = files[index], printable_id(files[index].relative_to(folder).as_posix())
        try:
            if cache:
                image = cache.get(path, partial(read_picture, path))
                read[index] = LazyPicture(name, image.shape, path, cache)
                continue
            image, size = read_fitted(path, side) if side else (read_picture(path), None)
        except PictureRefused as err:
            found.problems.append(f"{name}: {err}")
            continue
        verdict = keep(image) if keep else image
        if isinstance(verdict, str):
            found.dropped.append(f"{name} ({verdict})")
        else:
            read[index] = Picture(name, image, size or image.shape[:2])
        image = verdict = None  # let the pixels go before the next picture is decoded
    found.pictures = [read[i] for i in sorted(read)]
    if not found.pictures and not found.dropped:
        raise PictureError(f"{printable_id(str(folder))}: none of its {len(files)} picture files can be read: "
                           + "; ".join(found.problems[:5]))
    return found


class PixelCache:
    """Pictures decoded on demand and kept while they fit in `budget` bytes (the least recently used go first;
    the one just read always stays)."""

    def __init__(self, budget: int = CROP_CACHE_BYTES):
        self.budget, self.held, self.entries = budget, 0, OrderedDict()

    def get(self, key, load: Callable[[], np.ndarray]) -> np.ndarray:
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        image = load()
        self.entries[key] = image
        self.held += image.nbytes
        while self.held > self.budget and len(self.entries) > 1:
            self.held -= self.entries.popitem(last=False)[1].nbytes
        return image


class LazyPicture:
    """A full-size picture file whose pixels (`.image`) come from a `PixelCache`, read again when dropped."""

    def __init__(self, id: str, shape: tuple, path: Path, cache: PixelCache):
        self.id, self.shape, self.path, self.cache = id, shape, path, cache

    @property
    def image(self) -> np.ndarray:
        try:
            image = self.cache.get(self.path, partial(read_picture, self.path))
        except PictureRefused as err:
            raise PictureError(f"{self.id}: cannot be read again ({err})") from None
        if image.shape != self.shape:
            raise PictureError(f"{self.id}: the file changed while it was read ({self.shape} then {image.shape})")
        return image


def lazy_folder(folder: str | Path, budget: int = CROP_CACHE_BYTES) -> Found:
    """`read_folder` at full size for crops, holding at most `budget` bytes of pixels at once."""
    return read_folder(folder, cache=PixelCache(budget))


def skimage_names(names: str) -> tuple[str, ...]:
    """The pictures `skimage:NAMES` names: a set name or comma-separated names; `PictureError` for unknown ones.

    >>> skimage_names("textures"), skimage_names("brick, cell")
    (('brick', 'grass', 'gravel'), ('brick', 'cell'))
    """
    chosen = SKIMAGE_SETS.get(names) or tuple(n.strip() for n in names.split(",") if n.strip())
    known = SKIMAGE_PHOTOS + SKIMAGE_MORE
    unknown = [n for n in chosen if n not in known]
    if unknown or not chosen:
        raise PictureError(f"skimage:{names}: unknown {unknown or 'names'}; sets: {sorted(SKIMAGE_SETS)}, "
                           f"pictures: {', '.join(known)}")
    return chosen


def skimage_pictures(names: str) -> list[Picture]:
    """scikit-image's bundled pictures (no download): a set (`photos`, `textures`, `more`) or comma-separated names."""
    import skimage.data

    return [Picture(name, to_rgb(getattr(skimage.data, name)())) for name in skimage_names(names)]


def random_crops(pictures: list, size: int, count: int, seed: int = 0,
                 keep: Callable[[np.ndarray], bool] | None = None, max_tries: int | None = None) -> list[Picture]:
    """`count` square crops of `size` pixels at random places, taken from the pictures in turn.

    `pictures`: `Picture`s or `LazyPicture`s (anything with `id`, `shape` and `image`). The same pictures,
    size and seed give the same crops, and a larger `count` only adds crops after them. A crop that `keep`
    rejects (for example a flat patch of sky) is drawn again elsewhere, up to `max_tries` draws in all
    (default 4 x count + 16). Pictures smaller than `size` give no crops; when none is large enough,
    `PictureError` says so.
    """
    if size < 1 or count < 1:
        raise PictureError(f"crops need a positive size and count, got size={size}, count={count}")
    usable = [p for p in pictures if min(p.shape[:2]) >= size]
    if not usable:
        largest = max((min(p.shape[:2]) for p in pictures), default=0)
        raise PictureError(f"no picture is at least {size} px on its shorter side (the largest is {largest} px): "
                           "choose a smaller crop size")
    rng = np.random.default_rng(seed)
    crops: list[Picture] = []
    tries = 0
    max_tries = max_tries or 4 * count + 16
    while len(crops) < count and tries < max_tries:
        picture = usable[tries % len(usable)]
        height, width = picture.shape[:2]
        x, y = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
        tries += 1
        crop = picture.image[y:y + size, x:x + size]
        if keep is None or keep(crop):
            crops.append(Picture(f"{picture.id}@{x},{y}", np.ascontiguousarray(crop)))
    return crops
