"""For procedural targets: does the output use the target's generator family, and how far are its parameters?

    from earthshader.evaluation.families import detect_family, parameter_distance
    detect_family(code)                                  # 'fbm', 'stripes', ... or None
    d = parameter_distance(generated, reference, params)  # params: the generator's `ShaderSample.params`
    d.readable, d.found, d.error                          # e.g. 5, 4, 0.12

Family detection is deliberately simple: each family is recognised by the names and constructs its
generator writes (`earthshader/data/generators/`): a function (`fbm`, `worley`, `sdBox`), a variable
(`stripe`, `checker`, `dots`) or an idiom (`vec2(fbm(` for domain warping). Each family declares its
rules with its function (`detect=` in `earthshader/data/generators/`), and `rules()` reads them from the
generators' registry, lowest rank first (specific families first); the first match wins, so a family
registered later (a plugin, a test) is recognised too. A program that draws stripes under other
names is not recognised: the test is "did the model write this family's program", not "does the
picture look like it". On the generators' own programs it is right for every family and level
(tests/test_eval_families.py).

Parameter distance reads numbers only where they can be read. A generator parameter is *readable*
when its value (each component for a colour or a vector) appears as exactly one literal in the
reference program; values written several times (0.5, 1.0) or only through arithmetic are skipped. The
place of a readable literal is the `CONTEXT_TOKENS` tokens before it (numbers masked). A parameter is
*found* in the generated program when a literal stands at the same place (the nearest value if several
do), and its error is |g - v| / max(|g|, |v|), clipped to [0, 1]: 0 exact, 0.5 half or double, 1 far off
or of the other sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from earthshader.data.generators import detection_rules
from earthshader.glsl.literals import UNARY_CONTEXT
from earthshader.glsl.scan import TOKEN
from earthshader.render.shadertoy import strip_comments

#: How many tokens before a literal define its place.
CONTEXT_TOKENS = 6

def rules() -> list[tuple[str, tuple[str, ...]]]:
    """(family, patterns that must all match the comment-free code) of every registered family, in the order
    `detect_family` checks them (`earthshader.data.generators.detection_rules`)."""
    return [(family, rule.patterns) for family, rule in detection_rules()]


def detect_family(code: str) -> str | None:
    """The generator family whose constructs `code` uses (the first of `rules()` that matches), or None."""
    bare = strip_comments(code or "")
    for family, rule in detection_rules():
        if rule.matches(bare):
            return family
    return None


# --- parameters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterDistance:
    """`readable`: parameter values that can be read from the reference; `found`: how many of those the
    generated program has at the same place; `error`: their mean relative error (None when none found)."""

    readable: int
    found: int
    error: float | None

    @property
    def found_fraction(self) -> float | None:
        return self.found / self.readable if self.readable else None


def literal_sites(code: str, context_tokens: int = CONTEXT_TOKENS) -> list[tuple[tuple[str, ...], float]]:
    """(place, value) of every number in `code`: the place is the tokens before it, numbers masked as '#'.

    A unary minus joins its number (`rotate(-0.5)` holds -0.5).
    """
    tokens = []
    for match in TOKEN.finditer(code or ""):
        kind = match.lastgroup
        if kind in ("number", "ident", "punct"):
            tokens.append((kind, match.group()))
    sites, history = [], []
    for kind, text in tokens:
        if kind == "number":
            value = _number(text)
            context = history
            if history and history[-1] == "-" and (len(history) < 2 or history[-2] in UNARY_CONTEXT):
                value, context = -value, history[:-1]
            if value is not None and math.isfinite(value):
                sites.append((tuple(context[-context_tokens:]), value))
            history = [*context, "#"]
        else:
            history.append(text)
        history = history[-(context_tokens + 2):]
    return sites


def _number(text: str) -> float | None:
    text = text.rstrip("fFuU")
    try:
        return float(int(text, 16)) if text[:2].lower() == "0x" else float(text)
    except ValueError:
        return None


def numeric_params(params: dict) -> dict[str, float]:
    """The generator's numeric parameters, flattened: lists become `name[0]`, `name[1]`, ...; booleans dropped."""
    flat = {}
    for name, value in (params or {}).items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            flat[name] = float(value)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    flat[f"{name}[{i}]"] = float(item)
                elif isinstance(item, (list, tuple)):
                    flat.update({f"{name}[{i}][{j}]": float(v) for j, v in enumerate(item)
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return flat


def relative_error(generated: float, reference: float) -> float:
    """|g - v| / max(|g|, |v|), clipped to [0, 1]; 0 when both are 0."""
    scale = max(abs(generated), abs(reference))
    return 0.0 if scale == 0 else min(1.0, abs(generated - reference) / scale)


def parameter_distance(generated: str, reference: str, params: dict,
                       context_tokens: int = CONTEXT_TOKENS) -> ParameterDistance:
    """How far the generated program's numbers are from the generator's parameters (module docstring)."""
    reference_sites = literal_sites(reference, context_tokens)
    generated_by_place: dict[tuple[str, ...], list[float]] = {}
    for place, value in literal_sites(generated, context_tokens):
        generated_by_place.setdefault(place, []).append(value)
    readable = found = 0
    errors = []
    for value in numeric_params(params).values():
        places = [place for place, v in reference_sites if math.isclose(v, value, rel_tol=1e-9, abs_tol=1e-12)]
        if len(places) != 1:
            continue  # absent (derived) or ambiguous (written several times)
        readable += 1
        candidates = generated_by_place.get(places[0])
        if candidates:
            found += 1
            errors.append(min(relative_error(g, value) for g in candidates))
    return ParameterDistance(readable, found, sum(errors) / len(errors) if errors else None)
