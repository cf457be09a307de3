"""Sample quality: sliced Wasserstein distance on Laplacian pyramids, MS-SSIM diversity.

SWD follows ProGAN (Karras et al. 2018): each image becomes a Laplacian pyramid (64, 32, 16
pixels), 128 random 7x7 neighbourhoods per image and level are the descriptors, each set's
descriptors are normalised per colour channel, and the distance between two sets is the mean
over random unit directions of the 1-D Wasserstein distance between their projections
(sorted values compared rank by rank). Reported x1e3 per level and averaged. Lower is
closer; two samples of the same distribution give the "floor", not 0.

Because each set is normalised by its own per-channel mean and spread, a uniform change of
brightness or contrast is invisible to SWD by design: it measures local structure (edges,
texture, colour correlations), not global exposure.

SWD therefore gets a colour term beside it: `color_distance`, the sliced Wasserstein distance
between the two sets' pixel colours at 16x16 (the pyramid's low-pass level) with no
normalisation, in grey levels. Wrong hues, tinted backgrounds or washed-out contrast move it;
it has its own real-vs-real floor.

MS-SSIM diversity is the mean multi-scale SSIM over random pairs of images of one set: a
collapsed generator draws near-identical faces, so its value rises far above the real data's.

NumPy only at import time; TensorFlow is imported inside `ms_ssim_diversity`.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SWD_PATCH = 7  # neighbourhood side
SWD_PATCHES_PER_IMAGE = 128
SWD_DIRECTIONS = 128  # random projections per repeat
SWD_REPEATS = 4
SWD_MIN_SIZE = 16  # the coarsest pyramid level: 64 -> 32 -> 16
# An Evaluator keeps the reference's sorted projections up to this size (n = 512 needs
# 400 MB), its descriptors beyond it.
SWD_SORTED_MAX_BYTES = 512 << 20
_BINOMIAL = np.array([1, 4, 6, 4, 1], np.float32) / 16.0

# tf.image.ssim_multiscale's defaults (5 scales, 11x11 Gaussian) fail on 64x64 images: the
# fifth scale is 4x4, smaller than the filter. We use 4 scales (64, 32, 16, 8) with a 7x7
# Gaussian (sigma 1.5, +-2 sigma) and the first four of the standard weights of Wang et al.
# 2003, renormalised to sum to 1.
MS_SSIM_FILTER = 7
MS_SSIM_WEIGHTS = tuple(w / sum((0.0448, 0.2856, 0.3001, 0.2363))
                        for w in (0.0448, 0.2856, 0.3001, 0.2363))


# --- Laplacian pyramid -------------------------------------------------------------------
def _blur(x: np.ndarray) -> np.ndarray:
    """Separable 5-tap binomial filter over axes 1 and 2 of (N, H, W, C), reflect padding."""
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (2, 2), (0, 0), (0, 0)), mode="reflect")
    x = sum(weight * padded[:, k:k + h] for k, weight in enumerate(_BINOMIAL))
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (0, 0)), mode="reflect")
    return sum(weight * padded[:, :, k:k + w] for k, weight in enumerate(_BINOMIAL))


def _downsample(x: np.ndarray) -> np.ndarray:
    return _blur(x)[:, ::2, ::2]


def _upsample(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    up = np.zeros((n, 2 * h, 2 * w, c), np.float32)
    up[:, ::2, ::2] = x
    return _blur(up) * 4.0


def laplacian_pyramid(images: np.ndarray, min_size: int = SWD_MIN_SIZE) -> list[np.ndarray]:
    """(N, H, W, C) uint8 or float -> float32 levels, finest first; the last is low-pass.

    For 64x64 images and min_size 16: band-pass 64x64, band-pass 32x32, low-pass 16x16.
    """
    current = images.astype(np.float32)
    levels = []
    while current.shape[1] > min_size:
        smaller = _downsample(current)
        levels.append(current - _upsample(smaller))
        current = smaller
    levels.append(current)
    return levels


# --- sliced Wasserstein distance ---------------------------------------------------------
def patch_descriptors(level: np.ndarray, rng: np.random.Generator,
                      per_image: int = SWD_PATCHES_PER_IMAGE,
                      size: int = SWD_PATCH) -> np.ndarray:
    """(N, H, W, C) -> (N * per_image, size * size * C) random neighbourhoods, normalised.

    Normalised per channel over all descriptors of the set (mean 0, std 1), as in ProGAN.
    """
    n, h, w, c = level.shape
    ys = rng.integers(0, h - size + 1, (n, per_image))
    xs = rng.integers(0, w - size + 1, (n, per_image))
    windows = np.lib.stride_tricks.sliding_window_view(level, (size, size), axis=(1, 2))
    patches = windows[np.arange(n)[:, None], ys, xs]  # (N, per_image, C, size, size)
    patches = np.moveaxis(patches, 2, -1)
    patches = patches.reshape(-1, size * size, c)
    patches -= patches.mean(axis=(0, 1), keepdims=True)
    patches /= patches.std(axis=(0, 1), keepdims=True) + 1e-8
    return patches.reshape(len(patches), -1)


def _projected_w1(a: np.ndarray, b: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Per direction (columns of dirs), mean |sorted(a . d) - sorted(b . d)|."""
    return _w1_of_sorted(_sorted_projection(a, dirs), _sorted_projection(b, dirs))


