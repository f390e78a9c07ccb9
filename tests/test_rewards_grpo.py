"""The rewards inside a real (tiny) GRPO step: built-ins, a plugin by dotted path and one by entry point."""

import numpy as np
import pytest
from reward_helpers import PATTERN, render_image
from test_rewards_registry import docs_example

pytestmark = pytest.mark.slow


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """The docs' example as module `my_rewards` (dotted path) and as installed plugin `my_plugin`."""
    (tmp_path / "my_rewards.py").write_text(docs_example())
    (tmp_path / "my_plugin").mkdir()
    (tmp_path / "my_plugin" / "__init__.py").write_text(docs_example().replace('name = "brightness"', 'name = "glow"'))
    dist_info = tmp_path / "my_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[earthshader.rewards]\nglow = my_plugin:Brightness\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_plugins_run_inside_a_tiny_grpo_step(plugins, tmp_path):
    from datasets import Dataset
    from PIL import Image
    from trl import GRPOConfig, GRPOTrainer

    from earthshader.modeling import load_model
    from earthshader.modeling.prompts import make_prompt
    from earthshader.modeling.tiny import build_tiny_model
    from rewards import for_trl, get_reward_funcs

    model, processor = load_model(str(build_tiny_model(tmp_path / "tiny")), backend="cpu")
    target = Image.fromarray(render_image(PATTERN, 56))
    dataset = Dataset.from_list([{"prompt": make_prompt(), "image": target}] * 2)
    names = ["format", "compiles", "ssim", "my_rewards:brightness", "glow"]
    funcs = for_trl(get_reward_funcs(names))  # the render rewards run concurrently, as TRL's async rewards
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=16, use_cpu=True, bf16=False, report_to=[], logging_steps=1, save_strategy="no",
    )
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=dataset, processing_class=processor)
    trainer.train()
    logged = {k: v for entry in trainer.state.log_history for k, v in entry.items()}
    for name in ["format", "compiles", "ssim", "brightness", "glow"]:
        assert np.isfinite(logged[f"rewards/{name}/mean"]), name
    assert "rewards/ssim/render_s" in logged and "render/failed_frac" in logged
