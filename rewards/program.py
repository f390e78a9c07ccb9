"""Rewards on the program itself: `compiles` (renders at all), `format` and `length` (text only).

    from rewards.program import CompilesReward, FormatReward, LengthReward

    compiles = CompilesReward(graded=True)
    compiles(prompts=prompts, completions=completions, image=images)   # [1.0, 0.25, ...]
    LengthReward(budget=1500)(completions=completions)                  # [1.0, 0.4, ...]
"""

from __future__ import annotations

from earthshader.image.metrics import is_flat
from rewards.base import RenderReward, TextReward
from rewards.builtin import builtin_reward


@builtin_reward
class CompilesReward(RenderReward):
    """1 if the extracted shader compiles and renders, else 0. Range [0, 1].

    With `graded=True`, partial credit on the way there:
    0 no code (or rejected input), 0.25 compile error, 0.5 compiled but failed while rendering (loop limit,
    timeout, crash), 0.75 rendered a flat image or NaN / infinite colours, 1 a finite, non-flat image.
    Renders at the target's size (shared with the similarity rewards' render); without an `image`
    column, at `size` (default 64) pixels.

    Example: "```glsl\\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(p.x / 64.0); }\\n```" -> 1.0,
    "hello" -> 0.0 (graded: 0.0), "void mainImage(out vec4 c, in vec2 p) { c = 1; }" -> 0.0 (graded: 0.25).
    """

    name = "compiles"
    needs_target = False

    def __init__(self, graded: bool = False, size=None, cache=None, parallel_scoring: bool = False):
        super().__init__(size=size, cache=cache, parallel_scoring=parallel_scoring)
        self.graded = graded

    def score_result(self, result, target):
        if not self.graded:
            return 1.0 if result.ok else 0.0
        if result.ok:
            frames = result.frames or [result.image]
            if result.nonfinite_fraction > 0 or all(is_flat(frame) for frame in frames):
                return 0.75
            return 1.0
        return {"compile": 0.25, "loop_limit": 0.5, "timeout": 0.5, "crash": 0.5, "gl": 0.5}.get(result.error_kind, 0.0)


@builtin_reward
class FormatReward(TextReward):
    """1 for the answer the prompt asks for: one closed ```glsl (or plain / c) block defining `mainImage`.
    Range [0, 1].

    0.5 when a `mainImage` program is there but the form is off (no fence, several blocks, a fence
    left open or braces unbalanced by a cut-off); 0 when no `mainImage` is defined. Prose around the
    block is allowed.

    Example: "Here:\\n```glsl\\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(1); }\\n```" -> 1.0;
    the same code without the fence -> 0.5; "```glsl\\nfloat f;\\n```" -> 0.0.
    """

    name = "format"

    def score_shader(self, shader, row):
        if shader.well_formed:
            return 1.0
        return 0.5 if shader.ok else 0.0


@builtin_reward
class LengthReward(TextReward):
    """Shorter programs: 1 up to a budget of characters, falling linearly to 0 at twice the budget.
    Range [0, 1].

    The budget is `reference_factor` times the length of the reference program (the `code` column,
    when the dataset has one and `reference_factor` is set), at least `min_budget`; otherwise `budget`.
    Counted on the extracted code. No code, or a completion cut off by the length limit: 0.

    Example (budget 1000): 800 characters -> 1.0, 1500 -> 0.5, 2000 or more -> 0.0.
    """

    name = "length"

    def __init__(self, budget: int = 1500, reference_factor: float | None = 1.5, min_budget: int = 200):
        super().__init__()
        if budget <= 0 or min_budget <= 0 or (reference_factor is not None and reference_factor <= 0):
            raise ValueError(f"length budgets must be positive, got {budget=}, {min_budget=}, {reference_factor=}")
        self.budget = budget
        self.reference_factor = reference_factor
        self.min_budget = min_budget

    def budget_for(self, row: dict) -> float:
        """The character budget for one completion's row."""
        reference = row.get("code")
        if self.reference_factor is not None and isinstance(reference, str) and reference.strip():
            return max(float(self.min_budget), self.reference_factor * len(reference.strip()))
        return float(self.budget)

    def score_shader(self, shader, row):
        if not shader.code or shader.truncated:
            return 0.0
        budget = self.budget_for(row)
        return float(min(1.0, max(0.0, 2.0 - len(shader.code) / budget)))
