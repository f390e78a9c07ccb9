"""Integer % with the truncated remainder browsers show, whatever the driver's own % gives."""

import numpy as np

from earthshader.render.integer_remainder import truncated_remainders


def test_operands_follow_glsl_precedence():
    assert truncated_remainders("x = a + b % c * d;") == "x = a + _esIMod(b, c) * d;"
    assert truncated_remainders("x = -a % b;") == "x = _esIMod(-a, b);"
    assert truncated_remainders("x = a - -b % c;") == "x = a - _esIMod(-b, c);"
    assert truncated_remainders("x = f(y)[1].x % v[i];") == "x = _esIMod(f(y)[1].x, v[i]);"
    assert truncated_remainders("x = a * b % c % d;") == "x = _esIMod(_esIMod(a * b, c), d);"
    assert truncated_remainders("y[i % 3] = g(a, b % c);") == "y[_esIMod(i, 3)] = g(a, _esIMod(b, c));"
    assert truncated_remainders("i %= n + 1, j = 2;") == "i = _esIMod(i, (n + 1)), j = 2;"


def test_macro_bodies_and_line_breaks():
    code = "#define M(a, b) ((a) % (b))\nint x = M(1, 2)\n % 5;"
    out = truncated_remainders(code)
    assert out == "#define M(a, b) (_esIMod((a), (b)))\nint x = _esIMod(M(1, 2),\n 5);"
    assert out.count("\n") == code.count("\n")


def test_negative_operands_give_the_truncated_remainder(render_pool):
    # x runs over -8..7 across the picture; Mesa's own % gives (unsigned) x % 5 for negative x.
    code = """void mainImage(out vec4 O, vec2 p) {
        int x = int(p.x) - 8;
        ivec2 v = ivec2(x, -x) % 5;
        uint u = uint(x + 8) % 5u;
        O = vec4(float(x % 5 + 8) / 16.0, float(v.y + 8) / 16.0, float(u) / 16.0, 1.0);
    }"""
    result = render_pool.render(code, 16, 1)
    assert result.ok, result.error
    got = np.round(result.image[0].astype(float) / 255 * 16).astype(int)
    xs = np.arange(-8, 8)
    truncated = np.sign(xs) * (np.abs(xs) % 5)
    assert (got[:, 0] - 8).tolist() == truncated.tolist()
    assert (got[:, 1] - 8).tolist() == (-truncated).tolist()
    assert got[:, 2].tolist() == ((xs + 8) % 5).tolist()

