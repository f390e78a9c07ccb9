"""Programs broken as a model breaks them: look-and-fix's correction pairs need no labels (docs/look-and-fix.md).

    import numpy as np
    from earthshader.glsl.breakage import BREAKS, break_program
    broken = break_program(code, "semicolon", np.random.default_rng(0))   # None: this break does not apply

The right program is the label of its broken copy. Kinds:

- compile errors (`COMPILE_BREAKS`): `semicolon` (a statement's `;` left out), `undeclared` (one use of a
  variable misspelt), `type` (a declaration given a type its initialiser does not have: `vec3 col = vec2(...)`),
  `call` (a built-in such as `mix`, `smoothstep` or `pow` called without its last argument);
- wrong pictures (`LOOK_BREAKS`): `numbers` (three of the literals the refiner lifts moved by 10-40%,
  `earthshader.glsl.literals.perturbed_values`, as the refinement benchmark moves them), `colour` (a literal
  colour `vec3(r, g, b)` replaced by its complement), `frequency` (a multiplier of 2 or more doubled or halved).

Each edit touches one place and keeps every line where it was, so the compiler's messages point at the line
the break is on. Nothing here renders: whether a broken program fails or draws another picture is the
renderer's to say (`earthshader.episodes.pairs` keeps only breaks that do).

>>> code = ("void mainImage(out vec4 c, in vec2 p) {\\n    vec3 col = mix(vec3(0.2), vec3(0.9, 0.5, 0.1), p.x);\\n"
...         "    c = vec4(col, 1.0);\\n}")
>>> rng = np.random.default_rng(0)
>>> print(break_program(code, "call", rng).splitlines()[1])
    vec3 col = mix(vec3(0.2), vec3(0.9, 0.5, 0.1));
>>> print(break_program(code, "colour", rng).splitlines()[1])
    vec3 col = mix(vec3(0.2), vec3(0.1, 0.5, 0.9), p.x);
>>> break_program(code, "frequency", rng) is None   # no multiplier of 2 or more
True
"""

from __future__ import annotations

import numpy as np

from earthshader.glsl.literals import lift_literals, perturbed_values
from earthshader.glsl.scan import OPEN, Scanner, is_float_literal, parse_float

COMPILE_BREAKS = ("semicolon", "undeclared", "type", "call")
LOOK_BREAKS = ("numbers", "colour", "frequency")
BREAKS = LOOK_BREAKS + COMPILE_BREAKS

#: Built-ins with two or more arguments that `call` cuts short.
MULTI_ARGUMENT_BUILTINS = frozenset({"mix", "smoothstep", "clamp", "step", "pow", "max", "min", "mod", "atan", "dot",
                                     "distance", "reflect", "cross"})
#: Declared types `type` changes, each into one its initialiser cannot have.
WRONG_TYPE = {"float": "vec2", "vec2": "vec3", "vec3": "vec2", "vec4": "vec3"}
#: Literals moved by `numbers`.
MOVED_NUMBERS = 3


def break_program(code: str, kind: str, rng: np.random.Generator) -> str | None:
    """`code` broken by one edit of `kind` (see the module docstring); None when that break finds no place."""
    if kind not in BREAKS:
        raise ValueError(f"unknown break {kind!r}; breaks: {', '.join(BREAKS)}")
    if kind == "numbers":
        return _numbers(code, rng)
    scanner = Scanner(code)
    edits = _PLACES[kind](scanner)
    if not edits:
        return None
    start, end, text = edits[int(rng.integers(len(edits)))]
    broken = code[:start] + text + code[end:]
    return broken if broken != code else None


def _numbers(code: str, rng) -> str | None:
    lifted = lift_literals(code)
    if not lifted.literals:
        return None
    values, _ = perturbed_values(lifted.values, MOVED_NUMBERS, rng)
    broken = lifted.write_back(values, digits=3)
    return broken if broken != code else None


def _semicolon(s: Scanner) -> list[tuple[int, int, str]]:
    """Every `;` that ends a statement (not one inside `for (...)`, not one after a `}`)."""
    stream, places, paren = s.code, [], 0
    for p, i in enumerate(stream):
        t = s.text(i)
        paren += (t == "(") - (t == ")")
        if t == ";" and paren == 0 and p > 0 and s.text(stream[p - 1]) != "}":
            _, _, start, end = s.tokens[i]
            places.append((start, end, ""))
    return places


