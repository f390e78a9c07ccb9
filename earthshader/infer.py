"""Image in, shader out: sample K programs per picture, keep the best render, optionally refine its numbers.

    python -m earthshader.infer photo.png --model runs/grpo-tiny -o out/
    python -m earthshader.infer a.png b.jpg --model Qwen/Qwen2-VL-7B-Instruct --adapter runs/grpo-textures \\
        --samples 16 --refine --budget 400 -o out/
    python -m earthshader.infer photos/ "crops:skimage:photos?count=8" --model runs/grpo-tiny -o out/

An input is any picture source of `earthshader.data.rows.load_rows` (docs/pictures.md), checked as every
stage checks it (`rows.picture_spec`): a picture file, a folder of pictures (recursive), `crops:...`,
`skimage:...`, a saved dataset. Every picture is read by the one reader and its guards; every picture that
can be scored is answered, and one that cannot (a flat picture, a 1 x 1 one) is refused by name: a file
given alone exits 2, one in a folder is named in the log. Non-square pictures are centre-cropped to a square
before they are resized to the model's size.

For each image: the model (with the shared prompt and image size) writes K programs; each is rendered
at the image size and scored by skill against the picture's mean-colour image (the evaluation's
`skill`: the mean of the SSIM, edge and pixel skills; 0 is no better than a flat image of the right
colour); the best is kept and, with `--refine`, its numeric literals are fitted to the picture by
re-rendering (`earthshader.refine`). With `--search BUDGET` the model-free search baseline
(`earthshader.evaluation.search`: the generators' programs fitted to the picture, BUDGET renders) runs
too; its program replaces the model's, and is the one refined, when every model sample scores worse.
Writes `NAME.glsl` (with a header comment: source image, model, score) and `NAME.png` (the picture beside
the result), each to a temporary file renamed into place, and prints a summary of exactly what was written.
NAME is the picture's path inside its folder (or the file name) without its suffix, `/` made `_`; a crop
keeps its `@x,y`; two inputs never share a NAME (a short digest of the input is added when they would).
Exits 2 on bad input (a missing, unreadable or refused picture, a model that cannot be found), naming the
argument on one line; 1 when no picture got a shader written.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from earthshader.cli import (
    MAX_RENDERS,
    MAX_SAMPLES,
    MAX_SIDE,
    ArgumentParser,
    UsageError,
    fail,
    folder_path,
    int_range,
    non_negative_float,
    run_entry_point,
)
from earthshader.data.picture_reader import printable_id
from earthshader.data.rows import picture_spec


@dataclass
class Inferred:
    """The outcome for one picture."""

    name: str
    code: str | None
    skill: float | None
    rendered: int  # samples that rendered
    samples: int
    refined_skill: float | None = None
    image: np.ndarray | None = None
    refine_note: str | None = None  # with --refine: why the program was not refined (None if it was)
    search_skill: float | None = None  # the model-free search's best (`--search`)
    origin: str = "model"  # where the written program came from: "model" or "search"
    written: list[str] = field(default_factory=list)  # the files written for it, in order
    not_written: str | None = None  # why its files could not be written

    @property
    def final_skill(self) -> float | None:
        if self.refined_skill is not None:
            return self.refined_skill
        return self.search_skill if self.origin == "search" else self.skill


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


def best_program(completions: list[str], target: np.ndarray,
                 pool) -> tuple[str | None, float | None, int, np.ndarray | None]:
    """(code, skill, rendered count, image) of the best-scoring completion; None when none rendered."""
    from earthshader.evaluation.scoring import TargetScorer
    from earthshader.glsl.extract import extract_glsl

    codes = [extract_glsl(text).code for text in completions]
    results = pool.render_many(codes, width=target.shape[1], height=target.shape[0])
    scorer = TargetScorer(target)
    best = (None, None, None)
    rendered = 0
    for code, result in zip(codes, results):
        if not result.ok:
            continue
        rendered += 1
        skill = scorer.scores(result.image)["skill"]
        if best[1] is None or skill > best[1]:
            best = (code, skill, result.image)
    return best[0], best[1], rendered, best[2]


def refine_item(item: Inferred, target: np.ndarray, budget: int, pool) -> None:
    """Refine `item`'s program toward `target` in place; `item.refine_note` says why when it is not."""
    from earthshader.refine import RefineError, refine

    if item.code is None:
        item.refine_note = "no sample rendered, nothing to refine"
        return
    try:
        refined = refine(item.code, target, budget=budget, pool=pool)
    except RefineError as err:
        item.refine_note = str(err)
        return
    if refined.source == item.code:
        item.refine_note = f"no better values found in {refined.renders} renders"
        return
    after = best_program([f"```glsl\n{refined.source}\n```"], target, pool)
    if after[1] is None:
        item.refine_note = "the refined program did not render"
    elif after[1] <= item.final_skill:
        item.refine_note = (f"the refined numbers raised the SSIM skill ({refined.skill_before:.3f} -> "
                            f"{refined.skill_after:.3f}) but not the overall skill "
                            f"({after[1]:.3f} <= {item.final_skill:.3f})")
    else:
        item.code, item.refined_skill, item.image = refined.source, after[1], after[3]


