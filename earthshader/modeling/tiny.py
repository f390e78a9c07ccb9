"""A tiny Qwen2-VL (or Qwen2.5-VL) built offline: a GLSL tokenizer trained here, random weights, the real
processor and chat template. It is saved like a Hub checkpoint, so `earthshader.modeling.load_model` loads it
exactly as it loads Qwen/Qwen2-VL-7B-Instruct, and every training stage can run end to end on a CPU.

    python -m earthshader.tiny --out runs/tiny-qwen2-vl                      # about 10 s
    python -m earthshader.tiny --out runs/tiny-qwen2.5-vl --arch qwen2.5-vl

    from earthshader.modeling.tiny import build_tiny_model
    build_tiny_model("runs/tiny-qwen2-vl", arch="qwen2-vl")                  # returns the directory

The tokenizer is a byte-level BPE trained on the procedural generators' programs plus built-in GLSL
snippets, the prompt, and what look and fix's observations say (`observation_corpus`: the figures line and the
compiler's usual messages, which would otherwise cost a token every few letters). Numbers are split off first and BPE runs on the rest: Qwen2's own pre-tokenizer splits every
digit (long sequences), and BPE with no pre-tokenizer learns whole programs, parameters included.
The default size (hidden 256, 4 text layers, vision depth 2, about 4 M parameters) learns the CPU demo.
"""

from __future__ import annotations

import json
from pathlib import Path

from earthshader.modeling import prompts

ARCHES = ("qwen2-vl", "qwen2.5-vl")

#: Qwen's special tokens; eos is `<|im_end|>`, padding is `<|endoftext|>`.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Numbers (not digits inside names such as `vec2`), split off before BPE.
NUMBER_PATTERN = r"(?<![A-Za-z_0-9.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"

#: Shadertoy idioms the generators may not write, so that any GLSL tokenizes into sensible pieces.
GLSL_SNIPPETS = (
    "#define PI 3.14159265\n#define TAU 6.28318531\n#define saturate(x) clamp(x, 0.0, 1.0)\n",
    "uniform vec3 iResolution;\nuniform float iTime;\nuniform vec4 iMouse;\nuniform sampler2D iChannel0;\n",
    "float sdSphere(vec3 p, float r) { return length(p) - r; }\n"
    "float sdBox(vec3 p, vec3 b) { vec3 q = abs(p) - b; return length(max(q, 0.0)) + min(max(q.x, max(q.y, q.z)), 0.0); }\n"
    "float sdTorus(vec3 p, vec2 t) { vec2 q = vec2(length(p.xz) - t.x, p.y); return length(q) - t.y; }\n",
    "float smin(float a, float b, float k) {\n    float h = clamp(0.5 + 0.5 * (b - a) / k, 0.0, 1.0);\n"
    "    return mix(b, a, h) - k * h * (1.0 - h);\n}\n",
    "vec3 calcNormal(vec3 p) {\n    const vec2 e = vec2(0.001, 0.0);\n    return normalize(vec3(map(p + e.xyy) - map(p - e.xyy),\n"
    "                          map(p + e.yxy) - map(p - e.yxy), map(p + e.yyx) - map(p - e.yyx)));\n}\n",
    "mat3 setCamera(in vec3 ro, in vec3 ta, float cr) {\n    vec3 cw = normalize(ta - ro);\n"
    "    vec3 cp = vec3(sin(cr), cos(cr), 0.0);\n    vec3 cu = normalize(cross(cw, cp));\n"
    "    vec3 cv = cross(cu, cw);\n    return mat3(cu, cv, cw);\n}\n",
    "void mainImage(out vec4 fragColor, in vec2 fragCoord) {\n    vec2 uv = fragCoord / iResolution.xy;\n"
    "    vec3 col = 0.5 + 0.5 * cos(iTime + uv.xyx + vec3(0, 2, 4));\n    fragColor = vec4(col, 1.0);\n}\n",
    "vec4 tex = texture(iChannel0, uv);\nfloat lum = dot(tex.rgb, vec3(0.299, 0.587, 0.114));\n"
    "col = pow(col, vec3(0.4545));\ncol = smoothstep(0.0, 1.0, col);\ncol *= 0.5 + 0.5 * pow(16.0 * uv.x * uv.y * (1.0 - uv.x) * (1.0 - uv.y), 0.1);\n",
    "struct Ray { vec3 origin; vec3 direction; };\nconst int MAX_STEPS = 128;\n"
    "for (int i = 0; i < MAX_STEPS; i++) {\n    if (d < 0.001 || t > 100.0) break;\n}\n"
    "while (k < 4) { k++; }\nvec3 r = reflect(rd, n);\nfloat f = exp(-0.1 * t);\nfloat a = atan(p.y, p.x);\n"
    "float s = sign(x) * floor(abs(x));\nivec2 ip = ivec2(fragCoord);\nbool hit = false;\ndiscard;\n",
)


