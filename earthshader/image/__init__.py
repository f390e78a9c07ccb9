"""Pictures as arrays: the one set of image metrics (`metrics`) shared by rewards, data filters and evaluation.

Importing the package registers `appearance` among `metrics.SIMILARITY_METRICS`, so that
`metrics.similarity_skill("appearance", candidate, target)` works like every other similarity (it lives in its
own module because it needs torch and plenoptic, imported only when it first scores).
"""

from earthshader.image import appearance, metrics

metrics.SIMILARITY_METRICS["appearance"] = appearance.appearance_similarity
