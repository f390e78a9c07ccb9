"""Look and fix's cold start: correction rows made with no labels, mixed into SFT, the loss on the fix only."""

from __future__ import annotations

import numpy as np
import pytest

from earthshader import sft
from earthshader.data.rows import generated_programs, render_targets
from earthshader.data.sources import SourceError
from earthshader.episodes.pairs import broken_programs, correction_rows
from earthshader.glsl.breakage import BREAKS, COMPILE_BREAKS
from earthshader.modeling import prompts
from earthshader.training import correction_examples, sft_stage


@pytest.fixture(scope="module")
def pairs():
    return render_targets(generated_programs(["textures"], 8, 0, 0), 84, workers=1)


def test_broken_programs_do_what_they_claim_and_make_rows_of_three_images(pairs, render_pool):
    cases, counts = broken_programs(pairs, 14, pool=render_pool, seed=0)
    assert len(cases) == 14 and {case.kind for case in cases} == set(BREAKS)
    assert sum(v for k, v in counts.items() if k.endswith(":kept")) == 14
    for case in cases:
        assert case.broken != case.code and (case.result.ok == (case.kind not in COMPILE_BREAKS)), case.kind
    rows = correction_rows(cases, image_size=84)
    for row, case in zip(rows, cases):
        user, answer, observation = row["prompt"]
        assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"]
        assert answer["content"][0]["text"] == prompts.format_completion(case.broken)
        assert row["completion"][0]["content"][0]["text"] == prompts.format_completion(case.code)
        assert all(isinstance(m["content"], list) for m in [*row["prompt"], *row["completion"]])
        assert [image.size for image in row["images"]] == [(84, 84)] * 3
        text = observation["content"][-1]["text"]
        assert ("Your program failed (compile):\nline " in text) == (case.kind in COMPILE_BREAKS), case.kind


