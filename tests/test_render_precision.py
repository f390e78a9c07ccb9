"""Precision qualifiers: floats are 32-bit everywhere, as desktop browsers compute them."""


def test_mediump_computes_at_32_bits_as_desktop_browsers(render_pool):
    # 300.0 * 300.0 overflows a 16-bit float (largest 65504): with mediump lowered to 16 bits, inf.
    code = """precision mediump float;
    void mainImage(out vec4 O, vec2 p) { mediump float x = 300.0 + iTime; O = vec4(x * x / 1e5); }"""
    result = render_pool.render(code, 4, 4, time=0.0)
    assert result.ok and result.nonfinite_fraction == 0.0
    assert abs(int(result.image[0, 0, 0]) - round(0.9 * 255)) <= 1