#: Compiler messages observations often carry (Mesa's words), with the loop limit's: the tokenizer learns them.
COMPILER_MESSAGES = (
    "syntax error, unexpected IDENTIFIER, expecting ',' or ';'",
    "syntax error, unexpected '}}', expecting ',' or ';'",
    "syntax error, unexpected ')', expecting ',' or ';'",
    "`{name}' undeclared",
    "no matching function for call to `{call}(vec3, vec3)'",
    "no matching function for call to `{call}(float, float, vec2)'",
    "initializer of type float cannot be assigned to variable of type vec2",
    "initializer of type vec3 cannot be assigned to variable of type vec2",
    "cannot construct `vec4' from a non-numeric data type",
    "operands to arithmetic operators must be numeric",
    "a loop ran past the limit of 32768 iterations per pixel",
)


def observation_corpus(copies: int = 300) -> list[str]:
    """Observations as look and fix writes them (`prompts.observation_text`): figures of many values, and failures
    with the compiler's usual messages on many lines, `copies` of each kind's texts in all."""
    import random

    rng = random.Random(0)
    names, calls = ("col", "uv", "d", "stripe", "p", "t"), ("mix", "smoothstep", "clamp", "pow", "step")
    texts = []
    for _ in range(copies):
        figures = {"structure": rng.uniform(-1, 1), "appearance": rng.uniform(-1, 1)}
        texts.append(prompts.observation_text(figures, flat=rng.random() < 0.1))
        message = rng.choice(COMPILER_MESSAGES).format(name=rng.choice(names), call=rng.choice(calls))
        line = f"line {rng.randint(1, 12)}: error: {message}"
        texts.append(prompts.observation_text(None, failure=rng.choice(("compile", "loop_limit")), details=[line]))
    return texts


def glsl_corpus(per_level: int = 60) -> list[str]:
    """Programs from every generator group and level, the snippets, the prompt and answer scaffolding, and the
    observations' words."""
    from earthshader.data.generators import GROUPS, difficulty_range, generate

    texts = list(GLSL_SNIPPETS)
    for group in sorted(GROUPS):
        for level in difficulty_range(group):
            texts += [generate(group, seed, difficulty=level).code for seed in range(per_level)]
    chat = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    texts += [chat + prompts.INSTRUCTION + "<|im_end|>\n<|im_start|>assistant\n"] * 1000  # short prompts
    texts += [prompts.format_completion(t) for t in texts[: len(texts) // 2]]
    return texts + observation_corpus()


def train_tokenizer(texts: list[str], vocab_size: int = 1024):
    """A byte-level BPE (numbers split off first) wrapped as a transformers tokenizer with Qwen's specials."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(NUMBER_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        max_token_length=24,  # no token for whole lines of a favourite program
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        padding_side="left",
        model_max_length=32768,
    )
    return tokenizer


def chat_template() -> str:
    """Qwen2-VL's chat template (byte-identical to Qwen2.5-VL's, which trl ships)."""
    from importlib.resources import files

    return (files("trl") / "chat_templates" / "qwen2_5_vl.jinja").read_text()


def tiny_config(arch: str, tokenizer, hidden: int = 256, layers: int = 4, vision_depth: int = 2):
    """A Qwen2-VL / Qwen2.5-VL config of the given size whose special ids match `tokenizer`."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    heads = max(1, hidden // 64)
    head_dim = hidden // heads
    half = head_dim // 2  # mrope_section (temporal, height, width) must sum to head_dim / 2
    mrope = [half - 2 * (3 * half // 8), 3 * half // 8, 3 * half // 8]
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": 3 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
        "bos_token_id": None,
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision_width = hidden // 2
    if arch == "qwen2-vl":
        vision = {"depth": vision_depth, "embed_dim": vision_width, "hidden_size": hidden, "num_heads": 2,
                  "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
        config_class = Qwen2VLConfig
    elif arch == "qwen2.5-vl":
        vision = {"depth": vision_depth, "hidden_size": vision_width, "out_hidden_size": hidden, "num_heads": 2,
                  "intermediate_size": 2 * vision_width, "patch_size": 14, "spatial_merge_size": 2,
                  "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [vision_depth - 1]}
        config_class = Qwen2_5_VLConfig
    else:
        raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(ARCHES)}")
    return config_class(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def build_tiny_model(out: str | Path, arch: str = "qwen2-vl", vocab_size: int = 1024, hidden: int = 256,
                     layers: int = 4, vision_depth: int = 2, seed: int = 0) -> Path:
    """Train the tokenizer, build the model and processor, and save all three to `out`."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from earthshader.modeling.processor import processor_class

    if arch not in ARCHES:
        raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(ARCHES)}")
    out = Path(out)
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(glsl_corpus(), vocab_size)
    config = tiny_config(arch, tokenizer, hidden, layers, vision_depth)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config = GenerationConfig(
        eos_token_id=config.text_config.eos_token_id,
        pad_token_id=config.text_config.pad_token_id,
        bos_token_id=None,
        do_sample=False,
    )
    model_type = config.model_type
    processor = processor_class(model_type)(
        image_processor=Qwen2VLImageProcessorPil(), tokenizer=tokenizer, chat_template=chat_template()
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    _stock_image_processor_name(out)
    return out


def _stock_image_processor_name(out: Path) -> None:
    """Record the image processor as the Hub checkpoints do, so transformers picks the backend it has."""
    for name in ("preprocessor_config.json", "processor_config.json"):
        path = out / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        section = data.get("image_processor", data)
        if section.get("image_processor_type") == "Qwen2VLImageProcessorPil":
            section["image_processor_type"] = "Qwen2VLImageProcessor"
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
