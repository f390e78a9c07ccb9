"""Build the tiny offline Qwen2-VL (or Qwen2.5-VL) that the CPU demo and the tests train.

    python -m earthshader.tiny --out runs/tiny-qwen2-vl                      # about 10 s
    python -m earthshader.tiny --out runs/tiny-qwen2.5-vl --arch qwen2.5-vl

What it builds: `earthshader.modeling.tiny`.
"""

from __future__ import annotations

from earthshader.cli import ArgumentParser, folder_path, positive_int, run_entry_point
from earthshader.modeling.tiny import ARCHES, build_tiny_model


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(prog="python -m earthshader.tiny",
                            description="Build the tiny offline Qwen2-VL used by the CPU demo and tests.")
    parser.add_argument("--out", required=True, type=folder_path,
                        help="directory to write the model, tokenizer and processor to")
    parser.add_argument("--arch", default="qwen2-vl", choices=ARCHES, help="architecture (default qwen2-vl)")
    parser.add_argument("--vocab_size", type=positive_int, default=1024, help="BPE vocabulary size (default 1024)")
    parser.add_argument("--hidden", type=positive_int, default=256, help="text hidden size (default 256)")
    parser.add_argument("--layers", type=positive_int, default=4, help="text layers (default 4)")
    parser.add_argument("--vision_depth", type=positive_int, default=2, help="vision tower blocks (default 2)")
    args = parser.parse_args(argv)
    out = build_tiny_model(args.out, args.arch, args.vocab_size, args.hidden, args.layers, args.vision_depth)
    print(f"tiny {args.arch} model written to {out}")


if __name__ == "__main__":
    run_entry_point(main)
