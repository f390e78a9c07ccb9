"""The cross-check's cause detectors (`earthshader.render.crosscheck`) on hand-written sources."""

from earthshader.render import crosscheck


def test_comma_side_effects_are_found_only_in_comma_operators():
    found = crosscheck.comma_side_effects
    assert found("void f() { for (int j = 0; j < 4; j++) p.xy = abs(p.xy), p -= n; }")
    assert found("void f() { if (c) { m.x = 400.0, m.y = 420.0; } }")
    assert found("void f() { for (int j = 0; j < n; j++, k = k + 1) {} }")
    assert not found("void f() { vec3 p = a, q = b; float e, g = 0.; }")   # declarators
    assert not found("void f() { x = mix(a = 1., b, c); o = vec2(i++, 2); }")  # call arguments
    assert not found("void f() { x = (a, b); }")  # no side effect is dropped


def test_causes_in_order_of_specificity():
    causes = crosscheck.causes
    assert causes("void mainImage(out vec4 O, vec2 u) { O = vec4(gl_FragCoord.y / iResolution.y); }") == \
        ["gl_fragcoord"]
    assert causes("void mainImage(out vec4 O, vec2 f) { O.x = length(f+f-(f=iResolution.xy)); }") == \
        ["evaluation_order"]
    assert causes("void mainImage(out vec4 O, vec2 u) { int k = int(u.x) % 3; O = vec4(iDate.w); }") == \
        ["integer_ops", "idate"]
    assert causes("void mainImage(out vec4 O, vec2 u) { O = vec4(0); }") == []


def test_commas_are_sequenced_as_statements_where_naga_would_drop_their_side_effects():
    sequence, found = crosscheck.sequence_commas, crosscheck.comma_side_effects
    cases = [
        "void f() { a += 1., b += 1.; }",
        "void f() { if (c) m.x = 4., m.y = 2.; else m = vec2(0); }",
        "void f() { r > v ? r = v, R = V : R; }",
        "void f() { i < 3. ? (b *= 2., b += 1.) : (b += 3.); }",
        "void f() { for (int j = 0; j < n; j++, k = k + 1) x += k; }",
        "void f() { for (int j = 0; j < n; j++, k = k + 1) { x += k; } }",
        "#define STEP a += 1., b += 2.\nvoid f() { STEP; }",
    ]
    for code in cases:
        assert found(code) and not found(sequence(code)), code
    assert " ".join(sequence(cases[2]).split()) == "void f() { { if (r > v) { r = v; R = V; } else { R; } } }"
    assert " ".join(sequence(cases[4]).split()) == "void f() { for (int j = 0; j < n; ) { x += k; j++, k = k + 1; } }" \
        .replace("j++, k = k + 1;", "{ j++; k = k + 1; }")


def test_sequencing_leaves_what_it_cannot_keep_equal():
    sequence = crosscheck.sequence_commas
    kept = [
        "void f() { for (int j = 0; j < n; j++, k++) { if (j == 2) continue; x += k; } }",  # continue skips the moved part
        "void f() { vec3 p = a, q = b; x = mix(a, b, c); }",  # declarators and arguments are not operators
        "void f() { x = c ? (a = 1., b) : d; }",  # a comma inside a larger expression
    ]
    for code in kept:
        assert " ".join(sequence(code).split()) == " ".join(code.split()), code
