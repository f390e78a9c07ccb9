"""Image in, shader out: sample K programs per picture, keep the best render, optionally refine its numbers.

    python -m earthshader.infer photo.png --model runs/grpo-tiny -o out/
    python -m earthshader.infer a.png b.jpg --model Qwen/Qwen2-VL-7B-Instruct --adapter runs/grpo-textures \\
        --samples 16 --refine --budget 400 -o out/
    python -m earthshader.infer photos/ "crops:skimage:photos?count=8" --model runs/grpo-tiny -o out/

An input is a picture file (read as it is: one that cannot be read exits 2), or any picture source of
`earthshader.data.rows.load_rows` (docs/pictures.md): a folder of pictures (recursive; unreadable files
are named and skipped), `crops:...`, `skimage:...`, a saved dataset. Non-square pictures are
centre-cropped to a square before they are resized to the model's size.

For each image: the model (with the shared prompt and image size) writes K programs; each is rendered
at the image size and scored by skill against the picture's mean-colour image (the evaluation's
`skill`: the mean of the SSIM, edge and pixel skills; 0 is no better than a flat image of the right
colour); the best is kept and, with `--refine`, its numeric literals are fitted to the picture by
re-rendering (`earthshader.refine`). With `--search BUDGET` the model-free search baseline
(`earthshader.evaluation.search`: the generators' programs fitted to the picture, BUDGET renders) runs
too; its program replaces the model's, and is the one refined, when every model sample scores worse.
Writes `NAME.glsl` (with a header comment: source image, model,
score) and `NAME.png` (the picture beside the result; NAME from the file name, or the row id of a
folder's picture with `/` as `_`), and prints a summary. Exits 2 on bad input
(a missing or unreadable image, a model that cannot be found), 1 when no image got a working shader.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from rich.console import Console
from rich.table import Table

from earthshader.cli import (
    MAX_SIDE,
    ArgumentParser,
    folder_path,
    int_range,
    non_negative_float,
    non_negative_int,
    positive_int,
)


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

    @property
    def final_skill(self) -> float | None:
        if self.refined_skill is not None:
            return self.refined_skill
        return self.search_skill if self.origin == "search" else self.skill


def read_image(path: Path, size: int) -> np.ndarray:
    """The picture as the model sees it (square, `size` px, RGB); a clear error if it cannot be read."""
    from earthshader.modeling.prompts import prepare_image

    if not path.is_file():
        raise FileNotFoundError(f"no such image: {path}")
    try:
        with Image.open(path) as picture:
            return np.asarray(prepare_image(picture.convert("RGB"), size))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read {path} as an image ({err})") from None


def picture_input(text: str) -> str:
    """An input argument: an existing picture file, a folder, or a picture source (`crops:`, `skimage:`, ...).

    A name that ends like a picture file but names no file is refused here, with argparse's one-line error.
    """
    from earthshader.data.pictures import PICTURE_SUFFIXES

    path = Path(text)
    if not path.exists() and path.suffix.lower() in PICTURE_SUFFIXES:
        raise argparse.ArgumentTypeError(f"must be an existing file, got {text!r} (or a folder of pictures, "
                                         "crops:..., skimage:...)")
    return text


def read_inputs(inputs: list[str], size: int) -> list[tuple[str, str, np.ndarray]]:
    """(name, shown as, picture) for every input: picture files as they are, other specs through the loader."""
    import re

    from earthshader.data.pictures import PICTURE_SUFFIXES
    from earthshader.data.rows import load_rows

    targets = []
    for spec in inputs:
        path = Path(spec)
        if path.is_file() or (not path.exists() and path.suffix.lower() in PICTURE_SUFFIXES):
            targets.append((path.stem, path.name, read_image(path, size)))
            continue
        for row in load_rows(spec, size=size, split="test"):
            name = re.sub(r"[^\w.-]+", "_", str(Path(row.id).with_suffix("")) if "@" not in row.id else row.id)
            targets.append((name, f"{spec} {row.id}", row.image))
    return targets


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
    out.mkdir(parents=True, exist_ok=True)
    origin = (f"best of {item.samples} samples" if item.origin == "model"
              else "the search baseline, better than the model")
    header = (f"// Generated by EarthShader from {source}\n// model: {model}\n"
              f"// skill vs the mean-colour image: {item.final_skill:.3f} ({origin}"
              f"{', refined' if item.refined_skill is not None else ''})\n")
    (out / f"{item.name}.glsl").write_text(header + item.code.rstrip() + "\n", encoding="utf-8")
    side_by_side = np.concatenate([target, item.image], axis=1)
    Image.fromarray(side_by_side).save(out / f"{item.name}.png")


def main(argv: list[str] | None = None) -> int:
    from earthshader.modeling import BACKENDS
    from earthshader.refine import MIN_BUDGET

    parser = ArgumentParser(prog="python -m earthshader.infer", description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=picture_input,
                        help="pictures (PNG, JPEG, WebP), folders of them, crops:..., skimage:...")
    parser.add_argument("--model", required=True, help="Hub id, model folder, or LoRA adapter folder")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter folder to apply on top of --model")
    parser.add_argument("--samples", type=positive_int, default=8, help="programs sampled per picture (default 8)")
    parser.add_argument("--temperature", type=non_negative_float, default=None,
                        help="default: 1.0, or greedy (0) for 1 sample")
    parser.add_argument("--size", type=int_range(1, MAX_SIDE), default=None,
                        help="image side, rounded to a multiple of 28, at least 56 (default: the model's)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=1024)
    parser.add_argument("--refine", action="store_true", help="fit the best program's numbers to the picture")
    parser.add_argument("--budget", type=int_range(MIN_BUDGET), default=300, help="renders for --refine (default 300)")
    parser.add_argument("--search", type=non_negative_int, default=0, metavar="BUDGET",
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
        model, processor = modeling.load_model_and_adapter(args.model, args.adapter, backend)
    except (FileNotFoundError, ValueError, modeling.ModelNotFoundError) as err:
        console.print(f"[red]error:[/] {err}")
        return 2

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
                console.print(f"{shown}: search baseline {found.skill:.3f} from {found.origin}, "
                              f"{found.renders} renders in {found.seconds:.1f} s "
                              f"({found.renders / max(found.seconds, 1e-9):.0f} renders/s)")
                if found.code is not None and (skill is None or found.skill > skill):  # every sample is worse
                    item.code, item.image, item.origin = found.code, found.image, "search"
            if args.refine:
                refine_item(item, target, args.budget, pool)
                if item.refine_note is not None:
                    console.print(f"[yellow]{shown}: not refined: {item.refine_note}[/]")
            if item.code is not None:
                write_outputs(args.out, item, shown, args.adapter or args.model, target)
            results.append(item)
    console.print(summary_table(results, args.out))
    return 0 if any(item.code is not None for item in results) else 1


def summary_table(results: list[Inferred], out: Path) -> Table:
    searched = any(item.search_skill is not None for item in results)
    table = Table(title=f"Image to shader ({out})", title_justify="left")
    columns = ("image", "rendered", "skill", *(("search skill", "from") if searched else ()), "refined skill",
               "written")
    for column in columns:
        table.add_column(column, justify="left" if column in ("image", "from") else "right")
    for item in results:
        extra = ("-" if item.search_skill is None else f"{item.search_skill:.3f}", item.origin) if searched else ()
        table.add_row(item.name, f"{item.rendered}/{item.samples}",
                      "-" if item.skill is None else f"{item.skill:.3f}", *extra,
                      refined_cell(item),
                      f"{item.name}.glsl, {item.name}.png" if item.code is not None else "nothing rendered")
    return table


def refined_cell(item: Inferred) -> str:
    """The summary's "refined skill": the value, or why there is none."""
    if item.refined_skill is not None:
        return f"{item.refined_skill:.3f}"
    return "-" if item.refine_note is None else f"- (not refined: {item.refine_note})"


if __name__ == "__main__":
    sys.exit(main())
