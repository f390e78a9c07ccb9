"""Procedural 2D textures: patterns (stripes, checker, rings, gradients, waves, dots, bricks) and
noises (value, fbm, ridged, turbulence, Worley, simplex, domain warping).

Difficulty 0 is a 5-12 line program with one idea; each level adds one idea (rotation, a palette,
warping, more octaves) up to about 60 lines at level 3. Use through the registry:

    >>> from earthshader.data.generators import generate
    >>> print(generate("checker", seed=1, difficulty=0).code, end="")
    void mainImage(out vec4 fragColor, in vec2 fragCoord) {
        vec2 uv = fragCoord / iResolution.y;
        float checker = mod(floor(uv.x * 4.0) + floor(uv.y * 4.0), 2.0);
        vec3 col = mix(vec3(0.8, 1.0, 0.9), vec3(0.1, 0.2, 0.4), checker);
        fragColor = vec4(col, 1.0);
    }
"""

from __future__ import annotations

from .family import Group
from .glsl_snippets import (
    HASH,
    HASH2,
    MAIN_OPEN,
    NOISES,
    ROTATE,
    SHORT_VALUE_NOISE,
    UV_ASPECT,
    UV_CENTRED,
    Draw,
    fbm_function,
    glf,
    palette_function,
    program,
    vec,
    worley_function,
)

#: The families below, each declared with its levels and detection rules (`earthshader.data.generators.family`).
#: Noises build on each other (`domain_warp` calls `fbm`, `fbm` calls `noise`), so the more specific rules come first.
TEXTURES = Group("textures")
VALUE_NOISE_ONLY = NOISES["value"][1]  # without its hash, for programs that define `hash` already


def colourise(draw: Draw, field: str, palette: bool, binary: bool = False) -> tuple[str, str]:
    """(extra function, line defining `col`) that maps a scalar field in [0, 1] to a colour.

    A cosine palette repeats with period 1 (integer frequencies), so a `binary` field (mostly 0 or
    1: stripes, dots, checkers) reads half the palette; else both values could get one colour.
    """
    modes = ["grey", "two_colours", "palette"] if palette else ["grey", "two_colours", "two_colours"]
    mode = draw.choice("colouring", modes)
    if mode == "grey":
        return "", f"    vec3 col = vec3({field});"
    if mode == "two_colours":
        dark, light = draw.colour_pair()
        return "", f"    vec3 col = mix({vec(dark)}, {vec(light)}, {field});"
    return palette_function(*draw.palette()), f"    vec3 col = palette({'0.5 * ' if binary else ''}{field});"


def finish(*body: str) -> str:
    """Close `mainImage`: the given lines, then write `col` out."""
    return "\n".join([*(line for line in body if line), "    fragColor = vec4(col, 1.0);", "}"])


@TEXTURES.family(0, 2, detect={400: r"\bstripe\b"})
def stripes(draw: Draw, difficulty: int) -> str:
    freq = draw.uniform("frequency", 4, 14 if difficulty == 0 else 9)
    if difficulty == 0:
        axis = draw.choice("axis", ["uv.x", "uv.y", "uv.x + uv.y", "uv.x - uv.y"])
        if draw.chance("hard_edges", 0.5):
            field = f"step(0.5, fract(({axis}) * {glf(freq)}))"
        else:
            field = f"0.5 + 0.5 * sin(({axis}) * {glf(round(freq * 6.28, 1))})"
        fn, colour = colourise(draw, "stripe", palette=False)
        return program(fn, MAIN_OPEN, UV_ASPECT, f"    float stripe = {field};", finish(colour))
    angle = draw.decimals("angle", -1.5, 1.5)
    width = draw.uniform("width", 0.1, 0.28)
    blur = draw.choice("blur", [0.01, 0.02, 0.05, 0.1])
    body = [MAIN_OPEN, UV_CENTRED, f"    uv = rotate({glf(angle)}) * uv;"]
    if difficulty >= 2:
        amp = draw.uniform("wave_amplitude", 0.03, 0.12)
        wave_freq = draw.uniform("wave_frequency", 4, 16)
        body.append(f"    uv.x += {glf(amp)} * sin(uv.y * {glf(wave_freq)});")
    body += [
        f"    float x = fract(uv.x * {glf(freq)}) - 0.5;",
        f"    float stripe = smoothstep({glf(width)}, {glf(round(width + blur, 3))}, abs(x));",
    ]
    if difficulty >= 2:
        palette = palette_function(*draw.palette())
        step = draw.uniform("palette_step", 0.07, 0.3)
        body.append(f"    vec3 base = palette(floor(uv.x * {glf(freq)}) * {glf(step)});")
        dark = draw.colour("line_colour", lightness=(0.05, 0.2))
        body.append(f"    vec3 col = mix(base, {vec(dark)}, stripe);")
        return program(ROTATE, palette, "\n".join(body), finish())
    fn, colour = colourise(draw, "stripe", palette=True, binary=True)
    return program(ROTATE, fn, "\n".join(body), finish(colour))


