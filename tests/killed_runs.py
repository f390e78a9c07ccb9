"""A helper module of the tests: a training command killed with SIGKILL mid-run, then resumed."""

import os
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def kill_at_checkpoint_then_resume(command: list[str], output_dir: Path,
                                   checkpoint: int) -> tuple[subprocess.CompletedProcess, int]:
    """Run `command` until OUTPUT_DIR/checkpoint-N is complete, kill it and its render workers, then run it again with
    `--resume_from_checkpoint true`. Returns the resumed run's completed process (its output captured as text) and
    the step of the newest complete checkpoint when the kill landed: N, or later where the run saved another
    before the kill (a loaded machine), which is the step the resumed run must restart from."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 600
    while not (output_dir / f"checkpoint-{checkpoint}" / "trainer_state.json").exists():
        assert process.poll() is None, f"the run ended before checkpoint {checkpoint}"
        assert time.time() < deadline, f"no checkpoint {checkpoint} within 10 minutes"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the trainer and its render workers, mid-run
    process.wait()
    saved = max(int(c.parent.name.split("-")[-1]) for c in output_dir.glob("checkpoint-*/trainer_state.json"))
    resumed = subprocess.run(command + ["--resume_from_checkpoint", "true"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=900)
    return resumed, saved
