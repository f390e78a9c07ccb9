"""The cold start the system makes itself: correction rows with no labels, for SFT.

    from earthshader.episodes.pairs import broken_programs, correction_rows
    cases = broken_programs(pairs, n=64, pool=pool, seed=0)      # (pair, kind, broken code, render) that break
    rows = correction_rows(cases, image_size=84)                 # TRL prompt / completion / images rows

A known program (a generator's, a kept expert pair) is broken as a model breaks one
(`earthshader.glsl.breakage`: a compile error, a wrong colour, a wrong frequency, moved numbers), the broken
copy is rendered, and the row teaches "this target, this answer, this observation -> the right program":

    prompt     = [user: target + instruction, assistant: the broken program, user: observation]
    completion = [assistant: the right program]
    images     = [target, render, difference map]

With prompt / completion rows TRL's SFT computes the loss on the completion only: the fix, never the broken
program (tests/test_episodes_pairs.py). Every message's content is a list of blocks (Arrow stores no column
that mixes strings and lists), and the observation is a user turn, as the agent template shows it in GRPO.
A break is kept only when it does what it claims: a compile break must fail to render, a look break must
render something visibly different from the target (`MIN_VISIBLE_CHANGE`). `correction_row` builds one row
from any first answer and its fix (the model's own rejected samples: `earthshader.training.correction_examples`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from earthshader.episodes.observation import Observation, TargetFigures, observe
from earthshader.glsl.breakage import BREAKS, COMPILE_BREAKS, break_program
from earthshader.modeling import prompts

#: A look break must move the render by at least this many grey levels on average (else it teaches nothing).
MIN_VISIBLE_CHANGE = 2.0


@dataclass
class BrokenCase:
    """A right program, one broken copy of it (`kind`), and what the broken copy rendered."""

    target: np.ndarray
    code: str
    kind: str
    broken: str
    result: object


def broken_programs(pairs, n: int, *, pool, seed: int = 0, breaks=BREAKS) -> tuple[list[BrokenCase], dict]:
    """Up to `n` broken copies of the pairs' programs (each pair has `.image`, its render, and `.code`), and counts
    per "kind:outcome". Kinds are taken in turn, pairs in an order drawn with `seed`; up to `2 n` drafts are
    rendered so that breaks with no effect can be dropped ("no effect"), drafts left over are "spare", and a break
    that finds no place in a program is "not applicable"."""
    unknown = [kind for kind in breaks if kind not in BREAKS]
    if unknown or not breaks:
        raise ValueError(f"unknown breaks {unknown}; breaks: {', '.join(BREAKS)}")
    pairs = [p for p in pairs if p.code]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs)) if pairs else []
    drafts, counts = [], {}
    for k in range(4 * n if pairs else 0):
        if len(drafts) >= 2 * n:
            break
        pair, kind = pairs[order[k % len(pairs)]], breaks[k % len(breaks)]
        broken = break_program(pair.code, kind, rng)
        if broken is None:
            counts[f"{kind}:not applicable"] = counts.get(f"{kind}:not applicable", 0) + 1
        else:
            drafts.append((np.asarray(pair.image), pair.code, kind, broken))
    results: list = [None] * len(drafts)
    for shape in {draft[0].shape[:2] for draft in drafts}:
        indices = [i for i, draft in enumerate(drafts) if draft[0].shape[:2] == shape]
        rendered = pool.render_many([drafts[i][3] for i in indices], width=shape[1], height=shape[0])
        for i, result in zip(indices, rendered):
            results[i] = result
    cases = []
    for (target, code, kind, broken), result in zip(drafts, results):
        works = _does_what_it_claims(kind, target, result)
        outcome = "no effect" if not works else "kept" if len(cases) < n else "spare"
        if outcome == "kept":
            cases.append(BrokenCase(target, code, kind, broken, result))
        counts[f"{kind}:{outcome}"] = counts.get(f"{kind}:{outcome}", 0) + 1
    return cases, counts


def _does_what_it_claims(kind: str, target: np.ndarray, result) -> bool:
    if kind in COMPILE_BREAKS:
        return not result.ok
    if not result.ok:
        return False
    return float(np.abs(result.image.astype(np.int16) - target.astype(np.int16)).mean()) >= MIN_VISIBLE_CHANGE


def correction_prompt(target, first_answer: str, observation: Observation, *, image_size: int) -> dict:
    """The prompt of a correction turn: the target and instruction, `first_answer` as the assistant's turn, its
    `observation` as a user turn; `images` fill the placeholders in order (target, render, difference map)."""
    return {"prompt": [*prompts.make_prompt(), prompts.make_answer_turn(first_answer),
                       prompts.make_observation_turn(observation.text, len(observation.images))],
            "images": [prompts.prepare_image(target, image_size), *observation.images]}


def correction_row(target, first_answer: str, observation: Observation, fix_code: str, *, image_size: int) -> dict:
    """One SFT row: `correction_prompt`, then `fix_code` as the completion."""
    return {**correction_prompt(target, first_answer, observation, image_size=image_size),
            "completion": [prompts.make_answer_turn(prompts.format_completion(fix_code))]}


def correction_rows(cases: list[BrokenCase], *, image_size: int, observation_size: int | None = None) -> list[dict]:
    """The SFT row of every broken case (its observation built by `observe`, the right program its completion)."""
    side = prompts.observation_image_size(image_size, observation_size)
    rows = []
    for case in cases:
        observation = observe(case.target, case.broken, case.result, TargetFigures.of(case.target), size=side)
        row = correction_row(case.target, prompts.format_completion(case.broken), observation, case.code,
                             image_size=image_size)
        rows.append({**row, "source": f"correction:{case.kind}"})
    return rows


def single_turn_row(image, code: str, *, image_size: int) -> dict:
    """An ordinary (image, program) SFT example in the correction rows' form: `images` and list contents."""
    return {"prompt": prompts.make_prompt(), "completion": [prompts.make_answer_turn(prompts.format_completion(code))],
            "images": [prompts.prepare_image(image, image_size)]}
