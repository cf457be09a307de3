"""dcgan.train.losses against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from dcgan.train import losses


def softplus(x):
    return math.log1p(math.exp(x))


def test_bce_discriminator_loss_by_hand():
    real, fake = tf.constant([[2.0], [0.0]]), tf.constant([[-1.0], [3.0]])
    out = losses.bce_d_loss(real, fake).numpy()
    # BCE(target 1, logit x) = softplus(-x); BCE(target 0, logit x) = softplus(x)
    expected = [softplus(-2.0) + softplus(-1.0), softplus(0.0) + softplus(3.0)]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_label_smoothing_and_noise_move_the_targets():
    real, fake = tf.constant([1.5]), tf.constant([0.5])
    out = losses.bce_d_loss(real, fake, smoothing=0.1, real_jitter=tf.constant([0.05]),
                            fake_jitter=tf.constant([0.2])).numpy()
    t_real, t_fake = 0.85, 0.2
    # BCE(t, x) = softplus(x) - t x
    expected = (softplus(1.5) - t_real * 1.5) + (softplus(0.5) - t_fake * 0.5)
    np.testing.assert_allclose(out, [expected], rtol=1e-6)


def test_generator_losses_by_hand():
    fake = tf.constant([0.0, 2.0])
    np.testing.assert_allclose(losses.bce_g_loss(fake).numpy(),
                               [softplus(0.0), softplus(-2.0)], rtol=1e-6)
    np.testing.assert_allclose(losses.wgan_g_loss(fake).numpy(), [0.0, -2.0])
    np.testing.assert_allclose(losses.hinge_g_loss(fake).numpy(), [0.0, -2.0])


def test_wgan_and_hinge_critic_losses():
    real, fake = tf.constant([3.0, -0.5]), tf.constant([1.0, -2.0])
    np.testing.assert_allclose(losses.wgan_d_loss(real, fake).numpy(), [-2.0, -1.5])
    # relu(1 - real) + relu(1 + fake)
    np.testing.assert_allclose(losses.hinge_d_loss(real, fake).numpy(), [2.0, 1.5])


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = sum(w * x): the gradient is w everywhere, so the penalty is (||w|| - 1)^2.
    w = np.full((1, 2, 2, 1), 0.5, np.float32)  # ||w|| = 1 -> penalty 0

    def critic(x, training=True):
        return tf.reduce_sum(x * w, axis=[1, 2, 3])

    real = tf.ones((3, 2, 2, 1))
    fake = tf.zeros((3, 2, 2, 1))
    gp = losses.gradient_penalty(critic, real, fake, tf.constant([0.1, 0.5, 0.9]))
    np.testing.assert_allclose(gp.numpy(), [0.0, 0.0, 0.0], atol=1e-5)
    w2 = w * 3  # ||w|| = 3 -> penalty 4
    gp2 = losses.gradient_penalty(lambda x, training=True: tf.reduce_sum(x * w2, [1, 2, 3]),
                                  real, fake, tf.constant([0.3, 0.3, 0.3]))
    np.testing.assert_allclose(gp2.numpy(), [4.0] * 3, rtol=1e-5)


def test_r1_of_a_linear_critic_is_its_squared_weight_norm():
    import keras

    critic = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                               keras.layers.Dense(1, use_bias=False)])
    w = np.random.default_rng(0).normal(size=(48, 1)).astype(np.float32)
    critic.layers[-1].kernel.assign(w)
    real = tf.constant(np.random.default_rng(1).normal(size=(3, 4, 4, 3)), tf.float32)
    scores, r1 = losses.r1_penalty(critic, real)
    np.testing.assert_allclose(scores.numpy(), real.numpy().reshape(3, 48) @ w, rtol=1e-5)
    np.testing.assert_allclose(r1.numpy(), [np.sum(w ** 2)] * 3, rtol=1e-5)
