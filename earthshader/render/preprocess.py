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
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import resource
import shutil
import subprocess
import tempfile

from earthshader.render.result import Diagnostic

#: Environment variable naming the `glslangValidator` binary (default: the one on PATH).
GLSLANG_ENV = "EARTHSHADER_GLSLANG"

#: Limits for one preprocessor run: CPU seconds, address space and output, in bytes, and
#: wall-clock seconds. A real Shadertoy source takes a few milliseconds and its own size.
CPU_SECONDS = 5
MEMORY_BYTES = 1 << 30
OUTPUT_BYTES = 16 << 20
WALL_SECONDS = 20.0

VERSION_LINES = {"es300": "#version 300 es", "glsl330": "#version 330 core"}

# What the user's text is preceded by when expanded: the version (it decides GL_ES and
# __VERSION__), the macro Shadertoy's header defines, and a #line so numbering starts at 1.
_PROLOGUE = "{version}\n#define HW_PERFORMANCE 1\n#line 1\n"

# `#version` is the wrapper's to give; a user `#line` would make the numbering lie.
_USER_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(?:version|line)\b.*$", re.MULTILINE)
# Anything the preprocessor would change: a directive, a line continuation, or a predefined
# macro (`__LINE__`, `__VERSION__`, `GL_ES`, extension macros, Shadertoy's `HW_PERFORMANCE`).
_PREPROCESSOR_FEATURE = re.compile(r"#|\b__|\bGL_|\bHW_PERFORMANCE\b")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?(?:\*/|\Z)", re.DOTALL)
_NOT_NEWLINE = re.compile(r"[^\n]")
# glslang: "ERROR: stdin:12: '#error' : message" (the source name varies with the version).
_GLSLANG_LOG = re.compile(r"^(ERROR|WARNING):\s*[^:\s]*:(\d+):\s*(.*)$")


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
    lines = code.count("\n") + 1
    if not needs_preprocessing(code):
        return strip_comments(code)
    source = _PROLOGUE.format(version=VERSION_LINES[dialect]) + _blank_user_directives(code) + "\n"
    stdout, stderr, status = _run_glslang(source.encode("utf-8"))
    if status is not None:
        raise PreprocessorError([Diagnostic(None, f"the GLSL preprocessor {status}")], stopped=True)
    errors = _parse_log(stderr + "\n" + stdout, lines)
    if errors is not None:
        raise PreprocessorError(errors)
    out = stdout.split("\n")
    if "#line 1" not in out:
        raise PreprocessorError([Diagnostic(None, "the GLSL preprocessor gave no output")])
    body = out[out.index("#line 1") + 1:]
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


def _run_glslang(source: bytes) -> tuple[str, str, str | None]:
    """(stdout, stderr, None) from `glslangValidator -E`, or a status naming the limit it hit.

    The limits are set on the child (prlimit(2)) before it is given its input, so they hold for
    all of its work, even after the worker that started it is killed (the CPU limit ends it).
    """
    command = [require_glslang(), "-E", "--stdin", "-S", "frag"]
    with tempfile.TemporaryFile() as output:  # a file, so that RLIMIT_FSIZE bounds the output
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.PIPE)
        try:
            _limit(child.pid)
            _, stderr = child.communicate(source, timeout=WALL_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return "", "", f"ran past {WALL_SECONDS:g} s (a macro that expands without end?)"
        except BaseException:
            child.kill()
            child.wait()
            raise
        if child.returncode < 0:
            return "", "", (f"was stopped by signal {-child.returncode} at its limits ({CPU_SECONDS} s "
                            f"of CPU, {MEMORY_BYTES >> 20} MB of memory, {OUTPUT_BYTES >> 20} MB of "
                            "output): a macro that expands without end?")
        output.seek(0)
        stdout = output.read().decode("utf-8", errors="replace")
    stderr = stderr.decode("utf-8", errors="replace")
    if child.returncode != 0 and "ERROR" not in stderr + stdout:
        return "", "", f"failed with exit status {child.returncode}: {stderr.strip()[:200]}"
    return stdout, stderr, None


def _limit(pid: int) -> None:
    """CPU, memory and output-size limits for the preprocessor process `pid`."""
    hard_memory = resource.getrlimit(resource.RLIMIT_AS)[1]  # a worker's own limit holds for it too
    memory = MEMORY_BYTES if hard_memory == resource.RLIM_INFINITY else min(MEMORY_BYTES, hard_memory)
    with contextlib.suppress(ProcessLookupError):  # it may already have ended (a bad invocation)
        for kind, value in ((resource.RLIMIT_CPU, CPU_SECONDS), (resource.RLIMIT_AS, memory),
                            (resource.RLIMIT_FSIZE, OUTPUT_BYTES)):
            resource.prlimit(pid, kind, (value, value))


def _parse_log(log: str, lines: int) -> list[Diagnostic] | None:
    """The errors (and the warnings beside them) in glslang's log, or None when it has no error."""
    diagnostics, failed = [], False
    for raw in log.splitlines():
        if not (m := _GLSLANG_LOG.match(raw.strip())):
            continue
        severity = m[1].lower()
        failed |= severity == "error"
        line = min(int(m[2]), lines) if int(m[2]) > 0 else None  # "missing #endif" names the end
        diagnostics.append(Diagnostic(line, m[3].strip(), severity))
    return diagnostics if failed else None