@TEXTURES.family(0, 2, detect={390: r"\bchecker\b"})
def checker(draw: Draw, difficulty: int) -> str:
    cells = draw.integer("cells", 3, 12 if difficulty < 2 else 7)
    if difficulty == 0:
        fn, colour = colourise(draw, "checker", palette=False)
        check = f"    float checker = mod(floor(uv.x * {glf(cells)}) + floor(uv.y * {glf(cells)}), 2.0);"
        return program(fn, MAIN_OPEN, UV_ASPECT, check, finish(colour))
    body = [MAIN_OPEN, UV_CENTRED]
    functions = []
    if difficulty == 1:
        angle = draw.decimals("angle", -0.8, 0.8)
        functions.append(ROTATE)
        body += [f"    uv = rotate({glf(angle)}) * uv * {glf(cells)};"]
    else:
        sectors = draw.integer("sectors", 3, 8)
        body += [
            f"    float angle = atan(uv.y, uv.x) / 6.2831 * {glf(2 * sectors)};",
            f"    uv = vec2(angle, length(uv) * {glf(cells)});",
        ]
    blur = draw.choice("blur", [0.02, 0.05, 0.1])
    body += [
        "    vec2 edge = smoothstep(0.0, " + glf(blur) + ", abs(fract(uv) - 0.5) - 0.25);",
        "    float checker = abs(edge.x - edge.y);",
    ]
    fn, colour = colourise(draw, "checker", palette=difficulty >= 2, binary=True)
    vignette = ""
    if difficulty == 1:
        shade = draw.uniform("vignette", 0.3, 0.9)
        vignette = f"    col *= 1.0 - {glf(shade)} * dot(uv, uv) / {glf(cells * cells * 2)};"
    return program(*functions, fn, "\n".join(body), finish(colour, vignette))


@TEXTURES.family(0, 2, detect={410: r"\bring\b"})
def rings(draw: Draw, difficulty: int) -> str:
    freq = draw.uniform("frequency", 15, 60)
    centre = (draw.decimals("centre_x", -0.3, 0.3), draw.decimals("centre_y", -0.3, 0.3))
    if difficulty == 0:
        fn, colour = colourise(draw, "ring", palette=False)
        return program(
            fn, MAIN_OPEN, UV_CENTRED,
            f"    float ring = 0.5 + 0.5 * sin(length(uv - {vec(centre)}) * {glf(freq)});", finish(colour),
        )
    if difficulty == 1:
        width = draw.uniform("width", 0.1, 0.35)
        body = [
            f"    float r = length(uv - {vec(centre)});",
            f"    float ring = smoothstep({glf(width)}, {glf(round(width + 0.1, 2))}, abs(fract(r * {glf(freq / 6)}) - 0.5));",
        ]
        palette = palette_function(*draw.palette())
        body.append(f"    vec3 col = palette(r * {glf(draw.uniform('palette_scale', 0.5, 2.0))}) * ring;")
        return program(palette, MAIN_OPEN, UV_CENTRED, "\n".join(body), finish())
    other = (draw.decimals("centre2_x", -0.4, 0.4), draw.decimals("centre2_y", -0.4, 0.4))
    body = [
        f"    float a = sin(length(uv - {vec(centre)}) * {glf(freq)});",
        f"    float b = sin(length(uv - {vec(other)}) * {glf(freq)});",
        "    float ring = 0.5 + 0.25 * (a + b);",
    ]
    fn, colour = colourise(draw, "ring", palette=True)
    return program(fn, MAIN_OPEN, UV_CENTRED, "\n".join(body), finish(colour))


