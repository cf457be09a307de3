"""An exponential moving average of the generator's weights (Karras et al., ProGAN/StyleGAN).

After each generator update the copy moves towards the trained generator:
    ema <- beta * ema + (1 - beta) * g,   beta = 0.5 ** (images / half_life)
where `images` are those the discriminator saw since the previous update (batch x n_critic;
with several generator updates per step the copy still moves once per step), so a change of
the trained weights is half taken up after `half_life` of the run's images, whatever the
ratio of critic to generator updates. During the
warm-up the half-life is capped at `rampup` x the images seen so far (StyleGAN2's ramp): early
weights, far from any good generator, are forgotten quickly.

Batch-norm statistics (moving mean and variance) are averaged with the same beta as the
weights rather than copied from the trained generator or recomputed. Copying pairs the EMA
weights with statistics of other weights; recomputing costs extra forward passes at every
use. To first order in the weight change the activations' mean and variance are linear in
the weights, so the average of the statistics matches the averaged weights as closely as the
averaged weights match each other. With half_life 0 in effect (beta = 0) the copy equals the
generator exactly, statistics included (tested).

Everything that shows or ships a generator uses this copy when a run has one: sample grids,
evaluation, generator.keras, Explore, `generate` and the bundled demo.
"""

from __future__ import annotations

import keras


def ema_beta(images_seen: int, batch: int, half_life: float, rampup: float = 0.0) -> float:
    """The averaging factor of one update of `batch` images after `images_seen` images."""
    if half_life <= 0:
        return 0.0
    if rampup > 0:
        half_life = min(half_life, rampup * images_seen)
    if half_life <= 0:
        return 0.0
    return 0.5 ** (batch / half_life)


class EmaGenerator:
    """A second generator whose every weight follows the trained one's (see `update`)."""

    def __init__(self, generator: keras.Model, copy: keras.Model):
        """`copy` is a freshly built model of the same architecture as `generator`."""
        if [w.shape for w in copy.weights] != [w.shape for w in generator.weights]:
            raise ValueError("the EMA copy's weights do not match the generator's")
        self.model = copy
        self.model.set_weights(generator.get_weights())
        self._pairs = list(zip(copy.weights, generator.weights, strict=True))

    def update(self, beta) -> None:
        """ema <- beta * ema + (1 - beta) * g for every weight (traceable; cross-replica)."""
        for average, current in self._pairs:
            average.assign(beta * average + (1.0 - beta) * current)
