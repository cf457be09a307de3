"""GAN losses as per-example vectors (averaged over the global batch by the trainer).

Discriminator outputs are logits. BCE uses one-sided label smoothing (real targets
1 - smoothing) and label noise: the caller passes jitters in [0, noise) (drawn from a
stateless seed, so a resumed run draws the same) that move targets toward the other class.
"""

from __future__ import annotations

import tensorflow as tf


def _bce(targets, logits):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)


def bce_d_loss(real_logits, fake_logits, smoothing=0.0, real_jitter=None, fake_jitter=None):
    """(B,) discriminator BCE: real -> 1 - smoothing - real_jitter, fake -> fake_jitter."""
    real_logits = tf.reshape(tf.cast(real_logits, tf.float32), [-1])
    fake_logits = tf.reshape(tf.cast(fake_logits, tf.float32), [-1])
    real_t = tf.fill(tf.shape(real_logits), 1.0 - smoothing)
    fake_t = tf.zeros_like(fake_logits)
    if real_jitter is not None:
        real_t -= real_jitter
    if fake_jitter is not None:
        fake_t += fake_jitter
    return _bce(real_t, real_logits) + _bce(fake_t, fake_logits)


def bce_g_loss(fake_logits):
    """(B,) non-saturating generator loss: -log D(G(z))."""
    fake_logits = tf.reshape(tf.cast(fake_logits, tf.float32), [-1])
    return _bce(tf.ones_like(fake_logits), fake_logits)


def wgan_d_loss(real_scores, fake_scores):
    """(B,) critic loss D(fake) - D(real) (the gradient penalty is added separately)."""
    return tf.reshape(tf.cast(fake_scores, tf.float32) - tf.cast(real_scores, tf.float32), [-1])


def wgan_g_loss(fake_scores):
    return -tf.reshape(tf.cast(fake_scores, tf.float32), [-1])


def hinge_d_loss(real_scores, fake_scores):
    real = tf.reshape(tf.cast(real_scores, tf.float32), [-1])
    fake = tf.reshape(tf.cast(fake_scores, tf.float32), [-1])
    return tf.nn.relu(1.0 - real) + tf.nn.relu(1.0 + fake)


def hinge_g_loss(fake_scores):
    return -tf.reshape(tf.cast(fake_scores, tf.float32), [-1])


def gradient_penalty(critic, real, fake, alpha):
    """(B,) (||grad_x D(x_hat)||_2 - 1)^2 at x_hat = alpha real + (1 - alpha) fake."""
    alpha = tf.reshape(alpha, [-1, 1, 1, 1])
    mixed = alpha * real + (1.0 - alpha) * tf.cast(fake, real.dtype)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = tf.cast(critic(mixed, training=True), tf.float32)
    grads = tf.cast(tape.gradient(scores, mixed), tf.float32)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
    return tf.square(norms - 1.0)


def r1_penalty(critic, real):
    """(D(real) logits (B, 1) float32, (B,) ||grad_x D(x)||^2 at the real images).

    Mescheder et al. 2018's R1 without its gamma / 2 factor; the caller scales it. The
    gradient is taken inside the caller's tape, so the penalty itself is differentiated.
    """
    with tf.GradientTape() as tape:
        tape.watch(real)
        scores = tf.cast(critic(real, training=True), tf.float32)
    grads = tf.cast(tape.gradient(scores, real), tf.float32)  # of the sum over the batch
    return scores, tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])
