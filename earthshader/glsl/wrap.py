"""Wrap a program's `mainImage` to draw the same picture moved: the same look at another place.

    from earthshader.glsl.wrap import translated
    moved = translated(code, 17, 9)    # every pixel shows what (x + 17, y + 9) showed; None without mainImage

The original `mainImage` is renamed and called from a new one with `fragCoord` shifted, so `iResolution`,
`iTime` and everything else stay as they were (rendering larger and cropping would change the scale of
programs that divide by `iResolution`).

>>> print(translated("void mainImage(out vec4 c, in vec2 p) { c = vec4(p.x); }", 17, 9))
void translatedImage(out vec4 c, in vec2 p) { c = vec4(p.x); }
void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    translatedImage(fragColor, fragCoord + vec2(17.0, 9.0));
}
>>> translated("#define mainImage(O, U) O = vec4(1)", 1, 1) is None
True
"""

from __future__ import annotations

import re

from earthshader.glsl.extract import _MAIN_IMAGE


def translated(code: str, dx: float, dy: float) -> str | None:
    """`code` drawing the picture moved by (-dx, -dy) pixels, or None when no `void mainImage(` is defined."""
    renamed, found = _MAIN_IMAGE.subn("void translatedImage(", code, count=1)
    if not found or re.search(r"\btranslatedImage\b", code):
        return None
    return (f"{renamed}\nvoid mainImage(out vec4 fragColor, in vec2 fragCoord) {{\n"
            f"    translatedImage(fragColor, fragCoord + vec2({float(dx)!r}, {float(dy)!r}));\n}}")
