"""Saving what a trainer made, and finding the checkpoint a killed run resumes from."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from earthshader.modeling.run_info import write_run_info


def save_trained(trainer, output_dir: str | Path, info: dict, merged: bool = False) -> Path:
    """Save what `load_model(output_dir)` loads back: the LoRA adapter (with `merged`, the weights with the
    adapter merged in), the processor, and `info` as the run's `earthshader.json`.

    Call it from every process once training is done: `Trainer.save_model` gathers sharded weights
    (DeepSpeed, FSDP) from all of them. Only the main process writes files, and every process returns
    once they exist.
    """
    output_dir = Path(output_dir)
    accelerator = trainer.accelerator
    accelerator.wait_for_everyone()
    main_process = accelerator.is_main_process
    if not merged:
        trainer.save_model(str(output_dir))
    elif main_process:  # merged weights: CPU runs only, where nothing is sharded
        (output_dir / "adapter_config.json").unlink(missing_ok=True)
        trainer.model.merge_and_unload().save_pretrained(output_dir)
    if main_process:
        trainer.processing_class.save_pretrained(str(output_dir))
        write_run_info(output_dir, info)
        logging.getLogger(__name__).info("saved adapter and processor to %s", output_dir)
    accelerator.wait_for_everyone()
    return output_dir


def resume_checkpoint(output_dir: str, resume) -> tuple[str, int] | None:
    """(checkpoint folder, global step) a resumed run restarts from, or None for a fresh run.

    `resume` true picks the newest complete checkpoint: one whose `trainer_state.json` (the Trainer writes
    it last) exists, so a run killed while saving resumes from the checkpoint before.
    """
    if resume in (None, False, "false", "False", ""):
        return None
    if resume in (True, "true", "True"):
        complete = [c for c in Path(output_dir).glob("checkpoint-*")
                    if c.name.split("-")[-1].isdigit() and (c / "trainer_state.json").is_file()]
        if not complete:
            return None
        checkpoint = max(complete, key=lambda c: int(c.name.split("-")[-1]))
    else:
        checkpoint = Path(resume)
    return str(checkpoint), json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]
