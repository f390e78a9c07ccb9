"""An expert-iteration run directory: what each round wrote, how a killed run resumes, the rounds table.

    RUN_DIR/pictures.json              the training pictures (id and SHA-1 of the pixels, in order)
    RUN_DIR/start.json                 the starting model's held-out scores (when eval_start)
    RUN_DIR/round-000/pairs.jsonl      the kept pairs: picture, teacher, program, the objective's value sampled /
                                       kept (`score`), both figures of the kept program
    RUN_DIR/round-000/pictures.jsonl   one line per picture: kept, or why not
    RUN_DIR/round-000/collect.json     the round's counts and timings; written last of the three
    RUN_DIR/round-000/model/           the model SFT trained on the pairs (earthshader.json written last)
    RUN_DIR/rounds.jsonl               one line per finished round: the round is done once its line exists

Every file is written whole to a temporary name and renamed, so a killed run leaves each file either
complete or absent. A resumed run redoes the first round without a line in `rounds.jsonl`, reusing its
pairs when `collect.json` exists and its model when `earthshader.json` does; each round's pairs live in
one file only, so nothing is lost or counted twice. A file damaged some other way (cut short, not JSON,
a record without the fields the run reads) is found by `check_run` when the run resumes, before any round
runs, and named in a `RunStateError` (one line, exit status 2); `logs` names it the same way.

    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> write_jsonl(run / "pairs.jsonl", [{"picture": 0}, {"picture": 1}])
    >>> [row["picture"] for row in read_jsonl(run / "pairs.jsonl")]
    [0, 1]
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from rich import box
from rich.markup import escape
from rich.table import Table

from earthshader.data.picture_reader import printable_id
from earthshader.data.pictures import picture_digest
from earthshader.errors import UsageError
from earthshader.training.time_limit import past_limit

ROUNDS_FILE = "rounds.jsonl"
START_FILE = "start.json"
PICTURES_FILE = "pictures.json"
#: The parts of a round whose wall time each record keeps (seconds).
TIME_PARTS = ("sample_s", "render_s", "refine_s", "train_s", "eval_s")


class RunStateError(UsageError, ValueError):
    """The run directory does not fit this command line (a finished run, other pictures, no --resume)."""


def round_dir(run_dir: str | Path, round_index: int) -> Path:
    return Path(run_dir) / f"round-{round_index:03d}"


def model_dir(run_dir: str | Path, round_index: int) -> Path:
    return round_dir(run_dir, round_index) / "model"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_json(path: Path, value) -> None:
    _atomic_write(path, json.dumps(value, indent=2) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    _atomic_write(path, "".join(json.dumps(row) + "\n" for row in rows))


#: What each record of the run's files must hold (the fields resuming and the tables read), with their types.
ROUND_FIELDS = {"round": int, "model": str, "pictures": int, "kept": int, "counts": dict, "teachers": dict,
                "timing": dict, "heldout": dict, "train_pairs": int, "grammar_pairs": int}
PAIR_FIELDS = {"picture": int, "score": (int, float), "code": str, "id": str, "teacher": str}
PICTURE_FIELDS = {"picture": int}


def read_json(path: Path, kind: type = dict):
    """The JSON value of `path` (a `kind`); `RunStateError` naming the file when it is damaged."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunStateError(f"{path}: damaged ({err}); restore it, or delete it and what depends on it") from None
    if not isinstance(value, kind):
        raise RunStateError(f"{path}: damaged (a JSON {type(value).__name__}, not a {kind.__name__})")
    return value


def read_jsonl(path: Path, fields: dict | None = None) -> list[dict]:
    """Every line of `path` (none if it does not exist), each an object holding `fields` (name: type); a
    damaged line is a `RunStateError` naming the file and line (these files are written whole, never torn)."""
    if not path.is_file():
        return []
    rows = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RunStateError(f"{path}:{number}: damaged ({err}); restore the file, or delete it and what "
                                "depends on it") from None
        missing = [name for name, kind in (fields or {}).items()
                   if not isinstance(row, dict) or not isinstance(row.get(name), kind)
                   or isinstance(row.get(name), bool)]
        if not isinstance(row, dict) or missing:
            raise RunStateError(f"{path}:{number}: damaged (no {', '.join(missing) or 'object'} of the right type)")
        rows.append(row)
    return rows


def finished_rounds(run_dir: str | Path) -> list[dict]:
    """The records of finished rounds, in order."""
    records = read_jsonl(Path(run_dir) / ROUNDS_FILE, ROUND_FIELDS)
    for index, record in enumerate(records):
        if record["round"] != index or not all(isinstance(record["timing"].get(p), (int, float)) for p in TIME_PARTS):
            raise RunStateError(f"{Path(run_dir) / ROUNDS_FILE}:{index + 1}: damaged (round {record['round']} where "
                                f"round {index} belongs, or its timing lacks {', '.join(TIME_PARTS)})")
    return records


