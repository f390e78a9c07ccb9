"""SFT's side of look and fix's cold start: correction rows mixed with the ordinary examples, and the model's own
fixed samples.

    from earthshader.training import correction_examples
    dataset, max_length = correction_examples.mixed_dataset(pairs, script_args, processor)   # SFT's data
    rows = correction_examples.own_fix_rows(model, processor, targets, settings, pool=pool, image_size=84)
    correction_examples.save_rows(rows, "runs/own-fixes")      # then `correction_dataset: runs/own-fixes`
    # or from a recipe: `own_fix_pictures: PICTURES` (the starting model answers them; `recipe_own_fixes`)

`mixed_dataset` turns the recipe's (image, program) pairs into single-turn rows and adds
`correction_examples` rows made by breaking those programs (`earthshader.episodes.pairs`), the starting model's
own fixes on `own_fix_pictures` (`recipe_own_fixes`), and the rows saved in `correction_dataset`, shuffled with
the run's seed: every row has `prompt`, `completion` (the right
program: TRL's loss covers it alone), `images` (target, then the observation's render and difference map) and
`source`. `max_length` is the longest row's tokens, image placeholders expanded, so that truncation never
cuts a fix (TRL's collator truncates after joining prompt and completion).

`own_fix_rows` asks expert iteration's teacher (`earthshader.training.expert_iteration.collect_round`: sample K
programs per picture, keep the best, refine its numbers by re-rendering) and keeps each picture whose refined
program beat the sample: "this picture, my sample, its render -> the refined program". No label is needed:
the target picture is the only supervision. It is the one place look and fix calls refinement.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from earthshader.data.sources import SourceError
from earthshader.episodes import pairs as correction_pairs
from earthshader.episodes.observation import TargetFigures, observe
from earthshader.modeling import prompts

logger = logging.getLogger("earthshader.sft")

#: The columns of every row `mixed_dataset` trains on.
COLUMNS = ("prompt", "completion", "images", "source")


def mixed_dataset(pairs, script_args, processor, *, model=None, own_fix_folder: str | Path | None = None):
    """(a `datasets.Dataset` of single-turn and correction rows, the tokens of its longest row): see the module
    docstring. `pairs` are rendered (image, program) rows, `script_args` an `SFTScriptArguments`; with
    `own_fix_pictures`, `model` (the starting model) answers them and `own_fix_folder` keeps the rows made
    (`recipe_own_fixes`)."""
    import datasets

    from earthshader.render import RenderPool

    size = script_args.image_size
    rows = [{**correction_pairs.single_turn_row(p.image, p.code, image_size=size), "source": p.source} for p in pairs]
    made, own = [], []
    if script_args.correction_examples or script_args.own_fix_pictures:
        with RenderPool(workers=script_args.render_workers) as pool:
            if script_args.correction_examples:
                cases, counts = correction_pairs.broken_programs(pairs, script_args.correction_examples, pool=pool,
                                                                 seed=script_args.generator_seed,
                                                                 breaks=tuple(script_args.correction_breaks))
                made = correction_pairs.correction_rows(cases, image_size=size,
                                                        observation_size=script_args.observation_image_size)
                logger.info("%d correction rows made of %d asked: %s", len(made), script_args.correction_examples,
                            ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            if script_args.own_fix_pictures:
                own = recipe_own_fixes(model, processor, script_args, pool=pool, folder=own_fix_folder)
    saved = load_rows(script_args.correction_dataset) if script_args.correction_dataset else []
    corrections = made + own + saved
    rows += corrections
    random.Random(script_args.generator_seed).shuffle(rows)
    logger.info("SFT rows: %d single-turn, %d correction (%.0f%% of the mix)", len(rows) - len(corrections),
                len(corrections), 100 * len(corrections) / max(1, len(rows)))
    longest = max(row_tokens(processor, row) for row in rows)
    return datasets.Dataset.from_list(rows), longest


def recipe_own_fixes(model, processor, script_args, *, pool, folder: str | Path | None = None) -> list[dict]:
    """The recipe's own fixes (`own_fix_pictures`, `own_fix_n`, `own_fix_samples`, `own_fix_temperature`,
    `own_fix_budget`): the rows of
    `own_fix_rows` for `model` on those pictures (the training filter on, as expert iteration's pictures have it),
    sampled with the run's `generator_seed`, up to `max_code_tokens` a program. Saved to `folder`, and read back
    from it when it holds them already (a resumed run does not sample again)."""
    from earthshader.data.rows import load_rows as load_pictures
    from earthshader.training.expert_iteration import RoundSettings

    if folder is not None and (Path(folder) / "dataset_info.json").exists():
        rows = load_rows(folder)
        logger.info("own fixes: %d rows read back from %s", len(rows), folder)
        return rows
    size = script_args.image_size
    targets = load_pictures(script_args.own_fix_pictures, split="train", size=size, n=script_args.own_fix_n,
                            seed=script_args.generator_seed, pool=pool, judged=True)
    settings = RoundSettings(k=script_args.own_fix_samples, temperature=script_args.own_fix_temperature,
                             max_new_tokens=script_args.max_code_tokens, refine_budget=script_args.own_fix_budget,
                             seed=script_args.generator_seed)
    rows = own_fix_rows(model, processor, targets, settings, pool=pool, image_size=size,
                        observation_size=script_args.observation_image_size)
    if folder is not None and rows:
        save_rows(rows, folder)
        logger.info("own fixes saved to %s (correction_dataset for another run)", folder)
    return rows


def row_tokens(processor, row: dict) -> int:
    """Tokens of a row's prompt and completion as the chat template renders them, each image placeholder
    expanded to its image's tokens (`prompts.image_tokens` of its side)."""
    text = processor.apply_chat_template([*row["prompt"], *row["completion"]], tokenize=False)
    images = sum(prompts.image_tokens(image.size[0]) - 1 for image in row["images"])
    return prompts.text_tokens(processor.tokenizer, text) + images


def own_fix_rows(model, processor, targets, settings, *, pool, image_size: int,
                 observation_size: int | None = None, sampler=None) -> list[dict]:
    """Correction rows from the model's own samples that refinement fixed (module docstring). `targets` are
    evaluation targets (`.image`, `.time`, `.id`), `settings` expert iteration's `RoundSettings`; `sampler`
    stands in for the model's sampling (`collect_round`'s)."""
    from earthshader.training.expert_iteration import collect_round

    collected = collect_round(model, processor, targets, settings, pool=pool, sampler=sampler)
    fixed = [p for p in collected.pairs if p.get("refined") and p.get("sample_code")]
    side = prompts.observation_image_size(image_size, observation_size)
    rows = []
    for pair in fixed:
        target = targets[pair["picture"]]
        height, width = target.image.shape[:2]
        result = pool.render_many([pair["sample_code"]], width=width, height=height, time=target.time)[0]
        observation = observe(target.image, pair["sample_code"], result, TargetFigures.of(target.image), size=side)
        row = correction_pairs.correction_row(target.image, prompts.format_completion(pair["sample_code"]),
                                              observation, pair["code"], image_size=image_size)
        rows.append({**row, "source": "correction:own-fix"})
    logger.info("own fixes: %d of %d pictures (%s)", len(rows), len(targets),
                ", ".join(f"{k} {v}" for k, v in collected.counts().items()))
    return rows


def save_rows(rows: list[dict], folder: str | Path) -> Path:
    """Correction rows saved as a `datasets` folder, for `correction_dataset`."""
    import datasets

    datasets.Dataset.from_list([{k: row[k] for k in COLUMNS} for row in rows]).save_to_disk(str(folder))
    return Path(folder)


def load_rows(folder: str | Path) -> list[dict]:
    """The rows `save_rows` wrote; a `SourceError` naming the folder when it holds something else."""
    import datasets

    try:
        dataset = datasets.load_from_disk(str(folder))
    except (FileNotFoundError, ValueError) as error:
        raise SourceError(f"--correction_dataset {folder}: not a saved dataset of correction rows ({error})") from None
    missing = [c for c in COLUMNS if c not in dataset.column_names]
    if missing:
        raise SourceError(f"--correction_dataset {folder}: no column {', '.join(missing)}; it holds "
                          f"{', '.join(dataset.column_names)}")
    return [{k: row[k] for k in COLUMNS} for row in dataset]
