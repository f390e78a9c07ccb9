"""Training: recipes and the arguments they fill, the SFT and GRPO trainers, run logs, saving.

The entry points `earthshader.sft` and `earthshader.grpo` read top to bottom; what they share lives here.
"""