@TEXTURES.family(0, 1, detect={450: r"\bfloat\s+t\s*="})
def gradient(draw: Draw, difficulty: int) -> str:
    if difficulty == 0:
        shape = draw.choice("shape", ["linear_x", "linear_y", "diagonal", "radial"])
        field = {
            "linear_x": "uv.x",
            "linear_y": "uv.y",
            "diagonal": "0.5 * (uv.x + uv.y)",
            "radial": f"length(uv - 0.5) * {glf(draw.uniform('radial_scale', 1.2, 2.2))}",
        }[shape]
        dark, light = draw.colour_pair()
        return program(
            MAIN_OPEN, UV_ASPECT, f"    float t = {field};",
            finish(f"    vec3 col = mix({vec(dark)}, {vec(light)}, t);"),
        )
    scale = draw.uniform("scale", 0.6, 2.5)
    twist = draw.choice("angle_weight", [0.0, 0.5, 1.0, 2.0])
    palette = palette_function(*draw.palette())
    field = f"length(uv) * {glf(scale)}"
    if twist:
        field += f" + atan(uv.y, uv.x) / 6.2831 * {glf(twist)}"
    return program(palette, MAIN_OPEN, UV_CENTRED, f"    float t = {field};", finish("    vec3 col = palette(t);"))


@TEXTURES.family(0, 2, detect={420: r"\bwave\b", 430: r"sin\s*\([^;]*\bsin\s*\(\s*uv\.x"})
def waves(draw: Draw, difficulty: int) -> str:
    freq = draw.uniform("frequency", 6, 20)
    amp = draw.uniform("amplitude", 0.03, 0.15)
    if difficulty == 0:
        dark, light = draw.colour_pair()
        return program(
            MAIN_OPEN, UV_ASPECT,
            f"    float wave = 0.5 + {glf(amp)} * sin(uv.x * {glf(freq)});",
            "    float below = smoothstep(0.0, 0.01, wave - uv.y);",
            finish(f"    vec3 col = mix({vec(dark)}, {vec(light)}, below);"),
        )
    if difficulty == 1:
        bands = draw.uniform("bands", 10, 40)
        fn, colour = colourise(draw, "v", palette=True)
        return program(
            fn, MAIN_OPEN, UV_ASPECT,
            f"    float v = 0.5 + 0.5 * sin(uv.y * {glf(bands)} + sin(uv.x * {glf(freq)}) * {glf(amp * 20)});",
            finish(colour),
        )
    layers = draw.integer("layers", 3, 6)
    palette = palette_function(*draw.palette())
    body = [
        MAIN_OPEN, UV_ASPECT,
        "    vec3 col = palette(0.0) * (0.5 + 0.5 * uv.y);",
        f"    for (int i = 0; i < {layers}; i++) {{",
        "        float k = float(i);",
        f"        float height = 0.8 - k * {glf(round(0.7 / layers, 2))};",
        f"        float wave = height + {glf(amp)} * sin(uv.x * ({glf(freq)} + k * 3.0) + k * 1.7);",
        "        col = mix(col, palette(0.2 + k * 0.15), smoothstep(0.0, 0.005, wave - uv.y));",
        "    }",
    ]
    return program(palette, "\n".join(body), finish())


@TEXTURES.family(0, 2, detect={440: r"\bdots\b"})
def dots(draw: Draw, difficulty: int) -> str:
    cells = draw.integer("cells", 4, 12)
    radius = draw.uniform("radius", 0.22, 0.42)
    if difficulty == 0:
        dark, light = draw.colour_pair()
        return program(
            MAIN_OPEN, UV_ASPECT,
            f"    vec2 cell = fract(uv * {glf(cells)}) - 0.5;",
            f"    float dots = step(length(cell), {glf(radius)});",
            finish(f"    vec3 col = mix({vec(dark)}, {vec(light)}, dots);"),
        )
    body = [MAIN_OPEN, UV_ASPECT, f"    vec2 p = uv * {glf(cells)};"]
    if draw.chance("staggered", 0.5):
        body.append("    p.x += 0.5 * mod(floor(p.y), 2.0);")
    body.append("    vec2 cell = fract(p) - 0.5;")
    functions = []
    if difficulty == 1:
        blur = draw.choice("blur", [0.02, 0.05, 0.1])
        body.append(f"    float dots = smoothstep({glf(radius)}, {glf(round(radius - blur, 3))}, length(cell));")
        fn, colour = colourise(draw, "dots", palette=True, binary=True)
        functions.append(fn)
        body.append(colour)
    else:
        functions += [HASH, palette_function(*draw.palette())]
        background = draw.colour("background", lightness=(0.05, 0.25))
        body += [
            "    float h = hash(floor(p));",
            f"    float dots = smoothstep({glf(radius)} * h, {glf(radius)} * h - 0.05, length(cell));",
            f"    vec3 col = mix({vec(background)}, palette(h), dots);",
        ]
    return program(*functions, "\n".join(body), finish())


