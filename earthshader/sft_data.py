"""Data for `earthshader.sft`: (image, program) pairs from the factory's datasets, the procedural generators, or
real Shadereval programs, turned into prompt / completion / image examples with the shared template.

    >>> from earthshader import sft_data
    >>> programs = sft_data.generated_programs(["textures"], 4000, difficulty=0)     # code, source, id
    >>> programs += sft_data.shadereval_programs("hub")     # or "../shared/data/shadertoys.jsonl.gz"
    >>> pairs = sft_data.render_targets(programs, size=84)  # drops compile failures and flat renders
    >>> dataset = sft_data.to_sft_dataset(pairs, size=84)   # prompt / completion / image (+ code, source)

Real programs come without a target image: they are rendered here (at `iTime` 0) and kept only when they
compile and draw something that is not a single colour, so the model never learns to answer a picture
with a program that draws another.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections import Counter
from pathlib import Path

from earthshader import prompts

logger = logging.getLogger(__name__)

#: The Hub dataset of the Shadereval benchmark's programs (one row per function; the id names the shader).
SHADEREVAL_HUB_ID = "Vipitis/Shadereval-inputs"


def generated_programs(groups: list[str], n: int, seed: int = 0, difficulty: int | None = None) -> list[dict]:
    """`n` programs from the generator groups (or families), seeds `seed..seed+n-1`, shared round-robin."""
    from earthshader.data.generators import generate

    programs = []
    for i in range(n):
        group = groups[i % len(groups)]
        sample = generate(group, seed + i, difficulty=difficulty)
        programs.append({"code": sample.code, "source": f"generator:{sample.family}", "id": f"{group}-{seed + i}",
                         "family": sample.family, "difficulty": sample.difficulty})
    return programs


def shadereval_programs(source: str = "hub") -> list[dict]:
    """The Shadereval programs, one per shader: from the Hub (`"hub"` or a Hub id) or a local corpus file.

    A local file is JSON lines (optionally gzipped) with `id`, `image_code` and `in_shadereval` fields,
    such as `../shared/data/shadertoys.jsonl.gz`; only its `in_shadereval` rows are used.
    """
    path = Path(source).expanduser()
    if path.is_file():  # the factory's rows do not carry `in_shadereval`, so this format is read here
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        rows = [(str(row["id"]), row["image_code"]) for row in rows if row.get("in_shadereval")]
        if not rows:
            raise ValueError(f"--shadereval {source}: no rows with in_shadereval true (the shared corpus format)")
        origin = f"corpus:{path.name}"
    else:
        from earthshader.data.sources import RowProblem, SourceError, read_source

        hub_id = SHADEREVAL_HUB_ID if source == "hub" else source
        try:
            rows = [(r.id, r.code) for r in read_source(hub_id, split="test") if not isinstance(r, RowProblem)]
        except SourceError as err:
            raise RuntimeError(
                f"--shadereval {source!r}: {err}. Or pass the local corpus: --shadereval "
                "../shared/data/shadertoys.jsonl.gz, or --shadereval none"
            ) from err
        origin = f"hub:{hub_id}"
    programs, seen = [], set()
    for shader_id, code in rows:  # the Hub dataset has one row per function: keep one per shader
        if shader_id not in seen:
            seen.add(shader_id)
            programs.append({"code": code, "source": origin, "id": shader_id})
    return programs


def render_targets(programs: list[dict], size: int, workers: int | None = None, timeout: float = 10.0) -> list[dict]:
    """Render each program at `image_size(size)` and keep what the data factory would keep (adds `image`).

    Dropped: render failures, and images the factory's filters reject (black, flat, almost one colour,
    white-noise-like, non-finite pixels: `earthshader.data.build.judge`).
    """
    from earthshader.data.build import Filters, judge
    from earthshader.render import RenderPool

    side = prompts.image_size(size)
    with RenderPool(workers=workers, timeout=timeout) as pool:
        results = pool.render_many([p["code"] for p in programs], width=side, height=side, time=0.0)
    kept, dropped, filters = [], Counter(), Filters()
    for program, result in zip(programs, results):
        reason = result.error.kind if not result.ok else judge(result.image, filters, result.nonfinite_fraction)[0]
        if reason is None:
            kept.append({**program, "image": result.image})
        else:
            dropped[reason] += 1
    logger.info("rendered %d programs at %d px: kept %d, dropped %s", len(programs), side, len(kept), dict(dropped))
    return kept


def load_factory_dataset(path: str, split: str = "train") -> list[dict]:
    """Pairs from a dataset written by the factory's build CLI (`datasets.save_to_disk`, columns image + code)."""
    import datasets

    if not Path(path).exists():
        raise FileNotFoundError(f"--dataset_path {path!r} does not exist (build one with the data factory's CLI)")
    data = datasets.load_from_disk(path)
    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise KeyError(f"--dataset_path {path!r} has splits {list(data)}, not {split!r}")
        data = data[split]
    missing = {"image", "code"} - set(data.column_names)
    if missing:
        raise KeyError(f"--dataset_path {path!r} lacks columns {sorted(missing)} (has {data.column_names})")
    return [{"image": row["image"], "code": row["code"], "source": row.get("source", "factory"),
             "id": str(row.get("id", i)), "difficulty": row.get("difficulty", -1)} for i, row in enumerate(data)]


def to_sft_dataset(pairs: list[dict], size: int):
    """A `datasets.Dataset` of prompt / completion / image examples (plus `code`, `source`, `id`)."""
    import datasets

    rows = []
    for pair in pairs:
        example = prompts.make_example(pair["image"], pair["code"], size)
        rows.append({**example, "code": pair["code"], "source": pair["source"], "id": pair["id"]})
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


def drop_long_programs(pairs: list[dict], tokenizer, max_code_tokens: int) -> list[dict]:
    """Keep the pairs whose completion fits in `max_code_tokens` tokens (a cut program is a bad target)."""
    kept = [p for p in pairs if completion_tokens(tokenizer, p["code"]) <= max_code_tokens]
    if len(kept) < len(pairs):
        logger.info("dropped %d of %d programs longer than max_code_tokens=%d", len(pairs) - len(kept), len(pairs),
                    max_code_tokens)
    return kept


def completion_tokens(tokenizer, code: str) -> int:
    """Tokens of the completion for `code`, with the end-of-turn tokens the chat template adds."""
    return len(tokenizer(prompts.format_completion(code) + "<|im_end|>\n", add_special_tokens=False).input_ids)


def prompt_tokens(processor, size: int) -> int:
    """Tokens of the rendered prompt, image placeholders expanded (`image_tokens(size)` of them)."""
    text = processor.apply_chat_template(prompts.make_prompt(), add_generation_prompt=True, tokenize=False)
    ids = processor.tokenizer(text, add_special_tokens=False).input_ids
    return len(ids) - 1 + prompts.image_tokens(size)  # the one <|image_pad|> becomes image_tokens(size)
