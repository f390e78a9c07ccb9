"""Rewards that TRL runs at the same time: async wrappers for thread-safe synchronous rewards.

    from rewards import for_trl, get_reward_funcs

    GRPOTrainer(..., reward_funcs=for_trl(get_reward_funcs(["format", "compiles", "ssim", "edges"])))

TRL's `GRPOTrainer` calls synchronous reward functions one after another, then gathers the async ones
concurrently on its event loop. `for_trl` turns each reward that says it is safe to run beside others
(`concurrent = True`: every `RenderReward`) into an async callable that runs it in a worker thread. The
render rewards of a step then run together: the first to ask renders the batch, the others wait on the
same renders through the shared `RenderCache`, and each scores every render as soon as it arrives. Cheap
text rewards stay synchronous, and so do plugins that do not set `concurrent` (they may not be
thread-safe); a plugin written as `async def` is left as it is.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading


def is_async(func) -> bool:
    """Whether calling `func` returns a coroutine (a function, a `functools.partial`, or an object whose
    `__call__` is `async def`), the test TRL applies before gathering a reward."""
    func = _unwrapped(func)
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))  # noqa: B004 (the method itself)


def runs_concurrently(func) -> bool:
    """Whether a synchronous reward may run in a thread beside others (its `concurrent` attribute)."""
    return bool(getattr(_unwrapped(func), "concurrent", False))


def _unwrapped(func):
    """The callable inside any `functools.partial` layers (the registry binds options that way)."""
    while isinstance(func, functools.partial):
        func = func.func
    return func


class ConcurrentReward:
    """An async callable that runs a synchronous reward in a worker thread; TRL logs it under the same name.

    `log_metric`, if passed, is serialised, since the trainer's metric lists are shared by every reward.
    """

    _log_lock = threading.Lock()

    def __init__(self, reward):
        self.reward = reward
        self.__name__ = getattr(reward, "__name__", type(reward).__name__)

    def __repr__(self) -> str:
        return f"ConcurrentReward({self.reward!r})"

    async def __call__(self, **kwargs):
        log_metric = kwargs.get("log_metric")
        if log_metric is not None:
            kwargs["log_metric"] = functools.partial(self._log, log_metric)
        return await asyncio.to_thread(self.reward, **kwargs)

    @classmethod
    def _log(cls, log_metric, name: str, value: float) -> None:
        with cls._log_lock:
            log_metric(name, value)


def for_trl(reward_funcs: list) -> list:
    """The rewards as TRL should get them: those with `concurrent = True` wrapped in `ConcurrentReward`."""
    return [ConcurrentReward(f) if runs_concurrently(f) and not is_async(f) else f for f in reward_funcs]


def call_rewards(reward_funcs: list, **kwargs) -> list[list]:
    """Call rewards as TRL's `GRPOTrainer` does, outside a trainer (benchmarks, tests, offline scoring):
    the synchronous ones in turn, then the async ones gathered concurrently. One list of values per
    reward, in the order given."""
    gathered = [i for i, f in enumerate(reward_funcs) if is_async(f)]
    values = [None if i in gathered else f(**kwargs) for i, f in enumerate(reward_funcs)]
    if gathered:
        async def run_together():
            return await asyncio.gather(*(reward_funcs[i](**kwargs) for i in gathered))

        for i, value in zip(gathered, asyncio.run(run_together())):
            values[i] = value
    return values
