"""dcgan.train.spectral: sigma against the SVD, gradients through sigma, safe-mode save and load."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from dcgan.config import ModelConfig
from dcgan.train.models import build_discriminator
from dcgan.train.spectral import SpectralConv2D, SpectralDense


def largest_singular_value(kernel) -> float:
    w = np.asarray(kernel).reshape(-1, kernel.shape[-1])
    return float(np.linalg.svd(w, compute_uv=False)[0])


def test_power_iteration_finds_sigma_and_the_layer_computes_with_w_over_sigma():
    layer = SpectralConv2D(6, 3, padding="same", use_bias=False)
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 8, 8, 4)), tf.float32)
    for _ in range(30):
        layer(x, training=True)
    sigma = largest_singular_value(layer.kernel.numpy())
    assert layer.sigma() == np.float32(layer.sigma())
    assert abs(layer.sigma() - sigma) / sigma < 1e-3
    plain = tf.nn.conv2d(x, layer.kernel / sigma, 1, "SAME").numpy()
    np.testing.assert_allclose(layer(x, training=False).numpy(), plain, rtol=2e-3, atol=2e-4)


def test_forward_passes_leave_the_kernel_and_inference_leaves_u_alone():
    layer = SpectralDense(3)
    x = tf.constant(np.ones((2, 5)), tf.float32)
    layer(x)
    kernel, u = layer.kernel.numpy().copy(), layer.sn_u.numpy().copy()
    layer(x, training=False)
    np.testing.assert_array_equal(layer.sn_u.numpy(), u)
    layer(x, training=True)
    assert not np.array_equal(layer.sn_u.numpy(), u)
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel)  # unlike keras' wrapper


def test_the_gradient_flows_through_sigma():
    layer = SpectralDense(4, use_bias=False)
    x = tf.constant(np.random.default_rng(1).normal(size=(8, 6)), tf.float32)
    for _ in range(50):
        layer(x, training=True)  # converge u
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x, training=False)))
    grad = tape.gradient(loss, layer.kernel).numpy()
    # Finite differences of the same loss with sigma recomputed by SVD at each point.
    w = layer.kernel.numpy().astype(np.float64)
    xs = x.numpy().astype(np.float64)

    def f(kernel):
        return np.sum((xs @ (kernel / np.linalg.svd(kernel, compute_uv=False)[0])) ** 2)

    numeric = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        step = np.zeros_like(w)
        step[idx] = 1e-4
        numeric[idx] = (f(w + step) - f(w - step)) / 2e-4
    np.testing.assert_allclose(grad, numeric, rtol=2e-2, atol=2e-2 * np.abs(numeric).max())
    # Without sigma's gradient (W treated as if divided by a constant) it would differ.
    no_sigma = 2 * xs.T @ (xs @ w) / np.linalg.svd(w, compute_uv=False)[0] ** 2
    assert np.abs(no_sigma - numeric).max() > 0.1 * np.abs(numeric).max()


def test_a_spectral_discriminator_saves_and_loads_in_safe_mode(tmp_path):
    for arch in ("dcgan", "ml241"):
        model = build_discriminator(ModelConfig(arch=arch, d_filters=4, d_norm="spectral"))
        assert any(isinstance(layer, SpectralConv2D) for layer in model.layers)
        x = np.random.default_rng(2).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
        model(x, training=True)
        path = tmp_path / f"d-{arch}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(loaded(x, training=False).numpy(),
                                   model(x, training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_spectral_discriminator_under_mixed_precision_keeps_sigma_in_float32():
    model = build_discriminator(ModelConfig(d_filters=4, d_norm="spectral"),
                                dtype="mixed_bfloat16")
    x = tf.constant(np.random.default_rng(3).uniform(-1, 1, (2, 64, 64, 3)), tf.float32)
    with tf.GradientTape() as tape:
        out = model(x, training=True)
    grads = tape.gradient(out, model.trainable_variables)
    assert out.dtype == tf.float32 and np.all(np.isfinite(out.numpy()))
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    layer = next(layer for layer in model.layers if isinstance(layer, SpectralConv2D))
    assert layer.kernel.dtype == "float32" and layer.sn_u.dtype == "float32"
