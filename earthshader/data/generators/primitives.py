"""Primitives: 2D signed-distance scenes (circles, boxes, rounded shapes, unions, smooth unions,
outlines, distance bands) and raymarched 3D primitives with simple lighting.

The first rung of the ladder: level 0 is one filled shape in about 7 lines; level 3 is a small
raymarched scene with shadows. Use through the registry:

    >>> from earthshader.data.generators import generate
    >>> print(generate("circles", seed=0, difficulty=0).code, end="")
    void mainImage(out vec4 fragColor, in vec2 fragCoord) {
        vec2 uv = (fragCoord - 0.5 * iResolution.xy) / iResolution.y;
        float d = length(uv - vec2(-0.18, -0.18)) - 0.14;
        vec3 col = mix(vec3(0.3, 0.1, 0.2), vec3(0.7, 0.7, 0.9), step(d, 0.0));
        fragColor = vec4(col, 1.0);
    }
"""

from __future__ import annotations

import math

from .family import Group
from .glsl_snippets import MAIN_OPEN, ROTATE, UV_CENTRED, Draw, glf, program, vec

#: The families below, each declared with its levels and detection rules (`earthshader.data.generators.family`).
#: A scene (`sdf_scene`) may hold boxes and circles, so its rules for those come before `boxes`' and `circles'`.
PRIMITIVES = Group("primitives")

SD_CIRCLE = "float sdCircle(vec2 p, float r) { return length(p) - r; }"
SD_BOX = """float sdBox(vec2 p, vec2 size, float radius) {
    vec2 q = abs(p) - size + radius;
    return length(max(q, 0.0)) + min(max(q.x, q.y), 0.0) - radius;
}"""
SD_RING = "float sdRing(vec2 p, float r, float width) { return abs(length(p) - r) - width; }"
SMIN = """float smin(float a, float b, float k) {
    float h = clamp(0.5 + 0.5 * (b - a) / k, 0.0, 1.0);
    return mix(b, a, h) - k * h * (1.0 - h);
}"""


def _position(draw: Draw, name: str, spread: float = 0.3) -> tuple[float, float]:
    return (draw.decimals(f"{name}_x", -spread, spread, 2), draw.decimals(f"{name}_y", -spread, spread, 2))


def _shade(draw: Draw, style: str) -> list[str]:
    """Lines that turn the distance `d` into `col`: filled, outlined or iq-style distance bands."""
    inside, outside = draw.colour_pair("fill")
    if style == "fill":
        blur = draw.choice("edge_blur", [0.0, 0.005, 0.01])
        mask = "step(d, 0.0)" if blur == 0 else f"smoothstep({glf(blur)}, 0.0, d)"
        return [f"    vec3 col = mix({vec(outside)}, {vec(inside)}, {mask});"]
    if style == "outline":
        width = draw.choice("outline_width", [0.01, 0.015, 0.02, 0.03])
        return [
            f"    vec3 col = mix({vec(outside)}, {vec(inside)}, smoothstep(0.005, 0.0, d));",
            f"    col = mix(col, vec3(0.0), smoothstep(0.005, 0.0, abs(d) - {glf(width)}));",
        ]
    bands = draw.choice("bands", [60.0, 90.0, 120.0, 150.0])
    return [
        f"    vec3 col = d > 0.0 ? {vec(outside)} : {vec(inside)};",
        "    col *= 1.0 - exp(-6.0 * abs(d));",
        f"    col *= 0.8 + 0.2 * cos({glf(bands)} * d);",
        "    col = mix(col, vec3(1.0), smoothstep(0.01, 0.0, abs(d)));",
    ]


def _close(lines: list[str]) -> str:
    return "\n".join([*lines, "    fragColor = vec4(col, 1.0);", "}"])


@PRIMITIVES.family(0, 2, detect={260: r"\bsdCircle\s*\(", 270: r"\bfloat\s+d\s*=\s*length\s*\(\s*uv\s*-"})
def circles(draw: Draw, difficulty: int) -> str:
    if difficulty == 0:
        centre = _position(draw, "centre", 0.2)
        radius = draw.uniform("radius", 0.1, 0.4)
        lines = [MAIN_OPEN, UV_CENTRED, f"    float d = length(uv - {vec(centre)}) - {glf(radius)};"]
        return program("\n".join(lines), _close(_shade(draw, "fill")))
    count = draw.integer("count", 2, 4)
    lines = [MAIN_OPEN, UV_CENTRED]
    for k in range(count):
        centre = _position(draw, f"circle{k}")
        radius = draw.uniform(f"circle{k}_radius", 0.08, 0.25)
        distance = f"sdCircle(uv - {vec(centre)}, {glf(radius)})"
        if k == 0:
            lines.append(f"    float d = {distance};")
        elif difficulty == 1:
            lines.append(f"    d = min(d, {distance});")
        else:
            lines.append(f"    d = smin(d, {distance}, {glf(draw.choice(f'circle{k}_blend', [0.05, 0.1, 0.15]))});")
    style = draw.choice("style", ["fill", "outline"] if difficulty == 1 else ["outline", "bands"])
    functions = [SD_CIRCLE] + ([SMIN] if difficulty >= 2 else [])
    return program(*functions, "\n".join(lines), _close(_shade(draw, style)))


