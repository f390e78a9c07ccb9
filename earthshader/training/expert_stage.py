"""Expert iteration as a function: the model's best answers, their constants fitted by re-rendering, become its
next lessons.

    from earthshader.training import expert_stage
    from earthshader.training.recipes import recipe_arguments
    args = recipe_arguments("expert", "tiny", output_dir="runs/expert-mine", rounds=2)
    model_dir = expert_stage.run(*args)       # what `python -m earthshader.expert --recipe tiny ...` runs

Each round: for every training picture sample K programs, render them, take the best by the recipe's
objective through the evaluation's scorer, fit its constants (`earthshader.training.expert_iteration`, the one
answer pipeline), and keep the pair when it beats the mean-colour image by `margin` and re-renders to its
recorded score. Then SFT (`earthshader.training.sft_stage`'s
trainer, through `expert_learning`) on the kept pairs, the earlier rounds' pairs and some grammar-school
programs; the next round samples from the new model. After each round the held-out pictures are scored and
a rich table is printed. `time_limit_minutes` starts no round that would end past the limit; a killed run
resumes with `resume_from_checkpoint: true` (the run directory's layout: `earthshader.training.expert_runs`).
Returns the last round's model.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from earthshader import modeling
from earthshader.data.pictures import without_training_pictures
from earthshader.data.sources import SourceError
from earthshader.training import expert_learning as learning
from earthshader.training import expert_runs as runs
from earthshader.training.arguments import ExpertScriptArguments
from earthshader.training.recipes import check_model_exists
from earthshader.training.startup import begin

logger = logging.getLogger("earthshader.expert")


def load_pictures(args: ExpertScriptArguments, pool):
    """(training pictures, held-out pictures) through the one target loader; a held-out copy of a training
    picture is dropped from the held-out set, so that the held-out figures are on pictures never trained on."""
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


def run(script_args: ExpertScriptArguments, training_args, model_args) -> Path:
    """The rounds the arguments ask for (see the module docstring)."""
    from rich.console import Console

    from earthshader.render import RenderPool
    from earthshader.training.expert_iteration import check_teachers, collect_round
    from earthshader.training.saving import save_trained
    from earthshader.training.sft_stage import build_tiny_if_missing

    # 1. The backend, logging, the run directory
    run_start = begin(script_args, training_args, trainer_checkpoints=False)  # rounds resume from their records
    backend, resume = run_start.backend, run_start.resume
    check_teachers(script_args.teachers)
    run_dir, seed, console = Path(training_args.output_dir), training_args.seed, Console()
    build_tiny_if_missing(script_args, model_args)
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
