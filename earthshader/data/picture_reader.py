"""The one reader of picture files: every stage (the loader, inference, refinement, expert iteration, GRPO's
dataset) decodes pictures here, behind one set of guards.

    from earthshader.data.picture_reader import read_picture, PictureRefused
    image = read_picture("photo.jpg")               # H x W x 3 uint8, upright, full size
    image = read_picture("photo.jpg", need=84)      # a JPEG may be decoded reduced, its shorter side >= 2 x 84
    image = read_picture(png_bytes)                 # bytes work too (a saved dataset's cells)
    image, (height, width) = read_fitted("photo.jpg", 84)   # as the model sees it: 84 x 84, fitted as it is read

What it accepts: anything Pillow reads (PNG, JPEG, WebP, ...), in any mode: 8- and 16-bit grey (16 bits are
scaled to 8, 65535 -> 255, not clipped), palette, grey + alpha, RGB (48-bit RGB is read at its top 8 bits),
RGBA, CMYK, YCbCr. Transparency is composited over black (what a transparent pixel is not defined, so one
rule: its colour counts as much as it is opaque). The EXIF orientation is applied, so a phone's portrait is
read upright.

What it refuses, with `PictureRefused` (a `ValueError`) saying why, before the pixels are decoded (Pillow
gives the size from the header):

- a picture with a side under `MIN_SIDE` (3) pixels: no similarity metric can score it;
- sides in a ratio above `MAX_ASPECT` (20:1), such as 3 x 200000: a square crop of it is a sliver;
- more than `MAX_PIXELS` (50 million) pixels to decode (a decompression bomb: a 30000 x 30000 PNG fits in
  under 1 MB).
  A JPEG that a stage needs smaller is decoded at 1/2, 1/4 or 1/8 of its size (`need`), so a large camera
  JPEG is read within the bound;
- 32-bit floating-point pixels (no defined range), and files Pillow cannot read (the reason is Pillow's).

Ids built from file names go through `printable_id`, so a name that is not UTF-8 (a Latin-1 camera dump)
gives an id that can be printed, logged and stored.

>>> read_picture(b"not a picture")
Traceback (most recent call last):
earthshader.data.picture_reader.PictureRefused: not a picture file Pillow can identify
>>> check_size(3, 200000)
Traceback (most recent call last):
earthshader.data.picture_reader.PictureRefused: the picture is 200000 x 3 pixels, sides in a ratio of 66667:1; at \
most 20:1 is read
>>> printable_id("caf\\udce9/b.png"), printable_id("two\\nlines")
('caf\\\\xe9/b.png', 'two\\\\x0alines')
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from earthshader.image.metrics import MIN_SIDE  # the smallest side a picture may have (SSIM's smallest window)

#: The largest ratio of the longer side to the shorter one.
MAX_ASPECT = 20
#: The most pixels one picture may decode to (after a JPEG's reduced decoding): about 200 MB as RGBA.
MAX_PIXELS = 50_000_000
#: Modes holding 16 (or 32) bits of grey: scaled from 0..65535 to 0..255.
WIDE_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I")
#: What Pillow raises on a damaged or hostile file (a truncated file fails in `load`, not in `open`).
DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError,
                 Image.DecompressionBombError)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PictureRefused(ValueError):
    """A picture that cannot be read or is refused by a guard; the message says which and why."""


def printable_id(name: str) -> str:
    """`name` (a path or file name from the file system) as text that can be printed, logged and stored.

    Bytes that are not UTF-8 (Python gives them as surrogate escapes) become `\\xNN`, control characters
    too; everything else is kept as it is.
    """
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no file system gave
        raw = name.encode("utf-8", "surrogatepass")
    text = raw.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def check_size(width: int, height: int) -> None:
    """`PictureRefused` when a picture of `width` x `height` pixels is too small, too thin or too large (sizes
    are said height x width, as `earthshader.image.metrics` says them)."""
    if min(width, height) < MIN_SIDE:
        raise PictureRefused(f"the picture is {height} x {width} pixels; a picture needs at least {MIN_SIDE} x "
                             f"{MIN_SIDE} (SSIM's smallest window)")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise PictureRefused(f"the picture is {height} x {width} pixels, sides in a ratio of "
                             f"{max(width, height) / min(width, height):.0f}:1; at most {MAX_ASPECT}:1 is read")
    if width * height > MAX_PIXELS:
        raise PictureRefused(f"the picture is {height} x {width} pixels, {width * height / 1e6:.0f} million; more "
                             f"than the {MAX_PIXELS // 1_000_000} million a picture may have (a decompression bomb, "
                             "or a picture to shrink first)")


def read_picture(source: bytes | str | Path, *, need: int | None = None) -> np.ndarray:
    """The pixels of a picture file (a path) or of its bytes: H x W x 3 uint8, upright.

    `need`: the shorter side the caller will reduce the picture to; a JPEG is then decoded reduced (by 2,
    4 or 8) as long as its shorter side stays at least `2 * need`. `PictureRefused` says why a picture
    cannot be read.
    """
    with _opened(source, need) as picture:
        return np.asarray(_eight_bit(picture).convert("RGB"), dtype=np.uint8)


def read_fitted(source: bytes | str | Path, side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(the picture as the model sees it, `side` x `side` x 3 uint8 by `sizing.prepare_image`; its (height,
    width) as read). Cropped and resized in its own mode (grey stays one byte a pixel) before it becomes RGB:
    one picture takes at most about 10 bytes a pixel at once (RGBA; RGB 6, grey 2), `MAX_PIXELS` of them."""
    from earthshader.image.sizing import prepare_image

    with _opened(source, side) as picture:
        eight = _eight_bit(picture)
        size = (eight.height, eight.width)
        return np.asarray(prepare_image(eight, side), dtype=np.uint8), size


