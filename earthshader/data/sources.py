"""Where shader programs come from: procedural generators, local files, folders, the Hugging Face Hub.

    from earthshader.data.sources import read_source

    for item in read_source("textures", n=100):                 # generators: seeds 0..99
        ...
    generated_rows(["stripes", "checker"], 4, start=10)         # stripes 10, checker 11, stripes 12, ...
    for item in read_source("../shared/data/shadertoys.jsonl.gz"):   # JSONL, JSONL.gz or parquet
        if isinstance(item, RowProblem):                        # a corrupt row: file, line, reason
            print(item)
        else:
            item.code, item.license, item.non_commercial

A SOURCE is, in this order: a generator group or family (`textures`, `primitives`, `terrains`,
`fbm`, ...); an existing file (`.jsonl`, `.jsonl.gz`, `.parquet`); an existing folder (of `.glsl`
files, or a dataset written by `datasets.save_to_disk`); else a Hugging Face dataset id, loaded with
`datasets.load_dataset` (needs the Hub or its local cache).

Generated programs become rows in one place, `generated_program` (one seed) and `generated_rows` (seeds in
turn): the factory, `generator:` targets (`earthshader.data.rendered`) and the search baseline's library all
read them from there, so a seed is the same row everywhere.

Rows need an `image_code` column; `id`, `name`, `author`, `license` and `permissive` are carried when
present (the format of `Vipitis/Shadereval-inputs`, the Shadertoys datasets and
`../shared/data/shadertoys.jsonl.gz`). A row that cannot be read (not UTF-8, not JSON, no
`image_code`) is yielded as a `RowProblem` naming its file and line, and reading continues.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from earthshader.data.generators import FAMILIES, GROUPS, generate
from earthshader.data.picture_reader import printable_id
from earthshader.errors import UsageError

#: Licence given to generated programs (the project's own code).
GENERATOR_LICENSE = "mit"

LOCAL_ALTERNATIVES = (
    "a local JSONL, JSONL.gz or parquet file with an `image_code` column (for example "
    "../shared/data/shadertoys.jsonl.gz, or the data folder of github.com/Vipitis/shadertoys-dataset), "
    "a folder of .glsl files, a folder written by datasets.save_to_disk, or a generator: "
    + ", ".join(sorted(GROUPS))
)

_NON_COMMERCIAL = re.compile(r"(^|[-_ ])nc($|[-_ ])|non-?commercial", re.IGNORECASE)
_PERMISSIVE = re.compile(r"^(mit|cc0|unlicense|public[- ]domain|apache|bsd|isc|zlib|wtfpl|cc-by(-sa)?(-\d|$))",
                         re.IGNORECASE)


#: Files one of which `datasets.save_to_disk` always writes (DatasetDict, Dataset): how a saved folder is told apart.
SAVED_MARKERS = ("dataset_dict.json", "dataset_info.json", "state.json")


class SourceError(UsageError, ValueError):
    """A source that cannot be read at all (unknown path, Hub unreachable, wrong format)."""


@dataclass(frozen=True)
class ShaderRow:
    """One program from a source, with what we know about its origin and licence."""

    code: str
    source: str
    id: str
    name: str = ""
    author: str = ""
    license: str = "unknown"
    permissive: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    difficulty: int = -1  # -1: not a generated program
    family: str = ""
    date: str = ""  # when the corpus has it: publication time, Unix seconds

    @property
    def non_commercial(self) -> bool:
        """True when the licence forbids commercial use, or is unknown (so it may)."""
        return self.license == "unknown" or bool(_NON_COMMERCIAL.search(self.license))


@dataclass(frozen=True)
class RowProblem:
    """A row that could not be read; `line` is 1-based (the row number for parquet and datasets)."""

    file: str
    line: int
    reason: str  # "not UTF-8", "not JSON", "no image_code", "truncated file"
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


def describe(source: str) -> str:
    """What kind of source a SOURCE string names: generator, jsonl, parquet, glsl folder, saved, hub."""
    if source in GROUPS or source in FAMILIES:
        return "generator"
    path = Path(source)
    if path.is_file():
        name = path.name.lower()
        if name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
            return "jsonl"
        if name.endswith(".parquet"):
            return "parquet"
        raise SourceError(f"{source}: unsupported file type; use .jsonl, .jsonl.gz or .parquet")
    if path.is_dir():
        return "saved" if is_saved_dataset(path) else "glsl folder"
    if source.startswith((".", "/", "~")) or source.endswith((".jsonl", ".gz", ".parquet", ".glsl")):
        raise SourceError(f"{source}: no such file or folder. Valid sources: {LOCAL_ALTERNATIVES}, "
                          "or a Hugging Face dataset id")
    return "hub"


def is_saved_dataset(path: str | Path) -> bool:
    """True for a folder written by `datasets.save_to_disk` (a Dataset or a DatasetDict), not a folder of files."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in SAVED_MARKERS)


