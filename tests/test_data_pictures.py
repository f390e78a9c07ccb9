"""Picture-only targets through the one loader (`earthshader.data.rows.load_rows`): picture folders, crops,
scikit-image's photographs, image-only saved datasets, code-withheld renders split by program; and the
same folder as `--dataset` for `earthshader.eval` and `--dataset_path` for `earthshader.grpo`."""

from __future__ import annotations

import gzip
import json
import logging

import numpy as np
import pytest
from PIL import Image

from earthshader.data import pictures as pics
from earthshader.data.build import code_hash, is_test
from earthshader.data.generators import generate
from earthshader.data.rows import load_rows
from earthshader.data.sources import SourceError

SIZE = 56


def pattern(seed: int, height: int = 64, width: int = 64) -> np.ndarray:
    """Smooth coloured stripes: a picture the factory's filter keeps."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / 8.0
    angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 6)
    wave = 0.5 + 0.5 * np.sin(np.cos(angle) * x + np.sin(angle) * y + phase)
    colour = rng.uniform(0.3, 1.0, 3)
    return (255 * wave[..., None] * colour).astype(np.uint8)


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    (folder / "trip" / "day2").mkdir(parents=True)
    Image.fromarray(pattern(0)).save(folder / "a.png")
    Image.fromarray(pattern(1)).save(folder / "trip" / "b.jpg", quality=95)
    Image.fromarray(pattern(2)).save(folder / "trip" / "day2" / "c.webp", lossless=True)
    Image.fromarray(pattern(3, 96, 64)).save(folder / "trip" / "tall.PNG")
    (folder / "broken.png").write_bytes(b"not a picture at all")
    (folder / "notes.txt").write_text("not a picture either, and not read")
    return folder


def test_a_folder_loads_recursively_and_names_the_file_it_cannot_read(photos, caplog):
    with caplog.at_level(logging.INFO, logger="earthshader.data.rows"):
        rows = load_rows(str(photos), size=SIZE)
    assert [r.id for r in rows] == ["a.png", "trip/b.jpg", "trip/day2/c.webp", "trip/tall.PNG"]
    assert all(r.image.shape == (SIZE, SIZE, 3) and r.image.dtype == np.uint8 for r in rows)
    assert all(r.code == "" and r.reference == "" and r.source == "photos" for r in rows)
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "1 of 5 pictures cannot be read" in warning and "broken.png" in warning
    resized = " ".join(r.getMessage() for r in caplog.records if "resized" in r.getMessage())
    assert "4 of 4 pictures resized to 56 x 56 px (1 non-square, centre-cropped first)" in resized
    assert load_rows(str(photos), size=SIZE, n=2, seed=1)[0].id == load_rows(str(photos), size=SIZE, n=2, seed=1)[0].id


def test_non_square_pictures_are_centre_cropped_not_stretched(tmp_path):
    image = np.zeros((40, 120, 3), np.uint8)
    image[:, :40] = (255, 0, 0)  # left and right thirds fall outside the centred square
    image[:, 80:] = (0, 0, 255)
    image[:, 40:80] = pattern(4, 40, 40)
    Image.fromarray(image).save(tmp_path / "wide.png")
    row, = load_rows(str(tmp_path / "wide.png"), size=SIZE)
    expected = np.asarray(Image.fromarray(image[:, 40:80]).resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    assert np.array_equal(row.image, expected)


def test_empty_and_unreadable_sets_are_errors_naming_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"empty: no pictures \(.png"):
        load_rows(str(tmp_path / "empty"), size=SIZE)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(SourceError, match="bad: none of its 1 picture files can be read"):
        load_rows(str(tmp_path / "bad"), size=SIZE)
    with pytest.raises(SourceError, match="no such folder"):
        load_rows(str(tmp_path / "missing"), size=SIZE)
    with pytest.raises(SourceError, match="no such folder"):  # not taken for a Hub id (owner/name)
        load_rows("no-such-photos/", size=SIZE)
    with pytest.raises(SourceError, match="no pictures"):  # a folder of .glsl files is not a picture set
        (tmp_path / "glsl").mkdir()
        (tmp_path / "glsl" / "a.glsl").write_text("void mainImage(out vec4 c, in vec2 p) { c = vec4(1); }")
        load_rows(str(tmp_path / "glsl"), size=SIZE)


def test_an_image_only_saved_dataset_is_told_apart_from_a_picture_folder(tmp_path):
    import datasets

    images = [Image.fromarray(pattern(i)) for i in range(3)]
    data = datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()}))
    data.save_to_disk(str(tmp_path / "single"))  # a Dataset: state.json, dataset_info.json, no dataset_dict.json
    Image.fromarray(pattern(9)).save(tmp_path / "single" / "stray.png")  # a picture inside does not make it a folder
    rows = load_rows(str(tmp_path / "single"), size=SIZE, split="test")
    assert [r.id for r in rows] == ["0", "1", "2"] and all(r.code == "" for r in rows)
    assert rows[1].image.shape == (SIZE, SIZE, 3)

    broken = datasets.Dataset.from_dict(
        {"image": [{"bytes": b"garbage", "path": None}, {"bytes": _png(pattern(5)), "path": None}],
         "id": ["bad-row", "good-row"]},
        features=datasets.Features({"image": datasets.Image(), "id": datasets.Value("string")}))
    datasets.DatasetDict({"train": broken}).save_to_disk(str(tmp_path / "dict"))
    assert [r.id for r in load_rows(str(tmp_path / "dict"), size=SIZE)] == ["good-row"]
    with pytest.raises(SourceError, match="no split 'test'"):
        load_rows(str(tmp_path / "dict"), split="test", size=SIZE)


def _png(image: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_crops_have_the_count_and_size_asked_and_depend_only_on_the_seed(photos, caplog):
    spec = f"crops:{photos}?size=40&count=12&seed=3"
    with caplog.at_level(logging.INFO, logger="earthshader.data.rows"):
        crops = load_rows(spec, size=SIZE)
    assert len(crops) == 12 and all(c.image.shape == (SIZE, SIZE, 3) for c in crops)
    assert "12 of 12 pictures resized to 56 x 56 px" in caplog.text  # 40 px crops, said in the log
    assert {c.id.split("@")[0] for c in crops} == {"a.png", "trip/b.jpg", "trip/day2/c.webp", "trip/tall.PNG"}
    again = load_rows(spec, size=SIZE)
    assert [c.id for c in again] == [c.id for c in crops]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(again, crops))
    assert [c.id for c in load_rows(spec.replace("seed=3", "seed=4"), size=SIZE)] != [c.id for c in crops]
    more = load_rows(spec.replace("count=12", "count=20"), size=SIZE)
    assert [c.id for c in more[:12]] == [c.id for c in crops]  # a larger count only adds crops
    x, y = map(int, crops[0].id.split("@")[1].split(","))
    source = np.asarray(Image.open(photos / crops[0].id.split("@")[0]).convert("RGB"))[y:y + 40, x:x + 40]
    assert np.array_equal(crops[0].image, np.asarray(Image.fromarray(source).resize((SIZE, SIZE),
                                                                                    Image.Resampling.BICUBIC)))
    native = load_rows(f"crops:{photos}?count=3", size=SIZE)  # default size: the model's, so no resize
    assert [c.image.shape for c in native] == [(SIZE, SIZE, 3)] * 3


@pytest.mark.parametrize("spec, message", [
    ("crops:{photos}?size=40&colour=red", "unknown option 'colour'; crops: takes size, count, seed"),
    ("crops:{photos}?count=many", "count='many' is not int"),
    ("crops:{photos}?count=0", "count must be at least 1"),
    ("crops:{photos}?size=500", "no picture is at least 500 px"),
    ("crops:?size=40", "crops: needs a source"),
    ("crops:generator:textures", "crops are taken from pictures"),
    ("renders:{photos}?time=soon", "time='soon' is not float"),
])
def test_bad_specs_are_clear_errors(photos, spec, message):
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace("?", r"\?")):
        load_rows(spec.format(photos=photos), size=SIZE)


def test_scikit_image_photographs_load_with_no_download():
    photos = load_rows("skimage:photos", size=SIZE)
    assert len(photos) == 12 and photos[0].id == "brick" and photos[0].source == "skimage"
    assert all(p.image.shape == (SIZE, SIZE, 3) for p in photos)  # grey and boolean ones made RGB
    crops = load_rows("crops:skimage:textures?size=64&count=30&seed=0", size=SIZE)
    assert len(crops) == 30 and {c.id.split("@")[0] for c in crops} == {"brick", "grass", "gravel"}
    with pytest.raises(SourceError, match="unknown.*lena.*pictures: brick"):
        load_rows("skimage:lena", size=SIZE)


def test_scikit_image_other_pictures_give_crops_with_no_download():
    crops = load_rows("crops:skimage:more?size=96&count=12&seed=0", size=SIZE)
    assert [c.id.split("@")[0] for c in crops[:6]] == list(pics.SKIMAGE_MORE)
    assert len(crops) == 12 and all(c.image.shape == (SIZE, SIZE, 3) for c in crops)
    assert not set(pics.SKIMAGE_MORE) & set(pics.SKIMAGE_PHOTOS)


def write_corpus(path, codes: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i, code in enumerate(codes):
            handle.write(json.dumps({"id": f"s{i}", "image_code": code, "license": "mit"}) + "\n")
        handle.write("{not json\n")


def programs_the_filter_keeps(render_pool, n: int, time: float = 0.0) -> list[str]:
    """`n` level-0 texture programs whose render at SIZE px and `time` the loader's filter keeps."""
    from earthshader.data.build import Filters, judge

    codes = [generate("textures", seed, difficulty=0).code for seed in range(4 * n)]
    results = render_pool.render_many(codes, SIZE, SIZE, time=time)
    kept = [c for c, r in zip(codes, results) if r.ok and judge(r.image, Filters(), r.nonfinite_fraction)[0] is None]
    assert len(kept) >= n
    return kept[:n]


