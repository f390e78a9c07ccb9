"""Tests for `earthshader.glsl.extract.extract_glsl`: every shape of answer a model produces."""

import pytest

from earthshader.glsl.extract import ExtractedShader, completion_text, extract_glsl, strip_comments

MAIN = "void mainImage(out vec4 fragColor, in vec2 fragCoord) {\n    fragColor = vec4(1.0);\n}"
HELPER = "float f(float x) {\n    return x * x;\n}"


def test_glsl_fence_with_prose_around():
    text = f"Here is the shader:\n```glsl\n{MAIN}\n```\nIt paints everything white."
    shader = extract_glsl(text)
    assert shader == ExtractedShader(
        code=MAIN, found_fence=True, n_blocks=1, language="glsl", has_main_image=True, truncated=False, has_prose=True
    )
    assert shader.ok and shader.well_formed


@pytest.mark.parametrize("info, language", [("glsl", "glsl"), ("c", "c"), ("", ""), ("GLSL", "glsl"), ("cpp", "cpp")])
def test_fence_languages(info, language):
    shader = extract_glsl(f"```{info}\n{MAIN}\n```")
    assert (shader.code, shader.language, shader.has_prose) == (MAIN, language, False)
    assert shader.well_formed


def test_trl_conversational_completion():
    completion = [{"role": "assistant", "content": f"```glsl\n{MAIN}\n```"}]
    assert extract_glsl(completion).code == MAIN
    parts = [{"role": "assistant", "content": [{"type": "text", "text": f"```glsl\n{MAIN}\n```"}]}]
    assert extract_glsl(parts).code == MAIN


def test_completion_text_reads_last_assistant_turn():
    messages = [
        {"role": "user", "content": "draw"},
        {"role": "assistant", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    assert completion_text(messages) == "b"
    assert completion_text(None) == ""
    assert completion_text({"role": "assistant", "content": None}) == ""
    with pytest.raises(TypeError, match="completion is a str"):
        completion_text(42)


def test_bare_code_is_taken_whole():
    text = f"{HELPER}\n\n{MAIN}\n"
    shader = extract_glsl(text)
    assert shader.code == f"{HELPER}\n\n{MAIN}"
    assert (shader.found_fence, shader.n_blocks, shader.language, shader.has_main_image) == (False, 0, None, True)
    assert not shader.has_prose and not shader.truncated
    assert shader.ok and not shader.well_formed  # no fence: renderable, but not the format asked for


def test_bare_code_with_prose_before_and_after():
    text = (
        f"Sure! This shader draws a white screen.\n\n#define PI 3.14159\n{HELPER}\n{MAIN}\n\n"
        "This works because every pixel is set."
    )
    shader = extract_glsl(text)
    assert shader.code == f"#define PI 3.14159\n{HELPER}\n{MAIN}"
    assert shader.has_prose and shader.has_main_image


def test_prose_inside_function_body_is_code_and_mentioning_main_image_in_prose_is_not():
    text = f"The `void mainImage(...)` function below is the entry point.\n{MAIN}"
    assert extract_glsl(text).code == MAIN


def test_block_comment_lines_are_code():
    code = f"/*\n  A gradient.\n  Made for a test\n*/\n{MAIN}"
    assert extract_glsl(code).code == code


def test_prose_only_gives_empty_code():
    shader = extract_glsl("I cannot draw that image, sorry.")
    assert shader.code == "" and not shader.ok and not shader.has_main_image and not shader.truncated
    assert shader.has_prose


@pytest.mark.parametrize("completion", ["", "   \n", None, []])
def test_empty_answers(completion):
    shader = extract_glsl(completion)
    assert shader == ExtractedShader(code="")


def test_several_blocks_choose_the_one_defining_main_image():
    text = f"Helpers:\n```glsl\n{HELPER}\n{HELPER}\n{HELPER}\n```\nMain:\n```glsl\n{MAIN}\n```"
    shader = extract_glsl(text)
    assert (shader.code, shader.n_blocks, shader.has_main_image) == (MAIN, 2, True)
    assert not shader.well_formed  # two blocks


def test_several_main_blocks_choose_the_last_complete_one():
    second = MAIN.replace("1.0", "0.5")
    text = f"```glsl\n{MAIN}\n```\nBetter:\n```glsl\n{second}\n```"
    assert extract_glsl(text).code == second
    cut = "void mainImage(out vec4 c, in vec2 p) {\n    c = vec4("
    text = f"```glsl\n{MAIN}\n```\nBetter:\n```glsl\n{cut}"
    shader = extract_glsl(text)
    assert shader.code == MAIN and not shader.truncated


def test_no_main_image_takes_the_longest_block():
    text = f"```glsl\nfloat a;\n```\n```glsl\n{HELPER}\n```"
    shader = extract_glsl(text)
    assert shader.code == HELPER and not shader.has_main_image and not shader.ok


def test_glsl_block_preferred_over_longer_python_block():
    text = "```python\nprint('a very long line of python that is longer than the glsl')\n```\n```glsl\nfloat a;\n```"
    assert extract_glsl(text).code == "float a;"


def test_cut_off_inside_the_fence():
    text = "```glsl\nvoid mainImage(out vec4 fragColor, in vec2 fragCoord) {\n    vec2 uv = fragCoord / iRes"
    shader = extract_glsl(text)
    assert shader.code == text[len("```glsl\n") :]
    assert shader.found_fence and shader.has_main_image and shader.truncated and not shader.well_formed


def test_closed_fence_with_unbalanced_braces_is_truncated():
    shader = extract_glsl("```glsl\nvoid mainImage(out vec4 c, in vec2 p) {\n c = vec4(1);\n```")
    assert shader.truncated and shader.has_main_image


def test_bare_code_cut_off():
    shader = extract_glsl("void mainImage(out vec4 c, in vec2 p) {\n    c = vec4(0.5")
    assert shader.truncated and shader.has_main_image and shader.code.startswith("void mainImage")


def test_unclosed_block_comment_is_truncated():
    shader = extract_glsl(f"```glsl\n{MAIN}\n/* and then the model\n```")
    assert shader.truncated


def test_main_image_in_a_comment_does_not_count():
    shader = extract_glsl("```glsl\n// void mainImage(out vec4 c, in vec2 p) {}\nfloat a;\n```")
    assert not shader.has_main_image


def test_think_section_is_skipped():
    draft = "void mainImage(out vec4 c, in vec2 p) { c = vec4(0); }"
    text = f"<think>Maybe ```glsl\n{draft}\n```</think>\n```glsl\n{MAIN}\n```"
    shader = extract_glsl(text)
    assert shader.code == MAIN and shader.n_blocks == 1


def test_fence_on_the_same_line_as_code():
    shader = extract_glsl("```glsl void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }```")
    assert shader.code == "void mainImage(out vec4 c, in vec2 p) { c = vec4(1.0); }"
    assert shader.language == "glsl" and shader.well_formed


def test_windows_line_endings_and_tilde_fences():
    shader = extract_glsl("~~~glsl\r\n" + MAIN.replace("\n", "\r\n") + "\r\n~~~")
    assert shader.code == MAIN and shader.well_formed


def test_strip_comments_keeps_line_numbers():
    code = "a; // x\n/* b\nc */ d;"
    assert strip_comments(code) == "a;     \n    \n     d;"
