"""Lift the float literals of a Shadertoy shader into uniforms, and write new values back.

Refinement (`earthshader.refine`) changes a shader's numbers by re-rendering, not by recompiling:
each liftable float literal becomes a uniform `_k0`, `_k1`, ... whose value starts at the literal's.

    from earthshader.glsl.literals import lift_literals

    lifted = lift_literals(source)
    lifted.code, lifted.declarations       # render with uniform_declarations=lifted.declarations
    lifted.uniforms()                      # {"_k0": 0.5, ...}: renders exactly like `source`
    lifted.write_back(new_values)          # the original source with new literals (rounded)

What stays a literal: integers; anything inside `[...]`, `for (...)`, `while (...)` and `case ...:`
(array sizes, indices, loop bounds); preprocessor lines other than `#define`; struct bodies, function
headers and user uniforms. GLSL requires constant expressions in `const` initialisers and (in ES 3.00)
in global initialisers, so a definition that receives a lifted literal is converted: a local `const`
loses its `const`, a global declaration keeps no initialiser and is assigned at the start of
`mainImage` instead (semantics unchanged: globals are per-pixel). A name that is used where a
constant is required (array size, loop header, `#if`) blocks its definition, and everything that
definition uses, from being lifted. Line numbers are kept, so compiler messages map 1:1.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from earthshader.glsl.scan import Definition, Scanner, Structure, parse_float

#: A `-` right after one of these is a unary minus, which joins the literal: `x*-0.5` is one value.
UNARY_CONTEXT = {"(", "[", ",", "=", "+=", "-=", "*=", "/=", "?", ":", "{", ";", "return",
                 "+", "-", "*", "/", "<", ">", "<=", ">=", "==", "!=", "&&", "||", "^^", "!"}
#: At most this many literals become uniforms (GL limits; more is far beyond any search budget).
MAX_LITERALS = 256


@dataclass(frozen=True)
class Literal:
    """One lifted float literal: `source[start:end]` (a unary minus included), its value and place."""

    start: int
    end: int
    text: str
    value: float
    line: int
    where: str  # "body" (function body), "const" (local const), "global", "macro"
    negated: bool  # the span starts with its own unary minus


@dataclass
class LiftedShader:
    """The result of `lift_literals`: render `code` with `declarations` and `uniforms(values)`."""

    source: str
    code: str
    declarations: str
    names: list[str]
    literals: list[Literal]
    kept: int  # float literals left in place

    @property
    def values(self) -> list[float]:
        return [lit.value for lit in self.literals]

    def uniforms(self, values=None) -> dict[str, float]:
        """Uniform values by name; the literals' own values when `values` is None."""
        values = self.values if values is None else [float(v) for v in values]
        if len(values) != len(self.names):
            raise ValueError(f"got {len(values)} values for {len(self.names)} lifted literals")
        return dict(zip(self.names, values))

    def write_back(self, values, digits: int = 4) -> str:
        """The original source with each lifted literal replaced by its new value (`digits` significant).

        A literal whose value did not change keeps its exact original text.
        """
        if len(values) != len(self.literals):
            raise ValueError(f"got {len(values)} values for {len(self.literals)} lifted literals")
        out, cursor = [], 0
        for lit, value in zip(self.literals, values):
            out.append(self.source[cursor:lit.start])
            out.append(_write(self.source, lit, float(value), digits))
            cursor = lit.end
        out.append(self.source[cursor:])
        return "".join(out)


def perturbed_values(values, count: int, rng) -> tuple[list[float], list[int]]:
    """`values` with `count` of them (drawn with `rng`, a numpy Generator) moved by 10-40% of max(|x|, 0.1) in a
    random direction, and the indices moved: how the refinement benchmark and look-and-fix's broken programs
    perturb a program's numbers.

    >>> import numpy as np
    >>> moved, chosen = perturbed_values([1.0, 2.0, 3.0], 1, np.random.default_rng(0))
    >>> len(chosen), sum(a != b for a, b in zip(moved, [1.0, 2.0, 3.0]))
    (1, 1)
    """
    moved = [float(v) for v in values]
    chosen = rng.choice(len(moved), size=min(count, len(moved)), replace=False) if moved else []
    for i in chosen:
        moved[i] += float(rng.choice([-1, 1]) * rng.uniform(0.1, 0.4) * max(abs(moved[i]), 0.1))
    return moved, sorted(int(i) for i in chosen)