def test_code_withheld_renders_split_by_program(tmp_path, render_pool, caplog):
    from earthshader.evaluation import load_targets

    codes = programs_the_filter_keeps(render_pool, 16, time=1.5)
    corpus = tmp_path / "tiny.jsonl.gz"
    write_corpus(corpus, codes + [codes[0] + "\n// the same program, a comment added"])
    spec = f"renders:{corpus}?time=1.5&test_fraction=0.5"
    with caplog.at_level(logging.WARNING):
        train = load_rows(spec, split="train", size=SIZE, pool=render_pool)
    test = load_rows(spec, split="test", size=SIZE, pool=render_pool)
    assert "1 corrupt rows skipped" in caplog.text
    expected_test = {f"s{i}" for i, code in enumerate(codes) if is_test(code_hash(code), 0.5)}
    assert {r.id for r in test} == expected_test
    assert {r.id for r in train} == {f"s{i}" for i in range(16)} - expected_test
    assert train and test  # both splits have programs; none is in both, even under another id
    assert not {code_hash(r.reference) for r in train} & {code_hash(r.reference) for r in test}
    assert all(r.code == "" and r.reference and r.time == 1.5 and r.source == "renders:tiny.jsonl.gz"
               for r in train + test)
    first = train[0]
    assert np.array_equal(first.image, render_pool.render(first.reference, SIZE, SIZE, time=1.5).image)
    assert len(load_rows(spec + "&count=2", split="train", size=SIZE, pool=render_pool)) == 2
    with pytest.raises(SourceError, match="not 'validation'"):
        load_rows(spec, split="validation", size=SIZE, pool=render_pool)
    targets = load_targets(spec, size=SIZE, pool=render_pool)  # evaluation keeps the program for scoring only
    assert [t.id for t in targets] == [r.id for r in test]
    assert all(t.code == "" and t.reference and t.program == t.reference for t in targets)


