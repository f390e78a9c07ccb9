"""Kinds of pictures with no program to imitate: training and held-out sets for learning from pictures alone.

    from earthshader.data.picture_kinds import KINDS, kind_rows, write_pictures
    train = kind_rows("photos", "train", n=128, size=84)       # crops of 8 of scikit-image's photographs
    heldout = kind_rows("photos", "heldout", n=32, size=84)    # crops of the 4 others: never trained on
    write_pictures(train, "runs/pictures/train/photos")        # PNG files: GRPO's and expert's --dataset_path
    heldout = write_sets(["textures", "photos"], "runs/pictures", train_n=128, heldout_n=32, size=84)

Each kind names two `earthshader.data.rows.load_rows` specs, one for training pictures and one for
held-out pictures that share nothing with them:

- `textures`: procedural textures of the families that the tiny grammar school (`primitives` +
  `gradient`) never saw, level 0; training seeds from 600,000, held-out seeds from 1,000,000;
- `renders`: real Shadertoy programs (`--corpus`, default `../shared/data/shadertoys.jsonl.gz`) rendered
  at iTime 0 with the code withheld; training from the `train` split, held-out from `test`, split by
  program (`renders:` in docs/pictures.md);
- `photos`: 128 px crops (shown at the model's side) of scikit-image's bundled photographs, training
  crops from eight of them and held-out crops from the other four;
- `terrains`: SDF terrain renders (level 0), seeds as for `textures`.

The learner is only ever shown the pixels: `write_pictures` keeps nothing but a PNG per row, so a folder
of several kinds is one picture-only training set (`--dataset_path FOLDER`), and every row keeps its program
(where one exists) in `reference`, never in `code`: only the evaluation's scoring reads it (its `program`).

>>> sorted(KINDS)
['photos', 'renders', 'terrains', 'textures']
>>> KINDS["photos"].spec("heldout", n=16, corpus="")
'crops:skimage:camera,moon,horse,hubble_deep_field?size=128&count=16&seed=1'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from earthshader.data.rows import HELD_OUT_SEED, Row, load_rows
from earthshader.data.sources import SourceError

#: The Shadertoy corpus `renders` reads by default.
DEFAULT_CORPUS = "../shared/data/shadertoys.jsonl.gz"
#: `earthshader.sft` flags of the tiny grammar school: the primitive families and `gradient`, no other texture.
GRAMMAR_SCHOOL = ("--recipe", "tiny", "--generators", "primitives", "gradient")
#: Texture families the tiny grammar school does not teach.
UNSEEN_TEXTURES = "stripes,checker,rings,waves,dots,value_noise"
#: scikit-image photographs that training crops come from; held-out crops come from the others.
TRAIN_PHOTOS, HELDOUT_PHOTOS = "brick,grass,gravel,astronaut,coffee,chelsea,rocket,coins", \
    "camera,moon,horse,hubble_deep_field"
#: First generator seed of training pictures (SFT draws from 0, GRPO's recipes from 500,000).
TRAIN_SEED = 600_000
CROP_SIZE = 128


@dataclass(frozen=True)
class PictureKind:
    """One kind: its `load_rows` spec for each role (`{n}` and `{corpus}` filled in), and its generator options."""

    name: str
    train: str
    heldout: str
    generated: bool = False  # a generator: seeds from TRAIN_SEED / HELD_OUT_SEED, level 0
    needs_corpus: bool = False

    def spec(self, role: str, *, n: int, corpus: str) -> str:
        if role not in ("train", "heldout"):
            raise ValueError(f"role is train or heldout, got {role!r}")
        return (self.train if role == "train" else self.heldout).format(n=n, corpus=corpus)


KINDS = {kind.name: kind for kind in (
    PictureKind("textures", f"generator:{UNSEEN_TEXTURES}", f"generator:{UNSEEN_TEXTURES}", generated=True),
    PictureKind("renders", "renders:{corpus}?time=0&count={n}", "renders:{corpus}?time=0&count={n}",
                needs_corpus=True),
    PictureKind("photos", f"crops:skimage:{TRAIN_PHOTOS}?size={CROP_SIZE}&count={{n}}&seed=0",
                f"crops:skimage:{HELDOUT_PHOTOS}?size={CROP_SIZE}&count={{n}}&seed=1"),
    PictureKind("terrains", "generator:terrains", "generator:terrains", generated=True),
)}


def available_kinds(names: list[str], corpus: str = DEFAULT_CORPUS) -> tuple[list[str], list[str]]:
    """(kinds that can be built here, "name: why not" for the others): `renders` needs the corpus file."""
    unknown = [name for name in names if name not in KINDS]
    if unknown:
        raise SourceError(f"unknown picture kind {', '.join(unknown)}; kinds: {', '.join(sorted(KINDS))}")
    usable, skipped = [], []
    for name in names:
        if KINDS[name].needs_corpus and not Path(corpus).exists():
            skipped.append(f"{name}: no corpus at {corpus}")
        else:
            usable.append(name)
    return usable, skipped


def kind_rows(name: str, role: str, *, n: int, size: int, corpus: str = DEFAULT_CORPUS, pool=None,
              workers: int | None = None, spec: str | None = None) -> list[Row]:
    """`n` rows of kind `name` for `role` (`train` or `heldout`), `size` px square; each row's `source` is the kind.

    `spec`: other pictures for this kind and role (a `load_rows` spec, `{n}` filled in), for example one's own
    photographs to train on. No row carries `code`: a program (generated, or a withheld corpus program) stays in
    `reference`, where only the evaluation's scoring reads it (the reference baseline)."""
    kind = KINDS[name]
    spec = spec.replace("{n}", str(n)) if spec else kind.spec(role, n=n, corpus=corpus)
    options = {"start": TRAIN_SEED if role == "train" else HELD_OUT_SEED, "difficulty": 0} if kind.generated else {}
    split = "test" if role == "heldout" else "train"
    rows = load_rows(spec, split=split, n=n, size=size, pool=pool, workers=workers, **options)
    return [replace(row, source=name, code="", reference=row.program) for row in rows]  # a learner sees the picture


def write_pictures(rows: list[Row], folder: str | Path) -> list[Path]:
    """Each row's image as `folder/ID.png` (nothing else: no program, no parameters); the paths written."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, row in enumerate(rows):
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in (row.id or f"picture-{i}"))
        path = folder / f"{i:04d}-{name}.png"
        Image.fromarray(row.image).save(path)
        paths.append(path)
    return paths


def write_sets(kinds: list[str], folder: str | Path, *, train_n: int, heldout_n: int, size: int,
               corpus: str = DEFAULT_CORPUS, pool=None, train_specs: dict[str, str] | None = None
               ) -> dict[str, list[Row]]:
    """Each kind's training pictures as PNG files in FOLDER/train/KIND and its held-out ones in
    FOLDER/heldout/KIND; returns the held-out rows per kind, less any picture that is also a training one.
    `train_specs`: other training pictures for some kinds, by kind (see `kind_rows`)."""
    from earthshader.data.pictures import without_training_pictures

    folder, heldout, seen = Path(folder), {}, []
    for kind in kinds:
        train = kind_rows(kind, "train", n=train_n, size=size, corpus=corpus, pool=pool,
                          spec=(train_specs or {}).get(kind))
        write_pictures(train, folder / "train" / kind)
        seen += train
        rows = kind_rows(kind, "heldout", n=heldout_n, size=size, corpus=corpus, pool=pool)
        write_pictures(rows, folder / "heldout" / kind)
        heldout[kind] = without_training_pictures(rows, seen, f"held-out {kind} pictures")
    return heldout
