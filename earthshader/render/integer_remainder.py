"""Integer `%` with the truncated remainder that browsers show, on every driver.

GLSL ES leaves `a % b` undefined when an operand is negative. Direct3D, Metal and SPIR-V (so
ANGLE, which shows Shadertoy in browsers, and NVIDIA's driver) give the truncated remainder,
with the sign of `a` (`-7 % 3 == -1`). Mesa's GL compiler gives the remainder of the operands
read as unsigned numbers (`-7 % 3 == 0`, `-14 % 5 == 2`), so integer hashes and grids over
negative coordinates came out differently on a CPU. `truncated_remainders` routes every `%`
and `%=` to `_esIMod`, defined by `remainder_functions` as `a - b * (a / b)` (integer division
truncates on every driver), and as plain `%` for unsigned types:

    >>> truncated_remainders("int k = (i + 1) % 3 * 2;")
    'int k = _esIMod((i + 1), 3) * 2;'
    >>> truncated_remainders("h = a * b % c % d; h %= 7;")
    'h = _esIMod(_esIMod(a * b, c), d); h = _esIMod(h, (7));'

A `%` inside a function-like macro's arguments is left as it is (the body may paste the argument
after a `.`), as is one whose operands it cannot delimit. Expects comment-free code; changes no
line breaks.
"""

from __future__ import annotations

import re

from earthshader.render.evaluation_order import FUNCTION_MACRO, statements


def remainder_functions(name: str = "_esIMod") -> str:
    """`name` for every operand pair `%` accepts; goes in the shader's header (a name out of the user's reach)."""
    return "\n".join(
        [f"{a} {name}({a} x, {b} y) {{ return x - y * (x / y); }}" if a.startswith(("int", "ivec")) and
         b.startswith(("int", "ivec")) else f"{r} {name}({a} x, {b} y) {{ return x % y; }}"
         for a, b, r in [("int", "int", "int"), *[(f"ivec{n}", f"ivec{n}", f"ivec{n}") for n in (2, 3, 4)],
                         *[(f"ivec{n}", "int", f"ivec{n}") for n in (2, 3, 4)],
                         *[("uint", "uint", "uint")], *[(f"uvec{n}", f"uvec{n}", f"uvec{n}") for n in (2, 3, 4)],
                         *[(f"uvec{n}", "uint", f"uvec{n}") for n in (2, 3, 4)],
                         *[("uint", f"uvec{n}", f"uvec{n}") for n in (2, 3, 4)]]]
        + [f"ivec{n} {name}(int x, ivec{n} y) {{ return ivec{n}(x) - y * (ivec{n}(x) / y); }}" for n in (2, 3, 4)])


_NAME = re.compile(r"[A-Za-z_]\w*|\d\w*|\.\d\w*|\d+\.\d*\w*")
_KEYWORDS = {"return", "if", "while", "for", "switch", "else", "do", "case"}
_UNARY = {"-", "+", "!", "~", "++", "--"}
_BINARY_BEFORE_UNARY = {"(", "[", ",", "=", "?", ":", "return", "&&", "||", "^^", "<", ">", "<=", ">=", "==",
                        "!=", "&", "|", "^", "<<", ">>", "+", "-", "*", "/", "%"}


def _matching(texts: list[str], k: int, step: int) -> int:
    """Index of the bracket matching texts[k], searching in direction `step` (+1 or -1)."""
    opening, closing = ("([", ")]") if step > 0 else (")]", "([")
    depth = 0
    while 0 <= k < len(texts):
        if texts[k] in opening:
            depth += 1
        elif texts[k] in closing:
            depth -= 1
            if depth == 0:
                return k
        k += step
    return -1


def _unary_start(texts: list[str], j: int) -> int:
    """First token of the unary expression that ends at token j (scanning backwards), or -1."""
    while j >= 0:
        if texts[j] in ("++", "--") and j > 0:  # postfix x++
            j -= 1
            continue
        if texts[j] == "]":  # an index: go on with what is indexed
            j = _matching(texts, j, -1) - 1
            continue
        if texts[j] == ")":
            j = _matching(texts, j, -1)
            if j < 0:
                return -1
            if j > 0 and _NAME.fullmatch(texts[j - 1]) and not texts[j - 1][0].isdigit() \
                    and texts[j - 1] not in _KEYWORDS:
                j -= 1  # a call or constructor
        elif not _NAME.fullmatch(texts[j]):
            return -1
        if j > 1 and texts[j - 1] == ".":  # a field or swizzle: go on with its owner
            j -= 2
            continue
        break
    if j < 0:
        return -1
    while j > 0 and texts[j - 1] in _UNARY and (j < 2 or texts[j - 2] in _BINARY_BEFORE_UNARY):
        j -= 1
    return j


