"""Shared fixtures (one render pool for the whole session, the corpus path, a small tiny model) and the
test tiers.

Tiers: a test that trains a model, runs a command's pipeline in a subprocess or renders a sweep of
hundreds of programs is marked `@pytest.mark.slow`; `make test-fast` (`pytest -m "not slow"`) leaves those
out, `make test` runs everything. Training in this process always goes through transformers'
`Trainer.train` (TRL's SFT and GRPO trainers are Trainers), so a test without the mark that trains fails
at once, saying so; the mark on subprocess runs and render sweeps is kept by hand.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
from pathlib import Path

import pytest

from earthshader.render import RenderPool

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "shadertoys.jsonl.gz"

#: The node id of the test being set up or run when it is not marked slow (None otherwise).
_fast_test: list[str | None] = [None]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture of the test: whether it is in the fast tier (its fixtures may not train either)."""
    _fast_test[0] = None if item.get_closest_marker("slow") else item.nodeid


def pytest_runtest_teardown(item, nextitem):
    _fast_test[0] = None


def slow_only(train):
    """`Trainer.train`, refused in a test not marked slow."""

    @functools.wraps(train)
    def train_in_a_slow_test(self, *args, **kwargs):
        if _fast_test[0] is not None:
            pytest.fail(f"{_fast_test[0]} trains a model: mark it @pytest.mark.slow (make test-fast leaves those out)",
                        pytrace=False)
        return train(self, *args, **kwargs)

    train_in_a_slow_test.slow_only = True
    return train_in_a_slow_test


class TrainerGuard(importlib.abc.MetaPathFinder):
    """Wraps `transformers.trainer.Trainer.train` in `slow_only` when that module is first imported (importing
    it here would cost every test session seconds)."""

    def find_spec(self, name, path=None, target=None):
        if name != "transformers.trainer":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_guard(module):
            exec_module(module)
            module.Trainer.train = slow_only(module.Trainer.train)

        spec.loader.exec_module = exec_and_guard
        return spec


if "transformers.trainer" in sys.modules:
    trainer_class = sys.modules["transformers.trainer"].Trainer
    trainer_class.train = slow_only(trainer_class.train)
else:
    sys.meta_path.insert(0, TrainerGuard())


@pytest.fixture(scope="session")
def render_pool():
    """Two sandboxed render workers shared by every test (llvmpipe on a CPU machine)."""
    with RenderPool(workers=2, timeout=20.0) as pool:
        yield pool


@pytest.fixture(scope="session")
def corpus_path() -> Path:
    """The real Shadertoy corpus; tests that need it skip, saying why, when it is absent."""
    if not CORPUS.exists():
        pytest.skip(f"corpus not found at {CORPUS} (the Shadertoy corpus is not part of the repository)")
    return CORPUS


@pytest.fixture(scope="session")
def small_tiny_model(tmp_path_factory) -> Path:
    """A very small tiny Qwen2-VL (hidden 64, one layer) for plumbing tests; seconds to build."""
    from earthshader.modeling.tiny import build_tiny_model

    return Path(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", hidden=64, layers=1, vision_depth=1))
