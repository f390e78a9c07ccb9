"""Pictures with no program: image files, folders of them, scikit-image's sample photographs, random crops.

    from earthshader.data import pictures
    found = pictures.read_folder("photos/")             # PNG, JPEG, WebP, in sub-folders too
    found.pictures[0].id, found.pictures[0].image       # "trip/beach.jpg", H x W x 3 uint8 (full size)
    found.problems                                      # ["broken.png: cannot identify image file ..."]
    photos = pictures.skimage_pictures("photos")        # the 12 photographs inside scikit-image's wheel
    crops = pictures.random_crops(photos, size=96, count=256, seed=0)

Everything here is full size and RGB: fitting a picture to the model's square side (centre crop, then
resize) is `earthshader.modeling.prompts.prepare_image`'s job, done and logged by `earthshader.data.rows`.
A file that cannot be read is reported in `problems` (named, with the reason) and the others are read;
a folder with no readable picture is an error that names it.

>>> [p.id for p in skimage_pictures("textures")]
['brick', 'grass', 'gravel']
>>> crops = random_crops(skimage_pictures("brick"), size=64, count=3, seed=0)
>>> [c.image.shape for c in crops], crops[0].id
([(64, 64, 3), (64, 64, 3), (64, 64, 3)], 'brick@381,285')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from earthshader.data.sources import SourceError

#: File types read as pictures (by suffix, case-insensitive).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

#: scikit-image sample photographs that ship inside its wheel (`skimage.data.<name>()`, no download).
SKIMAGE_PHOTOS = ("brick", "grass", "gravel", "astronaut", "coffee", "chelsea", "rocket", "coins", "camera", "moon",
                  "horse", "hubble_deep_field")
#: Named sets of them: `skimage:photos` (all), `skimage:textures`; or names, `skimage:brick,coffee`.
SKIMAGE_SETS = {"photos": SKIMAGE_PHOTOS, "textures": ("brick", "grass", "gravel")}


class PictureError(SourceError):
    """A picture set that gives no picture at all (no such path, nothing readable, unknown name)."""


class Picture(NamedTuple):
    """One picture: an id (a path relative to its folder, a sample name, `name@x,y` for a crop) and its pixels."""

    id: str
    image: np.ndarray  # H x W x 3 uint8, full size


@dataclass
class Found:
    """What reading a picture set gave: the pictures, and the files that could not be read ("name: reason")."""

    pictures: list[Picture] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def picture_digest(image: np.ndarray) -> str:
    """SHA-1 of a picture's pixels and shape: the one test of "the same picture" (a resumed run's pictures,
    a held-out picture that is also a training one)."""
    import hashlib

    array = np.ascontiguousarray(image)
    return hashlib.sha1(repr(array.shape).encode() + array.tobytes()).hexdigest()


def without_training_pictures(heldout: list, train: list, what: str = "held-out pictures") -> list:
    """`heldout` less every row whose `image` is also a row's of `train` (the same pixels), with a
    warning that says how many went: held-out skill must be on pictures never trained on."""
    import logging

    seen = {picture_digest(row.image) for row in train}
    kept = [row for row in heldout if picture_digest(row.image) not in seen]
    if len(kept) < len(heldout):
        logging.getLogger(__name__).warning("dropped %d %s that are also training pictures",
                                            len(heldout) - len(kept), what)
    return kept


def to_rgb(image) -> np.ndarray:
    """An H x W x 3 uint8 array from a PIL image or an array (grey, boolean, RGBA: converted)."""
    if isinstance(image, Image.Image):
        image = image.convert("RGB") if image.mode != "RGB" else image
        return np.asarray(image, dtype=np.uint8)
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {array.dtype}")
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 image, got shape {array.shape}")
    return np.ascontiguousarray(array[..., :3])


def decode(data: bytes | str | Path) -> np.ndarray:
    """Pixels of an image file (a path) or of its bytes; `ValueError` saying why when it cannot be read."""
    import io

    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as picture:
            picture.load()  # a truncated file fails here, not later
            return to_rgb(picture)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(str(err) or type(err).__name__) from None


def read_file(path: str | Path) -> Picture:
    """One image file; `PictureError` naming it when it is missing or cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise PictureError(f"no such picture: {path}")
    try:
        return Picture(path.name, decode(path))
    except ValueError as err:
        raise PictureError(f"cannot read {path} as a picture ({err})") from None


def picture_files(folder: str | Path) -> list[Path]:
    """The picture files under `folder`, recursively, in sorted order (hidden files and folders skipped)."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_folder(folder: str | Path) -> Found:
    """Every picture under `folder` (ids: paths relative to it); unreadable files go to `problems`."""
    folder = Path(folder)
    files = picture_files(folder)
    if not files:
        raise PictureError(f"{folder}: no pictures ({', '.join(PICTURE_SUFFIXES)}) in it or its sub-folders, "
                           "and not a dataset written by datasets' save_to_disk")
    found = Found()
    for path in files:
        name = path.relative_to(folder).as_posix()
        try:
            found.pictures.append(Picture(name, decode(path)))
        except ValueError as err:
            found.problems.append(f"{name}: {err}")
    if not found.pictures:
        raise PictureError(f"{folder}: none of its {len(files)} picture files can be read: "
                           + "; ".join(found.problems[:5]))
    return found


def skimage_pictures(names: str) -> list[Picture]:
    """scikit-image's bundled photographs: a set name (`photos`, `textures`) or comma-separated names."""
    import skimage.data

    chosen = SKIMAGE_SETS.get(names) or tuple(n.strip() for n in names.split(",") if n.strip())
    unknown = [n for n in chosen if n not in SKIMAGE_PHOTOS]
    if unknown or not chosen:
        raise PictureError(f"skimage:{names}: unknown {unknown or 'names'}; sets: {sorted(SKIMAGE_SETS)}, "
                           f"photographs: {', '.join(SKIMAGE_PHOTOS)}")
    return [Picture(name, to_rgb(getattr(skimage.data, name)())) for name in chosen]


def random_crops(pictures: list[Picture], size: int, count: int, seed: int = 0,
                 keep: Callable[[np.ndarray], bool] | None = None, max_tries: int | None = None) -> list[Picture]:
    """`count` square crops of `size` pixels at random places, taken from the pictures in turn.

    The same pictures, size and seed give the same crops, and a larger `count` only adds crops after them.
    A crop that `keep` rejects (for example a flat patch of sky) is drawn again elsewhere, up to `max_tries`
    draws in all (default 4 x count + 16). Pictures smaller than `size` give no crops; when none is
    large enough, `PictureError` says so.
    """
    if size < 1 or count < 1:
        raise PictureError(f"crops need a positive size and count, got size={size}, count={count}")
    usable = [p for p in pictures if min(p.image.shape[:2]) >= size]
    if not usable:
        largest = max((min(p.image.shape[:2]) for p in pictures), default=0)
        raise PictureError(f"no picture is at least {size} px on its shorter side (the largest is {largest} px): "
                           "choose a smaller crop size")
    rng = np.random.default_rng(seed)
    crops: list[Picture] = []
    tries = 0
    max_tries = max_tries or 4 * count + 16
    while len(crops) < count and tries < max_tries:
        picture = usable[tries % len(usable)]
        height, width = picture.image.shape[:2]
        x, y = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
        tries += 1
        crop = picture.image[y:y + size, x:x + size]
        if keep is None or keep(crop):
            crops.append(Picture(f"{picture.id}@{x},{y}", np.ascontiguousarray(crop)))
    return crops