def write_outputs(out: Path, item: Inferred, source: str, model: str, target: np.ndarray) -> None:
    """Write `NAME.glsl` and `NAME.png`, each to a temporary file renamed into place (a crash leaves a file
    whole or absent); `item.written` lists what was written."""
    out.mkdir(parents=True, exist_ok=True)
    origin = (f"best of {item.samples} samples" if item.origin == "model"
              else "the search baseline, better than the model")
    header = (f"// Generated by EarthShader from {printable_id(source)}\n// model: {printable_id(model)}\n"
              f"// skill vs the mean-colour image: {item.final_skill:.3f} ({origin}"
              f"{', refined' if item.refined_skill is not None else ''})\n")
    code = (header + item.code.rstrip() + "\n").encode("utf-8", "backslashreplace")
    _replace(out / f"{item.name}.glsl", lambda path: path.write_bytes(code))
    item.written.append(f"{item.name}.glsl")
    side_by_side = Image.fromarray(np.concatenate([target, item.image], axis=1))
    _replace(out / f"{item.name}.png", lambda path: side_by_side.save(path, format="PNG"))
    item.written.append(f"{item.name}.png")


def _replace(path: Path, write) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    from earthshader.modeling import BACKENDS
    from earthshader.refine import MIN_BUDGET

    parser = ArgumentParser(prog="python -m earthshader.infer", description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=picture_spec,
                        help="pictures (PNG, JPEG, WebP), folders of them, crops:..., skimage:...")
    parser.add_argument("--model", required=True, help="Hub id, model folder, or LoRA adapter folder")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter folder to apply on top of --model")
    parser.add_argument("--samples", type=int_range(1, MAX_SAMPLES), default=8,
                        help="programs sampled per picture (default 8)")
    parser.add_argument("--temperature", type=non_negative_float, default=None,
                        help="default: 1.0, or greedy (0) for 1 sample")
    parser.add_argument("--size", type=int_range(1, MAX_SIDE), default=None,
                        help="image side, rounded to a multiple of 28, at least 56 (default: the model's)")
    parser.add_argument("--max-new-tokens", type=int_range(1, 32768), default=1024)
    parser.add_argument("--refine", action="store_true", help="fit the best program's numbers to the picture")
    parser.add_argument("--budget", type=int_range(MIN_BUDGET, MAX_RENDERS), default=300,
                        help="renders for --refine (default 300)")
    parser.add_argument("--search", type=int_range(0, MAX_RENDERS), default=0, metavar="BUDGET",
                        help="also run the model-free search baseline with BUDGET renders a picture "
                             "(earthshader.evaluation.search); its program is kept, and refined, when every "
                             "model sample is worse (default 0: off)")
    parser.add_argument("--backend", default="auto", choices=BACKENDS, help="model backend (default auto)")
    parser.add_argument("-o", "--out", type=folder_path, required=True, help="output folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # what the loader dropped or resized
    console = Console()

    from earthshader import modeling

    backend = modeling.select_backend(args.backend)
    size = modeling.model_image_size(args.size, args.adapter, args.model)
    try:
        inputs = read_inputs(args.images, size)
    except UsageError as err:
        return fail(f"argument images: {err}")
    try:
        model, processor = modeling.load_model_and_adapter(args.model, args.adapter, backend)
    except (UsageError, ValueError) as err:  # no such model or adapter, an architecture we do not train
        return fail(str(err) if str(err).startswith("--adapter") else f"argument --model: {err}")

    from earthshader.evaluation.search import SearchLibrary, search
    from earthshader.modeling.generation import generate_completions
    from earthshader.render import RenderPool

    temperature = args.temperature if args.temperature is not None else (0.0 if args.samples == 1 else 1.0)
    targets = [picture for _, _, picture in inputs]
    completions = generate_completions(model, processor, targets, image_size=size, k=args.samples,
                                       temperature=temperature, max_new_tokens=args.max_new_tokens)
    results = []
    library = SearchLibrary() if args.search else None
    with RenderPool(timeout=10.0) as pool:
        for (name, shown, target), texts in zip(inputs, completions):
            code, skill, rendered, image = best_program(texts, target, pool)
            item = Inferred(name, code, skill, rendered, args.samples, image=image)
            if args.search:
                found = search(target, budget=args.search, pool=pool, library=library)
                item.search_skill = found.skill if found.code is not None else None
                console.print(f"{escape(shown)}: search baseline {found.skill:.3f} from {found.origin}, "
                              f"{found.renders} renders in {found.seconds:.1f} s "
                              f"({found.renders / max(found.seconds, 1e-9):.0f} renders/s)")
                if found.code is not None and (skill is None or found.skill > skill):  # every sample is worse
                    item.code, item.image, item.origin = found.code, found.image, "search"
            if args.refine:
                refine_item(item, target, args.budget, pool)
                if item.refine_note is not None:
                    console.print(f"[yellow]{escape(shown)}: not refined: {escape(item.refine_note)}[/]")
            if item.code is not None:
                try:
                    write_outputs(args.out, item, shown, args.adapter or args.model, target)
                except (OSError, UnicodeError) as err:  # a full disk, a folder taken away: this picture only
                    item.not_written = f"{type(err).__name__}: {err}"
                    console.print(f"[red]{escape(shown)}: not written: {escape(item.not_written)}[/]")
            results.append(item)
    console.print(summary_table(results, args.out))
    return 0 if any(item.written for item in results) else 1


def summary_table(results: list[Inferred], out: Path) -> Table:
    searched = any(item.search_skill is not None for item in results)
    table = Table(title=f"Image to shader ({escape(printable_id(str(out)))})", title_justify="left")
    columns = ("image", "rendered", "skill", *(("search skill", "from") if searched else ()), "refined skill",
               "written")
    for column in columns:
        table.add_column(column, justify="left" if column in ("image", "from") else "right")
    for item in results:
        extra = ("-" if item.search_skill is None else f"{item.search_skill:.3f}", item.origin) if searched else ()
        table.add_row(escape(item.name), f"{item.rendered}/{item.samples}",
                      "-" if item.skill is None else f"{item.skill:.3f}", *extra,
                      escape(refined_cell(item)), escape(written_cell(item)))
    return table


def written_cell(item: Inferred) -> str:
    """The summary's "written": the files written for the picture, or why none were."""
    if item.not_written is not None:
        return f"not written: {item.not_written}" + (f" (written: {', '.join(item.written)})" if item.written else "")
    return ", ".join(item.written) if item.written else "nothing rendered"


def refined_cell(item: Inferred) -> str:
    """The summary's "refined skill": the value, or why there is none."""
    if item.refined_skill is not None:
        return f"{item.refined_skill:.3f}"
    return "-" if item.refine_note is None else f"- (not refined: {item.refine_note})"


if __name__ == "__main__":
    run_entry_point(main)
