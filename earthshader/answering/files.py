"""Answering on disk: a target picture and a shader read, a program written whole, and the refine command's work.

    from earthshader.answering.files import load_target, refine_file, write_atomically
    target = load_target("photo.jpg", 128)                     # H x W x 3 uint8, longer side 128
    result = refine_file("a.glsl", "photo.jpg", "out.glsl", budget=300, size=128, objective="mix")
    write_atomically(Path("out/a.glsl"), lambda path: path.write_text(code))   # whole or absent after a crash

`refine_file` is what `python -m earthshader.refine` runs after parsing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from earthshader.answering.refine import MIN_TARGET_SIDE, RefineError, RefineResult, refine
from earthshader.data.picture_reader import printable_id
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE


def load_target(path: str, size: int | None) -> np.ndarray:
    """The picture at `path` as H x W x 3 uint8, read by the one picture reader (its guards: size, shape,
    16-bit, EXIF orientation) and resized so that its longer side is `size` (aspect kept; None: as read)."""
    from PIL import Image

    from earthshader.data.pictures import PictureError, read_file

    try:
        image = read_file(path).image
    except PictureError as err:
        raise RefineError(f"cannot read the target image {printable_id(str(path))}: {err}") from None
    height, width = image.shape[:2]
    if size is None or max(height, width) == size:
        return image
    scale = size / max(height, width)
    resized = (max(1, round(width * scale)), max(1, round(height * scale)))
    if min(resized) < MIN_TARGET_SIDE:
        raise RefineError(f"argument --size: at {size} px the target ({width} x {height} px) would be {resized[0]} x "
                          f"{resized[1]} px, under {MIN_TARGET_SIDE} px a side: choose a larger --size")
    return np.asarray(Image.fromarray(image).resize(resized, Image.Resampling.LANCZOS), dtype=np.uint8)


def read_shader(path: str) -> str:
    """A shader file's text, or a `RefineError` naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise RefineError(f"cannot read the shader {path}: {err}") from err


def write_atomically(path: Path, write) -> None:
    """`write(temporary)` next to `path`, then renamed onto it: a crash leaves `path` whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def refine_file(shader: str, target: str, output: Path, *, budget: int = 300, size: int | None = 128,
                time: float = 0.0, max_dims: int | None = None, seed: int = 0, workers: int | None = None,
                objective: str = DEFAULT_OBJECTIVE, console=None) -> RefineResult:
    """Refine the shader at `shader` toward the picture at `target` for `objective` (`refine`), write the result
    to `output` (whole or not at all) and print a summary. Raises `RefineError` on bad input."""
    from earthshader.render import RenderPool

    source = read_shader(shader)
    picture = load_target(target, size)
    with RenderPool(workers=workers) as pool:
        result = refine(source, picture, budget=budget, pool=pool, time=time, max_dims=max_dims, seed=seed,
                        objective=objective)
    write_atomically(Path(output), lambda path: path.write_text(result.source, encoding="utf-8"))
    from rich.console import Console

    (console or Console()).print(refine_summary(result, shader, output))
    return result


def refine_summary(result: RefineResult, shader: str, out: str):
    """A rich table: literals lifted and fitted, the objective and both figures before -> after, renders, changes."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"refine {printable_id(str(shader))} -> {printable_id(str(out))}"), show_header=False)
    table.add_row("literals", escape(f"{result.lifted} lifted ({result.lift_note}), {result.kept} kept constant, "
                                     f"{len(result.fitted)} fitted"))
    table.add_row(f"objective: {result.objective}", f"{result.score_before:.3f} -> {result.score_after:.3f}")
    for figure in ("structure", "appearance"):
        table.add_row(figure, f"{result.figures_before[figure]:.3f} -> {result.figures_after[figure]:.3f}")
    table.add_row("renders", f"{result.renders} in {result.seconds:.1f} s")
    for line, old, new in result.changes[:12]:
        table.add_row(f"line {line}", escape(f"{old} -> {new}"))
    if len(result.changes) > 12:
        table.add_row("...", f"{len(result.changes) - 12} more changes")
    return table
