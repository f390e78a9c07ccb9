"""Render a Shadertoy Image pass to PNG.

    python -m earthshader.render SHADER.glsl -o OUT.png [--size 512x288] [--time 1.0]
    cat shader.glsl | python -m earthshader.render - -o out.png --time 0 --time 1   # out-0.png, out-1.png

Prints compiler diagnostics against your own source lines and exits with status 1 when the
shader fails (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.syntax import Syntax

from earthshader.render import RenderPool, RenderResult


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 512x288, got {text!r}") from None
    if not (1 <= width <= 4096 and 1 <= height <= 4096):
        raise argparse.ArgumentTypeError(f"size must be between 1x1 and 4096x4096, got {text!r}")
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m earthshader.render", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shader", help="GLSL file with mainImage(), or - to read standard input")
    parser.add_argument("-o", "--output", required=True, help="PNG to write")
    parser.add_argument("--size", type=parse_size, default=(512, 288), help="WIDTHxHEIGHT (default 512x288)")
    parser.add_argument("--time", type=float, action="append", dest="times",
                        help="iTime in seconds; repeat for several frames (default 0)")
    parser.add_argument("--mouse", type=float, nargs=4, metavar=("X", "Y", "CX", "CY"), help="iMouse")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before giving up (default 10)")
    parser.add_argument("--software", action="store_true", help="force Mesa llvmpipe even with a GPU")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    if args.shader == "-":
        source, name = sys.stdin.buffer.read(), "<stdin>"
    else:
        path = Path(args.shader)
        if not path.is_file():
            console.print(f"[red]error:[/] no such shader file: {path}")
            return 2
        source, name = path.read_bytes(), str(path)
    times = args.times or [0.0]
    width, height = args.size
    with RenderPool(workers=1, timeout=args.timeout, software=args.software or None) as pool:
        result = pool.render(source, width, height, times=times, mouse=args.mouse)
    text = source.decode("utf-8", errors="replace")
    if not result.ok:
        report_failure(console, name, text, result)
        return 1
    outputs = output_paths(Path(args.output), len(result.frames))
    for frame, out in zip(result.frames, outputs):
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).save(out)
    for diagnostic in result.diagnostics:
        console.print(f"[yellow]{name}: {diagnostic}[/]")
    console.print(f"[green]rendered[/] {name} -> {', '.join(map(str, outputs))} "
                  f"({width}x{height}, {result.dialect}, {result.renderer}, "
                  f"compile {result.compile_ms:.0f} ms, render {result.render_ms:.0f} ms)")
    return 0


def output_paths(output: Path, count: int) -> list[Path]:
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix or '.png'}") for i in range(count)]


def report_failure(console: Console, name: str, text: str, result: RenderResult) -> None:
    console.print(f"[red]error[/] ({result.error.kind}) in {name}: {result.error.message}")
    lines = text.splitlines()
    for diagnostic in result.diagnostics:
        console.print(f"  [bold]{name}:{diagnostic.line or '?'}[/] {diagnostic.severity}: {diagnostic.message}")
        if diagnostic.line and 1 <= diagnostic.line <= len(lines):
            first = max(1, diagnostic.line - 1)
            snippet = "\n".join(lines[first - 1:diagnostic.line + 1])
            console.print(Syntax(snippet, "glsl", line_numbers=True, start_line=first,
                                 highlight_lines={diagnostic.line}, theme="ansi_dark"))


if __name__ == "__main__":
    sys.exit(main())
