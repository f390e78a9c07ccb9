"""Batched generation: K completions per target image, with the shared prompt template (used by eval and infer).

    from earthshader.modeling import load_model
    from earthshader.modeling.generation import generate_completions
    model, processor = load_model("runs/sft-tiny")                  # an adapter dir or a model
    texts = generate_completions(model, processor, images, image_size=84, k=1)   # greedy
    texts[0][0]                                                      # '```glsl\\nvoid mainImage(...'
    generate_completions(model, processor, images, image_size=224, k=8, temperature=1.0)   # sampled

Images may be PIL images or H x W x 3 uint8 arrays; they are resized with `prompts.prepare_image`, so
pass the image size the model was trained with. Returns one list of K strings per image, in order.
Pass the completions to `earthshader.glsl.extract.extract_glsl` to get the code.

Later turns of a conversation (look and fix, `earthshader.episodes.runner`) go through `generate_replies`:
one conversation per item, each with its images in the order of its placeholders, already sized:

    replies = generate_replies(model, processor, conversations, images, max_new_tokens=192)   # one str each
"""

from __future__ import annotations

from earthshader.modeling import prompts


def generate_completions(
    model,
    processor,
    images,
    *,
    image_size: int = prompts.DEFAULT_IMAGE_SIZE,
    k: int = 1,
    max_new_tokens: int = 1024,
    temperature: float = 0.0,
    top_p: float = 1.0,
    batch_size: int = 8,
) -> list[list[str]]:
    """`k` completions for each image. `temperature=0` is greedy decoding (the K answers are then equal)."""
    prepared = [[prompts.prepare_image(image, image_size)] for image in images]
    return generate_replies(model, processor, [prompts.make_prompt()] * len(images), prepared, k=k,
                            max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, batch_size=batch_size)


def generate_replies(model, processor, conversations: list[list[dict]], images: list[list], *, k: int = 1,
                     max_new_tokens: int = 1024, temperature: float = 0.0, top_p: float = 1.0,
                     batch_size: int = 8) -> list[list[str]]:
    """`k` next assistant turns for each conversation (a list of chat messages whose image parts are
    `{"type": "image"}` placeholders), `images[i]` filling conversation i's placeholders in order."""
    import torch

    if k < 1 or batch_size < 1:
        raise ValueError(f"k and batch_size must be at least 1, got k={k}, batch_size={batch_size}")
    if len(images) != len(conversations):
        raise ValueError(f"{len(images)} image lists for {len(conversations)} conversations")
    sampling = temperature > 0
    options = {"max_new_tokens": max_new_tokens, "do_sample": sampling, "num_return_sequences": k}
    if sampling:
        options.update(temperature=temperature, top_p=top_p)
    else:
        options.update(temperature=None, top_p=None, top_k=None)
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "left"  # generation appends on the right
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[list[str]] = []
    try:
        for start in range(0, len(conversations), batch_size):
            batch = conversations[start : start + batch_size]
            texts = [processor.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in batch]
            pictures = [image for row in images[start : start + batch_size] for image in row]
            inputs = processor(images=pictures or None, text=texts, padding=True, return_tensors="pt").to(device)
            with torch.inference_mode():
                output = model.generate(**inputs, **options, pad_token_id=tokenizer.pad_token_id)
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            results += [decoded[i * k : (i + 1) * k] for i in range(len(batch))]
    finally:
        model.train(was_training)
    return results