def _unary_end(texts: list[str], k: int) -> int:
    """Last token of the unary expression that starts at token k."""
    while k < len(texts) and texts[k] in _UNARY:
        k += 1
    if k >= len(texts):
        return -1
    if texts[k] in "([":
        k = _matching(texts, k, 1)
    elif _NAME.fullmatch(texts[k]):
        if k + 1 < len(texts) and texts[k + 1] == "(":
            k = _matching(texts, k + 1, 1)
    else:
        return -1
    while k >= 0 and k + 1 < len(texts):
        if texts[k + 1] == "." and k + 2 < len(texts):
            k += 2
        elif texts[k + 1] == "[":
            k = _matching(texts, k + 1, 1)
        elif texts[k + 1] in ("++", "--"):
            k += 1
        elif texts[k + 1] == "(" and texts[k - 1] == ".":  # a method: a.length()
            k = _matching(texts, k + 1, 1)
        else:
            break
    return k


def _in_macro_arguments(statement, k: int, macros: set[str]) -> bool:
    """Whether token k lies in the arguments of a function-like macro (whose body may paste them)."""
    opener = statement[k].opener
    while opener >= 0:
        if opener > 0 and statement[opener - 1].text in macros:
            return True
        opener = statement[opener].opener
    return False


def _rewrite_first(code: str, macros: set[str], name: str) -> str | None:
    """`code` with its first `%` or `%=` rewritten, or None when there is none left to rewrite."""
    for statement in statements(code):
        texts = [t.text for t in statement]
        for k, text in enumerate(texts):
            if text in ("%", "%=") and macros and _in_macro_arguments(statement, k, macros):
                continue  # `Z(w % 60)` with `i.n % 10` in Z's body: the argument is pasted after `i.`
            if text == "%":
                left = k - 1
                start = _unary_start(texts, left)
                while start > 1 and texts[start - 1] in ("*", "/"):
                    start = _unary_start(texts, start - 2)
                    if start < 0:
                        break
                end = _unary_end(texts, k + 1)
                if start < 0 or end < 0:
                    continue
                a0, a1 = statement[start].start, statement[left].start + len(texts[left])
                b0, b1 = statement[k + 1].start, statement[end].start + len(texts[end])
                comma = "," + "\n" * code.count("\n", a1, b0) + " "  # line breaks stay where they were
                return f"{code[:a0]}{name}({code[a0:a1]}{comma}{code[b0:b1]}){code[b1:]}"
            if text == "%=":
                start = _unary_start(texts, k - 1)
                last = k + 1
                while last + 1 < len(statement) and not (
                        statement[last + 1].depth < statement[k].depth or
                        statement[last + 1].depth == statement[k].depth and texts[last + 1] in (",", ")", "]")):
                    last += 1
                if start < 0 or last >= len(statement):
                    continue
                t0, t1 = statement[start].start, statement[k - 1].start + len(texts[k - 1])
                r0, r1 = statement[k + 1].start, statement[last].start + len(texts[last])
                target, breaks = code[t0:t1], "\n" * code.count("\n", t1, r0)
                return f"{code[:t0]}{target} ={breaks} {name}({target}, ({code[r0:r1]})){code[r1:]}"
    return None


def truncated_remainders(code: str, name: str = "_esIMod") -> str:
    """`code` with every integer `%` and `%=` routed to `_esIMod`; see the module doc."""
    macros = set(FUNCTION_MACRO.findall(code))
    out, pos = [], 0
    for statement in statements(code):
        if not any(t.text in ("%", "%=") for t in statement):
            continue
        start, end = statement[0].start, statement[-1].start + len(statement[-1].text)
        text = code[start:end]
        for _ in range(text.count("%")):  # one statement at a time: it is tokenized again per rewrite
            rewritten = _rewrite_first(text, macros, name)
            if rewritten is None:
                break
            text = rewritten
        out += [code[pos:start], text]
        pos = end
    out.append(code[pos:])
    return "".join(out)
