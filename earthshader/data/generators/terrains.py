"""Raymarched heightfield landscapes in four structural variants, each a family:

- `fbm_terrain`: rolling hills from an fbm of value noise;
- `ridged_terrain`: sharp mountains from ridged noise;
- `terraced_terrain`: fbm heights quantised into mesas and steps;
- `water_terrain`: fbm islands in a lake with a reflecting water plane.

Every program has a sky gradient, a camera placed above the highest peak, a sun direction and a
heightfield raymarch of at most 150 steps (a constant bound, so llvmpipe renders 128 x 128 in well
under a second). Difficulty adds features: 1 fog and materials by slope, 2 soft shadows and snow by
height, 3 more octaves, a sun disc and gamma.

    >>> from earthshader.data.generators import generate
    >>> sample = generate("terrains", seed=7)
    >>> sample.family, sample.difficulty, "float raymarch(vec3 ro, vec3 rd)" in sample.code
    ('water_terrain', 2, True)
"""

from __future__ import annotations

from .family import Group
from .glsl_snippets import MAIN_OPEN, SHORT_VALUE_NOISE, UV_CENTRED, Draw, glf, program, vec

#: The families below, each declared with its levels and detection rules (`earthshader.data.generators.family`).
TERRAINS = Group("terrains")
#: Every terrain calls `terrain(`: the variants are told apart by what they add, so `fbm_terrain`'s rule comes last.
_TERRAIN = r"\bterrain\s*\("

GRASS = [(0.25, 0.4, 0.15), (0.35, 0.45, 0.2), (0.45, 0.4, 0.25), (0.2, 0.35, 0.2)]
ROCK = [(0.4, 0.35, 0.3), (0.5, 0.45, 0.4), (0.35, 0.3, 0.3), (0.55, 0.4, 0.3)]
SAND = [(0.75, 0.65, 0.45), (0.7, 0.6, 0.5), (0.8, 0.55, 0.35)]
SKIES = [  # (horizon, zenith, sun colour)
    ((0.75, 0.85, 0.95), (0.3, 0.5, 0.85), (1.0, 0.95, 0.85)),
    ((0.95, 0.75, 0.55), (0.35, 0.45, 0.7), (1.0, 0.8, 0.6)),
    ((0.85, 0.85, 0.8), (0.45, 0.55, 0.7), (1.0, 1.0, 0.9)),
    ((0.9, 0.6, 0.5), (0.25, 0.25, 0.5), (1.0, 0.7, 0.5)),
]


def _height_function(draw: Draw, kind: str, difficulty: int) -> str:
    octaves = draw.integer("octaves", 3 + (difficulty >= 3), 4 + (difficulty >= 2))
    height = draw.uniform("height", 1.5, 3.0)
    scale = draw.uniform("scale", 0.25, 0.5)
    if kind == "ridged":
        term = "        float n = 1.0 - abs(2.0 * noise(p) - 1.0);\n        h += amp * n * n;"
    else:
        term = "        h += amp * noise(p);"
    lines = [
        "float terrain(vec2 p) {",
        f"    p *= {glf(scale)};",
        "    float h = 0.0;",
        "    float amp = 0.5;",
        "    mat2 rot = mat2(0.8, 0.6, -0.6, 0.8);",
        f"    for (int i = 0; i < {octaves}; i++) {{",
        term,
        "        p = rot * p * 2.0;",
        "        amp *= 0.5;",
        "    }",
    ]
    if kind == "terraced":
        steps = draw.integer("terraces", 3, 7)
        lines += [
            f"    float level = h * {glf(steps)};",
            f"    h = (floor(level) + smoothstep(0.3, 0.7, fract(level))) / {glf(steps)};",
        ]
    lines.append(f"    return h * {glf(height)};")
    lines.append("}")
    return "\n".join(lines)


