"""Render one Shadertoy Image pass with wgpu-shadertoy, the second renderer of the cross-check.

Runs under the cross-check's own virtual environment (`.venv-crosscheck`, built by
`benchmarks/crosscheck_wgpu.sh`), never the project's: wgpu-shadertoy is not a dependency of the
package. `benchmarks/crosscheck_wgpu.py` starts it once per shader, with a timeout, because
naga (wgpu's shader translator) rejects some valid programs and can abort its process.

    WGPU_FORCE_OFFSCREEN=1 .venv-crosscheck/bin/python benchmarks/crosscheck_wgpu_render.py \\
        shader.glsl out.npy --width 128 --height 96 --time 1 --frame 60 --date 2024 0 1 1

Writes an H x W x 4 uint8 RGBA array (top row first, as EarthShader's images) to the `.npy`
file, and prints one JSON line with the adapter used. Exit status 1 with the error on stderr
when the shader does not compile or render.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("WGPU_FORCE_OFFSCREEN", "1")


FLIP_FRAGCOORD = "#define gl_FragCoord vec4(gl_FragCoord.x, iResolution.y - gl_FragCoord.y, gl_FragCoord.zw)"

# min/max that return the other operand when one is NaN, as Direct3D and most GPUs do; GLSL's own
# definition (y < x ? y : x) returns x, and lavapipe keeps that. Defined before the macros that
# route user calls here, so the bodies call the built-ins.
NAN_IGNORING_MIN_MAX = "\n".join(
    f"{t} _st{op}({t} a, {u} b) {{ {t} bb = {t}(b); return mix(mix({op.lower()}(a, bb), bb, isnan(a)), a, isnan(bb)); }}"
    if t != "float" else
    f"float _st{op}(float a, float b) {{ return isnan(a) ? b : isnan(b) ? a : {op.lower()}(a, b); }}"
    for op in ("Min", "Max") for t, u in [("float", "float"), ("vec2", "vec2"), ("vec3", "vec3"), ("vec4", "vec4"),
                                          ("vec2", "float"), ("vec3", "float"), ("vec4", "float")]
) + "\nint _stMin(int a, int b) { return min(a, b); }\nint _stMax(int a, int b) { return max(a, b); }" \
    "\n#define min(a, b) _stMin(a, b)\n#define max(a, b) _stMax(a, b)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="GLSL file holding the Image pass (a mainImage function)")
    parser.add_argument("out", type=Path, help=".npy file to write the RGBA frame to")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--time", type=float, default=1.0, help="iTime")
    parser.add_argument("--frame", type=int, default=60, help="iFrame")
    parser.add_argument("--time-delta", type=float, default=1.0 / 60.0, help="iTimeDelta")
    parser.add_argument("--flip-fragcoord", action="store_true",
                        help="give gl_FragCoord WebGL's bottom-left origin (wgpu-shadertoy leaves Vulkan's top-left)")
    parser.add_argument("--nan-ignoring-min-max", action="store_true",
                        help="min/max return the non-NaN operand (as Direct3D does)")
    parser.add_argument("--date", type=float, nargs=4, default=(2024.0, 0.0, 1.0, 1.0),
                        metavar=("YEAR", "MONTH0", "DAY", "SECONDS"), help="iDate")
    args = parser.parse_args()

    import numpy as np
    import wgpu
    from wgpu_shadertoy import Shadertoy

    code = args.source.read_text(encoding="utf-8")
    if args.flip_fragcoord:  # only the user's code: wgpu-shadertoy's own main() follows it and flips itself
        code = f"{FLIP_FRAGCOORD}\n{code}\n#undef gl_FragCoord\n"
    if args.nan_ignoring_min_max:
        code = f"{NAN_IGNORING_MIN_MAX}\n{code}\n#undef min\n#undef max\n"
    try:
        shader = Shadertoy(code, resolution=(args.width, args.height),
                           shader_type="glsl", offscreen=True)
        frame = np.asarray(shader.snapshot(time_float=args.time, time_delta=args.time_delta, frame=args.frame,
                                           framerate=60.0, mouse_pos=(0.0, 0.0, 0.0, 0.0),
                                           date=tuple(args.date)))
    except Exception as err:  # naga's and wgpu's errors have no common base class worth naming
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    if frame.shape != (args.height, args.width, 4) or frame.dtype != np.uint8:
        print(f"unexpected frame {frame.shape} {frame.dtype}", file=sys.stderr)
        return 1
    np.save(args.out, np.ascontiguousarray(frame))
    info = wgpu.utils.get_default_device().adapter.info
    print(json.dumps({"adapter": info.get("device", ""), "backend": info.get("backend_type", ""),
                      "format": shader._format}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
