"""`earthshader.json`: what a training run records beside the model it saves (image size, base, backend, ...).

Every tool that loads a model reads the image size from here, so training, evaluation and inference
agree on it (see `earthshader.modeling.prompts.image_size`).
"""

from __future__ import annotations

import json
from pathlib import Path

from earthshader.errors import UsageError

#: What `earthshader.sft` and `earthshader.grpo` record beside a saved model (image size, base, backend, ...).
RUN_INFO = "earthshader.json"


class RunInfoError(UsageError, ValueError):
    """An `earthshader.json` that cannot be read (damaged, not a JSON object): the message names the file."""


def write_run_info(output_dir: str | Path, info: dict) -> Path:
    """Write `info` as the run's `earthshader.json` in `output_dir`; returns its path."""
    path = Path(output_dir) / RUN_INFO
    path.write_text(json.dumps(info, indent=2) + "\n")
    return path


def read_run_info(*folders: str | Path | None) -> dict:
    """The `earthshader.json` of the first of `folders` that has one ({} if none does).

    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> _ = write_run_info(run, {"image_size": 84})
    >>> read_run_info("no/such/run", run)["image_size"]
    84
    >>> read_run_info("no/such/run")
    {}
    """
    for folder in folders:
        path = Path(folder).expanduser() / RUN_INFO if folder else None
        if path is not None and path.is_file():
            try:
                info = json.loads(path.read_bytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise RunInfoError(f"{path}: damaged ({err}); the training run that wrote it writes it again") from None
            if not isinstance(info, dict):
                raise RunInfoError(f"{path}: damaged (a JSON {type(info).__name__}, not an object)")
            return info
    return {}


def model_image_size(requested: int | None, *folders: str | Path | None) -> int:
    """The square image side a model works at: `requested` (a `--size` flag) if given, else the size recorded
    in the first of `folders` (adapter, then model) that has an `earthshader.json`, else the default; always
    rounded by the one size policy (`earthshader.modeling.prompts.image_size`).

    >>> model_image_size(100, "no/such/run"), model_image_size(None, "no/such/run")
    (112, 224)
    """
    from earthshader.modeling.prompts import DEFAULT_IMAGE_SIZE, image_size

    if requested:
        return image_size(requested)
    recorded = read_run_info(*folders).get("image_size")
    try:
        return image_size(recorded or DEFAULT_IMAGE_SIZE)
    except ValueError as err:
        where = next(str(f) for f in folders if f and (Path(f).expanduser() / RUN_INFO).is_file())
        raise RunInfoError(f"{Path(where) / RUN_INFO}: damaged (image_size {recorded!r}: {err})") from None
