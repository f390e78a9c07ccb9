"""The build pipeline: image filters, corrupt input, resume after an interruption, disjoint splits,
licences carried, and stored images that re-render exactly (real EGL renders, small sizes)."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest

from earthshader.data.__main__ import main
from earthshader.data.build import (
    BuildConfig,
    BuildError,
    Filters,
    build,
    code_hash,
    judge,
    load_report,
    near_duplicates,
    normalise_code,
    thumbnail,
)
from earthshader.data.generators import generate
from earthshader.render import RenderPool

GRADIENT = "void mainImage(out vec4 fragColor, in vec2 fragCoord) {{ vec2 uv = fragCoord / iResolution.xy; fragColor = vec4(uv, {b}, 1.0); }}"
BLACK = "void mainImage(out vec4 fragColor, in vec2 fragCoord) { fragColor = vec4(0.0, 0.0, 0.0, 1.0); }"
NOISE = ("float h(vec2 p) { p = fract(p * vec2(123.34, 456.21)); p += dot(p, p + 45.32); return fract(p.x * p.y); }\n"
         "void mainImage(out vec4 fragColor, in vec2 fragCoord) { fragColor = vec4(vec3(h(fragCoord)), 1.0); }")
BROKEN = "void mainImage(out vec4 fragColor, in vec2 fragCoord) { fragColor = 1; }"


@pytest.fixture(scope="module")
def pool():
    with RenderPool(workers=2, timeout=60.0) as render_pool:
        yield render_pool


def test_filter_rejects_black_flat_almost_flat_and_noise():
    filters = Filters()
    rng = np.random.default_rng(0)
    black = np.zeros((64, 64, 3), np.uint8)
    grey = np.full((64, 64, 3), 128, np.uint8)
    dot = grey.copy()
    dot[30:32, 30:32] = 255  # 4 pixels of 4096: not flat, but one colour to the eye
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert judge(black, filters)[0] == "black"
    assert judge(grey, filters)[0] == "flat"
    assert judge(dot, filters)[0] == "low entropy"
    assert judge(noise, filters)[0] == "noise"
    assert judge(grey, filters, nonfinite_fraction=0.2)[0] == "non-finite pixels"


def test_filter_keeps_generated_textures_and_rejects_rendered_noise(pool):
    samples = [generate("textures", seed) for seed in range(120)]
    results = pool.render_many([s.code for s in samples] + [NOISE, BLACK], width=128, height=128)
    verdicts = [judge(r.image, Filters())[0] for r in results]
    rejected = [(s.family, s.seed, v) for s, v in zip(samples, verdicts) if v]
    assert not rejected, rejected
    assert verdicts[-2:] == ["noise", "black"]


def test_normalised_code_ignores_comments_and_layout_only():
    a = "// header\nvoid mainImage(out vec4 c, in vec2 p) {\n    c = vec4(1.0); /* white */\n}\n"
    b = "void mainImage( out vec4 c,in vec2 p ){ c=vec4( 1.0 ); }"
    assert normalise_code(a) == normalise_code(b) and code_hash(a) == code_hash(b)
    assert code_hash(a) != code_hash(b.replace("1.0", "0.5"))


def test_near_duplicates_are_found_across_mean_colour_buckets():
    image = (np.arange(64 * 64 * 3) % 251).reshape(64, 64, 3).astype(np.uint8)
    shifted = np.clip(image.astype(int) + 1, 0, 255).astype(np.uint8)  # one grey level brighter
    other = image[::-1].copy()
    thumbs = [thumbnail(i).tobytes() for i in (image, shifted, other, image)]
    assert near_duplicates(thumbs, tolerance=2.0) == [False, True, False, True]


def write_corpus(path) -> list[bytes]:
    good = [GRADIENT.format(b=f"{0.1 * k:.1f}") for k in range(6)]
    lines = [
        {"id": "g0", "author": "ann", "license": "cc-by-nc-sa-3.0", "image_code": good[0]},
        "{broken json",
        {"id": "g1", "author": "bob", "license": "mit", "permissive": True, "image_code": good[3]},
        {"id": "nocode", "author": "cy"},
        {"id": "dup", "author": "dan", "license": "mit", "image_code": "// same program\n" + good[0]},
        {"id": "black", "license": "mit", "image_code": BLACK},
        {"id": "broken", "license": "mit", "image_code": BROKEN},
        {"id": "noise", "license": "mit", "image_code": NOISE},
        {"id": "g2", "author": "eve", "license": "cc0-1.0", "image_code": good[5]},
    ]
    raw = [(json.dumps(x) if isinstance(x, dict) else x).encode() for x in lines]
    raw.insert(4, b'{"id": "latin1", "image_code": "caf\xe9"}')  # line 5: not UTF-8
    path.write_bytes(b"\n".join(raw) + b"\n")


def test_corrupt_rows_are_reported_and_the_build_continues(tmp_path, capsys):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    out = tmp_path / "out"
    assert main(["build", "--source", str(corpus), "--out", str(out), "--size", "32", "--shard-size", "4",
                 "--test-fraction", "0.0", "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    report = load_report(out)
    assert [p.split(" (")[0] for p in report["problems"]] == [
        "corpus.jsonl:2: not JSON", "corpus.jsonl:4: no image_code", "corpus.jsonl:5: not UTF-8"]
    assert report["counts"] == {"kept": 3, "corrupt: not JSON": 1, "corrupt: no image_code": 1,
                                "corrupt: not UTF-8": 1, "duplicate code": 1, "black": 1,
                                "render: compile": 1, "noise": 1}
    assert sum(report["counts"].values()) == report["total"] == 10
    assert "corpus.jsonl:5: not UTF-8" in printed and "rejected: render: compile" in printed
    rows = datasets.load_from_disk(str(out))["train"]
    assert [(r["id"], r["author"], r["license"], r["non_commercial"]) for r in rows] == [
        ("g0", "ann", "cc-by-nc-sa-3.0", True), ("g1", "bob", "mit", False), ("g2", "eve", "cc0-1.0", False)]


def build_rows(out) -> dict:
    loaded = datasets.load_from_disk(str(out))
    return {split: [{**row, "image": np.asarray(row["image"]).tobytes()} for row in loaded[split]] for split in loaded}


def test_resume_after_interruption_equals_an_uninterrupted_build(tmp_path, pool):
    config = dict(source="textures", size=48, n=24, shard_size=6, test_fraction=0.3, workers=2)
    whole = build(BuildConfig(out=str(tmp_path / "whole"), **config))
    assert whole.finished and sum(whole.splits.values()) == whole.counts["kept"]

    out = tmp_path / "resumed"
    first = build(BuildConfig(out=str(out), **config), max_new_shards=2)  # "stopped" after 2 shards
    assert not first.finished and not (out / "report.json").exists()
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["shard-00000", "shard-00001"]
    (out / "shards" / "shard-00002.tmp").mkdir()  # a shard that was being written when killed
    resumed = build(BuildConfig(out=str(out), **config))
    assert resumed.finished and not (out / "shards" / "shard-00002.tmp").exists()
    assert load_report(out) == load_report(tmp_path / "whole")
    assert build_rows(out) == build_rows(tmp_path / "whole")

    # Splits never share a program, and each stored image is exactly what its code renders.
    rows = build_rows(out)
    assert rows["train"] and rows["test"]
    train = {r["code_hash"] for r in rows["train"]}
    assert train.isdisjoint(r["code_hash"] for r in rows["test"])
    assert {code_hash(r["code"]) for r in rows["train"]} == train
    stored = datasets.load_from_disk(str(out))["train"]
    renders = pool.render_many(stored["code"], width=48, height=48, time=0.0)
    assert all(np.array_equal(np.asarray(image), r.image) for image, r in zip(stored["image"], renders))


def test_a_different_build_in_the_same_folder_is_refused(tmp_path):
    out = str(tmp_path / "out")
    build(BuildConfig(source="primitives", out=out, size=32, n=4, workers=1))
    with pytest.raises(BuildError, match="size differ"):
        build(BuildConfig(source="primitives", out=out, size=64, n=4, workers=1))


def test_cli_sample_and_families(capsys):
    assert main(["sample", "rings", "--seed", "2", "--difficulty", "0"]) == 0
    assert "mainImage" in capsys.readouterr().out
    assert main(["families"]) == 0
    assert "ridged_terrain" in capsys.readouterr().out
    assert main(["sample", "nope"]) == 2
