"""Targets drawn by programs: generated ones (`generator:NAME`) and real ones with the code withheld
(`renders:PROGRAMS`), rendered here and kept when the factory's filter keeps them.

    from earthshader.data.rendered import generated_programs, generated_targets, render_targets, withheld_renders
    programs = generated_programs(["textures"], 16, seed=0)              # rows with code, no image yet
    rows = render_targets(programs, size=84)                           # rendered, filtered
    rows = generated_targets("textures", 16, size=84)                  # exactly 16 that pass the filter
    rows = withheld_renders("renders:corpus.jsonl.gz?time=1", "test", 84, n=8)

`earthshader.data.rows.load_rows` dispatches `generator:` and `renders:` specs here (docs/pictures.md).
Programs come from `earthshader.data.sources` (`generated_rows` for generators, `read_source` for a corpus)
and become rows in one place, `program_row`. The filter (`earthshader.data.build.judge`) is part of drawing
targets: a program whose render it rejects is replaced by the next one, and the log says how many went and why.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from dataclasses import replace
from itertools import islice
from pathlib import Path

from earthshader.data.row_spec import HELD_OUT_SEED, RENDER_OPTIONS, RENDERS_PREFIX, Row, split_options
from earthshader.data.sources import ShaderRow, SourceError, describe, generated_rows, read_source
from earthshader.image import sizing

logger = logging.getLogger("earthshader.data.rows")  # one logger for everything the loader says

DEFAULT_TEST_FRACTION = 0.1  # the factory's BuildConfig default: the same programs land in test
#: Corrupt rows of a program source named in the log (the rest are counted).
NAMED_PROBLEMS = 5


def program_row(item: ShaderRow, source: str, *, withheld: bool = False, time: float = 0.0) -> Row:
    """The row of a source's program, not rendered yet: its program in `code`, or in `reference` when `withheld`
    (a render whose code the learner must not see)."""
    return Row(code="" if withheld else item.code, reference=item.code if withheld else "", source=source,
               id=item.id, family=item.family or None, difficulty=None if item.difficulty < 0 else item.difficulty,
               params=dict(item.params), time=time)


def generated_programs(groups: list[str], n: int, seed: int = 0, difficulty: int | None = None) -> list[Row]:
    """`n` programs (no image yet) from the generator groups or families, seeds `seed..seed+n-1`, in turn."""
    return [program_row(item, f"generator:{item.source}") for item in generated_rows(groups, n, seed, difficulty)]


def generator_names(name: str) -> list[str]:
    """The generator groups and families of `generator:NAME` (several: `stripes,checker`); `SourceError` naming
    the unknown ones."""
    from earthshader.data.generators import FAMILIES, GROUPS

    names = name.split(",")
    unknown = [part for part in names if part not in GROUPS and part not in FAMILIES]
    if unknown:
        raise SourceError(f"generator:{name}: unknown generator {', '.join(unknown)}; groups: {sorted(GROUPS)}, "
                          f"families: {sorted(FAMILIES)}")
    return names


def generated_targets(name: str, n: int, *, size: int, start: int = HELD_OUT_SEED, pool=None,
                      max_tries: int | None = None, difficulty: int | None = None, workers: int | None = None,
                      timeout: float = 10.0) -> list[Row]:
    """Exactly `n` rendered rows of generator group or family `name` (or several, `stripes,checker`, drawn in
    turn), seeds from `start`; rejected seeds skipped."""
    names = generator_names(name)
    max_tries = max_tries or 4 * n
    rows: list[Row] = []
    seed = start
    with render_pool(pool, workers, timeout) as pool_:
        while len(rows) < n and seed < start + max_tries:
            programs = generated_programs(names, n - len(rows), seed, difficulty)
            seed += len(programs)
            rows += render_targets(programs, size, pool=pool_)
    if len(rows) < n:
        raise SourceError(f"generator:{name} gave only {len(rows)} targets that pass the filter in {max_tries} seeds")
    return rows


def render_targets(programs: list[Row], size: int, workers: int | None = None, timeout: float = 10.0, *,
                   pool=None, time: float = 0.0) -> list[Row]:
    """Render each row's program at `image_size(size)`, iTime `time`; keep what the factory's `judge` keeps."""
    from earthshader.data.build import Filters, judge

    side = sizing.image_size(size)
    with render_pool(pool, workers, timeout) as pool_:
        results = pool_.render_many([p.program for p in programs], width=side, height=side, time=time)
    kept, dropped, filters = [], Counter(), Filters()
    for program, result in zip(programs, results):
        reason = result.error.kind if not result.ok else judge(result.image, filters, result.nonfinite_fraction)[0]
        if reason is None:
            kept.append(replace(program, image=result.image))
        else:
            dropped[reason] += 1
    logger.info("rendered %d programs at %d px: kept %d, dropped %s", len(programs), side, len(kept), dict(dropped))
    return kept


def withheld_renders(spec: str, split: str, side: int, n: int | None = None, *, pool=None, workers=None,
                     timeout: float = 10.0) -> list[Row]:
    """`renders:PROGRAMS?time=T&test_fraction=F&count=N`: renders of real programs with the code withheld.

    Programs go to `test` or `train` by the factory's hash of the normalised code (`build.is_test`, the
    same fraction as a factory build by default), so no shader is in both; duplicates are read once.
    Rendered in source order until `count` (else `n`, else every program of the split) pass the filter.
    Corrupt rows of the source are skipped; the log names the first few.
    """
    inner, options = split_options(spec, RENDERS_PREFIX, RENDER_OPTIONS)
    fraction, time = options.get("test_fraction", DEFAULT_TEST_FRACTION), options.get("time", 0.0)
    if not 0.0 < fraction < 1.0:
        raise SourceError(f"{spec!r}: test_fraction must be between 0 and 1, got {fraction}")
    if split not in ("train", "test"):
        raise SourceError(f"{spec!r}: renders are split by program into 'train' and 'test', not {split!r}")
    wanted = options.get("count", n)
    corrupt: list = []
    candidates = _withheld_candidates(inner, options.get("source_split"), split, fraction, time, corrupt)
    kept: list[Row] = []
    with render_pool(pool, workers, timeout) as pool_:
        while wanted is None or len(kept) < wanted:  # in batches: the corpus is large, `count` often small
            need = None if wanted is None else wanted - len(kept)
            batch = list(islice(candidates, None if need is None else need + need // 4 + 2))  # most render
            if not batch:
                break
            kept += render_targets(batch, side, pool=pool_, time=time)
    if corrupt:
        named = "; ".join(str(problem) for problem in corrupt[:NAMED_PROBLEMS])
        logger.warning("%s: %d corrupt rows skipped: %s%s", spec, len(corrupt), named,
                       " ..." if len(corrupt) > NAMED_PROBLEMS else "")
    return kept[:wanted] if wanted is not None else kept


def _withheld_candidates(source: str, source_split: str | None, split: str, fraction: float, time: float,
                         corrupt: list):
    """Rows of `split` with the program in `reference`, each normalised program once, in source order."""
    from earthshader.data.build import code_hash, is_test
    from earthshader.data.sources import RowProblem

    seen = set()
    for item in _programs(source, source_split):
        if isinstance(item, RowProblem):
            corrupt.append(item)
            continue
        digest = code_hash(item.code)
        if digest in seen or is_test(digest, fraction) != (split == "test"):
            continue
        seen.add(digest)
        yield program_row(item, f"renders:{Path(source).name}", withheld=True, time=time)


def _programs(source: str, source_split: str | None):
    kind = describe(source)
    if kind == "generator":
        raise SourceError(f"renders:{source}: generated programs are generator:{source}")
    if kind == "saved" and source_split is None:
        import datasets

        try:
            loaded = datasets.load_from_disk(source)
        except (OSError, ValueError) as err:
            raise SourceError(f"renders:{source} cannot be read as a saved dataset: {err}") from None
        for split in (list(loaded) if isinstance(loaded, datasets.DatasetDict) else ["train"]):
            yield from read_source(source, split=split)
        return
    yield from read_source(source, split=source_split or "train")


@contextlib.contextmanager
def render_pool(pool, workers: int | None, timeout: float):
    """`pool` if given, else a `RenderPool` of our own for the block."""
    if pool is not None:
        yield pool
        return
    from earthshader.render import RenderPool

    with RenderPool(workers=workers, timeout=timeout) as own:
        yield own
