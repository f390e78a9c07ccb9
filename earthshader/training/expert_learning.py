"""Expert iteration's learning step and its bookkeeping: what SFT learns from, how it is built, the held-out score.

    from earthshader.training import expert_learning as learning
    settings = learning.round_settings(script_args, seed=0, round_index=2)    # the recipe -> RoundSettings
    pairs = learning.sft_pairs(kept, train, tokenizer, max_code_tokens=256)    # kept pairs -> SFT pairs
    pairs += learning.grammar_pairs(script_args, 2, tokenizer)                 # grammar-school programs
    trainer, info, merged = learning.build_learner(script_args, training_args, model_args, "cpu", policy,
                                                   pairs, out)                 # the SFT stage's trainer
    scores = learning.heldout_scores(policy, "cpu", script_args, heldout, seed=0, pool=pool)

`earthshader.training.expert_stage.run` (`python -m earthshader.expert`) calls these in order; docs/expert.md.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from pathlib import Path

from earthshader import modeling
from earthshader.training.arguments import ExpertScriptArguments


def round_settings(args: ExpertScriptArguments, seed: int, round_index: int):
    """The recipe's sampling, refinement and keeping fields for one round (sampling seeded by seed and round)."""
    from earthshader.training.expert_iteration import RoundSettings

    return RoundSettings(k=args.samples_per_picture, temperature=args.sample_temperature, top_p=args.sample_top_p,
                         max_new_tokens=args.max_new_tokens, batch_size=args.generation_batch_size,
                         refine_budget=args.refine_budget, search_budget=args.search_budget, margin=args.margin,
                         tolerance=args.rerender_tolerance,
                         seed=seed * 1000 + round_index, teachers=list(args.teachers), objective=args.objective)


def refine_pools(args: ExpertScriptArguments, pool, stack: contextlib.ExitStack) -> list:
    """The render pools refinement runs on: `pool`, or `refine_parallel` pools sharing its workers."""
    from earthshader.render import RenderPool
    from earthshader.render.pool import default_workers

    if args.refine_parallel <= 1:
        return [pool]
    workers = max(1, (args.render_workers or default_workers()) // args.refine_parallel)
    return [stack.enter_context(RenderPool(workers=workers, timeout=args.render_timeout))
            for _ in range(args.refine_parallel)]


def grammar_pairs(args: ExpertScriptArguments, round_index: int, tokenizer) -> list[dict]:
    """The grammar-school programs mixed into a round's SFT (none when the recipe names no source)."""
    from earthshader.training import sft_stage

    if not (args.dataset_path or (args.generators and args.generated_examples > 0) or args.shadereval):
        return []
    shift = round_index * args.generated_examples if args.grammar_every_round else 0
    return sft_stage.load_pairs(dataclasses.replace(args, generator_seed=args.generator_seed + shift), tokenizer)


def sft_pairs(kept: list[dict], train, tokenizer, max_code_tokens: int) -> list:
    """Kept pairs as SFT's rows (image, code, source, id), the picture taken from `train`; long programs dropped."""
    from earthshader.data.rows import Row
    from earthshader.training import sft_examples

    pairs = [Row(image=train[p["picture"]].image, code=p["code"], id=p["id"], source=f"expert:{p['teacher']}")
             for p in kept]
    return sft_examples.drop_long_programs(pairs, tokenizer, max_code_tokens)


def build_learner(script_args, training_args, model_args, backend: str, policy: str, pairs: list[dict], out: Path):
    """`(trainer, info, merged)`: the SFT stage's trainer on `pairs`, fine-tuning the model at `policy`.

    The policy is loaded by the one policy loader (`earthshader.training.policy.load_policy`): a LoRA adapter
    is merged and a fresh LoRA goes on top on the CPU (`merged`: the model is then saved whole), or trained on
    on a GPU.
    """
    from earthshader.training import sft_stage
    from earthshader.training.policy import load_policy

    model_args = copy.copy(model_args)
    model_args.model_name_or_path = policy
    loaded = load_policy(model_args, backend)
    args = copy.deepcopy(training_args)
    args.output_dir, args.resume_from_checkpoint = str(out), None
    trainer, info = sft_stage.build_trainer(script_args, args, model_args, backend, pairs=pairs, policy=loaded)
    return trainer, info, loaded.merged


def heldout_scores(policy: str, backend: str, args: ExpertScriptArguments, heldout, seed: int, pool) -> dict:
    """The evaluation's summary of the model at `policy` on the held-out pictures (greedy unless eval_samples): both
    figures, SSIM, compile and non-flat rates; with eval_samples > 1 both figures of the best of K by the
    recipe's objective."""
    from earthshader.evaluation.run import evaluate

    started = time.perf_counter()
    model, processor = modeling.load_model(policy, backend)
    report = evaluate(model, processor, heldout, samples=args.eval_samples, max_new_tokens=args.max_new_tokens,
                      seed=seed, batch_size=args.generation_batch_size, pool=pool, labels=False,
                      objective=args.objective)
    s = report.summary
    scores = {k: s.get(k) for k in ("structure", "appearance", "ssim", "compile_rate", "nonflat_rate", "n_targets")}
    if args.eval_samples > 1:
        scores |= {f"best_of_k_{figure}": report.best_of_k.get(figure) for figure in ("structure", "appearance")}
    return {**scores, "eval_s": time.perf_counter() - started}
