"""What every picture source shares: the row type, the options of a spec (`crops:...?size=96&count=8`), and
the bounds checked before any work starts.

    from earthshader.data.row_spec import Row, split_options, check_count, max_rows
    inner, options = split_options("crops:photos/?size=96&count=8", "crops:", CROP_OPTIONS)
    check_count(options["count"], side=84, what="crops:photos/?count")   # SourceError past the bound

A set of rows is held in memory at the model's square side, 3 bytes a pixel: at most `MAX_SET_BYTES` (2 GiB)
of them, which is `max_rows(side)` rows (14,266 at 224 px, 101,449 at 84 px). A count, `--n` or a folder
that asks for more is an error naming it, before anything is read or rendered.

>>> split_options("crops:photos/?size=96&count=8", "crops:", CROP_OPTIONS)
('photos/', {'size': 96, 'count': 8})
>>> max_rows(224), max_rows(84)
(14266, 101449)
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from earthshader.data.sources import SourceError
from earthshader.image import sizing
from earthshader.image.sizing import MAX_SIDE

logger = logging.getLogger("earthshader.data.rows")  # one logger for everything the loader says

#: First generator seed of held-out `generator:` targets: far above the seeds SFT and the factory start from.
HELD_OUT_SEED = 1_000_000
GENERATOR_PREFIX, RENDERS_PREFIX, CROPS_PREFIX, SKIMAGE_PREFIX = "generator:", "renders:", "crops:", "skimage:"
#: Options of `crops:` and `renders:` specs, with their types.
CROP_OPTIONS = {"size": int, "count": int, "seed": int}
RENDER_OPTIONS = {"time": float, "test_fraction": float, "count": int, "source_split": str}
#: The most bytes of rows (H x W x 3 at the model's side) one spec may give.
MAX_SET_BYTES = 2 * 2**30
#: Rejected or unreadable pictures named in one log line (the rest are counted).
NAMED = 20


@dataclass(eq=False)  # rows hold arrays: compare their fields, not the rows
class Row:
    """One target or training row. `code`: the program a learner may see ("" when none or withheld)."""

    image: np.ndarray | None = None  # H x W x 3 uint8; square at the asked size once loaded
    code: str = ""
    source: str = "unknown"
    id: str = ""
    family: str | None = None
    difficulty: int | None = None
    params: dict = field(default_factory=dict)
    time: float = 0.0  # iTime the image was rendered at
    reference: str = ""  # the program that drew a code-withheld render: for scoring only

    @property
    def program(self) -> str:
        """The program that draws `image`, taught or withheld ("" for a picture)."""
        return self.code or self.reference


@dataclass(frozen=True)
class Request:
    """What a stage asks of a source: the split, the square side, how many rows, and how they are filtered."""

    split: str = "train"
    side: int = sizing.DEFAULT_IMAGE_SIZE
    n: int | None = None
    seed: int = 0
    start: int = 0
    difficulty: int | None = None
    judged: bool = True  # the training filter; False: every scoreable picture (evaluation, inference)
    render: tuple = (None, None, 10.0)  # pool, workers, timeout


def max_rows(side: int) -> int:
    """How many rows of `side` x `side` pixels fit in `MAX_SET_BYTES`."""
    return MAX_SET_BYTES // (3 * side * side)


def check_count(count: int | None, side: int, what: str) -> None:
    """`SourceError` naming `what` (a flag or option) when `count` rows of `side` px pass the bound."""
    if count is not None and count > max_rows(side):
        raise SourceError(f"{what}: {count:,} pictures of {side} px would take {count * 3 * side * side / 2**30:.1f} "
                          f"GiB; a set may hold {MAX_SET_BYTES // 2**30} GiB ({max_rows(side):,} pictures of "
                          f"{side} px): ask for fewer")


def split_options(spec: str, prefix: str, allowed: dict) -> tuple[str, dict]:
    """(`inner`, options) of `prefix + inner + "?key=value&..."`, each value checked against `allowed`'s type.

    Whole numbers are checked against their range: `seed` 0 or more, `size` 1 to `MAX_SIDE`, `count` 1 or more
    (its upper bound depends on the side: `check_count`).
    """
    inner, _, query = spec[len(prefix):].partition("?")
    if not inner:
        raise SourceError(f"{spec!r}: {prefix} needs a source before '?', e.g. {prefix}photos/")
    options = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key not in allowed:
            raise SourceError(f"{spec!r}: unknown option {key!r}; {prefix} takes {', '.join(allowed)}")
        try:
            options[key] = allowed[key](value)
        except ValueError:
            raise SourceError(f"{spec!r}: {key}={value!r} is not {allowed[key].__name__}") from None
        if allowed[key] is int and options[key] < (0 if key == "seed" else 1):
            raise SourceError(f"{spec!r}: {key} must be {'0 or more' if key == 'seed' else 'at least 1'}")
        if key == "size" and options[key] > MAX_SIDE:
            raise SourceError(f"{spec!r}: size must be at most {MAX_SIDE} px")
        if allowed[key] is float and not np.isfinite(options[key]):
            raise SourceError(f"{spec!r}: {key} must be a finite number")
    return inner, options


# --- what every source does with the pictures it reads ---------------------------------------------------

def draw_order(total: int, n: int | None, seed: int) -> list[int] | None:
    """The order to read `total` items in when `n` are wanted (None: all, in order): the `n` drawn with `seed`
    (in their order), then the rest in a drawn order, read only to replace drawn items that are refused.

    >>> draw_order(10, 3, 0)[:3], draw_order(10, None, 0)
    ([2, 4, 9], None)
    """
    if n is None or n >= total:
        return None
    first = sorted(random.Random(f"targets:{seed}").sample(range(total), n))
    chosen = set(first)
    return first + [i for i in random.Random(f"targets:{seed}:more").sample(range(total), total) if i not in chosen]


def fit_picture(image: np.ndarray, side: int) -> np.ndarray:
    """The one image policy (`sizing.prepare_image`): centre-cropped to a square, resized to `side`."""
    return np.asarray(sizing.prepare_image(image, side))


def keeper(request: Request) -> Callable[[np.ndarray], np.ndarray | str]:
    """The filter of `request`: the picture itself when kept, else the reason it is not (a str)."""
    from earthshader.data.build import Filters, judge
    from earthshader.image.metrics import target_image

    filters = Filters()

    def keep(image: np.ndarray) -> np.ndarray | str:
        if request.judged:
            return judge(image, filters)[0] or image
        try:
            target_image(image, allow_flat=False)
        except ValueError as err:
            return f"cannot be scored: {err}"
        return image

    return keep


def log_fitted(pictures: list, side: int, spec: str) -> None:
    """Log how many of `pictures` (their `size` as read) were resized, and how many cropped first."""
    changed = Counter()
    for picture in pictures:
        height, width = (picture.size or picture.image.shape)[:2]
        if (height, width) != (side, side):
            changed["non-square" if height != width else "resized"] += 1
    if changed:
        cropped = f" ({changed['non-square']} non-square, centre-cropped first)" if changed["non-square"] else ""
        logger.info("%s: %d of %d pictures resized to %d x %d px%s", spec, sum(changed.values()), len(pictures),
                    side, side, cropped)


def warn_rejected(spec: str, rejected: list[str], total: int, judged: bool) -> None:
    """Name the pictures the filter dropped (`judged`) or that cannot be answered."""
    if rejected:
        what = "dropped by the filter (earthshader.data.build.judge)" if judged else "refused"
        logger.warning("%s: %d of %d pictures %s: %s", spec, len(rejected), total, what,
                       ", ".join(rejected[:NAMED]) + (" ..." if len(rejected) > NAMED else ""))


def warn_unread(spec: str, found, total: int | None = None) -> None:
    """Name the files of a `pictures.Found` that could not be read, and what was not looked into."""
    if found.problems:
        total = total if total is not None else len(found.problems) + len(found.pictures)
        logger.warning("%s: %d of %d pictures cannot be read and are skipped: %s", spec, len(found.problems), total,
                       "; ".join(found.problems[:NAMED]) + (" ..." if len(found.problems) > NAMED else ""))
    if found.unvisited:
        logger.warning("%s: %d entries not read: %s", spec, len(found.unvisited),
                       "; ".join(found.unvisited[:NAMED]) + (" ..." if len(found.unvisited) > NAMED else ""))
