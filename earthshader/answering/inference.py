"""Pictures in, shaders out: a model's K samples per picture answered by the one pipeline, written to a folder.

    from earthshader.answering.inference import infer_pictures
    results = infer_pictures(images=["photo.png"], model="runs/grpo-tiny", out=Path("out"), samples=8,
                             refine=True, budget=300, search=200, objective="mix")
    results[0].answer.code, results[0].answer.figures, results[0].written
    results = infer_pictures(images=["photo.png"], model="runs/grpo-tiny", out=Path("out"), samples=4, turns=2)
    results[0].turns[1].figures, results[0].turns[1].rendered          # turn 2: the best of 4, how many rendered

What `python -m earthshader.infer` runs after parsing. Every input is any picture source of
`earthshader.data.rows.load_rows`, read by the one reader; every picture that can be scored is answered
(`judged=False`). For each picture the model writes K programs and `earthshader.answering.answer.answer` keeps
the best by the objective, refines it (`refine`: `budget` renders) and falls back to the search (`search`
renders); `NAME.glsl` (a header comment: source, model, the objective's value and both figures, where the
program came from) and `NAME.png` (the picture beside the render) are written whole or not at all, and a
summary table says exactly what was written. With `turns` N > 1 the K samples are look-and-fix episodes
(`earthshader.answering.turns`): the pipeline picks from their last turns, `NAME.turns.png` shows the picture
and each turn of the episode kept, and a second table gives every turn's figures.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from earthshader.answering.answer import Answer, answer
from earthshader.answering.files import write_atomically
from earthshader.data.picture_reader import printable_id
from earthshader.errors import UsageError
from earthshader.evaluation.objectives import DEFAULT_OBJECTIVE


@dataclass
class Inferred:
    """The outcome for one picture: its answer and the files written for it."""

    name: str
    answer: Answer
    written: list[str] = field(default_factory=list)  # the files written for it, in order
    not_written: str | None = None  # why its files could not be written
    turns: list = field(default_factory=list)  # `--turns N`: per turn, the best of the K (`answering.turns`)
    episode: object = field(default=None, repr=False)  # the episode whose last turn was the best sample


def read_inputs(inputs: list[str], size: int) -> list[tuple[str, str, np.ndarray]]:
    """(output name, shown as, picture) for every picture of every input, through the one loader; every
    scoreable picture is kept (`judged=False`), and the names are unique (`output_name`)."""
    from earthshader.data.rows import load_rows

    targets, used = [], set()
    for spec in inputs:
        single = Path(spec).expanduser().is_file()
        for row in load_rows(spec, size=size, split="test", judged=False):
            shown = row.id if single else f"{printable_id(spec)} {row.id}"
            targets.append((output_name(row.id, spec, used), shown, row.image))
    return targets


def output_name(row_id: str, spec: str, used: set) -> str:
    """A file name (without suffix) for a picture, unique among `used` (compared ignoring case; it is added).

    The row id without its file suffix, anything but letters, digits, `.`, `-`, `@` and `,` made `_` (so a
    crop keeps its `@x,y`); when that is taken, a short digest of the input and the id is added, then a
    count.

    >>> used = set()
    >>> [output_name(i, "photos", used) for i in ["a.png", "a.jpg", "sub/x.png", "sub_x.png", "b.png@0,0"]]
    ['a', 'a-c37f4c', 'sub_x', 'sub_x-fd69e5', 'b.png@0,0']
    >>> output_name("b.png@0,0", "photos", used), output_name("b.png@0,0", "photos", used)
    ('b.png@0,0-9196e0', 'b.png@0,0-9196e0-2')
    """
    stem = row_id if "@" in row_id else str(PurePosixPath(row_id).with_suffix("")) if row_id else "picture"
    base = re.sub(r"[^\w.@,-]+", "_", stem).strip("._") or "picture"
    base = base[:120]
    name = base
    if name.casefold() in used:
        key = "\0".join((spec, row_id)).encode("utf-8", "backslashreplace")
        name = f"{base}-{hashlib.sha1(key).hexdigest()[:6]}"
    count, unique = 1, name
    while unique.casefold() in used:
        count += 1
        unique = f"{name}-{count}"
    used.add(unique.casefold())
    return unique


def header(found: Answer, source: str, model: str, turns: int = 1) -> str:
    """The comment at the top of a written program: where it came from and how it scores."""
    best = f"best of {found.samples} samples" if turns == 1 else \
        f"best last turn of {found.samples} episodes of {turns} turns"
    origin = {"model": best, "model+refine": f"{best}, refined",
              "search": "the search baseline, better than the model"}[found.origin]
    figures = found.figures
    return (f"// Generated by EarthShader from {printable_id(source)}\n// model: {printable_id(model)}\n"
            f"// {origin}; vs the mean-colour image (0): {found.objective} {found.score:.3f}, "
            f"structure {figures['structure']:.3f}, appearance {figures['appearance']:.3f}\n")


def write_outputs(out: Path, item: Inferred, source: str, model: str, target: np.ndarray) -> None:
    """Write `NAME.glsl`, `NAME.png` and, with turns, `NAME.turns.png` (target | turn 1 | turn 2 ... of the episode
    whose last turn was the best sample), each whole or not at all; `item.written` lists what was written."""
    code = (header(item.answer, source, model, max(1, len(item.turns))) + item.answer.code.rstrip() + "\n").encode(
        "utf-8", "backslashreplace")
    write_atomically(out / f"{item.name}.glsl", lambda path: path.write_bytes(code))
    item.written.append(f"{item.name}.glsl")
    from PIL import Image

    side_by_side = Image.fromarray(np.concatenate([target, item.answer.image], axis=1))
    write_atomically(out / f"{item.name}.png", lambda path: side_by_side.save(path, format="PNG"))
    item.written.append(f"{item.name}.png")
    if item.episode is not None:
        from earthshader.answering.turns import turn_strip

        strip = Image.fromarray(turn_strip(target, item.episode))
        write_atomically(out / f"{item.name}.turns.png", lambda path: strip.save(path, format="PNG"))
        item.written.append(f"{item.name}.turns.png")


def infer_pictures(*, images: list[str], model: str, out: Path, adapter: str | None = None, samples: int = 8,
                   temperature: float | None = None, size: int | None = None, max_new_tokens: int = 1024,
                   refine: bool = False, budget: int = 300, search: int = 0, objective: str = DEFAULT_OBJECTIVE,
                   turns: int = 1, backend: str = "auto", console=None) -> list[Inferred]:
    """Answer every picture of `images` with `model` and write the results to `out` (see the module docstring).
    Raises `UsageError` naming the argument for a picture set or a model that cannot be used."""
    from rich.console import Console
    from rich.markup import escape

    from earthshader import modeling

    console = console or Console()
    backend = modeling.select_backend(backend)  # Unsloth, if chosen, before transformers / peft
    size = modeling.model_image_size(size, adapter, model)
    try:
        inputs = read_inputs(images, size)
    except UsageError as err:
        raise UsageError(f"argument images: {err}") from None
    try:
        loaded, processor = modeling.load_model_and_adapter(model, adapter, backend)
    except (UsageError, ValueError) as err:  # no such model or adapter, an architecture we do not train
        raise UsageError(str(err) if str(err).startswith("--adapter") else f"argument --model: {err}") from None

    from earthshader.answering.search import SearchLibrary
    from earthshader.glsl.extract import extract_glsl
    from earthshader.modeling.generation import generate_completions
    from earthshader.render import RenderPool

    temperature = temperature if temperature is not None else (0.0 if samples == 1 else 1.0)
    if turns > 1:
        from earthshader.episodes.runner import EpisodeSettings, check_episode_fits, run_episodes

        episode_settings = EpisodeSettings(max_turns=turns, samples=samples, image_size=size,
                                           max_new_tokens=max_new_tokens, temperature=temperature)
        check_episode_fits(loaded, processor, episode_settings)  # a UsageError naming --turns
    else:
        completions = generate_completions(loaded, processor, [picture for _, _, picture in inputs], image_size=size,
                                           k=samples, temperature=temperature, max_new_tokens=max_new_tokens)
    results, library = [], SearchLibrary() if search else None
    with RenderPool(timeout=10.0) as pool:
        if turns > 1:
            from earthshader.answering.turns import episode_programs, turn_picks

            episodes = run_episodes(loaded, processor, [picture for _, _, picture in inputs], episode_settings,
                                    pool=pool)
            per_picture = [episodes[i * samples:(i + 1) * samples] for i in range(len(inputs))]
            given = [episode_programs(mine) for mine in per_picture]
        else:
            given = [([extract_glsl(text).code for text in texts], None) for texts in completions]
        for i, ((name, shown, target), (codes, images)) in enumerate(zip(inputs, given)):
            found = answer(target, codes, images=images, objective=objective, refine_budget=budget if refine else 0,
                           search_budget=search, library=library, pool=pool)
            item = Inferred(name, found)
            if turns > 1:
                item.turns = turn_picks(per_picture[i], objective)
                picked = next((k for k, s in enumerate(found.scored) if s is found.sample), 0)
                item.episode = per_picture[i][picked]
            if found.search is not None:
                s = found.search
                console.print(f"{escape(shown)}: search baseline ({objective}) {s.score:.3f} from {s.origin}, "
                              f"{s.renders} renders in {s.seconds:.1f} s ({s.renders / max(s.seconds, 1e-9):.0f} "
                              "renders/s)")
            if refine and found.refine_note is not None:
                console.print(f"[yellow]{escape(shown)}: not refined: {escape(found.refine_note)}[/]")
            if found.code is not None:
                try:
                    write_outputs(out, item, shown, adapter or model, target)
                except (OSError, UnicodeError) as err:  # a full disk, a folder taken away: this picture only
                    item.not_written = f"{type(err).__name__}: {err}"
                    console.print(f"[red]{escape(shown)}: not written: {escape(item.not_written)}[/]")
            results.append(item)
    console.print(summary_table(results, out))
    if turns > 1:
        from earthshader.answering.turns import turns_table

        console.print(turns_table(results, objective))
    return results


def summary_table(results: list[Inferred], out: Path):
    """One row per picture: samples rendered, the best sample's and the search's objective value, where the
    program came from, the refined value (or why not), both figures of what was written, the files."""
    from rich.markup import escape
    from rich.table import Table

    searched = any(item.answer.search is not None for item in results)
    objective = results[0].answer.objective if results else DEFAULT_OBJECTIVE
    table = Table(title=f"Image to shader ({escape(printable_id(str(out)))}), picked and fitted for {objective}",
                  title_justify="left")
    columns = ("image", "rendered", "best sample", *(("search",) if searched else ()), "from", "refined",
               "structure", "appearance", "written")
    for column in columns:
        table.add_column(column, justify="left" if column in ("image", "from") else "right")
    for item in results:
        found = item.answer
        search = (_value(found.search.score if found.search and found.search.code else None),) if searched else ()
        table.add_row(escape(item.name), f"{found.rendered}/{found.samples}",
                      _value(found.sample.score if found.sample else None), *search, found.origin,
                      escape(refined_cell(item)), _value(found.figures.get("structure")),
                      _value(found.figures.get("appearance")), escape(written_cell(item)))
    return table


def _value(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def written_cell(item: Inferred) -> str:
    """The summary's "written": the files written for the picture, or why none were."""
    if item.not_written is not None:
        return f"not written: {item.not_written}" + (f" (written: {', '.join(item.written)})" if item.written else "")
    return ", ".join(item.written) if item.written else "nothing rendered"


def refined_cell(item: Inferred) -> str:
    """The summary's "refined": the refined program's value, or why the best sample was not refined."""
    found = item.answer
    if found.refined_sample is not None:
        return f"{found.refined_sample.score:.3f}"
    return "-" if found.refine_note is None else f"- (not refined: {found.refine_note})"
