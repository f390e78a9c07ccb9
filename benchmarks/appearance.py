"""Does a measure see the same look? Today's pixel-aligned skills against `appearance`, on pairs that share one.

    python benchmarks/appearance.py                                   # 96 px; a few minutes on 2 cores
    python benchmarks/appearance.py --size 224 --seeds 12 --crops 8 --corpus-n 120    # larger
    python benchmarks/appearance.py --only-appearance --colour-weight 0.15            # another setting of the measure

Targets and candidates, every one `--size` px (rendered by the project's renderer, or cut from photographs):

(a) translated: each texture family (`earthshader.data.generators`, group `textures`) at `--seeds` seeds,
    against the same program with `fragCoord` shifted by `--offset` pixels (`earthshader.glsl.wrap`);
(b) family: the same family at another seed, against another family at another seed (every pair);
(c) photographs: `--crops` random crops of each of scikit-image's bundled photographs
    (`earthshader.data.pictures`; flat crops drawn again); another crop of the same photograph against a crop
    of another one;
(d) corpus: `--corpus-n` shaders of the Shadertoy corpus (`--corpus`, read through `read_source`; every
    `--corpus-stride`-th row that renders and is not flat) at iTime 0, against the same shader at iTime 2
    and shifted by `--offset`, and against each other shader at iTime 0. Skipped, with a note, without the file;
(e) fooling: for each texture target, `earthshader.image.impostors` (white noise, its pixels shuffled, a single
    stripe, its flat mean colour), beside the right program translated and the right family at another seed;
(f) edits of every target above (`EDITS`): its quadrants swapped, mirrored, upside down, a quarter turn, its
    colour channels rotated, its colours inverted, its centre zoomed 2x: what a measure does and does not see.

Measures: `ssim`, `edges`, `pixel` and their mean `structure` exactly as the evaluation scores them
(`earthshader.evaluation.scoring.TargetScorer`), and `appearance` (`earthshader.image.appearance`); every
skill floored at -1 as the evaluation floors it. "P" is the probability that the same look outscores the other
(over every pair; a tie counts half). Cost: milliseconds per candidate on one core (torch.set_num_threads(1)),
the target prepared, best of 3 runs over `--batch` candidates scored in one call (and one at a time).
Goals (from the issue): translated median >= 0.85; another crop of the same texture photograph (scikit-image's
`textures` set: brick, grass, gravel) beats a crop of another photograph in >= 90% of pairs; the flat image
exactly 0 on every target; <= 20 ms a candidate at 96 px on one core.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's `rewards` package, not rewards.py

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from earthshader.data.generators import GROUPS, generate  # noqa: E402
from earthshader.data.pictures import SKIMAGE_PHOTOS, SKIMAGE_SETS, random_crops, skimage_pictures  # noqa: E402
from earthshader.evaluation.scoring import SKILL_FLOOR, TargetScorer  # noqa: E402
from earthshader.glsl.wrap import translated  # noqa: E402
from earthshader.image import metrics  # noqa: E402
from earthshader.image.appearance import AppearanceScorer, AppearanceSettings, torch_threads  # noqa: E402
from earthshader.image.impostors import impostors  # noqa: E402

MEASURES = ("ssim", "edges", "pixel", "structure", "appearance")
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "shadertoys.jsonl.gz"


def skills(target: np.ndarray, candidates: list[np.ndarray], measures, settings) -> dict[str, np.ndarray]:
    """measure -> one skill per candidate, floored at `SKILL_FLOOR` as the evaluation does."""
    out = {}
    if "structure" in measures:
        scorer = TargetScorer(target)
        rows = [scorer.structure_scores(candidate) for candidate in candidates]
        out = {m: np.array([row[f"{m}_skill"] for row in rows]) for m in ("ssim", "edges", "pixel")}
        out["structure"] = np.array([row["structure"] for row in rows])
    out["appearance"] = np.maximum(SKILL_FLOOR, AppearanceScorer(target, settings).skills(candidates))
    return out


def probability(same, other) -> float:
    """P(a value of `same` > a value of `other`) over every pair, ties counting half."""
    same, other = np.asarray(same, float)[:, None], np.asarray(other, float)[None, :]
    return float(np.mean((same > other) + 0.5 * (same == other)))


def render(pool, codes, size, time=0.0):
    results = pool.render_many([code or "" for code in codes], width=size, height=size, time=time)
    return [r.image if r.ok and code else None for r, code in zip(results, codes)]


def texture_cases(pool, args):
    """(targets, translated copies, another seed of each, family names)."""
    families = GROUPS["textures"]
    programs = [(family, generate(family, seed).code, generate(family, 1000 + seed).code)
                for family in families for seed in range(args.seeds)]
    codes = [c for _, code, other in programs for c in (code, translated(code, *args.offset), other)]
    images = render(pool, codes, args.size)
    keep = [i for i in range(len(programs)) if all(images[3 * i + k] is not None for k in range(3))
            and not metrics.is_flat(images[3 * i])]
    if len(keep) < len(programs):
        print(f"texture programs left out (not rendered or flat): {len(programs) - len(keep)}")
    return ([images[3 * i] for i in keep], [images[3 * i + 1] for i in keep], [images[3 * i + 2] for i in keep],
            [programs[i][0] for i in keep])


def corpus_cases(pool, args):
    """(targets at iTime 0, the same shaders at iTime 2 shifted), or None without the corpus file."""
    from earthshader.data.sources import RowProblem, read_source

    if not Path(args.corpus).is_file():
        return None
    rows = (item for index, item in enumerate(read_source(str(args.corpus)))
            if index % args.corpus_stride == 0 and not isinstance(item, RowProblem))
    targets, same = [], []
    while len(targets) < args.corpus_n:
        batch = [row.code for _, row in zip(range(2 * (args.corpus_n - len(targets)) + 4), rows)]
        if not batch:
            break
        first = render(pool, batch, args.size, time=0.0)
        moved = render(pool, [translated(code, *args.offset) for code in batch], args.size, time=2.0)
        for a, b in zip(first, moved):
            if a is not None and b is not None and not metrics.is_flat(a) and len(targets) < args.corpus_n:
                targets.append(a)
                same.append(b)
    return targets, same


def median_table(title, columns, rows):
    table = Table(title=title)
    table.add_column("measure")
    for column in columns:
        table.add_column(column, justify="right")
    for name, values in rows:
        table.add_row(name, *values)
    return table


def probability_paired(a, b) -> float:
    """Share of targets where `a` beats `b` (ties half)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.mean((a > b) + 0.5 * (a == b)))


