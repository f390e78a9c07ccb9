"""Run statistics (`earthshader.evaluation.statistics`): paired changes, pooling over seeds, the seed spread."""

import math

import pytest

from earthshader.evaluation.statistics import (
    PairedChange,
    missed_answers,
    paired_change,
    pooled_over_seeds,
    seed_spread,
)


def test_paired_change_skips_unscored_targets_and_pairs_by_target():
    mean, se, n = paired_change([0.1, 0.5, math.nan, 0.2], [0.2, 0.6, 0.9, 0.2])
    assert n == 3 and mean == pytest.approx(0.2 / 3)
    assert se == pytest.approx(math.sqrt(((0.1 - 0.2 / 3) ** 2 * 2 + (0.2 / 3) ** 2) / 2) / math.sqrt(3))
    assert paired_change([0.3], [0.1])[:1] == pytest.approx((-0.2,)) and math.isnan(paired_change([0.3], [0.1])[1])


def test_pairing_removes_the_spread_between_easy_and_hard_targets():
    easy_and_hard = [0.9, 0.1, 0.8, 0.2]
    change = paired_change(easy_and_hard, [s + 0.05 for s in easy_and_hard])
    assert change.mean == pytest.approx(0.05) and change.standard_error == pytest.approx(0.0, abs=1e-12)
    assert str(change) == "+0.050 ± 0.000"


def test_paired_change_refuses_lists_that_do_not_pair():
    with pytest.raises(ValueError, match="one value per target"):
        paired_change([0.1, 0.2], [0.3])


def test_the_pooled_change_averages_each_target_over_the_seeds_first():
    before = [0.1, 0.2, 0.3]
    seeds = [[0.2, 0.2, 0.3], [0.1, 0.4, math.nan]]
    pooled = pooled_over_seeds(seeds)
    assert pooled == pytest.approx([0.15, 0.3, 0.3])  # the unscored target keeps its one scored seed
    change = paired_change(before, pooled)
    per_target = [0.05, 0.1, 0.0]
    assert change == PairedChange(pytest.approx(0.05), pytest.approx(
        math.sqrt(sum((c - 0.05) ** 2 for c in per_target) / 2) / math.sqrt(3)), 3)
    assert math.isnan(pooled_over_seeds([[math.nan], [math.nan]])[0])
    with pytest.raises(ValueError, match="one list of per-target skills per seed"):
        pooled_over_seeds([[0.1, 0.2], [0.3]])


def test_the_seed_spread_is_the_sample_deviation_of_the_per_seed_changes():
    assert seed_spread([0.1 / 3, 0.1]) == pytest.approx(abs(0.1 / 3 - 0.1) / math.sqrt(2))
    assert math.isnan(seed_spread([0.2])) and math.isnan(seed_spread([]))


def test_missed_answers_count_what_a_rate_rounds_away():
    assert missed_answers({"n_samples": 1024, "compile_rate": 1023 / 1024, "nonflat_rate": 1021 / 1024}) == 1
    assert missed_answers({"n_samples": 1024, "compile_rate": 1.0, "nonflat_rate": 1021 / 1024}, "nonflat_rate") == 3
    assert missed_answers({"n_samples": 0, "compile_rate": 0.0}) == 0
