// Value-noise fbm clouds drifting over a blue sky.
// MIT licence, part of EarthShader's examples.
float hash(vec2 p) {
    return fract(sin(dot(p, vec2(127.1, 311.7))) * 43758.5453);
}

float valueNoise(vec2 p) {
    vec2 cell = floor(p);
    vec2 f = fract(p);
    vec2 u = f * f * (3.0 - 2.0 * f);
    float a = hash(cell);
    float b = hash(cell + vec2(1.0, 0.0));
    float c = hash(cell + vec2(0.0, 1.0));
    float d = hash(cell + vec2(1.0, 1.0));
    return mix(mix(a, b, u.x), mix(c, d, u.x), u.y);
}

float fbm(vec2 p) {
    float sum = 0.0;
    float amplitude = 0.5;
    for (int octave = 0; octave < 6; octave++) {
        sum += amplitude * valueNoise(p);
        p *= 2.0;
        amplitude *= 0.5;
    }
    return sum;
}

void mainImage(out vec4 fragColor, in vec2 fragCoord) {
    vec2 uv = fragCoord / iResolution.y;
    float clouds = fbm(uv * 4.0 + vec2(iTime * 0.1, 0.0));
    vec3 sky = mix(vec3(0.2, 0.45, 0.8), vec3(0.6, 0.8, 1.0), uv.y);
    vec3 color = mix(sky, vec3(1.0), smoothstep(0.45, 0.75, clouds));
    fragColor = vec4(color, 1.0);
}
