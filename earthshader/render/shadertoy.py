"""The one place that knows Shadertoy's conventions: header, uniforms, `main()` wrapper.

`prepare(user_code, dialect)` turns an Image-pass source (a `mainImage` function, no header)
into a complete fragment shader, and records how to map compiler line numbers back to the
user's lines. It also bounds every loop (see `bound_loops`), because an NVIDIA GPU without a
display has no watchdog: a process timeout alone cannot free a GPU stuck in `for(;;){}`.

    >>> shader = prepare("void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }", "es300")
    >>> shader.source.splitlines()[0]
    '#version 300 es'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from earthshader.render.result import Diagnostic

#: Dialects tried in order: GLSL ES 3.00 as on shadertoy.com (WebGL2), then desktop GLSL.
DIALECTS = ("es300", "glsl330")

#: Largest user source accepted, in bytes. Real Shadertoy Image passes are far below this.
MAX_SOURCE_BYTES = 256 * 1024

#: Loop iterations (summed over all loops) one pixel may run before the render counts as failed.
#: It must stay below Mesa llvmpipe's own silent cap of 65,535 iterations per loop, or an endless
#: loop would end quietly on a CPU and look like a normal image.
DEFAULT_LOOP_LIMIT = 1 << 15

VERSION_LINES = {"es300": "#version 300 es", "glsl330": "#version 330 core"}

# Shadertoy's uniforms, as declared on the site. `iChannelResolution` etc. are arrays of four.
UNIFORMS = """\
uniform vec3 iResolution;
uniform float iTime;
uniform float iTimeDelta;
uniform float iFrameRate;
uniform int iFrame;
uniform float iChannelTime[4];
uniform vec3 iChannelResolution[4];
uniform vec4 iMouse;
uniform vec4 iDate;
uniform float iSampleRate;
uniform sampler2D iChannel0;
uniform sampler2D iChannel1;
uniform sampler2D iChannel2;
uniform sampler2D iChannel3;
"""

LOOP_GUARD = """\
int _esLoopCount = 0;
bool _esLoopGuard() { _esLoopCount++; return _esLoopCount <= ES_LOOP_LIMIT; }
"""

# smoothstep() as the GLSL spec defines it. Mesa returns NaN everywhere when both edges are equal
# (`smoothstep(0.1, 0.1, x)`, a common hard-step idiom) where GPUs give a step, so user calls
# are routed here (see `prepare`): identical for ordinary edges, a step for equal ones.
SMOOTHSTEP = "\n".join(
    f"{t} _esSmoothstep({e} a, {e} b, {t} x) {{ {t} s = clamp((x - a) / (b - a), 0.0, 1.0); "
    f"return {equal_edges}; }}"
    for t, e, equal_edges in [
        ("float", "float", "a == b ? step(a, x) : s * s * (3.0 - 2.0 * s)"),
        *[(f"vec{n}", f"vec{n}", "mix(s * s * (3.0 - 2.0 * s), step(a, x), equal(a, b))") for n in (2, 3, 4)],
        *[(f"vec{n}", "float", "a == b ? step(a, x) : s * s * (3.0 - 2.0 * s)") for n in (2, 3, 4)],
    ])

# Shadertoy's main(): colour starts as opaque black, alpha is forced to 1. Our additions: NaN
# channels are stored as 0 (what GPUs write to an 8-bit target) and their pixels flagged, and a second output flags pixels
# that hit the loop limit, so the renderer can fail such renders on every driver alike. It comes
# after the user's code, as on the site; `#undef` and `_es` names keep user macros out of it.
MAIN_WRAPPER = """\
#undef gl_FragCoord
layout(location = 0) out vec4 _esColor;
layout(location = 1) out vec4 _esFlags;
void main() {
    vec4 _esC = vec4(0.0, 0.0, 0.0, 1.0);
    mainImage(_esC, gl_FragCoord.xy);
    bool _esBad = any(isnan(_esC)) || any(isinf(_esC));
    _esColor = vec4(mix(_esC.rgb, vec3(0.0), isnan(_esC.rgb)), 1.0);  // NaN -> 0, as GPUs store it
    _esFlags = vec4(_esLoopCount > ES_LOOP_LIMIT ? 1.0 : 0.0, _esBad ? 1.0 : 0.0, 0.0, 1.0);
}
"""

VERTEX_SHADER = """\
{version}
// One triangle that covers the viewport; no vertex buffer needed.
void main() {{
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}}
"""

_HAS_MAIN_IMAGE = re.compile(r"\bmainImage\s*\(")
_SMOOTHSTEP_CALL = re.compile(r"\bsmoothstep(\s*\()")
# `void mainImage(out vec4 c, ...)`: Shadertoy's drivers hand the caller's colour in, and many
# shaders rely on it (`c += ...`); GLSL leaves an `out` parameter undefined, so we compile it
# as `inout`, which is what the site's behaviour amounts to.
_MAIN_IMAGE_OUT = re.compile(r"(\bvoid\s+mainImage\s*\(\s*)out\b")
_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(version|extension)\b.*$", re.MULTILINE)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?(?:\*/|\Z)", re.DOTALL)
_NOT_NEWLINE = re.compile(r"[^\n]")
_INCLUDE = re.compile(r"^[ \t]*#[ \t]*include\b", re.MULTILINE)
_LOOP_KEYWORD = re.compile(r"\b(for|while)\s*\(")


class InvalidShaderInput(ValueError):
    """The source is not something a compiler should see (empty, binary, too large, no mainImage)."""


@dataclass(frozen=True)
class PreparedShader:
    """A complete fragment shader and the offset that maps its lines back to the user's."""

    source: str
    dialect: str
    first_user_line: int  # line number (1-based) of the user's first line inside `source`
    user_line_count: int

    def user_line(self, line: int) -> int | None:
        """The user's line for a line of `source`, or None when it lies in the wrapper."""
        user = line - self.first_user_line + 1
        return user if 1 <= user <= self.user_line_count else None


