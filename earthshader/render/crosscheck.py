"""Why EarthShader and wgpu-shadertoy disagree on a shader: detectors read from its source.

    from earthshader.render.crosscheck import CAUSES, causes, sequence_commas

The cross-check against wgpu-shadertoy (`benchmarks/crosscheck_wgpu.py`, docs/render.md) names each
disagreement with them; pure functions, no GL. Each detector names one way in which two renderers give
different pictures of one program: a defect of one of them, or GLSL leaving the result undefined.
`causes(code)` lists those that the source shows, most specific first; the benchmark confirms some by
re-rendering (see its `EXPERIMENTS`).

    >>> causes("void mainImage(out vec4 O, vec2 u) { O = gl_FragCoord / iResolution.y; }")
    ['gl_fragcoord']
    >>> causes("void mainImage(out vec4 O, vec2 u) { for (int j = 0; j < 4; j++) O.x += .1, O.y += .1; }")
    ['naga_comma']
    >>> causes("float h(vec2 p) { return fract(sin(dot(p, vec2(12.9898, 78.233))) * 43758.5453); }")
    ['sin_hash']
"""

from __future__ import annotations

import re

from earthshader.render.evaluation_order import ASSIGNMENTS, statements, unsequenced_reads
from earthshader.render.preprocess import PreprocessorError, preprocess
from earthshader.render.shadertoy import matching_bracket, strip_comments

#: Cause -> (which side departs from Shadertoy in a browser, explanation).
CAUSES = {
    "gl_fragcoord": ("wgpu-shadertoy", "reads gl_FragCoord, whose origin wgpu-shadertoy leaves at Vulkan's top "
                                       "left (WebGL's is bottom left): the picture comes out upside down"),
    "naga_comma": ("wgpu-shadertoy", "a comma expression whose left operand assigns (`a += 1., b += 1.;`): naga "
                                     "keeps only the last operand's side effects"),
    "evaluation_order": ("undefined", "an assignment inside an expression that reads the variable further left; "
                                      "EarthShader now reads left to right, as browsers do"),
    "integer_ops": ("undefined", "integer % or bit operations: % of negative operands is undefined in GLSL ES "
                                 "(Mesa's GL compiler gives the unsigned remainder, SPIR-V and Direct3D the "
                                 "truncated one)"),
    "sin_hash": ("undefined", "a fract(sin(x) * large) hash: the last bits of sin() differ between "
                              "implementations, and the hash magnifies them"),
    "nonfinite": ("undefined", "NaN or Inf reached the output or a comparison (step, min, max of NaN differ)"),
    "derivatives": ("wgpu-shadertoy", "dFdy: wgpu-shadertoy flips fragCoord.y, which flips dFdy's sign"),
    "idate": ("neither", "reads iDate (both renderers get the same value)"),
    "channels": ("neither", "reads iChannel textures or their size: black in both, the sizes differ"),
}

_TYPE_WORDS = re.compile(r"(?:const|highp|mediump|lowp|in|out|inout|float|int|uint|bool|[biu]?vec[234]|"
                         r"mat[234](?:x[234])?)")
_NAME = re.compile(r"[A-Za-z_]\w*")
_SIN_HASH = re.compile(r"fract\s*\(\s*(?:\d+(?:\.\d*)?\s*\*\s*)?sin\s*\(.*?\)\s*\*\s*\(?\s*\d{3,}", re.DOTALL)
_INTEGER_OPS = re.compile(r"(?<![=!<>])%(?!=)|<<|>>|(?<![&|])[&|^](?![&|^=])|\buint\b|\buvec\d\b")


def _is_declaration(statement) -> bool:
    first = statement[0].text
    second = statement[1].text if len(statement) > 1 else ""
    return bool(_TYPE_WORDS.fullmatch(first)) or bool(_NAME.fullmatch(first) and _NAME.fullmatch(second))


def comma_side_effects(code: str) -> bool:
    """True when a comma operator (not a call's or a declaration's comma) has an operand before
    its last that assigns or increments: naga drops those side effects."""
    for statement in statements(strip_comments(code)):
        for k, token in enumerate(statement):
            if token.text != "," or token.call or (token.depth == 0 and _is_declaration(statement)):
                continue
            for other in reversed(statement[:k]):
                if other.depth < token.depth or (other.depth == token.depth and other.text == ","):
                    break
                if other.text in ASSIGNMENTS or other.text in ("++", "--"):
                    return True
    return False


def causes(code: str) -> list[str]:
    """The causes of `CAUSES` that the source shows, in the order of `CAUSES`."""
    text = strip_comments(code)
    hits = {
        "gl_fragcoord": bool(re.search(r"\bgl_FragCoord\b", text)),
        "naga_comma": comma_side_effects(text),
        "evaluation_order": bool(unsequenced_reads(text)),
        "integer_ops": bool(_INTEGER_OPS.search(text)),
        "sin_hash": bool(_SIN_HASH.search(text)),
        "derivatives": bool(re.search(r"\bdFdy(?:Fine|Coarse)?\s*\(", text)),
        "idate": bool(re.search(r"\biDate\b", text)),
        "channels": bool(re.search(r"\biChannel(?:\d|Resolution)\b|\btextureSize\s*\(", text)),
    }
    return [name for name in CAUSES if hits.get(name)]


