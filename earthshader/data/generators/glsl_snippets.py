"""Shared pieces of the procedural generators: seeded parameter drawing, GLSL number formatting,
and the GLSL functions (hashes, noises, palettes) that several families reuse.

A generator draws its parameters through `Draw`, which rounds every number to 2 significant digits
(short programs for a small tokenizer, constants a person would type) and records it in
`draw.params`, so a sample carries exactly the values that appear in its code:

    >>> draw = Draw(random.Random("stripes:3"))
    >>> freq = draw.uniform("frequency", 4, 12)
    >>> f"uv.x * {glf(freq)}", draw.params
    ('uv.x * 11.0', {'frequency': 11.0})
"""

from __future__ import annotations

import colorsys
import math
import random
from collections.abc import Sequence
from typing import Any


def round_sig(x: float, sig: int = 2) -> float:
    """Round to `sig` significant digits (3.14159 -> 3.1, 0.2531 -> 0.25, 12.7 -> 13.0)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    digits = sig - 1 - int(math.floor(math.log10(abs(x))))
    return float(round(x, digits))


def glf(x: float, sig: int = 3) -> str:
    """A GLSL float literal of at most `sig` significant digits, with a decimal point and never an
    exponent (2 -> '2.0', 8 / 3 -> '2.67'): derived values stay as short as drawn ones."""
    x = round_sig(float(x), sig)
    text = repr(x)
    if "e" in text or "E" in text:
        text = f"{x:.6f}".rstrip("0")
    if "." not in text:
        text += ".0"
    if text.endswith("."):
        text += "0"
    return text


def vec(values: Sequence[float]) -> str:
    """`vec2`/`vec3` literal from 2 or 3 numbers: (0.9, 0.5, 0.2) -> 'vec3(0.9, 0.5, 0.2)'."""
    return f"vec{len(values)}({', '.join(glf(v) for v in values)})"


class Draw:
    """Draws rounded parameters from a seeded `random.Random` and records them in `params`."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.params: dict[str, Any] = {}

    def uniform(self, name: str, lo: float, hi: float, sig: int = 2) -> float:
        value = round_sig(self.rng.uniform(lo, hi), sig)
        self.params[name] = value
        return value

    def decimals(self, name: str, lo: float, hi: float, places: int = 1) -> float:
        """A value rounded to a fixed number of decimal places (angles, offsets near zero)."""
        value = float(round(self.rng.uniform(lo, hi), places))
        self.params[name] = value
        return value

    def integer(self, name: str, lo: int, hi: int) -> int:
        value = self.rng.randint(lo, hi)
        self.params[name] = value
        return value

    def choice(self, name: str, options: Sequence[Any]) -> Any:
        value = options[self.rng.randrange(len(options))]
        self.params[name] = value
        return value

    def chance(self, name: str, p: float) -> bool:
        value = self.rng.random() < p
        self.params[name] = value
        return value

    def colour(self, name: str, lightness: tuple[float, float] = (0.2, 0.9), saturation=(0.3, 0.9)):
        """An RGB colour with components rounded to one decimal."""
        hue = self.rng.random()
        light = self.rng.uniform(*lightness)
        sat = self.rng.uniform(*saturation)
        rgb = tuple(float(round(c, 1)) for c in colorsys.hls_to_rgb(hue, light, sat))
        self.params[name] = list(rgb)
        return rgb

    def colour_pair(self, name: str = "colours"):
        """A dark and a light colour: always enough contrast to read as a pattern."""
        dark = self.colour(f"{name}_dark", lightness=(0.08, 0.35))
        light = self.colour(f"{name}_light", lightness=(0.6, 0.9))
        if self.rng.random() < 0.5:
            dark, light = light, dark
        return dark, light

    def palette(self, name: str = "palette"):
        """Cosine palette coefficients (a, b, c, d): colour = a + b * cos(6.2831 * (c * t + d))."""
        a = (0.5, 0.5, 0.5)
        b = (0.5, 0.5, 0.5)
        c = self.choice(f"{name}_c", [(1.0, 1.0, 1.0), (1.0, 1.0, 0.5), (1.0, 0.7, 0.4), (2.0, 1.0, 0.0)])
        d = self.choice(
            f"{name}_d",
            [(0.0, 0.33, 0.67), (0.0, 0.1, 0.2), (0.3, 0.2, 0.2), (0.8, 0.9, 0.3), (0.5, 0.2, 0.25), (0.0, 0.15, 0.2)],
        )
        self.params[f"{name}_c"] = list(c)
        self.params[f"{name}_d"] = list(d)
        return a, b, c, d