def vertex_shader(dialect: str) -> str:
    return VERTEX_SHADER.format(version=VERSION_LINES[dialect])


def check_source(code: object) -> str:
    """Return `code` as text, or raise `InvalidShaderInput` saying why it cannot be compiled."""
    if isinstance(code, bytes):
        try:
            code = code.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidShaderInput(f"source is not UTF-8 text ({err})") from None
    if not isinstance(code, str):
        raise InvalidShaderInput(f"source must be a string, got {type(code).__name__}")
    if not code.strip():
        raise InvalidShaderInput("source is empty")
    size = len(code.encode("utf-8", errors="replace"))
    if size > MAX_SOURCE_BYTES:
        raise InvalidShaderInput(f"source is {size} bytes; the limit is {MAX_SOURCE_BYTES}")
    if "\x00" in code or sum(not (c.isprintable() or c in "\t\r\n\f") for c in code) > 0.01 * len(code):
        raise InvalidShaderInput("source looks binary (control characters)")
    if _INCLUDE.search(code):
        raise InvalidShaderInput("#include is not supported: Shadertoy sources are self-contained")
    if not _HAS_MAIN_IMAGE.search(strip_comments(code)):
        raise InvalidShaderInput("no mainImage function: a Shadertoy Image pass defines "
                                 "void mainImage(out vec4 fragColor, in vec2 fragCoord)")
    return code


def prepare(user_code: str, dialect: str, loop_limit: int = DEFAULT_LOOP_LIMIT,
            extra_uniforms: str = "") -> PreparedShader:
    """Wrap a checked Image-pass source into a complete fragment shader for `dialect`.

    The user's `#version` lines are dropped and `#extension` lines moved above the header (GLSL
    wants them before any declaration); both are replaced by empty lines so numbering holds.
    `extra_uniforms` are declarations added after Shadertoy's (used by constant refinement).
    """
    extensions = [m.group(0).strip() for m in _DIRECTIVE.finditer(user_code)
                  if m.group(1) == "extension"]
    body = _DIRECTIVE.sub("", strip_comments(user_code))
    body = _MAIN_IMAGE_OUT.sub(r"\1inout", body)
    body = bound_loops(_SMOOTHSTEP_CALL.sub(r"_esSmoothstep\1", body))
    header = [VERSION_LINES[dialect], *extensions]
    if dialect == "es300":
        header += ["precision highp float;", "precision highp int;", "precision highp sampler2D;"]
    header += ["#define HW_PERFORMANCE 1", f"#define ES_LOOP_LIMIT {int(loop_limit)}",
               UNIFORMS.rstrip("\n")]
    if extra_uniforms:
        header.append(extra_uniforms.rstrip("\n"))
    header += [LOOP_GUARD.rstrip("\n"), SMOOTHSTEP]
    header_text = "\n".join(header) + "\n"
    first_user_line = header_text.count("\n") + 1
    source = header_text + body + "\n" + MAIN_WRAPPER
    return PreparedShader(source, dialect, first_user_line, body.count("\n") + 1)


