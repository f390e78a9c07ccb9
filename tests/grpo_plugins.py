"""Reward plugins loaded by dotted path in the GRPO tests (`tests.grpo_plugins:...`)."""


def completion_length(completions, **kwargs):
    """Longer completions score more: always varies in a group, so GRPO always has a gradient."""
    return [len(c[-1]["content"]) / 100.0 for c in completions]


def broken(completions, **kwargs):
    """A plugin with a bug: the run must stop and name it."""
    raise ZeroDivisionError("bug in the plugin")


def batch_position(completions, **kwargs):
    """A completion's place in the batch TRL scores: every group gets rewards that differ, so its advantages
    have both signs and known order, whatever the model writes (no rendering)."""
    return [float(i) for i in range(len(completions))]