@contextlib.contextmanager
def _opened(source, need: int | None):
    """The picture opened, checked by the guards, decoded (reduced for `need` when it is a JPEG) and upright."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own bound is lower
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as picture:
                width, height = picture.size
                if min(width, height) >= MIN_SIDE and need:
                    scale = 2 * need / min(width, height)
                    if scale <= 0.5:  # a no-op for anything but JPEG
                        picture.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
                check_size(*picture.size)
                picture.load()  # a truncated file fails here
                ImageOps.exif_transpose(picture, in_place=True)
                yield picture
    except PictureRefused:
        raise
    except UnidentifiedImageError:
        raise PictureRefused("not a picture file Pillow can identify") from None
    except DECODE_ERRORS as err:
        raise PictureRefused(str(err) or type(err).__name__) from None


def to_rgb(image) -> np.ndarray:
    """An H x W x 3 uint8 array from a PIL image or an array, by the rules in the module docstring.

    >>> to_rgb(np.array([[0, 32768, 65535]] * 3, np.uint16))[0, :, 0]
    array([  0, 128, 255], dtype=uint8)
    >>> to_rgb(np.array([[[200, 100, 50, 0], [200, 100, 50, 255]]] * 3, np.uint8))[0]
    array([[  0,   0,   0],
           [200, 100,  50]], dtype=uint8)
    """
    if isinstance(image, Image.Image):
        return np.asarray(_eight_bit(image).convert("RGB"), dtype=np.uint8)
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        array = _sixteen_to_eight(array)
    if array.dtype != np.uint8:
        raise PictureRefused(f"expected 8- or 16-bit pixels, got {array.dtype}")
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise PictureRefused(f"expected an H x W, H x W x 3 or H x W x 4 image, got shape {array.shape}")
    if array.shape[-1] == 4:
        return np.asarray(_eight_bit(Image.fromarray(np.ascontiguousarray(array), "RGBA")))
    return np.ascontiguousarray(array)


def _eight_bit(image: Image.Image) -> Image.Image:
    """`image` as 8 bits a channel in a mode that crops and resizes as RGB would: grey ("L") or "RGB" (a picture
    with transparency: its colour over black, that is, times its opacity)."""
    if image.mode in WIDE_GREY:
        return Image.fromarray(_sixteen_to_eight(np.asarray(image)), "L")
    if image.mode == "F":
        raise PictureRefused("32-bit floating-point pixels (mode F) have no defined range")
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        over_black = Image.new("RGB", rgba.size)
        over_black.paste(rgba, mask=rgba)  # each pixel's colour times its opacity
        return over_black
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("L" if image.mode == "1" else "RGB")


def _sixteen_to_eight(array: np.ndarray, rows: int = 512) -> np.ndarray:
    """0..65535 scaled to 0..255, rounded (65535 / 257 = 255); a few rows at a time, so a large picture takes
    no more than its own two bytes a pixel."""
    out = np.empty(array.shape, np.uint8)
    for start in range(0, array.shape[0], rows):
        chunk = np.clip(array[start:start + rows], 0, 65535).astype(np.uint32)
        out[start:start + rows] = (chunk * 255 + 32767) // 65535
    return out
