"""The one place that knows Shadertoy's conventions: header, uniforms, `main()` wrapper.

`prepare(user_code, dialect)` turns an Image-pass source (a `mainImage` function, no header)
into a complete fragment shader, and records how to map compiler line numbers back to the
user's lines. It also bounds every loop (see `bound_loops`), because an NVIDIA GPU without a
display has no watchdog: a process timeout alone cannot free a GPU stuck in `for(;;){}`.

    >>> shader = prepare("void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }", "es300")
    >>> shader.source.splitlines()[0]
    '#version 300 es'

The order of work matters: the user's source is expanded by a real GLSL preprocessor first
(`preprocess.py`), so that loops made by macros are guarded and no user macro survives; the
wrapper's code is then added around the expanded text under names the user's code cannot
reach, and what it measures is computed before any user function is declared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from string import Template

from earthshader.render.evaluation_order import pin_declaration, pin_evaluation_order
from earthshader.render.integer_remainder import remainder_functions, truncated_remainders
from earthshader.render.preprocess import (
    VERSION_LINES,
    PreprocessorError,
    needs_preprocessing,
    preprocess,
    preprocess_many,
    require_glslang,
    strip_comments,
)
from earthshader.render.result import Diagnostic

__all__ = ["DIALECTS", "MAX_SOURCE_BYTES", "DEFAULT_LOOP_LIMIT", "InvalidShaderInput",
           "PreparedShader", "PreprocessorError", "bound_loops", "check_source", "expand_many",
           "matching_bracket", "parse_compiler_log", "prepare", "require_glslang", "strip_comments", "vertex_shader",
           "wrapper_prefix"]

#: Dialects tried in order: GLSL ES 3.00 as on shadertoy.com (WebGL2), then desktop GLSL.
DIALECTS = ("es300", "glsl330")

#: Largest user source accepted, in bytes. Real Shadertoy Image passes are far below this.
MAX_SOURCE_BYTES = 256 * 1024

#: Loop iterations (summed over all loops) one pixel may run before the render counts as failed.
#: It must stay below Mesa llvmpipe's own silent cap of 65,535 iterations per loop, or an endless
#: loop would end quietly on a CPU and look like a normal image.
DEFAULT_LOOP_LIMIT = 1 << 15

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

# The wrapper's own code. `$p` is a prefix no identifier of the user's expanded code starts with
# (see `wrapper_prefix`), so user code can neither name nor redefine anything here; and since
# the user's macros are expanded before it is added, no user `#define` reaches it either.
#
# PRELUDE comes before the user's code: the loop guard, the outputs, and `${p}Finish`, which
# measures mainImage's colour. Defined there, it sees only the built-in `any`, `isnan`, `mix`:
# desktop GLSL lets a user function overload them, but only for calls that come after it.
PRELUDE = Template("""\
int ${p}LoopCount = 0;
bool ${p}LoopGuard() { ${p}LoopCount++; return ${p}LoopCount <= $limit; }
layout(location = 0) out vec4 ${p}Color;
layout(location = 1) out vec4 ${p}Flags;
void ${p}Finish(vec4 c) {
    bool nonfinite = any(isnan(c)) || any(isinf(c));
    ${p}Color = vec4(mix(c.rgb, vec3(0.0), isnan(c.rgb)), 1.0);  // NaN -> 0, as GPUs store it
    ${p}Flags = vec4(${p}LoopCount > $limit ? 1.0 : 0.0, nonfinite ? 1.0 : 0.0, 0.0, 1.0);
}
""")

# smoothstep() as the GLSL spec defines it. Mesa returns NaN everywhere when both edges are equal
# (`smoothstep(0.1, 0.1, x)`, a common hard-step idiom) where GPUs give a step, so user calls
# are routed here (see `prepare`): identical for ordinary edges, a step for equal ones.
SMOOTHSTEP = Template("\n".join(
    f"{t} ${{p}}Smoothstep({e} a, {e} b, {t} x) {{ {t} s = clamp((x - a) / (b - a), 0.0, 1.0); "
    f"return {equal_edges}; }}"
    for t, e, equal_edges in [
        ("float", "float", "a == b ? step(a, x) : s * s * (3.0 - 2.0 * s)"),
        *[(f"vec{n}", f"vec{n}", "mix(s * s * (3.0 - 2.0 * s), step(a, x), equal(a, b))") for n in (2, 3, 4)],
        *[(f"vec{n}", "float", "a == b ? step(a, x) : s * s * (3.0 - 2.0 * s)") for n in (2, 3, 4)],
    ]) + "\n")

# Shadertoy's main(), after the user's code as on the site: colour starts as opaque black and
# `mainImage` is called; `${p}Finish` then forces alpha to 1, stores NaN channels as 0, flags
# them, and flags pixels that hit the loop limit in a second output, so every driver fails such
# renders alike. The call itself is user code: it goes through the preprocessor with the user's
# source, because golfed shaders `#define mainImage(O, U) O = ...` and Shadertoy expands that
# in its own main(). Inside its own function, whatever it expands to, even a `return`, cannot
# keep main() from reaching `${p}Finish`; and it names neither `gl_FragCoord` (shaders ported
# from elsewhere `#define gl_FragCoord fragCoord`) nor anything of the wrapper's.
CALL_MAIN_IMAGE = Template("mainImage($color, $coord);")
MAIN_WRAPPER = Template("""\
void ${p}Image(inout vec4 $color, vec2 $coord) { $call
}
void main() {
    vec4 ${p}C = vec4(0.0, 0.0, 0.0, 1.0);
    ${p}Image(${p}C, gl_FragCoord.xy);
    ${p}Finish(${p}C);
}
""")

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
_DIRECTIVE_LINE = re.compile(r"^[ \t]*#[ \t]*(\w*).*$", re.MULTILINE)
_INCLUDE = re.compile(r"^[ \t]*#[ \t]*include\b", re.MULTILINE)
_LOOP_KEYWORD = re.compile(r"\b(for|while)\s*\(")
_DISCARD = re.compile(r"\bdiscard(\s*);")
# Desktop browsers compute mediump and lowp at 32 bits (ANGLE on Direct3D and Metal, like GPUs);
# Mesa's llvmpipe lowers mediump floats to 16 bits, where `sin(x) * 43758.5` overflows to inf.
_LOW_PRECISION = re.compile(r"\b(?:mediump|lowp)\b")
_WRAPPER_NAME = re.compile(r"\b_es\w*")
# A condition that declares its variable: `for (; bool b = f(i); )`, `while (bool b = ...)`.
_DECLARATION = re.compile(r"^(\s*)(const\b)?(\s*[A-Za-z_]\w*\s+[A-Za-z_]\w*\s*=(?!=))(\s*)(.*?)(\s*)$",
                          re.DOTALL)
_SPACED = re.compile(r"^(\s*)(.*?)(\s*)$", re.DOTALL)


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
            extra_uniforms: str = "", expanded: str | None = None) -> PreparedShader:
    """Wrap a checked Image-pass source into a complete fragment shader for `dialect`.

    The source is preprocessed as `dialect` (`preprocess.preprocess`; a refusal raises
    `PreprocessorError`), then its `#extension` lines move above the header (GLSL wants them
    before any declaration; empty lines keep the numbering), every loop gets the guard, and a
    `discard` spares pixels that hit the loop limit, so that their flag is written.
    `extra_uniforms` are declarations added after Shadertoy's (used by constant refinement).
    `expanded` is the preprocessor's output when it was computed already (`expand_many`).
    """
    limit, lines = int(loop_limit), user_code.count("\n") + 1
    source, color, coord = _with_call(user_code)
    if expanded is None:
        try:
            expanded = preprocess(source, dialect)
        except PreprocessorError as err:  # a message about the call names the user's last line
            raise PreprocessorError([replace(d, line=min(d.line, lines)) if d.line else d
                                     for d in err.diagnostics], err.stopped) from None
    extensions, expanded = _hoist_extensions(expanded)
    p = wrapper_prefix(expanded)
    expanded = _MAIN_IMAGE_OUT.sub(r"\1inout", expanded)
    expanded = _LOW_PRECISION.sub("highp", expanded)  # 32-bit floats everywhere, as desktop browsers
    expanded = pin_evaluation_order(expanded, f"{p}Pin")  # reads left to right, as browsers (ANGLE)
    remainders = "%" in expanded
    if remainders:  # integer % as browsers and GPUs compute it, not Mesa (which treats negatives as unsigned)
        expanded = truncated_remainders(expanded, f"{p}IMod")
    expanded = _SMOOTHSTEP_CALL.sub(rf"{p}Smoothstep\1", expanded)
    expanded = _DISCARD.sub(rf"{{ if ({p}LoopCount <= {limit}) discard\1; }}", expanded)
    expanded = bound_loops(expanded, f"{p}LoopGuard()").split("\n")
    body, call = "\n".join(expanded[:lines]), " ".join(expanded[lines:]).strip()
    header = [VERSION_LINES[dialect], *extensions]
    if dialect == "es300":
        header += ["precision highp float;", "precision highp int;", "precision highp sampler2D;"]
    header.append(UNIFORMS.rstrip("\n"))
    if extra_uniforms:
        header.append(extra_uniforms.rstrip("\n"))
    header += [pin_declaration(f"{p}Pin"), PRELUDE.substitute(p=p, limit=limit).rstrip("\n"),
               SMOOTHSTEP.substitute(p=p).rstrip("\n")]
    if remainders:
        header.append(remainder_functions(f"{p}IMod"))
    header_text = "\n".join(header) + "\n"
    source = header_text + body + "\n" + MAIN_WRAPPER.substitute(p=p, color=color, coord=coord, call=call)
    return PreparedShader(source, dialect, header_text.count("\n") + 1, lines)


def expand_many(user_codes: list, dialect: str = "es300") -> list[str | None]:
    """What `prepare` would get from the preprocessor for each of `user_codes`, in as few
    preprocessor runs as possible: the render pool calls it once per batch, so that a batch pays
    the preprocessor's start-up once instead of once per source.

    None where the source is not a valid Image pass, needs no preprocessor (`prepare` then does
    without one), was refused (`prepare` says why) or sat in a run stopped at its limits; and
    None for all when fewer than two distinct sources need the preprocessor (nothing would be
    saved, and a worker that compiled the source already needs none).
    """
    wanted: dict[str, list[int]] = {}  # source with the call -> the inputs that hold it
    for index, code in enumerate(user_codes):
        try:
            code = check_source(code)  # bytes become text, as in the worker
        except InvalidShaderInput:
            continue
        if needs_preprocessing(source := _with_call(code)[0]):
            wanted.setdefault(source, []).append(index)
    found: list[str | None] = [None] * len(user_codes)
    if len(wanted) < 2:
        return found
    results = preprocess_many(list(wanted), dialect, alone_when_stopped=False)
    for indices, result in zip(wanted.values(), results):
        for index in indices:
            found[index] = result if isinstance(result, str) else None
    return found


def _with_call(user_code: str) -> tuple[str, str, str]:
    """(the user's code followed by the call of `mainImage`, the color name, the coordinate name)."""
    color = _unused_name("_stColor", user_code)  # so that no user macro is named like them
    coord = _unused_name("_stCoord", user_code)
    return f"{user_code}\n{CALL_MAIN_IMAGE.substitute(color=color, coord=coord)}", color, coord


def _unused_name(base: str, code: str) -> str:
    """`base`, or `base0`, `base1`, ...: the first that does not occur anywhere in `code`."""
    name, n = base, 0
    while name in code:
        name, n = f"{base}{n}", n + 1
    return name


def wrapper_prefix(code: str) -> str:
    """A prefix for the wrapper's names that no identifier in `code` starts with.

    `_es` unless the user's code uses names starting with it; then `_es0`, `_es1`, ...

    >>> wrapper_prefix("int x;"), wrapper_prefix("int _esLoopCount; float _es0;")
    ('_es', '_es1')
    """
    used = set(_WRAPPER_NAME.findall(code))
    prefix, n = "_es", 0
    while any(name.startswith(prefix) for name in used):
        prefix, n = f"_es{n}", n + 1
    return prefix


def _hoist_extensions(expanded: str) -> tuple[list[str], str]:
    """(the `#extension` lines, the text with them blanked); `#pragma` stays, nothing else can be left."""
    extensions = []

    def blank(match: re.Match) -> str:
        if match.group(1) == "extension":
            extensions.append(match.group(0).strip())
        return match.group(0) if match.group(1) == "pragma" else ""
    return extensions, _DIRECTIVE_LINE.sub(blank, expanded)


def bound_loops(code: str, guard: str = "_esLoopGuard()") -> str:
    """Add `guard` to the condition of every `for` and `while` (and `do ... while`).

    `for (init; cond; step)` becomes `for (init; (cond) && guard; step)`, an empty condition
    becomes `guard`, and a condition that declares its variable (`bool b = f(i)`) keeps the
    declaration: `bool b = (f(i)) && guard`. The guard counts iterations per pixel over all
    loops and stops them past the limit; the wrapper then flags the pixel so the render fails.
    Expects preprocessed code: no comments, no macros.
    """
    out, pos = [], 0
    for match in _LOOP_KEYWORD.finditer(code):
        if match.start() < pos:
            continue  # inside a loop header already rewritten
        open_paren = match.end() - 1
        close_paren = matching_bracket(code, open_paren)
        if close_paren is None:
            continue  # unbalanced: leave it to the compiler to complain
        inside = code[open_paren + 1:close_paren]
        if match.group(1) == "for":
            parts = _split_top_level(inside, ";")
            if len(parts) != 3:
                continue
            parts[1] = _guarded(parts[1], guard)
            guarded = ";".join(parts)
        else:
            guarded = _guarded(inside, guard)
        out.append(code[pos:open_paren + 1])
        out.append(guarded)
        pos = close_paren
    out.append(code[pos:])
    return "".join(out)


def _guarded(condition: str, guard: str) -> str:
    """`condition` and `guard`, with every newline of `condition` kept (line numbers hold)."""
    if not condition.strip():
        return (condition or " ") + guard
    if m := _DECLARATION.match(condition):
        # `const` would make the initializer, which now calls the guard, an error; the variable is
        # only read by the loop either way.
        return f"{m[1]}{m[3]}{m[4]}({m[5]}) && {guard}{m[6]}"
    m = _SPACED.match(condition)
    return f"{m[1]}({m[2]}) && {guard}{m[3]}"


def matching_bracket(code: str, open_index: int) -> int | None:
    """Index of the bracket that closes the `(`, `[` or `{` at `open_index`, or None when none does.

    >>> matching_bracket("f(a, (b)) + c", 1), matching_bracket("{ {} ", 0)
    (8, None)
    """
    opener = code[open_index]
    closer = {"(": ")", "[": "]", "{": "}"}[opener]
    depth = 0
    for i in range(open_index, len(code)):
        if code[i] == opener:
            depth += 1
        elif code[i] == closer:
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