@PRIMITIVES.family(0, 2, detect={240: r"\bsdBox\s*\(\s*rotate\s*\(", 280: (r"=\s*abs\s*\(\s*uv\s*-", r"length\s*\(\s*max\s*\(\s*q\b")})
def boxes(draw: Draw, difficulty: int) -> str:
    if difficulty == 0:
        centre = _position(draw, "centre", 0.15)
        size = (draw.uniform("half_width", 0.1, 0.35), draw.uniform("half_height", 0.1, 0.35))
        lines = [
            MAIN_OPEN, UV_CENTRED,
            f"    vec2 q = abs(uv - {vec(centre)}) - {vec(size)};",
            "    float d = length(max(q, 0.0)) + min(max(q.x, q.y), 0.0);",
        ]
        return program("\n".join(lines), _close(_shade(draw, "fill")))
    count = 1 if difficulty == 1 else draw.integer("count", 2, 3)
    lines = [MAIN_OPEN, UV_CENTRED]
    for k in range(count):
        centre = _position(draw, f"box{k}", 0.2 if count == 1 else 0.28)
        size = (draw.uniform(f"box{k}_half_width", 0.08, 0.3), draw.uniform(f"box{k}_half_height", 0.08, 0.3))
        radius = draw.choice(f"box{k}_corner", [0.0, 0.02, 0.05])
        angle = draw.decimals(f"box{k}_angle", -0.8, 0.8)
        distance = f"sdBox(rotate({glf(angle)}) * (uv - {vec(centre)}), {vec(size)}, {glf(radius)})"
        lines.append(f"    float d = {distance};" if k == 0 else f"    d = min(d, {distance});")
    style = draw.choice("style", ["fill", "outline"] if difficulty == 1 else ["outline", "bands"])
    return program(ROTATE, SD_BOX, "\n".join(lines), _close(_shade(draw, style)))


@PRIMITIVES.family(1, 3, detect={220: r"\bsdRing\s*\(", 230: (r"\bsdBox\s*\(", r"\bsdCircle\s*\("), 250: r"\bsdBox\s*\("})
def sdf_scene(draw: Draw, difficulty: int) -> str:
    """Mixed shapes combined with union, smooth union and subtraction."""
    count = draw.integer("count", 2, 2 + difficulty)
    lines = [MAIN_OPEN, UV_CENTRED]
    functions = {SD_CIRCLE: False, SD_BOX: False, SD_RING: False, SMIN: False}
    first_extent = 0.0
    for k in range(count):
        # Only the last shape may be subtracted, and it is at most half the first shape's smallest
        # half-extent, so the subtraction can never erase the whole scene.
        subtract = k == count - 1 and k > 0 and difficulty >= 2 and draw.chance(f"shape{k}_subtract", 0.4)
        shape = draw.choice(f"shape{k}", ["circle", "box", "rounded_box"] + (["ring"] if k > 0 else []))
        centre = _position(draw, f"shape{k}")
        size = draw.uniform(f"shape{k}_size", 0.1 if k == 0 else 0.08, 0.22)
        if subtract:
            size = round(min(size, 0.5 * first_extent), 3)
            draw.params[f"shape{k}_size"] = size
        p = f"uv - {vec(centre)}"
        if shape == "circle":
            functions[SD_CIRCLE] = True
            distance = f"sdCircle({p}, {glf(size)})"
        elif shape == "ring":
            functions[SD_RING] = True
            distance = f"sdRing({p}, {glf(size)}, {glf(draw.choice(f'shape{k}_width', [0.02, 0.03, 0.05]))})"
        else:
            functions[SD_BOX] = True
            aspect = draw.choice(f"shape{k}_aspect", [0.5, 1.0, 1.5])
            radius = 0.0 if shape == "box" else round(size * 0.3, 2)
            if subtract:
                aspect = draw.params[f"shape{k}_aspect"] = min(aspect, 1.0)
            distance = f"sdBox({p}, {vec((size, round(size * aspect, 3)))}, {glf(radius)})"
        if k == 0:
            first_extent = size * min(1.0, aspect) if shape != "circle" else size
            lines.append(f"    float d = {distance};")
            continue
        op = "subtract" if subtract else draw.choice(f"shape{k}_op", ["union", "smooth_union"])
        if op == "union":
            lines.append(f"    d = min(d, {distance});")
        elif op == "smooth_union":
            functions[SMIN] = True
            lines.append(f"    d = smin(d, {distance}, {glf(draw.choice(f'shape{k}_blend', [0.05, 0.1, 0.15]))});")
        else:
            lines.append(f"    d = max(d, -({distance}));")
    style = draw.choice("style", ["fill", "outline"] if difficulty == 1 else ["outline", "bands"])
    used = [code for code, needed in functions.items() if needed]
    return program(*used, "\n".join(lines), _close(_shade(draw, style)))