def check_run(run_dir: str | Path, pictures: int) -> list[dict]:
    """Read every file a resumed run will read (start scores, finished rounds, each round's pairs, picture
    records, summary, model record) and check it, before any round runs; the finished rounds' records.
    `pictures`: how many training pictures the run has (a pair's `picture` indexes them)."""
    from earthshader.modeling.run_info import read_run_info

    run_dir = Path(run_dir)
    if (run_dir / START_FILE).is_file():
        read_json(run_dir / START_FILE)
    records = finished_rounds(run_dir)
    for r in range(len(records) + 1):
        folder = round_dir(run_dir, r)
        pairs = read_jsonl(folder / "pairs.jsonl", PAIR_FIELDS)
        read_jsonl(folder / "pictures.jsonl", PICTURE_FIELDS)
        if (folder / "collect.json").is_file() and not isinstance(read_json(folder / "collect.json").get("timing"),
                                                                   dict):
            raise RunStateError(f"{folder / 'collect.json'}: damaged (no timing)")
        outside = [p["picture"] for p in pairs if not 0 <= p["picture"] < pictures]
        if outside:
            raise RunStateError(f"{folder / 'pairs.jsonl'}: damaged (pictures {outside[:5]} of {pictures})")
        read_run_info(model_dir(run_dir, r))
    return records


def prepare(run_dir: str | Path, targets, resume: bool) -> list[dict]:
    """Check the run directory against this run, and every file a resume reads (`check_run`), before any
    round runs; the finished rounds' records (none for a fresh run)."""
    run_dir = Path(run_dir)
    manifest = [{"id": t.id, "sha1": picture_digest(t.image)} for t in targets]
    if not (run_dir / PICTURES_FILE).is_file():
        write_json(run_dir / PICTURES_FILE, manifest)
        return []
    if not resume:
        raise RunStateError(f"{run_dir} already holds an expert-iteration run ({len(finished_rounds(run_dir))} rounds "
                            "finished): pass --resume_from_checkpoint true to continue it, or choose another "
                            "--output_dir")
    recorded = read_json(run_dir / PICTURES_FILE, list)
    if recorded != manifest:
        raise RunStateError(f"{run_dir} was started on other training pictures ({len(recorded)} recorded, "
                            f"{len(manifest)} now, or their pixels differ): resume with the same targets flags")
    return check_run(run_dir, len(manifest))


def save_collected(run_dir: str | Path, round_index: int, collected, settings: dict) -> None:
    """Write a round's pairs and picture records, then its summary (the marker that the two are complete)."""
    folder = round_dir(run_dir, round_index)
    write_jsonl(folder / "pairs.jsonl", [{"round": round_index, **p} for p in collected.pairs])
    write_jsonl(folder / "pictures.jsonl", [{"round": round_index, **p} for p in collected.pictures])
    write_json(folder / "collect.json", {"counts": collected.counts(), "timing": collected.timing,
                                         "objective": getattr(collected, "objective", None), "settings": settings})


def load_collected(run_dir: str | Path, round_index: int):
    """A round's `Collected` as saved, or None when its collection did not finish."""
    from earthshader.training.expert_iteration import Collected

    folder = round_dir(run_dir, round_index)
    if not (folder / "collect.json").is_file():
        return None
    summary = read_json(folder / "collect.json")
    return Collected(pairs=read_jsonl(folder / "pairs.jsonl", PAIR_FIELDS),
                     pictures=read_jsonl(folder / "pictures.jsonl", PICTURE_FIELDS), timing=summary["timing"],
                     objective=summary.get("objective"))


def model_saved(run_dir: str | Path, round_index: int) -> bool:
    from earthshader.modeling.run_info import RUN_INFO

    return (model_dir(run_dir, round_index) / RUN_INFO).is_file()


def pairs_until(run_dir: str | Path, round_index: int, replay: str) -> list[dict]:
    """The pairs SFT learns from after `round_index`: every round's ("all"), or the best per picture ("best")."""
    if replay not in ("best", "all"):
        raise ValueError(f"--replay {replay!r}: valid values are best, all")
    pairs = [p for r in range(round_index + 1) for p in read_jsonl(round_dir(run_dir, r) / "pairs.jsonl", PAIR_FIELDS)]
    if replay == "all":
        return pairs
    best: dict[int, dict] = {}
    for pair in pairs:  # a later round wins a tie: it is the newer model's answer
        if pair["picture"] not in best or pair["score"] >= best[pair["picture"]]["score"]:
            best[pair["picture"]] = pair
    return [best[k] for k in sorted(best)]


def mark_done(run_dir: str | Path, record: dict) -> list[dict]:
    """Append a finished round's record (rewriting the file whole); every record so far."""
    records = [r for r in finished_rounds(run_dir) if r["round"] < record["round"]] + [record]
    write_jsonl(Path(run_dir) / ROUNDS_FILE, records)
    return records