def test_a_withheld_program_is_never_in_code_wherever_the_picture_goes(tmp_path, render_pool):
    """A `renders:` target's program stays in `reference`: the evaluation scores against it (the reference
    baseline, the ShaderEval labels) without it ever being a row's `code`; expert iteration's pictures, the GRPO
    dataset and the picture kinds carry none either."""
    from earthshader.data import picture_kinds
    from earthshader.evaluation import load_targets
    from earthshader.evaluation.run import evaluate_completions
    from earthshader.training import expert_stage, grpo_stage
    from earthshader.training.arguments import ExpertScriptArguments, GRPOScriptArguments

    corpus = tmp_path / "tiny.jsonl.gz"
    write_corpus(corpus, programs_the_filter_keeps(render_pool, 30))  # the picture kind's split: 10% test
    spec = f"renders:{corpus}?test_fraction=0.5&count=6"
    targets = load_targets(spec, size=SIZE, pool=render_pool)
    assert targets and all(t.code == "" and t.reference for t in targets)
    report = evaluate_completions([["I cannot draw that."] for _ in targets], targets, pool=render_pool)
    reference = report.baselines["reference"]
    assert reference["n_targets"] == len(targets) and reference["ssim"] == 1.0  # scored against the withheld program
    assert reference["labels"] == {"c0-clone": 1.0} and report.summary["labels"] == {"code_error": 1.0}
    assert all(t.code == "" for t in report.targets)

    args = ExpertScriptArguments(targets=spec, heldout=spec, targets_split="train", heldout_split="test",
                                 image_size=SIZE, targets_n=8, heldout_n=8)
    train, heldout = expert_stage.load_pictures(args, pool=render_pool)
    assert train and heldout and all(t.code == "" and t.reference for t in train + heldout)

    dataset = grpo_stage.build_dataset(GRPOScriptArguments(dataset_path=spec, image_size=SIZE, render_workers=1))
    assert len(dataset) and "code" not in dataset.column_names and "reference" not in dataset.column_names

    for role in ("train", "heldout"):
        rows = picture_kinds.kind_rows("renders", role, n=4, size=SIZE, corpus=str(corpus), pool=render_pool)
        assert rows and all(r.code == "" and r.reference for r in rows)


