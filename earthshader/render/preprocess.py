"""The GLSL preprocessor that runs before the wrapper: Khronos glslang's `glslangValidator -E`.

The loop guard and the wrapper's measurements must see the code the compiler will compile, not
the text the user typed: a loop keyword can come from a macro (`#define REPEAT for`), from token
pasting (`wh##ile`) or from a line continuation, and a user `#define any ...` would otherwise
reach the wrapper's own code. So every source with a preprocessor feature is expanded first, by
a real GLSL preprocessor, and the wrapper works on the expanded text, which holds no macros.

    >>> expanded = preprocess("#define REPEAT for\\nvoid f() { REPEAT(;;) {} }", "es300")
    >>> expanded.splitlines()[1].split()
    ['void', 'f(){', 'for(;;){', '}', '}']

Line numbers are kept: glslang writes one output line per input line (directives become empty
lines, a macro call spread over several lines is written on its last one), and the user's text
follows a `#line 1`, so its messages and the compiler's later ones name the user's own lines.
Columns are not kept (the output is re-spaced token by token).

`glslangValidator` is Debian's and Ubuntu's package `glslang-tools` (`make setup` installs it);
`EARTHSHADER_GLSLANG` may name another copy of the binary (it is statically linked, so it can be
carried to a machine without the package). It runs as a subprocess under CPU, memory and
output-size limits, so a macro that expands without end fails the shader instead of the worker.
Starting it costs about 15 ms, far more than expanding a real source (under 1 ms), so
`preprocess_many` expands a batch of sources in one run (the render pool does so per `render_many`
call); each source is a file of its own there, so no macro of one reaches another.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import resource
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from earthshader.render.result import Diagnostic

#: Environment variable naming the `glslangValidator` binary (default: the one on PATH).
GLSLANG_ENV = "EARTHSHADER_GLSLANG"

#: Limits for one preprocessor run: CPU seconds, address space and output, in bytes, and
#: wall-clock seconds. A real Shadertoy source takes under a millisecond and its own size, so
#: the limits hold for a whole batch (`BATCH_SIZE` sources at most), whose CPU limit is lower:
#: a batch stopped by one source is cheap, and that source is then given the full limit alone.
CPU_SECONDS = 5
BATCH_CPU_SECONDS = 2
MEMORY_BYTES = 1 << 30
OUTPUT_BYTES = 16 << 20
WALL_SECONDS = 20.0

#: Most sources expanded by one preprocessor run.
BATCH_SIZE = 64

VERSION_LINES = {"es300": "#version 300 es", "glsl330": "#version 330 core"}

# What the user's text is preceded by when expanded: the version (it decides GL_ES and
# __VERSION__), the macro Shadertoy's header defines, and a #line so numbering starts at 1; and
# followed by a pragma that marks its end in the output and names the source (`mark` is new
# for every run, so no user line can fake it).
_PROLOGUE = "{version}\n#define HW_PERFORMANCE 1\n{empty}#line 1\n"
_EPILOGUE = "\n#pragma {mark} {index}\n"

# `#version` is the wrapper's to give; a user `#line` would make the numbering lie.
_USER_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(?:version|line)\b.*$", re.MULTILINE)
# Anything the preprocessor would change: a directive, a line continuation, or a predefined
# macro (`__LINE__`, `__VERSION__`, `GL_ES`, extension macros, Shadertoy's `HW_PERFORMANCE`).
_PREPROCESSOR_FEATURE = re.compile(r"#|\b__|\bGL_|\bHW_PERFORMANCE\b")
_TOO_FEW_ARGUMENTS = re.compile(r"Too few args in Macro (\w+)")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?(?:\*/|\Z)", re.DOTALL)
_NOT_NEWLINE = re.compile(r"[^\n]")
# glslang: "ERROR: 3.frag:12: '#error' : message", naming the file (here the source's index).
_GLSLANG_LOG = re.compile(r"^(ERROR|WARNING):\s*(\d+)\.frag:(\d+):\s*(.*)$")


class PreprocessorError(Exception):
    """The preprocessor refused the source; `diagnostics` say where, in the user's lines.

    `stopped` is true when it was stopped at its limits rather than refusing a line: the other
    dialect would fare no better.
    """

    def __init__(self, diagnostics: list[Diagnostic], stopped: bool = False):
        super().__init__("; ".join(map(str, diagnostics)))
        self.diagnostics = diagnostics
        self.stopped = stopped


def strip_comments(code: str) -> str:
    """Replace // and /* */ comments by spaces, keeping every newline: lines and columns stay valid.

    An unclosed /* runs to the end. The one implementation, shared by extraction and the data filters.
    """
    return _COMMENT.sub(lambda m: _NOT_NEWLINE.sub(" ", m.group(0)), code)


def needs_preprocessing(code: str) -> bool:
    """Whether expanding `code` could change a token: false only for plain code.

    Plain means no `#` outside comments, no backslash anywhere (a line continuation, even at the
    end of a `//` comment, joins lines), no predefined macro name and no unclosed `/*` (an
    error). Such code expands to itself with its comments blanked, so no subprocess is needed.

    >>> needs_preprocessing("void f() { for (;;) {} } // #define")
    False
    >>> needs_preprocessing("#define N 3\\nvoid f() {}"), needs_preprocessing("int v = __VERSION__;")
    (True, True)
    """
    unclosed = any(c.startswith("/*") and (len(c) < 4 or not c.endswith("*/"))
                   for c in _COMMENT.findall(code))
    return "\\" in code or unclosed or bool(_PREPROCESSOR_FEATURE.search(strip_comments(code)))


