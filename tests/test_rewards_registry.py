"""The reward registry: built-in names, dotted paths, entry-point plugins, and the docs' example."""

import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from reward_helpers import PATTERN, completion, counting_cache, render_image, solid

from rewards import (
    BUILTIN_REWARDS,
    DEFAULT_REWARD_MIX,
    PICTURE_REWARD_MIX,
    RenderReward,
    SSIMReward,
    available_rewards,
    get_reward_funcs,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rewards.md"


def docs_example() -> str:
    """The first python block under "## Write your own reward" in docs/rewards.md."""
    section = DOCS.read_text().split("## Write your own reward", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path; modules written there import by name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith(("my_rewards", "my_plugin"))]:
        del sys.modules[name]


def test_builtin_names_and_options():
    funcs = get_reward_funcs(list(BUILTIN_REWARDS), {"ssim": {"scales": 2, "size": 84}, "compiles": {"graded": True}})
    # In the order the classes are declared: rewards/image.py's, then rewards/program.py's.
    assert [f.__name__ for f in funcs] == list(BUILTIN_REWARDS) == [
        "entropy", "ssim", "pixel", "edges", "palette", "appearance", "compiles", "format", "length"]
    by_name = {f.__name__: f for f in funcs}
    ssim = by_name["ssim"]
    assert isinstance(ssim, SSIMReward) and (ssim.scales, ssim.size) == (2, 84)
    assert by_name["compiles"].graded is True
    assert get_reward_funcs("format")[0].__name__ == "format"


@pytest.mark.parametrize("mix", [DEFAULT_REWARD_MIX, PICTURE_REWARD_MIX], ids=["default", "picture"])
def test_mix_names_are_valid(mix):
    funcs = get_reward_funcs(list(mix))
    assert [f.__name__ for f in funcs] == list(mix)
    assert all(weight > 0 for weight in mix.values())


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as error:
        get_reward_funcs(["ssim", "sharpness"])
    message = str(error.value)
    assert "unknown reward 'sharpness'" in message
    assert all(name in message for name in BUILTIN_REWARDS) and "my_pkg.rewards:palette" in message


def test_bad_options_are_errors():
    with pytest.raises(ValueError, match=r"does not take options \['window'\]"):
        get_reward_funcs(["ssim"], {"ssim": {"window": 7}})
    with pytest.raises(ValueError, match=r"options given for \['edges'\]"):
        get_reward_funcs(["ssim"], {"edges": {"sigmas": [1.0]}})
    with pytest.raises(ValueError, match="scales must be at least 1"):
        get_reward_funcs(["ssim"], {"ssim": {"scales": 0}})


def test_bad_dotted_paths_are_errors(plugin_dir):
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        get_reward_funcs(["no_such_module:thing"])
    (plugin_dir / "my_rewards_empty.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        get_reward_funcs(["my_rewards_empty:missing"])
    with pytest.raises(ValueError, match="neither a class nor callable"):
        get_reward_funcs(["my_rewards_empty.x"])


def test_docs_example_runs_by_both_dotted_path_forms(plugin_dir):
    code = docs_example()
    assert len([line for line in code.splitlines() if line.strip() and not line.startswith("#")]) <= 10
    (plugin_dir / "my_rewards.py").write_text(code)
    cache, counter = counting_cache()
    funcs = get_reward_funcs(["ssim", "my_rewards:brightness", "my_rewards.Brightness"],
                             {"ssim": {"cache": cache}, "my_rewards.Brightness": {"cache": cache}})
    funcs[1].cache = cache
    assert [f.__name__ for f in funcs] == ["ssim", "brightness", "brightness"]
    target = render_image(PATTERN)
    white = solid((1.0, 1.0, 1.0))
    completions = [completion(c) for c in (PATTERN, white, "garbage")]
    columns = dict(prompts=[[]] * 3, completions=completions, image=[target] * 3)
    values = [f(**columns) for f in funcs]
    expected_white = 1.0 - abs(255.0 - float(target.mean())) / 255.0
    assert values[1] == values[2] == [pytest.approx(1.0), pytest.approx(expected_white), 0.0]
    assert len(counter.rendered) == 3  # three rewards, one render each


def test_functions_bind_options_with_partial(plugin_dir):
    (plugin_dir / "my_rewards_fn.py").write_text(textwrap.dedent("""
        def constant(prompts=None, completions=None, value=0.5, **kwargs):
            return [value] * len(completions)
    """))
    func = get_reward_funcs(["my_rewards_fn:constant"], {"my_rewards_fn:constant": {"value": 0.25}})[0]
    assert func(completions=["a", "b"]) == [0.25, 0.25]


def test_entry_point_plugin(plugin_dir):
    package = plugin_dir / "my_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(docs_example())
    dist_info = plugin_dir / "my_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[earthshader.rewards]\nbrightness = my_plugin:Brightness\n")
    assert "brightness" in available_rewards()
    func = get_reward_funcs(["brightness"], {"brightness": {"size": 56}})[0]
    assert isinstance(func, RenderReward) and func.__name__ == "brightness" and func.size == 56
    cache, _ = counting_cache()
    func.cache = cache
    target = np.full((64, 64, 3), 100, np.uint8)
    assert func(completions=[completion(solid((100 / 255, 100 / 255, 100 / 255)))], image=[target]) == [1.0]
    with pytest.raises(ValueError, match="brightness"):  # listed among the valid names
        get_reward_funcs(["brightnes"])