def test_renders_of_a_factory_dataset_read_every_split_and_split_again_by_program(tmp_path, render_pool):
    import datasets

    kept = programs_the_filter_keeps(render_pool, 24)
    test_like = [c for c in kept if is_test(code_hash(c), 0.5)]
    train_like = [c for c in kept if not is_test(code_hash(c), 0.5)]
    # each saved split holds programs that the new split puts in test and in train
    codes = [test_like[0], train_like[0], train_like[1], test_like[1], train_like[2], test_like[2], train_like[3],
             test_like[3]]
    rows = [{"code": code, "id": f"g{i}", "image": None} for i, code in enumerate(codes)]
    features = datasets.Features({"code": datasets.Value("string"), "id": datasets.Value("string"),
                                  "image": datasets.Image()})
    saved = datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:5], features=features),
                                  "test": datasets.Dataset.from_list(rows[5:], features=features)})
    saved.save_to_disk(str(tmp_path / "factory"))
    spec = f"renders:{tmp_path / 'factory'}?test_fraction=0.5"
    test = load_rows(spec, split="test", size=SIZE, pool=render_pool)
    assert {r.id for r in test} == {f"g{i}" for i, code in enumerate(codes) if is_test(code_hash(code), 0.5)}
    saved_train = {"g0", "g1", "g2", "g3", "g4"}
    assert {r.id for r in test} & saved_train and {r.id for r in test} - saved_train  # from both saved splits
    only_train = load_rows(spec + "&source_split=train", split="test", size=SIZE, pool=render_pool)
    assert {r.id for r in only_train} == {r.id for r in test} & saved_train


@pytest.mark.corpus
def test_corpus_renders_have_disjoint_train_and_test(corpus_path, render_pool):
    spec = f"renders:{corpus_path}?time=1&count=4"
    train = load_rows(spec, split="train", size=SIZE, pool=render_pool)
    test = load_rows(spec, split="test", size=SIZE, pool=render_pool)
    assert len(train) == len(test) == 4
    assert not {code_hash(r.reference) for r in train} & {code_hash(r.reference) for r in test}
    assert all(is_test(code_hash(r.reference), 0.1) for r in test) and all(r.code == "" for r in train + test)


