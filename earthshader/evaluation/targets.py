"""Held-out targets for evaluation: from a factory dataset on disk, a Hugging Face dataset, or the generators.

    >>> from earthshader.evaluation.targets import load_targets
    >>> targets = load_targets("data/textures", n=64, size=224)           # the dataset's test split
    >>> targets = load_targets("generator:textures", n=16, size=64)        # rendered here, seeds 1,000,000+
    >>> t = targets[0]
    >>> t.image, t.code, t.source, t.family, t.difficulty, t.params, t.time

Every target image is square, `prompts.image_size(size)` pixels: what the model sees and what its
programs are rendered at. A dataset's images are resized with `prompts.prepare_image` (the same
function generation uses). With `n` smaller than the dataset, `n` rows are drawn with `seed`
(the same rows for the same seed), kept in dataset order.

`generator:NAME` (a group such as `textures` or a family such as `fbm`) renders fresh programs from
seed `start` (default 1,000,000, far from the seeds training draws from) and skips those that fail
or render flat. Level-0 programs have few parameters, so such a target can still repeat a training
program; a factory dataset's test split (split by a hash of the code) never does.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from earthshader import prompts

#: First generator seed of `generator:` targets: far above the seeds SFT and the factory start from.
HELD_OUT_SEED = 1_000_000

GENERATOR_PREFIX = "generator:"


@dataclass
class Target:
    """One evaluation target. `code` is the reference program ("" when unknown); `params` the generator's."""

    image: np.ndarray
    code: str = ""
    source: str = "unknown"
    id: str = ""
    family: str | None = None
    difficulty: int | None = None
    params: dict = field(default_factory=dict)
    time: float = 0.0


class TargetError(ValueError):
    """The dataset cannot give evaluation targets (missing, wrong columns, empty)."""


def load_targets(dataset: str, *, split: str = "test", n: int | None = None, seed: int = 0,
                 size: int = prompts.DEFAULT_IMAGE_SIZE, start: int = HELD_OUT_SEED, pool=None,
                 difficulty: int | None = None) -> list[Target]:
    """Targets from `dataset`: `generator:NAME`, a folder written by `save_to_disk`, or a Hub dataset id."""
    if n is not None and n < 1:
        raise TargetError(f"--n must be at least 1, got {n}")
    if dataset.startswith(GENERATOR_PREFIX):
        return generated_targets(dataset[len(GENERATOR_PREFIX):], n or 16, size=size, start=start, pool=pool,
                                 difficulty=difficulty)
    rows = _dataset_rows(dataset, split)
    if len(rows) == 0:
        raise TargetError(f"--dataset {dataset!r} split {split!r} has no rows")
    if "image" not in rows.column_names:
        raise TargetError(f"--dataset {dataset!r} has no 'image' column (columns: {rows.column_names})")
    indices = list(range(len(rows)))
    if n is not None and n < len(indices):
        indices = sorted(random.Random(f"targets:{seed}").sample(indices, n))
    return [_target_from_row(rows[i], i, dataset, size) for i in indices]


def _dataset_rows(dataset: str, split: str):
    path = Path(dataset).expanduser()
    if not path.exists() and (dataset.count("/") != 1 or dataset.startswith((".", "~"))):
        raise TargetError(f"--dataset {dataset!r}: no such folder, and not a Hub id (owner/name) or "
                          f"generator:NAME (e.g. generator:textures)")
    import datasets

    if path.exists():
        try:
            data = datasets.load_from_disk(str(path))
        except FileNotFoundError as err:
            raise TargetError(f"--dataset {dataset!r} is not a folder written by datasets' save_to_disk "
                              f"(build one with `python -m earthshader.data build`): {err}") from err
        if isinstance(data, datasets.DatasetDict):
            if split not in data:
                raise TargetError(f"--dataset {dataset!r} has splits {sorted(data)}, not --split {split!r}")
            data = data[split]
        return data
    try:
        return datasets.load_dataset(dataset, split=split)
    except (OSError, ConnectionError, ValueError) as err:
        raise TargetError(f"--dataset {dataset!r} split {split!r} could not be loaded from the Hugging Face Hub "
                          f"({type(err).__name__}: {err}); offline, pass a local folder or generator:NAME") from err


def _target_from_row(row: dict, index: int, dataset: str, size: int) -> Target:
    image = row["image"]
    if image is None:
        raise TargetError(f"--dataset {dataset!r} row {index} has no image")
    params = row.get("params") or {}
    if isinstance(params, str):
        params = json.loads(params) if params.strip() else {}
    difficulty = row.get("difficulty")
    return Target(
        image=np.asarray(prompts.prepare_image(image, size)),
        code=row.get("code") or "",
        source=str(row.get("source") or Path(dataset).name),
        id=str(row.get("id") or index),
        family=row.get("family") or None,
        difficulty=None if difficulty is None or difficulty < 0 else int(difficulty),
        params=params,
        time=float(row.get("time") or 0.0),
    )


def generated_targets(name: str, n: int, *, size: int, start: int = HELD_OUT_SEED, pool=None,
                      max_tries: int | None = None, difficulty: int | None = None) -> list[Target]:
    """`n` targets from generator group or family `name`, seeds from `start`; failed or flat renders skipped.

    `difficulty` keeps one level (e.g. 0, what the tiny SFT recipe trains on); None draws it from the seed.
    """
    from earthshader.data.generators import FAMILIES, GROUPS, generate
    from earthshader.evaluation.scoring import using_pool
    from earthshader.metrics import is_flat

    if name not in GROUPS and name not in FAMILIES:
        raise TargetError(f"--dataset generator:{name}: unknown generator; groups: {sorted(GROUPS)}, "
                          f"families: {sorted(FAMILIES)}")
    side = prompts.image_size(size)
    max_tries = max_tries or 4 * n
    targets: list[Target] = []
    seed = start
    with using_pool(pool) as render_pool:
        while len(targets) < n and seed < start + max_tries:
            samples = [generate(name, s, difficulty=difficulty) for s in range(seed, seed + n - len(targets))]
            seed += len(samples)
            results = render_pool.render_many([s.code for s in samples], width=side, height=side, time=0.0)
            for sample, result in zip(samples, results):
                if result.ok and not is_flat(result.image):
                    targets.append(Target(image=result.image, code=sample.code, source=f"generator:{sample.group}",
                                          id=f"{sample.family}-{sample.seed}", family=sample.family,
                                          difficulty=sample.difficulty, params=dict(sample.params)))
    if len(targets) < n:
        raise TargetError(f"generator:{name} gave only {len(targets)} renderable targets in {max_tries} seeds")
    return targets