def strip_comments(code: str) -> str:
    """Replace // and /* */ comments by spaces, keeping every newline: lines and columns stay valid.

    An unclosed /* runs to the end. The one implementation, shared by extraction and the data filters.
    """
    return _COMMENT.sub(lambda m: _NOT_NEWLINE.sub(" ", m.group(0)), code)


def bound_loops(code: str) -> str:
    """Add `_esLoopGuard()` to the condition of every `for` and `while` (and `do ... while`).

    `for (init; cond; step)` becomes `for (init; (cond) && _esLoopGuard(); step)`, an empty
    condition becomes `_esLoopGuard()`. The guard counts iterations per pixel over all loops
    and stops them past `ES_LOOP_LIMIT`; the wrapper then flags the pixel so the render fails.
    Expects comment-free code (see `strip_comments`).
    """
    out, pos = [], 0
    for match in _LOOP_KEYWORD.finditer(code):
        if match.start() < pos:
            continue  # inside a loop header already rewritten
        open_paren = match.end() - 1
        close_paren = _matching_paren(code, open_paren)
        if close_paren is None:
            continue  # unbalanced: leave it to the compiler to complain
        inside = code[open_paren + 1:close_paren]
        if match.group(1) == "for":
            parts = _split_top_level(inside, ";")
            if len(parts) != 3:
                continue
            cond = parts[1].strip()
            parts[1] = f" ({cond}) && _esLoopGuard()" if cond else " _esLoopGuard()"
            guarded = ";".join(parts)
        else:
            guarded = f"({inside}) && _esLoopGuard()"
        out.append(code[pos:open_paren + 1])
        out.append(guarded)
        pos = close_paren
    out.append(code[pos:])
    return "".join(out)


def _matching_paren(code: str, open_index: int) -> int | None:
    depth = 0
    for i in range(open_index, len(code)):
        if code[i] == "(":
            depth += 1
        elif code[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return None


def _split_top_level(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


# moderngl's own framing around the driver's log.
_LOG_NOISE = {"GLSL Compiler failed", "fragment_shader", "vertex_shader", "GLSL Linker failed"}

# Mesa: "0:12(5): error: message"; NVIDIA: "0(12) : error C0000: message".
_MESA_LOG = re.compile(r"^\s*\d+:(\d+)\((\d+)\):\s*(error|warning)\s*:\s*(.*)$", re.IGNORECASE)
_NVIDIA_LOG = re.compile(r"^\s*\d+\((\d+)\)\s*:\s*(error|warning)\s*(?:\w+)?\s*:\s*(.*)$", re.IGNORECASE)


def parse_compiler_log(log: str, shader: PreparedShader) -> list[Diagnostic]:
    """Turn a compiler log into diagnostics with the user's line numbers.

    Lines that match no known format are kept as messages without a line, so nothing is lost.
    """
    diagnostics = []
    for raw in log.splitlines():
        raw = raw.strip()
        if not raw or raw in _LOG_NOISE or set(raw) == {"="}:
            continue
        if m := _MESA_LOG.match(raw):
            line, column, severity, message = int(m[1]), int(m[2]), m[3].lower(), m[4]
        elif m := _NVIDIA_LOG.match(raw):
            line, column, severity, message = int(m[1]), None, m[2].lower(), m[3]
        else:
            diagnostics.append(Diagnostic(None, raw))
            continue
        diagnostics.append(Diagnostic(shader.user_line(line), message.strip(), severity, column))
    return diagnostics
