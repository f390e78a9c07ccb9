"""One render per completion: the render cache shared by all rewards of a step."""

import pickle

import pytest
from reward_helpers import PATTERN, completion, counting_cache, render_image, solid

from rewards import DEFAULT_REWARD_MIX, RenderCache, RenderRequest, RenderReward, get_reward_funcs

CODES = [PATTERN, solid((0.1, 0.2, 0.3)), "garbage", PATTERN.replace("18.0", "12.0"), solid((0.9, 0.1, 0.1))]


@pytest.fixture(scope="module")
def target():
    return render_image(PATTERN)


def batch(codes, image):
    """TRL's keyword arguments for one step: completions and the repeated `image` column."""
    return dict(prompts=[[]] * len(codes), completions=[completion(c) for c in codes], image=[image] * len(codes))


def default_rewards(cache):
    funcs = get_reward_funcs(list(DEFAULT_REWARD_MIX))
    for func in funcs:
        if isinstance(func, RenderReward):
            func.cache = cache
    return funcs


def test_each_completion_is_rendered_once_however_many_rewards_read_it(target):
    cache, counter = counting_cache()
    funcs = default_rewards(cache)
    assert sum(isinstance(f, RenderReward) for f in funcs) == 6
    for func in funcs:
        func(**batch(CODES, target))
    assert sorted(counter.rendered) == sorted(CODES)
    assert counter.calls == 1  # the first render reward rendered the whole batch in one pool call
    assert cache.stats.renders == 5 and cache.stats.hits == 5 * 5


def test_repeated_completions_in_a_group_render_once(target):
    cache, counter = counting_cache()
    codes = [PATTERN] * 6 + [solid((0.5, 0.5, 0.5))] * 2
    values = get_reward_funcs(["ssim"], {"ssim": {"cache": cache}})[0](**batch(codes, target))
    assert counter.rendered == [PATTERN, solid((0.5, 0.5, 0.5))]
    assert values[:6] == [values[0]] * 6


def test_empty_programs_never_reach_the_pool(target):
    cache, counter = counting_cache()
    results = cache.render([RenderRequest("", 8, 8), None, RenderRequest("  \n", 8, 8)])
    assert [r.error_kind for r in results] == ["invalid_input"] * 3
    assert counter.rendered == []


def test_render_parameters_are_part_of_the_key(target):
    cache, counter = counting_cache()
    funcs = get_reward_funcs(["ssim", "edges"], {"ssim": {"cache": cache, "size": 56}, "edges": {"cache": cache}})
    for func in funcs:
        func(**batch([PATTERN], target))
    assert counter.calls == 2 and counter.rendered == [PATTERN, PATTERN]  # 56 px and the target's 64 px
    cache.render([RenderRequest(PATTERN, 64, 64, (0.0, 1.0))])
    assert counter.calls == 3


def test_cache_off_renders_for_every_reward(target):
    cache, counter = counting_cache(enabled=False)
    for func in default_rewards(cache):
        func(**batch(CODES, target))
    assert len(counter.rendered) == 6 * len(CODES)


def test_least_recently_used_results_are_dropped_beyond_max_bytes(target):
    cache, counter = counting_cache()
    cache.max_bytes = 2 * 64 * 64 * 3  # room for two 64 x 64 frames
    requests = [RenderRequest(solid((v, v, v)), 64, 64) for v in (0.1, 0.2, 0.3)]
    cache.render(requests)
    cache.render(requests[2:])
    cache.render(requests[:1])
    assert counter.rendered.count(requests[0].code) == 2 and counter.rendered.count(requests[2].code) == 1


def test_eviction_order_does_not_depend_on_which_render_finishes_first():
    """Renders stream back in any order; the cache still stores them in request order."""
    from reward_helpers import real_pool

    rendered = []

    class LastFirstPool:
        def render_many(self, codes, on_result=None, **options):
            rendered.extend(codes)
            results = real_pool().render_many(codes, **options)
            for index in reversed(range(len(codes))):  # the last request finishes first
                on_result(index, results[index])
            return results

    cache = RenderCache(max_bytes=2 * 64 * 64 * 3, pool_factory=LastFirstPool)
    requests = [RenderRequest(solid((v, v, v)), 64, 64) for v in (0.1, 0.2, 0.3)]
    cache.render(requests)
    cache.render(requests[:1])  # the oldest request was dropped, whatever order the renders came back in
    assert rendered.count(requests[0].code) == 2 and len(rendered) == 4


def test_render_and_score_times_are_logged(target):
    cache, _ = counting_cache()
    logged = {}
    funcs = get_reward_funcs(["ssim", "compiles"], {"ssim": {"cache": cache}, "compiles": {"cache": cache}})
    for func in funcs:
        func(**batch(CODES, target), log_metric=lambda name, value: logged.setdefault(name, []).append(value))
    assert set(logged) == {"rewards/ssim/render_s", "rewards/ssim/score_s", "rewards/compiles/render_s",
                           "rewards/compiles/score_s", "render/failed_frac"}
    assert logged["rewards/ssim/render_s"][0] > 0 and logged["rewards/ssim/score_s"][0] > 0
    assert logged["render/failed_frac"] == [0.2, 0.2]