def _sorted_projection(x: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """(directions, M): the projections of (M, D) points on each direction, each row sorted."""
    return np.sort(dirs.T @ x.T, axis=1)


def _w1_of_sorted(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(pa - pb), axis=1)


def _direction_blocks(dim: int, rng: np.random.Generator, directions: int = SWD_DIRECTIONS,
                      repeats: int = SWD_REPEATS) -> list[np.ndarray]:
    """Random unit directions (columns) in blocks of 32, one block per task of the pool."""
    dirs = rng.standard_normal((dim, directions * repeats)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    return np.array_split(dirs, max(1, directions * repeats // 32), axis=1)


def _pool_map(fn, items) -> list:
    """fn over items on all cores (NumPy's matmul and sort release the GIL)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(fn, items))


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
                       directions: int = SWD_DIRECTIONS, repeats: int = SWD_REPEATS) -> float:
    """Mean 1-D Wasserstein-1 distance between (M, D) descriptor sets over random directions.

    Directions are unit vectors drawn from `rng`; blocks of them are projected and sorted on
    all cores.
    """
    if a.shape != b.shape:
        raise ValueError(f"descriptor sets differ in shape: {a.shape} vs {b.shape}")
    blocks = _direction_blocks(a.shape[1], rng, directions, repeats)
    return float(np.mean(np.concatenate(_pool_map(lambda d: _projected_w1(a, b, d), blocks))))


class SwdReference:
    """The real side of `swd` against a fixed set, computed once: what an evaluation repeats.

    Holds per pyramid level the random directions and the reference's sorted projections on
    them (with `keep_sorted`; otherwise its descriptors, projected again each time), and the
    low-pass level for `color_distance`. `distance(fake)` equals `swd(fake, images, seed)`
    exactly for a fake set of the same size (tested). Memory with `keep_sorted`: 3 levels x
    512 directions x 128 n floats (400 MB at n = 512); descriptors: 3 x 128 n x 147 floats.
    """

    def __init__(self, images: np.ndarray, seed: int = 0, keep_sorted: bool = True):
        self.n, self.seed, self.keep_sorted = len(images), seed, keep_sorted
        pyramid = laplacian_pyramid(images)
        self.low_pass = pyramid[-1]
        self.levels = []  # (side, direction blocks, sorted projections or descriptors)
        for level, band in enumerate(pyramid):
            desc = patch_descriptors(band, np.random.default_rng([seed, level, 0x9A]))
            blocks = _direction_blocks(desc.shape[1], np.random.default_rng([seed, level, 0xD1]))
            kept = _pool_map(lambda d, x=desc: _sorted_projection(x, d), blocks) \
                if keep_sorted else desc
            self.levels.append((band.shape[1], blocks, kept))

    def distance(self, images: np.ndarray, pyramid: list[np.ndarray] | None = None) -> dict:
        """SWD x1e3 of `images` (or of their `pyramid`) to the reference: per level, mean."""
        if len(images) != self.n:
            raise ValueError(f"SWD against a reference of {self.n} images needs {self.n}, "
                             f"got {len(images)}")
        pyramid = laplacian_pyramid(images) if pyramid is None else pyramid
        out = {}
        for level, (band, (side, blocks, kept)) in enumerate(zip(pyramid, self.levels,
                                                                 strict=True)):
            desc = patch_descriptors(band, np.random.default_rng([self.seed, level, 0x9A]))
            if self.keep_sorted:
                per_direction = _pool_map(
                    lambda pair, x=desc: _w1_of_sorted(_sorted_projection(x, pair[0]), pair[1]),
                    list(zip(blocks, kept, strict=True)))
            else:
                per_direction = _pool_map(lambda d, x=desc, y=kept: _projected_w1(x, y, d),
                                          blocks)
            out[f"swd_{side}"] = 1e3 * float(np.mean(np.concatenate(per_direction)))
        out["swd"] = float(np.mean(list(out.values())))
        return out


def swd(images_a: np.ndarray, images_b: np.ndarray, seed: int = 0) -> dict[str, float]:
    """SWD x1e3 between two (N, 64, 64, 3) uint8 sets, per level and averaged.

    Returns {"swd_64": .., "swd_32": .., "swd_16": .., "swd": mean of the levels}. The
    larger set is subsampled to the smaller one's size (the sorted projections are compared
    rank by rank). Both sets are cut at the same random positions and projected on the same
    random directions, all drawn from `seed`, so identical sets give exactly 0.
    """
    n = min(len(images_a), len(images_b))
    if n < 2:
        raise ValueError("SWD needs at least 2 images in each set")
    pick = np.random.default_rng([seed, 0x5D])
    if len(images_a) > n:
        images_a = images_a[np.sort(pick.choice(len(images_a), n, replace=False))]
    if len(images_b) > n:
        images_b = images_b[np.sort(pick.choice(len(images_b), n, replace=False))]
    return SwdReference(images_b, seed, keep_sorted=False).distance(images_a)


COLOR_DIRECTIONS = 64


def color_distance(images_a: np.ndarray, images_b: np.ndarray, seed: int = 0,
                   low_passes: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Sliced W1 between the RGB values of two (N, 64, 64, 3) sets at 16x16, in grey levels.

    Each image is low-passed to 16x16 (as the SWD pyramid's last level) and every pixel is a
    3-D colour point, unnormalised; the larger set is subsampled to the smaller one's size.
    0 for identical sets; compare with the floor of two real samples. `low_passes` gives
    both sets' low-pass levels when already computed (sets of equal size).
    """
    n = min(len(images_a), len(images_b))
    if n < 2:
        raise ValueError("the colour distance needs at least 2 images in each set")
    if low_passes is None:
        pick = np.random.default_rng([seed, 0xC0])
        low_passes = tuple(laplacian_pyramid(
            images[np.sort(pick.choice(len(images), n, replace=False))] if len(images) > n
            else images)[-1] for images in (images_a, images_b))
    points = [low.reshape(-1, low.shape[-1]) for low in low_passes]
    dirs = np.random.default_rng([seed, 0xC1]).standard_normal(
        (points[0].shape[1], COLOR_DIRECTIONS)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    return float(np.mean(_projected_w1(points[0], points[1], dirs)))


# --- MS-SSIM diversity ---------------------------------------------------------------------
def random_pairs(count: int, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """(pairs, 2) indices of distinct images."""
    if count < 2:
        raise ValueError("MS-SSIM diversity needs at least 2 images")
    first = rng.integers(0, count, pairs)
    second = (first + rng.integers(1, count, pairs)) % count  # never equal to first
    return np.stack([first, second], axis=1)


def ms_ssim_diversity(images: np.ndarray, pairs: int = 1000, seed: int = 0,
                      chunk: int = 500) -> float:
    """Mean MS-SSIM over random distinct pairs of (N, 64, 64, 3) uint8 images, in [0, 1].

    Higher means more alike: real portraits score low, a collapsed generator near 1.
    """
    import tensorflow as tf

    index = random_pairs(len(images), pairs, np.random.default_rng([seed, 0x55]))
    scores = []
    for start in range(0, len(index), chunk):
        part = index[start:start + chunk]
        a = tf.constant(images[part[:, 0]], tf.float32)
        b = tf.constant(images[part[:, 1]], tf.float32)
        scores.append(tf.image.ssim_multiscale(
            a, b, max_val=255.0, power_factors=MS_SSIM_WEIGHTS,
            filter_size=MS_SSIM_FILTER).numpy())
    return float(np.mean(np.concatenate(scores)))


# --- evaluation against a real reference ---------------------------------------------------
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


def quality(fake: np.ndarray, reference: np.ndarray, seed: int = 0, pairs: int = 1000,
            prepared: SwdReference | None = None) -> dict[str, float]:
    """SWD (per level and mean), colour distance of `fake` to `reference`; MS-SSIM of `fake`.

    `prepared`, the SwdReference of `reference` (same seed and size as `fake`), saves its
    side of SWD; `fake`'s pyramid is then shared by SWD and colour. Same values either way.
    """
    if prepared is None:
        swd_part, low_passes = swd(fake, reference, seed), None
    else:
        pyramid = laplacian_pyramid(fake)
        swd_part, low_passes = prepared.distance(fake, pyramid), (pyramid[-1], prepared.low_pass)
    return {**swd_part, "color_dist": color_distance(fake, reference, seed, low_passes),
            "ms_ssim": ms_ssim_diversity(fake, pairs, seed)}


def real_baseline(reference: np.ndarray, floor: np.ndarray, seed: int = 0,
                  pairs: int = 1000) -> dict[str, float]:
    """The real data's own figures: SWD and colour floors (two disjoint real samples), MS-SSIM."""
    return {"swd_floor": swd(floor, reference, seed)["swd"],
            "color_dist_floor": color_distance(floor, reference, seed),
            "ms_ssim_real": ms_ssim_diversity(reference, pairs, seed)}


# --- memorisation check --------------------------------------------------------------------
def nearest_images(image: np.ndarray, cache_path: str | os.PathLike[str], k: int = 6,
                   chunk: int = 2048) -> list[tuple[int, float]]:
    """The `k` cache rows closest to one (64, 64, 3) uint8 image in pixel space.

    Returns [(row, RMS distance in grey levels 0-255)], nearest first. The cache is read in
    chunks, so memory stays small on large datasets.
    """
    from dcgan.pipeline import CacheReader

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


def describe(record: dict) -> str:
    """One line: 'SWD 41.2 (floor 9.8), colour 3.1 (floor 0.8), MS-SSIM 0.21 (real 0.18)'."""
    parts = [f"SWD {record['swd']:.1f}"]
    if "swd_floor" in record:
        parts[0] += f" (floor {record['swd_floor']:.1f})"
    if "color_dist" in record:
        parts.append(f"colour {record['color_dist']:.1f}")
        if "color_dist_floor" in record:
            parts[-1] += f" (floor {record['color_dist_floor']:.1f})"
    if "ms_ssim" in record:
        text = f"MS-SSIM {record['ms_ssim']:.3f}"
        if "ms_ssim_real" in record:
            text += f" (real {record['ms_ssim_real']:.3f})"
        parts.append(text)
    return ", ".join(parts)



# --- scoring a generator -----------------------------------------------------------------
class Evaluator:
    """Scores a generator against a fixed real sample of a prepared cache.

    The split (and so the reference images) depends only on (cache size, n, seed); the real
    data's own figures are computed once and kept in `baseline_path` when given, so a resumed
    run does not recompute them.
    """

    CHUNK = 256  # generated images per forward pass

    def __init__(self, cache_path: str | os.PathLike[str], n: int, seed: int,
                 baseline_path: str | os.PathLike[str] | None = None):
        from dcgan.pipeline import CacheReader

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
        from dcgan.runs import read_json, write_json_atomic

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
