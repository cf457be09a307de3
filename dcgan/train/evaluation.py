"""When a run judges its generator: SWD, colour and MS-SSIM against a held-out real sample
every `eval_every` epochs and after the last one (dcgan.quality computes the figures)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from dcgan.config import Config


class EvalSchedule:
    """The run's evaluator (or none) and its schedule; `train_rows` are the rows never
    held out (None: all of them), the only ones training reads."""

    def __init__(self, config: Config, cache: Path, cache_size: int, run_dir: Path):
        t = config.train
        self.every, self.epochs, self.latent_dim = t.eval_every, t.epochs, config.model.latent_dim
        self.evaluator = None
        if t.eval_every and cache_size >= 4:
            from dcgan.quality.evaluator import Evaluator

            self.evaluator = Evaluator(cache, t.eval_images, t.seed,
                                       run_dir / "eval_baseline.json")

    @property
    def train_rows(self) -> np.ndarray | None:
        return self.evaluator.split.train_rows if self.evaluator else None

    def due(self, epoch: int) -> bool:
        return self.evaluator is not None and (epoch % self.every == 0 or epoch == self.epochs)

    def __call__(self, sample_fn: Callable[[np.ndarray], np.ndarray]) -> dict:
        """{"swd", "colour", "ms_ssim", ...} of sample_fn's images against the reference."""
        return self.evaluator(sample_fn, self.latent_dim)
