"""Answering a picture: the programs K samples (or a library) offer, the best picked, its numbers refined,
kept only if it improves, the search as a fallback; each choice by an objective of the evaluation's scorer.

    from earthshader.answering.answer import answer          # the one pipeline (infer, expert's teacher, benchmarks)
    from earthshader.answering.search import search          # the model-free search baseline (eval's `--search`)
    from earthshader.answering.refine import refine          # CMA-ES over a program's float literals
    from earthshader.answering.trivial import trivial_answers  # the best straight gradient, shuffled pixels

Modules: `pick` (the steps: score, pick, refine if better), `refine`, `search`, `answer`, `trivial`. The
objectives (`structure`, `appearance`, `mix`) and the scorer live in `earthshader.evaluation`, below this
layer; the evaluation's runs and reports sit above it (docs/architecture.md). See docs/refine.md.
"""
