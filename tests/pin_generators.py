"""Pin the generators' programs: write `tests/generator_pins.json` after adding a family.

    python -m tests.pin_generators              # from the repository root
    python -m tests.pin_generators --force      # when a change of existing programs is intended

The pins hold, for a few seeds of every family (at every level and with the level drawn) and of every group,
the family, level and SHA-256 of the program (`tests/test_generators_stable.py` checks them). Datasets,
evaluation targets, the tiny tokenizer's corpus and the published figures all come from these programs, so a
change of any pin is a change of all of those. The command lists the pins that changed and refuses (exit
status 1) any change but a new family's: its own pins, and the group seeds it wins; with `--force` it writes
them anyway (then re-measure the figures built from the old programs).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from earthshader.data import generators
from earthshader.data.generators import difficulty_range, generate

PINS_PATH = Path(__file__).with_name("generator_pins.json")
#: The one command that writes the pins (what a failing pin check tells you to run).
PIN_COMMAND = "python -m tests.pin_generators"
HELD_OUT = 1_000_000  # earthshader.data.row_spec.HELD_OUT_SEED, where held-out targets start


def pinned_calls() -> list[tuple[str, int, int | None]]:
    """(name, seed, difficulty) of every program that must be pinned, for the families registered now."""
    calls = []
    for name in [*sorted(generators.GROUPS), *sorted(generators.FAMILIES)]:
        calls += [(name, seed, None) for seed in (0, 1, 2, 3, HELD_OUT)]
        calls += [(name, seed, level) for level in difficulty_range(name) for seed in (0, 1, HELD_OUT)]
    return calls


def pin_key(name: str, seed: int, difficulty: int | None) -> str:
    return f"{name}|{seed}|{difficulty}"


def fingerprint(name: str, seed: int, difficulty: int | None) -> dict:
    sample = generate(name, seed, difficulty)
    return {"family": sample.family, "difficulty": sample.difficulty,
            "sha256": hashlib.sha256(sample.code.encode()).hexdigest()[:20]}


def current_pins() -> dict[str, dict]:
    return {pin_key(*call): fingerprint(*call) for call in pinned_calls()}


def read_pins(path: Path = PINS_PATH) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.exists() else {}


def unpinned(pins: dict[str, dict]) -> list[str]:
    """Pins the registered generators call for that `pins` lacks (a new family or group, a new level)."""
    return [key for key in (pin_key(*call) for call in pinned_calls()) if key not in pins]


def stale(pins: dict[str, dict]) -> list[str]:
    """Pins of `pins` that no registered generator calls for any more (a family removed, a level dropped)."""
    wanted = {pin_key(*call) for call in pinned_calls()}
    return sorted(key for key in pins if key not in wanted)


def coverage_problem(pins: dict[str, dict]) -> str | None:
    """What is missing from or left over in `pins`, with the command that fixes it; None when they fit."""
    missing, left_over = unpinned(pins), stale(pins)
    if not missing and not left_over:
        return None
    parts = []
    if missing:
        names = sorted({key.split("|")[0] for key in missing})
        parts.append(f"{len(missing)} programs of {', '.join(names)} are not pinned")
    if left_over:
        parts.append(f"{len(left_over)} pins name programs no generator makes now (e.g. {left_over[0]})")
    return f"{'; '.join(parts)}: run `{PIN_COMMAND}` to pin them (module docstring of tests/pin_generators.py)"


def changed_pins(pins: dict[str, dict]) -> dict[str, tuple[dict, dict]]:
    """Pin -> (pinned, now) for every pinned program whose family, level or code is different now."""
    now = {}
    for pin, was in pins.items():
        name, seed, difficulty = pin.split("|")
        if name not in generators.GROUPS and name not in generators.FAMILIES:
            continue  # a removed family: `stale`
        is_now = fingerprint(name, int(seed), None if difficulty == "None" else int(difficulty))
        if is_now != was:
            now[pin] = (was, is_now)
    return now


def main(argv: list[str]) -> int:
    """Rewrite the pins; refuses (exit 1) changes other than a new family's group seeds without --force."""
    pins = read_pins()
    moved = changed_pins(pins)
    new_families = set(generators.FAMILIES) - {pin["family"] for pin in pins.values()}
    unexpected = [pin for pin, (_, now) in moved.items()
                  if pin.split("|")[0] not in generators.GROUPS or now["family"] not in new_families]
    for pin in sorted(moved):
        was, now = moved[pin]
        print(f"{pin}: {was['family']} level {was['difficulty']} -> {now['family']} level {now['difficulty']}, "
              f"program {was['sha256']} -> {now['sha256']}"
              f"{'  (not a new family taking a group seed)' if pin in unexpected else ''}")
    if unexpected and "--force" not in argv:
        print(f"{len(unexpected)} pins changed other than to a new family: pass --force if that is intended")
        return 1
    fresh = current_pins()
    lines = [f"  {json.dumps(pin)}: {json.dumps(fresh[pin], sort_keys=True)}" for pin in sorted(fresh)]
    PINS_PATH.write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one pin a line: diffs name the pins
    added = len(set(fresh) - set(pins))
    print(f"wrote {len(fresh)} pins to {PINS_PATH} ({added} new, {len(moved)} changed, "
          f"{len(set(pins) - set(fresh))} dropped)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