def preprocess(code: str, dialect: str) -> str:
    """The user's source with every macro expanded and every conditional resolved, as `dialect` sees it.

    Returns text with as many lines as `code` and no comments; the only directives left are
    `#extension` and `#pragma`. Raises `PreprocessorError` (with the user's line numbers) when
    the preprocessor refuses the source (`#error`, a bad `#if`, a wrong macro call, limits hit)
    and `RuntimeError` when `glslangValidator` is not installed.
    """
    result = preprocess_many([code], dialect)[0]
    if isinstance(result, PreprocessorError):
        raise result
    return result


def preprocess_many(codes: list[str], dialect: str, *,
                    alone_when_stopped: bool = True) -> list[str | PreprocessorError]:
    """`preprocess` for each of `codes`, in one preprocessor run per `BATCH_SIZE` sources.

    Each entry is the expanded text or the `PreprocessorError` that `preprocess` would raise.
    A run stopped at its limits (one source whose macros expand without end) stops the whole
    batch; each of its sources is then run alone, so that only the guilty one fails, unless
    `alone_when_stopped` is false (a caller that can do that work elsewhere).

    >>> expanded, refused = preprocess_many(["#define N 2\\nint n = N;", "#error no"], "es300")
    >>> expanded.split("\\n")[1], refused.diagnostics[0].line
    ('int n = 2;', 1)
    """
    results: list[str | PreprocessorError | None] = [
        None if needs_preprocessing(code) else strip_comments(code) for code in codes]
    todo = [i for i, result in enumerate(results) if result is None]
    for start in range(0, len(todo), BATCH_SIZE):
        batch = todo[start:start + BATCH_SIZE]
        for i, result in zip(batch, _expand_batch([codes[i] for i in batch], dialect, alone_when_stopped)):
            results[i] = result
    return results


def _expand_batch(codes: list[str], dialect: str, alone_when_stopped: bool) -> list[str | PreprocessorError]:
    """`codes` expanded in one run (then alone, if it was stopped), with empty macro arguments retried."""
    expanded = _expand(codes, dialect)
    if expanded is None:
        if not alone_when_stopped:
            return [_stopped() for _ in codes]
        expanded = [_expand([code], dialect)[0] for code in codes]
    if not any(isinstance(result, PreprocessorError) for result in expanded):
        return expanded
    empty = _unused_macro_name("_esEmpty", codes)
    retry = {index: rewritten for index, (code, result) in enumerate(zip(codes, expanded))
             if isinstance(result, PreprocessorError)
             and (rewritten := with_empty_arguments(code, result.diagnostics, empty)) is not None}
    if retry:
        for index, result in zip(retry, _expand(list(retry.values()), dialect, empty) or []):
            if isinstance(result, str):  # otherwise the first refusal, about the user's own text, stands
                expanded[index] = result
    return expanded


