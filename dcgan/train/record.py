"""What a training session says about itself: status.json, metrics.jsonl and TensorBoard.

Only the chief writes (one process of several machines); on the other workers every method
is a no-op, so the loop calls them without asking who it is.
"""

from __future__ import annotations

import time
from pathlib import Path

from dcgan.runs.folder import MetricsLog, read_metrics, update_status

NOT_SCALARS = ("kind", "epoch", "step", "time", "held_out", "eval_images")


class RunRecorder:
    """The run folder's status and metrics log, and TensorBoard scalars of each record."""

    def __init__(self, run_dir: Path, is_chief: bool, resume_step: int):
        self.run_dir, self.is_chief = run_dir, is_chief
        self.metrics = MetricsLog(run_dir)
        if is_chief:  # records past the checkpoint we resume from are dropped: redone
            self.metrics.truncate_after(resume_step)
        self.history = [r for r in read_metrics(run_dir) if r.get("kind") in ("epoch", "eval")]
        self.writer = None
        if is_chief:
            import tensorflow as tf

            self.tf = tf
            self.writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))

    def status(self, meter, **fields) -> None:
        """Replace status.json's fields, with a heartbeat and the meter's position."""
        if self.is_chief:
            update_status(self.run_dir, heartbeat=time.time(), epoch=meter.epoch,
                          step=meter.step, epochs=meter.epochs,
                          steps_per_epoch=meter.steps_per_epoch, **fields)

    def log(self, record: dict) -> None:
        """Append one record ({"kind": "step" | "epoch" | "eval", "step": ...}) everywhere."""
        if not self.is_chief:
            return
        self.metrics.append(record)
        if record["kind"] in ("epoch", "eval"):
            self.history.append(record)
        with self.writer.as_default(step=record["step"]):
            for key, value in record.items():
                if key not in NOT_SCALARS:
                    self.tf.summary.scalar(f"{record['kind']}/{key}", value)

    def image(self, name: str, pixels, step: int) -> None:
        """A (1, H, W, 3) uint8 picture into TensorBoard."""
        if self.is_chief:
            with self.writer.as_default(step=step):
                self.tf.summary.image(name, pixels, max_outputs=1)

    def best_epoch(self) -> int | None:
        """The epoch of the lowest SWD evaluated so far (its checkpoint is kept), or None."""
        evals = [r for r in self.history if r.get("kind") == "eval" and "swd" in r]
        return min(evals, key=lambda r: r["swd"])["epoch"] if evals else None
