"""`earthshader COMMAND [ARGS]` (or `python -m earthshader COMMAND`): one front for every entry point.

    earthshader --help                       # the commands
    earthshader grpo --recipe tiny --max_steps 2
    earthshader render examples/sunset.glsl -o sunset.png

Each command is the module `earthshader.COMMAND` run as `python -m earthshader.COMMAND`, with the same flags.
"""

from __future__ import annotations

import runpy
import sys

#: Command -> (module, one-line description).
COMMANDS = {
    "render": ("earthshader.render", "render a Shadertoy shader to PNG files"),
    "data": ("earthshader.data", "build a dataset of (image, program) pairs"),
    "tiny": ("earthshader.tiny", "build the tiny offline Qwen2-VL"),
    "sft": ("earthshader.sft", "supervised fine-tuning on shader programs"),
    "grpo": ("earthshader.grpo", "reinforcement from render rewards (GRPO)"),
    "expert": ("earthshader.expert", "expert iteration: refined best samples become the next lessons"),
    "logs": ("earthshader.logs", "read a training run's reward logs"),
    "eval": ("earthshader.eval", "score a model on held-out pictures beside baselines"),
    "infer": ("earthshader.infer", "picture in, shader out"),
    "refine": ("earthshader.refine", "fit a shader's numbers to a picture by re-rendering"),
    "demo": ("earthshader.demo", "the whole pipeline on the tiny model, on a CPU"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: earthshader COMMAND [ARGS]   (earthshader COMMAND --help for its flags)", "", "commands:"]
    lines += [f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, *rest = argv
    if command not in COMMANDS:
        print(f"earthshader: unknown command {command!r}; valid: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = COMMANDS[command][0]
    sys.argv = [f"earthshader {command}", *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