@TEXTURES.family(1, 3, detect={370: (r"\binside\b", r"\bmod\s*\(\s*floor\s*\(\s*p\.y\s*\)")})
def bricks(draw: Draw, difficulty: int) -> str:
    rows = draw.integer("rows", 3, 7)
    ratio = draw.choice("aspect", [2.0, 2.5, 3.0])
    mortar = draw.choice("mortar", [0.08, 0.1, 0.12, 0.15])
    brick = draw.colour("brick", lightness=(0.3, 0.6))
    joint = draw.colour("joint", lightness=(0.75, 0.9), saturation=(0.0, 0.2))
    body = [
        MAIN_OPEN, UV_ASPECT,
        f"    vec2 p = uv * vec2({glf(rows / ratio)}, {glf(rows)});",
        "    p.x += 0.5 * mod(floor(p.y), 2.0);",
        "    vec2 f = fract(p);",
        f"    vec2 edge = smoothstep(0.0, {glf(mortar)}, f) * smoothstep(0.0, {glf(mortar)}, 1.0 - f);",
        "    float inside = edge.x * edge.y;",
    ]
    functions = []
    if difficulty >= 2:
        functions.append(HASH)
        variation = draw.uniform("variation", 0.2, 0.5)
        body += [
            f"    vec3 brickColour = {vec(brick)} * (1.0 - {glf(variation)} * hash(floor(p)));",
            f"    vec3 col = mix({vec(joint)}, brickColour, inside);",
        ]
        if difficulty >= 3:
            functions += [VALUE_NOISE_ONLY]
            body.append("    col *= 0.85 + 0.3 * noise(uv * 40.0);")
    else:
        body.append(f"    vec3 col = mix({vec(joint)}, {vec(brick)}, inside);")
    return program(*functions, "\n".join(body), finish())


@TEXTURES.family(0, 1, detect={380: r"\bnoise\s*\("})
def value_noise(draw: Draw, difficulty: int) -> str:
    scale = draw.uniform("scale", 3, 14)
    field = f"noise(uv * {glf(scale)})"
    if difficulty >= 1:
        edge = draw.uniform("threshold", 0.4, 0.6)
        field = f"smoothstep({glf(round(edge - 0.05, 2))}, {glf(round(edge + 0.05, 2))}, {field})"
    fn, colour = colourise(draw, "n", palette=difficulty >= 1, binary=difficulty >= 1)
    return program(SHORT_VALUE_NOISE, fn, MAIN_OPEN, UV_ASPECT, f"    float n = {field};", finish(colour))


def _fractal(draw: Draw, difficulty: int, kind: str, noises: list[str]) -> str:
    """fbm / ridged / turbulence over one of the noises, coloured; level 3 adds marble or shading."""
    noise = draw.choice("noise", noises)
    octaves = draw.integer("octaves", 3, 3 + difficulty)
    gain = draw.choice("gain", [0.45, 0.5, 0.55] if octaves > 4 else [0.5, 0.55, 0.6])
    lacunarity = draw.choice("lacunarity", [1.9, 2.0, 2.1])
    rotate = draw.chance("rotate_octaves", 0.3 + 0.2 * difficulty)
    scale = draw.uniform("scale", 2, 8)
    name = {"plain": "fbm", "ridged": "ridged", "turbulence": "turbulence"}[kind]
    functions = [*NOISES[noise], fbm_function(octaves, gain, lacunarity, rotate, kind)]
    body = [MAIN_OPEN, UV_ASPECT, f"    float n = {name}(uv * {glf(scale)});"]
    if difficulty >= 3 and draw.chance("marble", 0.5):
        freq = draw.uniform("marble_frequency", 5, 20)
        strength = draw.uniform("marble_strength", 3, 10)
        body.append(f"    n = 0.5 + 0.5 * sin(uv.x * {glf(freq)} + n * {glf(strength)});")
    fn, colour = colourise(draw, "n", palette=difficulty >= 2)
    body.append(colour)
    if difficulty >= 3:
        relief = draw.uniform("relief", 4, 12)
        body += [
            f"    float lit = {name}(uv * {glf(scale)} + 0.01) - {name}(uv * {glf(scale)});",
            f"    col *= 1.0 + {glf(relief)} * lit;",
        ]
    return program(*functions, fn, "\n".join(body), finish())


