"""Differentiable augmentation of the images the discriminator sees (DiffAugment / ADA).

Every image D sees, real or generated, in both the D and the G update, goes through the same
random transforms, written in TensorFlow ops so that the generator's gradient flows through
them (Zhao et al. 2020, "Differentiable Augmentation"; Karras et al. 2020, "ADA"). Each
transform is applied to each image with probability p: p = 1 is DiffAugment, an adaptive p
is ADA. Transforms (a policy is a comma-separated subset):

- color: brightness +-1/4 of the pixel range, saturation x[0, 2], contrast x[0.5, 1.5]
  (each its own coin);
- translation: a shift of up to 1/8 of the side in x and y, mid-grey fill;
- cutout: a mid-grey square of half the side at a random centre.

Randomness comes in as a (B, UNIFORMS) tensor of U[0, 1) draws, one row per image, made by
the trainer from a stateless seed and sliced per replica: a step augments the same way on
one device or many, and a resumed run augments exactly as an uninterrupted one.

The adaptive p follows ADA's overfitting heuristic r_t = E[sign(D(real))]: above the target,
D is too sure of the training images, so p rises; below, it falls. `adapt_p` moves p by
batch / ada_images per step in the direction of sign(r_t - target).

The transforms' names and parse_policy live in dcgan.config (validation reads them).
"""

from __future__ import annotations

TRANSLATE_FRACTION = 0.125
CUTOUT_FRACTION = 0.5
# Columns of the uniforms tensor: a coin and the parameters of each transform.
(BRIGHT_COIN, BRIGHT, SAT_COIN, SAT, CONTRAST_COIN, CONTRAST,
 SHIFT_COIN, SHIFT_X, SHIFT_Y, CUT_COIN, CUT_X, CUT_Y) = range(12)
UNIFORMS = 12


def adapt_p(p, rt, target: float, batch: int, ada_images: int):
    """ADA's update, in TensorFlow (the train loop runs it on the device): float64 p moves by
    batch / ada_images towards more augmentation when rt > target, less when below, in [0, 1]."""
    import tensorflow as tf

    def as_float64(x):  # a Python float exactly, a float32 tensor (D's r_t) widened
        return tf.cast(x, tf.float64) if tf.is_tensor(x) else tf.constant(x, tf.float64)

    move = tf.sign(as_float64(rt) - target) * (batch / ada_images)
    return tf.clip_by_value(as_float64(p) + move, 0.0, 1.0)


def augment(images, uniforms, p, policy: tuple[str, ...], value_range=(-1.0, 1.0)):
    """Augment (B, H, W, C) float images in value_range; `uniforms` (B, UNIFORMS) in [0, 1).

    `p` (a scalar, Python or tensor) is the probability of each transform for each image.
    Differentiable in `images` (gather and arithmetic only). Returns the same shape and dtype.
    """
    import tensorflow as tf

    dtype = images.dtype
    x = tf.cast(images, tf.float32)
    u = tf.cast(uniforms, tf.float32)
    p = tf.cast(p, tf.float32)
    lo, hi = value_range
    mid, span = (lo + hi) / 2.0, hi - lo

    def coin(column):
        return tf.reshape(tf.cast(u[:, column] < p, tf.float32), [-1, 1, 1, 1])

    def param(column):
        return tf.reshape(u[:, column], [-1, 1, 1, 1])

    if "color" in policy:
        x = x + coin(BRIGHT_COIN) * (param(BRIGHT) - 0.5) * (span / 2.0)
        grey = tf.reduce_mean(x, axis=3, keepdims=True)
        x = grey + (x - grey) * (1.0 + coin(SAT_COIN) * (2.0 * param(SAT) - 1.0))
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = mean + (x - mean) * (1.0 + coin(CONTRAST_COIN) * (param(CONTRAST) - 0.5))
    if "translation" in policy:
        x = _translate(x, u, p, mid)
    if "cutout" in policy:
        x = _cutout(x, u, p, mid)
    return tf.cast(x, dtype)


def _translate(x, u, p, fill: float):
    """Shift each image by an integer (dy, dx) in [-s, s], s = 1/8 of the side; fill outside."""
    import tensorflow as tf

    size = x.shape[1]
    s = max(1, round(size * TRANSLATE_FRACTION))
    on = tf.cast(u[:, SHIFT_COIN] < p, tf.int32)
    shift_y = on * (tf.cast(tf.floor(u[:, SHIFT_Y] * (2 * s + 1)), tf.int32) - s)
    shift_x = on * (tf.cast(tf.floor(u[:, SHIFT_X] * (2 * s + 1)), tf.int32) - s)
    padded = tf.pad(x, [[0, 0], [s, s], [s, s], [0, 0]], constant_values=fill)
    grid = tf.range(size, dtype=tf.int32)[None, :] + s  # output pixel -> padded pixel
    rows = tf.clip_by_value(grid - shift_y[:, None], 0, size + 2 * s - 1)
    cols = tf.clip_by_value(grid - shift_x[:, None], 0, size + 2 * s - 1)
    out = tf.gather(padded, rows, axis=1, batch_dims=1)  # (B, H, W + 2s, C)
    return tf.gather(out, cols, axis=2, batch_dims=1)  # (B, H, W, C)


def _cutout(x, u, p, fill: float):
    """Replace a square of half the side, centred at a random pixel, by `fill`."""
    import tensorflow as tf

    size = x.shape[1]
    half = int(size * CUTOUT_FRACTION) // 2
    on = tf.reshape(u[:, CUT_COIN] < p, [-1, 1, 1])
    cy = tf.floor(u[:, CUT_Y] * size)[:, None, None]
    cx = tf.floor(u[:, CUT_X] * size)[:, None, None]
    grid = tf.range(size, dtype=tf.float32)
    inside = (tf.abs(grid[None, :, None] - cy) < half) & (tf.abs(grid[None, None, :] - cx) < half)
    mask = tf.cast(inside & on, tf.float32)[..., None]  # (B, H, W, 1)
    return x * (1.0 - mask) + fill * mask
