"""Hard-target selection for GRPO on the (untrained) small tiny model: thresholds decide, logs say why."""

from __future__ import annotations

import json
import math

import pytest

from earthshader import grpo
from earthshader.training import grpo_stage
from earthshader.training.arguments import GRPOScriptArguments
from earthshader.training.hard_targets import SELECTION_FILE, decide, sample_targets, score_targets, select_hard_targets

SIZE = 56
SAMPLES = 3


def rank(completions, **kwargs):
    """0, 1, 2, ... within the group: a spread of std 1 and a mean of 1 for three samples."""
    return [float(i) for i in range(len(completions))]


def constant(completions, **kwargs):
    return [0.5] * len(completions)


def by_target(completions, id, **kwargs):
    """No spread on the first target (`FIRST`), rank times the target's number on the others."""
    if id[0] == by_target.first:
        return [0.5] * len(completions)
    return [float(i) * (1 + int(id[0] != by_target.second)) for i in range(len(completions))]


@pytest.fixture(scope="module")
def setup(small_tiny_model):
    from earthshader.modeling import load_model

    model, processor = load_model(str(small_tiny_model), "cpu")
    dataset = grpo_stage.build_dataset(GRPOScriptArguments(generators=["textures"], generated_examples=3,
                                                     generator_difficulty=0, image_size=SIZE, render_workers=1))
    assert len(dataset) == 3
    completions = sample_targets(model, processor, dataset, samples=SAMPLES, image_size=SIZE, max_new_tokens=12)
    return model, processor, dataset, completions


def select(setup, funcs, weights, **thresholds):
    """Score the module's samples (generated once) with `funcs`, then decide."""
    _, _, dataset, completions = setup
    return decide(score_targets(dataset, completions, funcs, weights), **thresholds)


def test_thresholds_keep_all_or_none(setup):
    everything = select(setup, [rank], [1.0], max_mean_reward=10.0, min_reward_std=0.5)
    assert everything.kept == [0, 1, 2]
    assert [(s.mean, s.std) for s in everything.scores] == [(1.0, 1.0)] * 3
    too_good = select(setup, [rank], [1.0], max_mean_reward=0.5, min_reward_std=0.5)
    assert too_good.kept == [] and all(s.reason.startswith("already good") for s in too_good.scores)
    too_flat = select(setup, [rank], [2.0], max_mean_reward=10.0, min_reward_std=2.5)  # std 2 with weight 2
    assert too_flat.kept == [] and all(s.reason.startswith("no spread") for s in too_flat.scores)


def test_a_group_without_spread_is_dropped_and_the_spread_groups_median_is_the_default_ceiling(setup, tmp_path):
    _, _, dataset, _ = setup
    by_target.first, by_target.second = dataset[0]["id"], dataset[1]["id"]
    constant_only = select(setup, [constant], [1.0], max_mean_reward=10.0)
    assert constant_only.kept == [] and all(s.std == 0.0 for s in constant_only.scores)
    selection = select(setup, [by_target, constant], [1.0, 0.0])  # means 0.5, 1, 2; spreads 0, 1, 2
    assert [s.mean for s in selection.scores] == [0.5, 1.0, 2.0]
    assert selection.max_mean_reward == 1.5  # the median mean of the targets with a spread
    assert selection.kept == [1]  # 0: no spread; 2: above the median
    assert selection.scores[0].reason.startswith("no spread") and selection.scores[2].reason.startswith("already good")
    lines = [json.loads(line) for line in selection.write(tmp_path).read_text().splitlines()]
    assert [line["kept"] for line in lines] == [False, True, False]
    assert lines[1]["id"] == dataset[1]["id"] and lines[1]["rewards"] == [0.0, 1.0, 2.0]


def test_the_training_rewards_score_real_samples(setup, capsys):
    from rewards import get_reward_funcs

    model, processor, dataset, completions = setup
    names = ["format", "compiles", "ssim", "length"]
    selection = select_hard_targets(model, processor, dataset, get_reward_funcs(names), [0.25, 0.5, 1.0, 0.1],
                                    samples=SAMPLES, image_size=SIZE, max_new_tokens=12, min_reward_std=0.0)
    assert len(selection.scores) == 3 and all(len(s.rewards) == SAMPLES for s in selection.scores)
    again = score_targets(dataset, completions, get_reward_funcs(names), [0.25, 0.5, 1.0, 0.1])
    assert [s.rewards for s in again] == [s.rewards for s in selection.scores]  # seeded: the same samples
    assert all(0.0 <= r <= 1.85 for s in selection.scores for r in s.rewards if not math.isnan(r))
    selection.print()
    assert "Hard-target selection" in capsys.readouterr().out


def test_too_few_samples_is_an_error(setup):
    with pytest.raises(ValueError, match="at least 2 samples"):
        select_hard_targets(*setup[:3], [rank], [1.0], samples=1)


def test_grpo_selects_before_training_and_logs_to_the_run_dir(small_tiny_model, tmp_path):
    from tests.test_grpo import tiny_args

    args = tiny_args(small_tiny_model, tmp_path, "--max_steps", "1", "--select_hard_targets", "true",
                     "--selection_samples", "2", "--selection_max_mean_reward", "100", "--selection_min_reward_std", "0")
    script_args, training_args, model_args = grpo.parse(args)
    trainer, _ = grpo_stage.build_trainer(script_args, training_args, model_args, "cpu")
    lines = [json.loads(line) for line in (tmp_path / SELECTION_FILE).read_text().splitlines()]
    assert len(lines) == 6 and len(trainer.train_dataset) == sum(line["kept"] for line in lines) > 0

    none = grpo.parse(args[:-4] + ["--selection_max_mean_reward", "-100", "--output_dir", str(tmp_path / "none")])
    with pytest.raises(ValueError, match="kept none of 6 targets"):
        grpo_stage.build_trainer(*none, "cpu")


def test_targets_at_the_median_are_kept():
    from earthshader.training.hard_targets import TargetScore

    scores = [TargetScore(i, f"t{i}", [m - 1, m + 1], m, 1.41) for i, m in enumerate([1.0, 1.0, 3.0])]
    selection = decide(scores)
    assert (selection.max_mean_reward, selection.kept) == (1.0, [0, 1])  # a strict "below" would keep none
    assert decide(scores, max_mean_reward=1.0).kept == []  # a given ceiling is strict
    assert "at most the median 1.000" in selection.summary()