def sequence_commas(code: str) -> str:
    """The same program with its comma operators' side effects sequenced as statements, for
    re-rendering with naga, which drops those of all but a comma's last operand.

    Works on the preprocessed source (macros often hold the commas). An expression statement
    `a += 1., b += 1.;` becomes `{ a += 1.; b += 1.; }`, a conditional used as a statement with a
    comma in a branch (`r > v ? r = v, R = V : R;`) becomes `if`/`else`, and a `for` increment
    holding a comma moves to the end of its loop's body (left alone when the body has `continue`).
    Commas nested inside a larger expression are left as they are.

    >>> sequence_commas("void f() { for (; k++ < 9.; r > v ? r = v, R = V : R) { v = g(); } }")
    'void f() { for (; k++ < 9.; ) { v = g(); { if (r > v) { r = v; R = V; } else { R; } } } }'
    """
    try:
        text = preprocess(code, "es300")
    except PreprocessorError:
        text = strip_comments(code)
    for _ in range(100):  # one loop at a time: each edit moves the text after it
        moved = _move_one_for_increment(text)
        if moved is None:
            break
        text = moved
    edits: list[tuple[int, int, str]] = []
    headers = [(m.end() - 1, matching_bracket(text, m.end() - 1)) for m in re.finditer(r"\bfor\s*\(", text)]
    for statement in statements(text):
        statement = _after_if_or_else(statement)
        if not statement:
            continue
        first, last = statement[0].start, statement[-1].start + len(statement[-1].text)
        before, after = text[:first].rstrip(), text[last:].lstrip()[:1]
        if (after != ";" or _is_declaration(statement) or _STATEMENT_KEYWORD.fullmatch(statement[0].text)
                or before[-1:] not in (";", "{", "}", ")") and not re.search(r"\b(?:else|do)$", before)
                or any(open_ < first and (close is None or first < close) for open_, close in headers)):
            continue
        replacement = _sequenced(text[first:last])
        if replacement is not None:
            edits.append((first, text.index(";", last) + 1, "{ " + replacement + " }"))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _after_if_or_else(statement: list) -> list:
    """The tokens of `statement` after any leading `else` and `if (...)`: its expression part."""
    while statement and statement[0].text in ("if", "else"):
        if statement[0].text == "else":
            statement = statement[1:]
            continue
        close = next((k for k, t in enumerate(statement) if k > 1 and t.text == ")" and t.depth == 0), None)
        statement = [] if close is None else statement[close + 1:]
    return statement


_STATEMENT_KEYWORD = re.compile(r"if|for|while|do|switch|case|default|return|break|continue|discard|else")
_ASSIGNING = re.compile(r"(?<![=!<>])=(?!=)|[-+*/%&|^]=|<<=|>>=")


def _move_one_for_increment(text: str) -> str | None:
    """`text` with the first `for` increment that holds a comma moved into its body, or None."""
    for m in re.finditer(r"\bfor\s*\(", text):
        close = matching_bracket(text, m.end() - 1)
        clauses = _split(text[m.end():close], ";") if close else []
        if len(clauses) != 3 or _sequenced(clauses[2]) is None:
            continue
        body_start = len(text) - len(text[close + 1:].lstrip())
        if text[body_start:body_start + 1] == "{":
            body_end = matching_bracket(text, body_start)
            if body_end is None:
                continue
            body = text[body_start + 1:body_end]
        else:
            ends = [i for i, c in enumerate(text[body_start:], body_start) if c == ";"]
            if not ends or re.match(r"\s*(?:if|for|while|do|switch)\b", text[body_start:]):
                continue
            body_end = ends[0]
            body = text[body_start:body_end + 1]
        if re.search(r"\bcontinue\b", body):
            continue
        header = f"{clauses[0]};{clauses[1]}; "
        return (text[:m.end()] + header + ") { " + body.strip() + " " + clauses[2].strip() + "; }"
                + text[body_end + 1:])
    return None


def _sequenced(expression: str) -> str | None:
    """Statements doing what the expression statement `expression` does, without its comma
    operators; None when it has none at its top (or in a conditional's branch there)."""
    e = _without_parentheses(expression.strip())
    parts = _split(e, ",")
    if len(parts) > 1:
        return " ".join(_sequenced(part) or part.strip() + ";" for part in parts)
    conditional = _conditional(e)
    if conditional is None or _ASSIGNING.search(_flat(conditional[0])):
        return None
    condition, yes, no = conditional
    if _sequenced(yes) is None and _sequenced(no) is None:
        return None
    return (f"if ({condition.strip()}) {{ {_sequenced(yes) or yes.strip() + ';'} }} "
            f"else {{ {_sequenced(no) or no.strip() + ';'} }}")


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside brackets and outside a conditional's middle operand
    (`c ? a, b : d` holds its comma in the middle: C's grammar puts a full expression there)."""
    parts, start = [], 0
    for i, c, open_conditionals in _top_level(text):
        if c == separator and not open_conditionals:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def _conditional(text: str) -> tuple[str, str, str] | None:
    """(condition, then, else) of a conditional at the top of `text`, or None."""
    question = None
    for i, c, open_conditionals in _top_level(text):
        if c == "?" and question is None:
            question = i
        elif c == ":" and question is not None and not open_conditionals:
            return text[:question], text[question + 1:i], text[i + 1:]
    return None


def _top_level(text: str):
    """(index, character, conditionals open after it) for each character of `text` outside brackets."""
    depth, open_conditionals = 0, 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            if c == "?":
                open_conditionals += 1
            elif c == ":" and open_conditionals:
                open_conditionals -= 1
            yield i, c, open_conditionals


def _flat(text: str) -> str:
    """`text` without what its brackets hold (an assignment in a call is not at its top)."""
    out, depth = [], 0
    for c in text:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth == 0 and c not in ")]}":
            out.append(c)
    return "".join(out)


def _without_parentheses(text: str) -> str:
    while text.startswith("(") and matching_bracket(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text
