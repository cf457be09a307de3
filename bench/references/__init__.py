"""Reference DCGANs for the time-to-quality benchmark, written in this project's own code.

Each module models a well-known public example and exposes `build(images, batch_size, seed)`
returning a `Reference`: its train step over an in-memory uint8 dataset, a sampler, and the
FLOPs one step costs per image. They are here to be compared with, not used by the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Reference:
    name: str
    description: str
    batch_size: int
    latent_dim: int
    step: Callable[[], None]  # one training iteration (one D and one G update)
    sample: Callable[[np.ndarray], np.ndarray]  # (k, latent) float32 -> (k, 64, 64, 3) uint8
    flops_per_image: float  # per training iteration, multiply-adds x 2
    generator: object
    discriminator: object


def image_batches(images: np.ndarray, batch_size: int, seed: int, value_range: tuple):
    """An endless iterator of shuffled float32 batches scaled to value_range (tf.data)."""
    import tensorflow as tf

    lo, hi = value_range
    data = tf.data.Dataset.from_tensor_slices(images).shuffle(
        min(len(images), 10_000), seed=seed, reshuffle_each_iteration=True).repeat()
    data = data.batch(batch_size, drop_remainder=True).map(
        lambda x: tf.cast(x, tf.float32) * ((hi - lo) / 255.0) + lo,
        num_parallel_calls=tf.data.AUTOTUNE)
    return iter(data.prefetch(tf.data.AUTOTUNE))


def make_reference(name: str, description: str, generator, discriminator, train_step,
                   batches, batch_size: int, value_range: tuple, g_passes: int) -> Reference:
    """Wrap a built reference: its step on the next batch, a compiled sampler, its FLOPs.

    FLOPs per image and iteration = g_passes x G + 8 x D (one G pass = one forward; see each
    module's docstring for the count).
    """
    import tensorflow as tf

    from dcgan.data.images import to_uint8
    from dcgan.train.models import conv_flops

    forward = tf.function(lambda z: generator(z, training=False), reduce_retracing=True)
    return Reference(
        name=name, description=description, batch_size=batch_size,
        latent_dim=int(generator.inputs[0].shape[-1]),
        step=lambda: train_step(next(batches)),
        sample=lambda z: to_uint8(forward(tf.constant(z)).numpy(), value_range),
        flops_per_image=g_passes * conv_flops(generator) + 8 * conv_flops(discriminator),
        generator=generator, discriminator=discriminator)
