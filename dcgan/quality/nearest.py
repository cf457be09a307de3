"""Memorisation checks in pixel space: a sample's nearest training images, and how far each
image of a set is from its nearest neighbour (copies of training faces show up as small
distances against held-out real images' own)."""

from __future__ import annotations

import os

import numpy as np


def nearest_images(image: np.ndarray, cache_path: str | os.PathLike[str], k: int = 6,
                   chunk: int = 2048) -> list[tuple[int, float]]:
    """The `k` cache rows closest to one (64, 64, 3) uint8 image in pixel space.

    Returns [(row, RMS distance in grey levels 0-255)], nearest first. The cache is read in
    chunks, so memory stays small on large datasets.
    """
    from dcgan.data.cache import CacheReader

    reader = CacheReader(cache_path)
    if reader.shape[1:] != image.shape:
        raise ValueError(f"image shape {image.shape} does not match the cache's "
                         f"{reader.shape[1:]}")
    target = image.astype(np.float32).reshape(1, -1)
    best_rows, best_dist = np.empty(0, np.int64), np.empty(0, np.float32)
    for start in range(0, len(reader), chunk):
        rows = np.arange(start, min(start + chunk, len(reader)))
        block = reader.read(rows).reshape(len(rows), -1).astype(np.float32)
        dist = np.sqrt(np.mean((block - target) ** 2, axis=1))
        best_rows = np.concatenate([best_rows, rows])
        best_dist = np.concatenate([best_dist, dist])
        keep = np.argsort(best_dist, kind="stable")[:k]
        best_rows, best_dist = best_rows[keep], best_dist[keep]
    return [(int(r), float(d)) for r, d in zip(best_rows, best_dist, strict=True)]


def nearest_distances(queries: np.ndarray, pool: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """(N,) RMS distance in grey levels from each of (N, H, W, C) `queries` to its nearest
    image in (M, H, W, C) `pool` (pixel space; ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b)."""
    q = queries.reshape(len(queries), -1).astype(np.float32)
    best = np.full(len(q), np.inf, np.float32)
    q_sq = np.sum(q * q, axis=1)
    for start in range(0, len(pool), chunk):
        p = pool[start:start + chunk].reshape(-1, q.shape[1]).astype(np.float32)
        d2 = q_sq[:, None] + np.sum(p * p, axis=1)[None, :] - 2.0 * (q @ p.T)
        best = np.minimum(best, d2.min(axis=1))
    return np.sqrt(np.maximum(best, 0.0) / q.shape[1])


def nearest_other(images: np.ndarray) -> np.ndarray:
    """(N,) RMS distance in grey levels from each image of a set to its nearest *other* image.

    Low values among generated samples, against the same for as many real images, mean
    recurring look-alikes (a milder form of mode collapse than MS-SSIM sees).
    """
    flat = images.reshape(len(images), -1).astype(np.float64)
    sq = np.sum(flat * flat, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (flat @ flat.T)
    np.fill_diagonal(d2, np.inf)
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0) / flat.shape[1]).astype(np.float32)
