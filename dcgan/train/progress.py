"""Where a training session is: epoch, step and batch counters, epoch means, images/s, ETA.

Pure Python (no TensorFlow, no files): the loop tells the meter about each finished step and
each finished epoch, and writes what it returns. The epoch's running sums travel in the
checkpoint's header (`position()` / `from_position`), so an epoch that was stopped and
resumed mid-way reports the mean of all its steps, as an uninterrupted one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StepMeter:
    """Counters of one run; `count` after each step, `end_epoch` after each epoch."""

    batch_size: int
    steps_per_epoch: int
    epochs: int
    log_every: int
    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    # Per-key sums and counts: some values come only from some steps (r1: lazy R1 steps).
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    window_start: float = 0.0
    window_images: int = 0

    @classmethod
    def from_position(cls, position: dict, **settings) -> StepMeter:
        """A meter at a checkpoint's position (its header), epoch sums included if saved."""
        return cls(**settings, epoch=int(position["epoch"]), step=int(position["step"]),
                   batch_in_epoch=int(position["batch_in_epoch"]),
                   sums=dict(position.get("epoch_sums", {})),
                   counts=dict(position.get("epoch_counts", {})))

    def position(self) -> dict:
        """What a checkpoint needs to continue counting exactly (JSON-ready)."""
        return {"epoch": self.epoch, "step": self.step, "batch_in_epoch": self.batch_in_epoch,
                "epoch_sums": dict(self.sums), "epoch_counts": dict(self.counts)}

    @property
    def in_epoch(self) -> bool:
        return self.batch_in_epoch < self.steps_per_epoch

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs

    def steps_left_in_epoch(self) -> int:
        return self.steps_per_epoch - self.batch_in_epoch

    def start_window(self, now: float) -> None:
        """Start timing images/s at perf_counter time `now`."""
        self.window_start, self.window_images = now, 0

    def count(self, values: dict[str, float], now: float) -> dict | None:
        """Count one step finished at perf_counter time `now`, with its `values`.

        Returns {"images_per_s", "eta_s"} when this step is to be logged (every `log_every`
        steps and at the end of an epoch; the rate is over the steps since the last log),
        else None.
        """
        self.step += 1
        self.batch_in_epoch += 1
        self.window_images += self.batch_size
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
        if self.step % self.log_every and self.in_epoch:
            return None
        elapsed = now - self.window_start
        rate = self.window_images / elapsed if elapsed > 0 else 0.0
        self.start_window(now)
        left = (self.epochs - self.epoch) * self.steps_per_epoch - self.batch_in_epoch
        return {"images_per_s": rate,
                "eta_s": left * self.batch_size / rate if rate else None}

    def end_epoch(self) -> dict[str, float]:
        """Close the epoch: the means of its steps' values; counters move to the next."""
        means = {key: total / self.counts[key] for key, total in self.sums.items()}
        self.epoch += 1
        self.batch_in_epoch = 0
        self.sums, self.counts = {}, {}
        return means
