"""The arguments SFT, GRPO and expert iteration share, one name per field; each stage's own fields extend them.

A recipe YAML fills these next to TRL's `SFTConfig` / `GRPOConfig` and `ModelConfig` (see
`earthshader.training.recipes.parse_recipe_args`); every field is also a flag, spelt with underscores
(`--generated_examples 64`) or hyphens (`--generated-examples 64`).

    >>> args = GRPOScriptArguments(generators=["textures"], generated_examples=8)
    >>> args.generator_seed, args.image_size
    (500000, 224)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from earthshader.cli import (
    MAX_SIDE,
    check_fields,
    int_range,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from earthshader.evaluation.objectives import OBJECTIVES


@dataclass
class ScriptArguments:
    """Where the model comes from and what data it learns from."""

    backend: str = field(default="auto", metadata={"help": "auto, unsloth, bnb or cpu (see earthshader.modeling)"})
    image_size: int = field(default=224, metadata={"help": "square side of images and renders (multiple of 28)"})
    dataset_path: str | None = field(default=None, metadata={
        "help": "a dataset saved by the data factory's CLI, or any source of earthshader.data.rows.load_rows "
                "(GRPO: a picture folder, crops:..., skimage:..., renders:...; docs/pictures.md)"})
    dataset_split: str = field(default="train", metadata={"help": "split of dataset_path"})
    generators: list[str] = field(default_factory=list,
                                  metadata={"help": "generator groups or families to draw programs from, "
                                                    "e.g. textures"})
    generated_examples: int = field(default=0, metadata={"help": "how many generated programs (before filtering)"})
    generator_difficulty: int | None = field(default=None, metadata={"help": "one difficulty level, or all"})
    generator_seed: int = field(default=0, metadata={"help": "first seed (evaluation uses seeds from 1000000)"})
    render_workers: int | None = field(default=None, metadata={"help": "render processes (default: all cores)"})
    time_limit_minutes: float = field(default=0.0, metadata={
        "help": "start no training step (SFT, GRPO) or round (expert iteration) that would end after this many "
                "minutes of them (0: no limit); earthshader.training.time_limit"})
    observation_image_size: int | None = field(default=None, metadata={
        "help": "look and fix: side of an observation's render and difference map (default: image_size up to "
                "224; docs/look-and-fix.md)"})

    def __post_init__(self):
        from earthshader.data.rows import picture_spec  # the one check of a picture set, as every stage's

        check_fields(self, image_size=int_range(1, MAX_SIDE), generated_examples=non_negative_int,
                     generator_difficulty=non_negative_int, generator_seed=non_negative_int,
                     render_workers=positive_int, dataset_path=picture_spec,
                     time_limit_minutes=non_negative_float, observation_image_size=int_range(1, MAX_SIDE))


@dataclass
class SFTScriptArguments(ScriptArguments):
    """SFT's own: the tiny model, the Shadertoy corpus, long programs."""

    build_tiny_model: str | None = field(
        default=None,
        metadata={"help": "qwen2-vl or qwen2.5-vl: build the tiny model at model_name_or_path if missing"})
    shadereval: str | None = field(
        default=None, metadata={"help": "'hub' (Vipitis/Shadereval-inputs), a local corpus .jsonl(.gz), or none"})
    max_code_tokens: int = field(default=1024, metadata={"help": "drop programs longer than this (in tokens)"})
    correction_examples: int = field(default=0, metadata={
        "help": "look and fix's cold start: this many correction rows (target + a broken copy of a program + its "
                "observation -> the program) made from the recipe's programs and mixed in; the share they make "
                "of the mix is logged (docs/look-and-fix.md)"})
    correction_breaks: list[str] = field(default_factory=lambda: list(_breaks()), metadata={
        "help": "how correction rows break programs (earthshader.glsl.breakage.BREAKS)"})
    correction_dataset: str | None = field(default=None, metadata={
        "help": "a folder of saved correction rows to mix in (earthshader.training.correction_examples.save_rows: "
                "the model's own fixed samples)"})
    own_fix_pictures: str | None = field(default=None, metadata={
        "help": "look and fix's cold start: pictures (any picture set, docs/pictures.md) the starting model answers "
                "with own_fix_samples programs each; where refinement improves its best sample, the row 'my sample, "
                "its render -> the refined program' is mixed in, and the rows are saved to OUTPUT_DIR/own-fixes"})
    own_fix_n: int | None = field(default=None, metadata={"help": "at most this many of own_fix_pictures"})
    own_fix_samples: int = field(default=4, metadata={"help": "programs sampled per own_fix_pictures picture"})
    own_fix_temperature: float = field(default=1.0, metadata={"help": "sampling temperature of those programs"})
    own_fix_budget: int = field(default=60, metadata={"help": "refinement renders per own_fix_pictures picture"})

    def __post_init__(self):
        from earthshader.answering.refine import MIN_BUDGET
        from earthshader.data.rows import picture_spec

        super().__post_init__()
        check_fields(self, max_code_tokens=positive_int, correction_examples=non_negative_int,
                     own_fix_pictures=picture_spec, own_fix_n=positive_int, own_fix_samples=positive_int,
                     own_fix_temperature=positive_float, own_fix_budget=int_range(MIN_BUDGET))
        unknown = [name for name in self.correction_breaks if name not in _breaks()]
        if unknown or not self.correction_breaks:
            raise ValueError(f"argument --correction_breaks: {unknown or 'none given'}; valid: {', '.join(_breaks())}")
        if self.shadereval in ("none", "null", ""):  # a recipe or flag that turns the corpus off
            self.shadereval = None


