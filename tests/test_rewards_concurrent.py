"""Render rewards run at the same time (TRL gathers async rewards) and share one stream of renders."""

import functools
import threading
import time

import pytest
from reward_helpers import PATTERN, completion, counting_cache, real_pool, solid
from test_rewards_cache import CODES, batch, default_rewards, target  # noqa: F401 (target: a fixture)
from trl.trainer.utils import is_async_callable

from rewards import DEFAULT_REWARD_MIX, ConcurrentReward, RenderCache, RenderRequest, for_trl, get_reward_funcs
from rewards.concurrent import call_rewards, is_async


async def async_plugin(completions, **kwargs):
    return [1.0] * len(completions)


def sync_plugin(completions, **kwargs):
    return [1.0] * len(completions)


def test_render_rewards_become_async_and_the_rest_stay_as_they_are():
    funcs = for_trl(get_reward_funcs(list(DEFAULT_REWARD_MIX)) + [async_plugin, sync_plugin])
    wrapped = {f.__name__ for f in funcs if isinstance(f, ConcurrentReward)}
    assert wrapped == {"compiles", "entropy", "ssim", "edges", "pixel", "palette"}
    assert {f.__name__ for f in funcs if is_async_callable(f)} == wrapped | {"async_plugin"}
    assert [f.__name__ for f in funcs] == list(DEFAULT_REWARD_MIX) + ["async_plugin", "sync_plugin"]


@pytest.mark.parametrize("func", [async_plugin, sync_plugin, functools.partial(async_plugin),
                                  ConcurrentReward(sync_plugin), get_reward_funcs(["ssim"])[0]])
def test_is_async_agrees_with_trl(func):
    assert is_async(func) == is_async_callable(func)


def test_concurrent_rewards_render_each_completion_once_and_score_as_in_turn(target):  # noqa: F811 (the fixture)
    in_turn = [f(**batch(CODES, target)) for f in default_rewards(counting_cache()[0])]
    cache, counter = counting_cache()
    funcs = for_trl(default_rewards(cache))
    assert sum(is_async_callable(f) for f in funcs) == 6
    assert call_rewards(funcs, **batch(CODES, target)) == in_turn
    assert sorted(counter.rendered) == sorted(CODES)  # six render rewards ran at once, one render each
    assert cache.stats.renders == len(CODES) and cache.stats.hits == 5 * len(CODES)


def test_concurrent_log_metric_calls_are_serialised(target):  # noqa: F811 (the fixture)
    cache, _ = counting_cache()
    logged, inside, overlaps = [], [], []

    def log_metric(name, value):
        if inside:
            overlaps.append(name)
        inside.append(name)
        time.sleep(0.001)  # widen the window a race would need
        logged.append(name)
        inside.pop()

    call_rewards(for_trl(default_rewards(cache)), **batch(CODES, target), log_metric=log_metric)
    assert len(logged) == 6 * 3 and not overlaps


class GatedPool:
    """The real pool, except that each `render_many` call waits for `release` before its first result."""

    def __init__(self):
        self.release = threading.Event()
        self.started = threading.Event()
        self.rendered: list[str] = []

    def render_many(self, codes, on_result=None, **options):
        self.rendered.extend(codes)
        self.started.set()
        self.release.wait(30)
        return real_pool().render_many(codes, on_result=on_result, **options)


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_request_already_rendering_is_awaited_not_rendered_again():
    pool = GatedPool()
    cache = RenderCache(pool_factory=lambda: pool)
    shared, own = RenderRequest(PATTERN, 32, 32), RenderRequest(solid((0.5, 0.5, 0.5)), 32, 32)
    out, seen_by_second = {}, []
    first = threading.Thread(target=lambda: out.update(first=cache.render([shared])))
    second = threading.Thread(target=lambda: out.update(second=cache.render(
        [shared, own], on_result=lambda index, result: seen_by_second.append(index))))
    first.start()
    assert pool.started.wait(30)
    second.start()
    wait_for(lambda: cache.stats.requests == 3)  # the second call has found the shared request in flight
    pool.release.set()
    first.join(30), second.join(30)
    assert pool.rendered == [PATTERN, own.code]  # the shared program rendered once, by the first call
    assert out["first"][0] is out["second"][0] and out["second"][0].ok and out["second"][1].ok
    assert sorted(seen_by_second) == [0, 1]
    assert (cache.stats.renders, cache.stats.hits) == (2, 1) and not cache._inflight


def test_a_failed_render_reaches_the_calls_waiting_on_it():
    class FailingPool(GatedPool):
        def render_many(self, codes, on_result=None, **options):
            self.rendered.extend(codes)
            self.started.set()
            self.release.wait(30)
            raise RuntimeError("the pool broke")

    pool = FailingPool()
    cache = RenderCache(pool_factory=lambda: pool)
    errors = []

    def render():
        try:
            cache.render([RenderRequest(PATTERN, 32, 32)])
        except RuntimeError as error:
            errors.append(str(error))

    threads = [threading.Thread(target=render) for _ in range(2)]
    threads[0].start()
    assert pool.started.wait(30)
    threads[1].start()
    wait_for(lambda: cache.stats.requests == 2)
    pool.release.set()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == ["the pool broke"] * 2 and pool.rendered == [PATTERN]
    assert not cache._inflight  # and nothing stored: the next call renders again
    threads = [threading.Thread(target=render)]
    threads[0].start(), threads[0].join(30)
    assert pool.rendered == [PATTERN, PATTERN]


def test_a_concurrent_plugin_that_raises_stops_the_batch_and_is_named(tmp_path):
    from earthshader.training.run_log import SampleLog
    from rewards import RewardError

    def flaky(completions, **kwargs):
        raise ZeroDivisionError("bug in the plugin")

    flaky.concurrent = True
    log = SampleLog(tmp_path, ["format", "flaky"])
    funcs = [log.wrap(f) for f in for_trl(get_reward_funcs(["format"]) + [flaky])]
    assert [is_async_callable(f) for f in funcs] == [False, True]
    with pytest.raises(RewardError, match=r"'flaky' \(test_rewards_concurrent\..*flaky\) failed: ZeroDivisionError"):
        call_rewards(funcs, prompts=[[]], completions=[completion(PATTERN)])
    assert not log.path.exists()  # no half-scored batch in the log
