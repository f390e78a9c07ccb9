"""A small GLSL scanner: tokens, preprocessor lines, and the declarations that literal lifting needs.

Not a parser: it knows statements, brackets, function bodies, `const` and global declarations,
`#define` bodies, and the places where GLSL wants a constant (array sizes, loop headers, case
labels, `#if`, integral `pow` exponents). `earthshader.glsl.literals` builds on it.

    scanner = Scanner(source)
    structure = Structure(scanner)
    structure.definitions, structure.body_literals, structure.blocked, structure.keep
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(
    r"(?P<comment>//[^\n]*|/\*.*?\*/)|(?P<cont>\\\r?\n)|(?P<nl>\r?\n)|(?P<ws>[ \t\f\v\r]+)"
    r"|(?P<number>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?|\d+[eE][+-]?\d+[fF]?"
    r"|0[xX][0-9a-fA-F]+[uU]?|\d+[uU]?)"
    r"|(?P<ident>[A-Za-z_]\w*)"
    r"|(?P<punct><<=|>>=|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||\^\^|[-+*/%&|^]=|\#\#|.)",
    re.S)

#: Top-level statements with one of these are interface declarations, left alone.
INTERFACE_WORDS = {"uniform", "in", "out", "inout", "buffer", "layout", "attribute", "varying",
                   "shared", "precision", "invariant", "struct"}
OPEN, CLOSE = "([{", ")]}"


def parse_float(text: str) -> float:
    """The value of a GLSL float literal (`1.`, `.5`, `1e-3`, `2.0f`)."""
    return float(text.rstrip("fF"))


def is_float_literal(text: str) -> bool:
    """True for a number token that is a float (`1.`, `.5`, `1e3`), not an int (`3`, `0x1E`, `2u`)."""
    return text[0] in "0123456789." and not text.lower().startswith("0x") and any(c in text for c in ".eE")


@dataclass
class Definition:
    """A global declaration, local `const` or macro: lifting one of its literals converts it."""

    kind: str  # "global" | "const" | "macro"
    names: set[str]
    tokens: list[int]  # positions in the token list: the statement, or the macro body
    literal_tokens: list[int] = field(default_factory=list)
    refs: set[str] = field(default_factory=set)
    convertible: bool = True
    declarators: list = field(default_factory=list)  # (name, lhs token positions, init positions)
    prefix: list[int] = field(default_factory=list)  # type and qualifier tokens (globals)


class Scanner:
    """Tokens of one source, the code/directive split, and the syntax positions the lift needs."""

    def __init__(self, source: str):
        self.source = source
        self.tokens = [(m.lastgroup, m.group(), m.start(), m.end()) for m in TOKEN.finditer(source)]
        self.code: list[int] = []  # significant tokens outside preprocessor lines
        self.directives: list[list[int]] = []  # significant tokens of each directive, '#' first
        at_line_start, current = True, None
        for i, (kind, text, _, _) in enumerate(self.tokens):
            if kind == "nl":
                at_line_start, current = True, None
                continue
            if kind in ("comment", "ws", "cont"):
                continue
            if at_line_start and text == "#":
                current = [i]
                self.directives.append(current)
            elif current is not None:
                current.append(i)
            else:
                self.code.append(i)
            at_line_start = False

    def text(self, i: int) -> str:
        return self.tokens[i][1]

    def match(self, stream: list[int], p: int) -> int:
        """Position in `stream` of the bracket closing the one at `p` (the end if unbalanced)."""
        depth = 0
        for q in range(p, len(stream)):
            t = self.text(stream[q])
            if t in OPEN:
                depth += 1
            elif t in CLOSE:
                depth -= 1
                if depth == 0:
                    return q
        return len(stream) - 1

    def keep_positions(self, stream: list[int]) -> set[int]:
        """Tokens that must stay constant: inside `[...]`, `for (...)`, `while (...)`, `case ...:`."""
        keep: set[int] = set()
        for p, i in enumerate(stream):
            t = self.text(i)
            if t == "[":
                keep.update(stream[p:self.match(stream, p) + 1])
            elif t in ("for", "while") and p + 1 < len(stream) and self.text(stream[p + 1]) == "(":
                keep.update(stream[p:self.match(stream, p + 1) + 1])
            elif t == "case":
                q = p
                while q < len(stream) and self.text(stream[q]) != ":":
                    q += 1
                keep.update(stream[p:q + 1])
        return keep

    def integral_exponents(self, stream: list[int]) -> set[int]:
        """Whole-number literals in the exponent of `pow(x, 2.0)`: compilers expand those into
        products, which are defined for a negative `x`, while `pow(x, uniform)` is not."""
        found = set()
        for p, i in enumerate(stream[:-1]):
            if self.text(i) == "pow" and self.text(stream[p + 1]) == "(":
                close, depth = self.match(stream, p + 1), 0
                for q in range(p + 2, close):
                    t = self.text(stream[q])
                    depth += (t in OPEN) - (t in CLOSE)
                    if t == "," and depth == 0:
                        found.update(j for j in self.float_tokens(stream[q + 1:close])
                                     if parse_float(self.text(j)).is_integer())
                        break
        return found

    def statement_end(self, stream: list[int], p: int) -> int:
        """Position of the `;`, `{` or `}` that ends the statement starting at `p` (or the end)."""
        q = p
        while q < len(stream):
            t = self.text(stream[q])
            if t in "([":
                q = self.match(stream, q) + 1
                continue
            if t in ";{}":
                return q
            q += 1
        return len(stream)

    def idents(self, positions) -> set[str]:
        return {self.text(i) for i in positions if self.tokens[i][0] == "ident"}

    def float_tokens(self, positions) -> list[int]:
        return [i for i in positions if self.tokens[i][0] == "number" and is_float_literal(self.text(i))]


class Structure:
    """Definitions (globals, local consts, macros), function-body literals and blocked names."""

    def __init__(self, s: Scanner):
        self.s = s
        self.definitions: list[Definition] = []
        self.body_literals: list[int] = []
        self.blocked: set[str] = set()
        self.main_header: int | None = None  # token index where `void mainImage(...)` starts
        self.main_open: int | None = None  # token index of its `{`
        self.keep = s.keep_positions(s.code)
        self._top_level(s.code)
        for directive in s.directives:
            self._directive(directive)
        self.blocked |= s.idents(self.keep)
        macro_names = [n for d in self.definitions if d.kind == "macro" for n in d.names]
        self.blocked |= {n for n in macro_names if macro_names.count(n) > 1}  # redefined: keep as is
        for stream in [s.code] + [d.tokens for d in self.definitions if d.kind == "macro"]:
            self.keep |= s.integral_exponents(stream)

    def _top_level(self, stream: list[int]) -> None:
        s, p = self.s, 0
        while p < len(stream):
            q = s.statement_end(stream, p)
            head = stream[p:q]
            texts = [s.text(i) for i in head]
            end = s.text(stream[q]) if q < len(stream) else ";"
            if end == "{":
                close = s.match(stream, q)
                if "(" in texts and "=" not in texts and not {"struct", "uniform", "buffer", "layout"} & set(
                        texts[:texts.index("(")]):  # a function definition
                    name = texts[texts.index("(") - 1] if texts.index("(") > 0 else ""
                    if name == "mainImage" and self.main_header is None:
                        self.main_header, self.main_open = head[0], stream[q]
                    self._body(stream, q + 1, close)
                    p = close + 1
                else:  # struct or interface block (and any declarators after it)
                    r = s.statement_end(stream, close + 1)
                    self.blocked |= s.idents(stream[p:r])
                    p = r + 1
            elif not head:
                p = q + 1
            else:
                if INTERFACE_WORDS & set(texts):
                    self.blocked |= s.idents(head)
                elif not ("(" in texts and "=" not in texts):  # not a prototype: a declaration
                    # Converted globals are assigned at the start of mainImage: only those above it.
                    self._declaration(head, "global", end_token=stream[q] if q < len(stream) else None,
                                      convertible=self.main_header is None)
                p = q + 1
        if self.main_header is None:  # nowhere to assign globals: none can be converted
            for d in self.definitions:
                if d.kind == "global":
                    d.convertible = False

    def _body(self, stream: list[int], a: int, b: int) -> None:
        s, p = self.s, a
        while p < b:
            i, t = stream[p], s.text(stream[p])
            if t == "const" and s.text(stream[p - 1]) in (";", "{", "}"):
                q = s.statement_end(stream, p)
                self._declaration(stream[p:min(q, b)], "const")
                p = q + 1
                continue
            if s.tokens[i][0] == "number" and is_float_literal(t):
                self.body_literals.append(i)
            p += 1

    def _declaration(self, head: list[int], kind: str, end_token: int | None = None,
                     convertible: bool = True) -> None:
        s = self.s
        pieces, depth, current = [], 0, []
        for i in head:
            t = s.text(i)
            depth += (t in OPEN) - (t in CLOSE)
            if t == "," and depth == 0:
                pieces.append(current)
                current = []
            else:
                current.append(i)
        pieces.append(current)
        d = Definition(kind, set(), head + ([end_token] if end_token is not None else []),
                        convertible=convertible)
        for n, piece in enumerate(pieces):
            texts = [s.text(i) for i in piece]
            eq = texts.index("=") if "=" in texts else len(piece)
            lhs, init = piece[:eq], piece[eq + 1:]
            depth, name_at = 0, None
            for k, i in enumerate(lhs):
                t = s.text(i)
                depth += (t in OPEN) - (t in CLOSE)
                if depth == 0 and s.tokens[i][0] == "ident":
                    name_at = k
            if name_at is None:
                d.convertible = False
                continue
            if n == 0:
                d.prefix = lhs[:name_at]
            declarator = lhs[name_at:]
            if "[]" in "".join(s.text(i) for i in d.prefix + declarator):
                d.convertible = False  # an unsized array (`vec3[] c = ...`) needs its initialiser
            d.names.add(s.text(lhs[name_at]))
            d.declarators.append((s.text(lhs[name_at]), declarator, init))
            d.refs |= s.idents(init)
            d.literal_tokens += s.float_tokens(init)
        self.definitions.append(d)

    def _directive(self, tokens: list[int]) -> None:
        s = self.s
        word = s.text(tokens[1]) if len(tokens) > 1 else ""
        if word in ("if", "elif", "ifdef", "ifndef"):
            self.blocked |= s.idents(tokens[2:])
        if word != "define" or len(tokens) < 3 or s.tokens[tokens[2]][0] != "ident":
            return
        body_at = 3
        if len(tokens) > 3 and s.text(tokens[3]) == "(" and s.tokens[tokens[3]][2] == s.tokens[tokens[2]][3]:
            body_at = s.match(tokens, 3) + 1  # function-like macro: skip the parameter list
        body = tokens[body_at:]
        self.keep |= s.keep_positions(body)
        self.definitions.append(Definition("macro", {s.text(tokens[2])}, body,
                                            literal_tokens=s.float_tokens(body), refs=s.idents(body)))
