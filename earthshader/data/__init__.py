"""The ground-truth factory: (image, shader) pairs from real shaders and procedural generators.

    from earthshader.data import generate, read_source, build, BuildConfig

    generate("textures", seed=3).code                 # one procedural program (see generators/)
    build(BuildConfig(source="textures", out="data/textures", n=1000, size=256))
    datasets.load_from_disk("data/textures")          # DatasetDict: train / test

Command line: `python -m earthshader.data build --source SOURCE --out DIR --size 256 --n N`.
See docs/data.md.
"""

from earthshader.data.build import BuildConfig, BuildError, BuildReport, Filters, build, judge, load_report
from earthshader.data.generators import FAMILIES, GROUPS, ShaderSample, generate
from earthshader.data.sources import RowProblem, ShaderRow, SourceError, read_source

__all__ = [
    "BuildConfig", "BuildError", "BuildReport", "Filters", "build", "judge", "load_report",
    "FAMILIES", "GROUPS", "ShaderSample", "generate",
    "RowProblem", "ShaderRow", "SourceError", "read_source",
]