def load_split(name: str, split: str, flag: str = "--dataset"):
    """The one reader of a dataset split: a folder written by `save_to_disk`, else a Hub id (`load_dataset`).

    A saved DatasetDict must have `split` (the error lists the splits it has); a saved single Dataset is
    its only split, whatever `split` says. Errors are `SourceError`s naming `flag` and the dataset.
    """
    import datasets

    path = Path(name).expanduser()
    if path.exists():
        if not is_saved_dataset(path):
            raise SourceError(f"{flag} {name!r} is not a folder written by datasets' save_to_disk "
                              f"(none of {', '.join(SAVED_MARKERS)} in it)")
        try:
            data = datasets.load_from_disk(str(path))
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise SourceError(f"{flag} {name!r} cannot be read as a saved dataset: {err}") from None
        if isinstance(data, datasets.DatasetDict):
            if split not in data:
                raise SourceError(f"{flag} {name!r} has no split {split!r} (its splits: {sorted(data)})")
            data = data[split]
        return data
    try:
        return datasets.load_dataset(name, split=split)
    except (OSError, ConnectionError, ValueError) as err:  # offline, unreachable, unknown id or split
        raise SourceError(
            f"{flag} {name!r} split {split!r} could not be loaded from the Hugging Face Hub "
            f"({type(err).__name__}: {err}). Without the Hub (HF_HUB_OFFLINE=1 or no network) use a local "
            f"source instead: {LOCAL_ALTERNATIVES}") from err


def read_source(source: str, n: int | None = None, start: int = 0, difficulty: int | None = None,
                split: str = "train") -> Iterator[ShaderRow | RowProblem]:
    """Rows (and problems) of a source, in a stable order; at most `n` items from item `start`.

    For generators, items are seeds `start .. start + n - 1` (`n` is required) at `difficulty`
    (None: drawn per seed). `split` selects the split of a Hub or saved dataset.
    """
    kind = describe(source)
    if kind == "generator":
        if n is None:
            raise SourceError(f"generator {source!r} needs a number of samples (--n)")
        return generated_rows([source], n, start, difficulty)
    # Datasets load here, not lazily, so that a missing split or an unreachable Hub fails at once.
    items = {
        "jsonl": lambda: _jsonl(Path(source)),
        "parquet": lambda: _parquet(Path(source)),
        "saved": lambda: _table_rows(iter(_load_saved(Path(source), split)), Path(source).name),
        "glsl folder": lambda: _glsl_folder(Path(source)),
        "hub": lambda: _table_rows(iter(_load_hub(source, split)), source),
    }[kind]()
    return _window(items, start, n)


def _window(items: Iterator, start: int, n: int | None) -> Iterator:
    for index, item in enumerate(items):
        if index < start:
            continue
        if n is not None and index >= start + n:
            return
        yield item


def generated_program(name: str, seed: int, difficulty: int | None = None) -> ShaderRow:
    """Generator `name`'s program at `seed` (and `difficulty`; None: drawn from the seed) as a row.

    >>> row = generated_program("checker", 1, difficulty=0)
    >>> row.id, row.source, row.family, row.difficulty, row.license, sorted(row.params)[:2]
    ('checker-1', 'checker', 'checker', 0, 'mit', ['cells', 'colouring'])
    """
    sample = generate(name, seed, difficulty)
    return ShaderRow(
        code=sample.code, source=name, id=f"{sample.family}-{seed}", name=f"{sample.family} #{seed}",
        author="earthshader generator", license=GENERATOR_LICENSE, permissive=True,
        params=sample.params, difficulty=sample.difficulty, family=sample.family)


