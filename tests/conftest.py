"""Shared fixtures: one render pool for the whole session, the corpus path, a GL context."""

from __future__ import annotations

from pathlib import Path

import pytest

from earthshader.render import RenderPool

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "shadertoys.jsonl.gz"


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
