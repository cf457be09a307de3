"""Generators out of run folders, and portraits out of generators (PNG grids)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from dcgan.checkpoints import CheckpointError, load_checkpoint, load_latest
from dcgan.config import Config
from dcgan.images import image_grid
from dcgan.latent import z_from_seeds


class RunGenerator:
    """A run's generator (float32) with a compiled sampler: seeds or z -> uint8 portraits."""

    def __init__(self, config: Config, g_weights: list[np.ndarray], label: str):
        import tensorflow as tf

        from dcgan.models import build_generator

        self.config = config
        self.label = label
        self.latent_dim = config.model.latent_dim
        self.model = build_generator(config.model, seed=config.train.seed)
        self.model.set_weights(g_weights)
        self._forward = tf.function(lambda z: self.model(z, training=False))
        self._tf = tf

    def images(self, z: np.ndarray) -> np.ndarray:
        """(N, latent) float -> (N, 64, 64, 3) uint8."""
        out = self._forward(self._tf.constant(z, self._tf.float32)).numpy()
        lo, hi = self.config.value_range
        return np.clip(np.rint((out - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)

    def from_seeds(self, seeds: list[int]) -> np.ndarray:
        return self.images(z_from_seeds(seeds, self.latent_dim))


def load_run_generator(run_dir: Path, checkpoint: Path | None = None) -> RunGenerator:
    """The generator of a run at its latest (or the given) checkpoint."""
    config = Config.from_json((run_dir / "config.json").read_text())
    if checkpoint is not None:
        state, _meta = load_checkpoint(checkpoint)
        name = checkpoint.name
    else:
        found = load_latest(run_dir)
        if found is None:
            raise CheckpointError(f"run {run_dir.name} has no checkpoint yet: train it first "
                                  "(a checkpoint is written every --checkpoint-every epochs)")
        state, _meta, path = found
        name = path.name
    return RunGenerator(config, state["g"], f"{run_dir.name} @ {name}")


def progress_gif(run_dir: Path, frame_ms: int = 400, max_frames: int = 200) -> bytes | None:
    """An animated GIF of the run's per-epoch sample grids (None when there are none)."""
    import io

    paths = sorted((run_dir / "samples").glob("epoch_*.png"))
    if not paths:
        return None
    step = max(1, -(-len(paths) // max_frames))
    chosen = paths[::step]
    if chosen[-1] != paths[-1]:
        chosen.append(paths[-1])
    frames = []
    for path in chosen:
        with Image.open(path) as img:
            frames.append(img.convert("RGB").quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    buf = io.BytesIO()
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 4]  # linger on the last epoch
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:],
                   duration=durations, loop=0)
    return buf.getvalue()


def save_grid(generator: RunGenerator, seeds: list[int], out: str | os.PathLike[str],
              columns: int = 8, scale: int = 1) -> Path:
    """Write a PNG grid of the portraits of `seeds`, upscaled by `scale` (nearest)."""
    grid = image_grid(generator.from_seeds(seeds), columns=min(columns, len(seeds)))
    if scale > 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out, format="PNG")
    return out