def test_one_id_scheme_for_generated_programs_in_every_stage(render_pool):
    from earthshader.data.rows import generated_programs, generated_targets
    from earthshader.data.sources import read_source

    factory = [r.id for r in read_source("textures", n=3, start=7, difficulty=0)]
    assert [r.id for r in generated_programs(["textures"], 3, seed=7, difficulty=0)] == factory
    rendered = generated_targets("textures", 3, size=SIZE, start=7, difficulty=0, pool=render_pool)
    assert [r.id for r in rendered] == factory


def test_grpo_targets_from_pictures_carry_no_code(photos, tmp_path, render_pool):
    from earthshader.training import grpo_stage
    from earthshader.training.arguments import GRPOScriptArguments

    dataset = grpo_stage.build_dataset(GRPOScriptArguments(dataset_path=str(photos), image_size=SIZE, render_workers=1))
    assert len(dataset) == 4 and "code" not in dataset.column_names and "frames" not in dataset.column_names
    assert dataset[0]["image"].size == (SIZE, SIZE)
    corpus = tmp_path / "tiny.jsonl.gz"
    write_corpus(corpus, [generate("textures", seed, difficulty=0).code for seed in range(6)])
    timed = grpo_stage.build_dataset(GRPOScriptArguments(dataset_path=f"renders:{corpus}?time=2&test_fraction=0.3",
                                                         image_size=SIZE, render_workers=1))
    assert "code" not in timed.column_names and set(timed[0]["times"]) == {2.0}  # rewards render at iTime 2 too


def test_sft_refuses_pictures_with_no_program(photos):
    from earthshader.training.sft_examples import require_programs

    with pytest.raises(SourceError, match="4 of 4 rows have no program"):
        require_programs(load_rows(str(photos), size=SIZE), str(photos))


def test_infer_reads_folders_and_specs_beside_files(photos):
    from earthshader.answering.inference import read_inputs

    names = [name for name, _, _ in read_inputs([str(photos / "a.png"), str(photos), "crops:skimage:brick?count=2"],
                                                SIZE)]
    assert names[0] == "a" and names[1].startswith("a-") and names[2:5] == ["trip_b", "trip_day2_c", "trip_tall"]
    assert len(names) == 7 and len(set(names)) == 7 and names[5].startswith("brick@")  # unique; crops keep @x,y


def test_a_picture_folder_is_a_dataset_for_eval(photos, small_tiny_model, tmp_path):
    from earthshader.eval import main

    out = tmp_path / "eval"
    assert main(["--model", str(small_tiny_model), "--dataset", str(photos), "--n", "2", "--size", str(SIZE),
                 "--max-new-tokens", "16", "--workers", "1", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["n_targets"] == 2 and report["settings"]["dataset"] == str(photos)
    assert all(t["reference"] is None for t in report["targets"])  # pictures have no reference program
    assert report["baselines"]["mean_colour"]["structure"] == pytest.approx(0.0, abs=1e-9)
    assert report["baselines"]["mean_colour"]["appearance"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_a_picture_folder_is_a_dataset_path_for_grpo(photos, small_tiny_model, tmp_path):
    from test_grpo import tiny_args

    from earthshader import grpo
    from earthshader.training import grpo_stage

    script_args, training_args, model_args = grpo.parse(
        tiny_args(small_tiny_model, tmp_path / "run", "--max_steps", "2", "--dataset_path", str(photos),
                  "--image_size", str(SIZE), "--reward_funcs", "format", "compiles", "ssim", "appearance",
                  "--reward_weights", "0.5", "1.0", "1.0", "1.0"))
    trainer, _ = grpo_stage.build_trainer(script_args, training_args, model_args, "cpu")
    assert len(trainer.train_dataset) == 4
    trainer.train()
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1] * 8 + [2] * 8
    assert {r["prompt_id"] for r in rows} <= {"a.png", "trip/b.jpg", "trip/day2/c.webp", "trip/tall.PNG"}
    assert all(0.0 <= r["rewards"]["appearance"] <= 1.0 for r in rows)  # the appearance reward ran in every step
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged if "rewards/appearance/mean" in entry] == [1, 2]