def _breaks() -> tuple[str, ...]:
    from earthshader.glsl.breakage import BREAKS

    return BREAKS


def _default_reward_funcs() -> list[str]:
    from rewards import DEFAULT_REWARD_MIX

    return list(DEFAULT_REWARD_MIX)


@dataclass
class GRPOScriptArguments(ScriptArguments):
    """GRPO's own: rewards, ordering, rendering, logging."""

    generator_seed: int = field(default=500_000, metadata={"help": "first seed (away from SFT's and evaluation's)"})
    reward_funcs: list[str] = field(default_factory=_default_reward_funcs,
                                    metadata={"help": "reward names, dotted paths or plugin names "
                                                      "(default: rewards.DEFAULT_REWARD_MIX)"})
    reward_kwargs: str = field(default="{}",
                               metadata={"help": 'JSON options per reward, e.g. {"length": {"budget": 400}}'})
    curriculum: bool = field(default=False, metadata={"help": "order targets by rising difficulty (no shuffling)"})
    render_timeout: float = field(default=5.0, metadata={"help": "seconds one completion may take to render"})
    grid_every: int = field(default=10, metadata={"help": "save a PNG grid of renders every N steps (0: never)"})
    negative_advantage_scale: float = field(
        default=1.0, metadata={"help": "multiply negative advantages by this (1: plain GRPO; 0: learn only from "
                                       "better-than-average samples); docs/grpo.md"})
    select_hard_targets: bool = field(
        default=False, metadata={"help": "before training, keep only the targets whose sampled rewards have a spread "
                                         "and a low mean (earthshader.training.hard_targets)"})
    selection_samples: int = field(default=4, metadata={"help": "completions a candidate target gets for selection"})
    selection_max_mean_reward: float | None = field(
        default=None, metadata={"help": "keep targets whose mean total reward is below this (default: the median "
                                        "mean of the targets with a spread: the weaker half of them)"})
    selection_min_reward_std: float = field(
        default=0.01, metadata={"help": "keep targets whose total reward's std over the samples exceeds this"})
    max_turns: int = field(default=1, metadata={
        "help": "look and fix: turns per episode (1: one answer, as always; 2: the model sees its render and "
                "answers again); docs/look-and-fix.md"})
    improvement_weight: float = field(default=0.0, metadata={
        "help": "max_turns > 1: weight of the `improvement` reward (last turn's figure less turn 1's; 0: logged "
                "only)"})
    first_turn_weight: float = field(default=0.0, metadata={
        "help": "max_turns > 1: weight of the `first_turn` reward (turn 1's figure; 0: not added). Above "
                "improvement_weight, a worse first answer no longer pays (earthshader.episodes.improvement)"})
    second_turn_samples: int = field(default=0, metadata={
        "help": "train the correction turn alone (max_turns 1): before training the starting model answers each "
                "target this many times (at `temperature`, as GRPO samples), and every prompt is a target, one of "
                "those answers and its observation (earthshader.episodes.second_turn; 0: off)"})

    def __post_init__(self):
        from earthshader.episodes.runner import MAX_TURNS

        super().__post_init__()
        check_fields(self, render_timeout=positive_float, grid_every=non_negative_int,
                     negative_advantage_scale=non_negative_float, selection_samples=int_range(2),
                     max_turns=int_range(1, MAX_TURNS), improvement_weight=non_negative_float,
                     first_turn_weight=non_negative_float, second_turn_samples=non_negative_int)
        if self.second_turn_samples and self.max_turns > 1:
            raise ValueError(f"argument --second_turn_samples: trains the correction turn alone, as one answer; "
                             f"set --max_turns 1 (got {self.max_turns})")


