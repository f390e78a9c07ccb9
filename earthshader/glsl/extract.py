"""Pull the GLSL program out of a model's answer: the one extractor used by rewards, evaluation and inference.

    >>> from earthshader.glsl.extract import extract_glsl
    >>> shader = extract_glsl("Here it is:\\n```glsl\\nvoid mainImage(out vec4 c, in vec2 p) { c = vec4(1); }\\n```")
    >>> shader.code
    'void mainImage(out vec4 c, in vec2 p) { c = vec4(1); }'
    >>> shader.found_fence, shader.n_blocks, shader.has_main_image, shader.truncated
    (True, 1, True, False)

Accepted input: a string, TRL's conversational completion `[{"role": "assistant", "content": ...}]`
(the last assistant turn is read; `content` may also be a list of `{"type": "text", "text": ...}` parts),
or None (an empty answer). A reasoning preamble closed by `</think>` is skipped. In a look-and-fix episode
(docs/look-and-fix.md) TRL parses each fenced program into a tool call `glsl(code=...)` and leaves the
turn's `content` empty: such a turn reads as its text followed by each call as a ```glsl block, so the
final program is what every reader sees, and `turn_texts` gives every turn's answer.

    >>> episode = [{"role": "assistant", "content": "", "tool_calls": [
    ...     {"type": "function", "function": {"name": "glsl", "arguments": {"code": "void mainImage() {}"}}}]},
    ...     {"role": "tool", "name": "glsl", "content": [{"type": "text", "text": "failed"}]},
    ...     {"role": "assistant", "content": "```glsl\\nvoid mainImage(out vec4 c, in vec2 p) {}\\n```"}]
    >>> turn_texts(episode)[0]
    '```glsl\\nvoid mainImage() {}\\n```'
    >>> extract_glsl(episode).code
    'void mainImage(out vec4 c, in vec2 p) {}'

Rules, in order:
1. Fenced blocks (```glsl, ```c, plain ```, any info word; a fence may be left open at the end). With several
   blocks, the chosen one defines `mainImage` (among those: a complete one before a cut-off one, then the
   last, as models put their final version last); when none does, the longest block.
2. No fence: bare code, with prose before or after it. The code region is the run of code-like lines
   (everything inside braces counts as code) around `void mainImage(`; without `mainImage`, the largest
   such run. A completion that is only prose gives `code == ""`.
3. `truncated` is True when the chosen block's fence was never closed, or its braces, parentheses or a
   block comment are left open: the answer was most likely cut off by the generation length limit.

Extraction never raises and never edits the code (no header is added, nothing is renamed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from earthshader.render.shadertoy import strip_comments

#: Info words after ``` that mark a block as shader code (anything else still counts, ranked lower).
GLSL_FENCE_LANGUAGES = frozenset({"", "glsl", "glsles", "frag", "fs", "shader", "c", "cpp", "c++", "hlsl", "opengl"})

_MAIN_IMAGE = re.compile(r"\bvoid\s+mainImage\s*\(")
_FENCE = re.compile(r"(`{3,}|~{3,})")
_CODE_START = re.compile(
    r"^(#|//|/\*|[{}()\[\];,]|"
    r"(void|float|int|uint|bool|[biu]?vec[234]|mat[234](x[234])?|const|uniform|struct|in|out|inout|"
    r"highp|mediump|lowp|precision|return|if|else|for|while|do|break|continue|discard|switch|case|default)\b)"
)
_SIGNATURE = re.compile(r"^\w+\s+\w+\s*\([^()]*\)\s*\{?$")  # a whole line like "Ray getRay(vec2 uv) {"
_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class ExtractedShader:
    """What `extract_glsl` found.

    - `code`: the chosen program, stripped ("" when the answer holds no code).
    - `found_fence`: the code came from a fenced block.
    - `n_blocks`: how many fenced blocks the answer holds (0 for bare code).
    - `language`: the chosen fence's info word ("glsl", "c", "" for a plain fence; None without a fence).
    - `has_main_image`: `code` defines `void mainImage(`.
    - `truncated`: an unclosed fence, or braces / parentheses / a block comment left open in `code`.
    - `has_prose`: text other than the chosen code (explanations, other blocks) is present.
    """

    code: str
    found_fence: bool = False
    n_blocks: int = 0
    language: str | None = None
    has_main_image: bool = False
    truncated: bool = False
    has_prose: bool = False

    @property
    def ok(self) -> bool:
        """Something worth rendering: non-empty code that defines `mainImage`."""
        return bool(self.code) and self.has_main_image

    @property
    def well_formed(self) -> bool:
        """The answer the prompt asks for: exactly one closed GLSL fence whose code defines `mainImage`."""
        return (
            self.ok
            and self.found_fence
            and self.n_blocks == 1
            and self.language in GLSL_FENCE_LANGUAGES
            and not self.truncated
        )


def completion_text(completion) -> str:
    """The answer text of a completion: a str, a message dict, or a list of messages (last assistant turn)."""
    turns = turn_texts(completion)
    return turns[-1] if turns else ""


def turn_texts(completion) -> list[str]:
    """The answer text of each assistant turn of a completion, in order (a str or one message: one turn; a list
    with no assistant turn: its last message). A turn's tool calls follow its text as fenced blocks."""
    if completion is None:
        return []
    if isinstance(completion, str):
        return [completion]
    if isinstance(completion, dict):
        return [_message_text(completion)]
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"]
        return [_message_text(m) for m in (assistant or messages[-1:])]
    raise TypeError(
        f"a completion is a str or a list of {{'role', 'content'}} messages, got {type(completion).__name__}"
    )