def round_record(round_index: int, collected, learnt: dict, model: str, heldout: dict) -> dict:
    """The line `rounds.jsonl` gets for a finished round."""
    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    teachers: dict[str, int] = {}
    for pair in collected.pairs:
        teachers[pair["teacher"]] = teachers.get(pair["teacher"], 0) + 1
    return {"round": round_index, "pictures": len(collected.pictures), "kept": len(collected.pairs),
            "counts": collected.counts(), "teachers": teachers,
            "objective": getattr(collected, "objective", None),
            "sample_score": mean(p.get("sample_score") for p in collected.pairs),
            "kept_score": mean(p["score"] for p in collected.pairs),
            "kept_structure": mean(p.get("structure") for p in collected.pairs),
            "kept_appearance": mean(p.get("appearance") for p in collected.pairs),
            "refined": sum(bool(p.get("refined")) for p in collected.pairs),
            "train_pairs": learnt["expert_pairs"], "grammar_pairs": learnt["grammar_pairs"], "model": model,
            "timing": {**collected.timing, "train_s": learnt["train_s"], "eval_s": heldout.pop("eval_s")},
            "heldout": heldout}


def over_time(records: list[dict], minutes: float) -> bool:
    """Whether a round as long as the average finished one would end past `minutes` of rounds in all."""
    if minutes <= 0 or not records:
        return False
    spent = [sum(r["timing"][part] for part in TIME_PARTS) for r in records]
    return past_limit(sum(spent), sum(spent) / len(spent), minutes)


def _f(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


#: Short names of the teachers in the table.
TEACHER_SHORT = {"model": "m", "model+refine": "m+r", "search": "s"}


def rounds_table(records: list[dict], start: dict | None = None) -> Table:
    """Each finished round in one row: the pairs kept and dropped, the objective's value before and after the
    teacher, both figures of the kept programs, and both figures held out."""
    objectives = sorted({r.get("objective") for r in records if r.get("objective")})
    table = Table(title="expert iteration: pairs and held-out figures", title_justify="left", box=box.SIMPLE_HEAD,
                  padding=(0, 1, 0, 0), pad_edge=False,
                  caption=f"dropped: no sample rendered + below the margin; {', '.join(objectives) or 'objective'}: "
                          "the teacher's objective, sampled → kept program, means over kept pairs; S/A: structure / "
                          "appearance; teachers: m model, m+r model+refine, s search; SFT pairs: expert + grammar "
                          "school; compile: the held-out compile rate", caption_justify="left")
    columns = ("round", "kept", "dropped", "/".join(objectives) or "objective", "kept S/A", "teachers", "SFT pairs",
               "held-out S/A", "compile")
    for name in columns:
        table.add_column(name, justify="left" if name == "teachers" else "right", overflow="fold")  # never cut
    if start:
        table.add_row("start", *[""] * 6, *_heldout(start))
    for r in records:
        counts = r["counts"]
        teachers = ", ".join(f"{TEACHER_SHORT.get(k, k)} {v}" for k, v in sorted(r["teachers"].items()))
        table.add_row(str(r["round"]), f"{r['kept']}/{r['pictures']}",
                      f"{_count(counts, 'no_render')} + {_count(counts, 'below_margin', 'rerender_mismatch')}",
                      f"{_f(r.get('sample_score'))}→{_f(r.get('kept_score'))}",
                      f"{_f(r.get('kept_structure'))}/{_f(r.get('kept_appearance'))}", escape(teachers) or "-",
                      f"{r['train_pairs']} + {r['grammar_pairs']}", *_heldout(r["heldout"]))
    return table


def _count(counts: dict, *keys: str) -> str:
    values = [counts.get(key, 0) for key in keys]
    return str(sum(values)) if all(isinstance(v, int) for v in values) else "-"


def _heldout(scores: dict) -> tuple[str, str]:
    return f"{_f(scores.get('structure'))}/{_f(scores.get('appearance'))}", _f(scores.get("compile_rate"), 2)


def time_table(records: list[dict], start: dict | None = None) -> Table:
    """Each finished round's wall time per part, and refinement's renders per second."""
    table = Table(title="expert iteration: seconds per part", title_justify="left", show_edge=False)
    for name in ("round", "sample", "render", "refine", "renders", "renders/s", "train", "eval", "total"):
        table.add_column(name, justify="right")
    if start:
        table.add_row("start", *[""] * 6, _f(start.get("eval_s"), 1), "")
    for r in records:
        t = r["timing"]
        table.add_row(str(r["round"]), *[_f(t.get(k), 1) for k in ("sample_s", "render_s", "refine_s")],
                      str(t.get("refine_renders", 0)), _f(t.get("renders_per_s"), 0),
                      *[_f(t.get(k), 1) for k in ("train_s", "eval_s")],
                      _f(sum(t.get(k) or 0.0 for k in TIME_PARTS), 1))
    return table


def view(run_dir: str | Path):
    """What `python -m earthshader.logs RUN_DIR` prints for an expert-iteration run."""
    from rich.console import Group

    run_dir = Path(run_dir)
    records = finished_rounds(run_dir)
    start = read_json(run_dir / START_FILE) if (run_dir / START_FILE).is_file() else None
    parts = [f"[bold]{escape(printable_id(str(run_dir)))}[/]: {len(records)} rounds finished",
             rounds_table(records, start),
             time_table(records, start)]
    unfinished = round_dir(run_dir, len(records))
    if (unfinished / "collect.json").is_file():
        parts.append(f"round {len(records)}: pairs collected, training or evaluation not finished")
    return Group(*parts)
