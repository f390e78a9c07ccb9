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
from rich.markup import escape
from rich.syntax import Syntax

from earthshader.cli import (
    MAX_SIDE,
    ArgumentParser,
    existing_file,
    finite_float,
    new_file_path,
    positive_float,
    run_entry_point,
)
from earthshader.render import RenderPool, RenderResult


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 512x288, got {text!r}") from None
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"size must be between 1x1 and {MAX_SIDE}x{MAX_SIDE}, got {text!r}")
    return width, height


def shader_path(text: str) -> str | Path:
    """`-` (standard input) or an existing file."""
    return text if text == "-" else existing_file(text)


def image_path(text: str) -> Path:
    """A file to write, named with an image extension (.png, .jpg, ...), not an existing folder."""
    path = new_file_path(text)
    if path.suffix.lower() not in Image.registered_extensions():
        raise argparse.ArgumentTypeError(f"must be an image file name ending in .png (or .jpg, ...), got {text!r}")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m earthshader.render", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shader", type=shader_path, help="GLSL file with mainImage(), or - to read standard input")
    parser.add_argument("-o", "--output", required=True, type=image_path, help="PNG to write")
    parser.add_argument("--size", type=parse_size, default=(512, 288), help="WIDTHxHEIGHT (default 512x288)")
    parser.add_argument("--time", type=finite_float, action="append", dest="times",
                        help="iTime in seconds; repeat for several frames (default 0)")
    parser.add_argument("--mouse", type=finite_float, nargs=4, metavar=("X", "Y", "CX", "CY"), help="iMouse")
    parser.add_argument("--timeout", type=positive_float, default=10.0, help="seconds before giving up (default 10)")
    parser.add_argument("--software", action="store_true", help="force Mesa llvmpipe even with a GPU")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    if args.shader == "-":
        source, name = sys.stdin.buffer.read(), "<stdin>"
    else:
        try:
            source, name = args.shader.read_bytes(), str(args.shader)
        except OSError as err:
            console.print(f"[red]error:[/] argument shader: cannot read {escape(str(args.shader))}: {err.strerror}")
            return 2
    times = args.times or [0.0]
    width, height = args.size
    with RenderPool(workers=1, timeout=args.timeout, software=args.software or None) as pool:
        result = pool.render(source, width, height, times=times, mouse=args.mouse)
    text = source.decode("utf-8", errors="replace")
    if not result.ok:
        report_failure(console, name, text, result)
        return 1
    outputs = output_paths(args.output, len(result.frames))
    for frame, out in zip(result.frames, outputs):
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).save(out)
    for diagnostic in result.diagnostics:
        console.print(f"[yellow]{escape(f'{name}: {diagnostic}')}[/]")
    console.print(f"[green]rendered[/] {escape(name)} -> {escape(', '.join(map(str, outputs)))} "
                  f"({width}x{height}, {result.dialect}, {result.renderer}, "
                  f"compile {result.compile_ms:.0f} ms, render {result.render_ms:.0f} ms)")
    return 0


def output_paths(output: Path, count: int) -> list[Path]:
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix or '.png'}") for i in range(count)]


def report_failure(console: Console, name: str, text: str, result: RenderResult) -> None:
    console.print(f"[red]error[/] ({result.error.kind}) in {escape(f'{name}: {result.error.message}')}")
    lines = text.splitlines()
    for diagnostic in result.diagnostics:
        where, what = f"{name}:{diagnostic.line or '?'}", f"{diagnostic.severity}: {diagnostic.message}"
        console.print(f"  [bold]{escape(where)}[/] {escape(what)}")
        if diagnostic.line and 1 <= diagnostic.line <= len(lines):
            first = max(1, diagnostic.line - 1)
            snippet = "\n".join(lines[first - 1:diagnostic.line + 1])
            console.print(Syntax(snippet, "glsl", line_numbers=True, start_line=first,
                                 highlight_lines={diagnostic.line}, theme="ansi_dark"))


if __name__ == "__main__":
    run_entry_point(main)
