"""SFT's side of the rows: (image, program) pairs for `earthshader.sft`, as prompt / completion / image examples.

    from earthshader.data import rows
    from earthshader.training import sft_examples
    programs = rows.generated_programs(["textures"], 4000, difficulty=0)       # Rows: code, source, id
    programs += sft_examples.shadereval_programs("hub")     # or "../shared/data/shadertoys.jsonl.gz"
    pairs = rows.render_targets(programs, size=84)      # drops compile failures and what the filter rejects
    pairs += sft_examples.require_programs(rows.load_rows("data/textures", size=84), "data/textures")
    dataset = sft_examples.to_sft_dataset(pairs, size=84)   # prompt / completion / image (+ code, source, id)

Real programs come without a target image: they are rendered (at `iTime` 0) and kept only when they
compile and draw something the factory's filter keeps, so the model never learns to answer a picture
with a program that draws another. Picture-only rows (no `code`) cannot teach SFT: `require_programs`
says so instead of training on nothing.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from pathlib import Path

from earthshader.data.rows import Row
from earthshader.data.sources import SourceError, read_source
from earthshader.modeling import prompts

logger = logging.getLogger(__name__)

#: The Hub dataset of the Shadereval benchmark's programs (one row per function; the id names the shader).
SHADEREVAL_HUB_ID = "Vipitis/Shadereval-inputs"


def shadereval_programs(source: str = "hub") -> list[Row]:
    """The Shadereval programs, one per shader: from the Hub (`"hub"` or a Hub id) or a local corpus file.

    A local file is JSON lines (optionally gzipped) with `id`, `image_code` and `in_shadereval` fields,
    such as `../shared/data/shadertoys.jsonl.gz`; only its `in_shadereval` rows are used.
    """
    path = Path(source).expanduser()
    if path.is_file():  # the factory's rows do not carry `in_shadereval`, so this format is read here
        records, damaged = _shadereval_lines(path)
        if damaged:
            logger.warning("--shadereval %s: %d damaged lines skipped: %s", source, len(damaged),
                           "; ".join(damaged[:5]))
        found = [(str(r.get("id")), r["image_code"]) for r in records
                 if r.get("in_shadereval") and isinstance(r.get("image_code"), str)]
        if not found:
            raise SourceError(f"--shadereval {source}: no rows with in_shadereval true (the shared corpus format)")
        origin = f"corpus:{path.name}"
    else:
        from earthshader.data.sources import RowProblem

        hub_id = SHADEREVAL_HUB_ID if source == "hub" else source
        try:
            found = [(r.id, r.code) for r in read_source(hub_id, split="test") if not isinstance(r, RowProblem)]
        except SourceError as err:
            raise SourceError(f"--shadereval {source!r}: {err}. Or pass the local corpus: --shadereval "
                              "../shared/data/shadertoys.jsonl.gz, or --shadereval none") from err
        origin = f"hub:{hub_id}"
    programs, seen = [], set()
    for shader_id, code in found:  # the Hub dataset has one row per function: keep one per shader
        if shader_id not in seen:
            seen.add(shader_id)
            programs.append(Row(code=code, source=origin, id=shader_id))
    return programs


def _shadereval_lines(path: Path) -> tuple[list[dict], list[str]]:
    """The JSON objects of a corpus file, and "line N: reason" for each line that is not one (cut, not UTF-8)."""
    records, damaged = [], []
    opener = gzip.open if path.suffix == ".gz" else open
    number = 0
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as err:
                    damaged.append(f"line {number}: {err}")
                    continue
                if isinstance(record, dict):
                    records.append(record)
                else:
                    damaged.append(f"line {number}: not an object")
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        damaged.append(f"line {number + 1}: the file is cut short ({err})")
    return records, damaged


def require_programs(rows: list[Row], spec: str) -> list[Row]:
    """`rows`, when every one has a program to learn; else a `SourceError` (pictures cannot teach SFT)."""
    missing = sum(not r.code for r in rows)
    if missing:
        raise SourceError(f"{spec!r}: {missing} of {len(rows)} rows have no program (code); SFT needs (image, code) "
                          "pairs. Picture-only sets are targets for GRPO and evaluation")
    return rows


def to_sft_dataset(pairs: list[Row], size: int):
    """A `datasets.Dataset` of prompt / completion / image examples (plus `code`, `source`, `id`)."""
    import datasets

    rows = []
    for pair in pairs:
        example = prompts.make_example(pair.image, pair.code, size)
        rows.append({**example, "code": pair.code, "source": pair.source, "id": pair.id})
    features = None
    if rows:
        features = datasets.Features(
            {
                "prompt": [{"role": datasets.Value("string"),
                            "content": [{"type": datasets.Value("string"), "text": datasets.Value("string")}]}],
                "completion": [{"role": datasets.Value("string"), "content": datasets.Value("string")}],
                "image": datasets.Image(),
                "code": datasets.Value("string"),
                "source": datasets.Value("string"),
                "id": datasets.Value("string"),
            }
        )
    return datasets.Dataset.from_list(rows, features=features)


def drop_long_programs(pairs: list[Row], tokenizer, max_code_tokens: int) -> list[Row]:
    """Keep the pairs whose completion fits in `max_code_tokens` tokens (a cut program is a bad target)."""
    kept = [p for p in pairs if completion_tokens(tokenizer, p.code) <= max_code_tokens]
    if len(kept) < len(pairs):
        logger.info("dropped %d of %d programs longer than max_code_tokens=%d", len(pairs) - len(kept), len(pairs),
                    max_code_tokens)
    return kept


def completion_tokens(tokenizer, code: str) -> int:
    """Tokens of the completion for `code`, with the end-of-turn tokens the chat template adds."""
    return prompts.text_tokens(tokenizer, prompts.format_completion(code) + "<|im_end|>\n")