def build_terrain(draw: Draw, difficulty: int, kind: str) -> str:
    height_fn = _height_function(draw, kind, difficulty)
    height = draw.params["height"]
    steps = draw.choice("steps", [100, 120, 150] if difficulty >= 2 else [80, 100])
    far = draw.choice("far", [30.0, 40.0])
    horizon, zenith, sun_colour = draw.choice("sky", SKIES)
    draw.params["sky"] = [list(horizon), list(zenith), list(sun_colour)]
    sun = (draw.decimals("sun_x", -0.8, 0.8), draw.decimals("sun_y", 0.2, 0.7), draw.decimals("sun_z", 0.3, 1.0))
    camera_y = round(height + draw.uniform("camera_clearance", 0.3, 1.0), 1)
    draw.params["camera_y"] = camera_y
    pitch = draw.uniform("camera_pitch", 0.12, 0.35)
    yaw = draw.decimals("camera_yaw", -3.1, 3.1)
    offset = draw.decimals("camera_offset", 0.0, 50.0, 0)
    grass, rock = draw.choice("grass", GRASS), draw.choice("rock", ROCK)
    draw.params["grass"], draw.params["rock"] = list(grass), list(rock)
    water = kind == "water"

    march = f"""float raymarch(vec3 ro, vec3 rd) {{
    float t = 0.1;
    for (int i = 0; i < {steps}; i++) {{
        vec3 p = ro + rd * t;
        float h = p.y - terrain(p.xz);
        if (h < 0.002 * t || t > {glf(far)}) break;
        t += 0.4 * h;
    }}
    return t;
}}
vec3 calcNormal(vec3 p) {{
    vec2 e = vec2(0.01, 0.0);
    float h = terrain(p.xz);
    return normalize(vec3(h - terrain(p.xz + e.xy), e.x, h - terrain(p.xz + e.yx)));
}}"""
    functions = [SHORT_VALUE_NOISE, height_fn, march]
    if difficulty >= 2:
        functions.append("""float softShadow(vec3 ro, vec3 rd) {
    float res = 1.0;
    float t = 0.05;
    for (int i = 0; i < 32; i++) {
        vec3 p = ro + rd * t;
        float h = p.y - terrain(p.xz);
        res = min(res, 8.0 * h / t);
        t += clamp(h, 0.05, 0.5);
        if (res < 0.001 || t > 10.0) break;
    }
    return clamp(res, 0.0, 1.0);
}""")
    sky = [
        "vec3 sky(vec3 rd, vec3 sun) {",
        f"    vec3 col = mix({vec(horizon)}, {vec(zenith)}, sqrt(max(rd.y, 0.0)));",
    ]
    if difficulty >= 3:
        sky.append(f"    col += {vec(sun_colour)} * pow(max(dot(rd, sun), 0.0), 64.0);")
    sky += ["    return col;", "}"]
    functions.append("\n".join(sky))

    body = [
        MAIN_OPEN, UV_CENTRED,
        f"    vec3 ro = vec3({glf(offset)}, {glf(camera_y)}, 0.0);",
        f"    vec3 forward = normalize(vec3(sin({glf(yaw)}), -{glf(pitch)}, cos({glf(yaw)})));",
        "    vec3 right = normalize(cross(vec3(0.0, 1.0, 0.0), forward));",
        "    vec3 up = cross(forward, right);",
        "    vec3 rd = normalize(uv.x * right + uv.y * up + 1.5 * forward);",
        f"    vec3 sun = normalize({vec(sun)});",
        "    vec3 col = sky(rd, sun);",
        "    float t = raymarch(ro, rd);",
    ]
    if water:
        level = round(height * draw.uniform("water_level", 0.3, 0.5), 2)
        draw.params["water_y"] = level
        deep = draw.choice("water_colour", [(0.05, 0.15, 0.2), (0.05, 0.2, 0.25), (0.1, 0.2, 0.3)])
        draw.params["water_colour"] = list(deep)
        body += [
            f"    float tWater = rd.y < 0.0 ? ({glf(level)} - ro.y) / rd.y : 1000.0;",
            f"    if (tWater < min(t, {glf(far)})) {{",
            "        float fresnel = pow(1.0 - max(-rd.y, 0.0), 4.0);",
            f"        col = mix({vec(deep)}, sky(reflect(rd, vec3(0.0, 1.0, 0.0)), sun), 0.2 + 0.8 * fresnel);",
            "        t = tWater;",
            f"    }} else if (t < {glf(far)}) {{",
        ]
    else:
        body.append(f"    if (t < {glf(far)}) {{")
    body += ["        vec3 p = ro + rd * t;", "        vec3 n = calcNormal(p);"]
    if difficulty == 0:
        body.append(f"        vec3 albedo = mix({vec(grass)}, {vec(rock)}, p.y / {glf(height)});")
    else:
        body.append(f"        vec3 albedo = mix({vec(rock)}, {vec(grass)}, smoothstep(0.7, 0.9, n.y));")
    if water:
        sand = draw.choice("sand", SAND)
        draw.params["sand"] = list(sand)
        body.append(f"        albedo = mix({vec(sand)}, albedo, smoothstep(0.05, 0.25, p.y - {glf(draw.params['water_y'])}));")
    if difficulty >= 2:
        snow = draw.uniform("snow_line", 0.6, 0.85)
        body.append(
            f"        albedo = mix(albedo, vec3(0.95), smoothstep({glf(round(height * snow, 2))}, "
            f"{glf(round(height * snow + 0.2, 2))}, p.y) * smoothstep(0.6, 0.8, n.y));"
        )
    shadow = " * softShadow(p + n * 0.02, sun)" if difficulty >= 2 else ""
    body += [
        f"        float diffuse = max(dot(n, sun), 0.0){shadow};",
        f"        col = albedo * ({vec(sun_colour)} * diffuse + {vec(zenith)} * 0.3 * (0.5 + 0.5 * n.y));",
    ]
    if difficulty >= 1:
        density = draw.uniform("fog_density", 0.02, 0.08)
        body.append(f"        col = mix(col, {vec(horizon)}, 1.0 - exp(-{glf(density)} * t));")
    body.append("    }")
    if difficulty >= 3:
        body.append("    col = pow(col, vec3(0.4545));")
    return program(*functions, "\n".join(body), "    fragColor = vec4(col, 1.0);\n}")


@TERRAINS.family(0, 3, detect={140: _TERRAIN})
def fbm_terrain(draw: Draw, difficulty: int) -> str:
    return build_terrain(draw, difficulty, "fbm")


@TERRAINS.family(0, 3, detect={130: (_TERRAIN, r"abs\s*\(\s*2\.0\s*\*\s*noise\s*\(")})
def ridged_terrain(draw: Draw, difficulty: int) -> str:
    return build_terrain(draw, difficulty, "ridged")


@TERRAINS.family(0, 3, detect={120: (_TERRAIN, r"floor\s*\(\s*level\s*\)")})
def terraced_terrain(draw: Draw, difficulty: int) -> str:
    return build_terrain(draw, difficulty, "terraced")


@TERRAINS.family(0, 3, detect={110: (_TERRAIN, r"\btWater\b")})
def water_terrain(draw: Draw, difficulty: int) -> str:
    return build_terrain(draw, difficulty, "water")
