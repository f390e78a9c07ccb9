"""Look-and-fix episodes with the tiny model (no training): what each turn sees, every turn's figures, the
improvement reward read from the completions."""

from __future__ import annotations

import numpy as np
import pytest

from earthshader.data.generators import generate
from earthshader.episodes.improvement import FirstTurnReward, ImprovementReward, episode_figure
from earthshader.episodes.runner import EpisodeSettings, run_episodes, turn_table
from earthshader.modeling import generation, prompts
from earthshader.modeling.loading import load_model

BROKEN = "void mainImage(out vec4 c, in vec2 p) {\n    vec3 col = vec3(p.x / iResolution.x);\n    c = vec4(col, 1.0)\n}"


@pytest.fixture(scope="module")
def targets(render_pool):
    codes = [generate("textures", seed, difficulty=0).code for seed in (3, 4)]
    return [r.image for r in render_pool.render_many(codes, width=84, height=84)], codes


def test_an_episode_whose_first_program_fails_shows_the_diagnostics_and_every_image_to_turn_two(
        small_tiny_model, render_pool, targets):
    model, processor = load_model(str(small_tiny_model), "cpu")
    images, _ = targets
    seen = []

    def recording(model, processor, conversations, shown, **options):
        texts = [processor.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
        flat = [image for row in shown for image in row]
        ids = processor(images=flat, text=texts, padding=True, return_tensors="pt")["input_ids"]
        seen.append({"conversations": conversations, "texts": texts, "images": [list(row) for row in shown],
                     "image_tokens": (ids == processor.image_token_id).sum(dim=1).tolist()})
        return generation.generate_replies(model, processor, conversations, shown, **options)

    settings = EpisodeSettings(max_turns=2, image_size=84, max_new_tokens=6)
    episodes = run_episodes(model, processor, images, settings, pool=render_pool,
                            first_answers=[prompts.format_completion(BROKEN)] * 2, sampler=recording)
    first = episodes[0].turns[0]
    assert first.code == BROKEN and not first.rendered and first.figures is None
    assert "Your program failed (compile):\nline 4: error: syntax error" in first.observation.text
    (turn_two,) = seen  # turn 1 was given: the model wrote turn 2 only
    assert all("line 4: error: syntax error" in text for text in turn_two["texts"])
    assert [len(row) for row in turn_two["images"]] == [3, 3]  # target, render, difference map
    assert turn_two["image_tokens"] == [3 * prompts.image_tokens(84)] * 2
    assert [len(e.turns) for e in episodes] == [2, 2]
    table = turn_table(episodes)
    assert table["structure"].shape == (2, 2) and table["rendered"][:, 0].tolist() == [0.0, 0.0]
    black = episodes[0].turns[0].scores  # a failure scores as a black image, as the evaluation counts it
    assert black["structure"] <= 0 and not np.isnan(black["structure"])


def test_blanked_observations_keep_the_words_and_black_out_the_images(small_tiny_model, render_pool, targets):
    model, processor = load_model(str(small_tiny_model), "cpu")
    images, codes = targets
    shown = []

    def recording(model, processor, conversations, pictures, **options):
        shown.append([list(row) for row in pictures])
        return [["no program"] for _ in conversations]

    settings = EpisodeSettings(max_turns=3, image_size=84, blank_observations=True)
    episodes = run_episodes(model, processor, images, settings, pool=render_pool,
                            first_answers=[prompts.format_completion(c) for c in codes], sampler=recording)
    assert episodes[0].turns[0].figures["structure"] == pytest.approx(1.0)  # the right program, scored for real
    assert [len(p) for p in shown[0]] == [3, 3] and [len(p) for p in shown[1]] == [5, 5]
    assert all(not np.asarray(image).any() for image in shown[0][0][1:])
    assert episodes[0].turns[1].observation.failure == "no_program"


def test_observed_from_shows_another_episodes_render_scored_against_the_episodes_own_picture(render_pool, targets):
    """Episode 0 answers picture 0 rightly and episode 1 answers picture 1 with a broken program; swapped, episode 0
    is shown the compiler's message and episode 1 a render, scored against picture 1: another picture's program."""
    images, codes = targets
    shown, conversations_seen = [], []

    def recording(model, processor, conversations, pictures, **options):
        conversations_seen.append(conversations)
        shown.append([list(row) for row in pictures])
        return [["no program"] for _ in conversations]

    settings = EpisodeSettings(max_turns=2, image_size=84)
    answers = [prompts.format_completion(codes[0]), prompts.format_completion(BROKEN)]
    kept = run_episodes(None, None, images, settings, pool=render_pool, first_answers=answers, sampler=recording)
    swapped = run_episodes(None, None, images, settings, pool=render_pool, first_answers=answers,
                           observed_from=[1, 0], sampler=recording)
    assert [e.turns[0].scores for e in swapped] == [e.turns[0].scores for e in kept]  # each keeps its own figures
    words = [[c[-1]["content"][-1]["text"] for c in calls] for calls in conversations_seen]
    assert "failed (compile)" in words[1][0] and "failed" not in words[0][0]
    assert "failed" not in words[1][1] and words[1][1] != words[0][0]  # picture 0's program, judged on picture 1
    assert np.array_equal(shown[1][1][1], shown[0][0][1])  # the same render, now shown to episode 1
    assert conversations_seen[1][0][1] == conversations_seen[0][0][1]  # episode 0's own answer is still its turn 1
    with pytest.raises(ValueError, match="must reorder the 2 episodes"):
        run_episodes(None, None, images, settings, pool=render_pool, first_answers=answers, observed_from=[0, 0],
                     sampler=recording)



def test_k_samples_draw_turn_one_from_one_prompt_and_run_one_episode_each_picture_major(render_pool, targets):
    """`samples` K: turn 1 is K answers to each picture's prompt (as `generate_completions` draws them), then every
    answer is an episode of its own; picture i's episodes are i * K .. i * K + K - 1."""
    images, codes = targets
    calls = []

    def sampler(model, processor, conversations, shown, *, k, **options):
        calls.append((len(conversations), k, [len(c) for c in conversations]))
        if k > 1:
            return [[prompts.format_completion(codes[i]), "no program"] for i in range(len(conversations))]
        return [["no program"] for _ in conversations]

    settings = EpisodeSettings(max_turns=2, image_size=84, samples=2)
    episodes = run_episodes(None, None, images, settings, pool=render_pool, sampler=sampler)
    assert calls == [(2, 2, [1, 1]), (4, 1, [3, 3, 3, 3])]
    assert [e.turns[0].code for e in episodes] == [codes[0].strip(), "", codes[1].strip(), ""]
    assert [round(e.turns[0].scores["structure"], 6) for e in episodes[::2]] == [1.0, 1.0]  # each its own picture
    assert turn_table(episodes)["rendered"].tolist() == [[1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="one turn 1 a picture"):
        run_episodes(None, None, images, settings, pool=render_pool, first_answers=["a", "b"], sampler=sampler)


def tool_call(code: str) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "glsl", "arguments": {"code": code}}}]}