@TEXTURES.family(1, 3, detect={360: r"\bfbm\s*\("})
def fbm(draw: Draw, difficulty: int) -> str:
    return _fractal(draw, difficulty, "plain", ["value", "gradient"] if difficulty >= 2 else ["value"])


@TEXTURES.family(2, 3, detect={330: r"\bridged\s*\("})
def ridged(draw: Draw, difficulty: int) -> str:
    return _fractal(draw, difficulty, "ridged", ["value", "gradient", "simplex"])


@TEXTURES.family(2, 3, detect={340: r"\bturbulence\s*\("})
def turbulence(draw: Draw, difficulty: int) -> str:
    return _fractal(draw, difficulty, "turbulence", ["gradient", "simplex"])


@TEXTURES.family(2, 3, detect={350: r"\b0\.366025404\b|\bK1\b"})
def simplex(draw: Draw, difficulty: int) -> str:
    if difficulty >= 3:
        return _fractal(draw, difficulty, "plain", ["simplex"])
    scale = draw.uniform("scale", 3, 12)
    fn, colour = colourise(draw, "n", palette=True)
    body = f"    float n = noise(uv * {glf(scale)});"
    return program(*NOISES["simplex"], fn, MAIN_OPEN, UV_ASPECT, body, finish(colour))


@TEXTURES.family(1, 3, detect={320: r"\bworley\s*\("})
def worley(draw: Draw, difficulty: int) -> str:
    scale = draw.uniform("scale", 3, 10)
    jitter = draw.choice("jitter", [0.7, 0.8, 0.9, 1.0])
    functions = [HASH2, worley_function(jitter)]
    body = [MAIN_OPEN, UV_ASPECT, f"    vec3 w = worley(uv * {glf(scale)});"]
    if difficulty == 1:
        field = "w.x"
    elif difficulty == 2:
        field = f"smoothstep(0.0, {glf(draw.choice('border', [0.05, 0.1, 0.2]))}, w.y - w.x)"
    else:
        field = "w.z * smoothstep(0.0, 0.08, w.y - w.x)"
    fn, colour = colourise(draw, field, palette=difficulty >= 2, binary=difficulty >= 2)
    body.append(colour)
    return program(*functions, fn, "\n".join(body), finish())


@TEXTURES.family(3, 3, detect={310: r"vec2\s*\(\s*fbm\s*\("})
def domain_warp(draw: Draw, difficulty: int) -> str:
    noise = draw.choice("noise", ["value", "gradient"])
    octaves = draw.integer("octaves", 4, 6)
    strength = draw.uniform("warp_strength", 1.5, 4.5)
    scale = draw.uniform("scale", 2, 5)
    palette = palette_function(*draw.palette())
    tint = draw.colour("tint", lightness=(0.4, 0.8))
    body = [
        MAIN_OPEN, UV_ASPECT,
        f"    vec2 p = uv * {glf(scale)};",
        "    vec2 q = vec2(fbm(p), fbm(p + vec2(5.2, 1.3)));",
        f"    vec2 r = vec2(fbm(p + {glf(strength)} * q + vec2(1.7, 9.2)), fbm(p + {glf(strength)} * q + vec2(8.3, 2.8)));",
        f"    float n = fbm(p + {glf(strength)} * r);",
        "    vec3 col = palette(n);",
        f"    col = mix(col, {vec(tint)}, clamp(length(q) - 0.5, 0.0, 1.0));",
        "    col *= 0.6 + 0.6 * n;",
    ]
    return program(*NOISES[noise], fbm_function(octaves, 0.5, 2.0, True), palette, "\n".join(body), finish())