def with_empty_arguments(code: str, diagnostics: list[Diagnostic], empty: str) -> str | None:
    """`code` with `empty` (a macro defined as nothing) written into each `NAME()` that glslang refused
    with "Too few args", where `NAME` takes one parameter; None when there is no such call.

    C, Mesa and browsers read `NAME()` as one empty argument; glslang refuses it. An empty macro
    as the argument expands to the same nothing (only `##` next to the parameter would differ).
    Calls are found in the user's text, so a call that another macro writes stays refused.

    >>> code = "#define P(n) vec2(n - 1.0)\\nvec2 a = P(), b = P(2.0);"
    >>> with_empty_arguments(code, [Diagnostic(2, "'macro expansion' : Too few args in Macro P")], "E")
    '#define P(n) vec2(n - 1.0)\\nvec2 a = P(E), b = P(2.0);'
    """
    stripped = strip_comments(code)
    names = {m[1] for d in diagnostics if (m := _TOO_FEW_ARGUMENTS.search(d.message))}
    names = {name for name in names if re.search(rf"#[ \t]*define[ \t]+{name}\([ \t]*\w+[ \t]*\)", stripped)}
    calls = [m for name in names for m in re.finditer(rf"\b{name}[ \t]*\(([ \t]*)\)", stripped)]
    if not calls:
        return None
    pieces, pos = [], 0
    for m in sorted(calls, key=lambda m: m.start()):
        pieces += [code[pos:m.end(1)], empty]
        pos = m.end(1)
    return "".join(pieces) + code[pos:]


def _unused_macro_name(base: str, codes: list[str]) -> str:
    """`base`, or `base0`, `base1`, ...: the first that occurs in none of `codes`."""
    name, n = base, 0
    while any(name in code for code in codes):
        name, n = f"{base}{n}", n + 1
    return name


def _stopped(status: str = "was stopped at its limits") -> PreprocessorError:
    return PreprocessorError([Diagnostic(None, f"the GLSL preprocessor {status}")], stopped=True)


def _expand(codes: list[str], dialect: str, empty: str | None = None) -> list[str | PreprocessorError] | None:
    """Every one of `codes` expanded by one glslang run, or None when the run was stopped at its
    limits (a single source gets a `PreprocessorError` saying which limit instead). `empty`
    names a macro defined as nothing for them."""
    mark = f"earthshader_end_{secrets.token_hex(8)}"
    prologue = _PROLOGUE.format(version=VERSION_LINES[dialect], empty=f"#define {empty}\n" if empty else "")
    sources = [prologue + _blank_user_directives(code)
               + _EPILOGUE.format(mark=mark, index=index) for index, code in enumerate(codes)]
    stdout, stderr, status = _run_glslang(sources)
    if status is not None:
        return [_stopped(status)] if len(codes) == 1 else None
    diagnostics: dict[int, list[Diagnostic]] = {}
    for raw in (stderr + "\n" + stdout).splitlines():
        if (m := _GLSLANG_LOG.match(raw.strip())) and int(m[2]) < len(codes):
            lines = codes[int(m[2])].count("\n") + 1
            line = min(int(m[3]), lines) if int(m[3]) > 0 else None  # "missing #endif" names the end
            diagnostics.setdefault(int(m[2]), []).append(Diagnostic(line, m[4].strip(), m[1].lower()))
    bodies = _split_output(stdout, f"#pragma {mark}")
    results: list[str | PreprocessorError] = []
    for index, code in enumerate(codes):
        found = diagnostics.get(index, [])
        if any(d.severity == "error" for d in found):
            results.append(PreprocessorError(found))
        elif index not in bodies:
            results.append(PreprocessorError([Diagnostic(None, "the GLSL preprocessor gave no output")]))
        else:
            results.append(_fit_lines(bodies[index], code.count("\n") + 1))
    return results


def _split_output(stdout: str, end_prefix: str) -> dict[int, list[str]]:
    """The user's lines of each source expanded, by index (a refused source writes nothing)."""
    bodies, current = {}, None
    for line in stdout.split("\n"):
        if line == "#line 1" and current is None:
            current = []
        elif line.startswith(end_prefix) and current is not None:
            bodies[int(line[len(end_prefix):])] = current  # glslang writes the pragma without spaces
            current = None
        elif current is not None:
            current.append(line)
    return bodies


