"""The run's fixed noise and the sample grid drawn from it after every epoch.

One (64, latent) noise array, made once from the run's seed and stored in the run folder,
drives every grid, so epochs compare like for like (and a resumed run draws the same faces).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dcgan.config import Config
from dcgan.data.images import image_grid

SAMPLE_COUNT = 64


def fixed_noise(run_dir: Path, config: Config) -> np.ndarray:
    """The run's fixed (64, latent) noise: made once from the seed, then read from disk."""
    path = run_dir / "fixed_noise.npy"
    if path.is_file():
        return np.load(path)
    noise = np.random.default_rng([config.train.seed, 99]).standard_normal(
        (SAMPLE_COUNT, config.model.latent_dim)).astype(np.float32)
    tmp = run_dir / ".fixed_noise.tmp.npy"
    np.save(tmp, noise)
    os.replace(tmp, path)
    return noise


def grid_kept(epoch: int, epochs: int, first: int = 100, later: int = 100) -> bool:
    """Whether epoch `epoch`'s sample grid (and its TensorBoard image) is kept for good.

    Every one of the first `first` epochs, then every k-th with k chosen so that at most
    `later` more are kept, and the last epoch: at most first + later + 1 grids (about 0.45 MB
    each) however long the run. The newest grid is always on disk while it is the newest.
    """
    if epoch <= first or epoch == epochs:
        return epoch >= 1
    k = max(1, -(-(epochs - first) // later))
    return (epoch - first) % k == 0


class SampleWriter:
    """samples/epoch_NNNN.png after each epoch; grids grid_kept() drops are removed later."""

    def __init__(self, run_dir: Path, epochs: int, noise: np.ndarray):
        self.folder, self.epochs, self.noise = run_dir / "samples", epochs, noise

    def write(self, sample_fn: Callable[[np.ndarray], np.ndarray], epoch: int):
        """Draw the grid of `epoch` (8 x 8) from sample_fn(noise) -> (64, 64, 64, 3) floats.

        Returns the grid (a PIL image) if it is kept for good (for TensorBoard), else None.
        """
        grid = image_grid(sample_fn(self.noise), columns=8)
        self.folder.mkdir(exist_ok=True)
        path = self.folder / f"epoch_{epoch:04d}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        grid.save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
        if not grid_kept(epoch - 1, self.epochs):  # shown while it was newest; now it goes
            (self.folder / f"epoch_{epoch - 1:04d}.png").unlink(missing_ok=True)
        return grid if grid_kept(epoch, self.epochs) else None
