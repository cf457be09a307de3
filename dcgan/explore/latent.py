"""Latent space tools: z from seeds, truncation, interpolation, directions (PCA, labelled).

Everything here is numpy; the generator is any callable `(N, latent) -> (N, 64, 64, 3)`
(or, for PCA directions, to the early activations), so the functions are tested on toy
generators.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

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


def truncate(z: np.ndarray, psi: float, threshold: float | None = None,
             seed: int = 0) -> np.ndarray:
    """Truncation trick: scale z toward the mean (0) by `psi` in [0, 1].

    With `threshold`, components whose magnitude exceeds it are resampled (deterministically
    from `seed`) until they fall inside, before scaling.
    """
    out = np.array(z, dtype=np.float32, copy=True)
    if threshold is not None:
        rng = np.random.default_rng([seed, 0x7A])
        mask = np.abs(out) > threshold
        while mask.any():
            out[mask] = rng.standard_normal(int(mask.sum())).astype(np.float32)
            mask = np.abs(out) > threshold
    return (out * np.float32(psi)).astype(np.float32)


def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=np.float32)[..., None] if np.ndim(t) else np.float32(t)
    return ((1 - t) * a + t * b).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation: follows the great circle, norms interpolate linearly."""
    t = np.asarray(t, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua, ub = a / na, b / nb
    omega = np.arccos(np.clip(np.dot(ua, ub), -1.0, 1.0))
    if omega < 1e-6:
        return lerp(a, b, t)
    ts = t[..., None] if t.ndim else t
    direction = (np.sin((1 - ts) * omega) * ua + np.sin(ts * omega) * ub) / np.sin(omega)
    norm = (1 - ts) * na + ts * nb
    return (direction * norm).astype(np.float32)


def interpolate(keyframes: np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """(K, latent) keyframes -> (steps, latent) path through all of them, ends included."""
    keyframes = np.asarray(keyframes, dtype=np.float32)
    if len(keyframes) < 2 or steps < 2:
        raise ValueError("interpolation needs at least 2 keyframes and 2 steps")
    fn = slerp if method == "slerp" else lerp
    positions = np.linspace(0.0, len(keyframes) - 1, steps)
    out = []
    for p in positions:
        i = min(int(p), len(keyframes) - 2)
        out.append(fn(keyframes[i], keyframes[i + 1], float(p - i)))
    return np.stack(out).astype(np.float32)


def pca_directions(features_fn: Callable[[np.ndarray], np.ndarray], latent_dim: int,
                   samples: int = 2000, components: int = 10, seed: int = 0,
                   batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """GANSpace: principal directions of early generator activations, mapped back to z.

    The activations of `samples` random z are reduced by PCA; each principal component is
    mapped to latent space by linear regression of z on the component scores (the z-space
    direction that moves the activations along it). Returns (directions (C, latent), unit
    norm, ranked by explained variance; explained variance ratio (C,)).
    """
    rng = np.random.default_rng([seed, 0x6A])
    z = rng.standard_normal((samples, latent_dim)).astype(np.float32)
    feats = np.concatenate([np.asarray(features_fn(z[i:i + batch]), np.float64)
                            .reshape(len(z[i:i + batch]), -1) for i in range(0, samples, batch)])
    feats -= feats.mean(axis=0)
    components = min(components, latent_dim, samples - 1)
    s, vt = top_singular(feats, components, seed)
    scores = feats @ vt.T  # (samples, C)
    # z ~ scores @ W: least squares, then each row of W is a component's z direction.
    weights, *_ = np.linalg.lstsq(scores, z - z.mean(axis=0), rcond=None)
    directions = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    total = float(np.square(feats).sum())  # = the sum of every squared singular value
    return directions.astype(np.float32), (s**2 / total).astype(np.float32)


def top_singular(a: np.ndarray, k: int, seed: int = 0, oversample: int = 10,
                 power_iterations: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The k largest singular values of `a` (m, n) and their right singular vectors (k, n).

    Randomised (Halko, Martinsson and Tropp 2011): a range found from k + oversample random
    projections, sharpened by power iterations, then an exact SVD of that small subspace. For
    a 2,000 x 4,096 activation matrix it takes ~0.1 s where the full SVD takes ~5 s on two
    cores (and several times longer beside a training job), with the same leading components.
    """
    if min(a.shape) <= k + oversample:
        _, s, vt = np.linalg.svd(a, full_matrices=False)
        return s[:k], vt[:k]
    rng = np.random.default_rng([seed, 0x5D])
    q, _ = np.linalg.qr(a @ rng.standard_normal((a.shape[1], k + oversample)))
    for _ in range(power_iterations):
        q, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ q)
    _, s, vt = np.linalg.svd(q.T @ a, full_matrices=False)
    return s[:k], vt[:k]


PCA_SAMPLES = 2000  # samples and components of the directions Explore shows and bundles keep
PCA_COMPONENTS = 8
PCA_CACHE_FILES = 64  # newest kept; one is ~4 KB per 100-d latent


def pca_cache_file(folder: Path, source: Path, samples: int, components: int) -> Path:
    """Where the PCA directions of the generator stored in `source` (a checkpoint or a
    .keras file) are kept: named by its path, size and modification time, so a new file
    under the same name is never served old directions."""
    stat = source.stat()
    key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{samples}|{components}|v1"
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def load_pca(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Directions and explained variance saved by `save_pca`; None when absent or broken."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["directions"], data["explained"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def save_pca(path: Path, directions: np.ndarray, explained: np.ndarray) -> None:
    """Write atomically, then keep only the PCA_CACHE_FILES newest files of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, directions=directions, explained=explained)
    os.replace(tmp, path)
    dated = []
    for file in path.parent.glob("*.npz"):
        try:
            dated.append((file.stat().st_mtime_ns, file))
        except OSError:  # pruned by another session meanwhile
            continue
    for _, old in sorted(dated)[:-PCA_CACHE_FILES]:
        old.unlink(missing_ok=True)


def labelled_direction(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit direction from samples without the attribute to samples with it.

    The difference of class means, whitened by the pooled covariance (a linear
    discriminant, ridge-regularised); falls back to the plain mean difference when one
    class is small. `labels` holds 1 (has the attribute) or 0.
    """
    z = np.asarray(z, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("label at least one sample with and one without the attribute")
    pos, neg = z[labels], z[~labels]
    diff = pos.mean(axis=0) - neg.mean(axis=0)
    if min(len(pos), len(neg)) >= 3:
        centred = np.concatenate([pos - pos.mean(axis=0), neg - neg.mean(axis=0)])
        cov = centred.T @ centred / max(len(centred) - 2, 1)
        cov += np.eye(z.shape[1]) * (np.trace(cov) / z.shape[1])  # ridge: few labels
        diff = np.linalg.solve(cov, diff)
    return (diff / np.linalg.norm(diff)).astype(np.float32)


def apply_directions(z: np.ndarray, directions: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """z + sum_i amounts[i] * directions[i] (directions unit-norm, amounts in sigma units)."""
    return (np.asarray(z, np.float32) + np.asarray(amounts, np.float32) @ directions).astype(
        np.float32)
