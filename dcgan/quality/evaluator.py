"""Scoring a generator against real images of its dataset: which rows are held out for it,
the real data's own floors (computed once per split), and the rule that picks the
checkpoint to ship. The figures themselves come from dcgan.quality.metrics."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dcgan.quality.metrics import (
    SWD_DIRECTIONS,
    SWD_PATCHES_PER_IMAGE,
    SWD_REPEATS,
    SWD_SORTED_MAX_BYTES,
    SwdReference,
    quality,
    real_baseline,
)

HOLD_OUT_FACTOR = 10  # hold images out of training only when they are <= 1/10 of the data


@dataclass(frozen=True)
class EvalSplit:
    """Which cache rows evaluation uses, and whether they are kept out of training.

    `reference` is compared with generated images; `floor` is a disjoint real sample of the
    same size whose SWD to `reference` is the real-vs-real floor. When `held_out`, the
    reference rows are excluded from training (`train_rows`); on datasets under
    HOLD_OUT_FACTOR x n images both samples come from the training data.
    """

    reference: np.ndarray
    floor: np.ndarray
    train_rows: np.ndarray | None  # None: train on every row
    held_out: bool

    @property
    def size(self) -> int:
        return len(self.reference)


def eval_split(count: int, n: int, seed: int) -> EvalSplit:
    """Choose `n` (at most count // 2) reference rows and `n` floor rows of a `count`-row cache."""
    n = min(n, count // 2)
    if n < 2:
        raise ValueError(f"evaluation needs at least 4 images; the dataset has {count}")
    order = np.random.default_rng([seed, 0xE7A1]).permutation(count)
    reference, floor = np.sort(order[:n]), np.sort(order[n:2 * n])
    held_out = count >= HOLD_OUT_FACTOR * n
    train_rows = np.sort(order[n:]) if held_out else None
    return EvalSplit(reference, floor, train_rows, held_out)


def choose_checkpoint(evals: list[dict], ms_ssim_tolerance: float = 0.05,
                      trained: float = 1.5, near_best: float = 1.1) -> tuple[dict, str] | None:
    """The evaluation record of the checkpoint to ship, and the reason, from a run's evals.

    1. Only trained checkpoints compete: SWD within `trained` x the run's best (an early
       checkpoint scores a low MS-SSIM from blur and noise, not from variety).
    2. Among them, the lowest SWD whose MS-SSIM is within `ms_ssim_tolerance` of real pairs'.
    3. If none is, the most varied (lowest MS-SSIM) of those within `near_best` x the best
       SWD. Ties go to the earlier epoch; None when there are no evaluations.
    """
    if not evals:
        return None
    best = min(r["swd"] for r in evals)
    candidates = [r for r in evals if r["swd"] <= trained * best]
    in_band = [r for r in candidates
               if abs(r["ms_ssim"] - r["ms_ssim_real"]) <= ms_ssim_tolerance]
    if in_band:
        return min(in_band, key=lambda r: (r["swd"], r["epoch"])), \
            f"lowest SWD with MS-SSIM within {ms_ssim_tolerance} of real"
    near = [r for r in candidates if r["swd"] <= near_best * best]
    return min(near, key=lambda r: (r["ms_ssim"], r["epoch"])), \
        (f"no trained checkpoint within {ms_ssim_tolerance} of real MS-SSIM: the most varied "
         f"within {near_best}x the best SWD")


class Evaluator:
    """Scores a generator against a fixed real sample of a prepared cache.

    The split (and so the reference images) depends only on (cache size, n, seed); the real
    data's own figures are computed once and kept in `baseline_path` when given, so a resumed
    run does not recompute them.
    """

    CHUNK = 256  # generated images per forward pass

    def __init__(self, cache_path: str | os.PathLike[str], n: int, seed: int,
                 baseline_path: str | os.PathLike[str] | None = None):
        from dcgan.data.cache import CacheReader

        self.reader = CacheReader(cache_path)
        self.split = eval_split(len(self.reader), n, seed)
        self.reference = self.reader.read(self.split.reference)
        self.seed = seed
        self.baseline_path = baseline_path
        self._baseline: dict | None = None
        self._swd_reference: SwdReference | None = None  # made at the first evaluation

    def baseline(self) -> dict[str, float]:
        """{"swd_floor", "ms_ssim_real"} of this split, computed at most once."""
        if self._baseline is not None:
            return self._baseline
        from dcgan.runs.folder import read_json, write_json_atomic

        # "metrics" changes when the baseline gains a figure (2: the colour floor).
        key = {"count": len(self.reader), "n": self.split.size, "seed": self.seed,
               "metrics": 2}
        path = Path(self.baseline_path) if self.baseline_path is not None else None
        saved = read_json(path) if path is not None else None
        if isinstance(saved, dict) and saved.get("key") == key:
            self._baseline = saved["values"]
            return self._baseline
        self._baseline = real_baseline(self.reference, self.reader.read(self.split.floor),
                                       self.seed)
        if path is not None:
            write_json_atomic(path, {"key": key, "values": self._baseline})
        return self._baseline

    def quality(self, fake: np.ndarray) -> dict[str, float]:
        """`quality(fake, self.reference, seed)`, the same values, with the reference's side
        of SWD kept between calls and one pyramid of `fake` shared by SWD and colour."""
        if self._swd_reference is None:
            keep = 3 * SWD_DIRECTIONS * SWD_REPEATS \
                * SWD_PATCHES_PER_IMAGE * self.split.size * 4 <= SWD_SORTED_MAX_BYTES
            self._swd_reference = SwdReference(self.reference, self.seed, keep_sorted=keep)
        return quality(fake, self.reference, self.seed, prepared=self._swd_reference)

    def latents(self, latent_dim: int) -> np.ndarray:
        """The fixed (n, latent_dim) float32 noise every evaluation of a run uses."""
        return np.random.default_rng([self.seed, 0xFA4E]).standard_normal(
            (self.split.size, latent_dim)).astype(np.float32)

    def __call__(self, sample_fn, latent_dim: int) -> dict:
        """Score `sample_fn((k, latent) float32) -> (k, 64, 64, 3) uint8` against the reference.

        Returns SWD per level and mean, MS-SSIM, the floor and real MS-SSIM, the number of
        images, whether the reference was held out of training, and the seconds it took.
        """
        start = time.perf_counter()
        z = self.latents(latent_dim)
        fake = np.concatenate([sample_fn(z[i:i + self.CHUNK])
                               for i in range(0, len(z), self.CHUNK)])
        record = {**self.quality(fake), **self.baseline(),
                  "eval_images": self.split.size, "held_out": self.split.held_out}
        record["eval_seconds"] = time.perf_counter() - start
        return record
