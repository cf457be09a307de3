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

NumPy only: no TensorFlow.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

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


def diversity_pairs(count: int, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """(P, 2) indices of the pairs MS-SSIM diversity averages: every distinct pair where
    there are no more than `pairs` of them (8 images have 28: the exact mean, and 35x less
    work than 1,000 draws), else `pairs` random distinct pairs."""
    if count < 2:
        raise ValueError("MS-SSIM diversity needs at least 2 images")
    if count * (count - 1) // 2 <= pairs:
        return np.stack(np.triu_indices(count, 1), axis=1)
    return random_pairs(count, pairs, rng)


@functools.lru_cache(maxsize=8)
def _gauss_valid(size: int, taps: int = MS_SSIM_FILTER, sigma: float = 1.5) -> np.ndarray:
    """(size - taps + 1, size) matrix: a 1-D normalised Gaussian filter, 'valid' positions."""
    g = np.exp(-0.5 * ((np.arange(taps) - (taps - 1) / 2.0) / sigma) ** 2)
    g /= g.sum()
    out = np.zeros((size - taps + 1, size), np.float32)
    for i in range(size - taps + 1):
        out[i, i:i + taps] = g
    return out


def _filter2d(x: np.ndarray) -> np.ndarray:
    """The separable Gaussian over axes 0 and 1 of (H, W, B), 'valid': one GEMM along H,
    then one batched matmul along W (B = images x channels, the long side of both)."""
    h, w, batch = x.shape
    gh, gw = _gauss_valid(h), _gauss_valid(w)
    y = (gh @ x.reshape(h, w * batch)).reshape(-1, w, batch)  # (h', W, B)
    return np.matmul(gw, y)  # (h', w', B)


def ms_ssim(a: np.ndarray, b: np.ndarray, max_val: float = 255.0) -> np.ndarray:
    """(N,) multi-scale SSIM of image pairs (a[i], b[i]), (N, 64, 64, 3) in [0, max_val].

    tf.image.ssim_multiscale's computation in NumPy (float32; the same values within 1e-5,
    1e-4 for a pair whose coarsest term is near 0) with
    this module's MS_SSIM_FILTER and MS_SSIM_WEIGHTS: 4 scales, 2x2 average pooling between
    them, luminance only at the coarsest, the product of each scale's term to its weight,
    averaged over colour channels. Several times faster than TensorFlow's on a CPU.
    """
    n, h, w, c = a.shape
    # (H, W, N * C): the filters run as a few large matrix products
    x, y = (v.astype(np.float32).transpose(1, 2, 0, 3).reshape(h, w, n * c) for v in (a, b))
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    terms = []
    for scale in range(len(MS_SSIM_WEIGHTS)):
        if scale:
            x, y = (v.reshape(v.shape[0] // 2, 2, v.shape[1] // 2, 2, -1).mean(axis=(1, 3))
                    for v in (x, y))
        mx, my = _filter2d(x), _filter2d(y)
        num0, den0 = 2.0 * mx * my, mx * mx + my * my
        cs = (2.0 * _filter2d(x * y) - num0 + c2) / (_filter2d(x * x + y * y) - den0 + c2)
        if scale == len(MS_SSIM_WEIGHTS) - 1:  # the coarsest scale: luminance too
            cs = cs * (num0 + c1) / (den0 + c1)
        terms.append(np.maximum(cs.mean(axis=(0, 1)), 0.0))
    per_channel = np.prod([t ** w for t, w in zip(terms, MS_SSIM_WEIGHTS, strict=True)], axis=0)
    return per_channel.reshape(n, c).mean(axis=-1)


def ms_ssim_diversity(images: np.ndarray, pairs: int = 1000, seed: int = 0,
                      chunk: int = 250) -> float:
    """Mean MS-SSIM over `pairs` random distinct pairs of (N, 64, 64, 3) uint8 images (over
    all of them where N images have fewer), in [0, 1].

    Higher means more alike: real portraits score low, a collapsed generator near 1.
    """
    index = diversity_pairs(len(images), pairs, np.random.default_rng([seed, 0x55]))
    scores = [ms_ssim(images[part[:, 0]], images[part[:, 1]])
              for part in (index[start:start + chunk] for start in range(0, len(index), chunk))]
    return float(np.mean(np.concatenate(scores)))


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
