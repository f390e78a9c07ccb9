"""Pictures under hostile input, through every stage's door: one reader, one set of guards, nothing silently
changed, nothing held at full size that need not be, every refusal named.

Each hostile file is made in tmp_path (`hostile_files`): bombs as tiny PNGs that declare huge sizes, slivers,
1 x 1 pictures, 16-bit ramps, EXIF-rotated JPEGs, transparent and palette pictures, Latin-1 file names.
"""

from __future__ import annotations

import logging
import os
import weakref

import numpy as np
import pytest
from hostile_files import bomb_png, latin1_name, pattern, png, ramp, ramp_png16, raw_png, rotated_jpeg
from PIL import Image

from earthshader.cli import UsageError
from earthshader.data import picture_reader, row_spec
from earthshader.data import pictures as pics
from earthshader.data.picture_reader import MAX_PIXELS, PictureRefused, printable_id, read_picture
from earthshader.data.rows import SOURCES, PictureSource, load_rows, picture_spec
from earthshader.data.sources import SourceError

SIZE = 56

#: Files every reader must refuse, and a word of the reason each gives.
REFUSED = {
    "bomb.png": (lambda: bomb_png(30000, 30000), "pixels"),
    "sliver.png": (lambda: raw_png(3, 200000, 8, 0, [b"\x00" * 3]), "200000 x 3 pixels, sides in a ratio"),
    "dot.png": (lambda: png(np.full((1, 1, 3), 200, np.uint8)), "1 x 1 pixels; a picture needs at least 3 x 3"),
    "thin.png": (lambda: png(pattern(1, 2, 40)), "2 x 40 pixels; a picture needs at least 3 x 3"),
    "garbage.png": (lambda: b"\x89PNG\r\n\x1a\n not really", "Pillow"),
    "truncated.png": (lambda: png(pattern(2))[:200], "truncated"),
}


def _stages(path):
    """Every door a picture file comes in by, as (name, call): each must read it through the one reader."""
    from earthshader.answering.files import load_target
    from earthshader.answering.inference import read_inputs
    from earthshader.evaluation import load_targets

    return {
        "read_file": lambda: pics.read_file(path),
        "load_rows (training)": lambda: load_rows(str(path), size=SIZE),
        "load_targets (evaluation)": lambda: load_targets(str(path), size=SIZE),
        "infer": lambda: read_inputs([str(path)], SIZE),
        "refine": lambda: load_target(str(path), 128),
        "crops": lambda: load_rows(f"crops:{path}?size=3&count=1", size=SIZE),
    }


@pytest.mark.parametrize("name", list(REFUSED))
def test_every_stage_refuses_a_hostile_file_by_name_and_reason(tmp_path, name):
    make, reason = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(make())
    from earthshader.answering.refine import RefineError

    for stage, call in _stages(path).items():
        with pytest.raises((UsageError, RefineError)) as refused:
            call()
        message = str(refused.value)
        assert name in message and reason in message, (stage, message)


def test_a_folder_of_hostile_files_reads_the_good_ones_and_names_each_other(tmp_path, caplog):
    for name, (make, _) in REFUSED.items():
        (tmp_path / name).write_bytes(make())
    Image.fromarray(pattern(3)).save(tmp_path / "good.png")
    with caplog.at_level(logging.WARNING, logger="earthshader.data.rows"):
        rows = load_rows(str(tmp_path), size=SIZE)
    assert [r.id for r in rows] == ["good.png"]
    warning = caplog.text
    assert f"{len(REFUSED)} of {len(REFUSED) + 1} pictures cannot be read" in warning
    assert all(name in warning for name in REFUSED)


def test_the_pixel_bound_is_checked_before_decoding(tmp_path, monkeypatch):
    """A bomb is refused from its header: the decoder never runs."""
    (tmp_path / "bomb.png").write_bytes(bomb_png(8000, 8000))  # 64 million pixels, under Pillow's own bound

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    with pytest.raises(PictureRefused, match="8000 x 8000 pixels, 64 million; more than the 50 million"):
        read_picture(tmp_path / "bomb.png")