def _message_text(message: dict) -> str:
    """A message's text, then each of its tool calls as ```NAME\nCODE\n``` (the `code` argument, or the
    arguments as given when they are a string); a call of any other shape adds nothing."""
    calls = message.get("tool_calls")
    parts = [_content_text(message.get("content"))]
    for call in calls if isinstance(calls, (list, tuple)) else ():
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        code = arguments.get("code") if isinstance(arguments, dict) else arguments
        name = function.get("name")
        if isinstance(code, str):
            parts.append(f"```{name if isinstance(name, str) else ''}\n{code}\n```")
    return "\n".join(part for part in parts if part)


def _content_text(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        return "".join(part for part in parts if isinstance(part, str))
    return str(content)


def extract_glsl(completion) -> ExtractedShader:
    """Extract the GLSL program from a completion (see the module docstring for the rules)."""
    text = completion_text(completion).replace("\r\n", "\n").replace("\r", "\n")
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    blocks = _fenced_blocks(text)
    if blocks:
        return _choose_block(blocks, text)
    code = _bare_code(text)
    stripped = text.strip()
    return ExtractedShader(
        code=code,
        has_main_image=bool(_MAIN_IMAGE.search(strip_comments(code))),
        truncated=bool(code) and _is_unbalanced(code),
        has_prose=len(code) < len(stripped),
    )


class _Block(NamedTuple):
    code: str
    language: str
    closed: bool
    start: int  # offset of the opening fence in the text
    end: int  # offset just after the closing fence (or the end of the text)


#: One fenced block: the opening fence; then either an info word alone on its line (the code starts on the next
#: line), a GLSL language word followed by code on the same line, or nothing (code right after the backticks);
#: then the code, up to a run of at least as many of the same fence character, or the end of the text. One
#: scan of the text finds every block (`finditer`), so the time is linear in the text, however many fences.
_BLOCK = re.compile(
    r"(?P<fence>`{3,}|~{3,})"
    r"(?:[^\S\n]*(?P<alone>[\w+.#-]*)[^\S\n]*(?:\n|\Z)"
    r"|[^\S\n]*(?P<lang>(?i:glsles|glsl|frag|fs|shader|cpp|c\+\+|c|hlsl|opengl))(?=\s)"
    r"|)"
    r"(?P<body>.*?)"
    r"(?:(?P<close>(?P=fence)(?:(?<=`)`*|(?<=~)~*))|\Z)",
    re.DOTALL,
)


def _fenced_blocks(text: str) -> list[_Block]:
    """Fenced blocks in order; a fence left open runs to the end of the text."""
    blocks = []
    for match in _BLOCK.finditer(text):
        _, alone, lang, body, close = match.groups()
        blocks.append(_Block(body.strip(), (alone if alone is not None else lang or "").lower(), close is not None,
                             match.start(), match.end()))
        if close is None:
            break
    return blocks


def _choose_block(blocks: list[_Block], text: str) -> ExtractedShader:
    def defines_main(block: _Block) -> bool:
        return "mainImage" in block.code and bool(_MAIN_IMAGE.search(strip_comments(block.code)))

    def complete(block: _Block) -> bool:
        return block.closed and not _is_unbalanced(block.code)

    with_main = [(i, b) for i, b in enumerate(blocks) if defines_main(b)]
    if with_main:
        _, chosen = max(
            with_main, key=lambda item: (complete(item[1]), item[1].language in GLSL_FENCE_LANGUAGES, item[0])
        )
    else:
        chosen = max(blocks, key=lambda b: (b.language in GLSL_FENCE_LANGUAGES, len(b.code)))
    outside = (text[: chosen.start] + text[chosen.end :]).strip()
    return ExtractedShader(
        code=chosen.code,
        found_fence=True,
        n_blocks=len(blocks),
        language=chosen.language,
        has_main_image=defines_main(chosen),
        truncated=not complete(chosen),
        has_prose=bool(outside),
    )


def _is_unbalanced(code: str) -> bool:
    """Braces or parentheses left open, or a block comment never closed."""
    in_comment = False
    kept = []
    for line in code.split("\n"):
        bare, in_comment = _uncomment_line(line, in_comment)
        kept.append(bare)
    bare = "\n".join(kept)
    return in_comment or bare.count("{") > bare.count("}") or bare.count("(") > bare.count(")")


def _bare_code(text: str) -> str:
    """The code region of an answer without fences (see rule 2 in the module docstring)."""
    lines = text.split("\n")
    kinds = _classify_lines(lines)
    runs = []  # [first, last] line indices of maximal runs of code (blank lines join runs)
    for i, kind in enumerate(kinds):
        if kind == "code":
            if runs and all(k == "blank" for k in kinds[runs[-1][1] + 1 : i]):
                runs[-1][1] = i
            else:
                runs.append([i, i])
    if not runs:
        return ""
    main_line = next((i for i, line in enumerate(lines) if kinds[i] == "code" and _MAIN_IMAGE.search(line)), None)
    chosen = None
    if main_line is not None:
        chosen = next((run for run in runs if run[0] <= main_line <= run[1]), None)
    if chosen is None:
        chosen = max(runs, key=lambda run: sum(len(lines[i]) for i in range(run[0], run[1] + 1)))
    return "\n".join(lines[chosen[0] : chosen[1] + 1]).strip()


def _classify_lines(lines: list[str]) -> list[str]:
    """'code', 'prose' or 'blank' for each line; inside braces or a block comment every line is code."""
    kinds = []
    depth = 0
    in_comment = False
    for line in lines:
        stripped = line.strip()
        if not stripped and not in_comment:
            kinds.append("blank")
            continue
        if depth > 0 or in_comment or _looks_like_code(stripped):
            kinds.append("code")
        else:
            kinds.append("prose")
            continue
        bare, in_comment = _uncomment_line(line, in_comment)
        depth = max(0, depth + bare.count("{") - bare.count("}"))
    return kinds


def _uncomment_line(line: str, in_comment: bool) -> tuple[str, bool]:
    """The line without comments, and whether a block comment is still open at its end."""
    out = []
    i = 0
    while i < len(line):
        if in_comment:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            in_comment, i = False, end + 2
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_comment, i = True, i + 2
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_comment


def _looks_like_code(stripped: str) -> bool:
    """A line outside braces that reads as GLSL rather than as a sentence."""
    if _CODE_START.match(stripped) or _SIGNATURE.match(stripped):
        return True
    if any(ch in stripped for ch in ";{}="):
        return True
    return not _WORD.search(stripped)  # numbers and operators only (a continued expression)
