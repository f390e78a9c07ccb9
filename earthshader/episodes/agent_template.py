"""The two public settings that let TRL's `environment_factory` run look-and-fix episodes on Qwen2-VL: the
program IS the tool call.

    from earthshader.episodes.agent_template import drop_agent_templates, use_agent_templates
    use_agent_templates(processor)      # GRPO with max_turns > 1; refuses any other chat template
    ...
    drop_agent_templates(processor)     # the stock templates back, before the processor is saved

- `AGENT_CHAT_TEMPLATE`: Qwen2-VL-Instruct's chat template (the tiny model's is the same file, TRL's
  `chat_templates/qwen2_5_vl.jinja`) with two changes: an assistant's `tool_calls` are rendered as the fenced
  program ```` ```glsl\\nCODE\\n``` ```` (any other argument as a `// key: value` line), and a `tool` message is
  rendered as a `user` turn (Qwen2-VL never learnt a `tool` role, and SFT's correction rows put the observation
  in a user turn). On every conversation the stock template renders, its output is the same, byte for byte
  (tests/test_episodes_templates.py), so TRL's `supports_tool_calling` check passes and nothing else changes.
- `FENCE_AS_TOOL_CALL`: a transformers (>= 5.13) `response_template` that parses a ```` ```glsl ```` block of an
  answer as a call of the tool `glsl(code=...)`, so that TRL runs the environment after every answer that holds
  a fenced program. An answer without one stays plain content, and its episode ends there.

Both are experimental API of TRL 1.16 (`environment_factory`) and transformers (`response_template`); the
contract tests in tests/test_episodes_grpo.py fail on a version that changes what they rely on.
"""

from __future__ import annotations

from importlib.resources import files

from earthshader.errors import UsageError

AGENT_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ 'user' if message['role'] == 'tool' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% elif message['content'] %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if message.get('tool_calls') %}{% for call in message['tool_calls'] %}"
    "{% set f = call['function'] if call['function'] is defined else call %}"
    "```{{ f['name'] }}\n"
    "{% if f['arguments'] is mapping %}{% for key, value in f['arguments'].items() %}"
    "{% if key == 'code' %}{{ value }}\n{% else %}// {{ key }}: {{ value }}\n{% endif %}{% endfor %}"
    "{% else %}{{ f['arguments'] }}\n{% endif %}```{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: The name of the one tool, and so the info word of the fence that calls it.
TOOL_NAME = "glsl"

FENCE_AS_TOOL_CALL = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open": f"```{TOOL_NAME}\n",
            "close_pattern": r"\n```",
            "content": "text",
            "transform": {"type": "function", "function": {"name": TOOL_NAME, "arguments": {"code": "{content}"}}},
            "repeats": True,  # TRL iterates over the calls: with `repeats` off the parser gives one dict, not a list
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}


class TemplateError(UsageError, ValueError):
    """Look-and-fix episodes need Qwen2-VL's chat template, and the processor has another."""


def stock_template() -> str:
    """Qwen2-VL-Instruct's chat template (TRL ships it as `qwen2_5_vl.jinja`; Qwen2.5-VL's is the same)."""
    return (files("trl") / "chat_templates" / "qwen2_5_vl.jinja").read_text()


def use_agent_templates(processor):
    """Set `AGENT_CHAT_TEMPLATE` and `FENCE_AS_TOOL_CALL` on a Qwen2-VL processor (in place) and return it. Any
    other chat template is refused: the agent template is an edit of Qwen2-VL's."""
    if processor.chat_template not in (stock_template(), AGENT_CHAT_TEMPLATE):
        raise TemplateError("max_turns > 1 needs Qwen2-VL's chat template (as Qwen/Qwen2-VL-7B-Instruct and the "
                            "tiny model ship it); this processor has another, so its tool calls cannot be the fenced "
                            "program (docs/look-and-fix.md)")
    processor.chat_template = AGENT_CHAT_TEMPLATE
    processor.tokenizer.response_template = FENCE_AS_TOOL_CALL
    return processor


def drop_agent_templates(processor):
    """Put the stock templates back where `use_agent_templates` set them (before the processor is saved, so that
    a saved model's answers are never parsed as tool calls); any other template is left alone."""
    if processor.chat_template == AGENT_CHAT_TEMPLATE:
        processor.chat_template = stock_template()
    if getattr(processor.tokenizer, "response_template", None) == FENCE_AS_TOOL_CALL:
        processor.tokenizer.response_template = None
    return processor