def reward_weights(names: list[str], weights: list[float] | None) -> list[float]:
    """The weights of `names`: the given ones, else `rewards.DEFAULT_REWARD_MIX`'s (1.0 for other rewards).

    >>> reward_weights(["ssim", "my_plugin"], None)
    [1.0, 1.0]
    >>> reward_weights(["compiles", "length"], None)
    [0.5, 0.1]
    """
    from rewards import DEFAULT_REWARD_MIX

    if weights:
        return list(weights)
    return [DEFAULT_REWARD_MIX.get(name, 1.0) for name in names]


@dataclass
class ExpertScriptArguments(SFTScriptArguments):
    """Expert iteration's own (docs/expert.md): the pictures, the teacher, the rounds.

    The inherited data fields (`generators`, `generated_examples`, `dataset_path`, `shadereval`) are the
    grammar-school programs mixed into every round's SFT so that the model keeps writing code.
    """

    targets: str = field(default="generator:textures",
                         metadata={"help": "training pictures: anything earthshader.evaluation.load_targets reads "
                                           "(generator:NAME, a save_to_disk folder, a Hub id)"})
    targets_split: str = field(default="train", metadata={"help": "split of targets (datasets only)"})
    targets_n: int = field(default=64, metadata={"help": "training pictures (drawn with seed when the set is larger)"})
    targets_start: int = field(default=700_000, metadata={"help": "generator:NAME only: first seed of the pictures"})
    heldout: str = field(default="generator:textures",
                         metadata={"help": "held-out pictures, never trained on (same sources as targets)"})
    heldout_split: str = field(default="test", metadata={"help": "split of heldout (datasets only)"})
    heldout_n: int = field(default=32, metadata={"help": "held-out pictures"})
    heldout_start: int = field(default=1_000_000, metadata={"help": "generator:NAME only: first seed"})
    target_difficulty: int | None = field(default=None, metadata={"help": "generator:NAME only: one level, or all"})
    rounds: int = field(default=3, metadata={"help": "rounds of sample, refine, learn"})
    samples_per_picture: int = field(default=8, metadata={"help": "programs sampled per picture (K)"})
    sample_temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    sample_top_p: float = field(default=1.0, metadata={"help": "nucleus sampling"})
    max_new_tokens: int = field(default=512, metadata={"help": "generation length limit per program"})
    generation_batch_size: int = field(default=8, metadata={"help": "pictures per generate call"})
    teachers: list[str] = field(default_factory=lambda: ["model"],
                                metadata={"help": "who proposes programs: model (samples + refine), search "
                                                  "(the model-free search baseline)"})
    objective: str = field(default="mix", metadata={"help": "what the teacher picks and fits programs for, and what "
                                                            "margin is measured on: structure, appearance or mix "
                                                            "(their mean)"})
    refine_budget: int = field(default=120, metadata={"help": "renders refinement may spend per picture "
                                                             "(0: no refinement)"})
    search_budget: int = field(default=200, metadata={"help": "renders the search teacher may spend per picture"})
    refine_parallel: int = field(default=1, metadata={"help": "pictures refined at once, each on its own render "
                                                              "pool of render_workers / refine_parallel workers"})
    margin: float = field(default=0.05, metadata={"help": "keep a pair only when its objective value beats the "
                                                          "mean-colour image (0) by more than this"})
    rerender_tolerance: float = field(default=1e-3, metadata={"help": "a kept program must re-render to its "
                                                                      "recorded objective value within this"})
    replay: str = field(default="best", metadata={"help": "earlier rounds' pairs in each SFT: best (the best pair "
                                                          "per picture so far) or all"})
    grammar_every_round: bool = field(default=True, metadata={"help": "fresh grammar-school seeds each round "
                                                                      "(false: the same programs every round)"})
    eval_samples: int = field(default=1, metadata={"help": "held-out samples per picture (1: greedy)"})
    eval_start: bool = field(default=True, metadata={"help": "also score the starting model on the held-out set"})
    render_timeout: float = field(default=5.0, metadata={"help": "seconds one program may take to render"})

    def __post_init__(self):
        from earthshader.data.rows import picture_spec

        super().__post_init__()
        check_fields(self, targets=picture_spec, heldout=picture_spec)
        if self.replay not in ("best", "all"):
            raise ValueError(f"argument --replay: must be best or all, got {self.replay!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"argument --objective: must be {', '.join(OBJECTIVES)}, got {self.objective!r}")