def round_value(value: float, digits: int) -> float:
    """`value` rounded to `digits` significant digits, as written back."""
    return float(f"{value:.{digits}g}")


def format_literal(value: float, lit: Literal, digits: int) -> str:
    """GLSL text for `value` in place of `lit`: always a float literal; negative values in parentheses
    unless the literal carried its own unary minus (so `a-0.5` never becomes `a--0.2`)."""
    if value == lit.value:
        return lit.text
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    elif "." not in text:
        text += ".0"
    if lit.text.rstrip().endswith(("f", "F")):
        text += "f"
    if value < 0 and not lit.negated:
        text = f"({text})"
    return text


def _write(source: str, lit: Literal, value: float, digits: int) -> str:
    text = format_literal(value, lit, digits)
    before = source[lit.start - 1] if lit.start > 0 else " "
    return " " + text if (before.isalnum() or before == "_") and text[0].isalnum() else text


def significant_digits(text: str) -> int:
    """Significant digits of a literal's text: `0.250` -> 2, `43758.5453` -> 9, `1e-3` -> 1."""
    mantissa = re.split("[eE]", text.rstrip("fF"))[0]
    return len(mantissa.replace(".", "").lstrip("0").rstrip("0"))


def lift_literals(source: str, *, macros: bool = True, globals_: bool = True, local_consts: bool = True,
                  zeros: bool = False, max_digits: int | None = 4, exclude_lines=(),
                  max_literals: int = MAX_LITERALS) -> LiftedShader:
    """Turn the liftable float literals of `source` into uniforms; see the module docstring.

    `macros`, `globals_`, `local_consts` switch off lifting inside `#define` bodies, global
    declarations and local `const` declarations; `exclude_lines` (1-based) keeps the literals on
    those lines. The result may hold no literals at all (then `code == source`).

    Two kinds of literal stay by default, because a compiler treats them specially and a uniform
    would change the picture: zeros (`x * 0.0` is folded to 0 even where x is infinite) and
    literals with more than `max_digits` significant digits (hash constants such as 43758.5453,
    where the last bit of a `sin` decides the noise; also pi and friends, which are not knobs).
    """
    s = Scanner(source)
    st = Structure(s)
    live = _live_definitions(st, {"macro": macros, "global": globals_, "const": local_consts})
    newlines = [m.start() for m in re.finditer("\n", source)]
    line_of = lambda i: bisect.bisect_left(newlines, s.tokens[i][2]) + 1  # noqa: E731
    excluded = set(exclude_lines)

    def wanted(i: int) -> bool:
        text = s.text(i)
        return (i not in st.keep and line_of(i) not in excluded and (zeros or parse_float(text) != 0)
                and (max_digits is None or significant_digits(text) <= max_digits))

    candidates = set(st.body_literals) | {i for d in live for i in d.literal_tokens}
    lifted_tokens = sorted(i for i in candidates if wanted(i))[:max_literals]
    owner = {i: d for d in live for i in d.literal_tokens}
    prefix = _free_prefix(source)
    names = [f"{prefix}{k}" for k in range(len(lifted_tokens))]
    previous = {}
    for stream in [s.code] + s.directives:
        previous.update(zip(stream[1:], stream[:-1]))
    literals, name_of = [], {}  # name_of: first token of the span -> (name, number token)
    for name, i in zip(names, lifted_tokens):
        first, negated = i, False
        minus = previous.get(i)
        if minus is not None and s.text(minus) == "-" and s.text(previous.get(minus, minus)) in UNARY_CONTEXT:
            first, negated = minus, True
        start, end = s.tokens[first][2], s.tokens[i][3]
        value = parse_float(s.text(i)) * (-1 if negated else 1)
        where = owner[i].kind if i in owner else "body"
        literals.append(Literal(start, end, source[start:end], value, line_of(i), where, negated))
        name_of[first] = (name, i)
    converted = _converted(live, [owner[i] for i in lifted_tokens if i in owner])
    code = _rewrite(s, st, converted, name_of, prefix)
    all_floats = s.float_tokens(s.code + [i for directive in s.directives for i in directive])
    declarations = f"uniform float {', '.join(names)};" if names else ""
    return LiftedShader(source, code, declarations, names, literals, kept=len(all_floats) - len(literals))