# --- GLSL building blocks -------------------------------------------------------------------------

#: Well-known constants used as literals in generated code (2 pi, the 1 / 2.2 gamma exponent).
TAU = "6.2831"
GAMMA = "0.4545"

MAIN_OPEN = "void mainImage(out vec4 fragColor, in vec2 fragCoord) {"
UV_ASPECT = "    vec2 uv = fragCoord / iResolution.y;"
UV_CENTRED = "    vec2 uv = (fragCoord - 0.5 * iResolution.xy) / iResolution.y;"

# Dave Hoskins' "hash without sine": no `sin`, so it is cheap to compile on llvmpipe (a `sin` hash
# inlined into every noise call made terrains take half a second to JIT) and stable across GPUs.
HASH = """float hash(vec2 p) {
    vec3 p3 = fract(vec3(p.xyx) * 0.1031);
    p3 += dot(p3, p3.yzx + 33.33);
    return fract((p3.x + p3.y) * p3.z);
}"""

HASH2 = """vec2 hash2(vec2 p) {
    vec3 p3 = fract(vec3(p.xyx) * vec3(0.1031, 0.103, 0.0973));
    p3 += dot(p3, p3.yzx + 33.33);
    return fract((p3.xx + p3.yz) * p3.zy);
}"""

VALUE_NOISE = """float noise(vec2 p) {
    vec2 i = floor(p);
    vec2 f = fract(p);
    vec2 u = f * f * (3.0 - 2.0 * f);
    float a = hash(i);
    float b = hash(i + vec2(1.0, 0.0));
    float c = hash(i + vec2(0.0, 1.0));
    float d = hash(i + vec2(1.0, 1.0));
    return mix(mix(a, b, u.x), mix(c, d, u.x), u.y);
}"""

GRADIENT_NOISE = """float grad(vec2 i, vec2 f) { return dot(hash2(i) * 2.0 - 1.0, f); }
float noise(vec2 p) {
    vec2 i = floor(p);
    vec2 f = fract(p);
    vec2 u = f * f * (3.0 - 2.0 * f);
    float a = grad(i, f);
    float b = grad(i + vec2(1.0, 0.0), f - vec2(1.0, 0.0));
    float c = grad(i + vec2(0.0, 1.0), f - vec2(0.0, 1.0));
    float d = grad(i + vec2(1.0, 1.0), f - vec2(1.0, 1.0));
    return 0.5 + mix(mix(a, b, u.x), mix(c, d, u.x), u.y);
}"""

SIMPLEX_NOISE = """float noise(vec2 p) {
    const float K1 = 0.366025404;
    const float K2 = 0.211324865;
    vec2 i = floor(p + (p.x + p.y) * K1);
    vec2 a = p - i + (i.x + i.y) * K2;
    vec2 o = a.x > a.y ? vec2(1.0, 0.0) : vec2(0.0, 1.0);
    vec2 b = a - o + K2;
    vec2 c = a - 1.0 + 2.0 * K2;
    vec3 h = max(0.5 - vec3(dot(a, a), dot(b, b), dot(c, c)), 0.0);
    vec3 n = h * h * h * h * vec3(dot(a, hash2(i) * 2.0 - 1.0),
                                  dot(b, hash2(i + o) * 2.0 - 1.0),
                                  dot(c, hash2(i + 1.0) * 2.0 - 1.0));
    return 0.5 + 35.0 * (n.x + n.y + n.z);
}"""

