"""Rows of a saved dataset (`datasets.save_to_disk`) or a Hub dataset: one reader of its cells.

    from earthshader.data.dataset_rows import dataset_rows
    from earthshader.data.row_spec import Request
    rows = dataset_rows("data/textures", Request(split="test", side=84))

The split is read by `earthshader.data.sources.load_split`; the `image` column is decoded here, through the one
picture reader (`earthshader.data.picture_reader`), so a bad picture is named, not a traceback. The factory's
other columns (`code`, `source`, `id`, `family`, `difficulty`, `params`, `time`) are read when present; a cell
of the wrong kind (`params` that is not a JSON object, a `time` that is not a number, ...) is named with its
row and column (`row 7 (id): column 'params': ...`), and that row is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from earthshader.data.picture_reader import check_size, printable_id, read_fitted, read_picture, to_rgb
from earthshader.data.pictures import Found
from earthshader.data.row_spec import (
    Request,
    Row,
    check_count,
    draw_order,
    fit_picture,
    keeper,
    warn_rejected,
    warn_unread,
)
from earthshader.data.sources import SourceError, load_split


def dataset_rows(spec: str, request: Request, fit: bool = True) -> list[Row]:
    """Rows of a saved dataset's or a Hub dataset's split: `image` required, `code` and the factory's columns
    kept. A cell that cannot be read is named (row, id, column) and skipped."""
    import datasets

    data = load_split(spec, request.split)
    if "image" not in data.column_names:
        raise SourceError(f"{spec!r} split {request.split!r} has no 'image' column (columns: {data.column_names})")
    if request.n is None and fit:
        check_count(len(data), request.side, f"{spec} ({len(data):,} rows; pass --n)")
    if isinstance(data.features["image"], datasets.Image):
        data = data.cast_column("image", datasets.Image(decode=False))  # decoded here: a bad one is named
    keep = keeper(request)
    order = draw_order(len(data), request.n, request.seed) or range(len(data))
    rows, problems, rejected = {}, [], []
    for index in order:
        if request.n is not None and len(rows) >= request.n:
            break
        record = data[index]
        try:
            row = record_row(record, index, spec, request.side if fit else None)
        except ValueError as err:
            problems.append(f"row {index} ({printable_id(str(record.get('id') or index))}): {err}")
            continue
        image = keep(row.image) if fit else row.image
        if isinstance(image, str):
            rejected.append(f"{row.id} ({image})")
        else:
            rows[index] = row
    warn_unread(spec, Found(problems=problems), len(rows) + len(problems) + len(rejected))
    warn_rejected(spec, rejected, len(rows) + len(rejected), request.judged)
    return [rows[i] for i in sorted(rows)]


def record_row(record: dict, index: int, spec: str, side: int | None) -> Row:
    """One dataset record as a row (image fitted to `side` unless None); `ValueError` naming the bad column."""
    try:
        image = _record_image(record["image"], side)
    except ValueError as err:
        raise ValueError(f"column 'image': {err}") from None
    fields = {}
    for column, read in (("code", _text), ("source", _text), ("id", _text), ("family", _text),
                         ("difficulty", _difficulty), ("params", _params), ("time", _time)):
        try:
            fields[column] = read(record.get(column))
        except (TypeError, ValueError) as err:
            raise ValueError(f"column {column!r}: {err}") from None
    return Row(image=image, code=fields["code"] or "", source=fields["source"] or printable_id(Path(spec).name),
               id=fields["id"] or str(index), family=fields["family"] or None, difficulty=fields["difficulty"],
               params=fields["params"], time=fields["time"])


def _record_image(value, side: int | None) -> np.ndarray:
    if isinstance(value, dict):  # datasets.Image(decode=False): bytes, or a path
        source = value.get("bytes") or value.get("path")
        if not source:
            raise ValueError("no image")
        return read_picture(source) if side is None else read_fitted(source, side)[0]
    if value is None:
        raise ValueError("no image")
    image = to_rgb(value)
    check_size(image.shape[1], image.shape[0])
    return image if side is None else fit_picture(image, side)


def _text(value) -> str:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return printable_id(value) if value else ""


def _difficulty(value) -> int | None:
    if value is None or isinstance(value, bool) or (isinstance(value, (int, np.integer)) and value < 0):
        return None
    if not isinstance(value, (int, np.integer)):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def _params(value) -> dict:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if not isinstance(value or {}, dict):
        raise ValueError(f"{value!r} is not a JSON object")
    return dict(value or {})


def _time(value) -> float:
    time = float(value or 0.0)
    if not np.isfinite(time):
        raise ValueError(f"{value!r} is not a finite number")
    return time
