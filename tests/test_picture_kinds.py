"""The picture kinds of the learning-from-pictures benchmark and demo: held-out pictures share nothing with training."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from earthshader.data import picture_kinds
from earthshader.data.pictures import SKIMAGE_MORE
from earthshader.data.rows import load_rows
from earthshader.data.sources import SourceError


def digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def test_generated_textures_mix_families_and_hold_out_other_seeds(render_pool):
    train = picture_kinds.kind_rows("textures", "train", n=6, size=28, pool=render_pool)
    heldout = picture_kinds.kind_rows("textures", "heldout", n=6, size=28, pool=render_pool)
    families = set(picture_kinds.UNSEEN_TEXTURES.split(","))
    assert {row.family for row in train} == families and {row.family for row in heldout} == families
    assert not {row.family for row in train} & {"gradient", "circles", "boxes"}  # the grammar school's
    assert all(row.code == "" and row.reference for row in train)  # the learner sees the picture only
    assert all(row.code == "" and row.reference for row in heldout)  # scored against its program, never shown it
    assert {row.source for row in heldout} == {"textures"}
    assert min(int(r.id.rsplit("-", 1)[1]) for r in heldout) > max(int(r.id.rsplit("-", 1)[1]) for r in train)


def test_photo_crops_come_from_other_photographs_than_the_held_out_ones():
    train = picture_kinds.kind_rows("photos", "train", n=8, size=28)
    heldout = picture_kinds.kind_rows("photos", "heldout", n=4, size=28)
    photo = {row.id.split("@")[0] for row in train}, {row.id.split("@")[0] for row in heldout}
    assert photo[0] <= set(picture_kinds.TRAIN_PHOTOS.split(",")) and len(photo[0]) == 8
    assert photo[1] <= set(picture_kinds.HELDOUT_PHOTOS.split(",")) and not photo[0] & photo[1]
    assert not {digest(r.image) for r in train} & {digest(r.image) for r in heldout}


def test_a_kind_trains_on_other_pictures_and_keeps_its_held_out_ones(tmp_path):
    heldout = picture_kinds.write_sets(["photos"], tmp_path, train_n=6, heldout_n=4, size=28,
                                       train_specs={"photos": "crops:skimage:more?size=96&count={n}&seed=0"})
    trained = sorted((tmp_path / "train" / "photos").iterdir())
    assert [path.name.split("-", 1)[1].split("_")[0] for path in trained] == list(SKIMAGE_MORE)
    assert {row.id.split("@")[0] for row in heldout["photos"]} <= set(picture_kinds.HELDOUT_PHOTOS.split(","))
    assert len(heldout["photos"]) == 4 and {row.source for row in heldout["photos"]} == {"photos"}


def test_several_generator_families_in_one_spec_are_drawn_in_turn(render_pool):
    rows = load_rows("generator:stripes,rings", n=4, size=28, start=5, difficulty=0, pool=render_pool)
    assert [row.family for row in rows] == ["stripes", "rings", "stripes", "rings"]
    with pytest.raises(SourceError, match="unknown generator nope"):
        load_rows("generator:stripes,nope", n=2, size=28)


def test_written_pictures_are_a_picture_only_training_folder(tmp_path, render_pool):
    rows = picture_kinds.kind_rows("textures", "train", n=3, size=28, pool=render_pool)
    paths = picture_kinds.write_pictures(rows, tmp_path / "train" / "textures")
    assert sorted(p.name for p in (tmp_path / "train" / "textures").iterdir()) == sorted(p.name for p in paths)
    assert all(p.suffix == ".png" for p in paths) and len(paths) == 3
    assert np.array_equal(np.asarray(Image.open(paths[0]).convert("RGB")), rows[0].image)
    again = load_rows(str(tmp_path / "train"), size=28)
    assert len(again) == 3 and all(row.code == "" for row in again)


def test_kinds_that_need_the_corpus_are_skipped_by_name_without_it(tmp_path):
    usable, skipped = picture_kinds.available_kinds(["textures", "renders"], str(tmp_path / "none.jsonl.gz"))
    assert usable == ["textures"] and skipped == [f"renders: no corpus at {tmp_path / 'none.jsonl.gz'}"]
    with pytest.raises(SourceError, match="unknown picture kind crayons"):
        picture_kinds.available_kinds(["crayons"])
    with pytest.raises(ValueError, match="role is train or heldout"):
        picture_kinds.KINDS["photos"].spec("validation", n=1, corpus="")


def test_corpus_renders_hold_out_other_programs(corpus_path, render_pool):
    train = picture_kinds.kind_rows("renders", "train", n=4, size=28, corpus=str(corpus_path), pool=render_pool)
    heldout = picture_kinds.kind_rows("renders", "heldout", n=4, size=28, corpus=str(corpus_path), pool=render_pool)
    assert not {row.reference for row in train} & {row.reference for row in heldout}
    assert all(row.code == "" for row in train + heldout) and all(row.reference for row in heldout)