def test_a_large_jpeg_is_read_reduced_when_a_stage_needs_it_small(tmp_path):
    """Over the pixel bound at full size, within it decoded at 1/8: a camera JPEG is still read for a model."""
    side = 7200  # 51.8 million pixels
    Image.new("RGB", (side, side), (90, 140, 200)).save(tmp_path / "camera.jpg", quality=80)
    assert side * side > MAX_PIXELS
    with pytest.raises(PictureRefused, match="52 million; more than the 50 million"):
        read_picture(tmp_path / "camera.jpg")  # full size: over the bound
    small = read_picture(tmp_path / "camera.jpg", need=224)
    assert min(small.shape[:2]) >= 2 * 224 and small.shape[0] < side and np.abs(small[0, 0].astype(int) -
                                                                                  (90, 140, 200)).max() <= 3


@pytest.mark.parametrize("colour", [0, 2, 4, 6])
def test_16_bit_pictures_are_scaled_not_clipped(tmp_path, colour):
    path = tmp_path / "ramp16.png"
    path.write_bytes(ramp_png16(colour))
    read = read_picture(path)
    expected = (ramp().astype(np.float64) / 257)  # 0..65535 -> 0..255
    assert read.shape == (16, 256, 3) and read.dtype == np.uint8
    assert np.abs(read[..., 0].astype(float) - expected).max() <= 1  # 48-bit RGB is read at its top byte
    assert len(np.unique(read[0, :, 0])) > 200  # a ramp, not black and white
    # through the loader too: the ramp stays a ramp and is not dropped as "low entropy"
    (tmp_path / "folder").mkdir()
    path.rename(tmp_path / "folder" / "ramp16.png")
    row, = load_rows(str(tmp_path / "folder"), size=SIZE)
    eight = np.asarray(Image.fromarray(np.stack([expected.round().astype(np.uint8)] * 3, -1)).crop((120, 0, 136, 16))
                       .resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    assert np.abs(row.image.astype(int) - eight.astype(int)).max() <= 2


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_by_every_stage(tmp_path, orientation):
    upright = pattern(4, 96, 48)  # a portrait
    upright[:16] = (255, 0, 0)  # a red band at the top: sideways it would be at a side
    path = tmp_path / "phone.jpg"
    path.write_bytes(rotated_jpeg(upright, orientation))
    read = read_picture(path)
    assert read.shape == (96, 48, 3)
    assert np.abs(read.astype(int) - upright.astype(int)).mean() < 4  # JPEG's loss only
    from earthshader.answering.files import load_target

    assert load_target(str(path), 48).shape == (48, 24, 3)  # the longer side is the portrait's height
    row, = load_rows(str(path), size=SIZE)
    centre = np.asarray(Image.fromarray(upright[24:72]).resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    assert np.abs(row.image.astype(int) - centre.astype(int)).mean() < 4


def test_every_picture_mode_converts_and_transparency_is_over_black(tmp_path):
    rgb = pattern(5, 32, 32)
    alpha = np.zeros((32, 32), np.uint8)
    alpha[:, 16:] = 255  # left half transparent
    cases = {
        "rgba.png": Image.fromarray(np.dstack([rgb, alpha]), "RGBA"),
        "la.png": Image.fromarray(np.dstack([rgb[..., 0], alpha]), "LA"),
        "grey.png": Image.fromarray(rgb[..., 0], "L"),
        "palette.png": Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=64),
        "bits.png": Image.fromarray(rgb[..., 0] > 100).convert("1"),
        "cmyk.jpg": Image.fromarray(rgb).convert("CMYK"),
    }
    for name, image in cases.items():
        image.save(tmp_path / name)
        read = read_picture(tmp_path / name)
        assert read.shape == (32, 32, 3) and read.dtype == np.uint8, name
        if name in ("rgba.png", "la.png"):
            assert read[:, :16].max() == 0 and read[:, 16:].max() > 0, name  # transparent: black
        elif name == "cmyk.jpg":
            assert np.abs(read.astype(int) - rgb.astype(int)).mean() < 12, name
        else:
            assert np.array_equal(read, np.asarray(image.convert("RGB"))), name
    palette = cases["palette.png"]
    palette.info["transparency"] = 0
    palette.save(tmp_path / "palette-t.png", transparency=0)
    index = np.asarray(Image.open(tmp_path / "palette-t.png"))
    assert (read_picture(tmp_path / "palette-t.png")[index == 0] == 0).all()


def test_a_folder_load_holds_one_picture_at_full_size_at_a_time(tmp_path, monkeypatch):
    for i in range(5):
        Image.fromarray(pattern(i, 300, 400)).save(tmp_path / f"{i}.png")
    alive, most = [], []
    original = picture_reader._eight_bit  # every decoded picture passes here at full size

    def counted(image):
        most.append(sum(ref() is not None for ref in alive))  # earlier full-size pictures still held now
        alive.append(weakref.ref(image))
        eight = original(image)
        alive.append(weakref.ref(eight))
        return eight

    monkeypatch.setattr(picture_reader, "_eight_bit", counted)
    rows = load_rows(str(tmp_path), size=SIZE)
    assert len(rows) == 5 and most == [0, 0, 0, 0, 0]


def test_crops_of_a_folder_stay_within_their_cache_and_are_the_same_crops(tmp_path):
    for i in range(4):
        Image.fromarray(pattern(i, 120, 160)).save(tmp_path / f"{i}.png")
    held = pics.lazy_folder(tmp_path, budget=1)  # room for one picture at a time
    full = pics.read_folder(tmp_path)
    cache = held.pictures[0].cache
    sizes = []
    original = cache.get

    def watched(key, load):
        image = original(key, load)
        sizes.append(cache.held)
        return image

    cache.get = watched
    lazy_crops = pics.random_crops(held.pictures, size=32, count=12, seed=5)
    assert max(sizes) <= 120 * 160 * 3 and len(cache.entries) == 1
    full_crops = pics.random_crops(full.pictures, size=32, count=12, seed=5)
    assert [c.id for c in lazy_crops] == [c.id for c in full_crops]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(lazy_crops, full_crops))