def test_sft_mixes_correction_rows_and_trains_the_fix_only(small_tiny_model, tmp_path):
    """Through the SFT stage's own trainer (built, not trained): every row fits `max_length` whole, each image is
    its run of image tokens, and the loss covers the completion (the right program) and nothing of the prompt."""
    args = ["--recipe", "tiny", "--model_name_or_path", str(small_tiny_model), "--generated_examples", "8",
            "--correction_examples", "8", "--render_workers", "1", "--output_dir", str(tmp_path),
            "--save_strategy", "no"]
    script_args, training_args, model_args = sft.parse(args)
    trainer, _ = sft_stage.build_trainer(script_args, training_args, model_args, "cpu")
    dataset, processor = trainer.train_dataset, trainer.processing_class
    sources = [row["source"] for row in dataset]
    assert sum(s.startswith("correction:") for s in sources) == 8 and len(sources) == 8 + len(
        [s for s in sources if not s.startswith("correction:")])
    rows = [dataset[i] for i in range(len(dataset))]
    batch = trainer.data_collator(rows)
    image_id, eos = processor.image_token_id, processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert int(batch["attention_mask"].sum(dim=1).max()) <= training_args.max_length
    grids = iter(batch["image_grid_thw"].tolist())
    for i, row in enumerate(rows):
        ids, labels = batch["input_ids"][i], batch["labels"][i]
        expected = [int(np.prod(next(grids))) // 4 for _ in row["images"]]
        runs = [len(run) for run in "".join("x" if t == image_id else " " for t in ids.tolist()).split()]
        assert runs == expected == [prompts.image_tokens(84)] * len(row["images"])
        trained = processor.tokenizer.decode(ids[labels != -100])
        fix = row["completion"][0]["content"][0]["text"]
        assert trained.startswith(fix) and trained[len(fix):].strip() == "<|im_end|>", (trained, fix)
        assert int((labels == eos).sum()) == 1 and int(((labels != -100) & (ids == image_id)).sum()) == 0
    assert correction_examples.row_tokens(processor, rows[0]) <= training_args.max_length


def test_saved_correction_rows_load_back_and_a_wrong_folder_is_named(pairs, render_pool, tmp_path):
    cases, _ = broken_programs(pairs, 2, pool=render_pool, seed=1)
    rows = [{**row, "source": "correction:own-fix"} for row in correction_rows(cases, image_size=84)]
    folder = correction_examples.save_rows(rows, tmp_path / "fixes")
    back = correction_examples.load_rows(folder)
    assert [r["completion"][0]["content"][0]["text"] for r in back] == [
        r["completion"][0]["content"][0]["text"] for r in rows]
    assert [len(r["images"]) for r in back] == [3, 3]
    with pytest.raises(SourceError, match="--correction_dataset .*not a saved dataset"):
        correction_examples.load_rows(tmp_path / "nothing")


def test_the_models_own_sample_fixed_by_refinement_becomes_a_correction_row(pairs, render_pool):
    """Expert iteration's teacher samples (here: each program with its numbers moved), refines, keeps the fix."""
    from earthshader.glsl.breakage import break_program
    from earthshader.training.expert_iteration import RoundSettings

    targets = [p for p in pairs if "* " in p.code][:2]
    moved = {p.id: break_program(p.code, "numbers", np.random.default_rng(3)) for p in targets}

    def sampler(model, processor, images, k, **options):
        return [[prompts.format_completion(moved[t.id])] * k for t in targets]

    settings = RoundSettings(k=1, refine_budget=60, margin=-1.0)
    rows = correction_examples.own_fix_rows(None, None, targets, settings, pool=render_pool, image_size=84,
                                            sampler=sampler)
    assert rows and all(row["source"] == "correction:own-fix" for row in rows)
    for row in rows:
        sample = row["prompt"][1]["content"][0]["text"]
        fix = row["completion"][0]["content"][0]["text"]
        assert sample in [prompts.format_completion(m) for m in moved.values()] and fix != sample
        assert "Your render and its difference from the target: structure" in row["prompt"][2]["content"][-1]["text"]


@pytest.mark.slow
def test_the_cold_start_recipe_makes_the_tiny_models_own_fixes_from_the_command_line(small_tiny_model, tmp_path):
    """A tiny model that learnt one program (SFT on it: about a minute) answers a picture of that program with its
    numbers moved; `--own_fix_pictures` has the cold start's SFT stage sample it, refine the sample and mix the row
    "my sample, its render -> the refined program" in, saved for `correction_dataset`."""
    from PIL import Image

    from earthshader.data.generators import generate
    from earthshader.glsl.breakage import break_program
    from earthshader.render import render

    code = generate("textures", 3, difficulty=0).code
    learnt = sft.main(["--recipe", "tiny", "--model_name_or_path", str(small_tiny_model), "--output_dir",
                       str(tmp_path / "learnt"), "--generated_examples", "1", "--generator_seed", "3",
                       "--num_train_epochs", "80", "--per_device_train_batch_size", "1", "--learning_rate", "3e-3",
                       "--save_strategy", "no", "--warmup_steps", "0", "--logging_steps", "100"])
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    moved = break_program(code, "numbers", np.random.default_rng(3))
    Image.fromarray(render(moved, 84, 84).image).save(pictures / "moved.png")
    args = ["--recipe", "look-and-fix-tiny", "--model_name_or_path", str(learnt), "--generated_examples", "2",
            "--correction_examples", "0", "--own_fix_pictures", str(pictures), "--own_fix_samples", "4",
            "--own_fix_temperature", "0.5", "--own_fix_budget", "60", "--render_workers", "1", "--output_dir", str(tmp_path / "cold"),
            "--save_strategy", "no"]
    script_args, training_args, model_args = sft.parse(args)
    trainer, _ = sft_stage.build_trainer(script_args, training_args, model_args, "cpu")
    own = [row for row in trainer.train_dataset if row["source"] == "correction:own-fix"]
    assert len(own) == 1 and len(trainer.train_dataset) == 1 + len(
        [row for row in trainer.train_dataset if not row["source"].startswith("correction:")])
    sample = own[0]["prompt"][1]["content"][0]["text"]
    fix = own[0]["completion"][0]["content"][0]["text"]
    assert "mainImage" in sample and fix != sample
    assert own[0]["prompt"][2]["content"][-1]["text"].startswith("Your render and its difference from the target")
    saved = correction_examples.load_rows(tmp_path / "cold" / "own-fixes")  # for `correction_dataset`
    assert [row["completion"] for row in saved] == [own[0]["completion"]]


@pytest.mark.parametrize("flags, named", [(["--own_fix_pictures", "/no/such/pictures"], "--own_fix_pictures"),
                                          (["--own-fix-budget", "3"], "--own_fix_budget"),
                                          (["--own_fix_temperature", "0"], "--own_fix_temperature")])
def test_own_fix_flags_are_checked_before_anything_starts(flags, named, capsys):
    with pytest.raises(SystemExit) as exit:
        sft.parse(["--recipe", "look-and-fix-tiny", *flags])
    err = capsys.readouterr().err.strip()
    assert exit.value.code == 2 and len(err.splitlines()) == 1 and f"error: argument {named}:" in err
