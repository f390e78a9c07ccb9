"""The test tiers (tests/conftest.py): a test that trains a model must be marked slow."""

import pytest


def test_a_test_that_trains_without_the_slow_mark_fails_saying_so():
    from transformers import Trainer

    assert getattr(Trainer.train, "slow_only", False)  # guarded, however transformers was first imported
    with pytest.raises(pytest.fail.Exception, match=r"test_tiers.py::\S+ trains a model: mark it @pytest.mark.slow"):
        Trainer.train(object())


@pytest.mark.slow
def test_a_slow_test_reaches_the_trainer():
    from transformers import Trainer

    with pytest.raises(AttributeError):  # the real train(), on something that is not a trainer
        Trainer.train(object())