@pytest.mark.parametrize("spec, flag", [
    ("crops:skimage:brick?count=10000000", "count"),
    ("crops:skimage:brick?size=5000", "size must be at most 4096"),
    ("renders:{corpus}?count=10000000", "count"),
])
def test_counts_and_sizes_are_bounded_before_any_work(tmp_path, monkeypatch, spec, flag):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"image_code": "void mainImage(out vec4 c, in vec2 p) { c = vec4(1); }"}\n')
    monkeypatch.setattr(pics, "read_picture", lambda *a, **k: pytest.fail("a picture was read"))
    monkeypatch.setattr("earthshader.data.rendered.render_targets", lambda *a, **k: pytest.fail("rendered"))
    with pytest.raises(SourceError, match=flag) as refused:
        load_rows(spec.format(corpus=corpus), size=224)
    assert "GiB" in str(refused.value) or "size" in flag
    with pytest.raises(SourceError, match="--n: 10,000,000 pictures of 224 px"):
        load_rows("skimage:brick", size=224, n=10_000_000)


def test_a_folder_with_more_pictures_than_a_set_may_hold_asks_for_n(tmp_path, monkeypatch):
    for i in range(3):
        Image.fromarray(pattern(i)).save(tmp_path / f"{i}.png")
    monkeypatch.setattr(row_spec, "MAX_SET_BYTES", 2 * 3 * SIZE * SIZE)  # room for two pictures
    with pytest.raises(SourceError, match="3 pictures; pass --n"):
        load_rows(str(tmp_path), size=SIZE)
    assert len(load_rows(str(tmp_path), size=SIZE, n=2)) == 2