class RecordedEnvironment:
    """What a rollout's environment recorded (it may have rendered an observation TRL then rolled back)."""

    def __init__(self, turns, error=None):
        self.turns, self.seconds, self.error = turns, 0.01, error


def test_improvement_is_read_from_the_completions_and_logs_turn_one_beside_the_last(targets):
    images, codes = targets
    observation = {"role": "tool", "name": "glsl", "content": [{"type": "text", "text": "failed"}]}
    repaired = [tool_call(BROKEN), observation, tool_call(codes[0])]
    rolled_back = [tool_call(codes[0])]  # the environment rendered it, TRL dropped the observation
    single = [{"role": "assistant", "content": prompts.format_completion(codes[0])}]
    logged = {}
    reward = ImprovementReward()
    values = reward(completions=[repaired, rolled_back, single], image=[images[0]] * 3,
                    environments=[RecordedEnvironment([{"code": BROKEN, "figures": None}]),
                                  RecordedEnvironment([{"code": codes[0], "figures": None}]), None],
                    log_metric=logged.__setitem__)
    assert values[0] > 0.5 and values[1] == values[2] == 0.0
    assert logged["episode/turns"] == pytest.approx(4 / 3) and logged["episode/rolled_back"] == pytest.approx(1 / 3)
    assert logged["episode/repaired"] == 1.0 and logged["episode/final_rendered"] == 1.0
    assert logged["episode/turn1_structure"] < logged["episode/final_structure"] == pytest.approx(1.0)
    from rewards import RewardError

    with pytest.raises(RewardError, match="environment failed: ZeroDivisionError"):
        reward(completions=[single], image=[images[0]], environments=[RecordedEnvironment([], ZeroDivisionError())])


