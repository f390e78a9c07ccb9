"""Why EarthShader and wgpu-shadertoy disagree on a shader: detectors read from its source.

Used by `benchmarks/crosscheck_wgpu.py`; pure functions, no GL. Each detector names one way in
which two renderers give different pictures of one program: a defect of one of them, or GLSL
leaving the result undefined. `causes(code)` lists those that the source shows, most specific
first; the benchmark confirms some by re-rendering (see its `EXPERIMENTS`).

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
from earthshader.render.shadertoy import strip_comments

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


def split_comma_statements(code: str) -> str:
    """`a += 1., b += 1.;` as `{a += 1.; b += 1.;}`: the same program without comma operators at
    statement level, for re-rendering with naga (a for header's clauses are left alone)."""
    text = strip_comments(code)
    edits: list[tuple[int, int, str]] = []
    for statement in statements(text):
        commas = [t for t in statement if t.text == "," and t.depth == 0 and not t.call]
        if not commas or _is_declaration(statement):
            continue
        first, last = statement[0].start, statement[-1].start + len(statement[-1].text)
        before = text[:first].rstrip()[-1:]
        after = text[last:].lstrip()[:1]
        if before not in (";", "{", "}", ")") or after != ";":
            continue
        body = list(text[first:last])
        for comma in commas:
            body[comma.start - first] = ";"
        edits.append((first, text.index(";", last) + 1, "{" + "".join(body) + ";}"))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text