def test_cache_pickles_without_pool_or_results(target):
    cache, _ = counting_cache()
    cache.render([RenderRequest(PATTERN, 64, 64)])
    copy = pickle.loads(pickle.dumps(RenderCache(workers=3, timeout=2.0)))
    assert (copy.workers, copy.timeout, copy.stats.renders, copy._pool) == (3, 2.0, 0, None)


def test_shared_cache_is_used_by_default(target, monkeypatch):
    import rewards.cache as cache_module

    cache, counter = counting_cache()
    monkeypatch.setattr(cache_module, "_shared", cache)
    ssim, edges = get_reward_funcs(["ssim", "edges"])
    ssim(**batch([PATTERN], target))
    edges(**batch([PATTERN], target))
    assert counter.rendered == [PATTERN]
    assert (cache.stats.renders, cache.stats.hits) == (1, 1)


def test_configure_shared_cache_replaces_the_process_cache(monkeypatch):
    import rewards.cache as cache_module

    monkeypatch.setattr(cache_module, "_shared", None)
    first = cache_module.shared_cache()
    assert cache_module.shared_cache() is first and first._pool is None  # no pool until the first render
    second = cache_module.configure_shared_cache(workers=3, timeout=7.0)
    assert cache_module.shared_cache() is second is not first
    assert (second.workers, second.timeout) == (3, 7.0)


def test_scoring_starts_while_the_batch_still_renders(target):
    """Renders stream into the scoring threads: the fast render is scored before the slow one is done."""
    import time

    from rewards import SSIMReward

    spin = ("float spin(vec2 p) { float s = 0.0; for (int i = 0; i < 20000; i++) { float x = p.x * float(i);"
            " x = sin(x + s); x = sin(x + s); x = sin(x + s); s += x * 1e-9; } return s; }\n")  # about 1 s
    slow = spin + PATTERN.replace("fragColor = vec4(", "fragColor = spin(fragCoord) + vec4(", 1)
    flat = solid((0.1, 0.2, 0.3))
    scored_at = []

    class Timed(SSIMReward):
        def score(self, image, target):
            scored_at.append(time.perf_counter())
            return super().score(image, target)

    cache, counter = counting_cache()
    render_many = counter.render_many
    render_done = []
    counter.render_many = lambda codes, **options: (render_many(codes, **options), render_done.append(
        time.perf_counter()))[0]
    values = Timed(cache=cache)(**batch([slow, flat], target))
    assert values[0] > 0.99 and values[1] == 0.0  # the spin adds nothing visible
    assert counter.rendered == [slow, flat] and len(scored_at) == 2
    assert min(scored_at) < render_done[0], "the flat render was only scored after the slow render finished"


class ScriptedPool:
    """A fake pool answering each program with the next outcome scripted for it (then `ok`)."""

    def __init__(self, outcomes: dict[str, list[str]]):
        self.outcomes = {code: list(kinds) for code, kinds in outcomes.items()}
        self.rendered: list[str] = []

    def render_many(self, codes, on_result=None, **options):
        import numpy as np

        from earthshader.render.result import RenderResult

        results = []
        for index, code in enumerate(codes):
            self.rendered.append(code)
            kinds = self.outcomes.get(code) or ["ok"]
            kind = kinds.pop(0) if len(kinds) > 1 else kinds[0]
            image = np.full((options["height"], options["width"], 3), 128, np.uint8)
            result = (RenderResult(ok=True, image=image, frames=[image]) if kind == "ok"
                      else RenderResult.failure(kind, f"scripted {kind}"))
            results.append(result)
            if on_result is not None:
                on_result(index, result)
        return results


@pytest.mark.parametrize("kind", ["timeout", "crash", "gl"])
def test_transient_failures_are_not_kept_and_render_again(kind):
    """A timeout under load or a crash blamed on the wrong shader must not stick for the whole run."""
    pool = ScriptedPool({"flaky": [kind, "ok"]})
    cache = RenderCache(pool_factory=lambda: pool)
    request = RenderRequest("flaky", 8, 8)
    assert cache.render([request])[0].error_kind == kind
    assert cache.render([request])[0].ok  # rendered again, not the stored failure
    assert cache.render([request])[0].ok and pool.rendered == ["flaky", "flaky"]  # the success is kept
    assert cache.stats.transient == 1


@pytest.mark.parametrize("kind", ["compile", "invalid_input", "loop_limit"])
def test_deterministic_failures_are_kept(kind):
    pool = ScriptedPool({"broken": [kind, "ok"]})
    cache = RenderCache(pool_factory=lambda: pool)
    request = RenderRequest("broken", 8, 8)
    assert [cache.render([request])[0].error_kind for _ in range(3)] == [kind] * 3
    assert pool.rendered == ["broken"] and cache.stats.transient == 0


def test_a_transient_failure_reaches_every_reward_of_the_step_once(target):
    """Within one call the failure answers every repeat; only later calls render again."""
    pool = ScriptedPool({PATTERN: ["timeout", "ok"]})
    cache = RenderCache(pool_factory=lambda: pool)
    ssim = get_reward_funcs(["ssim"], {"ssim": {"cache": cache}})[0]
    assert ssim(**batch([PATTERN, PATTERN], target)) == [0.0, 0.0]
    assert pool.rendered == [PATTERN]
    compiles = get_reward_funcs(["compiles"], {"compiles": {"cache": cache}})[0]
    assert compiles(**batch([PATTERN], target)) == [1.0] and pool.rendered == [PATTERN, PATTERN]
