"""Expert iteration: the model's best answers, their constants fitted by re-rendering, become its next lessons.

    python -m earthshader.expert --recipe tiny                   # the CPU demo (starts from runs/sft-tiny)
    python -m earthshader.expert --recipe tiny --rounds 2 --refine_budget 60 --targets_n 16
    python -m earthshader.expert --recipe tiny --resume_from_checkpoint true   # after a crash or kill -9
    python -m earthshader.logs runs/expert-tiny                  # the rounds table of a run

Each round: for every training picture sample K programs (the shared prompt and sampler), render them,
take the best by the evaluation's skill, fit its constants with `earthshader.refine`, and keep the pair
(picture, program) when it beats the mean-colour image by `margin` and re-renders to its recorded score.
Then SFT (`earthshader.sft`'s trainer) on the kept pairs, the earlier rounds' pairs and some
grammar-school programs; the next round samples from the new model. After each round the held-out
pictures are scored with `earthshader.evaluation.evaluate` and a rich table is printed.

A recipe (a name in `recipes/expert/` or a path) gives defaults to `ExpertScriptArguments`
(earthshader.training.arguments), TRL's `SFTConfig` (each round's SFT: epochs, learning rate, ...) and
TRL's `ModelConfig`; flags override it. The run directory's layout: `earthshader.training.expert_runs`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

from earthshader import modeling
from earthshader.cli import run_entry_point
from earthshader.data.pictures import without_training_pictures
from earthshader.data.sources import SourceError
from earthshader.training import expert_learning as learning
from earthshader.training import expert_runs as runs
from earthshader.training.arguments import ExpertScriptArguments
from earthshader.training.recipes import backend_from_argv, check_model_exists, parse_recipe_args

logger = logging.getLogger("earthshader.expert")

DEFAULT_RECIPE = "tiny"


def parse(argv: list[str]):
    """(script_args, training_args, model_args) from `--recipe` YAML plus command-line flags."""
    from trl import ModelConfig, SFTConfig

    return parse_recipe_args(argv, "expert", DEFAULT_RECIPE, (ExpertScriptArguments, SFTConfig, ModelConfig))


def load_pictures(args: ExpertScriptArguments, pool):
    """(training pictures, held-out pictures) through the one target loader; a held-out copy of a training
    picture is dropped from the held-out set, so that the held-out skill is on pictures never trained on."""
    from earthshader.evaluation import load_targets

    def load(source, split, n, start, judged):
        return load_targets(source, split=split, n=n, size=args.image_size, start=start, pool=pool,
                            difficulty=args.target_difficulty, seed=0, judged=judged)

    train = load(args.targets, args.targets_split, args.targets_n, args.targets_start, True)  # trained on: filtered
    heldout = load(args.heldout, args.heldout_split, args.heldout_n, args.heldout_start, False)
    kept = without_training_pictures(heldout, train)
    if not kept:
        raise SourceError(f"--heldout {args.heldout!r}: every one of its {len(heldout)} pictures is also a training "
                          f"picture (--targets {args.targets!r}): choose other --heldout flags")
    return train, kept


def main(argv: list[str] | None = None) -> Path:
    from rich.console import Console

    from earthshader import sft
    from earthshader.render import RenderPool
    from earthshader.training.expert_iteration import check_teachers, collect_round
    from earthshader.training.saving import save_trained

    argv = list(sys.argv[1:] if argv is None else argv)
    backend = modeling.select_backend(backend_from_argv(argv, "expert", DEFAULT_RECIPE))  # Unsloth first

    # 1. Arguments and the run directory
    script_args, training_args, model_args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    check_teachers(script_args.teachers)
    run_dir, seed, console = Path(training_args.output_dir), training_args.seed, Console()
    resume = str(training_args.resume_from_checkpoint).lower() == "true"
    sft.build_tiny_if_missing(script_args, model_args)
    check_model_exists(model_args.model_name_or_path)  # a missing runs/... folder: at once, not after the network

    with (RenderPool(workers=script_args.render_workers, timeout=script_args.render_timeout) as pool,
          contextlib.ExitStack() as stack):
        refiners = learning.refine_pools(script_args, pool, stack)
        # 2. Pictures (one loader for every source) and what earlier attempts finished
        train, heldout = load_pictures(script_args, pool)
        records = runs.prepare(run_dir, train, resume)
        policy = records[-1]["model"] if records else model_args.model_name_or_path
        if script_args.eval_start and not (run_dir / runs.START_FILE).is_file():
            start = learning.heldout_scores(policy, backend, script_args, heldout, seed, pool)
            runs.write_json(run_dir / runs.START_FILE, start)

        for r in range(len(records), script_args.rounds):
            if runs.over_time(records, script_args.time_limit_minutes):
                logger.info("stopping before round %d: the next round would pass time_limit_minutes", r)
                break
            # 3. Teach: sample, render, refine, verify (reused when a killed attempt finished it)
            model, processor = modeling.load_model(policy, backend)
            collected = runs.load_collected(run_dir, r)
            if collected is None:
                settings = learning.round_settings(script_args, seed, r)
                collected = collect_round(model, processor, train, settings, pool=pool, refine_pools=refiners)
                runs.save_collected(run_dir, r, collected, {"policy": policy})
            del model
            logger.info("round %d: kept %d of %d pictures %s", r, len(collected.pairs), len(train), collected.counts())

            # 4. Learn: SFT on the kept pairs (this round's and earlier ones') and grammar-school programs
            started, out = time.perf_counter(), runs.model_dir(run_dir, r)
            if not runs.model_saved(run_dir, r):  # else a killed attempt trained it already
                kept_so_far = runs.pairs_until(run_dir, r, script_args.replay)
                learned = learning.sft_pairs(kept_so_far, train, processor.tokenizer, script_args.max_code_tokens)
                grammar = learning.grammar_pairs(script_args, r, processor.tokenizer)
                learnt = {"expert_round": r, "expert_pairs": len(learned), "grammar_pairs": len(grammar),
                          "train_s": 0.0}
                if learned or grammar:
                    trainer, info, merged = learning.build_learner(script_args, training_args, model_args, backend,
                                                                   policy, learned + grammar, out)
                    trainer.train()
                    learnt["train_s"] = time.perf_counter() - started
                    save_trained(trainer, out, {**info, **learnt}, merged=merged)
                    del trainer
                else:
                    runs.write_json(out / modeling.RUN_INFO, {**modeling.read_run_info(policy), **learnt,
                                                                "unchanged_from": policy})
            learnt = modeling.read_run_info(out)
            policy = learnt.get("unchanged_from", str(out))

            # 5. Held-out pictures, the round's line (written last: the round is done), the table
            scores = learning.heldout_scores(policy, backend, script_args, heldout, seed, pool)
            records = runs.mark_done(run_dir, runs.round_record(r, collected, learnt, policy, scores))
            console.print(runs.view(run_dir))
    return Path(policy)


if __name__ == "__main__":
    run_entry_point(main)  # a bad recipe, run directory or picture source: one line, exit status 2
