"""dcgan.train.augment: each transform's effect, p, gradients to the input, ADA's p update."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from dcgan.config import TRANSFORMS, ConfigError, parse_policy, preset
from dcgan.train import augment as aug


def uniforms(batch, **columns):
    """(batch, UNIFORMS) draws: every coin 1.0 (off at any p) unless set in `columns`."""
    u = np.full((batch, aug.UNIFORMS), 1.0, np.float32)
    for name, value in columns.items():
        u[:, getattr(aug, name)] = value
    return tf.constant(u)


def images(batch=2, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (batch, 64, 64, 3)),
                       tf.float32)


def test_policy_parsing_and_config_validation():
    assert parse_policy(" cutout, color ") == ("color", "cutout")
    with pytest.raises(ValueError, match="rotate"):
        parse_policy("color,rotate")
    with pytest.raises(ConfigError, match="augment_policy: 'zoom' must list one or more"):
        preset("dcgan").with_overrides(augment="fixed", augment_policy="zoom").validate()
    with pytest.raises(ConfigError, match="augment: 'always' is not one of off, fixed"):
        preset("dcgan").with_overrides(augment="always").validate()


def test_p_zero_is_the_identity_and_p_one_changes_every_image():
    x = images(4)
    u = tf.constant(np.random.default_rng(1).uniform(0, 1, (4, aug.UNIFORMS)), tf.float32)
    same = aug.augment(x, u, 0.0, TRANSFORMS)
    np.testing.assert_allclose(same.numpy(), x.numpy(), atol=1e-6)  # x + 0 up to rounding
    changed = aug.augment(x, u, 1.0, TRANSFORMS).numpy()
    assert changed.shape == x.shape and changed.dtype == np.float32
    assert all(np.abs(changed[i] - x.numpy()[i]).max() > 0.1 for i in range(4))


def test_translation_moves_pixels_and_fills_with_mid_grey():
    x = images(1)
    # SHIFT_X 0.0 -> dx = -8 (content moves left); SHIFT_Y 0.5 -> dy = 0
    out = aug.augment(x, uniforms(1, SHIFT_COIN=0.0, SHIFT_X=0.0, SHIFT_Y=0.5), 1.0,
                      ("translation",), (-1.0, 1.0)).numpy()
    np.testing.assert_array_equal(out[0, :, :56], x.numpy()[0, :, 8:])
    np.testing.assert_array_equal(out[0, :, 56:], 0.0)
    out01 = aug.augment(x * 0.5 + 0.5, uniforms(1, SHIFT_COIN=0.0, SHIFT_X=0.99, SHIFT_Y=0.5),
                        1.0, ("translation",), (0.0, 1.0)).numpy()
    np.testing.assert_allclose(out01[0, :, :8], 0.5)  # moved right by 8, grey of [0, 1]


def test_cutout_greys_a_half_side_square_and_blocks_its_gradient():
    x = images(1)
    u = uniforms(1, CUT_COIN=0.0, CUT_X=0.5, CUT_Y=0.5)  # centre (32, 32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = aug.augment(x, u, 1.0, ("cutout",))
        total = tf.reduce_sum(out)
    grad = tape.gradient(total, x).numpy()[0, ..., 0]
    inside = np.zeros((64, 64), bool)
    inside[17:48, 17:48] = True  # |i - 32| < 16
    np.testing.assert_array_equal(out.numpy()[0][inside], 0.0)
    np.testing.assert_array_equal(out.numpy()[0][~inside], x.numpy()[0][~inside])
    np.testing.assert_array_equal(grad, np.where(inside, 0.0, 1.0))


def test_colour_transforms_and_gradients_reach_the_input():
    x = images(3)
    u = uniforms(3, BRIGHT_COIN=0.0, BRIGHT=1.0)
    bright = aug.augment(x, u, 1.0, ("color",)).numpy()
    np.testing.assert_allclose(bright - x.numpy(), 0.5, atol=1e-5)  # +1/4 of the range 2
    u = uniforms(3, SAT_COIN=0.0, SAT=0.0)
    grey = aug.augment(x, u, 1.0, ("color",)).numpy()
    np.testing.assert_allclose(grey, np.repeat(x.numpy().mean(-1, keepdims=True), 3, -1),
                               atol=1e-6)
    weights = tf.constant(np.random.default_rng(2).normal(size=(3, 64, 64, 3)), tf.float32)
    full = tf.constant(np.random.default_rng(3).uniform(0, 1, (3, aug.UNIFORMS)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(aug.augment(x, full, 1.0, TRANSFORMS) * weights)
    grad = tape.gradient(loss, x)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 1.0


def test_a_generator_gets_gradients_through_augmentation():
    gen = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(64 * 64 * 3),
                               tf.keras.layers.Reshape((64, 64, 3))])
    z = tf.constant(np.ones((2, 4)), tf.float32)
    u = tf.constant(np.random.default_rng(4).uniform(0, 1, (2, aug.UNIFORMS)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(aug.augment(gen(z), u, 1.0, TRANSFORMS)))
    grads = tape.gradient(loss, gen.trainable_variables)
    assert all(g is not None for g in grads) and float(tf.norm(grads[0])) > 0


def test_adaptive_p_follows_the_sign_of_rt_minus_target_and_stays_in_0_1():
    def adapt(*args):
        return float(aug.adapt_p(*args))

    assert adapt(0.5, 0.8, 0.6, 64, 6400) == pytest.approx(0.51)
    assert adapt(0.5, 0.2, 0.6, 64, 6400) == pytest.approx(0.49)
    assert adapt(0.5, 0.6, 0.6, 64, 6400) == 0.5
    assert adapt(0.0, -1.0, 0.6, 64, 100) == 0.0
    assert adapt(0.99, 1.0, 0.6, 64, 100) == 1.0
    p = 0.0
    for _ in range(100):  # 100 x 64 images = ada_images: p goes from 0 to 1
        p = adapt(p, 1.0, 0.6, 64, 6400)
    assert p == pytest.approx(1.0)
