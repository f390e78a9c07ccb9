"""Contract tests of the chat templates look and fix relies on (TRL 1.16, transformers 5.2x): they fail loudly
when an upgrade changes what the episodes need.

- The tiny model's chat template is Qwen2-VL-7B-Instruct's, byte for byte (checked by content, below), so what
  holds on the tiny processor holds on the real one.
- Every image of every turn becomes its own run of image tokens (target, render and difference map), in user
  turns and in tool turns alike (the trl#5663 symptom is a template that drops tool images).
- TRL refuses the stock template for tools and accepts the agent template, which renders ordinary
  conversations exactly as the stock one and the fenced program as the tool call.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from earthshader.episodes.agent_template import (
    AGENT_CHAT_TEMPLATE,
    FENCE_AS_TOOL_CALL,
    TemplateError,
    drop_agent_templates,
    stock_template,
    use_agent_templates,
)
from earthshader.episodes.environment import LookEnvironment, observation_tokens, without_vision_tokens
from earthshader.modeling import prompts
from earthshader.modeling.loading import load_processor

#: Qwen2-VL-7B-Instruct's `chat_template.json`, as public copies of that file quote it verbatim (no Hub access
#: here); TRL's chat_templates/README.md says the same: Qwen2-VL ships qwen2_5_vl.jinja.
QWEN2_VL_7B_INSTRUCT = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}"
    "{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)
PROGRAM = "```glsl\nvoid mainImage(out vec4 c, in vec2 p) {\n    c = vec4(1.0);\n}\n```"


def picture(side: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8))


def episode(target: int, observed: int, role: str = "user") -> tuple[list[dict], list]:
    """A two-turn conversation with every image inline: target, answer, observation (render + difference map)."""
    images = [picture(target, 0), picture(observed, 1), picture(observed, 2)]
    text = prompts.observation_text(None, failure="compile", details=["line 2: error: `bb' undeclared"])
    return [{"role": "user", "content": [{"type": "image", "image": images[0]},
                                         {"type": "text", "text": prompts.INSTRUCTION}]},
            prompts.make_answer_turn(PROGRAM),
            {"role": role, "content": [{"type": "image", "image": images[1]}, {"type": "image", "image": images[2]},
                                       {"type": "text", "text": text}]}], images


def image_runs(ids: list[int], image_id: int) -> list[int]:
    runs, count = [], 0
    for token in [*ids, -1]:
        if token == image_id:
            count += 1
        elif count:
            runs.append(count)
            count = 0
    return runs


@pytest.fixture
def processor(small_tiny_model):
    return load_processor(str(small_tiny_model))


def test_the_tiny_template_is_qwen2_vl_7b_instructs_byte_for_byte(processor):
    assert processor.chat_template == QWEN2_VL_7B_INSTRUCT == stock_template()


@pytest.mark.parametrize(("template", "role"), [("stock", "user"), ("stock", "tool"), ("agent", "user"),
                                                ("agent", "tool")])
@pytest.mark.parametrize(("target", "observed"), [(84, 84), (448, 224)])
def test_every_image_of_every_turn_becomes_its_own_run_of_image_tokens(processor, template, role, target, observed):
    processor.chat_template = QWEN2_VL_7B_INSTRUCT if template == "stock" else AGENT_CHAT_TEMPLATE
    messages, _ = episode(target, observed, role)
    out = processor.apply_chat_template(messages, tokenize=True, return_dict=True, add_generation_prompt=True,
                                        return_tensors="pt")
    runs = image_runs(out["input_ids"][0].tolist(), processor.image_token_id)
    expected = [prompts.image_tokens(target), prompts.image_tokens(observed), prompts.image_tokens(observed)]
    assert runs == expected == [int(g.prod()) // 4 for g in out["image_grid_thw"]]


def test_the_agent_template_renders_ordinary_conversations_as_the_stock_one(processor):
    messages, _ = episode(84, 84)
    longer = [*messages, prompts.make_answer_turn(PROGRAM), {"role": "user", "content": "plain text"},
              {"role": "assistant", "content": "no program"}]
    for conversation in (messages, longer, messages[:1]):
        for generation_prompt in (True, False):
            stock = processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=generation_prompt)
            agent = processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=generation_prompt,
                                                  chat_template=AGENT_CHAT_TEMPLATE)
            assert agent == stock


def test_the_agent_template_writes_a_tool_call_as_the_fenced_program_and_a_tool_turn_as_a_user_turn(processor):
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "glsl", "arguments": {"code": "void mainImage() {}"}}}]}
    tool = {"role": "tool", "name": "glsl", "content": [{"type": "text", "text": "seen"}]}
    text = processor.apply_chat_template([{"role": "user", "content": "x"}, call, tool], tokenize=False,
                                         chat_template=AGENT_CHAT_TEMPLATE)
    assert "<|im_start|>assistant\n```glsl\nvoid mainImage() {}\n```<|im_end|>\n<|im_start|>user\nseen<|im_end|>" in text
    processor.tokenizer.response_template = FENCE_AS_TOOL_CALL
    prefix = "<|im_start|>assistant\n"
    parsed = processor.tokenizer.parse_response("Here:\n```glsl\nvoid mainImage() {}\n```<|im_end|>", prefix=prefix)
    assert parsed["tool_calls"] == call["tool_calls"] and parsed["content"] == "Here:"
    assert "tool_calls" not in processor.tokenizer.parse_response("void mainImage() {}<|im_end|>", prefix=prefix)


def test_trl_refuses_the_stock_template_for_tools_and_accepts_the_agent_template(processor):
    from trl.chat_template_utils import is_chat_template_prefix_preserving, supports_tool_calling

    assert not supports_tool_calling(processor)
    use_agent_templates(processor)
    assert supports_tool_calling(processor) and is_chat_template_prefix_preserving(processor)
    drop_agent_templates(processor)
    assert processor.chat_template == stock_template() and processor.tokenizer.response_template is None
    processor.chat_template = "{{ messages }}"
    with pytest.raises(TemplateError, match="Qwen2-VL's chat template"):
        use_agent_templates(processor)


def test_grpo_with_an_environment_is_refused_on_the_stock_template_and_built_on_the_agent_one(small_tiny_model,
                                                                                             tmp_path, monkeypatch):
    import datasets
    from transformers import AutoModelForImageTextToText
    from trl import GRPOConfig, GRPOTrainer

    monkeypatch.setitem(os.environ, "TRL_EXPERIMENTAL_SILENCE", "1")
    processor = load_processor(str(small_tiny_model))
    model = AutoModelForImageTextToText.from_pretrained(str(small_tiny_model), dtype="float32")
    data = datasets.Dataset.from_list([{"prompt": prompts.make_prompt(), "image": picture(84, 0)}] * 2)
    config = GRPOConfig(output_dir=str(tmp_path), num_generations=2, per_device_train_batch_size=2, use_cpu=True,
                        bf16=False, report_to="none", max_completion_length=256, max_tool_calling_iterations=1)
    options = {"model": model, "reward_funcs": [lambda completions, **_: [0.0] * len(completions)], "args": config,
               "train_dataset": data, "processing_class": processor, "environment_factory": LookEnvironment}
    with pytest.raises(ValueError, match="does not support tool calling"):
        GRPOTrainer(**options)
    trainer = GRPOTrainer(**{**options, "processing_class": use_agent_templates(processor)})
    assert [tool.__name__ for tool in trainer.tools] == ["glsl"] and trainer.chat_template is None


def test_an_observation_costs_its_image_tokens_and_a_few_words(processor):
    tokens = observation_tokens(processor, 84)  # three long compiler messages: under 200 tokens of words
    assert 2 * prompts.image_tokens(84) < tokens < 2 * prompts.image_tokens(84) + 200
    assert observation_tokens(processor, 224) - tokens == 2 * (prompts.image_tokens(224) - prompts.image_tokens(84))


def test_episodes_never_sample_an_image_or_video_token(processor):
    ids = [processor.image_token_id, processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")]
    assert without_vision_tokens({"top_k": 5}, processor, use_vllm=False) == {"top_k": 5, "suppress_tokens": sorted(ids)}
    assert without_vision_tokens(None, processor, use_vllm=True) == {"bad_words": ["<|video_pad|>"]}
