"""Rewards for GRPO on images -> Shadertoy programs, in TRL's reward-function convention.

    from rewards import DEFAULT_REWARD_MIX, for_trl, get_reward_funcs

    names, weights = list(DEFAULT_REWARD_MIX), list(DEFAULT_REWARD_MIX.values())
    GRPOTrainer(..., reward_funcs=for_trl(get_reward_funcs(names)),
                args=GRPOConfig(reward_weights=weights, ...))

Each reward is called as `reward(prompts=, completions=, image=, ...)` and returns one float per
completion (None = does not apply). All render rewards of a step share one render of each completion
(`rewards.cache`), and `for_trl` lets TRL run them at the same time (`rewards.concurrent`). See
docs/rewards.md for what each measures and how to write your own.
"""

from rewards.base import RenderReward, Reward, RewardError, SimilarityReward, Target, TextReward
from rewards.cache import RenderCache, RenderRequest, configure_shared_cache, shared_cache
from rewards.concurrent import ConcurrentReward, call_rewards, for_trl
from rewards.image import AppearanceReward, EdgesReward, EntropyReward, PaletteReward, PixelReward, SSIMReward
from rewards.program import CompilesReward, FormatReward, LengthReward
from rewards.registry import BUILTIN_REWARDS, ENTRY_POINT_GROUP, available_rewards, get_reward_funcs

#: The recipes' default reward mix (name -> weight), chosen so that structure pays: a render with the
#: target's pattern in slightly wrong colours must outscore a flat image of the right mean colour
#: (tests/test_rewards_mix.py). Recipes copy it as `reward_funcs` / `reward_weights`.
DEFAULT_REWARD_MIX = {
    "format": 0.25,
    "compiles": 0.5,
    "entropy": 0.25,
    "ssim": 1.0,
    "edges": 1.0,
    "pixel": 0.5,
    "palette": 0.25,
    "length": 0.1,
}

#: The mix of the recipes that train on pictures alone (texture renders, photographs: `grpo/tiny`, `grpo/textures`):
#: the default mix plus `appearance`, which pays for the right look at any phase or offset, where the structure
#: rewards (kept at their weights) pay only for alignment. Its weight is that of `ssim` and `edges`, each of the
#: default mix's full-weight similarities (docs/rewards.md says why, tests/test_rewards_mix.py what it ranks).
PICTURE_REWARD_MIX = {**DEFAULT_REWARD_MIX, "appearance": 1.0}

__all__ = [
    "BUILTIN_REWARDS", "DEFAULT_REWARD_MIX", "ENTRY_POINT_GROUP", "PICTURE_REWARD_MIX", "AppearanceReward",
    "CompilesReward", "ConcurrentReward",
    "EdgesReward", "EntropyReward", "FormatReward", "LengthReward", "PaletteReward", "PixelReward",
    "RenderCache", "RenderRequest", "RenderReward", "Reward", "RewardError", "SSIMReward", "SimilarityReward",
    "Target", "TextReward", "available_rewards", "call_rewards", "configure_shared_cache", "for_trl",
    "get_reward_funcs", "shared_cache",
]