def cost(targets, candidates, batch, settings) -> dict[str, float]:
    """ms per candidate on one core, targets prepared: best of 3 (`appearance 1 by 1`: one call each)."""
    times = {"structure (ssim+edges+pixel)": [], "appearance": [], "appearance 1 by 1": []}
    with torch_threads(1):
        for target in targets:
            structure, appearance = TargetScorer(target), AppearanceScorer(target, settings)
            appearance.similarities(candidates[:2])  # the model for this size is built once
            for _ in range(3):
                start = time.perf_counter()
                for candidate in candidates[:batch]:
                    structure.scores(candidate)
                times["structure (ssim+edges+pixel)"].append((time.perf_counter() - start) / batch)
                start = time.perf_counter()
                appearance.similarities(candidates[:batch])
                times["appearance"].append((time.perf_counter() - start) / batch)
                start = time.perf_counter()
                for candidate in candidates[:8]:
                    appearance.similarity(candidate)
                times["appearance 1 by 1"].append((time.perf_counter() - start) / 8)
    return {name: 1000 * min(values) for name, values in times.items()}


def zoomed(image: np.ndarray) -> np.ndarray:
    """The centre half of the picture, enlarged 2x (nearest neighbour) to the picture's size."""
    height, width = image.shape[:2]
    centre = image[height // 4:height // 4 + (height + 1) // 2, width // 4:width // 4 + (width + 1) // 2]
    return np.repeat(np.repeat(centre, 2, 0), 2, 1)[:height, :width]


EDITS = {  # square pictures (an edit that changes the shape is skipped)
    "quadrants swapped": lambda im: np.roll(im, (im.shape[0] // 2, im.shape[1] // 2), axis=(0, 1)),
    "mirrored": lambda im: im[:, ::-1],
    "upside down": lambda im: im[::-1],
    "quarter turn": np.rot90,
    "channels rotated": lambda im: im[..., [2, 0, 1]],
    "colours inverted": lambda im: 255 - im,
    "zoomed 2x": zoomed,
}


def score_edits(images, measures, settings):
    """Per measure and edit: the skills of each image's edited self."""
    out = {m: {name: [] for name in EDITS} for m in measures}
    for image in images:
        edited = [np.ascontiguousarray(edit(image)) for edit in EDITS.values()]
        if any(e.shape != image.shape for e in edited):
            continue
        scored = skills(image, edited, measures, settings)
        for m in measures:
            for name, value in zip(EDITS, scored[m]):
                out[m][name].append(value)
    return out


FOOLING = ("translated", "another seed", "white noise", "shuffled", "stripe", "flat")


def score_textures(cases, measures, settings, flat_zero):
    """Per measure: translated skills, same-family and other-family skills with P, and the fooling cases."""
    targets, moved, reseeded, families = cases
    out = {m: {"translated": [], "same": [], "other": [], "p": [], **{k: [] for k in FOOLING}} for m in measures}
    for i, target in enumerate(targets):
        fakes = impostors(target, seed=i)
        others = [j for j in range(len(targets)) if families[j] != families[i]]
        scored = skills(target, [moved[i], reseeded[i], *fakes.values(), *(reseeded[j] for j in others)],
                        measures, settings)
        for m in measures:
            values = scored[m]
            for k, name in enumerate(FOOLING):
                out[m][name].append(values[k])
            out[m]["same"].append(values[1])
            out[m]["other"] += list(values[6:])
            out[m]["p"].append(probability(values[1:2], values[6:]))
            flat_zero[m] &= bool(values[5] == 0.0)
    return out


def score_photos(photos, measures, settings, flat_zero):
    """Per measure: skills of another crop of the same photograph and of other photographs, P per target."""
    names = np.array([crop.id.split("@")[0] for crop in photos])
    out = {m: {"same": [], "other": [], "p_textures": [], "p_all": []} for m in measures}
    for i, target in enumerate(photos):
        scored = skills(target.image, [p.image for p in photos] + [metrics.mean_colour_image(target.image)],
                        measures, settings)
        same = [j for j in range(len(photos)) if j != i and names[j] == names[i]]
        other = [j for j in range(len(photos)) if names[j] != names[i]]
        for m in measures:
            values = scored[m]
            out[m]["same"] += list(values[same])
            out[m]["other"] += list(values[other])
            p = probability(values[same], values[other])
            out[m]["p_all"].append(p)
            if names[i] in SKIMAGE_SETS["textures"]:
                out[m]["p_textures"].append(p)
            flat_zero[m] &= bool(values[-1] == 0.0)
    return out


def score_corpus(corpus, measures, settings, flat_zero):
    """Per measure: skills of the same shader at another time and offset, of other shaders, P per target."""
    first, moved = corpus
    out = {m: {"same": [], "other": [], "p": []} for m in measures}
    for i, target in enumerate(first):
        others = [image for j, image in enumerate(first) if j != i]
        scored = skills(target, [moved[i], metrics.mean_colour_image(target), *others], measures, settings)
        for m in measures:
            values = scored[m]
            out[m]["same"].append(values[0])
            out[m]["other"] += list(values[2:])
            out[m]["p"].append(probability(values[:1], values[2:]))
            flat_zero[m] &= bool(values[1] == 0.0)
    return out


def signed(value) -> str:
    return f"{value:+.2f}"


def report(console, args, measures, textures, photos, shader, edits, counts, ms, flat_zero, seconds):
    med = np.median
    console.print(median_table(
        f"Same look against another: medians of skill, P(same > other) ({counts[0]} texture targets, "
        f"{counts[1]} photo crops, {counts[2]} corpus shaders)",
        ["translated", "below flat", "family: same", "other", "P", "photo: same", "other", "P textures", "P all",
         "corpus: same", "other", "P"],
        [(m, [signed(med(textures[m]["translated"])), f"{np.mean(np.array(textures[m]['translated']) < 0):.0%}",
              signed(med(textures[m]["same"])), signed(med(textures[m]["other"])), f"{np.mean(textures[m]['p']):.2f}",
              signed(med(photos[m]["same"])), signed(med(photos[m]["other"])),
              f"{np.mean(photos[m]['p_textures']):.2f}", f"{np.mean(photos[m]['p_all']):.2f}"]
          + ([signed(med(shader[m]["same"])), signed(med(shader[m]["other"])), f"{np.mean(shader[m]['p']):.2f}"]
             if shader else ["-", "-", "-"])) for m in measures]))
    if shader is None:
        console.print(f"corpus part skipped: {args.corpus} not found (the Shadertoy corpus is not in the repository)"
                      if args.corpus_n else "corpus part skipped: --corpus-n 0")
    console.print(median_table(
        f"Fooling cases on the {counts[0]} texture targets: median skill, and the share of targets where the "
        "translated right program beats each by more than 0.5",
        list(FOOLING) + [f"beats {name}" for name in FOOLING[2:]],
        [(m, [signed(med(textures[m][n])) for n in FOOLING]
          + [f"{probability_paired(np.array(textures[m]['translated']) - 0.5, textures[m][n]):.0%}"
             for n in FOOLING[2:]]) for m in measures]))
    console.print(median_table(
        f"Edits of the {len(edits['appearance']['mirrored'])} targets themselves: median skill (lowest)",
        list(EDITS), [(m, [f"{signed(med(edits[m][n]))} ({min(edits[m][n]):+.2f})" for n in EDITS])
                      for m in measures]))
    console.print("Cost, ms per candidate on one core with the target prepared (best of 3): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in ms.items())
                  + f"; rendering took {seconds[0]:.0f} s, scoring {seconds[1]:.0f} s")
    goals = [("translated copies: median appearance skill >= 0.85", med(textures["appearance"]["translated"]), 0.85),
             ("another crop of the same texture photograph beats another photograph's: P >= 0.90",
              np.mean(photos["appearance"]["p_textures"]), 0.90)]
    for text, value, goal in goals:
        console.print(f"goal {'met' if value >= goal else 'NOT met'}: {text} (got {value:.3f})")
    console.print(f"goal {'met' if flat_zero['appearance'] else 'NOT met'}: the flat mean-colour image scores exactly "
                  f"0 on every target ({', '.join(m for m in measures if flat_zero[m])} do)")
    if args.size == 96:
        console.print(f"goal {'met' if ms['appearance'] <= 20 else 'NOT met'}: <= 20 ms per candidate at 96 px on one "
                      f"core (got {ms['appearance']:.1f} ms batched, {ms['appearance 1 by 1']:.1f} ms one at a time)")
    else:
        console.print("goal not checked: the 20 ms goal is stated at 96 px (--size 96)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=96, help="target and candidate side in pixels")
    parser.add_argument("--seeds", type=int, default=6, help="seeds per texture family")
    parser.add_argument("--offset", type=float, nargs=2, default=(17.0, 9.0), help="translation in pixels")
    parser.add_argument("--crops", type=int, default=4, help="crops per photograph")
    parser.add_argument("--crop-seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--corpus-n", type=int, default=40, help="corpus shaders (0: skip)")
    parser.add_argument("--corpus-stride", type=int, default=97, help="take every N-th corpus row")
    parser.add_argument("--batch", type=int, default=48, help="candidates per call when timing")
    parser.add_argument("--workers", type=int, default=2, help="render processes")
    parser.add_argument("--only-appearance", action="store_true", help="skip the structure measures (faster)")
    defaults = AppearanceSettings()
    for name in ("n_scales", "n_orientations", "spatial_corr_width", "max_side", "colour_weight", "amplitude_floor"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(getattr(defaults, name)),
                            default=getattr(defaults, name), help="appearance setting (AppearanceSettings)")
    args = parser.parse_args(argv)
    settings = AppearanceSettings(args.n_scales, args.n_orientations, args.spatial_corr_width, args.max_side,
                                  args.colour_weight, args.amplitude_floor)
    measures = ("appearance",) if args.only_appearance else MEASURES
    console = Console(width=max(Console().width, 140))
    console.print(f"$ python benchmarks/appearance.py {shlex.join(argv if argv is not None else sys.argv[1:])}")
    console.print(f"size {args.size} px, {args.seeds} seeds x {len(GROUPS['textures'])} texture families, offset "
                  f"{tuple(args.offset)}, {args.crops} crops x {len(SKIMAGE_PHOTOS)} photographs (seed {args.crop_seed}), "
                  f"corpus {args.corpus_n} (every {args.corpus_stride}th row); appearance settings {settings}; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    from earthshader.render import RenderPool

    start = time.perf_counter()
    with RenderPool(workers=args.workers, timeout=10.0) as pool:
        cases = texture_cases(pool, args)
        corpus = corpus_cases(pool, args) if args.corpus_n > 0 else None
    rendered = time.perf_counter() - start
    photos = [crop for picture in skimage_pictures(",".join(SKIMAGE_PHOTOS))  # not flat (white sky): no skill there
              for crop in random_crops([picture], size=args.size, count=args.crops, seed=args.crop_seed,
                                       keep=lambda image: not metrics.is_flat(image))]
    start = time.perf_counter()
    flat_zero = {m: True for m in measures}
    textures = score_textures(cases, measures, settings, flat_zero)
    photo = score_photos(photos, measures, settings, flat_zero)
    shader = score_corpus(corpus, measures, settings, flat_zero) if corpus else None
    edits = score_edits(list(cases[0]) + [p.image for p in photos] + (list(corpus[0]) if corpus else []),
                        measures, settings)
    scored = time.perf_counter() - start
    targets = cases[0]
    ms = cost(targets[:: max(1, len(targets) // 4)][:4], [p.image for p in photos], min(args.batch, len(photos)),
              settings)
    counts = (len(targets), len(photos), len(corpus[0]) if corpus else 0)
    report(console, args, measures, textures, photo, shader, edits, counts, ms, flat_zero, (rendered, scored))


if __name__ == "__main__":
    main()
