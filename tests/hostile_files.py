"""Hostile inputs made on the spot, for the adversarial tests and `benchmarks/fuzz_inputs.py`: picture files
that lie about their size or are read wrongly by naive code, names that are not UTF-8, torn run files.

    from hostile_files import bomb_png, ramp_png16, rotated_jpeg, latin1_name, torn_line
    path.write_bytes(bomb_png(30000, 30000))        # a few hundred bytes that declare 900 million pixels

Everything is written by hand (PNG chunks, EXIF tags) so that each file is exactly the case it names.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width: int, height: int, depth: int, colour: int, rows: list[bytes], compress=None) -> bytes:
    """A PNG with the header and rows given (`colour`: 0 grey, 2 RGB, 4 grey + alpha, 6 RGBA), filter 0."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    data = (compress or zlib.compress)(b"".join(b"\x00" + row for row in rows))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def bomb_png(width: int, height: int, *, real: bool = False) -> bytes:
    """A PNG that declares `width` x `height` grey pixels. With `real`, its IDAT really holds them (zeros,
    compressed as it streams: 30000 x 30000 is about 900 KB and a few seconds); otherwise a stub IDAT, enough
    for a reader that trusts the header."""
    if not real:
        return raw_png(width, height, 8, 0, [b"\x00" * min(width, 64)])
    packer = zlib.compressobj(9)
    line = b"\x00" * (width + 1)
    parts = [packer.compress(line) for _ in range(height)] + [packer.flush()]
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", b"".join(parts))
            + png_chunk(b"IEND", b""))


def ramp(width: int = 256, height: int = 16, top: int = 65535) -> np.ndarray:
    """A horizontal grey ramp from 0 to `top` (uint16), the same on every row."""
    return np.tile(np.linspace(0, top, width).round().astype(np.uint16), (height, 1))


def ramp_png16(colour: int = 0, width: int = 256, height: int = 16) -> bytes:
    """A 16-bit PNG of `ramp()`: grey (0), RGB 48-bit (2), grey + alpha (4, opaque) or RGBA 64-bit (6, opaque)."""
    values = ramp(width, height)
    channels = {0: [values], 2: [values] * 3, 4: [values, np.full_like(values, 65535)],
                6: [values] * 3 + [np.full_like(values, 65535)]}[colour]
    pixels = np.stack(channels, axis=-1).astype(">u2")
    return raw_png(width, height, 16, colour, [row.tobytes() for row in pixels])


def rotated_jpeg(image: np.ndarray, orientation: int = 6) -> bytes:
    """`image` stored sideways in a JPEG whose EXIF orientation tag says how to turn it upright, as a phone
    writes a portrait: with 6, the stored pixels are the upright picture turned 90 degrees anticlockwise."""
    stored = {6: np.rot90(image, 1), 8: np.rot90(image, -1), 3: np.rot90(image, 2), 1: image}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(stored)).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def pattern(seed: int, height: int = 64, width: int = 64) -> np.ndarray:
    """Smooth coloured stripes: a picture every filter keeps."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / 8.0
    angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 6)
    wave = 0.5 + 0.5 * np.sin(np.cos(angle) * x + np.sin(angle) * y + phase)
    return (255 * wave[..., None] * rng.uniform(0.3, 1.0, 3)).astype(np.uint8)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def latin1_name(folder: Path, stem: str = "café", suffix: str = ".png") -> Path:
    """A path in `folder` whose file name is Latin-1 bytes (not UTF-8), as Python sees it on Linux: with
    surrogate escapes (`caf\\udce9.png`)."""
    raw = os.fsencode(folder) + b"/" + stem.encode("latin-1") + suffix.encode()
    return Path(os.fsdecode(raw))


def torn_line(row: str = '{"step": 3, "prompt_id": "café ☕", "total": 0.5}') -> bytes:
    """A JSON line cut inside a multi-byte character, with no newline: what a kill leaves at a file's end."""
    data = row.encode("utf-8")
    cut = next(i for i in range(len(data)) if data[i] >= 0x80) + 1  # inside the first multi-byte character
    return data[:cut]
