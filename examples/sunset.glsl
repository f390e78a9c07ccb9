// A sunset over a rippling sea: a sky gradient, a sun disc and reflected stripes.
// MIT licence, part of EarthShader's examples.
vec3 skyColor(float height) {
    vec3 horizon = vec3(1.0, 0.55, 0.25);
    vec3 zenith = vec3(0.15, 0.2, 0.45);
    return mix(horizon, zenith, smoothstep(0.0, 0.6, height));
}

void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = (fragCoord - 0.5 * iResolution.xy) / iResolution.y;
    vec3 color = skyColor(uv.y);
    float sun = smoothstep(0.12, 0.1, length(uv - vec2(0.0, 0.08)));
    color = mix(color, vec3(1.0, 0.9, 0.6), sun);
    if (uv.y < 0.0) {
        float ripple = sin(60.0 * uv.y * uv.y * 40.0 + iTime * 2.0 + uv.x * 8.0);
        float glint = smoothstep(0.3, 0.0, abs(uv.x)) * (0.5 + 0.5 * ripple);
        color = mix(vec3(0.05, 0.1, 0.2), vec3(1.0, 0.6, 0.3), glint * smoothstep(-0.5, 0.0, uv.y));
    }
    fragColor = vec4(color, 1.0);
}
