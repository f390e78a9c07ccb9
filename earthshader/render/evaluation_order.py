"""Left-to-right reads around an assignment inside an expression, as browsers evaluate them.

In `length(f+f-(f=iResolution.xy))` GLSL does not say whether the reads of `f` left of the
assignment see the old or the new value. Browsers (ANGLE, which shows Shadertoy on WebGL2) and
naga evaluate operands left to right, so they read the old value, and the shaders' authors
wrote for that (`f+f-R` centres the coordinates). Mesa's compiler emits the assignment first
and evaluates the expression's variable reads afterwards, so there every `f` is the new value
(the example above then draws one flat colour). `pin_evaluation_order` makes the browsers'
order explicit: each read of a variable that an assignment further right in the same expression
changes becomes `(_esPin ? f : f)`; a conditional with a condition no compiler can fold (the
uniform `_esPin`, never set, so false) is evaluated where it stands, copying `f` first.

    >>> pin_evaluation_order("O = vec4(length(f+f-(f=iResolution.xy)));")
    'O = vec4(length((_esPin ? f : f)+(_esPin ? f : f)-(f=iResolution.xy)));'
    >>> pin_evaluation_order("u = (u+u-(R=iResolution.xy))/R.y;")   # R is read only after it is set
    'u = (u+u-(R=iResolution.xy))/R.y;'

Reads separated from the assignment by a sequence point (`,` between expressions, `&&`, `||`,
`?:`) are left alone, as are lvalues, reads followed by `[` (an array cannot be a
conditional's operand) and variables named like a function-like macro.
Expects comment-free code (see `shadertoy.strip_comments`); it changes
no line breaks, so line numbers hold.
"""

from __future__ import annotations

import re
from typing import NamedTuple


#: The declaration `pin_evaluation_order`'s output needs; goes in the shader's header.
def pin_declaration(pin: str = "_esPin") -> str:
    """The never-set uniform the pinned reads test (its name must be out of the user code's reach)."""
    return f"uniform bool {pin};"

_TOKEN = re.compile(r"[A-Za-z_]\w*|0[xX][0-9a-fA-F]+[uU]?|\d+\.?\d*(?:[eE][+-]?\d+)?[uUfF]?|\.\d+(?:[eE][+-]?\d+)?[fF]?"
                    r"|<<=|>>=|\+\+|--|[-+*/%&|^<>=!]=|&&|\|\||\^\^|<<|>>|\S")
