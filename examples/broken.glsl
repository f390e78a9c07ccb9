// Deliberately broken: GLSL ES does not convert int to float implicitly,
// and line 6 misses a semicolon.
void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.xy;
    float red = uv.x;
    fragColor = vec4(red, uv.y, 0.5, 1.0)
}