def _declarations(s: Scanner) -> list[tuple[int, int]]:
    """(position of the type token, position of the name) of each `TYPE NAME =` in `s.code`."""
    stream = s.code
    return [(p, p + 1) for p in range(len(stream) - 2)
            if s.text(stream[p]) in WRONG_TYPE and s.tokens[stream[p + 1]][0] == "ident"
            and s.text(stream[p + 2]) == "=" and (p == 0 or s.text(stream[p - 1]) not in (".", "const"))]


def _undeclared(s: Scanner) -> list[tuple[int, int, str]]:
    """Each later use of a declared variable, spelt wrong into a name the program does not have."""
    stream, names = s.code, s.idents(s.code)
    places = []
    for _, at in _declarations(s):
        name = s.text(stream[at])
        typo = name[:-2] + name[-1] + name[-2] if len(name) >= 3 else name + "s"
        if typo in names or typo == name:
            typo = name + "_"
        for p in range(at + 1, len(stream)):
            i = stream[p]
            if s.text(i) == name and s.text(stream[p - 1]) != ".":
                _, _, start, end = s.tokens[i]
                places.append((start, end, typo))
    return places


def _type(s: Scanner) -> list[tuple[int, int, str]]:
    """Each `TYPE NAME = ...` with its type swapped for one the initialiser is not (`WRONG_TYPE`)."""
    places = []
    for p, _ in _declarations(s):
        _, text, start, end = s.tokens[s.code[p]]
        places.append((start, end, WRONG_TYPE[text]))
    return places


def _call(s: Scanner) -> list[tuple[int, int, str]]:
    """Each call of a `MULTI_ARGUMENT_BUILTINS` function with its last argument (and comma) cut."""
    stream, places = s.code, []
    for p in range(len(stream) - 1):
        if s.text(stream[p]) not in MULTI_ARGUMENT_BUILTINS or s.text(stream[p + 1]) != "(":
            continue
        close, depth, last_comma = s.match(stream, p + 1), 0, None
        for q in range(p + 2, close):
            t = s.text(stream[q])
            depth += (t in OPEN) - (t in ")]}")
            if t == "," and depth == 0:
                last_comma = q
        if last_comma is not None:
            places.append((s.tokens[stream[last_comma]][2], s.tokens[stream[close]][2], ""))
    return places


def _colour(s: Scanner) -> list[tuple[int, int, str]]:
    """Each `vec3(r, g, b)` of three float literals in [0, 1] (a colour), replaced by its complement."""
    stream, places = s.code, []
    for p in range(len(stream) - 7):
        texts = [s.text(stream[p + k]) for k in range(8)]
        if texts[0] != "vec3" or texts[1] != "(" or texts[3] != "," or texts[5] != "," or texts[7] != ")":
            continue
        numbers = [stream[p + k] for k in (2, 4, 6)]
        if not all(s.tokens[i][0] == "number" and is_float_literal(s.text(i)) for i in numbers):
            continue
        values = [parse_float(s.text(i)) for i in numbers]
        if all(0.0 <= v <= 1.0 for v in values) and len({round(v, 3) for v in values}) > 1:
            text = ", ".join(_float_text(1.0 - v) for v in values)
            places.append((s.tokens[numbers[0]][2], s.tokens[numbers[-1]][3], text))
    return places


def _frequency(s: Scanner) -> list[tuple[int, int, str]]:
    """Each float literal of 2 or more beside a `*` (a frequency or a scale), doubled or halved."""
    stream, places = s.code, []
    for p, i in enumerate(stream):
        if s.tokens[i][0] != "number" or not is_float_literal(s.text(i)) or parse_float(s.text(i)) < 2.0:
            continue
        beside = {s.text(stream[q]) for q in (p - 1, p + 1) if 0 <= q < len(stream)}
        if "*" in beside:
            value = parse_float(s.text(i))
            _, _, start, end = s.tokens[i]
            places += [(start, end, _float_text(value * 2)), (start, end, _float_text(value / 2))]
    return places


def _float_text(value: float) -> str:
    """A GLSL float literal for `value` (three significant digits, always with a point)."""
    text = f"{value:.3g}"
    return text if any(c in text for c in ".e") else text + ".0"


_PLACES = {"semicolon": _semicolon, "undeclared": _undeclared, "type": _type, "call": _call, "colour": _colour,
           "frequency": _frequency}