_DIRECTIVE = re.compile(r"^[ \t]*#(?:[^\n\\]|\\.|\\\n)*", re.MULTILINE | re.DOTALL)
_DEFINE_HEAD = re.compile(r"[ \t]*#[ \t]*define[ \t]+\w+(?:\([^)]*\))?")
_NAME = re.compile(r"[A-Za-z_]\w*")
FUNCTION_MACRO = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)\(", re.MULTILINE)
ASSIGNMENTS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^="})
# A quick test that some bracket holds an assignment or ++/-- (for headers aside); most shaders have
# none, and tokenizing costs milliseconds.
_FOR_HEADER = re.compile(r"\bfor\s*\(")
_MAYBE_EMBEDDED = re.compile(r"[(\[][^;{}()\[\]]*?(?:[^=!<>]=(?!=)|\+\+|--)")
_SEQUENCE_POINTS = frozenset({"&&", "||", "?", ":"})
_NOT_CALLS = frozenset({"if", "while", "for", "switch", "return"})


class Token(NamedTuple):
    text: str
    start: int
    depth: int        # brackets open around it within its statement (a for header's own add none)
    opener: int       # index of the innermost enclosing "(" or "[" in the statement, -1 at depth 0
    call: bool        # that "(" opens a call's or a constructor's arguments


def statements(code: str) -> list[list[Token]]:
    """Split comment-free GLSL into statements of tokens: at `;`, `{`, `}`, a `for` header's
    clauses, and preprocessor lines (a `#define` body is one statement; other directives none)."""
    spans, pos = [], 0
    for match in _DIRECTIVE.finditer(code):
        spans.append((code[pos:match.start()], pos))
        head = _DEFINE_HEAD.match(match.group(0))
        if head:
            spans.append((None, None))
            spans.append((match.group(0)[head.end():], match.start() + head.end()))
            spans.append((None, None))
        pos = match.end()
    spans.append((code[pos:], pos))
    result: list[list[Token]] = []
    current: list[Token] = []
    for text, offset in spans:
        if text is None:
            if current:
                result.append(current)
            current = []
            continue
        for_headers: list[int] = []  # depth (within the clause) at which each open for header sits
        stack: list[tuple[int, bool]] = []  # open "(" : (token index in `current`, is a call)
        raw = [(m.group(0), m.start() + offset) for m in _TOKEN.finditer(text)]
        for k, (token, start) in enumerate(raw):
            previous = raw[k - 1][0] if k else ""
            if token == "(" and previous == "for":
                for_headers.append(len(stack))
                continue
            if token == ")" and for_headers and for_headers[-1] == len(stack):
                for_headers.pop()
                result.append(current)
                current, stack = [], []
                continue
            if token in (";", "{", "}"):
                result.append(current)
                current, stack = [], []
                continue
            opener, call = stack[-1] if stack else (-1, False)
            if token in "([":
                current.append(Token(token, start, len(stack) + 1, opener, call))
                stack.append((len(current) - 1, token == "(" and bool(_NAME.fullmatch(previous))
                              and previous not in _NOT_CALLS))
                continue
            if token in ")]" and stack:
                stack.pop()
                opener, call = stack[-1] if stack else (-1, False)
            current.append(Token(token, start, len(stack), opener, call))
    result.append(current)
    return [s for s in result if s]


def _assignment_target(statement: list[Token], k: int) -> int | None:
    """Index of the variable that the assignment or ++/-- at `k` changes, or None."""
    names = [t.text for t in statement]
    if names[k] in ("++", "--"):
        if k > 0 and _NAME.fullmatch(names[k - 1]):
            return k - 1
        return k + 1 if k + 1 < len(names) and _NAME.fullmatch(names[k + 1]) else None
    j = k - 1  # walk back over a swizzle or an index to the variable: v.xy = ..., v[i] = ...
    while j >= 1 and (names[j] == "]" or names[j - 1] == "."):
        if names[j] == "]":
            while j >= 0 and names[j] != "[":
                j -= 1
            j -= 1
        else:
            j -= 2
    return j if j >= 0 and _NAME.fullmatch(names[j]) else None


def _is_lvalue(statement: list[Token], i: int) -> bool:
    after = statement[i + 1].text if i + 1 < len(statement) else ""
    before = statement[i - 1].text if i else ""
    return after in ASSIGNMENTS or after in ("++", "--", "[") or before in ("++", "--", ".")


def unsequenced_reads(code: str) -> list[tuple[str, int]]:
    """(variable, offset in `code`) of each read that an assignment to its right, within the same
    expression and with no sequence point between, changes under Mesa but not left to right."""
    reads: dict[int, str] = {}
    if not _MAYBE_EMBEDDED.search(_FOR_HEADER.sub(" ", code)):
        return []
    # Mesa's preprocessor fails on a function-like macro's name followed by ")" before a later
    # directive (`(H)` ... `#else`), so a variable that shares such a name is left as it is.
    function_macros = set(FUNCTION_MACRO.findall(code))
    for statement in statements(code):
        for k, token in enumerate(statement):
            if token.depth == 0 or token.text not in ASSIGNMENTS | {"++", "--"}:
                continue
            target = _assignment_target(statement, k)
            if target is None:
                continue
            name, level = statement[target].text, statement[target].depth
            if name in function_macros:
                continue
            for i in range(target - 1, -1, -1):
                other = statement[i]
                level = min(level, other.depth)
                if other.depth <= level and (other.text in _SEQUENCE_POINTS or
                                             other.text == "," and not other.call):
                    break
                if other.text == name and not _is_lvalue(statement, i):
                    reads[other.start] = name
    return sorted(((name, start) for start, name in reads.items()), key=lambda r: r[1])


def pin_evaluation_order(code: str, pin: str = "_esPin") -> str:
    """`code` with each of `unsequenced_reads` wrapped as `(_esPin ? v : v)`; see the module doc."""
    out, pos = [], 0
    for name, start in unsequenced_reads(code):
        out += [code[pos:start], f"({pin} ? {name} : {name})"]
        pos = start + len(name)
    out.append(code[pos:])
    return "".join(out)
