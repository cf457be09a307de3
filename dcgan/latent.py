"""Latent vectors: z from an integer seed (the same seed gives the same portrait anywhere)."""

from __future__ import annotations

import numpy as np


def z_from_seed(seed: int, latent_dim: int) -> np.ndarray:
    """(latent_dim,) float32 standard normal vector determined by `seed` alone."""
    return np.random.default_rng([int(seed), 0x2A]).standard_normal(latent_dim).astype(
        np.float32)


def z_from_seeds(seeds: list[int], latent_dim: int) -> np.ndarray:
    """(len(seeds), latent_dim) float32: row i is z_from_seed(seeds[i])."""
    return np.stack([z_from_seed(s, latent_dim) for s in seeds])


def parse_seeds(text: str) -> list[int]:
    """'1-4,9' -> [1, 2, 3, 4, 9] (seeds are >= 0); raises ValueError on malformed input."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if first < 0 or last < first or last - first > 10_000:
            raise ValueError(f"bad seed range {part!r}")
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise ValueError("no seeds given")
    return seeds
