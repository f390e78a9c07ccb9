"""Sources: generators, JSONL / JSONL.gz / parquet files, .glsl folders, saved datasets, the Hub.

Corrupt rows are reported by file and line and reading goes on; licences are carried and
non-commercial rows flagged; without the Hub, a Hub id fails naming the dataset and local options.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from earthshader.data.sources import RowProblem, ShaderRow, SourceError, describe, read_source

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "shadertoys.jsonl.gz"
SHADER = "void mainImage(out vec4 fragColor, in vec2 fragCoord) { fragColor = vec4(fragCoord.x / iResolution.x); }"


def record(i: int, license_: str = "cc-by-nc-sa-3.0", **extra) -> bytes:
    row = {"id": f"s{i}", "name": f"shader {i}", "author": "someone", "license": license_,
           "image_code": SHADER.replace("fragCoord.x", f"fragCoord.x * {i + 1}.0"), **extra}
    return json.dumps(row).encode() + b"\n"


CORRUPT_LINES = [
    record(0),                                      # 1 good, non-commercial
    b"{not json at all\n",                          # 2 not JSON
    json.dumps({"id": "x", "name": "no code"}).encode() + b"\n",   # 3 no image_code
    b'{"id": "bad", "image_code": "\xff\xfe"}\n',   # 4 not UTF-8
    record(4, "mit"),                               # 5 good, permissive
    b"[1, 2, 3]\n",                                 # 6 JSON, but not an object
    json.dumps({"id": "e", "image_code": "   "}).encode() + b"\n",  # 7 empty image_code
    record(7, license_=""),                         # 8 good, licence unknown
]
EXPECTED_PROBLEMS = [(2, "not JSON"), (3, "no image_code"), (4, "not UTF-8"), (6, "not JSON"), (7, "no image_code")]


def check_corrupt_rows(items: list, file_name: str) -> None:
    problems = [item for item in items if isinstance(item, RowProblem)]
    rows = [item for item in items if isinstance(item, ShaderRow)]
    assert [(p.line, p.reason) for p in problems] == EXPECTED_PROBLEMS
    assert all(p.file == file_name and str(p).startswith(f"{file_name}:{p.line}: ") for p in problems)
    assert [r.id for r in rows] == ["s0", "s4", "s7"]
    assert [(r.license, r.permissive, r.non_commercial) for r in rows] == [
        ("cc-by-nc-sa-3.0", False, True), ("mit", True, False), ("unknown", False, True)]


def test_jsonl_corrupt_rows_are_reported_by_file_and_line_and_reading_continues(tmp_path):
    path = tmp_path / "shaders.jsonl"
    path.write_bytes(b"".join(CORRUPT_LINES))
    check_corrupt_rows(list(read_source(str(path))), "shaders.jsonl")


def test_jsonl_gz_same_rows_and_a_truncated_file_is_reported(tmp_path):
    path = tmp_path / "shaders.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(CORRUPT_LINES)))
    check_corrupt_rows(list(read_source(str(path))), "shaders.jsonl.gz")
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b"".join(record(i) for i in range(200)))[:-40])
    items = list(read_source(str(cut)))
    assert isinstance(items[-1], RowProblem) and items[-1].reason == "truncated file"
    assert all(isinstance(item, ShaderRow) for item in items[:-1]) and len(items) > 150


def test_window_start_and_n_count_problems_as_rows(tmp_path):
    path = tmp_path / "shaders.jsonl"
    path.write_bytes(b"".join(CORRUPT_LINES))
    items = list(read_source(str(path), start=1, n=4))
    assert [getattr(item, "line", None) or item.id for item in items] == [2, 3, 4, "s4"]


def test_parquet_rows_with_licences(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (record(0), record(1, "cc0-1.0"), record(2, "mit"))]
    rows[1]["image_code"] = None
    path = tmp_path / "shaders.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    items = list(read_source(str(path)))
    assert isinstance(items[1], RowProblem) and (items[1].file, items[1].line) == ("shaders.parquet", 2)
    assert [(i.id, i.non_commercial, i.permissive) for i in items if isinstance(i, ShaderRow)] == [
        ("s0", True, False), ("s2", False, True)]


def test_glsl_folder_and_saved_dataset(tmp_path):
    import datasets

    folder = tmp_path / "glsl"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.glsl").write_text(SHADER)
    (folder / "nested" / "b.glsl").write_text("// no entry point\nfloat f(float x) { return x; }\n")
    (folder / "c.glsl").write_bytes(b"\xff\xfe\x00")
    (folder / "notes.txt").write_text("ignored")
    items = list(read_source(str(folder)))
    assert [(type(i).__name__, getattr(i, "id", getattr(i, "file", ""))) for i in items] == [
        ("ShaderRow", "a.glsl"), ("RowProblem", "c.glsl"), ("RowProblem", "nested/b.glsl")]
    assert items[0].license == "unknown" and items[0].non_commercial

    saved = tmp_path / "saved"
    rows = [json.loads(line) for line in (record(0), record(1, "mit"))]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(saved))
    assert describe(str(saved)) == "saved"
    assert [r.id for r in read_source(str(saved), split="test")] == ["s0", "s1"]
    with pytest.raises(SourceError, match="no split 'train'"):
        list(read_source(str(saved)))


def test_generator_source_rows():
    rows = list(read_source("primitives", n=5, start=10))
    assert [r.id.rsplit("-", 1)[1] for r in rows] == ["10", "11", "12", "13", "14"]
    assert all(r.license == "mit" and r.permissive and not r.non_commercial and r.difficulty >= 0 for r in rows)
    with pytest.raises(SourceError, match="needs a number of samples"):
        read_source("textures")


def test_missing_path_names_the_valid_sources():
    with pytest.raises(SourceError, match="no such file.*shadertoys.jsonl.gz.*textures"):
        read_source("./does/not/exist.jsonl")


def test_hub_offline_fails_naming_the_dataset_and_local_alternatives(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    command = [sys.executable, "-m", "earthshader.data", "build", "--source", "Vipitis/Shadereval-inputs",
               "--out", str(tmp_path / "out"), "--n", "5"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    message = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, message
    assert "Vipitis/Shadereval-inputs" in message
    assert "HF_HUB_OFFLINE" in message and "shadertoys.jsonl.gz" in message and ".glsl" in message


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS.exists(), reason="needs ../shared/data/shadertoys.jsonl.gz")
def test_local_corpus_rows_carry_licences():
    rows = list(read_source(str(CORPUS), n=500))
    assert len(rows) == 500 and all(isinstance(r, ShaderRow) for r in rows)
    assert all(r.author and r.id and "mainImage" in r.code for r in rows)
    assert all(r.non_commercial == ("nc" in r.license.split("-") or r.license == "unknown") for r in rows)
    assert any(r.non_commercial for r in rows)