def test_evaluation_answers_every_scoreable_picture_and_training_filters_them(tmp_path, caplog):
    from earthshader.evaluation import load_targets

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "noise.png")
    Image.fromarray((pattern(7).astype(np.uint16) * 12 // 255).astype(np.uint8)).save(tmp_path / "night.png")
    # night.png: no value above 12, "black" to the factory's filter, but not a single colour
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "flat.png")
    Image.fromarray(pattern(6)).save(tmp_path / "stripes.png")
    with caplog.at_level(logging.WARNING, logger="earthshader.data.rows"):
        answered = load_targets(str(tmp_path), size=SIZE)
    assert [t.id for t in answered] == ["night.png", "noise.png", "stripes.png"]
    assert "1 of 4 pictures refused: flat.png (cannot be scored" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="earthshader.data.rows"):
        trained = load_rows(str(tmp_path), size=SIZE)
    assert [t.id for t in trained] == ["stripes.png"]
    assert "3 of 4 pictures dropped by the filter" in caplog.text and "noise.png (noise)" in caplog.text
    with pytest.raises(SourceError, match="flat.png: the picture cannot be answered: cannot be scored: the image is a "
                                          "single colour"):
        load_targets(str(tmp_path / "flat.png"), size=SIZE)


def test_file_names_that_are_not_utf8_give_printable_ids_everywhere(tmp_path):
    from earthshader.answering.inference import output_name
    from earthshader.training import grpo_stage
    from earthshader.training.arguments import GRPOScriptArguments

    folder = tmp_path / "dump"
    folder.mkdir()
    name = latin1_name(folder)
    name.write_bytes(png(pattern(7)))
    Image.fromarray(pattern(8)).save(folder / "plain.png")
    rows = load_rows(str(folder), size=SIZE)
    assert [r.id for r in rows] == ["caf\\xe9.png", "plain.png"]
    assert all(r.id.encode("utf-8") for r in rows)
    dataset = grpo_stage.build_dataset(GRPOScriptArguments(dataset_path=str(folder), image_size=SIZE, render_workers=1))
    assert dataset["id"] == ["caf\\xe9.png", "plain.png"]  # pyarrow stores them
    out = tmp_path / "out"
    out.mkdir()
    written = out / f"{output_name(rows[0].id, str(folder), set())}.glsl"
    written.write_text("// ok\n", encoding="utf-8")
    assert written.name == "caf_xe9.glsl"
    assert printable_id(os.fsdecode(b"a\xffb/c\nd")) == "a\\xffb/c\\x0ad"


