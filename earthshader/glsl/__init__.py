"""GLSL as text: extracting a shader from a model's answer, a token scanner, lifting literals to uniforms."""