def _fit_lines(body: list[str], lines: int) -> str:
    """`body` with exactly `lines` lines (glslang may add trailing empty ones, or join the last)."""
    body = list(body)
    while len(body) > lines and not body[-1].strip():
        body.pop()
    return "\n".join(body + [""] * (lines - len(body)))


def _blank_user_directives(code: str) -> str:
    """`code` with its `#version` and `#line` directives (outside comments) blanked."""
    stripped, pieces, pos = strip_comments(code), [], 0
    for match in _USER_DIRECTIVE.finditer(stripped):
        end = match.start() + len(match.group(0).rstrip())  # a comment after it stays intact
        pieces += [code[pos:match.start()], " " * (end - match.start())]
        pos = end
    return "".join(pieces) + code[pos:]


def require_glslang() -> str:
    """The path of `glslangValidator`, or a `RuntimeError` saying how to install it."""
    path = _glslang_path()
    if path is None:
        raise RuntimeError(
            "glslangValidator (the GLSL preprocessor every shader goes through) was not found on "
            f"PATH or in ${GLSLANG_ENV}. On Debian/Ubuntu: apt-get install glslang-tools "
            "(make setup installs it)")
    return path


@functools.cache
def _glslang_path() -> str | None:
    named = os.environ.get(GLSLANG_ENV)
    return shutil.which(named) if named else shutil.which("glslangValidator")


def _run_glslang(sources: list[str]) -> tuple[str, str, str | None]:
    """(stdout, stderr, None) from `glslangValidator -E` on `sources` (as files 0.frag, 1.frag, ...
    in a new folder), or a status naming the limit it hit.

    The limits are set on the child (prlimit(2)) before it reads its input, so they hold for
    all of its work, even after the worker that started it is killed (the CPU limit ends it).
    """
    with tempfile.TemporaryDirectory(prefix="earthshader-glsl-") as folder:
        names = []
        for index, source in enumerate(sources):
            names.append(f"{index}.frag")
            Path(folder, names[-1]).write_bytes(source.encode("utf-8", errors="replace"))  # a lone surrogate too
        command = [require_glslang(), "-E", *names]
        with open(Path(folder, "out"), "w+b") as output:  # a file, so that RLIMIT_FSIZE bounds it
            child = subprocess.Popen(command, cwd=folder, stdin=subprocess.PIPE, stdout=output,
                                     stderr=subprocess.PIPE)
            try:
                cpu_seconds = CPU_SECONDS if len(sources) == 1 else min(CPU_SECONDS, BATCH_CPU_SECONDS)
                _limit(child.pid, cpu_seconds)
                _, stderr = child.communicate(b"", timeout=WALL_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
                return "", "", f"ran past {WALL_SECONDS:g} s (a macro that expands without end?)"
            except BaseException:
                child.kill()
                child.wait()
                raise
            if child.returncode < 0:
                return "", "", (f"was stopped by signal {-child.returncode} at its limits ({cpu_seconds} s "
                                f"of CPU, {MEMORY_BYTES >> 20} MB of memory, {OUTPUT_BYTES >> 20} MB of "
                                "output): a macro that expands without end?")
            output.seek(0)
            stdout = output.read().decode("utf-8", errors="replace")
    stderr = stderr.decode("utf-8", errors="replace")
    if child.returncode != 0 and "ERROR" not in stderr + stdout:
        return "", "", f"failed with exit status {child.returncode}: {stderr.strip()[:200]}"
    return stdout, stderr, None


def _limit(pid: int, cpu_seconds: int) -> None:
    """CPU, memory and output-size limits for the preprocessor process `pid`."""
    hard_memory = resource.getrlimit(resource.RLIMIT_AS)[1]  # a worker's own limit holds for it too
    memory = MEMORY_BYTES if hard_memory == resource.RLIM_INFINITY else min(MEMORY_BYTES, hard_memory)
    with contextlib.suppress(ProcessLookupError):  # it may already have ended (a bad invocation)
        for kind, value in ((resource.RLIMIT_CPU, cpu_seconds), (resource.RLIMIT_AS, memory),
                            (resource.RLIMIT_FSIZE, OUTPUT_BYTES)):
            resource.prlimit(pid, kind, (value, value))
