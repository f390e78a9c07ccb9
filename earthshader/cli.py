"""What every command line of the package shares: a parser whose errors are one line, and checked types.

    from earthshader.cli import ArgumentParser, existing_file, fraction, positive_int

    parser = ArgumentParser(prog="python -m earthshader.something")
    parser.add_argument("--workers", type=positive_int)
    parser.add_argument("--size", type=int_range(1, MAX_SIDE))
    parser.add_argument("--test-fraction", type=fraction)
    parser.add_argument("shader", type=existing_file)

A bad value exits with status 2 and one line on stderr that names the flag and what is valid, e.g.

    python -m earthshader.data build: error: argument --workers: must be a whole number of at least 1, got '-3'

(argparse itself names the flag; each type below says what it accepts). No traceback, no usage block:
`--help` shows the usage. The types raise `argparse.ArgumentTypeError`, so they also work with any
other `argparse` parser.

>>> positive_int("3"), fraction("0.25"), finite_float("-1.5")
(3, 0.25, -1.5)
>>> positive_int("0")
Traceback (most recent call last):
argparse.ArgumentTypeError: must be a whole number of at least 1, got '0'
>>> finite_float("nan")
Traceback (most recent call last):
argparse.ArgumentTypeError: must be a finite number, got 'nan'
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from earthshader.errors import UsageError
from earthshader.image.sizing import MAX_SIDE  # noqa: F401  (re-exported: every command's size flags)

#: The most answers sampled per picture (`--samples`): more is hours of generation for one picture.
MAX_SAMPLES = 256
#: The most renders one picture may spend (`--budget`, `--search`): 100,000 is about 20 minutes at 84 px.
MAX_RENDERS = 100_000


class OneLineErrors:
    """Mix into any `argparse.ArgumentParser` subclass (TRL's `TrlParser` too): errors become one line,
    `PROG: error: MESSAGE`, with exit status 2, instead of the usage block."""

    def error(self, message: str):
        line = " ".join(f"{self.prog}: error: {message}".split())  # one line, whatever the message holds
        sys.stderr.write(f"{line} (see --help)\n")
        sys.exit(2)


class ArgumentParser(OneLineErrors, argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line, `PROG: error: MESSAGE`, and exit status 2, and
    whose long flags take both spellings, TRL's underscores and hyphens (`--max_new_tokens`, `--max-new-tokens`).

    >>> parser = ArgumentParser(prog="demo")
    >>> _ = parser.add_argument("--max-new-tokens", type=positive_int, default=8)
    >>> parser.parse_args(["--max_new_tokens", "3"]).max_new_tokens, parser.parse_args(["--max-new-tokens", "4"])
    (3, Namespace(max_new_tokens=4))
    """

    def add_argument(self, *names, **kwargs):
        return super().add_argument(*both_spellings(names), **kwargs)


def both_spellings(names) -> list[str]:
    """Option strings with each long flag in both spellings, the underscore one first (it names `dest`).

    >>> both_spellings(["-o", "--out-dir"])
    ['-o', '--out_dir', '--out-dir']
    >>> both_spellings(["shader"]), both_spellings(["--turns"])
    (['shader'], ['--turns'])
    """
    spelled = []
    for name in names:
        if name.startswith("--"):
            variants = ["--" + name[2:].replace("-", "_"), "--" + name[2:].replace("_", "-")]
        else:
            variants = [name]
        for variant in variants:
            if variant not in spelled:
                spelled.append(variant)
    return spelled


def check_sampling(parser: argparse.ArgumentParser, samples: int, temperature: float | None) -> None:
    """Refuse `--temperature 0` with `--samples` K > 1, through `parser.error` (one line, exit status 2): greedy
    decoding gives one answer a prompt, and transformers refuses K greedy sequences."""
    if temperature == 0 and samples > 1:
        parser.error(f"argument --temperature: 0 is greedy decoding, which gives one answer; with --samples {samples} "
                     "give a temperature above 0, or ask for --samples 1")


def check_fields(config, **types) -> None:
    """Check fields of an arguments dataclass with the types above (a recipe's YAML values skip argparse's
    `type=`): `ValueError("argument --NAME: ...")` for the first bad one; None values are not checked.

    >>> from types import SimpleNamespace
    >>> check_fields(SimpleNamespace(image_size=0), image_size=positive_int)
    Traceback (most recent call last):
    ValueError: argument --image_size: must be a whole number of at least 1, got '0'
    """
    for name, check in types.items():
        value = getattr(config, name)
        if value is None:
            continue
        try:
            check(str(value))
        except argparse.ArgumentTypeError as err:
            raise ValueError(f"argument --{name}: {err}") from None


def run_entry_point(main) -> None:
    """Run an entry point's `main()` and exit with its status (an int it returns; 0 otherwise).

    Input the user can fix ends with its own one-line message and status 2 (`earthshader.errors.UsageError`); what the
    machine refuses while the command runs (a full disk, a file that cannot be written: `OSError`;
    `MemoryError`) ends with one line naming it and status 1; Ctrl-C with status 130. Anything else is a
    bug and keeps its traceback. Every command of the package runs under it.
    """
    try:
        status = main()
    except UsageError as err:
        sys.exit(fail(str(err)))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except (OSError, MemoryError) as err:
        fail(f"{type(err).__name__}: {err}")
        sys.exit(1)
    sys.exit(status if isinstance(status, int) and not isinstance(status, bool) else 0)


def fail(message: str) -> int:
    """Print one error line on stderr, for checks a type cannot make; returns the exit status 2."""
    sys.stderr.write(" ".join(f"error: {message}".split()) + "\n")
    return 2


def _number(text: str, kind, description: str):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
    return value


def int_range(low: int | None = None, high: int | None = None):
    """A type for whole numbers in [low, high] (either end open when None)."""
    if low is not None and high is not None:
        description = f"a whole number from {low} to {high}"
    elif low is not None:
        description = f"a whole number of at least {low}"
    elif high is not None:
        description = f"a whole number of at most {high}"
    else:
        description = "a whole number"

    def whole_number(text: str) -> int:
        value = _number(text, int, description)
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
        return value

    whole_number.__name__ = f"int_range({low}, {high})"
    return whole_number


def float_range(low: float | None = None, high: float | None = None, *, low_open: bool = False,
                high_open: bool = False):
    """A type for finite numbers between `low` and `high` (`low_open`: `low` itself excluded; same for high)."""
    parts = []
    if low is not None and high is not None and not (low_open or high_open):
        parts.append(f"from {low:g} to {high:g}")
    elif low is not None:
        parts.append(f"{'above' if low_open else 'at least'} {low:g}")
    if high is not None and (low is None or low_open or high_open):
        parts.append(f"{'below' if high_open else 'at most'} {high:g}")
    description = "a finite number" + (" " + " and ".join(parts) if parts else "")

    def number(text: str) -> float:
        value = _number(text, float, description)
        if low is not None and (value < low or (low_open and value == low)):
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
        if high is not None and (value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
        return value

    number.__name__ = f"float_range({low}, {high})"
    return number


#: Whole numbers of at least 1 (counts, workers, budgets).
positive_int = int_range(1)
#: Whole numbers of at least 0 (seeds, first rows, levels).
non_negative_int = int_range(0)
#: Any finite float (a time, a coordinate).
finite_float = float_range()
#: Finite floats above 0 (timeouts, intervals, temperatures above zero).
positive_float = float_range(0.0, low_open=True)
#: Finite floats of at least 0.
non_negative_float = float_range(0.0)
#: A share in [0, 1].
fraction = float_range(0.0, 1.0)


def existing_file(text: str) -> Path:
    """A path to a file that exists (not a folder)."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"must be a file, {text!r} is a folder")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"must be an existing file, no such file: {text!r}")
    return path


def new_file_path(text: str) -> Path:
    """A path to write a file to: it may exist as a file (it is replaced), not as a folder."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"must be a file to write, {text!r} is an existing folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"must be a file to write, {str(parent)!r} is not a folder")
            break
    return path


def existing_folder(text: str) -> Path:
    """A path to a folder that exists."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"must be an existing folder, {text!r} is a file" if path.exists()
                                         else f"must be an existing folder, no such folder: {text!r}")
    return path


def folder_path(text: str) -> Path:
    """A folder to write into: it may exist as a folder (or not yet), not as a file."""
    path = Path(text).expanduser()
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise argparse.ArgumentTypeError(
                    f"must be a folder, {str(candidate)!r} is an existing file" if candidate == path
                    else f"must be a folder, {str(candidate)!r} above it is an existing file")
            break
    return path