def _live_definitions(st: Structure, allowed: dict[str, bool]) -> list[Definition]:
    """Definitions that may be converted: not used where a constant is required, not used by one
    that is, and of a kind that `allowed` permits."""
    blocked = set(st.blocked)
    for d in st.definitions:
        if not (d.convertible and allowed[d.kind]):
            blocked |= d.names
    changed = True
    while changed:  # whatever a constant definition uses must stay constant too
        changed = False
        for d in st.definitions:
            if d.names & blocked and not d.refs <= blocked:
                blocked |= d.refs
                changed = True
    return [d for d in st.definitions if not d.names & blocked]


def _converted(live: list[Definition], holding_literals) -> list[Definition]:
    """The definitions to convert: those holding a lifted literal and, in turn, those using them."""
    converted = {id(d) for d in holding_literals}
    changed = True
    while changed:
        changed = False
        names = {n for d in live if id(d) in converted for n in d.names}
        for d in live:
            if id(d) not in converted and d.refs & names:
                converted.add(id(d))
                changed = True
    return [d for d in live if id(d) in converted]


def _rewrite(s: Scanner, st: Structure, converted: list[Definition], name_of: dict, prefix: str) -> str:
    """The lifted source: literals replaced by uniforms, local consts un-const'ed, converted globals
    declared without initialiser and assigned by `<prefix>Init()` at the start of mainImage."""
    source = s.source
    edits = []  # (start, end, replacement) on the source
    in_rewritten: set[int] = set()
    init_statements = []
    for d in converted:
        if d.kind == "const":
            const = next(i for i in d.tokens if s.text(i) == "const")
            edits.append((s.tokens[const][2], s.tokens[const][3], ""))
        elif d.kind == "global":
            start, end = s.tokens[d.tokens[0]][2], s.tokens[d.tokens[-1]][3]
            in_rewritten.update(d.tokens)
            qualifiers = " ".join(s.text(i) for i in d.prefix if s.text(i) != "const")
            declarators = ", ".join(" ".join(s.text(i) for i in lhs) for _, lhs, _ in d.declarators)
            edits.append((start, end, f"{qualifiers} {declarators};" + "\n" * source.count("\n", start, end)))
            for name, _, init in d.declarators:
                if init:
                    init_statements.append(f"{name} = {_expression(s, init, name_of)};")
    for first, (name, i) in name_of.items():
        if first not in in_rewritten:
            start = s.tokens[first][2]
            glued = start > 0 and (source[start - 1].isalnum() or source[start - 1] == "_")  # return-1.
            edits.append((start, s.tokens[i][3], " " + name if glued else name))
    if init_statements:
        at = s.tokens[st.main_header][2]
        edits.append((at, at, f"void {prefix}Init() {{ {' '.join(init_statements)} }} "))
        after_brace = s.tokens[st.main_open][3]
        edits.append((after_brace, after_brace, f" {prefix}Init();"))
    return _apply(source, edits)


def _expression(s: Scanner, positions: list[int], name_of: dict) -> str:
    """The tokens at `positions` as one line of text, lifted literals replaced by their uniforms."""
    out, skip = [], None
    for i in positions:
        if i == skip:
            continue
        if i in name_of:
            name, number = name_of[i]
            out.append(name)
            skip = number if number != i else None
        else:
            out.append(s.text(i))
    return " ".join(out)


def _apply(source: str, edits: list) -> str:
    out, cursor = [], 0
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1])):
        out.append(source[cursor:start])
        out.append(text)
        cursor = max(cursor, end)
    out.append(source[cursor:])
    return "".join(out)


def _free_prefix(source: str) -> str:
    """A uniform name prefix that no identifier of `source` can collide with: `_k`, `_kk`, `_lit`, `_esk`, then
    `_esk1_`, `_esk2_`, ...: each identifier blocks at most one of those, so one of the first
    `len(identifiers) + 1` is free, whatever names a shader takes.

    >>> _free_prefix("float _k0, _kk1, _lit2, _esk3, _esk1_0; void _kInit() {}")
    '_esk2_'
    """
    idents = set(re.findall(r"[A-Za-z_]\w*", source))
    taken = {name[:-4] for name in idents if name.endswith("Init")}  # the prefixes each identifier blocks
    for name in idents:
        digits = len(name) - len(name.rstrip("0123456789"))
        taken.update(name[:len(name) - k] for k in range(1, digits + 1))
    candidates = ("_k", "_kk", "_lit", "_esk", *(f"_esk{n}_" for n in range(1, len(idents) + 2)))
    return next(prefix for prefix in candidates if prefix not in taken)