def generated_rows(names: list[str], n: int, start: int = 0, difficulty: int | None = None) -> Iterator[ShaderRow]:
    """`n` generated programs: program i is `generated_program(names[i % len(names)], start + i, difficulty)`."""
    for i in range(n):
        yield generated_program(names[i % len(names)], start + i, difficulty)


def row_from_record(record: Any, file: str, line: int) -> ShaderRow | RowProblem:
    """A `ShaderRow` from one JSON object / table row, or the problem that prevents it."""
    if not isinstance(record, dict):
        return RowProblem(file, line, "not JSON", f"a JSON {type(record).__name__}, not an object")
    code = record.get("image_code", record.get("code"))  # `code`: a dataset this factory built
    if not isinstance(code, str) or not code.strip():
        return RowProblem(file, line, "no image_code")
    license_ = str(record.get("license") or "unknown").strip().lower()
    permissive = record.get("permissive")
    return ShaderRow(
        code=code, source=file, id=str(record.get("id") or f"{file}:{line}"),
        name=str(record.get("name") or ""), author=str(record.get("author") or ""), license=license_,
        permissive=bool(permissive) if permissive is not None else bool(_PERMISSIVE.match(license_)),
        date=str(record.get("date") or ""))


def _jsonl(path: Path) -> Iterator[ShaderRow | RowProblem]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    line = 0
    try:
        with opener(path, "rb") as handle:
            for line, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    yield RowProblem(path.name, line, "not UTF-8", str(err))
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as err:
                    yield RowProblem(path.name, line, "not JSON", str(err))
                    continue
                yield row_from_record(record, path.name, line)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        yield RowProblem(path.name, line + 1, "truncated file", str(err))
    except OSError as err:  # a file that cannot be read at all: not a row problem
        raise SourceError(f"{path}: cannot be read ({err.strerror or err})") from None


def _glsl_folder(folder: Path) -> Iterator[ShaderRow | RowProblem]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".glsl", ".frag"))
    if not files:
        raise SourceError(f"{folder}: no .glsl files and no saved dataset here (a folder of pictures has no "
                          f"programs to build from: it is a target set for evaluation and GRPO, docs/pictures.md). "
                          f"Valid sources: {LOCAL_ALTERNATIVES}")
    for path in files:
        relative = printable_id(str(path.relative_to(folder)))
        try:
            code = path.read_bytes().decode("utf-8")
        except OSError as err:
            yield RowProblem(relative, 1, "cannot be read", err.strerror or str(err))
            continue
        except UnicodeDecodeError as err:
            yield RowProblem(relative, 1, "not UTF-8", str(err))
            continue
        if "mainImage" not in code:
            yield RowProblem(relative, 1, "no image_code", "no mainImage function")
            continue
        yield ShaderRow(code=code, source=printable_id(folder.name), id=relative, name=printable_id(path.stem))


def _table_rows(rows: Iterator[dict], file: str) -> Iterator[ShaderRow | RowProblem]:
    for line, record in enumerate(rows, start=1):
        yield row_from_record(record, file, line)


def _parquet(path: Path) -> Iterator[ShaderRow | RowProblem]:
    """Rows of a parquet file; a file that is not parquet is a `SourceError` naming it, and a file damaged
    part-way gives the rows before the damage and a `RowProblem` for the rest."""
    import pyarrow
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except (pyarrow.ArrowException, OSError) as err:
        raise SourceError(f"{path}: not a readable parquet file ({type(err).__name__}: {err})") from None
    line = 0
    try:
        for batch in table.iter_batches(batch_size=512):
            for record in batch.to_pylist():
                line += 1
                yield row_from_record(record, path.name, line)
    except (pyarrow.ArrowException, OSError) as err:
        yield RowProblem(path.name, line + 1, "truncated file", f"{type(err).__name__}: {err}")


def _load_saved(path: Path, split: str):
    loaded = load_split(str(path), split, flag="--source")
    return loaded.remove_columns([c for c in loaded.column_names if c == "image"])


def _load_hub(name: str, split: str):
    loaded = load_split(name, split, flag="--source")
    if "image_code" not in loaded.column_names:
        raise SourceError(f"{name}: no image_code column (columns: {loaded.column_names})")
    return loaded