# The same value noise in 6 lines, for level-0 programs that must stay short.
SHORT_VALUE_NOISE = """float hash(vec2 p) { p = fract(p * vec2(123.34, 456.21)); p += dot(p, p + 45.32); return fract(p.x * p.y); }
float noise(vec2 p) {
    vec2 i = floor(p), f = fract(p);
    vec2 u = f * f * (3.0 - 2.0 * f);
    return mix(mix(hash(i), hash(i + vec2(1.0, 0.0)), u.x), mix(hash(i + vec2(0.0, 1.0)), hash(i + vec2(1.0, 1.0)), u.x), u.y);
}"""

#: (the hash functions each noise needs, the noise itself); every noise returns roughly [0, 1].
NOISES = {
    "value": (HASH, VALUE_NOISE),
    "gradient": (HASH2, GRADIENT_NOISE),
    "simplex": (HASH2, SIMPLEX_NOISE),
}

ROTATE = "mat2 rotate(float a) { float c = cos(a), s = sin(a); return mat2(c, s, -s, c); }"


def palette_function(a, b, c, d) -> str:
    """iq's cosine palette with the given coefficients."""
    return (
        "vec3 palette(float t) {\n"
        f"    return {vec(a)} + {vec(b)} * cos({TAU} * ({vec(c)} * t + {vec(d)}));\n"
        "}"
    )


def fbm_function(octaves: int, gain: float, lacunarity: float, rotate: bool, kind: str = "plain") -> str:
    """An fbm sum of `noise` (which must already be defined). `kind`: plain, ridged or turbulence."""
    terms = {
        "plain": "noise(p)",
        "ridged": "1.0 - abs(2.0 * noise(p) - 1.0)",
        "turbulence": "abs(2.0 * noise(p) - 1.0)",
    }
    term = terms[kind]
    step = f"p = rot * p * {glf(lacunarity)};" if rotate else f"p = p * {glf(lacunarity)} + vec2(1.7, 9.2);"
    name = {"plain": "fbm", "ridged": "ridged", "turbulence": "turbulence"}[kind]
    lines = [f"float {name}(vec2 p) {{", "    float sum = 0.0;", "    float amp = 0.5;"]
    if rotate:
        lines.append("    mat2 rot = mat2(0.8, 0.6, -0.6, 0.8);")
    lines += [
        f"    for (int i = 0; i < {octaves}; i++) {{",
        f"        float n = {term};" if kind == "ridged" else f"        sum += amp * {term};",
    ]
    if kind == "ridged":
        lines.append("        sum += amp * n * n;")
    lines += [
        f"        {step}",
        f"        amp *= {glf(gain)};",
        "    }",
        f"    return sum / {glf(round_sig(sum(gain**k for k in range(octaves)) * 0.5, 3))};",
        "}",
    ]
    return "\n".join(lines)


def worley_function(jitter: float) -> str:
    """`vec3 worley(vec2 p)`: distances to the nearest and second-nearest cell points, and the nearest
    cell's hash; cell points move by up to `jitter` of a cell (`hash2` must already be defined)."""
    return "\n".join([
        "vec3 worley(vec2 p) {",
        "    vec2 i = floor(p);",
        "    vec2 f = fract(p);",
        "    float first = 8.0;",
        "    float second = 8.0;",
        "    vec2 nearest = vec2(0.0);",
        "    for (int y = -1; y <= 1; y++) {",
        "        for (int x = -1; x <= 1; x++) {",
        "            vec2 cell = vec2(float(x), float(y));",
        f"            float d = length(cell + {glf(jitter)} * hash2(i + cell) - f);",
        "            if (d < first) { second = first; first = d; nearest = i + cell; }",
        "            else if (d < second) { second = d; }",
        "        }",
        "    }",
        "    return vec3(first, second, hash2(nearest).x);",
        "}",
    ])


def program(*parts: str) -> str:
    """Join functions and a `mainImage` body (given as separate strings) into one program."""
    return "\n".join(part.strip("\n") for part in parts if part) + "\n"