SD_3D = {
    "sphere": ("float sdSphere(vec3 p, float r) { return length(p) - r; }", "sdSphere(p - {c}, {s})"),
    "box": (
        "float sdBox(vec3 p, vec3 b) { vec3 q = abs(p) - b; return length(max(q, 0.0)) + min(max(q.x, max(q.y, q.z)), 0.0); }",
        "sdBox(p - {c}, vec3({s} * 0.7))",
    ),
    "torus": (
        "float sdTorus(vec3 p, vec2 t) { return length(vec2(length(p.xz) - t.x, p.y)) - t.y; }",
        "sdTorus(p - {c}, vec2({s}, {s} * 0.35))",
    ),
    "capsule": (
        "float sdCapsule(vec3 p, float h, float r) { p.y -= clamp(p.y, -h, h); return length(p) - r; }",
        "sdCapsule(p - {c}, {s}, {s} * 0.5)",
    ),
}


@PRIMITIVES.family(2, 3, detect={210: (r"\bmap\s*\(", r"\bmarch\s*\(", r"\bsd(Sphere|Box|Torus|Capsule)\s*\(\s*p\b")})
def raymarched(draw: Draw, difficulty: int) -> str:
    """1-3 primitives standing on a ground plane, diffuse + ambient light; level 3 adds soft shadows."""
    count = draw.integer("count", 1, difficulty)
    used, terms = {}, []
    for k in range(count):
        shape = draw.choice(f"shape{k}", list(SD_3D))
        size = draw.uniform(f"shape{k}_size", 0.4, 0.8)
        x = draw.decimals(f"shape{k}_x", -0.9, 0.9) if count > 1 else 0.0
        z = draw.decimals(f"shape{k}_z", -0.6, 0.6) if count > 1 else 0.0
        # Resting on the ground: the height of the shape's lowest point above its centre.
        y = round(size * {"sphere": 1.0, "box": 0.7, "torus": 0.35, "capsule": 1.5}[shape], 2)
        function, call = SD_3D[shape]
        used[function] = True
        terms.append(call.format(c=vec((x, y, z)), s=glf(size)))
    scene = ["float map(vec3 p) {", "    float d = p.y;"]
    scene += [f"    d = min(d, {term});" for term in terms]
    scene += ["    return d;", "}"]
    march = """float march(vec3 ro, vec3 rd) {
    float t = 0.0;
    for (int i = 0; i < 80; i++) {
        float d = map(ro + rd * t);
        if (d < 0.001 || t > 20.0) break;
        t += d;
    }
    return t;
}
vec3 calcNormal(vec3 p) {
    vec2 e = vec2(0.001, 0.0);
    return normalize(vec3(map(p + e.xyy) - map(p - e.xyy), map(p + e.yxy) - map(p - e.yxy), map(p + e.yyx) - map(p - e.yyx)));
}"""
    functions = [*used, "\n".join(scene), march]
    if difficulty >= 3:
        functions.append("""float softShadow(vec3 ro, vec3 rd) {
    float res = 1.0;
    float t = 0.02;
    for (int i = 0; i < 32; i++) {
        float h = map(ro + rd * t);
        res = min(res, 8.0 * h / t);
        t += clamp(h, 0.02, 0.2);
        if (res < 0.001 || t > 5.0) break;
    }
    return clamp(res, 0.0, 1.0);
}""")
    angle = draw.decimals("camera_angle", -1.0, 1.0)
    height = draw.uniform("camera_height", 1.0, 2.5)
    sun = (draw.decimals("sun_x", -0.8, 0.8), draw.uniform("sun_y", 0.4, 1.0), draw.decimals("sun_z", -0.8, 0.2))
    surface = draw.colour("surface", lightness=(0.4, 0.7))
    ground = draw.colour("ground", lightness=(0.2, 0.5), saturation=(0.0, 0.3))
    sky = draw.colour("sky", lightness=(0.6, 0.9), saturation=(0.2, 0.6))
    shadow = " * softShadow(p + n * 0.01, light)" if difficulty >= 3 else ""
    body = [
        MAIN_OPEN, UV_CENTRED,
        f"    vec3 ro = vec3({glf(round(4.0 * math.sin(angle), 1))}, {glf(height)}, {glf(round(-4.0 * math.cos(angle), 1))});",
        "    vec3 forward = normalize(vec3(0.0, 0.5, 0.0) - ro);",
        "    vec3 right = normalize(cross(vec3(0.0, 1.0, 0.0), forward));",
        "    vec3 up = cross(forward, right);",
        "    vec3 rd = normalize(uv.x * right + uv.y * up + 1.5 * forward);",
        f"    vec3 light = normalize({vec(sun)});",
        f"    vec3 col = {vec(sky)} - 0.3 * rd.y;",
        "    float t = march(ro, rd);",
        "    if (t < 20.0) {",
        "        vec3 p = ro + rd * t;",
        "        vec3 n = calcNormal(p);",
        f"        vec3 albedo = p.y < 0.01 ? {vec(ground)} : {vec(surface)};",
        f"        float diffuse = max(dot(n, light), 0.0){shadow};",
        "        col = albedo * (0.25 + 0.75 * diffuse);",
        "    }",
    ]
    return program(*functions, "\n".join(body), _close([]))