def test_improvement_renders_every_unscored_program_in_one_call_and_logs_its_time(targets, monkeypatch):
    from rewards.cache import shared_cache

    images, codes = targets
    cache, calls = shared_cache(), []
    render = cache.render
    monkeypatch.setattr(cache, "render", lambda requests, **kw: calls.append(len(requests)) or render(requests, **kw))
    observation = {"role": "tool", "name": "glsl", "content": [{"type": "text", "text": "seen"}]}
    episodes = [[tool_call(first), observation, tool_call(last)]
                for first, last in ((codes[0], codes[1]), (codes[1], codes[0]), (BROKEN, codes[0]))]
    # what LookEnvironment records: the program as it rendered it (stripped), with its figures
    known = RecordedEnvironment([{"code": codes[0].strip(), "figures": {"structure": 0.5, "appearance": 0.5}}])
    logged = {}
    values = ImprovementReward()(completions=episodes, image=[images[0], images[1], images[0]],
                                 environments=[known, None, None], log_metric=logged.__setitem__)
    assert calls == [5]  # 3 final programs and the 2 turns 1 the environments had not scored, together
    assert values[2] > 0.5 and logged["episode/repaired"] == 1.0  # the broken turn 1 drew nothing, the last did
    assert values[0] == pytest.approx(ImprovementReward()(completions=episodes[:1], image=[images[0]],
                                                          environments=[known])[0])
    assert 0 <= logged["time/episode_render_s"] <= logged["time/episode_scoring_s"]


def test_first_turn_reward_is_turn_ones_figure_read_from_its_observation(targets, monkeypatch):
    from earthshader.episodes.observation import TargetFigures
    from rewards.cache import shared_cache

    images, codes = targets
    observation = {"role": "tool", "name": "glsl", "content": [{"type": "text", "text": "seen"}]}
    episodes = [[tool_call(codes[0]), observation, tool_call(codes[1])],   # turn 1 observed: its figures are known
                [tool_call(BROKEN), observation, tool_call(codes[0])],     # turn 1 drew nothing: a black image
                [{"role": "assistant", "content": prompts.format_completion(codes[1])}]]   # one turn, not observed
    known = RecordedEnvironment([{"code": codes[0].strip(), "figures": {"structure": 0.25, "appearance": 0.75}}])
    cache, calls = shared_cache(), []
    render = cache.render
    monkeypatch.setattr(cache, "render", lambda requests, **kw: calls.append(len(requests)) or render(requests, **kw))
    values = FirstTurnReward()(completions=episodes, image=[images[0]] * 3, environments=[known, None, None])
    assert calls == [2]  # the two first programs no environment scored; no last turn
    scorer = TargetFigures.of(images[0])
    assert values[0] == 0.5 and values[1] == pytest.approx(episode_figure(scorer.failed()))
    assert values[2] == pytest.approx(episode_figure(scorer.figures([render([_request(codes[1])])[0].image])[0]))
    improvement = ImprovementReward()(completions=episodes, image=[images[0]] * 3, environments=[known, None, None])
    assert improvement[2] == 0.0 and improvement[1] > 0  # the same turn-1 figures the improvement is measured from


def _request(code):
    from rewards.cache import RenderRequest

    return RenderRequest(code, 84, 84, (0.0,))