def test_dangling_links_and_unreadable_folders_are_named(tmp_path, monkeypatch, caplog):
    Image.fromarray(pattern(9)).save(tmp_path / "kept.png")
    (tmp_path / "dead.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "elsewhere").mkdir()
    Image.fromarray(pattern(10)).save(tmp_path / "elsewhere" / "x.png")
    (tmp_path / "private").mkdir()
    Image.fromarray(pattern(11)).save(tmp_path / "private" / "y.png")
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    real_scandir = os.scandir

    def refusing(path="."):
        if os.fspath(path).endswith("private"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    with caplog.at_level(logging.WARNING, logger="earthshader.data.rows"):
        rows = load_rows(str(tmp_path), size=SIZE)
    assert [r.id for r in rows] == ["elsewhere/x.png", "kept.png"]
    assert "dead.png: a link to a missing file" in caplog.text
    assert "private/: cannot be read (Permission denied)" in caplog.text
    assert "linked: a link to a folder, not followed" in caplog.text


def test_one_dispatch_one_argument_check(tmp_path, monkeypatch):
    """The argument type refuses exactly what the loader refuses, with the same words; a new source is one entry."""
    import argparse

    Image.fromarray(pattern(12, 40, 40)).save(tmp_path / "photo.png")
    for bad in ["crops:skimage:brick?count=0", "crops:?size=4", "crops:generator:textures", "skimage:lena",
                "generator:nope", f"renders:{tmp_path}/missing.jsonl", str(tmp_path / "missing.png"),
                f"{tmp_path}/notes.jsonl", "renders:textures"]:
        with pytest.raises(argparse.ArgumentTypeError) as typed:
            picture_spec(bad)
        with pytest.raises(SourceError) as loaded:
            load_rows(bad, size=SIZE)
        assert str(typed.value) == str(loaded.value), bad
    from earthshader.answering.inference import read_inputs

    crops = read_inputs([f"crops:{tmp_path / 'photo.png'}?size=40&count=3"], SIZE)  # the crop size is the picture's
    assert len(crops) == 3 and len({name for name, _, _ in crops}) == 3 and crops[0][0].startswith("photo.png@0,0")
    extra = PictureSource("solid", "solid:GREY", lambda s: s.startswith("solid:"), lambda s: None,
                          lambda s, request: [row_spec.Row(image=np.full((request.side,) * 2 + (3,),
                                                                         int(s[6:]), np.uint8), id=s)])
    monkeypatch.setattr("earthshader.data.rows.SOURCES", [extra, *SOURCES])
    assert picture_spec("solid:40") == "solid:40" and load_rows("solid:40", size=SIZE)[0].image.shape == (SIZE, SIZE, 3)


def test_a_bad_cell_of_a_saved_dataset_is_named_with_its_row_and_column(tmp_path, caplog):
    import datasets

    good = png(pattern(13))
    data = datasets.Dataset.from_dict({
        "image": [{"bytes": good, "path": None}] * 4,
        "id": ["ok", "bad-params", "bad-time", "bad-difficulty"],
        "params": ["{}", "not json", "{}", "{}"], "time": ["0", "0", "soon", "0"],
        "difficulty": [0, 0, 0, 0]}, features=datasets.Features({
            "image": datasets.Image(), "id": datasets.Value("string"), "params": datasets.Value("string"),
            "time": datasets.Value("string"), "difficulty": datasets.Value("int32")}))
    data.save_to_disk(str(tmp_path / "saved"))
    with caplog.at_level(logging.WARNING, logger="earthshader.data.rows"):
        rows = load_rows(str(tmp_path / "saved"), size=SIZE, split="train")
    assert [r.id for r in rows] == ["ok", "bad-difficulty"]
    assert "row 1 (bad-params): column 'params'" in caplog.text
    assert "row 2 (bad-time): column 'time'" in caplog.text


def test_a_corrupt_parquet_file_is_a_one_line_error_naming_it(tmp_path):
    from earthshader.data.sources import read_source

    corrupt = tmp_path / "programs.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet PAR1")
    with pytest.raises(SourceError, match="programs.parquet: not a readable parquet file"):
        list(read_source(str(corrupt)))
    with pytest.raises(SourceError, match="programs.parquet: not a readable parquet file"):
        load_rows(f"renders:{corrupt}", size=SIZE)


def test_a_refined_target_keeps_its_aspect_within_the_renderer_bound(tmp_path):
    from earthshader.answering.files import load_target
    from earthshader.answering.refine import RefineError

    Image.fromarray(pattern(14, 300, 100)).save(tmp_path / "portrait.png")
    assert load_target(str(tmp_path / "portrait.png"), 4096).shape == (4096, 1365, 3)  # was "bad render size"
    Image.fromarray(pattern(15, 60, 3)).save(tmp_path / "narrow.png")
    with pytest.raises(RefineError, match="argument --size: at 16 px the target .* under 3 px"):
        load_target(str(tmp_path / "narrow.png"), 16)


def test_corrupt_corpus_rows_are_named_not_only_counted(tmp_path, render_pool, caplog):
    import json

    from earthshader.data.build import code_hash, is_test

    code = ("void mainImage(out vec4 c, in vec2 p) { vec2 uv = p / iResolution.xy; "
            "c = vec4(0.5 + 0.5 * sin(12.0 * uv.x), uv.y, 0.4, 1.0); }")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(json.dumps({"id": "good", "image_code": code}).encode() + b"\n{not json\n\xff\xfe\n"
                       + b'{"id": "no-code"}\n')
    split = "test" if is_test(code_hash(code), 0.5) else "train"
    with caplog.at_level(logging.WARNING, logger="earthshader.data.rows"):
        rows = load_rows(f"renders:{corpus}?test_fraction=0.5", split=split, size=SIZE, pool=render_pool)
    assert [r.id for r in rows] == ["good"]
    assert ("3 corrupt rows skipped: corpus.jsonl:2: not JSON" in caplog.text and "corpus.jsonl:3: not UTF-8"
            in caplog.text and "corpus.jsonl:4: no image_code" in caplog.text)
